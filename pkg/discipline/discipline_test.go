package discipline

import (
	"errors"
	"math"

	"github.com/ntpkit/ntpkit/pkg/ntp"
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

func TestStepPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := clock.NewSim(clock.System{}, clock.SimOptions{})
		d, err := New(Options{Adjuster: sim})
		if err != nil {
			t.Fatal(err)
		}
		upd := func(off time.Duration) Action {
			r, err := d.Update(Sample{Offset: off})
			if err != nil {
				t.Fatal(err)
			}
			return r.Action
		}
		// the first correction steps at once
		if a := upd(200 * time.Millisecond); a != Stepped {
			t.Fatalf("first update: %v", a)
		}
		// later, a big offset is a spike until it persisted: a lone one is held
		time.Sleep(64 * time.Second)
		if a := upd(300 * time.Millisecond); a != Spike {
			t.Fatalf("spike: %v", a)
		}
		time.Sleep(64 * time.Second)
		if a := upd(0); a != Slewed {
			t.Fatalf("after spike: %v", a)
		}
		// a consistent offset: stepped after 4 updates spanning >= 60 s
		var acts []Action
		for i := 0; i < 5; i++ {
			time.Sleep(20 * time.Second)
			acts = append(acts, upd(-500*time.Millisecond))
		}
		want := []Action{Spike, Spike, Spike, Stepped}
		for i, w := range want {
			if acts[i] != w {
				t.Fatalf("consistent offset: actions %v, want %v...", acts, want)
			}
		}
		if sim.Steps() != 2 {
			t.Errorf("%d steps", sim.Steps())
		}
	})
}

func TestStepOutLongForInconsistentOffsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := clock.NewSim(clock.System{}, clock.SimOptions{})
		d, _ := New(Options{Adjuster: sim})
		d.Update(Sample{Offset: time.Millisecond})
		n := 0
		for i := 0; ; i++ {
			time.Sleep(64 * time.Second)
			off := 200 * time.Millisecond
			if i%2 == 1 {
				off = 600 * time.Millisecond // not consistent: the full stepout applies
			}
			r, _ := d.Update(Sample{Offset: off})
			n++
			if r.Action == Stepped {
				break
			}
			if n > 100 {
				t.Fatal("never stepped")
			}
		}
		if el := time.Duration(n) * 64 * time.Second; el < DefaultStepOut {
			t.Errorf("stepped after %v, before the stepout", el)
		}
	})
}

func TestSlewOnlyAndPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := clock.NewSim(clock.System{}, clock.SimOptions{})
		d, _ := New(Options{Adjuster: sim, SlewOnly: true})
		if r, _ := d.StartUp(5 * time.Second); r.Action != Ignored {
			t.Errorf("-x start-up: %v", r.Action)
		}
		if r, _ := d.Update(Sample{Offset: 5 * time.Second}); r.Action != Slewed {
			t.Errorf("-x: %v", r.Action)
		}
		if sim.Steps() != 0 {
			t.Errorf("-x stepped")
		}
		d2, _ := New(Options{Adjuster: sim})
		_, err := d2.Update(Sample{Offset: -2000 * time.Second})
		var pe *PanicError
		if !errors.As(err, &pe) || !errors.Is(err, ErrPanic) {
			t.Fatalf("want panic, got %v", err)
		}
		d3, _ := New(Options{Adjuster: sim, PanicOnce: true})
		if r, err := d3.StartUp(-2000 * time.Second); err != nil || r.Action != Stepped {
			t.Fatalf("-g: %v %v", r.Action, err)
		}
		time.Sleep(time.Minute)
		if _, err := d3.Update(Sample{Offset: 2000 * time.Second}); !errors.Is(err, ErrPanic) {
			t.Errorf("-g allows only the first big correction: %v", err)
		}
	})
}

func TestInitialFrequencyAndStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := clock.NewSim(clock.System{}, clock.SimOptions{FrequencyPPM: 12})
		f := -12.0
		d, err := New(Options{Adjuster: sim, InitialFrequency: &f})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := sim.Frequency(); got != -12 || d.Frequency() != -12 || !d.Settled() {
			t.Errorf("initial frequency: sim %v discipline %v settled %v", got, d.Frequency(), d.Settled())
		}
		if err := d.SetStatus(true, ntp.LeapInsert, time.Millisecond, 0); err != nil {
			t.Fatal(err)
		}
		if st := sim.Status(); !st.Synchronized || st.Leap != ntp.LeapInsert {
			t.Errorf("status %+v", st)
		}
	})
}

