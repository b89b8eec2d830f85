package sync

import (
	"math"
	"sort"
	"time"

	"github.com/ntpkit/ntpkit/pkg/discipline"
)

// RFC 5905 constants used by the filter and selection.
const (
	FilterStages = 8
	// PHI is the frequency tolerance (15 ppm): dispersion grows at this rate.
	PHI = 15e-6
	// MaxDisp is the dispersion of an empty stage (16 s).
	MaxDisp = 16 * time.Second
	// MinDisp is the minimum dispersion increment (5 ms per RFC 5905; ntpd
	// uses 10 ms for the sample and 5 ms floor in selection).
	MinDisp = 5 * time.Millisecond
	// MaxDist is the selection threshold (tos maxdist, 1.5 s).
	MaxDist = 1500 * time.Millisecond
)

// FilterSample is one measurement fed to a peer's clock filter.
type FilterSample struct {
	Offset     time.Duration
	Delay      time.Duration
	Dispersion time.Duration // at the time of the measurement
	Time       time.Time     // local clock time of T4
	Mark       discipline.Mark
}

// Filter is the RFC 5905 clock filter: the last eight samples; the one with
// the lowest delay gives the peer's offset and delay, the others its jitter
// and dispersion.
type Filter struct {
	stages   [FilterStages]FilterSample // stages[0] is the most recent
	valid    [FilterStages]bool
	lastUsed time.Time

	// outputs
	Offset     time.Duration
	Delay      time.Duration
	Dispersion time.Duration
	Jitter     time.Duration
	Time       time.Time // time of the selected sample
	Mark       discipline.Mark
	HasOutput  bool
}

// Reset empties the filter (after a step, or when the association restarts).
func (f *Filter) Reset() {
	*f = Filter{}
}

// Add shifts a sample in and recomputes the outputs. It reports whether the
// selected sample is newer than the last one used (RFC 5905: only then is the
// clock updated).
func (f *Filter) Add(s FilterSample, now time.Time) bool {
	copy(f.stages[1:], f.stages[:FilterStages-1])
	copy(f.valid[1:], f.valid[:FilterStages-1])
	f.stages[0], f.valid[0] = s, true
	return f.compute(now)
}

// AddInvalid shifts in an empty stage (a poll that got no answer while the
// peer was otherwise unreachable), as ntpd does from its poll routine.
func (f *Filter) AddInvalid(now time.Time) {
	copy(f.stages[1:], f.stages[:FilterStages-1])
	copy(f.valid[1:], f.valid[:FilterStages-1])
	f.stages[0], f.valid[0] = FilterSample{Dispersion: MaxDisp, Delay: 0}, false
	f.compute(now)
}

func (f *Filter) stageDisp(i int, now time.Time) time.Duration {
	if !f.valid[i] {
		return MaxDisp
	}
	d := f.stages[i].Dispersion + time.Duration(PHI*float64(now.Sub(f.stages[i].Time)))
	return min(d, MaxDisp)
}

func (f *Filter) compute(now time.Time) bool {
	idx := make([]int, 0, FilterStages)
	for i := range f.stages {
		idx = append(idx, i)
	}
	// sort by delay, invalid (or fully dispersed) stages last; stable so that
	// the most recent wins ties
	sort.SliceStable(idx, func(a, b int) bool {
		ia, ib := idx[a], idx[b]
		va := f.valid[ia] && f.stageDisp(ia, now) < MaxDisp
		vb := f.valid[ib] && f.stageDisp(ib, now) < MaxDisp
		if va != vb {
			return va
		}
		return f.stages[ia].Delay < f.stages[ib].Delay
	})
	var n int
	var disp float64
	for k, i := range idx {
		disp += f.stageDisp(i, now).Seconds() / math.Exp2(float64(k+1))
		if f.valid[i] && f.stageDisp(i, now) < MaxDisp {
			n++
		}
	}
	f.Dispersion = time.Duration(disp * 1e9)
	if n == 0 {
		f.HasOutput = false
		return false
	}
	best := f.stages[idx[0]]
	f.Offset, f.Delay = best.Offset, best.Delay
	var jit float64
	for k := 1; k < n; k++ {
		d := (f.stages[idx[k]].Offset - best.Offset).Seconds()
		jit += d * d
	}
	if n > 1 {
		jit = math.Sqrt(jit / float64(n-1))
	}
	// the jitter is never below the system precision-ish floor
	f.Jitter = time.Duration(math.Max(jit, 1e-9) * 1e9)
	f.HasOutput = true
	f.Time, f.Mark = best.Time, best.Mark
	if !best.Time.After(f.lastUsed) {
		return false
	}
	f.lastUsed = best.Time
	return true
}

// Stages returns the filter arrays most recent first, as mode 6 reports
// them (filtdelay, filtoffset, filtdisp).
func (f *Filter) Stages(now time.Time) (delay, offset, disp [FilterStages]time.Duration) {
	for i := range f.stages {
		if f.valid[i] {
			delay[i], offset[i] = f.stages[i].Delay, f.stages[i].Offset
		}
		disp[i] = f.stageDisp(i, now)
	}
	return
}

// Last returns the most recent stage, if any.
func (f *Filter) Last() (FilterSample, bool) { return f.stages[0], f.valid[0] }

// MinDelay returns the lowest delay among the valid stages.
func (f *Filter) MinDelay() time.Duration {
	m := time.Duration(-1)
	for i := range f.stages {
		if f.valid[i] && (m < 0 || f.stages[i].Delay < m) {
			m = f.stages[i].Delay
		}
	}
	return max(m, 0)
}
