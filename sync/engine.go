package sync

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/discipline"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Transport sends NTP packets for the engine. Replies (and symmetric
// packets) come back through Engine.Input. The daemon implements it on its
// UDP sockets; the simulation on an in-memory network.
type Transport interface {
	Send(to netip.AddrPort, b []byte) error
}

// Resolver resolves server and pool names (*net.Resolver implements it).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configures an Engine.
type Options struct {
	Clock      clock.Clock            // the local clock; required
	Discipline *discipline.Discipline // nil: measure and select only, never adjust
	Transport  Transport              // required
	Resolver   Resolver               // nil: net.DefaultResolver
	Servers    []ServerConfig
	Select     SelectOptions
	// Orphan is the tos orphan stratum (1..15); 0 or 16 disables orphan
	// mode. OrphanWait (default 300 s) is how long the engine waits without
	// a system peer before it becomes an orphan.
	Orphan     int
	OrphanWait time.Duration
	MaxDist    time.Duration // tos maxdist, default 1.5 s
	// LocalAddr is the address peers see us as; a peer whose refid is ours
	// would be a timing loop and is not selected.
	LocalAddr    netip.Addr
	Precision    int8   // default -20
	FirstAssocID uint16 // default 1
	Port         uint16 // default 123
	// Once makes Run return after the clock has been set once (ntpd -q).
	Once     bool
	Logger   *slog.Logger
	OnUpdate func() // called after every published change
	// Seed makes poll randomisation reproducible in tests.
	Seed uint64
	// Keys finds the trusted symmetric keys of ServerConfig.Key (nil:
	// none, so sources with a key are never accepted).
	Keys ntp.KeyLookup
}

// Engine synchronises to the configured sources. Run owns all state; System
// and Peers read immutable snapshots and are safe from any goroutine.
//
// Per association (assoc.go): a poll timer (hpoll between minpoll and
// maxpoll following the discipline's time constant; doubled while
// unreachable; raised by a RATE kiss), iburst (six packets 2 s apart while
// unreachable) and burst (eight per poll), the reach register, the on-wire
// checks (zero or duplicate transmit timestamp, origin not ours: bogus) and
// the RFC 5905 clock filter. DENY and RSTR stop an association (pool
// members are demobilised and replaced, as are members unreachable for
// eight polls or falsetickers for eight selections). Names are resolved in
// goroutines: DNS never blocks the loop.
//
// After every sample, selection (select.go: intersection, clustering,
// combining) runs on the fit associations with their offsets projected to
// the same instant; the system peer's new samples drive the discipline.
// Where ntpkit differs from RFC 5905: the discipline is fed every new
// sample, not only the filter's lowest-delay pick (which would update the
// loop once in several polls): each survivor's latest sample, projected to
// now and weighted by its expected error (its delay above the filter's
// minimum, plus its jitter above the best survivor's), with a popcorn gate
// against the filter's output. At start the first replies (the offset the
// configured servers' first samples agree on) go to the discipline's
// start-up step, and until the regular selection has a system peer (a
// fresh filter needs four samples) each new sample the start-up selection
// agrees on feeds the discipline (startTrack), so that the frequency is
// measured from the second reply on.
//
// System variables follow RFC 5905: stratum is the system peer's plus one,
// refid its IPv4 address or the MD5 prefix of its IPv6 address, root delay
// and dispersion accumulate, leap is passed on when a majority of the
// survivors announce it (and armed in the kernel through the discipline).
// Orphan mode (basic): without a system peer for OrphanWait the engine
// serves at the orphan stratum with refid 127.0.0.1.
type Engine struct {
	o     Options
	clk   clock.Clock
	d     *discipline.Discipline
	log   *slog.Logger
	rng   *rand.Rand
	start time.Time // monotonic base for scheduling

	in  chan inPacket
	dns chan dnsResult

	assocs  []*assoc
	nextID  uint16
	sys     SystemState
	sysPeer *assoc
	lastSel time.Time // when a system peer was last present
	banned  map[netip.Addr]time.Duration
	onceSet bool
	// start-up step (discipline.StartUp): first offsets per association
	startDone    bool
	startStepped bool
	firstOff     map[*assoc]time.Duration
	firstAt      time.Duration
	loopOn       bool // the regular selection has fed the discipline (see startTrack)
	fatal        error

	sysSnap   atomic.Pointer[SystemState]
	peersSnap atomic.Pointer[[]PeerState]
	runMu     stdsync.Mutex
}

type inPacket struct {
	b    []byte
	from netip.AddrPort
	rx   time.Time
}

type dnsResult struct {
	a     *assoc
	addrs []netip.Addr
	err   error
}

// unsettledPoll is the poll interval of iburst associations while the
// discipline has not settled its frequency: ntpd's default average headway
// for "restrict limited" (its leaky bucket allows about fifteen packets 2 s
// apart, then answers with RATE or not at all; the iburst's six leave room,
// polling on at 2 s would not).
const unsettledPoll = 8 * time.Second

// ErrOnceNoServer is returned by Run in Once mode when ctx ends before any
// server could be selected.
var ErrOnceNoServer = errors.New("no server suitable for synchronization found")