// kernelSim records KernelPLL calls.
type kernelSim struct {
	*clock.Sim
	offsets []time.Duration
	tcs     []int
}

func (k *kernelSim) KernelPLL(off time.Duration, tc int) error {
	k.offsets = append(k.offsets, off)
	k.tcs = append(k.tcs, tc)
	return nil
}

// Kernel mode: the own loop measures the frequency (writing the frequency
// register) without touching the kernel PLL; once the regression has it
// (at most 120 s), the offsets go to the kernel PLL with time constant the
// poll exponent (STA_NANO: ntpd's), and only a sample that is the best of
// the last eight (or when the kernel's last offset is nearly 2048 s old);
// a step afterwards clears the kernel's pending phase.
func TestKernelMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if _, err := New(Options{Adjuster: clock.NewSim(clock.System{}, clock.SimOptions{}), Kernel: true}); err == nil {
			t.Fatal("kernel mode accepted a clock without a kernel PLL")
		}
		k := &kernelSim{Sim: clock.NewSim(clock.System{}, clock.SimOptions{Offset: 20 * time.Millisecond, FrequencyPPM: 40})}
		d, err := New(Options{Adjuster: k, Kernel: true, MinPoll: 4, MaxPoll: 4})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for !d.KernelPLLOn() {
			if d.Settled() {
				t.Fatal("settled before the kernel PLL took over")
			}
			if time.Since(start) > 130*time.Second {
				t.Fatal("no hand-over to the kernel PLL after 130 s")
			}
			r, err := d.Update(Sample{Offset: -k.Offset(), Error: 50 * time.Microsecond})
			if err != nil {
				t.Fatal(err)
			}
			if !d.KernelPLLOn() {
				if r.Action != Slewed || len(k.offsets) != 0 {
					t.Fatalf("measuring the frequency: %v, kernel PLL calls %v", r.Action, k.offsets)
				}
				time.Sleep(8 * time.Second)
			}
		}
		if el := time.Since(start); el < 60*time.Second {
			t.Errorf("handed over after %v, before the regression spans 60 s", el)
		}
		if !d.Settled() || len(k.offsets) != 1 || k.tcs[0] != 4 {
			t.Fatalf("hand-over: settled %v, kernel PLL calls %v with time constants %v; want one, at 4 (poll 2^4 s)", d.Settled(), k.offsets, k.tcs)
		}
		if f := k.FrequencyError(); math.Abs(f) > 0.1 {
			t.Errorf("frequency error %.3f ppm when the kernel takes over", f)
		}
		if f := d.State().FrequencyPPM; math.Abs(f-must(k.Frequency())) > 1e-9 {
			t.Errorf("state frequency %.3f, kernel's %.3f", f, must(k.Frequency()))
		}
		time.Sleep(16 * time.Second)
		if r, _ := d.Update(Sample{Offset: time.Millisecond, Error: time.Millisecond}); r.Action != Kernel || len(k.offsets) != 1 {
			t.Errorf("a sample worse than the last one reached the kernel: %v %v", r.Action, k.offsets)
		}
		time.Sleep(16 * time.Second)
		if r, _ := d.Update(Sample{Offset: 30 * time.Microsecond, Error: 10 * time.Microsecond}); r.Action != Kernel || len(k.offsets) != 2 || k.offsets[1] != 30*time.Microsecond || k.tcs[1] != 4 {
			t.Errorf("the best sample: %v, kernel got %v, %v", r.Action, k.offsets, k.tcs)
		}
		// a worse sample still reaches the kernel when the last offset it
		// got is so old that the next would bring its FLL in (2048 s)
		time.Sleep(2040 * time.Second)
		if r, _ := d.Update(Sample{Offset: 40 * time.Microsecond, Error: time.Millisecond}); r.Action != Kernel || len(k.offsets) != 3 || k.offsets[2] != 40*time.Microsecond {
			t.Errorf("after 2040 s: %v, kernel got %v", r.Action, k.offsets)
		}
		// a step in normal operation (after the stepout) clears the kernel's phase
		for i := 0; i < 60; i++ {
			time.Sleep(16 * time.Second)
			if r, _ := d.Update(Sample{Offset: 2 * time.Second, Error: 10 * time.Microsecond}); r.Action == Stepped {
				break
			}
		}
		if n := len(k.offsets); n != 4 || k.offsets[3] != 0 || !d.KernelPLLOn() {
			t.Errorf("after a step: kernel PLL calls %v, kernel PLL on %v; want a last 0", k.offsets, d.KernelPLLOn())
		}
	})
}

