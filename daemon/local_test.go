package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

func TestLocalEngine(t *testing.T) {
	tests := []struct {
		conf        string
		peerStratum uint8
		sysStratum  uint8
		refid       ntp.RefID
	}{
		{"server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n", 10, 11, ntp.RefID{127, 127, 1, 0}},
		{"server 127.127.1.0\n", LocalDefaultStratum, LocalDefaultStratum + 1, ntp.RefID{127, 127, 1, 0}},
		{"server 127.127.1.1\nfudge 127.127.1.1 stratum 0 refid GPS\n", 0, 1, ntp.RefIDFromString("GPS")},
		{"server 127.127.1.0\nfudge 127.127.1.0 stratum 12\nserver 127.127.1.1\nfudge 127.127.1.1 stratum 7\n", 7, 8, ntp.RefID{127, 127, 1, 1}},
	}
	for _, tc := range tests {
		sim := clock.NewSim(clock.System{}, clock.SimOptions{})
		e, err := NewLocalEngine(EngineParams{Config: parseConf(t, tc.conf), Clock: sim, Adjuster: sim,
			Precision: -24, FirstAssocID: 100, LocalSyncDelay: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s := e.System()
		if s.Synchronized() || s.Stratum != 16 || s.RefID != ntp.KissInit || SysStatusWord(s) != 0xc016 {
			t.Errorf("%q: initial state %+v", tc.conf, s)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- e.Run(ctx) }()
		deadline := time.Now().Add(3 * time.Second)
		for !e.System().Synchronized() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		s = e.System()
		if !s.Synchronized() || s.Stratum != tc.sysStratum || s.RefID != tc.refid || s.ClockSource != 5 || s.Poll != 6 {
			t.Errorf("%q: synchronised state %+v", tc.conf, s)
		}
		var sp *ntpsync.PeerState
		for i, p := range e.Peers() {
			if p.AssocID == s.SysPeer {
				sp = &e.Peers()[i]
			}
		}
		if sp == nil || sp.Stratum != tc.peerStratum || sp.Reach != 3 || sp.Select != ntpsync.SelSysPeer || sp.RefID == (ntp.RefID{}) {
			t.Errorf("%q: system peer %+v", tc.conf, sp)
		}
		if !sim.Status().Synchronized || sim.Steps() != 0 {
			t.Errorf("%q: kernel status %+v, steps %d", tc.conf, sim.Status(), sim.Steps())
		}
		if f, _ := sim.Frequency(); f != 0 || sim.Offset() != 0 {
			t.Errorf("%q: the local engine touched the clock", tc.conf)
		}
	}
}

func TestLocalEngineNetworkServersListed(t *testing.T) {
	e, _ := NewLocalEngine(EngineParams{Config: parseConf(t, "server 198.18.0.1\npool pool.example.test\nserver ntp.example.test\n"),
		Clock: clock.System{}, FirstAssocID: 500})
	ps := e.Peers()
	if len(ps) != 3 {
		t.Fatalf("%d peers", len(ps))
	}
	want := []struct {
		id     uint16
		status uint16
		refid  string
	}{{500, 0x8011, "INIT"}, {501, 0x8811, "POOL"}, {502, 0x8011, "INIT"}}
	for i, w := range want {
		if ps[i].AssocID != w.id || PeerStatusWord(&ps[i]) != w.status || ps[i].RefID != ntp.RefIDFromString(w.refid) || ps[i].Stratum != 16 {
			t.Errorf("peer %d: %+v", i, ps[i])
		}
	}
	if ps[1].Name != "pool.example.test" || ps[2].Name != "ntp.example.test" || ps[0].Addr.Addr().String() != "198.18.0.1" {
		t.Errorf("names/addresses: %q %q %v", ps[1].Name, ps[2].Name, ps[0].Addr)
	}
}
