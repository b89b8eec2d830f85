// Package sim is a simulation harness for the synchronisation engine: an
// in-memory network (delay, exponential jitter, asymmetry, loss), simulated
// NTP servers (offset, steps, lies, kiss-o'-death, leap warnings) and clients
// running the real sync.Engine and discipline on a clock.Sim oscillator.
//
// It is meant to run inside a testing/synctest bubble, where time.Now and
// timers are fake: ten thousand simulated seconds cost milliseconds. The
// "true" time is time.Now; every node's clock is a clock.Sim following it.
// It plays the role chrony's clknetsim plays for chrony's tests.
package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	stdsync "sync"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/discipline"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// Link describes one direction of a path.
type Link struct {
	Delay  time.Duration // fixed one-way delay
	Jitter time.Duration // mean of an exponentially distributed extra delay
	Loss   float64       // probability a packet is lost
}

// Handler receives a packet delivered to a node.
type Handler func(b []byte, from netip.AddrPort)

// Net is an in-memory datagram network. Every directed path draws its
// jitter and losses from its own random source, so that the outcome does
// not depend on how goroutines sending at the same instant interleave.
type Net struct {
	mu      stdsync.Mutex
	seed    uint64
	rngs    map[[2]netip.Addr]*rand.Rand
	def     Link
	links   map[[2]netip.Addr]Link
	nodes   map[netip.Addr]Handler
	packets int
}

// NewNet returns a network whose paths all behave like def unless SetLink
// says otherwise.
func NewNet(seed uint64, def Link) *Net {
	return &Net{seed: seed, rngs: map[[2]netip.Addr]*rand.Rand{}, def: def,
		links: map[[2]netip.Addr]Link{}, nodes: map[netip.Addr]Handler{}}
}

// rng returns the random source of the path from a to b (n.mu held).
func (n *Net) rng(a, b netip.Addr) *rand.Rand {
	k := [2]netip.Addr{a, b}
	r, ok := n.rngs[k]
	if !ok {
		h := fnv.New64a()
		h.Write(a.AsSlice())
		h.Write(b.AsSlice())
		x := h.Sum64()
		r = rand.New(rand.NewPCG(n.seed^x, n.seed^0xabcdef))
		n.rngs[k] = r
	}
	return r
}

// SetLink sets the path from a to b.
func (n *Net) SetLink(from, to netip.Addr, l Link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[[2]netip.Addr{from, to}] = l
}

// Attach registers a node; its packets arrive at h.
func (n *Net) Attach(addr netip.Addr, h Handler) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[addr] = h
	return &Endpoint{net: n, addr: addr}
}

// Packets returns how many packets were sent so far.
func (n *Net) Packets() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.packets
}

// Endpoint is a node's transport; it implements sync.Transport.
type Endpoint struct {
	net  *Net
	addr netip.Addr
}

// Send delivers b to "to" after the path's delay, unless lost.
func (e *Endpoint) Send(to netip.AddrPort, b []byte) error {
	n := e.net
	n.mu.Lock()
	n.packets++
	l, ok := n.links[[2]netip.Addr{e.addr, to.Addr()}]
	if !ok {
		l = n.def
	}
	h := n.nodes[to.Addr()]
	rng := n.rng(e.addr, to.Addr())
	lost := l.Loss > 0 && rng.Float64() < l.Loss
	d := l.Delay
	if l.Jitter > 0 {
		d += time.Duration(rng.ExpFloat64() * float64(l.Jitter))
	}
	n.mu.Unlock()
	if h == nil || lost {
		return nil
	}
	pkt := append([]byte(nil), b...)
	from := netip.AddrPortFrom(e.addr, 123)
	time.AfterFunc(d, func() { h(pkt, from) })
	return nil
}

// ServerOptions describes a simulated NTP server. Its clock is the true
// time plus Offset(t).
type ServerOptions struct {
	Addr    netip.Addr
	Offset  func(t time.Time) time.Duration // nil: perfect
	Stratum uint8                           // default 1
	RefID   ntp.RefID                       // default "GPS"
	Leap    func(t time.Time) ntp.Leap      // nil: no warning
	// RateLimit answers requests arriving less than this apart from the
	// same client with a RATE kiss.
	RateLimit time.Duration
	// Limited answers like ntpd with "restrict ... limited kod" and the
	// default "discard average 3 minimum 2": a leaky bucket per client
	// that each request fills by the average headway (8 s) less 2 s and
	// that drains by the whole seconds since the last request; a request
	// that would fill it to 8 headways (64 s), or that comes less than
	// 1 s (rounded) after the previous one, gets a RATE kiss and the
	// bucket is set to 9 headways. About fifteen requests 2 s apart pass.
	Limited bool
	Kiss    ntp.RefID // if set, every reply is a kiss with this code
}

