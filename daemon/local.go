package daemon

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// Status word codes used by the engines (SPEC §2).
const (
	sysEvFreqMode = 4
	sysEvRestart  = 6
	sourceLocal   = 5

	peerEvMobilize  = 1
	peerEvReachable = 4
	peerEvSysPeer   = 10

	// LocalDefaultStratum is the LOCAL driver's stratum without a fudge
	// (classic driver documentation: default 5).
	LocalDefaultStratum = 5

	localDispersion = 10 * time.Millisecond // per-sample dispersion of the local driver
	maxDispersion   = 16 * time.Second
	phi             = 15e-6 // frequency tolerance, s/s
)

// LocalEngine synchronises only to the undisciplined local clock
// (server 127.127.1.u, refclock type 1). It never steps, slews or changes
// the frequency of the clock: the local clock is its own reference. With an
// Adjuster it only reports "synchronised" to the kernel once LOCAL is the
// system peer. Network servers and other refclocks
// in the configuration are listed as associations that are never reached,
// so ntpq shows them, until a real engine is plugged in.
type LocalEngine struct {
	p         EngineParams
	sys       atomic.Pointer[ntpsync.SystemState]
	peers     atomic.Pointer[[]ntpsync.PeerState]
	locals    []int // indices into peers of the LOCAL associations
	statusErr bool  // the kernel status could not be set (logged once)
}

// NewLocalEngine builds the LOCAL-clock engine from the configuration.
func NewLocalEngine(p EngineParams) (Engine, error) {
	e := &LocalEngine{p: p}
	id := p.FirstAssocID
	if id == 0 {
		id = 1
	}
	var peers []ntpsync.PeerState
	cfg := p.Config
	if cfg == nil {
		cfg = ntpconf.NewConfig()
	}
	for _, s := range cfg.Servers {
		ps := ntpsync.PeerState{
			AssocID:    id,
			Configured: true, // a pool prototype is "conf" too (status 8811)
			HostMode:   ntp.ModeClient,
			PeerMode:   ntp.ModeServer,
			Leap:       ntp.LeapAlarm,
			Stratum:    ntp.MaxStratum,
			Precision:  p.Precision,
			RefID:      ntp.KissInit,
			HostPoll:   int8(max(s.MinPoll, ntp.MinPoll)),
			PeerPoll:   int8(max(s.MinPoll, ntp.MinPoll)),
			Dispersion: maxDispersion - 62500*time.Microsecond,
			EventCount: 1,
			LastEvent:  peerEvMobilize,
			Flash:      0x1200,
		}
		if s.MinPoll == 0 {
			ps.HostPoll, ps.PeerPoll = ntpconf.DefaultMinPoll, ntpconf.DefaultMinPoll
		}
		for i := range ps.FiltDisp {
			ps.FiltDisp[i] = maxDispersion
		}
		id++
		switch {
		case s.IsRefclock:
			ps.Addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 127, byte(s.RefclockType), byte(s.RefclockUnit)}), 123)
			ps.LocalAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 123)
			ps.Configured = true
			if s.RefclockType == 1 {
				stratum := LocalDefaultStratum
				ps.RefID = ntp.RefIDFromString("LOCL")
				if f := cfg.FudgeFor(s.Address); f != nil {
					if f.Stratum != nil {
						stratum = *f.Stratum
					}
					if f.RefID != "" {
						ps.RefID = ntp.RefIDFromString(f.RefID)
					}
				}
				ps.Stratum = uint8(min(max(stratum, 0), 15))
				e.locals = append(e.locals, len(peers))
			}
		case s.Kind == ntpconf.KindPool:
			ps.Name = s.Address
			ps.Bcast = true
			ps.RefID = ntp.RefIDFromString("POOL")
			ps.Addr = netip.AddrPortFrom(netip.IPv4Unspecified(), 123)
		default:
			if a, err := netip.ParseAddr(s.Address); err == nil {
				ps.Addr = netip.AddrPortFrom(a, 123)
			} else {
				ps.Name = s.Address
			}
		}
		peers = append(peers, ps)
	}
	e.peers.Store(&peers)
	e.sys.Store(&ntpsync.SystemState{
		Leap:           ntp.LeapAlarm,
		Stratum:        ntp.MaxStratum,
		Precision:      p.Precision,
		RefID:          ntp.KissInit,
		RootDispersion: localDispersion,
		Poll:           ntp.MinPoll,
		MinPoll:        ntp.MinPoll,
		FrequencyPPM:   p.FrequencyPPM,
		EventCount:     1,
		LastEvent:      sysEvRestart,
	})
	return e, nil
}

