package clock

import (
	"math"
	"testing"
	"testing/synctest"
	"time"
)

var _ Adjuster = (*Sim)(nil)

func TestSimOscillator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewSim(System{}, SimOptions{Offset: 100 * time.Millisecond, FrequencyPPM: 100})
		time.Sleep(10 * time.Second)
		// 100 ms + 100 ppm * 10 s = 101 ms
		if got := s.Offset(); got != 101*time.Millisecond {
			t.Fatalf("offset after 10 s = %v, want 101ms", got)
		}
		if err := s.Step(-101 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := s.SetFrequency(-100); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Second)
		if got := s.Offset(); got.Abs() > time.Microsecond {
			t.Fatalf("offset after correction = %v, want 0", got)
		}
		// A slew drains at 500 ppm: 10 ms takes 20 s.
		if err := s.Slew(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		if got := s.Offset(); math.Abs(got.Seconds()-0.005) > 1e-6 {
			t.Fatalf("offset half way through slew = %v, want 5ms", got)
		}
		time.Sleep(20 * time.Second)
		if got := s.Offset(); math.Abs(got.Seconds()-0.010) > 1e-6 {
			t.Fatalf("offset after slew = %v, want 10ms", got)
		}
		if s.Steps() != 1 {
			t.Fatalf("steps = %d", s.Steps())
		}
	})
}

func TestSimFrequencyClamp(t *testing.T) {
	s := NewSim(Fixed(time.Unix(0, 0)), SimOptions{})
	_ = s.SetFrequency(900)
	if f, _ := s.Frequency(); f != MaxFrequency {
		t.Fatalf("frequency %v, want clamp to %v", f, MaxFrequency)
	}
}