// Server is a running simulated server.
type Server struct {
	o        ServerOptions
	ep       *Endpoint
	mu       stdsync.Mutex
	last     map[netip.Addr]time.Time
	bucket   map[netip.Addr]*leak
	Requests int
	Kisses   int
	// Violations counts requests that broke RateLimit after the first kiss.
	Violations int
}

// leak is a client's state in the Limited model.
type leak struct {
	last  time.Time
	level int // seconds
}

// limited applies the Limited model to a request from a at t (s.mu held);
// it reports whether the request is over the limit.
func (s *Server) limited(a netip.Addr, t time.Time) bool {
	const head, limit = 8, 64 // 2^3 s, 8 headways
	b, ok := s.bucket[a]
	if !ok {
		s.bucket[a] = &leak{last: t}
		return false
	}
	iv := int(math.Floor(t.Sub(b.last).Seconds() + 0.5))
	b.last = t
	b.level = max(0, b.level-iv)
	if iv+1 >= 2 && b.level+head < limit {
		b.level += head - 2
		return false
	}
	if b.level < limit {
		b.level = limit + head
	}
	return true
}

func (s *Server) now() time.Time {
	t := time.Now()
	if s.o.Offset != nil {
		return t.Add(s.o.Offset(t))
	}
	return t
}

func (s *Server) handle(b []byte, from netip.AddrPort) {
	req, err := ntp.ParseHeader(b)
	if err != nil || req.Mode != ntp.ModeClient {
		return
	}
	rx := s.now()
	s.mu.Lock()
	s.Requests++
	kiss := s.o.Kiss
	if s.o.RateLimit > 0 {
		t := time.Now()
		if last, ok := s.last[from.Addr()]; ok && t.Sub(last) < s.o.RateLimit {
			if s.Kisses > 0 {
				s.Violations++
			}
			kiss = ntp.KissRate
		}
		s.last[from.Addr()] = t
	}
	if s.o.Limited && s.limited(from.Addr(), time.Now()) {
		if s.Kisses > 0 {
			s.Violations++
		}
		kiss = ntp.KissRate
	}
	s.mu.Unlock()
	r := ntp.Header{Version: req.Version, Mode: ntp.ModeServer, Stratum: s.o.Stratum, Poll: req.Poll,
		Precision: -24, RefID: s.o.RefID, RefTime: ntp.TimestampFromTime(rx.Add(-time.Second)),
		RootDispersion: ntp.ShortFromDuration(10 * time.Microsecond),
		OrigTime:       req.XmitTime, RecvTime: ntp.TimestampFromTime(rx)}
	if s.o.Leap != nil {
		r.Leap = s.o.Leap(time.Now())
	}
	if kiss != (ntp.RefID{}) {
		s.mu.Lock()
		s.Kisses++
		s.mu.Unlock()
		r.Leap, r.Stratum, r.RefID = ntp.LeapAlarm, 0, kiss
	}
	r.XmitTime = ntp.TimestampFromTime(s.now())
	_ = s.ep.Send(from, r.Marshal())
}

// ClientOptions describes a node running the real engine.
type ClientOptions struct {
	Addr       netip.Addr
	Clock      clock.SimOptions
	Servers    []ntpsync.ServerConfig
	Discipline discipline.Options // Adjuster is filled in
	Select     ntpsync.SelectOptions
	Orphan     int
	Once       bool
	Resolver   ntpsync.Resolver // for pool and server names
}

// Client is a running simulated ntpkit.
type Client struct {
	O      ClientOptions
	Sim    *clock.Sim
	D      *discipline.Discipline
	Engine *ntpsync.Engine
	Err    error
	done   chan struct{}
	series []sample
	// UTCShift is subtracted from the oscillator offset (leap seconds).
	utcShift time.Duration
	armed    bool
}

type sample struct {
	t        time.Duration
	off      float64 // s
	freq     float64 // ppm
	falseSel bool
}