// NewEngine checks the options and builds the associations.
func NewEngine(o Options) (*Engine, error) {
	if o.Clock == nil || o.Transport == nil {
		return nil, errors.New("sync: engine needs a clock and a transport")
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxDist == 0 {
		o.MaxDist = MaxDist
	}
	if o.OrphanWait == 0 {
		o.OrphanWait = 300 * time.Second
	}
	if o.Precision == 0 {
		o.Precision = -20
	}
	if o.FirstAssocID == 0 {
		o.FirstAssocID = 1
	}
	if o.Port == 0 {
		o.Port = 123
	}
	o.Select = o.Select.norm()
	e := &Engine{
		o: o, clk: o.Clock, d: o.Discipline, log: o.Logger,
		rng:    rand.New(rand.NewPCG(o.Seed, o.Seed^0x5bd1e995)),
		in:     make(chan inPacket, 256),
		dns:    make(chan dnsResult, 16),
		nextID: o.FirstAssocID,
		banned: map[netip.Addr]time.Duration{},
	}
	e.sys = SystemState{Leap: ntp.LeapAlarm, Stratum: ntp.MaxStratum, Precision: o.Precision,
		RefID: ntp.KissInit, Poll: 6, MinPoll: 6, ClockSource: 0, LastEvent: 6, EventCount: 1}
	minP, maxP := int8(17), int8(3)
	for _, sc := range o.Servers {
		if sc.MinPoll == 0 {
			sc.MinPoll = 6
		}
		if sc.MaxPoll == 0 {
			sc.MaxPoll = 10
		}
		sc.MinPoll = max(ntp.MinPoll, min(ntp.MaxPoll, sc.MinPoll))
		sc.MaxPoll = max(sc.MinPoll, min(ntp.MaxPoll, sc.MaxPoll))
		if sc.Version == 0 {
			sc.Version = ntp.VersionCurrent
		}
		minP, maxP = min(minP, sc.MinPoll), max(maxP, sc.MaxPoll)
		a := e.newAssoc(sc)
		switch sc.Kind {
		case KindPool:
			a.proto = true
			a.name = sc.Address
			a.addr = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		default:
			if ap, err := parseAddr(sc.Address, o.Port); err == nil {
				a.addr = ap
			} else {
				a.name = sc.Address
			}
			if sc.Kind == KindPeer {
				a.hmode = ntp.ModeSymmetricActive
			}
		}
	}
	if len(o.Servers) == 0 {
		minP, maxP = 6, 10
	}
	e.sys.MinPoll, e.sys.Poll = minP, minP
	if e.d != nil {
		e.d.SetPollRange(minP, maxP)
		e.sys.FrequencyPPM = e.d.Frequency()
	}
	e.publish(time.Time{})
	return e, nil
}

func parseAddr(s string, port uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a.Unmap(), port), nil
}

func (e *Engine) newAssoc(sc ServerConfig) *assoc {
	a := &assoc{id: e.nextID, cfg: sc, hmode: ntp.ModeClient, minPoll: sc.MinPoll, maxPoll: sc.MaxPoll,
		hpoll: sc.MinPoll, stratum: ntp.MaxStratum, refID: ntp.KissInit}
	e.nextID++
	a.event(evMobilize)
	e.assocs = append(e.assocs, a)
	return a
}

// System returns the current system state (never nil; do not modify).
func (e *Engine) System() *SystemState { return e.sysSnap.Load() }

// Peers returns the associations in ascending id order (do not modify).
func (e *Engine) Peers() []PeerState {
	if p := e.peersSnap.Load(); p != nil {
		return *p
	}
	return nil
}

// Input hands a received packet (mode 4 replies, mode 1 and 2 symmetric
// packets) to the engine, with its arrival time read from the engine's
// clock (or a kernel timestamp on that clock's scale). It never blocks: when
// the engine is busy the packet is dropped. b is copied.
func (e *Engine) Input(b []byte, from netip.AddrPort, rx time.Time) {
	if len(b) < ntp.HeaderLen {
		return
	}
	select {
	case e.in <- inPacket{b: slices.Clone(b), from: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), rx: rx}:
	default:
	}
}

func (e *Engine) mono() time.Duration { return time.Since(e.start) }

