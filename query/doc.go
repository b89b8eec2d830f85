// Package query is the logic of ntpq and ntpstat: it fetches a model of a
// daemon's state over mode 6 (Session, FetchPeers, ReadVar) and renders it
// in the layout of ntpq-classic 4.2.8 (the default), ntpq-sec 1.2.2
// (StyleNTPsec) or as JSON. The command interpreter (Interp) runs ntpq
// commands ("peers", "rv 0 leap", "&1" references, "raw", ...) against one
// or more hosts. Ntpstat holds the ntpstat logic as pure functions.
//
// Sockets are reached through a Dialer, names through a Resolver and the
// current time through a clock.Clock, so tests run everything against the
// in-process fake daemon of package ntpqtest with fixed answers.
package query
