package sync_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/discipline"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
	"github.com/ntpkit/ntpkit/sync/sim"
)

// chanTransport hands every sent packet to the test.
type chanTransport chan []byte

func (c chanTransport) Send(_ netip.AddrPort, b []byte) error {
	c <- append([]byte(nil), b...)
	return nil
}

func engineReply(req []byte, clk clock.Clock) ntp.Header {
	q, _ := ntp.ParseHeader(req)
	now := ntp.TimestampFromTime(clk.Now())
	return ntp.Header{Version: 4, Mode: ntp.ModeServer, Stratum: 1, RefID: ntp.RefIDFromString("GPS"),
		RefTime: now, OrigTime: q.XmitTime, RecvTime: now, XmitTime: now, Precision: -20}
}

func TestOnWireChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := make(chanTransport, 16)
		srv := netip.MustParseAddrPort("198.18.0.1:123")
		e, err := ntpsync.NewEngine(ntpsync.Options{Clock: clock.System{}, Transport: tr,
			Servers: []ntpsync.ServerConfig{{Address: srv.String(), MinPoll: 6, MaxPoll: 6}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go e.Run(ctx)
		req := <-tr
		good := engineReply(req, clock.System{})
		// bogus: origin does not match our transmit timestamp
		bad := good
		bad.OrigTime++
		e.Input(bad.Marshal(), srv, time.Now())
		synctest.Wait()
		if p := e.Peers()[0]; p.Reach != 0 || p.Flash&0x2 == 0 {
			t.Fatalf("bogus reply accepted: reach %#x flash %#x", p.Reach, p.Flash)
		}
		e.Input(good.Marshal(), srv, time.Now())
		synctest.Wait()
		if p := e.Peers()[0]; p.Reach != 1 {
			t.Fatalf("good reply not accepted: reach %#x flash %#x", p.Reach, p.Flash)
		}
		// duplicate
		e.Input(good.Marshal(), srv, time.Now())
		synctest.Wait()
		if p := e.Peers()[0]; p.Flash&0x1 == 0 {
			t.Fatalf("duplicate not flagged: flash %#x", p.Flash)
		}
		// a reply from an unknown address is ignored
		e.Input(good.Marshal(), netip.MustParseAddrPort("198.18.0.9:123"), time.Now())
		synctest.Wait()
		if n := len(e.Peers()); n != 1 {
			t.Fatalf("%d associations", n)
		}
	})
}

func TestKissDeny(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s1, s2 := sim.Addr(1), sim.Addr(2)
		w := sim.Run(sim.Scenario{Duration: 3000 * time.Second, Seed: 1,
			Net:     sim.Link{Delay: 100 * time.Microsecond},
			Servers: []sim.ServerOptions{{Addr: s1, Kiss: ntp.KissDeny}, {Addr: s2}},
			Clients: []sim.ClientOptions{{Addr: sim.Addr(100), Servers: []ntpsync.ServerConfig{
				sim.ServerLine(s1, true, 6, 6), sim.ServerLine(s2, true, 6, 6)}}}})
		if n := w.Servers[0].Requests; n > 2 {
			t.Errorf("denied server got %d requests, want the association stopped", n)
		}
		ps := w.Clients[0].Engine.Peers()
		if ps[0].Select != ntpsync.SelReject || ps[0].Reach != 0 {
			t.Errorf("denied association: select %d reach %#x", ps[0].Select, ps[0].Reach)
		}
		if ps[1].Select != ntpsync.SelSysPeer {
			t.Errorf("good server select %d", ps[1].Select)
		}
	})
}

func TestOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s1 := sim.Addr(1)
		w := sim.Run(sim.Scenario{Duration: 600 * time.Second, Seed: 2,
			Net:     sim.Link{Delay: 100 * time.Microsecond},
			Servers: []sim.ServerOptions{{Addr: s1}},
			Clients: []sim.ClientOptions{{Addr: sim.Addr(100), Once: true, Clock: clock.SimOptions{Offset: 50 * time.Millisecond},
				Servers: []ntpsync.ServerConfig{sim.ServerLine(s1, true, 6, 6)}}}})
		c := w.Clients[0]
		if c.Err != nil {
			t.Fatalf("Run: %v", c.Err)
		}
		// 50 ms is below the step threshold: slewed, like ntpd -q
		if c.Sim.Steps() != 0 {
			t.Errorf("stepped")
		}
		if off := c.Sim.Offset(); off.Abs() > time.Millisecond {
			t.Errorf("offset %v after ntpd -q", off)
		}
	})
}

