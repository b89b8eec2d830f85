package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/discipline"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// NewSyncEngine is the NewEngineFunc that synchronises to the configured
// NTP servers, peers and pools with package sync and pkg/discipline. LOCAL
// refclocks stay with the LocalEngine, which the sync engine falls back to
// while it has no system peer. A configuration without network sources
// gets the LocalEngine alone.
//
// The client traffic runs on its own UDP socket (an ephemeral port, like
// chrony's default acquisition port) until the daemon hands over a sender
// for its port 123 sockets with SetSender, which symmetric peers need (ntpd
// matches a peer by address and port). Packets of modes 1, 2 and 4 that
// arrive on the serving sockets reach the engine through Input.
//
// With EngineParams.Adjuster nil (--no-adjust) the engine disciplines a
// simulated clock that follows the system clock: every variable is computed
// (offset, frequency, jitter) but the system clock is never touched.
//
// The clock is disciplined by ntpkit's own loop, or by the kernel PLL after
// an explicit "enable kernel" (see kernelDiscipline). Leap warnings reach
// the kernel only on the last day of the month (leapGate).
func NewSyncEngine(p EngineParams) (Engine, error) {
	cfg := p.Config
	if cfg == nil {
		cfg = ntpconf.NewConfig()
	}
	var servers []ntpsync.ServerConfig
	var local []ntpconf.Association
	for _, s := range cfg.Servers {
		if s.IsRefclock {
			local = append(local, s)
			continue
		}
		kind := ntpsync.KindServer
		switch s.Kind {
		case ntpconf.KindPeer:
			kind = ntpsync.KindPeer
		case ntpconf.KindPool:
			kind = ntpsync.KindPool
		}
		network := ""
		switch s.Family {
		case ntpconf.FamilyV4:
			network = "ip4"
		case ntpconf.FamilyV6:
			network = "ip6"
		}
		servers = append(servers, ntpsync.ServerConfig{Kind: kind, Address: s.Address,
			Iburst: s.Iburst, Burst: s.Burst, Prefer: s.Prefer, NoSelect: s.NoSelect,
			MinPoll: int8(s.MinPoll), MaxPoll: int8(s.MaxPoll), Version: uint8(s.Version), Key: uint32(max(s.Key, 0)),
			Network: network})
	}
	if len(servers) == 0 {
		return NewLocalEngine(p)
	}
	first := p.FirstAssocID
	if first == 0 {
		first = 1
	}
	e := &SyncEngine{p: p}
	if len(local) > 0 {
		lc := *cfg
		lc.Servers = local
		lp := p
		lp.Config = &lc
		lp.FirstAssocID = first
		le, err := NewLocalEngine(lp)
		if err != nil {
			return nil, err
		}
		e.local = le
		first += uint16(len(local))
	}

	var adj clock.Adjuster = p.Adjuster
	if adj == nil {
		base := p.Clock
		if base == nil {
			base = clock.System{}
		}
		adj = clock.NewSim(base, clock.SimOptions{})
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kernel := kernelDiscipline(p, cfg, adj, log)
	if kernel {
		log.Info("clock discipline: kernel PLL (enable kernel), after the own loop has measured the frequency")
	} else if p.Adjuster != nil {
		log.Info("clock discipline: ntpkit's own loop")
	}
	if p.Adjuster != nil {
		// A kernel PLL left on by an earlier ntpd (or an "enable kernel"
		// run) would keep slewing and steering under the own loop, which
		// also measures the frequency in kernel mode before it hands the
		// offsets to the kernel PLL.
		if k, ok := adj.(interface{ KernelPLLOff() error }); ok {
			if err := k.KernelPLLOff(); err != nil {
				return nil, fmt.Errorf("switch the kernel PLL off: %w", err)
			}
		}
	}
	do := discipline.Options{Adjuster: gateLeap(adj, log), Kernel: kernel,
		PanicOnce: p.AllowBigStep, SlewOnly: p.SlewOnly, Logger: p.Logger}
	if p.FrequencyValid {
		f := p.FrequencyPPM
		do.InitialFrequency = &f
	}
	d, err := discipline.New(do)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return nil, fmt.Errorf("client socket: %w", err)
	}
	e.conn, e.clk, e.d = conn, adj, d
	e.sysClk, e.virtual = p.Clock, p.Adjuster == nil
	if e.sysClk == nil {
		e.sysClk = clock.System{}
	}
	tos := cfg.Tos
	e.eng, err = ntpsync.NewEngine(ntpsync.Options{
		Clock: adj, Discipline: d, Transport: e,
		Servers: servers,
		Select:  ntpsync.SelectOptions{MinSane: tos.MinSane, MinClock: tos.MinClock, MaxClock: tos.MaxClock},
		Orphan:  tos.Orphan, OrphanWait: time.Duration(tos.OrphanWait) * time.Second,
		MaxDist:   time.Duration(tos.MaxDist * float64(time.Second)),
		Precision: p.Precision, FirstAssocID: first, Once: p.Once, Logger: p.Logger, OnUpdate: p.OnUpdate, Keys: p.Keys,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return e, nil
}

// SyncEngine is the Engine returned by NewSyncEngine.
type SyncEngine struct {
	p       EngineParams
	eng     *ntpsync.Engine
	d       *discipline.Discipline
	clk     clock.Clock
	conn    *net.UDPConn
	sysClk  clock.Clock  // the daemon's clock (rx times passed to Input)
	virtual bool         // --no-adjust: clk is a simulated copy of sysClk
	local   Engine       // LOCAL refclocks, may be nil
	sender  atomic.Value // func([]byte, netip.AddrPort) error
}

// Send implements sync.Transport: through the daemon's sockets once
// SetSender was called, else from the engine's own socket.
func (e *SyncEngine) Send(to netip.AddrPort, b []byte) error {
	if f, ok := e.sender.Load().(func([]byte, netip.AddrPort) error); ok && f != nil {
		if err := f(b, to); !errors.Is(err, errNoServingSocket) {
			return err
		}
	}
	_, err := e.conn.WriteToUDPAddrPort(b, to)
	return err
}

// SetSender makes the engine send through the daemon's serving sockets
// (port 123), as symmetric peers expect; send must be safe for concurrent
// use.
func (e *SyncEngine) SetSender(send func(b []byte, to netip.AddrPort) error) {
	e.sender.Store(send)
}

// Input forwards a packet received on a serving socket (modes 1, 2 and 4;
// after the restrict checks) to the engine. rx is its arrival time on the
// daemon's clock; under --no-adjust the engine runs on a disciplined copy
// of that clock, so rx is moved onto it.
func (e *SyncEngine) Input(b []byte, from netip.AddrPort, rx time.Time) {
	if e.virtual {
		rx = rx.Add(e.clk.Now().Sub(e.sysClk.Now()))
	}
	e.eng.Input(b, from, rx)
}

// Discipline exposes the clock discipline (frequency for the drift file).
func (e *SyncEngine) Discipline() *discipline.Discipline { return e.d }

// FrequencyKnown reports whether the frequency was measured or read from a
// drift file (the daemon writes the drift file only then).
func (e *SyncEngine) FrequencyKnown() bool { return e.d != nil && e.d.FrequencyKnown() }

// Run implements Engine.
func (e *SyncEngine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		e.conn.Close()
	}()
	go e.readLoop()
	errc := make(chan error, 1)
	if e.local != nil {
		go func() { errc <- e.local.Run(ctx) }()
	}
	err := e.eng.Run(ctx)
	cancel()
	if e.local != nil {
		if lerr := <-errc; err == nil {
			err = lerr
		}
	}
	var pe *discipline.PanicError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w; exiting", err)
	}
	return err
}