// Scenario is one simulation.
type Scenario struct {
	Name     string
	Duration time.Duration
	Seed     uint64
	Net      Link // default path
	// Links overrides paths: key "a>b" with node addresses.
	Links   map[[2]netip.Addr]Link
	Servers []ServerOptions
	Clients []ClientOptions
	// Falsetickers lists server addresses that must never be selected.
	Falsetickers []netip.Addr
	// SampleEvery is the metric sampling interval (default 1 s).
	SampleEvery time.Duration
	// LeapAt, when set, is the time (from start) a leap second is inserted:
	// clients whose clock status has the leap armed are stepped back one
	// second then, as the kernel would, and the true UTC shifts too.
	LeapAt time.Duration
	// SyncLimit and FreqLimit define "synchronised" (default 1 ms, 500 ppm).
	SyncLimit time.Duration
	FreqLimit float64
}

// World is a finished (or running) simulation.
type World struct {
	S       Scenario
	Net     *Net
	Servers []*Server
	Clients []*Client
	Start   time.Time
}

// Metrics are the pass criteria of one client.
type Metrics struct {
	SyncTime     time.Duration // -1: never synchronised for good
	RMSAll       time.Duration
	RMSAfter     time.Duration
	MaxAfter     time.Duration
	FreqRMSAfter float64 // ppm
	FreqMaxAfter float64 // ppm
	// FreqRMSSettled is the RMS frequency error from 60 s after sync on
	// (the loop's first frequency estimate needs a few samples).
	FreqRMSSettled float64
	FalseSel       int // samples at which a falseticker was selected
	Steps          int
	LeapArmed      bool
	Err            error
}

