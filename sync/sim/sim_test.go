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
				Servers: []ntpsync.ServerConfig{ServerLine(srv, true, 6, 8)}}},
		})
		m := w.Metrics(0)
		t.Log("\n" + TableHeader + "\n" + m.Row("reference", 0))
		if testing.Verbose() {
			t.Log("\n" + w.Trace(0, 50))
		}
	})
}
