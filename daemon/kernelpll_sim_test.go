package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	stdsync "sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/discipline"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// simKernel models the Linux kernel clock with its NTP PLL (kernel/time/
// ntp.c) on top of the "true" time of a synctest bubble: an oscillator
// error, the frequency register, adjtime slews, steps, and ADJ_OFFSET with
// STA_PLL: the phase offset decays by offset >> (SHIFT_PLL + tc) each
// second and the frequency moves by offset * secs / 2^(2 (SHIFT_PLL + 2 +
// tc)), secs clamped to 2^(SHIFT_PLL + 1 + tc). It lets the kernel mode be
// tested without any real clock.
type simKernel struct {
	mu      stdsync.Mutex
	last    time.Time // true time of the last advance
	phase   float64   // s: local minus true
	osc     float64   // oscillator error, s/s
	freq    float64   // frequency register, s/s
	slew    float64   // pending adjtime, s
	pllOff  float64   // kernel PLL phase still to apply, s
	tc      int
	refSec  int64 // local second of the last ADJ_OFFSET
	pllUsed bool
	status  clock.Status
	steps   int
}

const shiftPLL = 2

func newSimKernel(offset time.Duration, oscPPM float64) *simKernel {
	return &simKernel{last: time.Now(), phase: offset.Seconds(), osc: oscPPM * 1e-6}
}

func (k *simKernel) advance() time.Time {
	now := time.Now()
	dt := now.Sub(k.last).Seconds()
	if dt <= 0 {
		return now
	}
	k.last = now
	k.phase += (k.osc + k.freq) * dt
	if k.slew != 0 {
		s := math.Copysign(math.Min(math.Abs(k.slew), clock.MaxSlewRate*dt), k.slew)
		k.phase += s
		k.slew -= s
	}
	if k.pllOff != 0 {
		// exponential decay with time constant 2^(SHIFT_PLL+tc) s
		tau := math.Exp2(float64(shiftPLL + k.tc))
		d := k.pllOff * (1 - math.Exp(-dt/tau))
		k.phase += d
		k.pllOff -= d
	}
	return now
}

func (k *simKernel) local() time.Time {
	now := k.advance()
	return now.Add(time.Duration(k.phase * 1e9))
}

func (k *simKernel) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.local()
}

func (k *simKernel) Step(o time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.advance()
	k.phase += o.Seconds()
	k.steps++
	return nil
}

func (k *simKernel) Slew(o time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.advance()
	k.slew = o.Seconds()
	return nil
}

func (k *simKernel) SetFrequency(ppm float64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.advance()
	k.freq = max(-500, min(500, ppm)) * 1e-6
	return nil
}

func (k *simKernel) Frequency() (float64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.freq * 1e6, nil
}

func (k *simKernel) SetStatus(s clock.Status) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status = s
	return nil
}

func (k *simKernel) KernelPLL(offset time.Duration, tc int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.local()
	tc = max(0, min(10, tc))
	x := max(-0.5, min(0.5, offset.Seconds()))
	sec := now.Unix()
	secs := sec - k.refSec
	if !k.pllUsed {
		secs = 0
	}
	k.refSec, k.pllUsed, k.tc = sec, true, tc
	secs = min(secs, int64(1)<<(shiftPLL+1+tc))
	k.freq += x * float64(secs) / math.Exp2(float64(2*(shiftPLL+2+tc)))
	k.freq = max(-500e-6, min(500e-6, k.freq))
	k.pllOff = x
	return nil
}

// errors returns the true phase and frequency errors.
func (k *simKernel) errors() (time.Duration, float64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.advance()
	return time.Duration(k.phase * 1e9), (k.osc + k.freq) * 1e6
}

type pipe struct {
	e     *ntpsync.Engine
	clk   *simKernel
	rng   *rand.Rand
	jit   time.Duration
	delay time.Duration
}

// Send answers every request from a perfect server after a one-way delay
// with exponential jitter.
func (p *pipe) Send(to netip.AddrPort, b []byte) error {
	q, err := ntp.ParseHeader(b)
	if err != nil {
		return nil
	}
	d1 := p.delay + time.Duration(p.rng.ExpFloat64()*float64(p.jit))
	d2 := p.delay + time.Duration(p.rng.ExpFloat64()*float64(p.jit))
	go func() {
		time.Sleep(d1)
		now := ntp.TimestampFromTime(time.Now())
		h := ntp.Header{Version: 4, Mode: ntp.ModeServer, Stratum: 1, RefID: ntp.RefIDFromString("GPS"),
			RefTime: now, OrigTime: q.XmitTime, RecvTime: now, XmitTime: now, Precision: -20}
		time.Sleep(d2)
		p.e.Input(h.Marshal(), to, p.clk.Now())
	}()
	return nil
}