func must(f float64, err error) float64 {
	if err != nil {
		panic(err)
	}
	return f
}

// TestStartUpFrequencyAcrossStep: the start-up sample and the next one, 2 s
// later and after the start-up step, give the frequency at once: the step
// is book-kept, so the raw phase continues across it (also in time: the
// points' local times move with the step).
func TestStartUpFrequencyAcrossStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := clock.NewSim(clock.System{}, clock.SimOptions{Offset: 300 * time.Millisecond, FrequencyPPM: 100})
		d, err := New(Options{Adjuster: sim})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := d.StartUpSample(Sample{Offset: -sim.Offset(), Error: 10 * time.Microsecond}); err != nil || r.Action != Stepped {
			t.Fatalf("start-up: %v %v", r.Action, err)
		}
		time.Sleep(2 * time.Second)
		if _, err := d.Update(Sample{Offset: -sim.Offset(), Error: 10 * time.Microsecond}); err != nil {
			t.Fatal(err)
		}
		if f := sim.FrequencyError(); math.Abs(f) > 0.5 {
			t.Errorf("frequency error %.3f ppm after the second sample, want ~0", f)
		}
		time.Sleep(time.Second) // the slew of the remaining phase
		if off := sim.Offset(); off.Abs() > 10*time.Microsecond {
			t.Errorf("offset %v", off)
		}
	})
}

// TestFrequencyPriors: noisy first samples cannot set an absurd frequency
// (an unmeasured oscillator is off by ~100 ppm, not thousands);
// TestFrequencyPriorAfterStep: after a step in normal operation the
// frequency measured before it holds against a noisy short regression.
func TestFrequencyPriors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := clock.NewSim(clock.System{}, clock.SimOptions{FrequencyPPM: 20})
		d, _ := New(Options{Adjuster: sim})
		// two samples 2 s apart, 10 ms apart in error (5000 ppm of slope),
		// each with a 5 ms error estimate
		d.Update(Sample{Offset: -sim.Offset() - 5*time.Millisecond, Error: 5 * time.Millisecond})
		time.Sleep(2 * time.Second)
		d.Update(Sample{Offset: -sim.Offset() + 5*time.Millisecond, Error: 5 * time.Millisecond})
		if f := d.Frequency(); math.Abs(f) > 100 {
			t.Errorf("frequency %.1f ppm from two noisy samples", f)
		}
	})
}

func TestFrequencyPriorAfterStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := clock.NewSim(clock.System{}, clock.SimOptions{FrequencyPPM: 20})
		d, _ := New(Options{Adjuster: sim})
		for range 40 {
			d.Update(Sample{Offset: -sim.Offset(), Error: 20 * time.Microsecond})
			time.Sleep(16 * time.Second)
		}
		if f := sim.FrequencyError(); math.Abs(f) > 0.05 {
			t.Fatalf("frequency error %.3f ppm before the step", f)
		}
		// the reference steps by 1 s: consistent offsets, stepped after the
		// shortened stepout
		var stepped bool
		for i := 0; i < 10 && !stepped; i++ {
			r, _ := d.Update(Sample{Offset: time.Second - sim.Offset(), Error: 20 * time.Microsecond})
			stepped = r.Action == Stepped
			time.Sleep(16 * time.Second)
		}
		if !stepped {
			t.Fatal("no step")
		}
		// then two samples 2 s apart whose errors make a 50 ppm slope
		d.Update(Sample{Offset: time.Second - sim.Offset() - 50*time.Microsecond, Error: 50 * time.Microsecond})
		time.Sleep(2 * time.Second)
		d.Update(Sample{Offset: time.Second - sim.Offset() + 50*time.Microsecond, Error: 50 * time.Microsecond})
		if f := sim.FrequencyError(); math.Abs(f) > 2 {
			t.Errorf("frequency error %.3f ppm after a noisy short regression following a step", f)
		}
	})
}
