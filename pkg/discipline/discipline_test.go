package discipline

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
)

// run feeds perfect measurements every interval and returns the final
// offset and frequency error of the simulated clock.
func runPerfect(t *testing.T, o Options, so clock.SimOptions, every time.Duration, n int) *clock.Sim {
	sim := clock.NewSim(clock.System{}, so)
	o.Adjuster = sim
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m := d.Mark()
		res, err := d.Update(Sample{Time: sim.Now(), Offset: -sim.Offset(), Mark: m})
		if err != nil {
			t.Fatal(err)
		}
		if testing.Verbose() && i < 40 {
			t.Logf("%4d %-8v off %10.1fus freq %8.3fppm", i, res.Action, sim.Offset().Seconds()*1e6, sim.FrequencyError())
		}
		next := time.Now().Add(every)
		for !d.NextTick().IsZero() && d.NextTick().Before(sim.Now().Add(every)) {
			time.Sleep(time.Until(time.Now().Add(d.NextTick().Sub(sim.Now()))) + time.Millisecond)
			if err := d.Tick(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Until(next))
	}
	return sim
}

func TestConvergePerfect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := runPerfect(t, Options{}, clock.SimOptions{Offset: 100 * time.Millisecond, FrequencyPPM: 100}, 16*time.Second, 60)
		if off := sim.Offset(); off.Abs() > 10*time.Microsecond {
			t.Errorf("offset %v after convergence", off)
		}
		if f := sim.FrequencyError(); f > 0.01 || f < -0.01 {
			t.Errorf("frequency error %.4f ppm", f)
		}
	})
}
