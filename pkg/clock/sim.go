package clock

import (
	"math"
	"math/rand/v2"
	stdsync "sync"
	"time"
)

// Sim is a simulated oscillator for tests. It follows a reference clock
// (the "true" time, e.g. time.Now inside a testing/synctest bubble) with a
// phase offset, a frequency error, a random-walk wander of that frequency,
// and the corrections applied through the Adjuster methods, which behave like
// the kernel's: steps are immediate, slews drain at 500 ppm, frequency
// corrections add to the oscillator's own error.
type Sim struct {
	mu       stdsync.Mutex
	ref      Clock
	last     time.Time // reference time of the last advance
	phase    float64   // seconds: simulated minus true time
	freqErr  float64   // oscillator error, s/s
	freqCorr float64   // applied correction, s/s
	slew     float64   // seconds still to amortise
	wander   float64   // random-walk step, s/s per sqrt(s)
	rng      *rand.Rand
	status   Status
	steps    int
}

// SimOptions configures a Sim.
type SimOptions struct {
	Offset       time.Duration // initial phase error (simulated - true)
	FrequencyPPM float64       // initial frequency error
	Wander       float64       // frequency random walk, (s/s)/sqrt(s), e.g. 1e-9
	Seed         uint64
}

// NewSim returns a simulated clock that follows ref.
func NewSim(ref Clock, o SimOptions) *Sim {
	return &Sim{
		ref:     ref,
		last:    ref.Now(),
		phase:   o.Offset.Seconds(),
		freqErr: o.FrequencyPPM * 1e-6,
		wander:  o.Wander,
		rng:     rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
	}
}

// advance brings the simulated phase up to the reference's now.
func (s *Sim) advance() time.Time {
	now := s.ref.Now()
	dt := now.Sub(s.last).Seconds()
	if dt <= 0 {
		return now
	}
	s.last = now
	s.phase += (s.freqErr + s.freqCorr) * dt
	if s.slew != 0 {
		step := math.Min(math.Abs(s.slew), MaxSlewRate*dt)
		step = math.Copysign(step, s.slew)
		s.phase += step
		s.slew -= step
	}
	if s.wander > 0 {
		s.freqErr += s.rng.NormFloat64() * s.wander * math.Sqrt(dt)
	}
	return now
}

// Now returns the simulated time.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.advance()
	return now.Add(time.Duration(s.phase * 1e9))
}

// Step jumps the simulated clock.
func (s *Sim) Step(offset time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	s.phase += offset.Seconds()
	s.slew = 0
	s.steps++
	s.status.Synchronized = false
	return nil
}

// Slew starts an amortised correction, replacing any still pending.
func (s *Sim) Slew(offset time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	s.slew = offset.Seconds()
	return nil
}

// SetFrequency sets the frequency correction, clamped like the kernel's.
func (s *Sim) SetFrequency(ppm float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	s.freqCorr = math.Max(-MaxFrequency, math.Min(MaxFrequency, ppm)) * 1e-6
	return nil
}

// Frequency returns the applied frequency correction in ppm.
func (s *Sim) Frequency() (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.freqCorr * 1e6, nil
}

// SetStatus records the status for inspection.
func (s *Sim) SetStatus(st Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = st
	return nil
}

// Offset returns the true phase error (simulated minus true time), which a
// test compares against its pass limits.
func (s *Sim) Offset() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	return time.Duration(s.phase * 1e9)
}

// FrequencyError returns the residual frequency error in ppm: oscillator
// error plus correction.
func (s *Sim) FrequencyError() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	return (s.freqErr + s.freqCorr) * 1e6
}

// Status returns the last status set.
func (s *Sim) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Steps returns how many times the clock was stepped.
func (s *Sim) Steps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.steps
}

// Fixed is a clock that always returns the same instant; handy for golden
// tests of output that contains the time.
type Fixed time.Time

// Now returns the fixed instant.
func (f Fixed) Now() time.Time { return time.Time(f) }
