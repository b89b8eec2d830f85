// Package daemon is ntpkit's NTP daemon (the ntpd personality): it serves
// time to clients (mode 3 requests answered with mode 4 replies), answers
// control queries (mode 6, for ntpq and ntpstat), enforces the restrict
// rules with a bounded per-source MRU table (limited, kod, ignore, noserve,
// noquery), keeps the drift file, exports Prometheus metrics, and runs a
// synchronisation Engine.
//
// # Structure
//
//   - Respond / RespondKiss (reply.go): mode 4 reply building as pure
//     functions over byte slices; no allocation.
//   - Control (control.go, vars.go): the mode 6 responder; pure with respect
//     to a Snapshot of the engine state and a time.
//   - MRU (mru.go): fixed-capacity source table, O(1) per packet, with the
//     "discard average/minimum" rate limit and KoD pacing.
//   - handle.go: per-packet dispatch (restrict flags, MRU verdict, reply or
//     KoD, mode 6, metrics) for one received datagram; no allocation on the
//     mode 3 path.
//   - Sockets: on Linux hotpath_linux.go (one SO_REUSEPORT socket per core
//     per address, recvmmsg/sendmmsg, kernel receive timestamps); elsewhere
//     serve_other.go with the simple loop of serve_udp.go (one socket and
//     goroutine per address). Only these files know about sockets.
//   - Daemon (daemon.go): wires configuration, engine, sockets, drift file,
//     metrics and logging together; usable in-process from tests.
//
// # Restriction policy
//
// restrict lines are applied as ntpd does (most specific prefix wins; see
// ntpconf.Restrictor). A configuration without restrict lines allows
// everything, like classic ntpd; the built-in default configuration
// (ntpconf.DefaultConfig) serves time to everybody with "kod limited" and
// answers mode 6 queries from loopback only. ignore drops every packet;
// noserve drops mode 3; noquery (and ignore) drop mode 6 silently, so ntpq
// and ntpstat time out exactly as against ntpd; version drops requests that
// are not NTPv4; limited applies the per-source rate limit of "discard
// average/minimum" (MRU), answering with a RATE kiss-o'-death when kod is
// also set. nomodify, nopeer, notrap and notrust have nothing to refuse
// here: writes, configuration and traps are always refused with PERMISSION
// (authentication is not implemented), and symmetric modes are not served.
// Host-name restrict entries are not resolved (a warning is logged).
//
// # Engine
//
// Synchronisation is behind a small interface so that the upstream engine
// (package sync and pkg/discipline) can be plugged in without changing the
// serving code:
//
//	type Engine interface {
//		Run(ctx context.Context) error      // blocks until ctx is done
//		System() *ntpsync.SystemState       // current snapshot, never nil
//		Peers() []ntpsync.PeerState         // current associations, immutable
//	}
//
// System and Peers are called from the packet path (System for every mode 3
// request, both for mode 6 queries) concurrently with Run, so they must be
// cheap and lock-free: an engine publishes immutable snapshots with
// atomic.Pointer and swaps them after every update; callers never modify
// what they get. System's state is served as is: Leap, Stratum (16 or
// LeapAlarm = unsynchronised; sent as stratum 0 / LI 3 on the wire),
// Precision, RootDelay, RootDispersion, RefID, RefTime, Poll (tc), MinPoll
// (mintc), SysPeer (peer=), ClockSource (5 local, 6 NTP), Offset,
// FrequencyPPM, jitters and the event counter/code of the system status word.
// Peers are reported in association-id order by mode 6 (READSTAT lists them
// descending, as the reference daemons do).
//
// Daemon builds its engine with Options.NewEngine(EngineParams); the default
// is NewLocalEngine, which knows only the undisciplined local clock
// (server 127.127.1.0, fudge stratum N: serves stratum N+1, refid
// 127.127.1.0, clock source sync_local) and reports other servers as not
// reachable. The ntpd command takes its engine constructor from the
// package variable daemonEngine in cmd/ntpkit/cli (nil: NewLocalEngine), so
// wiring the upstream engine is one init function in a new cli file.
// EngineParams carries the parsed configuration, the Clock, the
// Adjuster (nil under --no-adjust: the engine must then never touch the
// clock), the logger, the frequency read from the drift file, and the -g/-x/-q
// switches. The daemon writes FrequencyPPM from System() to the drift file
// periodically and at shutdown.
//
// NewSyncEngine (engine_sync.go) is the engine the ntpd command uses. Its
// clock discipline is ntpkit's own loop unless the configuration says
// "enable kernel" (kernel.go: then the kernel PLL, except under
// --no-adjust, -x and -q); mode 6 then reports the offset last handed to
// the kernel and the kernel's frequency. Leap warnings voted by the
// upstreams are served at once and armed in the kernel on the last day of
// the month only (leapGate).
package daemon
