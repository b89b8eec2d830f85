// Package discipline steers the local clock from offset measurements.
//
// The daemon's own loop is not RFC 5905's PLL/FLL but a regression loop in
// the style of chrony. Every correction the loop applies (steps, adjtime
// slews at the kernel's 500 ppm, frequency changes) is book-kept in true
// time, so each measured offset can be turned into the phase of the
// free-running oscillator ("raw" phase). A weighted least-squares line
// through recent raw phases gives the oscillator's frequency error (the
// slope) and its phase now (the intercept), both averaged over many samples;
// the loop sets the frequency to cancel the slope and slews away the
// remaining phase error. Samples are weighted by their expected error (the
// engine derives it from the delay above the minimum). The window adapts: a
// runs test on the residuals (over samples at least half a poll apart)
// drops the oldest quarter while they stop looking random (wander, a
// frequency change), and samples older than 64 poll intervals go.
//
// The slope is combined with a prior frequency, each weighted by its
// inverse variance (a Kalman update), while the regression alone is the
// less certain of the two: an unmeasured oscillator is taken as off by
// ~100 ppm (so that two noisy first samples cannot set thousands of ppm),
// a drift-file value as good to 5 ppm, and after a step (which clears the
// points) the frequency measured before it, with its variance but taken as
// good to 1 ppm at best. A frequency needs two points at least 1 s apart.
//
// Start-up: before the loop has corrected anything, StartUp steps an offset
// above 1 ms at once (like ntpdate before ntpd, or chrony's makestep), so
// the clock is right within the first reply instead of after minutes of
// slewing. That step is book-kept like any other correction: the first
// sample stays a regression point, so the second reply (2 s later in an
// iburst) already gives the frequency. Until the frequency is known
// ("settled": 6 samples over 60 s, or a drift file) the engine polls iburst
// sources every 8 s after the iburst's six packets 2 s apart.
// docs/discipline.md has the whole story with numbers.
//
// Large phase errors (above 10 ms) are removed faster than adjtime alone
// can: the slew is shared between adjtime (500 ppm) and a temporary
// frequency offset using whatever remains of the kernel's ±500 ppm range,
// ending at a computed instant (see Tick) while adjtime still has 5 ms to
// go, so that the frequency is back at its base before the offset is small.
// A 100 ms error at +100 ppm thus takes about 115 s instead of 200 s.
//
// Policy constants follow ntpd: offsets above the step threshold (128 ms)
// are stepped, but only after they persisted for the stepout interval
// (900 s), shortened to max(4 updates, 60 s) when the offsets agree with
// each other within 10 % (a real step of the reference, not a spike).
// Offsets above the panic threshold (1000 s) are refused with a *PanicError
// unless PanicOnce (-g) allows the first correction. SlewOnly (-x) never
// steps. SetOnce is ntpd -q.
//
// The suggested poll interval adapts like ntpd's (a counter against a
// limit), with gates relative to the measurement noise: it grows while the
// offsets found at updates stay within the noise and shrinks when they
// exceed twice the noise.
//
// With Kernel set (ntpd's "enable kernel") the loop measures the frequency
// first, as above, and then hands the offsets to the kernel PLL
// (clock.Linux.KernelPLL) with ntpd's time constant: see kernel.go.
package discipline

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Defaults (ntpd's tinker values).
const (
	DefaultStepThreshold  = 128 * time.Millisecond
	DefaultStepOut        = 900 * time.Second
	DefaultPanicThreshold = 1000 * time.Second
	// ShortStepOut is the shortened stepout for a consistent offset (see
	// package doc).
	ShortStepOut = 60 * time.Second
	// fastThreshold is the phase error above which the frequency helps the
	// adjtime slew.
	fastThreshold = 10e-3
	maxPoints     = 64
	// the frequency counts as settled after settleN samples over settleSpan
	settleN    = 6
	settleSpan = 60.0 // s
	// poll adaptation gates, in units of the measurement noise
	pgateUp   = 1.0
	pgateDown = 2.0
	// windowPolls caps the regression window in poll intervals
	windowPolls = 64.0
	tailSlew    = 5e-3 // seconds left to adjtime after a fast slew
	// poll adaptation (ntpd's PGATE and LIMIT)
	limit = 30
	// minFreqSpan is the shortest span of regression points that gives a
	// frequency estimate (two replies of an iburst are 2 s apart; replies
	// of several servers to the same poll are not independent).
	minFreqSpan = 1.0 // s
	// driftVar is the variance of a drift-file frequency: (5 ppm)^2, since
	// the kernel's oscillator calibration at boot and the temperature may
	// differ from when it was written (a tighter prior holds a file that is
	// 10 ppm off long enough for the offset to reach 1 ms).
	driftVar = 25e-12
	// oscVar is the variance of an oscillator's frequency error before
	// any measurement (an uncalibrated PC clock is typically off by up to
	// 100 ppm): the prior that keeps two noisy first samples from setting
	// an absurd frequency.
	oscVar = 1e-8
	// stepPriorVar is the smallest variance of the frequency carried over
	// a step (the oscillator itself may have jumped, e.g. a VM migration).
	stepPriorVar = 1e-12
)

// KernelPLL is implemented by clocks with a kernel phase-locked loop
// (clock.Linux).
type KernelPLL interface {
	KernelPLL(offset time.Duration, timeConstant int) error
}

// Options configures a Discipline. The zero values mean ntpd's defaults.
type Options struct {
	Adjuster clock.Adjuster // required
	// Kernel hands offsets to the kernel PLL; Adjuster must implement
	// KernelPLL.
	Kernel         bool
	StepThreshold  time.Duration // 0: 128 ms
	StepOut        time.Duration // 0: 900 s
	PanicThreshold time.Duration // 0: 1000 s; negative: no panic check
	PanicOnce      bool          // -g: allow one correction above the panic threshold
	SlewOnly       bool          // -x: never step
	// StartStep is the start-up step threshold (see StartUp); 0: 1 ms,
	// negative: no start-up step.
	StartStep time.Duration
	// InitialFrequency is the drift-file value in ppm; nil leaves the
	// adjuster's current frequency in place.
	InitialFrequency *float64
	MinPoll, MaxPoll int8 // time constant bounds (log2 s); 0: 6 and 10
	Logger           *slog.Logger
}

// Action is what an update did to the clock.
type Action int

const (
	Ignored Action = iota // stale sample (taken before a step)
	Slewed                // phase slewed, frequency adjusted
	Stepped               // clock stepped
	Spike                 // above the step threshold but inside stepout: held
	Kernel                // handed to the kernel PLL
)

func (a Action) String() string {
	return [...]string{"ignored", "slewed", "stepped", "spike", "kernel"}[a]
}

// PanicError is returned for an offset above the panic threshold. The daemon
// exits with its message, like ntpd.
type PanicError struct {
	Offset    time.Duration
	Threshold time.Duration
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("time correction of %.0f s exceeds sanity limit (%.0f s); set clock manually to the correct UTC time or run with -g",
		math.Abs(e.Offset.Seconds()), e.Threshold.Seconds())
}

// ErrPanic matches any *PanicError with errors.Is.
var ErrPanic = errors.New("discipline: panic threshold exceeded")

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Mark is the bookkeeping state at the instant a sample was taken; take it
// with Discipline.Mark when the reply arrives and pass it back with the
// sample.
type Mark struct {
	epoch int
	p     float64 // total correction applied so far (s)
	ok    bool
}

// Sample is one offset measurement (remote minus local, as NTP's theta).
type Sample struct {
	Time   time.Time     // local clock time of the measurement
	Offset time.Duration // theta
	Mark   Mark
	Jitter time.Duration // optional: the source's jitter
	// Error is the estimated standard error of Offset (e.g. from the
	// sample's delay above the minimum); it weights the regression. Zero
	// means 100 us.
	Error time.Duration
}

// Result describes what an update did.
type Result struct {
	Action Action
	Offset time.Duration // the (projected) offset acted on
}

// State is the loop's view for system variables.
type State struct {
	Offset       time.Duration // last offset acted on
	FrequencyPPM float64       // frequency correction excluding a temporary fast slew
	Jitter       time.Duration // clk_jitter: RMS of the regression residuals
	WanderPPM    float64       // clk_wander: RMS of frequency changes
	Poll         int8          // time constant (log2 s) suggested for polling
	Updates      int
	Synchronized bool // corrected at least once since start or the last step
}

type point struct {
	t   time.Time
	rho float64 // raw phase: theta + correction applied at t (s)
	w   float64 // weight: 1/error^2
}

// Discipline is the clock discipline. It is not safe for concurrent use; the
// engine's poll loop owns it.
type Discipline struct {
	o   Options
	adj clock.Adjuster
	log *slog.Logger

	epoch int
	// correction bookkeeping
	pAcc      float64
	tRef      time.Time
	freq      float64 // applied frequency correction, s/s
	slewAmt   float64
	base      float64   // frequency correction cancelling the oscillator error, s/s
	assistEnd time.Time // end of a fast slew's frequency assist; zero: none
	// kpll: kernel mode, frequency measured: offsets go to the kernel PLL
	// (see kernel.go)
	kpll       bool
	acqStart   time.Time       // start of the frequency measurement (kernel mode)
	kerrs      []time.Duration // the last samples' errors (kernel mode)
	klast      time.Time       // when the kernel got its last offset
	freqKnown  bool
	settled    bool
	points     []point
	everSet    bool
	spikeStart time.Time
	spikeN     int
	spikeOff   float64
	state      State
	wanderVar  float64
	count      int
	// fvar is the variance of base ((s/s)^2; +Inf: not measured). prior
	// and priorVar are a frequency known independently of the current
	// regression points (the drift file, or the estimate before a step
	// cleared them); priorVar +Inf: none.
	fvar, prior, priorVar float64
}

// New builds a discipline and applies the initial frequency.
func New(o Options) (*Discipline, error) {
	if o.Adjuster == nil {
		return nil, errors.New("discipline: no adjuster")
	}
	if o.StepThreshold == 0 {
		o.StepThreshold = DefaultStepThreshold
	}
	if o.StepOut == 0 {
		o.StepOut = DefaultStepOut
	}
	if o.PanicThreshold == 0 {
		o.PanicThreshold = DefaultPanicThreshold
	}
	if o.StartStep == 0 {
		o.StartStep = time.Millisecond
	}
	if o.MinPoll == 0 {
		o.MinPoll = 6
	}
	if o.MaxPoll == 0 {
		o.MaxPoll = 10
	}
	if o.MaxPoll < o.MinPoll {
		o.MaxPoll = o.MinPoll
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Kernel {
		if _, ok := o.Adjuster.(KernelPLL); !ok {
			return nil, errors.New("discipline: kernel discipline requested but the clock has no kernel PLL")
		}
	}
	d := &Discipline{o: o, adj: o.Adjuster, log: o.Logger, fvar: math.Inf(1), priorVar: math.Inf(1)}
	now := d.adj.Now()
	d.tRef = now
	if o.InitialFrequency != nil {
		f := clampPPM(*o.InitialFrequency)
		if err := d.adj.SetFrequency(f); err != nil {
			return nil, fmt.Errorf("discipline: restore frequency: %w", err)
		}
		d.freq, d.base, d.freqKnown, d.settled = f*1e-6, f*1e-6, true, true
		d.prior, d.priorVar, d.fvar = d.base, driftVar, driftVar
	} else {
		if f, err := d.adj.Frequency(); err == nil {
			d.freq, d.base = f*1e-6, f*1e-6
		}
		d.prior, d.priorVar = d.base, oscVar
	}
	d.acqStart = now
	d.state.Poll = o.MinPoll
	d.state.FrequencyPPM = d.base * 1e6
	return d, nil
}

func clampPPM(f float64) float64 {
	return math.Max(-clock.MaxFrequency, math.Min(clock.MaxFrequency, f))
}

// trueSince converts the time elapsed on the disciplined clock since the
// last correction event to true time: while a fast slew runs, the clock's
// rate is off by up to 1000 ppm (the frequency assist plus adjtime), which
// over a minute would misplace the bookkeeping by tens of microseconds. The
// oscillator's own error is taken as -base.
func (d *Discipline) trueSince(t time.Time) float64 {
	dt := t.Sub(d.tRef).Seconds()
	if dt <= 0 {
		return 0
	}
	r := d.freq - d.base
	if d.slewAmt == 0 {
		return dt / (1 + r)
	}
	sr := math.Copysign(clock.MaxSlewRate, d.slewAmt)
	ds := math.Abs(d.slewAmt) / clock.MaxSlewRate // true duration of the slew
	ls := ds * (1 + r + sr)                       // its duration on our clock
	if dt <= ls {
		return dt / (1 + r + sr)
	}
	return ds + (dt-ls)/(1+r)
}

// correction returns the total correction applied up to t in this epoch.
func (d *Discipline) correction(t time.Time) float64 {
	T := d.trueSince(t)
	return d.pAcc + d.freq*T + math.Copysign(math.Min(math.Abs(d.slewAmt), clock.MaxSlewRate*T), d.slewAmt)
}

// fold accounts everything applied up to now and starts a new segment.
func (d *Discipline) fold(now time.Time) {
	T := d.trueSince(now)
	dr := math.Copysign(math.Min(math.Abs(d.slewAmt), clock.MaxSlewRate*T), d.slewAmt)
	d.pAcc += d.freq*T + dr
	d.slewAmt -= dr
	d.tRef = now
}

func (d *Discipline) setFreq(now time.Time, f float64) error {
	f = clampPPM(f*1e6) * 1e-6
	if err := d.adj.SetFrequency(f * 1e6); err != nil {
		return err
	}
	d.fold(now)
	d.freq = f
	return nil
}

func (d *Discipline) slew(now time.Time, x float64) error {
	if err := d.adj.Slew(ntp.DurationFromSeconds(x)); err != nil {
		return err
	}
	d.fold(now)
	d.slewAmt = x
	return nil
}

// Mark returns the bookkeeping state now, to be stored with a sample.
func (d *Discipline) Mark() Mark {
	return Mark{epoch: d.epoch, p: d.correction(d.adj.Now()), ok: true}
}

// MarkAt is Mark for a recent past instant t (the midpoint of a symmetric
// exchange, which can be a poll interval before the reply arrived): the
// correction applied since is taken as the current frequency times the
// elapsed time.
func (d *Discipline) MarkAt(t time.Time) Mark {
	now := d.adj.Now()
	if !now.After(t) || !t.After(d.tRef) {
		// before the last correction event: extrapolate with the frequency
		m := d.Mark()
		if now.After(t) {
			m.p -= d.freq * now.Sub(t).Seconds()
		}
		return m
	}
	return Mark{epoch: d.epoch, p: d.correction(t), ok: true}
}

// Valid reports whether a mark was taken in the current epoch (no step
// since).
func (d *Discipline) Valid(m Mark) bool { return m.ok && m.epoch == d.epoch }

// Project converts an offset measured at s.Time (with mark s.Mark) to the
// offset expected at now, accounting for the corrections applied since and
// the estimated oscillator frequency. Samples from before a step project to
// themselves.
func (d *Discipline) Project(s Sample, now time.Time) time.Duration {
	if !d.Valid(s.Mark) || d.kpll {
		// (the kernel PLL's own corrections are not book-kept: a sample,
		// at most a few seconds old, is taken as it is)
		return s.Offset
	}
	// theta(now) = rho(now) - P(now), rho(now) = rho(t) + base*(now-t)
	rho := s.Offset.Seconds() + s.Mark.p
	th := rho + d.base*now.Sub(s.Time).Seconds() - d.correction(now)
	return ntp.DurationFromSeconds(th)
}

// SetPollRange sets the bounds of the suggested time constant.
func (d *Discipline) SetPollRange(minPoll, maxPoll int8) {
	if maxPoll < minPoll {
		maxPoll = minPoll
	}
	d.o.MinPoll, d.o.MaxPoll = minPoll, maxPoll
	d.state.Poll = max(minPoll, min(maxPoll, d.state.Poll))
}

// Update disciplines the clock with one (combined) measurement.
func (d *Discipline) Update(s Sample) (Result, error) {
	now := d.adj.Now()
	if s.Mark.ok && !d.Valid(s.Mark) {
		return Result{Action: Ignored}, nil
	}
	if !s.Mark.ok {
		s.Mark = d.Mark()
		s.Time = now
	}
	theta := d.Project(s, now)
	th := theta.Seconds()
	abs := math.Abs(th)

	if d.o.PanicThreshold > 0 && abs > d.o.PanicThreshold.Seconds() {
		if !(d.o.PanicOnce && !d.everSet) {
			return Result{}, &PanicError{Offset: theta, Threshold: d.o.PanicThreshold}
		}
	}
	if abs > d.o.StepThreshold.Seconds() && !d.o.SlewOnly {
		if d.everSet {
			if d.spikeN == 0 || math.Abs(th-d.spikeOff) > math.Max(0.1*abs, d.o.StepThreshold.Seconds()/2) {
				// a new (or different) excursion: start counting
				if d.spikeN == 0 {
					d.spikeStart = now
				} else if now.Sub(d.spikeStart) >= d.o.StepOut {
					return d.step(now, theta, false) // ntpd's stepout
				}
				d.spikeN, d.spikeOff = 1, th
				d.log.Info("offset spike held", "offset", theta)
				return Result{Action: Spike, Offset: theta}, nil
			}
			d.spikeN++
			dur := now.Sub(d.spikeStart)
			if dur < d.o.StepOut && (d.spikeN < 4 || dur < ShortStepOut) {
				return Result{Action: Spike, Offset: theta}, nil
			}
		}
		return d.step(now, theta, false)
	}
	d.spikeN = 0

	if d.kpll {
		return d.kernelUpdate(now, th, s.Error)
	}

	errS := d.addPoint(now, th, s.Error)
	// Wander makes old samples misleading: keep at most windowPolls poll
	// intervals (and never fewer than 3 points).
	maxAge := time.Duration(windowPolls*math.Exp2(float64(d.state.Poll))) * time.Second
	for len(d.points) > 3 && now.Sub(d.points[0].t) > maxAge {
		d.points = d.points[1:]
	}
	fit := d.regress(now)
	e := th
	if fit.n >= settleN && fit.span >= settleSpan {
		d.settled = true
	}
	if fit.n >= 2 && fit.span >= minFreqSpan {
		f, v := d.estimate(fit)
		d.noteFreq(f, v)
		// the phase now on the line of that slope through the points
		e = fit.my - f*fit.mx - d.correction(now)
	}
	if d.o.Kernel && d.handOver(fit, e) {
		return d.startKernelPLL(now, th, e, s.Error)
	}
	if err := d.applyPhase(now, e); err != nil {
		return Result{}, err
	}
	d.finishUpdate(th, math.Hypot(fit.sigma, errS))
	return Result{Action: Slewed, Offset: theta}, nil
}

// addPoint adds a regression point: offset th (s) measured now with
// standard error errD (0: 100 us). It returns the error used.
func (d *Discipline) addPoint(now time.Time, th float64, errD time.Duration) float64 {
	errS := errD.Seconds()
	if errS <= 0 {
		errS = 100e-6
	}
	errS = math.Max(errS, 1e-7)
	d.points = append(d.points, point{t: now, rho: th + d.correction(now), w: 1 / (errS * errS)})
	if len(d.points) > maxPoints {
		d.points = d.points[len(d.points)-maxPoints:]
	}
	return errS
}

// estimate combines the regression's slope with the prior frequency, each
// weighted by the inverse of its variance (a Kalman update without process
// noise). Once the regression alone is the better estimate, the prior has
// served and is dropped: the points now carry that information, and a
// prior kept longer would hold back a real frequency change.
func (d *Discipline) estimate(f fit) (float64, float64) {
	if math.IsInf(d.priorVar, 1) {
		return f.slope, f.slopeVar
	}
	if f.slopeVar <= d.priorVar {
		d.priorVar = math.Inf(1)
		return f.slope, f.slopeVar
	}
	w1, w2 := 1/d.priorVar, 1/f.slopeVar
	return (d.prior*w1 + f.slope*w2) / (w1 + w2), 1 / (w1 + w2)
}

func (d *Discipline) noteFreq(f, v float64) {
	f = clampPPM(f*1e6) * 1e-6
	d.fvar = v
	if d.state.Updates > 0 {
		df := (f - d.base) * 1e6
		d.wanderVar += (df*df - d.wanderVar) / 4
	}
	d.base, d.freqKnown = f, true
}

func (d *Discipline) finishUpdate(th, sigma float64) {
	d.everSet = true
	d.state.Offset = ntp.DurationFromSeconds(th)
	d.state.FrequencyPPM = d.base * 1e6
	if sigma > 0 {
		d.state.Jitter = ntp.DurationFromSeconds(sigma)
	} else {
		j := d.state.Jitter.Seconds()
		d.state.Jitter = ntp.DurationFromSeconds(math.Sqrt(j*j + (th*th-j*j)/4))
	}
	d.state.WanderPPM = math.Sqrt(d.wanderVar)
	d.state.Updates++
	d.state.Synchronized = true
	if !d.settled || sigma <= 0 {
		return // the poll stays at its minimum while the frequency settles
	}
	// Poll adaptation in ntpd's style (a counter that must reach a limit),
	// but with a tighter gate: the offset at an update is the prediction
	// error of the loop, which grows with the poll interval (residual
	// frequency error, wander). While it stays within the measurement noise
	// the poll may grow; when it clearly exceeds it the poll shrinks.
	jit := math.Max(sigma, 1e-6)
	switch a := math.Abs(th); {
	case a < pgateUp*jit:
		d.count += int(d.state.Poll)
		if d.count > limit {
			d.count = 0
			if d.state.Poll < d.o.MaxPoll {
				d.state.Poll++
			}
		}
	case a > pgateDown*jit:
		d.count -= 2 * int(d.state.Poll)
		if d.count < -limit {
			d.count = 0
			if d.state.Poll > d.o.MinPoll {
				d.state.Poll--
			}
		}
	}
}

// applyPhase removes phase error e (seconds; positive: clock behind) and
// sets the frequency to the base.
func (d *Discipline) applyPhase(now time.Time, e float64) error {
	d.assistEnd = time.Time{}
	if math.Abs(e) <= fastThreshold {
		if err := d.setFreq(now, d.base); err != nil {
			return err
		}
		return d.slew(now, e)
	}
	m := clock.MaxFrequency*1e-6 - math.Abs(d.base) - 1e-6
	if m <= 0 {
		if err := d.setFreq(now, d.base); err != nil {
			return err
		}
		return d.slew(now, e)
	}
	// The assist ends while adjtime still has tailSlew to remove, so that
	// the offset is small only once the frequency is back at its base.
	rate := clock.MaxSlewRate + m
	dur := (math.Abs(e) - tailSlew) / rate
	if dur <= 0 {
		if err := d.setFreq(now, d.base); err != nil {
			return err
		}
		return d.slew(now, e)
	}
	if err := d.setFreq(now, d.base+math.Copysign(m, e)); err != nil {
		return err
	}
	if err := d.slew(now, e-math.Copysign(m*dur, e)); err != nil {
		return err
	}
	d.assistEnd = now.Add(ntp.DurationFromSeconds(dur))
	return nil
}

// NextTick returns when Tick must be called next (zero: not needed).
func (d *Discipline) NextTick() time.Time { return d.assistEnd }

// Tick ends a fast slew's frequency assist when its time has come. The
// engine calls it at NextTick.
func (d *Discipline) Tick() error {
	if d.assistEnd.IsZero() {
		return nil
	}
	now := d.adj.Now()
	if now.Before(d.assistEnd) {
		return nil
	}
	// end exactly at assistEnd: account the overshoot of a late tick
	late := now.Sub(d.assistEnd).Seconds()
	extra := (d.freq - d.base) * late
	d.assistEnd = time.Time{}
	if err := d.setFreq(now, d.base); err != nil {
		return err
	}
	if math.Abs(extra) > 1e-9 {
		return d.slew(now, -extra+d.pendingSlew(now))
	}
	return nil
}

func (d *Discipline) pendingSlew(now time.Time) float64 {
	T := d.trueSince(now)
	return d.slewAmt - math.Copysign(math.Min(math.Abs(d.slewAmt), clock.MaxSlewRate*T), d.slewAmt)
}

// step steps the clock by theta. Unless keep, the regression points go (a
// step in normal operation means the reference, or our oscillator, jumped:
// the raw phases before it no longer line up with those after), and the
// frequency estimate becomes the prior of the next regression. With keep
// (the start-up step) the step is book-kept like any other correction, so
// the points and the raw phase continue across it.
func (d *Discipline) step(now time.Time, theta time.Duration, keep bool) (Result, error) {
	if keep {
		d.fold(now)
	}
	if err := d.adj.Step(theta); err != nil {
		return Result{}, err
	}
	d.log.Warn("clock stepped", "offset", theta)
	d.epoch++
	after := d.adj.Now()
	if keep {
		// the local time scale moved by theta: so do the points' times
		d.pAcc += theta.Seconds()
		for i := range d.points {
			d.points[i].t = d.points[i].t.Add(theta)
		}
	} else {
		d.points = d.points[:0]
		d.pAcc = 0
		if !math.IsInf(d.fvar, 1) {
			d.prior, d.priorVar = d.base, math.Max(d.fvar, stepPriorVar)
		}
	}
	d.slewAmt = 0
	d.tRef = after
	d.assistEnd = time.Time{}
	if err := d.setFreq(after, d.base); err != nil {
		return Result{}, err
	}
	d.everSet = true
	d.spikeN = 0
	d.state.Offset = theta
	d.state.Synchronized = false
	d.state.Poll = d.o.MinPoll
	d.count = 0
	if d.kpll {
		// the kernel's remaining phase error predates the step, and so do
		// the errors of the samples that filtered what reaches the kernel
		d.kerrs = d.kerrs[:0]
		if err := d.kernelPLL(0); err != nil {
			return Result{}, err
		}
	}
	return Result{Action: Stepped, Offset: theta}, nil
}

type fit struct {
	intercept, slope, sigma, span float64
	// slopeVar is the variance of slope: from the points' errors, or from
	// the residuals when they scatter more; mx and my are the weighted mean
	// time (relative to now) and raw phase.
	slopeVar, mx, my float64
	n                int
}

// regress fits a line through the raw phases, x relative to now, dropping
// the oldest points while the residuals fail a runs test.
func (d *Discipline) regress(now time.Time) fit {
	minGap := math.Exp2(float64(d.state.Poll)) / 2
	for {
		f := linfit(d.points, now)
		if len(d.points) <= 6 {
			return f
		}
		// Count sign runs of the residuals over points at least half a
		// poll interval apart, so that a dense burst of samples does not
		// look random by itself.
		runs, n := 1, 0
		prev := 0.0
		var last time.Time
		for i, p := range d.points {
			if i > 0 && p.t.Sub(last).Seconds() < minGap {
				continue
			}
			last = p.t
			r := p.rho - (f.intercept + f.slope*p.t.Sub(now).Seconds())
			if n > 0 && (r > 0) != (prev > 0) {
				runs++
			}
			prev = r
			n++
		}
		if n <= 6 {
			return f
		}
		exp := float64(n)/2 + 1
		sd := math.Sqrt(float64(n-1)) / 2
		if float64(runs) >= exp-2*sd {
			return f
		}
		d.points = d.points[len(d.points)/4:]
	}
}

func linfit(pts []point, now time.Time) fit {
	n := len(pts)
	if n == 0 {
		return fit{}
	}
	var sw, sx, sy float64
	for _, p := range pts {
		sw += p.w
		sx += p.w * p.t.Sub(now).Seconds()
		sy += p.w * p.rho
	}
	mx, my := sx/sw, sy/sw
	var sxx, sxy float64
	for _, p := range pts {
		dx := p.t.Sub(now).Seconds() - mx
		sxx += p.w * dx * dx
		sxy += p.w * dx * (p.rho - my)
	}
	f := fit{n: n, intercept: my, mx: mx, my: my, span: pts[n-1].t.Sub(pts[0].t).Seconds(), slopeVar: math.Inf(1)}
	if n >= 2 && sxx > 0 {
		f.slope = sxy / sxx
		f.intercept = my - f.slope*mx
		f.slopeVar = 1 / sxx
	}
	if n >= 3 {
		var ss float64
		for _, p := range pts {
			r := p.rho - (f.intercept + f.slope*p.t.Sub(now).Seconds())
			ss += p.w * r * r
		}
		f.sigma = math.Sqrt(ss / sw * float64(n) / float64(n-2))
		f.slopeVar *= math.Max(1, ss/float64(n-2))
	}
	return f
}

// State returns the loop's current values.
func (d *Discipline) State() State { return d.state }

// Frequency returns the frequency correction in ppm to persist in the drift
// file.
func (d *Discipline) Frequency() float64 { return d.base * 1e6 }

// FrequencyKnown reports whether the frequency came from a drift file or a
// measurement (ntpd writes the drift file only then).
func (d *Discipline) FrequencyKnown() bool { return d.freqKnown }

// Settled reports whether the frequency is known well (from the drift file,
// or a regression over at least 6 samples and 60 s). Until then the engine
// polls faster.
// In kernel mode the frequency is settled once the kernel PLL has it.
func (d *Discipline) Settled() bool {
	if d.o.Kernel {
		return d.kpll
	}
	return d.settled
}

// KernelPLLOn reports whether offsets go to the kernel PLL (kernel mode,
// after the frequency was measured).
func (d *Discipline) KernelPLLOn() bool { return d.kpll }

// SetStatus reports synchronisation, the leap warning and the error bounds
// to the clock (the kernel arms leap seconds from it).
func (d *Discipline) SetStatus(synced bool, leap ntp.Leap, maxErr, estErr time.Duration) error {
	if leap == ntp.LeapAlarm {
		leap = ntp.LeapNone
	}
	return d.adj.SetStatus(clock.Status{Synchronized: synced, Leap: leap, MaxError: maxErr, EstError: estErr})
}

// StartUp is the start-up correction: before the loop has corrected the
// clock at all, the engine hands it a first estimate (the offset the
// sources' first replies agree on) and an offset above StartStep is stepped
// away at once, like ntpdate before ntpd or chrony's makestep, instead of
// being slewed for minutes. It does nothing once the clock was corrected,
// under SlewOnly, or below the threshold. The panic threshold applies.
func (d *Discipline) StartUp(offset time.Duration) (Result, error) {
	return d.StartUpSample(Sample{Offset: offset})
}

// StartUpSample is StartUp with the measurement's error (Sample.Error; the
// offset is taken as measured now). When it steps, the measurement also
// becomes the first point of the frequency regression, which continues
// across the step: the step is an exactly known correction of our own
// clock, so the next reply, 2 s later in an iburst, already gives the
// frequency.
func (d *Discipline) StartUpSample(s Sample) (Result, error) {
	offset := s.Offset
	if d.everSet || d.o.SlewOnly || d.o.StartStep < 0 || offset.Abs() <= d.o.StartStep || d.o.Kernel && offset.Abs() <= d.o.StepThreshold {
		return Result{Action: Ignored}, nil
	}
	if d.o.PanicThreshold > 0 && offset.Abs() > d.o.PanicThreshold && !d.o.PanicOnce {
		return Result{}, &PanicError{Offset: offset, Threshold: d.o.PanicThreshold}
	}
	now := d.adj.Now()
	keep := !d.kpll
	if keep {
		d.addPoint(now, offset.Seconds(), s.Error)
	}
	return d.step(now, offset, keep)
}

// SetOnce corrects the clock once, like ntpd -q: a step above the step
// threshold (unless SlewOnly), a slew below. The panic threshold applies
// unless PanicOnce.
func (d *Discipline) SetOnce(offset time.Duration) (Result, error) {
	abs := offset.Abs()
	if d.o.PanicThreshold > 0 && abs > d.o.PanicThreshold && !d.o.PanicOnce {
		return Result{}, &PanicError{Offset: offset, Threshold: d.o.PanicThreshold}
	}
	if abs > d.o.StepThreshold && !d.o.SlewOnly {
		return d.step(d.adj.Now(), offset, false)
	}
	now := d.adj.Now()
	if err := d.slew(now, offset.Seconds()); err != nil {
		return Result{}, err
	}
	d.everSet = true
	return Result{Action: Slewed, Offset: offset}, nil
}
