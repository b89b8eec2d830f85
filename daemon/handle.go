package daemon

import (
	"net/netip"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// sender transmits one reply datagram to addr.
type sender interface {
	send(pkt []byte, to netip.AddrPort) error
}

// worker is the per-socket (per-goroutine) packet state: reply buffers and
// the mode 6 responder. It is never shared between goroutines.
type worker struct {
	d      *Daemon
	out    [ntp.HeaderLen + ntp.KeyIDLen + ntp.MaxDigestLen]byte // reply, room for a MAC
	ctl    *Control
	tx     sender
	to     netip.AddrPort
	sendFn func([]byte) error
}

func (d *Daemon) newWorker(tx sender) *worker {
	w := &worker{d: d, ctl: NewControl(d.opts.Info), tx: tx}
	w.ctl.stats = d // statistics variables (vars_stats.go)
	if a := d.auth; a != nil {
		w.ctl.Keys, w.ctl.ControlKey = a.trusted, a.controlKey
	}
	w.sendFn = func(b []byte) error { return w.tx.send(b, w.to) }
	w.ctl.attachMRU(d, &w.to) // REQ_NONCE/READ_MRU (control_mru.go)
	return w
}

// handlePacket decides what to do with one received datagram and sends
// the reply, if any. rx is the receive time. It allocates nothing on the
// mode 3 path.
func (w *worker) handlePacket(pkt []byte, from netip.AddrPort, rx ntp.Timestamp) {
	d := w.d
	m := d.metrics
	m.received(pkt) // vars_stats.go: ss_received, ss_thisver, ...
	if len(pkt) == 0 {
		m.drop(0, dropShort)
		return
	}
	mode := pkt[0] & 7
	flags := d.restrict.Flags(from.Addr())
	if flags.Has(ntpconf.RestrictIgnore) {
		m.drop(mode, dropIgnore)
		return
	}
	switch ntp.Mode(mode) {
	case ntp.ModeClient:
		w.handleClient(pkt, from, rx, flags)
	case ntp.ModeControl:
		w.to = from
		sys := d.engine.System()
		snap := Snapshot{Sys: sys, Peers: d.engine.Peers()}
		out, _ := w.ctl.Handle(pkt, flags, snap, ntp.TimestampFromTime(d.clock.Now()), w.sendFn)
		switch out {
		case CtlAnswered:
			m.packet(mode, outServed)
		case CtlError:
			m.packet(mode, outError)
		case CtlRestricted:
			m.drop(mode, dropNoQuery)
		default:
			m.drop(mode, dropMalformed)
		}
	case ntp.ModeSymmetricActive, ntp.ModeSymmetricPassive, ntp.ModeServer:
		// the engine's packets leave from port 123 (symmetric peers
		// expect them there), so the answers arrive here
		if !d.forwardToEngine(pkt, from, rx, flags) {
			m.drop(mode, dropMode)
		} else {
			m.processed.Add(1) // vars_stats.go: ss_processed
		}
	default:
		m.drop(mode, dropMode)
	}
}

func (w *worker) handleClient(pkt []byte, from netip.AddrPort, rx ntp.Timestamp, flags ntpconf.RestrictFlags) {
	d := w.d
	m := d.metrics
	const mode = byte(ntp.ModeClient)
	vn, _, ok := ClassifyNTP(pkt)
	if !ok {
		m.drop(mode, dropShort)
		return
	}
	if vn < ntp.VersionMin || vn > ntp.VersionMax || (flags.Has(ntpconf.RestrictVersion) && vn != ntp.VersionCurrent) {
		m.drop(mode, dropVersion)
		return
	}
	if flags.Has(ntpconf.RestrictNoServe) {
		m.drop(mode, dropNoServe)
		return
	}
	auth, key := ntp.AuthNone, (*ntp.Key)(nil)
	if d.auth != nil {
		auth, key = d.auth.checkClient(pkt, from.Addr())
	}
	if auth == ntp.AuthMalformed || (auth != ntp.AuthOK && flags.Has(ntpconf.RestrictNoTrust)) {
		m.drop(mode, dropAuth)
		return
	}
	limited := flags.Has(ntpconf.RestrictLimited)
	verdict := RateOK
	if d.mru != nil && (d.monitor || limited) {
		now := int64(d.clock.Now().Sub(d.start))
		verdict = d.mru.Observe(from, vn, now, limited, flags.Has(ntpconf.RestrictKOD))
	}
	sys := d.engine.System()
	var n int
	switch verdict {
	case RateLimited:
		m.rateLimited.Add(1)
		m.drop(mode, dropRateLimited)
		return
	case RateKoD:
		m.rateLimited.Add(1)
		n, ok = RespondKiss(pkt, rx, ntp.TimestampFromTime(d.clock.Now()), ntp.KissRate, d.minPoll, sys, w.out[:])
	default:
		n, ok = Respond(pkt, rx, ntp.TimestampFromTime(d.clock.Now()), sys, w.out[:])
	}
	if !ok {
		m.drop(mode, dropShort)
		return
	}
	reply := w.out[:n]
	if auth != ntp.AuthNone {
		reply = ntp.AppendReplyAuth(reply, auth, key)
	}
	if err := w.tx.send(reply, from); err != nil {
		m.drop(mode, dropSendError)
		return
	}
	if verdict == RateKoD {
		m.kodSent.Add(1)
		m.packet(mode, outKoD)
		return
	}
	m.packet(mode, outServed)
}
