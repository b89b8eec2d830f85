package sync

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Names are looked up in goroutines (lookup); the results come back to the
// poll loop through Engine.dns, so DNS never blocks polling.
//
// A server or peer configured by name is resolved once at start (retried
// with backoff while that fails, see resolve) and then polled at that
// address. Like NTPsec, ntpkit looks the name up again when the
// association has been unreachable for a while: once its reach register
// has been 0 at reresolveAfter polls (a server that answered before has
// then left 11 requests unanswered), and again after twice as many
// unreachable polls, up to every 16 polls (lookups at 4, 8, 16, 32, 48,
// 64... polls), while it stays unreachable. When the name now
// resolves elsewhere (the current address is not among the answers), the
// association moves to the first new address that no other association
// uses, keeping its id, and starts over there (filter cleared, iburst
// again). The old address keeps being polled until the answer arrives.
//
// Pools need no such step: a member unreachable for eight polls (or a
// falseticker for eight selections) is demobilised, its address banned for
// an hour, and the prototype looks the pool name up again for a
// replacement (see poll, clockSelect and resolved in engine.go).

// reresolveAfter is the number of polls with the reach register at 0 after
// which a server name is looked up again.
const reresolveAfter = 4

// maxReresolveGap caps the number of unreachable polls between two lookups
// of the same name.
const maxReresolveGap = 16

// lookup resolves a.name in a goroutine and delivers the answer (even a
// timeout; only the engine stopping drops it) to the poll loop.
func (e *Engine) lookup(ctx context.Context, a *assoc) {
	a.resolving = true
	host, network := a.name, a.cfg.Network
	if network == "" {
		network = "ip"
	}
	go func() {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		addrs, err := e.o.Resolver.LookupNetIP(lctx, network, host)
		cancel()
		select {
		case e.dns <- dnsResult{a: a, addrs: addrs, err: err}:
		case <-ctx.Done():
		}
	}()
}

// maybeReresolve is called after each poll of a; it starts a new lookup of
// a server name unreachable for long enough.
func (e *Engine) maybeReresolve(ctx context.Context, a *assoc) {
	if a.name == "" || a.proto || a.member || a.gone || a.denied || !a.addr.IsValid() {
		return
	}
	if a.unreach == 0 {
		a.reresolveAt = 0 // reachable (again): start counting afresh
		return
	}
	if a.reresolveAt == 0 {
		a.reresolveAt = reresolveAfter
	}
	if a.unreach < a.reresolveAt || a.resolving {
		return
	}
	a.reresolveAt = a.unreach + min(max(a.unreach, reresolveAfter), maxReresolveGap)
	e.log.Info("unreachable: looking up the server name again", "name", a.name, "addr", a.addr, "polls", a.unreach)
	e.lookup(ctx, a)
}

// serverResolved handles a lookup of a server or peer name: the first
// address of a name that had none, or a new address for an unreachable
// association whose name moved.
func (e *Engine) serverResolved(a *assoc, addrs []netip.Addr) {
	if a.gone || a.denied {
		return
	}
	if !a.addr.IsValid() {
		a.addr = netip.AddrPortFrom(addrs[0].Unmap(), e.o.Port)
		a.nextPoll = e.mono()
		e.log.Info("server name resolved", "name", a.name, "addr", a.addr)
		e.publish(time.Time{})
		return
	}
	if a.reach != 0 {
		return // it answered meanwhile: stay
	}
	port := a.addr.Port()
	var next netip.AddrPort
	for _, ad := range addrs {
		ap := netip.AddrPortFrom(ad.Unmap(), port)
		if ap == a.addr {
			return // still a valid address of the name: it is just down
		}
		if !next.IsValid() && e.find(ap) == nil {
			next = ap
		}
	}
	if !next.IsValid() {
		return
	}
	e.log.Warn("server name resolves to a new address; association moved", "name", a.name, "old", a.addr, "new", next)
	e.moveAssoc(a, next)
}

// moveAssoc restarts association a at a new address: everything learnt
// from the old one is dropped, the id and configuration stay.
func (e *Engine) moveAssoc(a *assoc, to netip.AddrPort) {
	a.addr = to
	a.filter.Reset()
	a.reach, a.unreach, a.polls, a.reresolveAt = 0, 0, 0, 0
	a.hpoll = a.minPoll
	a.burst = 0
	a.kissed = false
	a.flash = 0
	a.sel = SelReject
	a.falseCount = 0
	a.newSample = false
	a.xmt, a.org, a.rec, a.lastXmt, a.sentXmt, a.recTime = 0, 0, 0, 0, 0, 0
	a.recent = slices.Delete(a.recent, 0, len(a.recent))
	a.leap, a.stratum, a.precision = ntp.LeapAlarm, ntp.MaxStratum, 0
	a.rootDelay, a.rootDisp = 0, 0
	a.refID, a.refTime = ntp.KissInit, 0
	a.ppoll, a.pmode = 0, 0
	if a.cfg.Kind == KindPeer {
		a.hmode = ntp.ModeSymmetricActive // a new host: undo a client-mode fallback
	}
	a.event(evRestart)
	if e.sysPeer == a {
		e.sysPeer = nil
		e.sys.SysPeer = 0
	}
	a.nextPoll = e.mono() // poll the new address now (iburst starts again)
	e.publish(time.Time{})
}
