package sync

import (
	"math"
	"testing"
	"time"
)

func ms(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }

func TestSelectTable(t *testing.T) {
	good := func(off float64) Candidate {
		return Candidate{Offset: ms(off), RootDist: ms(5), Jitter: ms(0.1), Stratum: 1}
	}
	tests := []struct {
		name  string
		cands []Candidate
		opts  SelectOptions
		codes string // tally per candidate
	}{
		{"single", []Candidate{good(0)}, SelectOptions{}, "*"},
		{"two falsetickers of five", []Candidate{good(0), good(0.2), good(-0.1), good(50), good(-80)}, SelectOptions{}, "*++xx"},
		{"no majority", []Candidate{good(0), good(100)}, SelectOptions{}, "xx"},
		{"minsane not met", []Candidate{good(0), good(0.1), good(90)}, SelectOptions{MinSane: 3}, "xxx"},
		{"outlier by clustering", []Candidate{good(0), good(0.1), good(-0.1), good(4)}, SelectOptions{MinClock: 3}, "*++-"},
		{"backup beyond maxclock", []Candidate{good(0), good(0.05), good(-0.05), good(0.01)}, SelectOptions{MinClock: 1, MaxClock: 2}, "*##+"},
		{"lower stratum wins", []Candidate{{Offset: 0, RootDist: ms(5), Jitter: ms(0.1), Stratum: 2}, good(0.1)}, SelectOptions{}, "+*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel := Select(tc.cands, tc.opts, -1)
			got := ""
			for _, c := range sel.Codes {
				got += string(" x.-+#*o"[c])
			}
			if got != tc.codes {
				t.Errorf("codes %q, want %q", got, tc.codes)
			}
		})
	}
}

func TestSelectKeepsPrevious(t *testing.T) {
	c := []Candidate{
		{Offset: 0, RootDist: ms(5), Jitter: ms(0.1), Stratum: 1},
		{Offset: ms(0.1), RootDist: ms(6), Jitter: ms(0.1), Stratum: 1},
	}
	if s := Select(c, SelectOptions{}, 1); s.SysPeer != 1 {
		t.Errorf("sys peer %d, want the previous one (1)", s.SysPeer)
	}
}

func TestFilterPicksMinDelay(t *testing.T) {
	var f Filter
	base := time.Unix(1e9, 0)
	delays := []float64{5, 3, 9, 1, 7}
	for i, d := range delays {
		f.Add(FilterSample{Offset: ms(float64(i)), Delay: ms(d), Time: base.Add(time.Duration(i) * time.Second)}, base.Add(time.Duration(i)*time.Second))
	}
	if f.Delay != ms(1) || f.Offset != ms(3) {
		t.Errorf("filter chose delay %v offset %v, want 1ms/3ms", f.Delay, f.Offset)
	}
	if f.Jitter <= 0 {
		t.Errorf("jitter %v", f.Jitter)
	}
	// a new, higher-delay sample does not produce a new output
	if f.Add(FilterSample{Offset: ms(9), Delay: ms(8), Time: base.Add(10 * time.Second)}, base.Add(10*time.Second)) {
		t.Errorf("older minimum reported as new")
	}
	d, o, _ := f.Stages(base.Add(10 * time.Second))
	if d[0] != ms(8) || o[0] != ms(9) {
		t.Errorf("stage 0 = %v/%v", d[0], o[0])
	}
}

func FuzzSelect(f *testing.F) {
	f.Add([]byte{0, 10, 1, 5, 20, 1, 250, 10, 2})
	f.Add([]byte{1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c []Candidate
		for i := 0; i+2 < len(b) && len(c) < 20; i += 3 {
			c = append(c, Candidate{Offset: ms(float64(int8(b[i]))), RootDist: ms(float64(b[i+1]%50) + 0.5),
				Jitter: ms(float64(b[i+2]%7) / 10), Stratum: 1 + b[i+2]%4, Prefer: b[i+2] == 7})
		}
		s := Select(c, SelectOptions{MinClock: 1 + len(b)%4, MaxClock: 1 + len(b)%6}, len(b)%3-1)
		if len(s.Codes) != len(c) {
			t.Fatalf("codes %d for %d candidates", len(s.Codes), len(c))
		}
		if s.OK() {
			if s.Codes[s.SysPeer] != SelSysPeer {
				t.Fatalf("sys peer code %d", s.Codes[s.SysPeer])
			}
			// the combined offset lies within the survivors' offsets
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, i := range s.Survivors {
				lo, hi = math.Min(lo, c[i].Offset.Seconds()), math.Max(hi, c[i].Offset.Seconds())
			}
			if o := s.Offset.Seconds(); o < lo-1e-8 || o > hi+1e-8 {
				t.Fatalf("combined %v outside [%v, %v]", o, lo, hi)
			}
		}
	})
}

func FuzzFilter(f *testing.F) {
	f.Add([]byte{10, 5, 1, 200, 3, 2, 7, 9, 0, 255, 1, 1})
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl Filter
		now := time.Unix(1e9, 0)
		for i := 0; i+2 < len(b) && i < 90; i += 3 {
			now = now.Add(time.Duration(b[i+2]) * time.Second)
			if b[i+2] == 0 {
				fl.AddInvalid(now)
				continue
			}
			fl.Add(FilterSample{Offset: ms(float64(int8(b[i]))), Delay: ms(float64(b[i+1]) / 10),
				Dispersion: ms(1), Time: now}, now)
			if !fl.HasOutput {
				t.Fatal("no output after a valid sample")
			}
			_, _, disp := fl.Stages(now)
			for k := range disp {
				if disp[k] > MaxDisp || disp[k] < 0 {
					t.Fatalf("stage dispersion %v", disp[k])
				}
			}
			if fl.Delay != fl.MinDelay() {
				t.Fatalf("chosen delay %v, minimum %v", fl.Delay, fl.MinDelay())
			}
			if fl.Jitter < 0 || fl.Dispersion < 0 || fl.Dispersion > MaxDisp {
				t.Fatalf("jitter %v dispersion %v", fl.Jitter, fl.Dispersion)
			}
		}
	})
}
