package sim

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ntpkit/ntpkit/pkg/discipline"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// refNet is chrony's reference network: 100 us each way plus exponential
// jitter of mean 100 us.
var refNet = Link{Delay: 100 * time.Microsecond, Jitter: 100 * time.Microsecond}

func TestReference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := Addr(1)
		w := Run(Scenario{
			Name: "reference", Duration: 10000 * time.Second, Seed: 1, Net: refNet,
			Servers: []ServerOptions{{Addr: srv}},
			Clients: []ClientOptions{{Addr: Addr(100),
				Clock:   clock.SimOptions{Offset: 100 * time.Millisecond, FrequencyPPM: 100, Wander: 1e-9},
				Servers: []ntpsync.ServerConfig{ServerLine(srv, true, 6, 6)}}},
		})
		m := w.Metrics(0)
		t.Log("\n" + TableHeader + "\n" + m.Row("reference", 0))
		check(t, m, limits{sync: 120 * time.Second, rmsAll: 300 * time.Microsecond, rmsSync: 50 * time.Microsecond,
			maxSync: time.Millisecond, freqRMS: 1})
		if testing.Verbose() {
			t.Log("\n" + w.Trace(0, 50))
		}
	})
}

type limits struct {
	sync, rmsAll, rmsSync, maxSync time.Duration
	freqRMS                        float64 // ppm, from 60 s after sync (see Metrics.FreqRMSSettled)
	steps                          int     // maximum clock steps (0: not checked)
}

func check(t *testing.T, m Metrics, l limits) {
	t.Helper()
	if m.Err != nil {
		t.Errorf("engine error: %v", m.Err)
	}
	if m.SyncTime < 0 || m.SyncTime > l.sync {
		t.Errorf("sync time %v, want <= %v", m.SyncTime, l.sync)
	}
	if l.rmsAll > 0 && m.RMSAll > l.rmsAll {
		t.Errorf("RMS offset (whole run) %v, want < %v", m.RMSAll, l.rmsAll)
	}
	if l.rmsSync > 0 && m.RMSAfter > l.rmsSync {
		t.Errorf("RMS offset after sync %v, want < %v", m.RMSAfter, l.rmsSync)
	}
	if l.maxSync > 0 && m.MaxAfter > l.maxSync {
		t.Errorf("max offset after sync %v, want < %v", m.MaxAfter, l.maxSync)
	}
	if l.freqRMS > 0 && m.FreqRMSSettled > l.freqRMS {
		t.Errorf("RMS frequency error %.3f ppm, want < %.3f", m.FreqRMSSettled, l.freqRMS)
	}
	if l.steps > 0 && m.Steps > l.steps {
		t.Errorf("%d clock steps, want <= %d", m.Steps, l.steps)
	}
}

func servers(n int, iburst bool) ([]ServerOptions, []ntpsync.ServerConfig) {
	var so []ServerOptions
	var sc []ntpsync.ServerConfig
	for i := 0; i < n; i++ {
		a := Addr(byte(1 + i))
		so = append(so, ServerOptions{Addr: a})
		sc = append(sc, ServerLine(a, iburst, 6, 6))
	}
	return so, sc
}

func constOffset(d time.Duration) func(time.Time) time.Duration {
	return func(time.Time) time.Duration { return d }
}

func TestFourServers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		so, sc := servers(4, true)
		w := Run(Scenario{Name: "4 servers +0.5s", Duration: 4000 * time.Second, Seed: 2, Net: refNet, Servers: so,
			Clients: []ClientOptions{{Addr: Addr(100), Clock: clock.SimOptions{Offset: 500 * time.Millisecond, FrequencyPPM: 50, Wander: 1e-9}, Servers: sc}}})
		m := w.Metrics(0)
		t.Log("\n" + TableHeader + "\n" + m.Row("4 servers +0.5 s iburst", 0))
		check(t, m, limits{sync: 60 * time.Second, rmsSync: 50 * time.Microsecond, maxSync: time.Millisecond, freqRMS: 1})
	})
}

func TestPanic(t *testing.T) {
	for _, g := range []bool{true, false} {
		t.Run(fmt.Sprintf("g=%v", g), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				so, sc := servers(1, true)
				w := Run(Scenario{Name: "1h", Duration: 2000 * time.Second, Seed: 3, Net: refNet, Servers: so,
					Clients: []ClientOptions{{Addr: Addr(100), Clock: clock.SimOptions{Offset: time.Hour, FrequencyPPM: -20, Wander: 1e-9},
						Servers: sc, Discipline: discipline.Options{PanicOnce: g}}}})
				m := w.Metrics(0)
				if !g {
					if !errors.Is(m.Err, discipline.ErrPanic) {
						t.Fatalf("want panic error, got %v", m.Err)
					}
					t.Logf("panic error: %v", m.Err)
					if w.Clients[0].Sim.Steps() != 0 {
						t.Errorf("clock stepped despite panic")
					}
					return
				}
				t.Log("\n" + TableHeader + "\n" + m.Row("1 h offset, -g", 0))
				check(t, m, limits{sync: 120 * time.Second, rmsSync: 50 * time.Microsecond, maxSync: time.Millisecond, freqRMS: 1, steps: 1})
			})
		})
	}
}

func TestFalsetickers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		so, sc := servers(5, true)
		so[3].Offset = constOffset(50 * time.Millisecond)
		so[4].Offset = constOffset(-80 * time.Millisecond)
		w := Run(Scenario{Name: "falsetickers", Duration: 4000 * time.Second, Seed: 4, Net: refNet, Servers: so,
			Falsetickers: []netip.Addr{so[3].Addr, so[4].Addr},
			Clients:      []ClientOptions{{Addr: Addr(100), Clock: clock.SimOptions{Offset: 20 * time.Millisecond, FrequencyPPM: 30, Wander: 1e-9}, Servers: sc}}})
		m := w.Metrics(0)
		t.Log("\n" + TableHeader + "\n" + m.Row("5 servers, 2 falsetickers", 0))
		check(t, m, limits{sync: 120 * time.Second, rmsSync: 50 * time.Microsecond, maxSync: time.Millisecond})
		if m.FalseSel != 0 {
			t.Errorf("falsetickers selected at %d samples", m.FalseSel)
		}
		for _, p := range w.Clients[0].Engine.Peers() {
			t.Logf("%s %c off=%v", p.Addr, " x.-+#*o"[p.Select], p.Offset)
			if (p.Addr.Addr() == so[3].Addr || p.Addr.Addr() == so[4].Addr) && p.Select != ntpsync.SelFalsetick {
				t.Errorf("%s: select %d, want falsetick", p.Addr, p.Select)
			}
		}
	})
}