// Run polls the sources and disciplines the clock until ctx ends (nil) or a
// fatal condition (a *discipline.PanicError, or an adjuster error). In Once
// mode it returns nil as soon as the clock was set.
func (e *Engine) Run(ctx context.Context) error {
	if !e.runMu.TryLock() {
		return errors.New("sync: engine already running")
	}
	defer e.runMu.Unlock()
	e.start = time.Now() // scheduling uses the monotonic clock only
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, a := range e.assocs {
		// stagger the first polls a little, like ntpd
		a.nextPoll = time.Duration(i) * 100 * time.Millisecond
		if a.proto || !a.addr.IsValid() {
			e.resolve(ctx, a)
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if e.fatal != nil {
			return e.fatal
		}
		if e.o.Once && e.onceSet {
			return nil
		}
		now := e.mono()
		next := now + time.Hour
		for _, a := range slices.Clone(e.assocs) {
			if !a.proto && !a.addr.IsValid() && !a.denied && !a.gone {
				// a server name that did not resolve: retry with backoff
				if !a.resolving && a.nextPoll <= now {
					e.resolve(ctx, a)
				}
				next = min(next, max(a.nextPoll, now+time.Second))
				continue
			}
			if a.proto || a.denied || a.gone || !a.addr.IsValid() {
				continue
			}
			if a.nextPoll <= now {
				e.poll(a)
				e.maybeReresolve(ctx, a)
			}
			if a.gone {
				continue
			}
			next = min(next, a.nextPoll)
		}
		if e.sysPeer == nil && e.o.Orphan > 0 && e.o.Orphan < ntp.MaxStratum && e.sys.Stratum != uint8(e.o.Orphan) {
			e.orphan(e.clk.Now())
			if e.sys.Stratum == uint8(e.o.Orphan) {
				e.publish(time.Time{})
			}
			next = min(next, now+10*time.Second)
		}
		if e.d != nil {
			if t := e.d.NextTick(); !t.IsZero() {
				lt := e.clk.Now()
				if !t.After(lt) {
					if err := e.d.Tick(); err != nil {
						e.log.Error("cannot adjust the clock", "err", err)
					}
					continue
				}
				next = min(next, now+t.Sub(lt))
			}
		}
		for _, a := range e.assocs {
			if a.proto && a.nextPoll <= now && e.needMembers() {
				e.resolve(ctx, a)
			}
			if a.proto && e.needMembers() {
				next = min(next, max(a.nextPoll, now+time.Second))
			}
		}
		timer.Reset(max(next-now, 0))
		select {
		case <-ctx.Done():
			if e.o.Once && !e.onceSet {
				return ErrOnceNoServer
			}
			return nil
		case p := <-e.in:
			e.receive(p)
		case r := <-e.dns:
			e.resolved(r)
		case <-timer.C:
		}
	}
}

// ---------------------------------------------------------------- polling

func (e *Engine) poll(a *assoc) {
	now := e.mono()
	if a.burst > 0 {
		a.burst--
	} else {
		old := a.reach
		a.reach <<= 1
		if old != 0 && a.reach == 0 {
			a.event(evUnreachable)
			e.log.Info("association unreachable", "peer", a.label())
		}
		if a.reach != old {
			defer e.publish(time.Time{}) // show the lost reach bit (ntpq)
		}
		if a.reach&0x07 == 0 && a.filter.HasOutput {
			a.filter.AddInvalid(e.clk.Now())
		}
		a.polls++
		if a.reach == 0 {
			a.unreach++
			e.peerFallback(a)
			if a.unreach > 8 {
				a.hpoll = min(a.maxPoll, a.hpoll+1)
			}
			if a.member && a.unreach > 8 {
				e.demobilize(a, "unreachable")
				return
			}
			if a.cfg.Iburst && !a.kissed && a.unreach <= 8 {
				a.burst = 5 // six packets in all
			}
		} else if a.cfg.Burst {
			a.burst = 7
		}
	}
	e.transmit(a)
	d := a.nextPollDelay()
	if a.burst == 0 && a.cfg.Iburst && a.hmode == ntp.ModeClient && !a.kissed && e.d != nil && !e.d.Settled() && !e.o.Once {
		// until the frequency is known, poll every 8 s (see Discipline.Settled)
		d = min(d, unsettledPoll)
	}
	if a.burst == 0 {
		// a little randomisation so that associations do not phase-lock
		d += time.Duration(e.rng.Int64N(int64(d/32) + 1))
	}
	a.nextPoll = now + d
}

func (e *Engine) transmit(a *assoc) {
	now := e.clk.Now()
	xmt := ntp.TimestampFromTime(now)
	s := &e.sys
	h := ntp.Header{
		Leap: s.Leap, Version: a.cfg.Version, Mode: a.hmode, Stratum: wireStratum(s.Stratum),
		Poll: a.pollExp(), Precision: s.Precision,
		RootDelay: ntp.ShortFromDuration(s.RootDelay), RootDispersion: ntp.ShortFromDuration(s.RootDispersion),
		RefID: s.RefID, RefTime: s.RefTime, XmitTime: xmt,
	}
	if a.hmode == ntp.ModeSymmetricActive {
		h.OrigTime, h.RecvTime = a.org, a.rec
		a.recent = append(a.recent, xmt)
		if len(a.recent) > 16 {
			a.recent = a.recent[1:]
		}
	}
	a.xmt, a.sentXmt = xmt, xmt
	pkt := h.Marshal()
	if a.cfg.Key != 0 {
		pkt = e.sign(a, pkt)
	}
	if err := e.o.Transport.Send(a.addr, pkt); err != nil {
		e.log.Debug("send failed", "peer", a.label(), "err", err)
	}
}

func wireStratum(s uint8) uint8 {
	if s >= ntp.MaxStratum {
		return 0
	}
	return s
}

func (a *assoc) label() string {
	if a.name != "" && !a.addr.IsValid() {
		return a.name
	}
	return a.addr.String()
}

// ---------------------------------------------------------------- receive

func (e *Engine) find(from netip.AddrPort) *assoc {
	for _, a := range e.assocs {
		if !a.proto && a.addr == from {
			return a
		}
	}
	return nil
}

func (e *Engine) receive(p inPacket) {
	defer e.publishIfStale()
	h, err := ntp.ParseHeader(p.b)
	if err != nil || h.Version < ntp.VersionMin || h.Version > ntp.VersionMax {
		return
	}
	a := e.find(p.from)
	if a != nil && a.cfg.Key != 0 && !e.authentic(a, p.b) {
		return
	}
	switch h.Mode {
	case ntp.ModeServer:
		if a == nil || a.hmode != ntp.ModeClient {
			return
		}
		e.recvClient(a, &h, p.rx)
	case ntp.ModeSymmetricActive, ntp.ModeSymmetricPassive:
		if a != nil && a.cfg.Kind == KindPeer && a.hmode == ntp.ModeClient && h.Mode == ntp.ModeSymmetricActive {
			a.hmode = ntp.ModeSymmetricActive // the peer does speak symmetric mode after all
			e.log.Info("peer answers in symmetric mode again; back to symmetric active", "peer", a.label())
		}
		if a != nil && a.hmode == ntp.ModeSymmetricActive {
			e.recvSymmetric(a, &h, p.rx)
			return
		}
		if h.Mode == ntp.ModeSymmetricActive {
			e.passiveReply(&h, p.from, p.rx)
		}
	}
}

// peerFallbackPolls is how many unanswered symmetric active polls make a
// "peer" association try client mode instead.
const peerFallbackPolls = 4

// peerFallback turns a "peer" association that has never been answered in
// symmetric mode into a client association. NTPsec ntpd (1.2 and later)
// dropped symmetric mode: it treats its own "peer" lines as "server" and
// silently ignores symmetric active packets, so without this a ntpkit peer
// of an NTPsec host would never reach it. A symmetric active packet from the
// peer later switches the association back (see receive).
func (e *Engine) peerFallback(a *assoc) {
	// unreach counts this poll too: peerFallbackPolls packets went unanswered
	if a.cfg.Kind != KindPeer || a.hmode != ntp.ModeSymmetricActive || a.lastXmt != 0 || a.unreach != peerFallbackPolls+1 {
		return
	}
	a.hmode = ntp.ModeClient
	a.recent, a.org, a.rec = nil, 0, 0
	e.log.Warn("peer never answered in symmetric mode; polling it as a server (NTPsec ntpd treats \"peer\" as \"server\")",
		"peer", a.label(), "polls", peerFallbackPolls)
}

// passiveReply answers a symmetric active packet from a source we have no
// association with, as a symmetric passive server (no state is kept).
func (e *Engine) passiveReply(h *ntp.Header, from netip.AddrPort, rx time.Time) {
	s := &e.sys
	r := ntp.Header{
		Leap: s.Leap, Version: h.Version, Mode: ntp.ModeSymmetricPassive, Stratum: wireStratum(s.Stratum),
		Poll: h.Poll, Precision: s.Precision,
		RootDelay: ntp.ShortFromDuration(s.RootDelay), RootDispersion: ntp.ShortFromDuration(s.RootDispersion),
		RefID: s.RefID, RefTime: s.RefTime,
		OrigTime: h.XmitTime, RecvTime: ntp.TimestampFromTime(rx),
	}
	r.XmitTime = ntp.TimestampFromTime(e.clk.Now())
	_ = e.o.Transport.Send(from, r.Marshal())
}

func (e *Engine) recvClient(a *assoc, h *ntp.Header, rx time.Time) {
	switch {
	case h.XmitTime == 0:
		a.flash |= flashBogus
		return
	case h.XmitTime == a.lastXmt:
		a.flash |= flashDup
		return
	case a.xmt == 0 || h.OrigTime != a.xmt:
		a.flash |= flashBogus
		return
	}
	a.xmt = 0 // one reply per request
	a.lastXmt = h.XmitTime
	if h.Leap == ntp.LeapAlarm && h.Stratum == ntp.StratumKiss {
		if e.kiss(a, h) {
			return
		}
	}
	e.process(a, h, rx)
}

func (e *Engine) recvSymmetric(a *assoc, h *ntp.Header, rx time.Time) {
	if h.XmitTime == 0 || h.XmitTime == a.lastXmt {
		a.flash |= flashDup
		return
	}
	// remember the peer's transmit time for our next packet's origin
	a.org, a.rec = h.XmitTime, ntp.TimestampFromTime(rx)
	a.lastXmt = h.XmitTime
	if h.OrigTime == 0 {
		// the peer has not heard from us yet: reachable, but no sample
		a.flash |= flashBogus
		e.reachable(a, h)
		e.publish(e.clk.Now())
		return
	}
	if !slices.Contains(a.recent, h.OrigTime) {
		a.flash |= flashBogus
		return
	}
	a.recent = slices.DeleteFunc(a.recent, func(t ntp.Timestamp) bool { return t <= h.OrigTime })
	if h.Leap == ntp.LeapAlarm && h.Stratum == ntp.StratumKiss && e.kiss(a, h) {
		return
	}
	e.process(a, h, rx)
}

// kiss handles a kiss-o'-death; it reports whether the packet is consumed.
func (e *Engine) kiss(a *assoc, h *ntp.Header) bool {
	switch h.RefID {
	case ntp.KissRate:
		a.event(evRate)
		a.kissed = true
		a.minPoll = min(a.maxPoll, max(a.minPoll, a.hpoll, h.Poll)+1)
		a.hpoll = a.minPoll
		a.burst = 0
		a.nextPoll = e.mono() + a.nextPollDelay()
		e.log.Info("kiss-o'-death RATE: polling less often", "peer", a.label(), "poll", a.hpoll)
		return true
	case ntp.KissDeny, ntp.KissRstr:
		a.event(evDenied)
		e.log.Warn("kiss-o'-death: access denied, association stopped", "peer", a.label(), "code", h.RefID.Text())
		if a.member {
			e.demobilize(a, "denied")
		} else {
			a.denied = true
			a.reach = 0
			a.sel = SelReject
			a.filter.Reset()
			e.clockSelect()
		}
		return true
	}
	return false
}

func (e *Engine) reachable(a *assoc, h *ntp.Header) {
	if a.reach == 0 {
		a.event(evReachable)
	}
	a.reach |= 1
	a.polls, a.unreach = 0, 0
	a.hpoll = max(a.hpoll, a.minPoll)
	a.leap, a.stratum, a.precision = h.Leap, h.Stratum, h.Precision
	a.rootDelay, a.rootDisp = h.RootDelay.Duration(), h.RootDispersion.Duration()
	a.refID, a.refTime = h.RefID, h.RefTime
	a.ppoll, a.pmode = h.Poll, h.Mode
}

func (e *Engine) process(a *assoc, h *ntp.Header, rx time.Time) {
	e.reachable(a, h)
	a.recTime = ntp.TimestampFromTime(rx)
	a.flash = 0
	now := e.clk.Now()
	if h.Leap == ntp.LeapAlarm || h.Stratum == 0 || h.Stratum >= ntp.MaxStratum {
		a.flash |= flashUnsync
		e.publish(now)
		return
	}
	if h.RecvTime == 0 || h.XmitTime < h.RecvTime || h.RootDelay.Duration()/2+h.RootDispersion.Duration() >= MaxDisp {
		a.flash |= flashBogus
		e.publish(now)
		return
	}
	s := NewSample(*h, ntp.TimestampFromTime(rx), e.o.Precision)
	// The offset is that of the midpoint of T1 and T4: in symmetric mode
	// the peer may hold our packet for a whole poll interval.
	mid := rx.Add(-s.T4.Sub(s.T1) / 2)
	if mid.After(rx) {
		mid = rx
	}
	fs := FilterSample{Offset: s.Offset, Delay: s.Delay, Dispersion: s.Dispersion, Time: mid}
	if e.d != nil {
		fs.Mark = e.d.MarkAt(mid)
	}
	a.filter.Add(fs, now)
	a.newSample = true
	if e.d != nil && !e.startDone && !e.o.Once {
		e.startUp(a, s.Offset)
		if e.fatal != nil || e.startStepped {
			e.startStepped = false
			return
		}
	}
	e.clockSelect()
}

// startUpWait bounds how long the start-up step waits for a majority.
const startUpWait = 16 * time.Second

// startUp collects the first offset of each association; when all
// configured ones answered (or 2 s after the first answer) the offset the
// selection agrees on goes to the discipline's start-up step.
func (e *Engine) startUp(a *assoc, off time.Duration) {
	if e.firstOff == nil {
		e.firstOff = map[*assoc]time.Duration{}
		e.firstAt = e.mono()
	}
	if _, ok := e.firstOff[a]; !ok {
		e.firstOff[a] = off
	}
	want := 0
	for _, x := range e.assocs {
		if !x.proto && !x.denied && x.addr.IsValid() && x.hmode == ntp.ModeClient {
			want++
		}
	}
	if len(e.firstOff) < want && e.mono()-e.firstAt < 2*time.Second {
		return
	}
	// Step only to what a majority agrees on, the intersection of the
	// synchronised sources' first samples: the median of two servers that
	// disagree (a truechimer and a falseticker) is neither, and stepping
	// there makes both look equally wrong afterwards. The intervals leave
	// out the filter's dispersion, which a few samples cannot yet bring
	// down. Without a majority, wait for more answers.
	now := e.clk.Now()
	sel, idx := e.startSelect(now, true)
	if !sel.OK() {
		if e.mono()-e.firstAt >= startUpWait {
			e.startDone = true // no step; the loop corrects the offset
		}
		return
	}
	e.startDone = true
	med := sel.Offset
	_, errc := e.updateOffset(sel, idx, now)
	res, err := e.d.StartUpSample(discipline.Sample{Time: now, Offset: med, Mark: e.d.Mark(), Error: errc})
	if err != nil {
		e.fatal = err
		e.sysEvent(7)
		return
	}
	if res.Action == discipline.Stepped {
		e.log.Warn("start-up step", "offset", med)
		e.sysEvent(12)
		e.afterStep()
		e.startStepped = true
		e.publish(e.clk.Now())
	}
}

// startSelect is the selection of the start-up: the intersection of the
// sources' latest filter outputs (with first, only those that answered in
// the start-up window), whose intervals leave out the filter's dispersion,
// which a few samples cannot yet bring down.
func (e *Engine) startSelect(now time.Time, first bool) (Selection, []*assoc) {
	var cands []Candidate
	var idx []*assoc
	for _, x := range e.assocs {
		if _, ok := e.firstOff[x]; first && !ok {
			continue
		}
		if x.proto || x.denied || x.cfg.NoSelect || !x.filter.HasOutput ||
			x.leap == ntp.LeapAlarm || x.stratum == 0 || x.stratum >= ntp.MaxStratum {
			continue
		}
		lam := max(x.rootDelay+x.filter.Delay, MinDisp)/2 + x.rootDisp + x.filter.Jitter
		cands = append(cands, Candidate{Offset: e.project(x, now), RootDist: lam,
			Jitter: x.filter.Jitter, Stratum: x.stratum, Prefer: x.cfg.Prefer})
		idx = append(idx, x)
	}
	return Select(cands, e.o.Select, -1), idx
}

// startTrack feeds the discipline while the selection cannot pick a
// system peer yet: after the start-up step the clock filters start empty
// and a source's root distance falls below the limit only with its fourth
// sample, but the frequency error, uncorrected, costs more than the phase
// in those seconds. So until the first regular update, each new sample of
// a source the start-up selection agrees on (the one that chose the step)
// goes to the discipline; the clock is not reported synchronised before
// the regular selection has a system peer.
func (e *Engine) startTrack(now time.Time) {
	fresh := false
	for _, a := range e.assocs {
		fresh = fresh || a.newSample
		a.newSample = false
	}
	if !fresh {
		return
	}
	sel, idx := e.startSelect(now, false)
	if !sel.OK() {
		return
	}
	res, ok := e.discipline(sel, idx, now)
	if !ok {
		return
	}
	if res.Action == discipline.Stepped {
		e.sysEvent(12)
		e.afterStep()
	}
}

// discipline hands the selection's combined offset to the clock
// discipline. It reports false when the update failed: a panic (too large
// an offset) ends the engine through e.fatal; any other error (the clock
// refused, no permission say) is logged and the engine goes on measuring.
func (e *Engine) discipline(sel Selection, idx []*assoc, now time.Time) (discipline.Result, bool) {
	off, errc := e.updateOffset(sel, idx, now)
	res, err := e.d.Update(discipline.Sample{Time: now, Offset: off, Mark: e.d.Mark(), Jitter: sel.Jitter, Error: errc})
	if err == nil {
		return res, true
	}
	var pe *discipline.PanicError
	if errors.As(err, &pe) {
		e.sysEvent(7)
		e.fatal = err
	} else {
		e.log.Error("cannot adjust the clock", "err", err)
	}
	return res, false
}

// ---------------------------------------------------------------- selection

func (e *Engine) selfRefID() ntp.RefID {
	if e.o.LocalAddr.IsValid() {
		return ntp.RefIDFromAddr(e.o.LocalAddr)
	}
	return ntp.RefID{}
}

// project returns an association's offset projected to now.
func (e *Engine) project(a *assoc, now time.Time) time.Duration {
	if e.d == nil {
		return a.filter.Offset
	}
	return e.d.Project(discipline.Sample{Time: a.filter.Time, Offset: a.filter.Offset, Mark: a.filter.Mark}, now)
}

func (e *Engine) clockSelect() {
	now := e.clk.Now()
	self := e.selfRefID()
	var cands []Candidate
	var idx []*assoc
	prev := -1
	for _, a := range e.assocs {
		if a.proto {
			a.sel = SelReject
			continue
		}
		a.sel = SelReject
		if f := a.unfit(now, e.sys.Stratum, self, e.o.MaxDist); f != 0 || a.cfg.NoSelect || a.denied {
			a.flash |= f
			continue
		}
		if a == e.sysPeer {
			prev = len(cands)
		}
		cands = append(cands, Candidate{
			Offset: e.project(a, now), RootDist: a.rootDist(now), Jitter: a.filter.Jitter,
			Stratum: a.stratum, Prefer: a.cfg.Prefer,
		})
		idx = append(idx, a)
	}
	sel := Select(cands, e.o.Select, prev)
	for i, c := range sel.Codes {
		a := idx[i]
		a.sel = c
		if c == SelFalsetick {
			a.falseCount++
			if a.member && a.falseCount >= 8 {
				defer e.demobilize(a, "falseticker")
			}
		} else {
			a.falseCount = 0
		}
	}
	if !sel.OK() {
		if e.sysPeer != nil {
			e.log.Info("no system peer")
			e.sysEvent(8)
		}
		e.sysPeer = nil
		e.sys.SysPeer = 0
		if e.d != nil && e.startDone && !e.loopOn && !e.o.Once {
			e.startTrack(now)
		}
		e.orphan(now)
		e.publish(now)
		return
	}
	sp := idx[sel.SysPeer]
	if sp != e.sysPeer {
		sp.event(evSysPeer)
		e.log.Info("new system peer", "peer", sp.label(), "stratum", sp.stratum)
	}
	e.sysPeer = sp
	e.lastSel = now
	e.sys.SysPeer = sp.id
	if !sp.newSample {
		e.publish(now)
		return
	}
	for _, a := range e.assocs {
		a.newSample = false
	}
	e.clockUpdate(sp, sel, idx, now)
}

func (e *Engine) clockUpdate(sp *assoc, sel Selection, idx []*assoc, now time.Time) {
	s := &e.sys
	if e.d != nil {
		if e.o.Once {
			res, err := e.d.SetOnce(sel.Offset)
			if err != nil {
				e.fatal = err
				return
			}
			e.log.Info("clock set once", "action", res.Action.String(), "offset", sel.Offset)
			e.onceSet = true
			s.Offset = sel.Offset
			e.publish(now)
			return
		}
		e.loopOn = true
		res, ok := e.discipline(sel, idx, now)
		if !ok {
			if e.fatal == nil {
				e.publish(now) // go on measuring
			}
			return
		}
		switch res.Action {
		case discipline.Spike:
			e.sysEvent(3)
			e.publish(now)
			return
		case discipline.Stepped:
			e.sysEvent(12)
			e.afterStep()
			e.publish(e.clk.Now())
			return
		case discipline.Ignored:
			e.publish(now)
			return
		}
		st := e.d.State()
		s.Offset = st.Offset
		s.FrequencyPPM = st.FrequencyPPM
		s.ClockJitter = st.Jitter
		s.ClockWander = st.WanderPPM
		s.Poll = st.Poll
	} else {
		s.Offset = sel.Offset
		s.Poll = max(s.Poll, s.MinPoll)
	}
	if s.Leap == ntp.LeapAlarm {
		e.sysEvent(5)
	}
	s.Stratum = min(sp.stratum+1, ntp.MaxStratum)
	s.RefID = ntp.RefIDFromAddr(sp.addr.Addr())
	s.RefTime = ntp.TimestampFromTime(now)
	s.RootDelay = sp.rootDelay + sp.filter.Delay
	s.RootDispersion = sp.rootDisp + sp.filter.Dispersion + sel.Jitter + time.Duration(PHI*float64(now.Sub(sp.filter.Time))) + s.Offset.Abs()
	s.RootDispersion = max(s.RootDispersion, MinDisp)
	s.SysJitter = sel.Jitter
	s.ClockSource = 6
	s.Leap = e.leapVote(sel, idx)
	for _, a := range e.assocs {
		if !a.proto {
			a.hpoll = max(a.minPoll, min(a.maxPoll, s.Poll))
		}
	}
	if e.d != nil {
		if err := e.d.SetStatus(true, s.Leap, s.RootDelay/2+s.RootDispersion, s.SysJitter); err != nil {
			e.log.Warn("set clock status", "err", err)
		}
	}
	e.publish(now)
}

// updateOffset is the offset handed to the discipline: unlike the clock
// filter's choice (the lowest-delay of eight, used for selection and shown
// as the peer offset, which would feed the loop only once in several
// polls), every new sample is used, each survivor's latest sample projected
// to now and weighted by its expected error, which grows with its delay
// above the filter's minimum (the extra delay bounds the asymmetry the
// sample may hide).
func (e *Engine) updateOffset(sel Selection, idx []*assoc, now time.Time) (time.Duration, time.Duration) {
	var sw, so float64
	minJ := time.Duration(math.MaxInt64)
	for _, i := range sel.Survivors {
		minJ = min(minJ, idx[i].filter.Jitter)
	}
	for _, i := range sel.Survivors {
		a := idx[i]
		// a survivor much noisier than the best (e.g. one that just stepped
		// and has old and new samples in its filter) gets little weight
		xj := (a.filter.Jitter - minJ).Seconds()
		l, ok := a.filter.Last()
		if !ok || !e.d.Valid(l.Mark) {
			continue
		}
		md := a.filter.MinDelay()
		errS := (l.Delay-md).Seconds()/2 + md.Seconds()/20 + l.Dispersion.Seconds() + 1e-6
		// Until several samples establish the minimum delay, a sample's
		// asymmetry is bounded only by half its round trip: a uniform
		// error within that bound, shrinking as samples accumulate.
		errS = max(errS, l.Delay.Seconds()/(2*math.Sqrt(3)*float64(validStages(&a.filter, now))))
		// popcorn gate: a latest sample far from the filter's choice (a
		// spike, or a source that just stepped) is not used; the filter's
		// own sample stands in for it.
		gate := (l.Delay-md)/2 + 3*a.filter.Jitter + 100*time.Microsecond
		if (l.Offset - a.filter.Offset).Abs() > gate {
			l = FilterSample{Offset: a.filter.Offset, Delay: a.filter.Delay, Time: a.filter.Time, Mark: a.filter.Mark}
			errS = md.Seconds()/20 + 1e-6 + now.Sub(l.Time).Seconds()*1e-7
		}
		w := 1 / (errS*errS + xj*xj)
		th := e.d.Project(discipline.Sample{Time: l.Time, Offset: l.Offset, Mark: l.Mark}, now)
		sw += w
		so += w * th.Seconds()
	}
	if sw == 0 {
		return sel.Offset, 0
	}
	return time.Duration(so / sw * 1e9), time.Duration(1 / math.Sqrt(sw) * 1e9)
}

// validStages counts the filter's valid samples (at least 1).
func validStages(f *Filter, now time.Time) int {
	n := 0
	_, _, disp := f.Stages(now)
	for _, d := range disp {
		if d < MaxDisp {
			n++
		}
	}
	return max(n, 1)
}

// leapVote passes on a leap warning when a majority of the survivors
// announce it.
func (e *Engine) leapVote(sel Selection, idx []*assoc) ntp.Leap {
	var ins, del int
	for _, i := range sel.Survivors {
		switch idx[i].leap {
		case ntp.LeapInsert:
			ins++
		case ntp.LeapDelete:
			del++
		}
	}
	n := len(sel.Survivors)
	switch {
	case 2*ins > n:
		return ntp.LeapInsert
	case 2*del > n:
		return ntp.LeapDelete
	}
	return ntp.LeapNone
}

// afterStep clears the filters (their samples predate the step) and starts
// a fresh burst so that they refill quickly.
func (e *Engine) afterStep() {
	s := &e.sys
	s.Leap, s.Stratum, s.RefID = ntp.LeapAlarm, ntp.MaxStratum, ntp.KissStep
	now := e.mono()
	for _, a := range e.assocs {
		a.filter.Reset()
		a.newSample = false
		if a.proto {
			continue
		}
		a.hpoll = a.minPoll
		if a.cfg.Iburst && !a.denied && !a.kissed {
			// a burst under way keeps its 2 s spacing; otherwise the
			// next packet goes 2 s from now, never closer than 2 s to
			// the last one (servers with "restrict limited" kiss
			// clients that poll faster)
			if a.burst == 0 {
				a.nextPoll = min(a.nextPoll, now+2*time.Second)
			}
			a.burst = max(a.burst, 5)
		}
	}
	e.sysPeer = nil
	s.SysPeer = 0
	if e.d != nil {
		_ = e.d.SetStatus(false, ntp.LeapNone, 16*time.Second, 0)
	}
}

// orphan enters orphan mode after OrphanWait without a system peer.
func (e *Engine) orphan(now time.Time) {
	s := &e.sys
	if e.o.Orphan <= 0 || e.o.Orphan >= ntp.MaxStratum {
		return
	}
	since := e.lastSel
	if since.IsZero() {
		since = e.start0(now)
	}
	if now.Sub(since) < e.o.OrphanWait {
		return
	}
	if s.Stratum != uint8(e.o.Orphan) {
		e.log.Info("orphan mode", "stratum", e.o.Orphan)
	}
	s.Leap, s.Stratum = ntp.LeapNone, uint8(e.o.Orphan)
	s.RefID = ntp.RefIDFromAddr(netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	s.RootDelay, s.RootDispersion = 0, MinDisp
	s.RefTime = ntp.TimestampFromTime(now)
	s.ClockSource = 0
}

// start0 is the local-clock time the engine started (for orphan wait).
func (e *Engine) start0(now time.Time) time.Time {
	return now.Add(-e.mono())
}

func (e *Engine) sysEvent(code uint8) {
	if e.sys.EventCount < 15 {
		e.sys.EventCount++
	}
	e.sys.LastEvent = code
}

// ---------------------------------------------------------------- pool and DNS

func (e *Engine) needMembers() bool {
	n := 0
	for _, a := range e.assocs {
		if !a.proto {
			n++
		}
	}
	return n < e.o.Select.MaxClock
}

func (e *Engine) resolve(ctx context.Context, a *assoc) {
	if a.resolving {
		return
	}
	// retry interval: doubles from 64 s up to 1 h
	back := time.Duration(64<<min(a.resolveFails, 6)) * time.Second
	a.nextPoll = e.mono() + back
	e.lookup(ctx, a)
}

func (e *Engine) resolved(r dnsResult) {
	a := r.a
	a.resolving = false
	if r.err != nil || len(r.addrs) == 0 {
		a.resolveFails++
		e.log.Info("cannot resolve", "name", a.name, "err", r.err)
		return
	}
	a.resolveFails = 0
	if !a.proto {
		e.serverResolved(a, r.addrs) // resolve.go
		return
	}
	now := e.mono()
	for _, ad := range r.addrs {
		if !e.needMembers() {
			break
		}
		ad = ad.Unmap()
		if until, ok := e.banned[ad]; ok && now < until {
			continue
		}
		ap := netip.AddrPortFrom(ad, e.o.Port)
		if e.find(ap) != nil {
			continue
		}
		m := e.newAssoc(a.cfg)
		m.cfg.Kind = KindServer
		m.member, m.pool, m.addr = true, a, ap
		m.nextPoll = now + time.Duration(e.rng.Int64N(int64(time.Second)))
		e.log.Info("pool member mobilised", "pool", a.name, "addr", ap)
	}
	e.publish(e.clk.Now())
}

func (e *Engine) demobilize(a *assoc, why string) {
	i := slices.Index(e.assocs, a)
	if i < 0 {
		return
	}
	e.log.Info("association demobilised", "peer", a.label(), "reason", why)
	a.gone = true
	e.assocs = slices.Delete(e.assocs, i, i+1)
	e.banned[a.addr.Addr()] = e.mono() + time.Hour
	if e.sysPeer == a {
		e.sysPeer = nil
		e.sys.SysPeer = 0
	}
	if a.pool != nil {
		// look for a replacement soon
		a.pool.nextPoll = min(a.pool.nextPoll, e.mono()+time.Second)
		a.pool.resolveFails = 0
	}
	e.publish(e.clk.Now())
}

// ---------------------------------------------------------------- snapshots

// publishIfStale publishes when something changed since the last snapshot
// (flash bits of rejected packets, for instance).
func (e *Engine) publishIfStale() {
	e.publish(time.Time{})
}

func (e *Engine) publish(now time.Time) {
	if now.IsZero() {
		now = e.clk.Now()
	}
	s := e.sys
	if e.d != nil && s.Stratum < ntp.MaxStratum {
		st := e.d.State()
		s.FrequencyPPM = st.FrequencyPPM
	} else if e.d != nil {
		s.FrequencyPPM = e.d.Frequency()
	}
	s.Stratum = min(s.Stratum, ntp.MaxStratum)
	e.sysSnap.Store(&s)
	peers := make([]PeerState, 0, len(e.assocs))
	for _, a := range e.assocs {
		peers = append(peers, a.state(now))
	}
	slices.SortFunc(peers, func(x, y PeerState) int { return int(x.AssocID) - int(y.AssocID) })
	e.peersSnap.Store(&peers)
	if e.o.OnUpdate != nil {
		e.o.OnUpdate()
	}
}