// System implements Engine.
func (e *LocalEngine) System() *ntpsync.SystemState { return e.sys.Load() }

// Peers implements Engine.
func (e *LocalEngine) Peers() []ntpsync.PeerState { return *e.peers.Load() }

// Run implements Engine: it samples the local clock at start, declares it
// the system peer after LocalSyncDelay (a second sample), then samples it
// every 2^hpoll seconds.
func (e *LocalEngine) Run(ctx context.Context) error {
	if len(e.locals) == 0 {
		<-ctx.Done()
		return nil
	}
	e.sample(false)
	delay := e.p.LocalSyncDelay
	if delay <= 0 {
		delay = 2 * time.Second
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		e.sample(true)
		t.Reset(time.Duration(1<<e.hpoll()) * time.Second)
	}
}

func (e *LocalEngine) hpoll() int8 {
	ps := *e.peers.Load()
	return ps[e.locals[0]].HostPoll
}

// sample records one reading of every LOCAL association and, when sync is
// true, makes the best of them (lowest stratum, first configured on a tie)
// the system peer.
func (e *LocalEngine) sample(sync bool) {
	now := ntp.TimestampFromTime(e.p.Clock.Now())
	old := *e.peers.Load()
	peers := make([]ntpsync.PeerState, len(old))
	copy(peers, old)
	best := -1
	for _, i := range e.locals {
		p := &peers[i]
		p.Reach = p.Reach<<1 | 1
		p.Leap = ntp.LeapNone
		p.Rec, p.RefTime, p.Xmt = now, now, now
		p.Offset, p.Delay, p.Jitter = 0, 0, 0
		p.Flash = 0
		copy(p.FiltDelay[1:], p.FiltDelay[:7])
		copy(p.FiltOffset[1:], p.FiltOffset[:7])
		copy(p.FiltDisp[1:], p.FiltDisp[:7])
		p.FiltDelay[0], p.FiltOffset[0], p.FiltDisp[0] = 0, 0, 0
		p.Dispersion = localDispersion
		if p.LastEvent == peerEvMobilize {
			p.EventCount, p.LastEvent = 1, peerEvReachable
		}
		if best < 0 || p.Stratum < peers[best].Stratum {
			best = i
		}
	}
	if !sync || best < 0 {
		e.peers.Store(&peers)
		e.notify()
		return
	}
	for _, i := range e.locals {
		p := &peers[i]
		if i == best {
			p.Select = ntpsync.SelSysPeer
			if p.LastEvent != peerEvSysPeer {
				p.EventCount, p.LastEvent = 1, peerEvSysPeer
			}
		} else {
			p.Select = ntpsync.SelCandidate
		}
	}
	bp := &peers[best]
	st := *e.sys.Load()
	st.Leap = ntp.LeapNone
	st.Stratum = bp.Stratum + 1
	if bp.Stratum == 0 {
		st.RefID = bp.RefID // a stratum-1 server announces the source code
	} else {
		st.RefID = ntp.RefID(bp.Addr.Addr().As4())
	}
	st.RefTime = now
	st.RootDelay = 0
	st.RootDispersion = localDispersion + bp.Dispersion
	st.Poll = bp.HostPoll
	st.SysPeer = bp.AssocID
	st.ClockSource = sourceLocal
	if st.LastEvent == sysEvRestart {
		st.EventCount, st.LastEvent = 1, sysEvFreqMode
	}
	e.peers.Store(&peers)
	e.sys.Store(&st)
	e.notify()
	// Tell the kernel the clock is synchronised (other programs read it:
	// adjtimex, timedatectl, the RTC sync). Never under --no-adjust.
	if e.p.Adjuster != nil {
		err := e.p.Adjuster.SetStatus(clock.Status{Synchronized: true, Leap: ntp.LeapNone,
			MaxError: st.RootDispersion + st.RootDelay/2, EstError: st.RootDispersion})
		if err != nil && !e.statusErr {
			e.statusErr = true
			if e.p.Logger != nil {
				e.p.Logger.Warn("cannot set the kernel synchronisation status", "err", err)
			}
		}
	}
}

func (e *LocalEngine) notify() {
	if e.p.OnUpdate != nil {
		e.p.OnUpdate()
	}
}
