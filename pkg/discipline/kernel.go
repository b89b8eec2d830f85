package discipline

import (
	"math"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Kernel mode ("enable kernel").
//
// The Linux kernel PLL (kernel/time/ntp.c) with STA_NANO takes the time
// constant tc as given (clamped to 0..10; without STA_NANO it adds 4). At
// each ADJ_OFFSET it replaces its phase error with the offset and removes
// offset >> (SHIFT_PLL + tc) of it every second (SHIFT_PLL = 2: a time
// constant of 2^(2+tc) s), and moves the frequency by offset * secs /
// 2^(2 (SHIFT_PLL + 2 + tc)), secs being the time since the previous
// ADJ_OFFSET (0 when STA_PLL was just switched on or with STA_FREQHOLD;
// clamped to 2^(SHIFT_PLL + 1 + tc)). ntpd with STA_NANO passes its poll
// exponent as tc, which makes the kernel loop a second-order loop with
// natural period about 16 × 2^tc × 2π s and damping 2 at any poll: its phase
// time constant is four poll intervals, and a frequency error decays with
// a time constant of about 60 poll intervals (an hour for a 50 ppm error at
// poll 16 s). So does ntpkit after the frequency is known: tc = poll.
//
// Until then the kernel PLL stays off (the engine switches a PLL left
// running off at start) and the loop runs as without Kernel: the
// regression measures the frequency from the second reply on, sets the
// kernel's frequency register directly and slews the phase with adjtime,
// as ntpd's FREQ state measures the frequency and writes it with
// MOD_FREQUENCY before it hands offsets to the kernel. The hand-over comes
// when the regression alone (not a drift file) has kernelHandN points over
// at least settleSpan and its frequency is good to kernelHandSigma, or
// after kernelHandMax in any case, and the remaining phase error is small
// (kernelHandPhase; after 4 kernelHandMax, below the fast-slew threshold).
// The pending adjtime slew is cancelled and the phase error the regression
// finds now goes to the kernel with STA_PLL: the first ADJ_OFFSET after
// STA_PLL is switched on moves only the phase (secs = 0).
const (
	kernelHandN     = settleN
	kernelHandSigma = 0.5e-6 // s/s
	kernelHandMax   = 120 * time.Second
	// kernelHandPhase is the largest remaining phase error handed over:
	// a larger one (a fast slew still under way) would, integrated by
	// the kernel, move the frequency the regression has just measured.
	kernelHandPhase = 2e-3 // s
)

// handOver reports whether the kernel PLL takes over now: the regression
// fit (phase e now) measured the frequency well enough.
func (d *Discipline) handOver(f fit, e float64) bool {
	if d.kpll || f.n < kernelHandN || f.span < settleSpan {
		return false
	}
	age := d.adj.Now().Sub(d.acqStart)
	lim := kernelHandPhase
	if age >= 4*kernelHandMax {
		lim = fastThreshold // a noisy network: the kernel PLL must come
	}
	if math.Abs(e) > lim {
		return false
	}
	return d.fvar <= kernelHandSigma*kernelHandSigma || age >= kernelHandMax
}

// startKernelPLL ends the own loop's corrections (the frequency back at the
// measured base, the pending adjtime slew cancelled) and hands the
// remaining phase error e to the kernel PLL.
func (d *Discipline) startKernelPLL(now time.Time, th, e float64, errD time.Duration) (Result, error) {
	d.assistEnd = time.Time{}
	if err := d.setFreq(now, d.base); err != nil {
		return Result{}, err
	}
	if d.pendingSlew(now) != 0 {
		if err := d.slew(now, 0); err != nil {
			return Result{}, err
		}
	}
	d.kpll = true
	d.kerrs = d.kerrs[:0]
	d.kernelFresh(now, errD)
	d.klast = now
	d.log.Info("frequency measured: offsets go to the kernel PLL",
		"frequency_ppm", d.base*1e6, "sigma_ppm", math.Sqrt(d.fvar)*1e6, "time_constant", d.state.Poll)
	if err := d.kernelPLL(e); err != nil {
		return Result{}, err
	}
	d.finishUpdate(th, math.Max(d.state.Jitter.Seconds(), 1e-6))
	return Result{Action: Kernel, Offset: ntp.DurationFromSeconds(th)}, nil
}

// kernelPLL hands offset x (s) to the kernel PLL with time constant poll
// and takes the kernel's resulting frequency as the loop's.
func (d *Discipline) kernelPLL(x float64) error {
	k := d.adj.(KernelPLL)
	if err := k.KernelPLL(ntp.DurationFromSeconds(x), int(d.state.Poll)); err != nil {
		return err
	}
	if f, err := d.adj.Frequency(); err == nil {
		d.noteFreq(f*1e-6, d.fvar)
		d.freq = d.base
	}
	return nil
}

// kernelUpdate is an update once the kernel PLL has the clock: the offset
// goes to the kernel; the loop keeps the jitter (RMS of the offsets, as
// ntpd's clock jitter) against which the poll interval adapts, and with it
// the kernel's time constant.
func (d *Discipline) kernelUpdate(now time.Time, th float64, errD time.Duration) (Result, error) {
	if !d.kernelFresh(now, errD) {
		return Result{Action: Kernel, Offset: ntp.DurationFromSeconds(th)}, nil
	}
	if err := d.kernelPLL(th); err != nil {
		return Result{}, err
	}
	j := d.state.Jitter.Seconds()
	j = math.Sqrt(j*j + (th*th-j*j)/4)
	d.finishUpdate(th, math.Max(j, 1e-6))
	return Result{Action: Kernel, Offset: ntp.DurationFromSeconds(th)}, nil
}

// kernelFilterN is the number of recent samples among which a sample must
// be the best to reach the kernel PLL, as ntpd's clock filter passes on
// only the lowest-delay of its eight samples, and only when it is new.
const kernelFilterN = 8

// kernelMaxGap bounds the time between two offsets handed to the kernel:
// beyond 2048 s (MAXSEC) the kernel adds its FLL term to the PLL's.
const kernelMaxGap = 2048 * time.Second

// kernelFresh records a sample's expected error and reports whether the
// sample is to reach the kernel: whether its error is the lowest of the
// last kernelFilterN (an unknown error counts as the lowest), or the
// previous offset the kernel got is so old that waiting for the next
// sample would bring the kernel's FLL in. (Beyond eight polls the kernel
// counts no more time since the previous offset, so a long run of worse
// samples costs gain; forcing one through then was measured to cost more,
// its noise included.)
func (d *Discipline) kernelFresh(now time.Time, errD time.Duration) bool {
	best := errD <= 0
	if !best {
		best = true
		for _, e := range d.kerrs {
			if e < errD {
				best = false
			}
		}
	}
	d.kerrs = append(d.kerrs, errD)
	if len(d.kerrs) > kernelFilterN-1 {
		d.kerrs = d.kerrs[len(d.kerrs)-(kernelFilterN-1):]
	}
	poll := time.Duration(math.Exp2(float64(d.state.Poll))) * time.Second
	since := now.Sub(d.klast)
	if best || since+poll > kernelMaxGap {
		d.klast = now
		return true
	}
	return false
}