// The VM's kernel scenario in simulation: the clock 0.3 s off, +50 ppm
// frequency error, one server at minpoll 4 over a network with 2 ms delay
// and exponential jitter each way (0.2 ms, and the 1 ms of the VM's slirp
// network under load). With the kernel PLL the clock is stepped at start,
// then must reach |offset| < 1 ms and |frequency error| < 10 ppm within 2
// minutes and stay there (the VM's pass limits), and the kernel frequency
// must then stay within a fraction of a ppm (0.2 ms) or a few ppm (1 ms)
// RMS of the oscillator's.
//
// The discipline measures the frequency itself first (its regression,
// writing the kernel's frequency register) and hands the offsets to the
// kernel PLL once it is known (here after 2 minutes), with ntpd's time
// constant (the poll exponent with STA_NANO), passing on only a sample that
// is the best of the last eight. Over seeds 1-8 (go test -v prints this
// seed's run): RMS frequency error from 120 s to 30 min 0.09-0.23 ppm at
// 0.2 ms (worst 0.76 ppm), 0.42-0.80 ppm at 1 ms (worst 3.2 ppm, before the
// hand-over; |offset| at most 0.6 ms). Before, the discipline handed every
// sample to the kernel at time constant poll-4 from the start: it converged
// in about a minute, but the frequency followed each sample's noise: RMS
// 4.1-6.1 ppm at 0.2 ms (worst 13-26 ppm), 20-30 ppm at 1 ms (worst
// 66-128 ppm, |offset| up to 5.9 ms) in the same runs.
func TestKernelPLLSimulated(t *testing.T) {
	for _, tc := range []struct {
		jit      time.Duration
		maxRMS   float64 // ppm, frequency error from 120 s on
		maxWorst float64
	}{
		{200 * time.Microsecond, 0.5, 1.5},
		{time.Millisecond, 2, 5},
	} {
		t.Run(tc.jit.String(), func(t *testing.T) {
			r := simulateKernelPLL(t, tc.jit, 1)
			t.Logf("jitter %v: converged at %v; from 120 s to %v: worst |offset| %v, worst |frequency error| %.2f ppm, RMS %.2f ppm; %d steps; %s",
				tc.jit, r.converged, kernelSimSpan, r.worstOff.Round(time.Microsecond), r.worstF, r.rmsF, r.steps, r.handover)
			if r.worstOff > time.Millisecond || r.worstF > 10 {
				t.Errorf("want |offset| < 1 ms and |frequency error| < 10 ppm from 120 s on")
			}
			if r.rmsF > tc.maxRMS || r.worstF > tc.maxWorst {
				t.Errorf("frequency error from 120 s on: RMS %.2f ppm, worst %.2f ppm; want < %.1f and < %.1f", r.rmsF, r.worstF, tc.maxRMS, tc.maxWorst)
			}
			if r.steps != 1 {
				t.Errorf("%d steps, want 1 (the start-up step of the 0.3 s offset)", r.steps)
			}
			if !r.kernel {
				t.Errorf("the kernel PLL never took over")
			}
		})
	}
}

const kernelSimSpan = 1800 * time.Second

type kernelSimResult struct {
	converged    time.Duration // since start, for good: |offset| < 1 ms, |frequency error| < 10 ppm
	worstOff     time.Duration // from 120 s on
	worstF, rmsF float64       // ppm, from 120 s on
	steps        int
	kernel       bool // the kernel PLL took over
	handover     string
}

// simulateKernelPLL runs the kernel scenario for kernelSimSpan with
// exponential jitter jit each way and the given seed.
func simulateKernelPLL(t *testing.T, jit time.Duration, seed uint64) kernelSimResult {
	var r kernelSimResult
	synctest.Test(t, func(t *testing.T) {
		k := newSimKernel(300*time.Millisecond, 50)
		start := time.Now()
		var logs bytes.Buffer
		d, err := discipline.New(discipline.Options{Adjuster: k, Kernel: true,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			for _, l := range strings.Split(logs.String(), "\n") {
				if _, after, ok := strings.Cut(l, "msg=\"frequency measured: offsets go to the kernel PLL\" "); ok {
					at, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
					if tm, err := time.Parse(time.RFC3339Nano, at); err == nil {
						at = tm.Sub(start).Round(time.Second).String()
					}
					r.handover = "kernel PLL from " + at + ": " + after
				}
			}
		}()
		p := &pipe{clk: k, rng: rand.New(rand.NewPCG(seed, 2)), delay: 2 * time.Millisecond, jit: jit}
		e, err := ntpsync.NewEngine(ntpsync.Options{Clock: k, Discipline: d, Transport: p,
			Servers: []ntpsync.ServerConfig{{Address: "198.18.0.1", Iburst: true, MinPoll: 4, MaxPoll: 4}}})
		if err != nil {
			t.Fatal(err)
		}
		p.e = e
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go e.Run(ctx)
		var sumF2 float64
		n := 0
		const step = 4 * time.Second
		for s := step; s <= kernelSimSpan; s += step {
			time.Sleep(step)
			off, f := k.errors()
			if testing.Verbose() && (s%(256*time.Second) == 0 || s <= 128*time.Second && s%(16*time.Second) == 0) {
				t.Logf("t=%4.0fs offset %10v frequency error %+7.2f ppm kernel PLL %v", s.Seconds(), off.Round(time.Microsecond), f, d.KernelPLLOn())
			}
			if off.Abs() >= time.Millisecond || math.Abs(f) >= 10 {
				r.converged = s + step
			}
			if s >= 120*time.Second {
				r.worstOff = max(r.worstOff, off.Abs())
				r.worstF = max(r.worstF, math.Abs(f))
				sumF2 += f * f
				n++
			}
		}
		r.rmsF = math.Sqrt(sumF2 / float64(n))
		r.steps = k.steps
		r.kernel = d.KernelPLLOn()
		if st := d.State(); !st.Synchronized || math.Abs(st.FrequencyPPM-must(k.Frequency())) > 1e-6 {
			t.Errorf("discipline state %+v: want synchronised, with the kernel's frequency", st)
		}
	})
	return r
}

func must(f float64, err error) float64 {
	if err != nil {
		panic(err)
	}
	return f
}
