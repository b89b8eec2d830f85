package sync_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	stdsync "sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/discipline"
	ntpsync "github.com/ntpkit/ntpkit/sync"
	"github.com/ntpkit/ntpkit/sync/sim"
)

// Fault tests (issue 7): an upstream that vanishes and returns, and DNS
// that fails or hangs. They run in a synctest bubble: fake time, no
// network, no timed assertions.

type sent struct {
	to netip.AddrPort
	b  []byte
}

// addrTransport hands every sent packet, with its destination, to the test.
type addrTransport chan sent

func (c addrTransport) Send(to netip.AddrPort, b []byte) error {
	c <- sent{to, append([]byte(nil), b...)}
	return nil
}

// lockedBuf is a log sink safe for the engine's goroutines.
type lockedBuf struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An upstream that stops answering loses its reach bit by bit until the
// register is 0; when it answers again the association recovers.
func TestFaultUpstreamVanishesAndReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := make(addrTransport, 16)
		srv := netip.MustParseAddrPort("198.18.0.1:123")
		e, err := ntpsync.NewEngine(ntpsync.Options{Clock: clock.System{}, Transport: tr,
			Servers: []ntpsync.ServerConfig{{Address: srv.String(), MinPoll: 4, MaxPoll: 4}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go e.Run(ctx)
		answer := func(on bool) {
			t.Helper()
			p := <-tr
			if on {
				h := engineReply(p.b, clock.System{})
				e.Input(h.Marshal(), srv, time.Now())
			}
			synctest.Wait()
		}
		for range 8 {
			answer(true)
		}
		if r := e.Peers()[0].Reach; r != 0xff {
			t.Fatalf("healthy upstream: reach %#o", r)
		}
		var seen []uint8
		for range 8 {
			answer(false)
			seen = append(seen, e.Peers()[0].Reach)
		}
		if r := e.Peers()[0].Reach; r != 0 {
			t.Fatalf("silent upstream: reach %#o after 8 polls (%v)", r, seen)
		}
		answer(true)
		if r := e.Peers()[0].Reach; r != 1 {
			t.Fatalf("upstream back: reach %#o, want 1", r)
		}
		for range 3 {
			answer(true)
		}
		if r := e.Peers()[0].Reach; r != 0xf {
			t.Fatalf("upstream back: reach %#o, want 017", r)
		}
	})
}

// fakeResolver fails the first lookup of fail.invalid, then resolves it;
// hang.invalid never answers (until the lookup's context ends).
type fakeResolver struct {
	mu    stdsync.Mutex
	calls map[string]int
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.calls[host]++
	n := r.calls[host]
	r.mu.Unlock()
	switch host {
	case "fail.invalid":
		if n == 1 {
			return nil, errors.New("lookup fail.invalid: no such host")
		}
		return []netip.Addr{netip.MustParseAddr("198.18.0.7")}, nil
	case "hang.invalid":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, errors.New("unexpected name " + host)
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

// DNS failing at start is logged with the name, retried later, and the
// association starts once the name resolves; a lookup that hangs never
// blocks polling of the other servers.
func TestFaultDNS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := make(addrTransport, 64)
		var logs lockedBuf
		res := &fakeResolver{calls: map[string]int{}}
		good := netip.MustParseAddrPort("198.18.0.2:123")
		e, err := ntpsync.NewEngine(ntpsync.Options{Clock: clock.System{}, Transport: tr, Resolver: res,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Servers: []ntpsync.ServerConfig{
				{Address: "hang.invalid", MinPoll: 4, MaxPoll: 4},
				{Address: "fail.invalid", MinPoll: 4, MaxPoll: 4},
				{Address: good.String(), MinPoll: 4, MaxPoll: 4},
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go e.Run(ctx)
		resolved := netip.MustParseAddrPort("198.18.0.7:123")
		perDest := map[netip.AddrPort]int{}
		// Fake time runs only while every goroutine is blocked; answer the
		// good server and count, for at most 200 polls.
		for i := 0; i < 200 && (perDest[resolved] == 0 || res.count("hang.invalid") < 2); i++ {
			p := <-tr
			perDest[p.to]++
			if p.to == good {
				h := engineReply(p.b, clock.System{})
				e.Input(h.Marshal(), good, time.Now())
			}
		}
		t.Logf("requests per destination %v; lookups fail %d hang %d\n%s", perDest,
			res.count("fail.invalid"), res.count("hang.invalid"), logs.String())
		if perDest[resolved] == 0 {
			t.Fatal("fail.invalid never polled after it resolved")
		}
		if res.count("fail.invalid") < 2 {
			t.Errorf("failed lookup not retried")
		}
		if perDest[good] < 2 {
			t.Errorf("good server polled %d times while DNS failed/hung", perDest[good])
		}
		if !bytes.Contains([]byte(logs.String()), []byte(`msg="cannot resolve" name=fail.invalid`)) {
			t.Errorf("no log line naming the failed name")
		}
		if res.count("hang.invalid") < 2 || !bytes.Contains([]byte(logs.String()), []byte(`name=hang.invalid err="context deadline exceeded"`)) {
			t.Errorf("hung lookup not timed out, logged and retried")
		}
		if len(perDest) != 2 {
			t.Errorf("packets went to %v", perDest)
		}
	})
}

// The local clock jumps by +1 s (someone ran date -s, or a VM resumed):
// every upstream now reads 1 s behind. The engine sees only offsets, so
// the jump is simulated as all three servers jumping by -1 s at once. The
// engine must not call them falsetickers; after the stepout it steps once,
// logs "clock stepped", and is synchronised to them again.
func TestFaultLocalClockJump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuf
		start := time.Now()
		jumpAt := 3000 * time.Second
		jump := func(t time.Time) time.Duration {
			if t.Sub(start) > jumpAt {
				return -time.Second
			}
			return 0
		}
		var so []sim.ServerOptions
		var sc []ntpsync.ServerConfig
		for i := range 3 {
			a := sim.Addr(byte(1 + i))
			so = append(so, sim.ServerOptions{Addr: a, Offset: jump})
			sc = append(sc, sim.ServerLine(a, true, 6, 6))
		}
		w := sim.Run(sim.Scenario{Name: "local clock jumps +1 s", Duration: 6000 * time.Second, Seed: 9,
			Net: sim.Link{Delay: 100 * time.Microsecond}, Servers: so,
			Clients: []sim.ClientOptions{{Addr: sim.Addr(100), Servers: sc,
				Discipline: discipline.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}}}})
		c := w.Clients[0]
		t.Logf("steps %d, final offset %v\n%s", c.Sim.Steps(), c.Sim.Offset(), logs.String())
		if c.Err != nil {
			t.Fatalf("engine: %v", c.Err)
		}
		if c.Sim.Steps() != 1 {
			t.Errorf("stepped %d times, want 1", c.Sim.Steps())
		}
		if off := c.Sim.Offset() + time.Second; off.Abs() > time.Millisecond {
			t.Errorf("not re-synchronised: %v from the servers", off)
		}
		if !bytes.Contains([]byte(logs.String()), []byte(`msg="clock stepped"`)) {
			t.Error(`no "clock stepped" log line`)
		}
		sys := c.Engine.System()
		if !sys.Synchronized() || sys.SysPeer == 0 {
			t.Errorf("not synchronised after the jump: peer %d", sys.SysPeer)
		}
		for _, p := range c.Engine.Peers() {
			if p.Select == ntpsync.SelFalsetick || p.Reach == 0 {
				t.Errorf("%s: select %d reach %#o", p.Addr, p.Select, p.Reach)
			}
		}
	})
}