// Run runs the scenario to its end. Call it inside a synctest bubble.
func Run(s Scenario) *World {
	if s.SampleEvery == 0 {
		s.SampleEvery = time.Second
	}
	if s.SyncLimit == 0 {
		s.SyncLimit = time.Millisecond
	}
	if s.FreqLimit == 0 {
		s.FreqLimit = 500
	}
	w := &World{S: s, Net: NewNet(s.Seed, s.Net), Start: time.Now()}
	for k, l := range s.Links {
		w.Net.SetLink(k[0], k[1], l)
	}
	for _, so := range s.Servers {
		if so.Stratum == 0 {
			so.Stratum = 1
		}
		if so.RefID == (ntp.RefID{}) {
			so.RefID = ntp.RefIDFromString("GPS")
		}
		srv := &Server{o: so, last: map[netip.Addr]time.Time{}, bucket: map[netip.Addr]*leak{}}
		srv.ep = w.Net.Attach(so.Addr, srv.handle)
		w.Servers = append(w.Servers, srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg stdsync.WaitGroup
	for i, co := range s.Clients {
		c := &Client{O: co, done: make(chan struct{})}
		co.Clock.Seed += s.Seed + uint64(i)*7919
		c.Sim = clock.NewSim(clock.System{}, co.Clock)
		do := co.Discipline
		do.Adjuster = c.Sim
		var err error
		c.D, err = discipline.New(do)
		if err != nil {
			c.Err = err
			close(c.done)
			w.Clients = append(w.Clients, c)
			continue
		}
		var eng *ntpsync.Engine
		ep := w.Net.Attach(co.Addr, func(b []byte, from netip.AddrPort) {
			eng.Input(b, from, c.Sim.Now())
		})
		eng, err = ntpsync.NewEngine(ntpsync.Options{Clock: c.Sim, Discipline: c.D, Transport: ep,
			Servers: co.Servers, Select: co.Select, Orphan: co.Orphan, LocalAddr: co.Addr,
			Once: co.Once, Resolver: co.Resolver, Seed: s.Seed + uint64(i)})
		if err != nil {
			c.Err = err
			close(c.done)
			w.Clients = append(w.Clients, c)
			continue
		}
		c.Engine = eng
		w.Clients = append(w.Clients, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(c.done)
			c.Err = eng.Run(ctx)
		}()
	}
	leapDone := false
	for el := time.Duration(0); el < s.Duration; el += s.SampleEvery {
		time.Sleep(s.SampleEvery)
		now := time.Since(w.Start)
		if s.LeapAt > 0 && !leapDone && now >= s.LeapAt {
			leapDone = true
			for _, c := range w.Clients {
				c.utcShift = -time.Second
				if c.Sim.Status().Leap == ntp.LeapInsert {
					c.armed = true
					_ = c.Sim.Step(-time.Second) // the kernel's leap insertion
				}
			}
		}
		for _, c := range w.Clients {
			select {
			case <-c.done:
				continue
			default:
			}
			sm := sample{t: now, off: (c.Sim.Offset() - c.utcShift).Seconds(), freq: c.Sim.FrequencyError()}
			if len(s.Falsetickers) > 0 && c.Engine != nil {
				for _, p := range c.Engine.Peers() {
					if (p.Select == ntpsync.SelSysPeer || p.Select == ntpsync.SelCandidate) && contains(s.Falsetickers, p.Addr.Addr()) {
						sm.falseSel = true
					}
				}
			}
			c.series = append(c.series, sm)
		}
	}
	cancel()
	wg.Wait()
	return w
}

func contains(l []netip.Addr, a netip.Addr) bool {
	for _, x := range l {
		if x == a {
			return true
		}
	}
	return false
}

// Metrics computes the pass criteria for client i.
func (w *World) Metrics(i int) Metrics {
	c := w.Clients[i]
	m := Metrics{SyncTime: -1, Err: c.Err, LeapArmed: c.armed}
	if c.Sim != nil {
		m.Steps = c.Sim.Steps()
	}
	lim := w.S.SyncLimit.Seconds()
	// synchronised for good: the last sample out of limits + one interval
	syncIdx := 0
	for j, s := range c.series {
		if math.Abs(s.off) >= lim || math.Abs(s.freq) >= w.S.FreqLimit {
			syncIdx = j + 1
		}
		if s.falseSel {
			m.FalseSel++
		}
	}
	var sa float64
	for _, s := range c.series {
		sa += s.off * s.off
	}
	if n := len(c.series); n > 0 {
		m.RMSAll = dur(math.Sqrt(sa / float64(n)))
	}
	if syncIdx < len(c.series) {
		m.SyncTime = c.series[syncIdx].t
		var so, sf float64
		after := c.series[syncIdx:]
		for _, s := range after {
			so += s.off * s.off
			sf += s.freq * s.freq
			m.MaxAfter = max(m.MaxAfter, dur(math.Abs(s.off)))
			m.FreqMaxAfter = math.Max(m.FreqMaxAfter, math.Abs(s.freq))
		}
		m.RMSAfter = dur(math.Sqrt(so / float64(len(after))))
		var ss float64
		var ns int
		for _, s := range after {
			if s.t >= m.SyncTime+60*time.Second {
				ss += s.freq * s.freq
				ns++
			}
		}
		if ns > 0 {
			m.FreqRMSSettled = math.Sqrt(ss / float64(ns))
		}
		m.FreqRMSAfter = math.Sqrt(sf / float64(len(after)))
	}
	return m
}

func dur(s float64) time.Duration { return time.Duration(s * 1e9) }

// TableHeader is the header line of Metrics.Row.
const TableHeader = "scenario                      node  sync(s)  rms_all(us) rms_sync(us) max_sync(us) freq_rms(ppm) freq_rms60(ppm) freq_max(ppm) false steps"

// Row renders metrics as one table row.
func (m Metrics) Row(name string, node int) string {
	st := "never"
	if m.SyncTime >= 0 {
		st = fmt.Sprintf("%.0f", m.SyncTime.Seconds())
	}
	return fmt.Sprintf("%-29s %4d %8s %12.1f %12.1f %12.1f %13.4f %15.4f %13.3f %5d %5d",
		name, node, st, us(m.RMSAll), us(m.RMSAfter), us(m.MaxAfter), m.FreqRMSAfter, m.FreqRMSSettled, m.FreqMaxAfter, m.FalseSel, m.Steps)
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// Addr is a helper for scenario tables: 198.18.0.x.
func Addr(x byte) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, x}) }

// Server returns a ServerConfig line for a simulated server.
func ServerLine(a netip.Addr, iburst bool, minPoll, maxPoll int8) ntpsync.ServerConfig {
	return ntpsync.ServerConfig{Kind: ntpsync.KindServer, Address: a.String(), Iburst: iburst, MinPoll: minPoll, MaxPoll: maxPoll}
}

// Trace returns the offset series of client i (for debugging), one line per
// every n-th sample.
func (w *World) Trace(i, every int) string {
	var b strings.Builder
	for j, s := range w.Clients[i].series {
		if j%every == 0 {
			fmt.Fprintf(&b, "%6.0f %10.1f us %9.3f ppm\n", s.t.Seconds(), s.off*1e6, s.freq)
		}
	}
	return b.String()
}

// Resolver is a fixed name table (sync.Resolver).
type Resolver map[string][]netip.Addr

// LookupNetIP returns the addresses of host.
func (r Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host %q", host)
}