func (e *SyncEngine) readLoop() {
	buf := make([]byte, 2048)
	for {
		n, from, err := e.conn.ReadFromUDPAddrPort(buf)
		rx := e.clk.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n >= ntp.HeaderLen {
			e.eng.Input(buf[:n], from, rx)
		}
	}
}

// System implements Engine: the sync engine's state, or the LOCAL clock's
// while the engine has no system peer.
func (e *SyncEngine) System() *ntpsync.SystemState {
	s := e.eng.System()
	if e.local != nil && !s.Synchronized() {
		if ls := e.local.System(); ls.Synchronized() {
			return ls
		}
	}
	return s
}

// Peers implements Engine.
func (e *SyncEngine) Peers() []ntpsync.PeerState {
	p := e.eng.Peers()
	if e.local == nil {
		return p
	}
	all := append(slices.Clip(e.local.Peers()), p...) // a copy
	if e.eng.System().Synchronized() {
		// the network system peer wins; the LOCAL clock is a candidate
		for i := range all[:len(all)-len(p)] {
			if all[i].Select == ntpsync.SelSysPeer {
				all[i].Select = ntpsync.SelCandidate
			}
		}
	}
	slices.SortFunc(all, func(a, b ntpsync.PeerState) int { return int(a.AssocID) - int(b.AssocID) })
	return all
}
