package daemon

import (
	"testing"

	"github.com/ntpkit/ntpkit/pkg/clock"
)

// offCounter is a kernel clock that counts requests to switch its PLL off.
type offCounter struct {
	*fakeKernel
	offs int
}

func (o *offCounter) KernelPLLOff() error { o.offs++; return nil }

// The own loop switches off a kernel PLL an earlier daemon may have left
// running, and so does kernel mode (its own loop measures the frequency
// before it hands the offsets to the kernel PLL); --no-adjust (a simulated
// clock) leaves it alone.
func TestOwnLoopSwitchesKernelPLLOff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		conf     string
		noAdjust bool
		want     int
	}{
		{"own loop", "server 127.0.0.77\n", false, 1},
		{"enable kernel", "server 127.0.0.77\nenable kernel\n", false, 1},
		{"--no-adjust", "server 127.0.0.77\n", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &offCounter{fakeKernel: &fakeKernel{Sim: clock.NewSim(clock.System{}, clock.SimOptions{})}}
			p := EngineParams{Config: parseConf(t, tc.conf), Adjuster: k}
			if tc.noAdjust {
				p.Adjuster = nil
			}
			e, err := NewSyncEngine(p)
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := e.(interface{ Close() error }); ok {
				defer c.Close()
			}
			if k.offs != tc.want {
				t.Errorf("KernelPLLOff called %d times, want %d", k.offs, tc.want)
			}
		})
	}
}
