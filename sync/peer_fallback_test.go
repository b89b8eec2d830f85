package sync_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
	"github.com/ntpkit/ntpkit/sync/sim"
)

// A "peer" whose other end only answers client mode (as NTPsec ntpd 1.2
// does with its own "peer" lines) is polled as a server after four
// unanswered symmetric polls, and the client synchronises to it.
func TestPeerFallsBackToClientMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := sim.Addr(1)
		w := sim.Run(sim.Scenario{Duration: 1200 * time.Second, Seed: 3,
			Net:     sim.Link{Delay: 100 * time.Microsecond},
			Servers: []sim.ServerOptions{{Addr: srv}},
			Clients: []sim.ClientOptions{{Addr: sim.Addr(100),
				Clock: clock.SimOptions{Offset: 20 * time.Millisecond, FrequencyPPM: 10},
				Servers: []ntpsync.ServerConfig{{Kind: ntpsync.KindPeer, Address: srv.String(),
					Iburst: true, MinPoll: 4, MaxPoll: 6}}}},
		})
		p := w.Clients[0].Engine.Peers()[0]
		if p.HostMode != ntp.ModeClient || p.Reach == 0 || p.Select != ntpsync.SelSysPeer {
			t.Fatalf("peer of a client-mode-only server: hmode %d reach %#o select %d; want client mode, reachable, system peer",
				p.HostMode, p.Reach, p.Select)
		}
		if m := w.Metrics(0); m.SyncTime < 0 || m.MaxAfter > time.Millisecond {
			t.Fatalf("not synchronised: %+v", m)
		}
	})
}

// The fallback is undone as soon as the peer sends a symmetric active
// packet: it was only down, not unable to do symmetric mode.
func TestPeerFallbackUndoneBySymmetricPacket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := make(chanTransport, 64)
		peer := netip.MustParseAddrPort("198.18.0.1:123")
		e, err := ntpsync.NewEngine(ntpsync.Options{Clock: clock.System{}, Transport: tr,
			Servers: []ntpsync.ServerConfig{{Kind: ntpsync.KindPeer, Address: peer.String(), MinPoll: 4, MaxPoll: 4}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go e.Run(ctx)
		modes := func(n int) []ntp.Mode {
			var ms []ntp.Mode
			for range n {
				h, _ := ntp.ParseHeader(<-tr)
				ms = append(ms, h.Mode)
			}
			return ms
		}
		for i, m := range modes(4) {
			if m != ntp.ModeSymmetricActive {
				t.Fatalf("poll %d sent mode %d, want symmetric active", i, m)
			}
		}
		if m := modes(1)[0]; m != ntp.ModeClient {
			t.Fatalf("after 4 unanswered polls sent mode %d, want client", m)
		}
		// The peer comes up and speaks symmetric mode.
		now := ntp.TimestampFromTime(time.Now())
		sym := ntp.Header{Version: 4, Mode: ntp.ModeSymmetricActive, Stratum: 2, Poll: 4, Precision: -20,
			RefID: ntp.RefIDFromString("GPS"), RefTime: now, XmitTime: now}
		e.Input(sym.Marshal(), peer, time.Now())
		synctest.Wait()
		if p := e.Peers()[0]; p.HostMode != ntp.ModeSymmetricActive {
			t.Fatalf("after a symmetric packet: hmode %d, want symmetric active", p.HostMode)
		}
		if m := modes(1)[0]; m != ntp.ModeSymmetricActive {
			t.Fatalf("next poll sent mode %d, want symmetric active", m)
		}
	})
}