func TestOnceStepAndPanic(t *testing.T) {
	for _, tc := range []struct {
		off   time.Duration
		g     bool
		steps int
		panic bool
	}{{2 * time.Second, false, 1, false}, {2 * time.Hour, false, 0, true}, {2 * time.Hour, true, 1, false}} {
		synctest.Test(t, func(t *testing.T) {
			s1 := sim.Addr(1)
			w := sim.Run(sim.Scenario{Duration: 60 * time.Second, Seed: 3,
				Net:     sim.Link{Delay: 100 * time.Microsecond},
				Servers: []sim.ServerOptions{{Addr: s1}},
				Clients: []sim.ClientOptions{{Addr: sim.Addr(100), Once: true, Clock: clock.SimOptions{Offset: tc.off},
					Discipline: discipline.Options{PanicOnce: tc.g},
					Servers:    []ntpsync.ServerConfig{sim.ServerLine(s1, true, 6, 6)}}}})
			c := w.Clients[0]
			if got := c.Err != nil; got != tc.panic {
				t.Errorf("offset %v -g=%v: err %v", tc.off, tc.g, c.Err)
			}
			if c.Sim.Steps() != tc.steps {
				t.Errorf("offset %v: %d steps, want %d", tc.off, c.Sim.Steps(), tc.steps)
			}
		})
	}
}

func TestPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var addrs []netip.Addr
		var servers []sim.ServerOptions
		for i := 1; i <= 6; i++ {
			addrs = append(addrs, sim.Addr(byte(i)))
			if i != 2 { // 198.18.0.2 never answers
				servers = append(servers, sim.ServerOptions{Addr: sim.Addr(byte(i))})
			}
		}
		w := sim.Run(sim.Scenario{Duration: 4 * 3600 * time.Second, Seed: 4,
			Net:     sim.Link{Delay: 100 * time.Microsecond, Jitter: 50 * time.Microsecond},
			Servers: servers,
			Clients: []sim.ClientOptions{{Addr: sim.Addr(100), Resolver: sim.Resolver{"pool.test": addrs},
				Select:  ntpsync.SelectOptions{MaxClock: 5},
				Servers: []ntpsync.ServerConfig{{Kind: ntpsync.KindPool, Address: "pool.test", Iburst: true, MinPoll: 6, MaxPoll: 6}}}}})
		ps := w.Clients[0].Engine.Peers()
		var members int
		for _, p := range ps {
			if p.Name == "pool.test" {
				if !p.Bcast || !p.Configured {
					t.Errorf("prototype flags: %+v", p)
				}
				continue
			}
			members++
			if !p.Bcast || p.Configured {
				t.Errorf("member flags: bcast %v conf %v", p.Bcast, p.Configured)
			}
			if p.Addr.Addr() == sim.Addr(2) {
				t.Errorf("unreachable member %v was not replaced", p.Addr)
			}
			if p.Reach == 0 {
				t.Errorf("member %v unreachable", p.Addr)
			}
		}
		if members != 5 {
			t.Errorf("%d pool members, want 5 (tos maxclock; the prototype does not count)", members)
		}
		if !w.Clients[0].Engine.System().Synchronized() {
			t.Errorf("not synchronised")
		}
	})
}

func TestPreferNoSelect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s1, s2, s3 := sim.Addr(1), sim.Addr(2), sim.Addr(3)
		l1, l2, l3 := sim.ServerLine(s1, true, 6, 6), sim.ServerLine(s2, true, 6, 6), sim.ServerLine(s3, true, 6, 6)
		l2.Prefer, l3.NoSelect = true, true
		w := sim.Run(sim.Scenario{Duration: 1000 * time.Second, Seed: 5,
			Net:     sim.Link{Delay: 100 * time.Microsecond, Jitter: 50 * time.Microsecond},
			Servers: []sim.ServerOptions{{Addr: s1}, {Addr: s2}, {Addr: s3}},
			Clients: []sim.ClientOptions{{Addr: sim.Addr(100), Servers: []ntpsync.ServerConfig{l1, l2, l3}}}})
		ps := w.Clients[0].Engine.Peers()
		if ps[1].Select != ntpsync.SelSysPeer {
			t.Errorf("prefer peer select %d, want sys peer", ps[1].Select)
		}
		if ps[2].Select != ntpsync.SelReject || ps[2].Reach == 0 {
			t.Errorf("noselect peer select %d reach %#x", ps[2].Select, ps[2].Reach)
		}
		sys := w.Clients[0].Engine.System()
		if sys.Stratum != 2 || sys.RefID != ntp.RefIDFromAddr(s2) || sys.SysPeer != ps[1].AssocID {
			t.Errorf("system: stratum %d refid %v peer %d", sys.Stratum, sys.RefID.Dotted(), sys.SysPeer)
		}
	})
}

func TestOrphan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// the only server never answers; tos orphan 8
		w := sim.Run(sim.Scenario{Duration: 400 * time.Second, Seed: 6,
			Net: sim.Link{Delay: 100 * time.Microsecond},
			Clients: []sim.ClientOptions{{Addr: sim.Addr(100), Orphan: 8,
				Servers: []ntpsync.ServerConfig{sim.ServerLine(sim.Addr(1), true, 6, 6)}}}})
		s := w.Clients[0].Engine.System()
		if s.Stratum != 8 || s.Leap != ntp.LeapNone || !s.Synchronized() {
			t.Errorf("orphan: stratum %d leap %v", s.Stratum, s.Leap)
		}
	})
}
