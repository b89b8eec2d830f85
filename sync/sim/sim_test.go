package sim

import (
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
