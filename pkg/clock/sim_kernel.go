package clock

import (
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// KernelState reports the simulated clock as the kernel would: the
// applied frequency correction, the slew still to amortise as the
// offset, the status and error bounds last set, 1 µs precision and the
// kernel's 500 ppm tolerance. There is no PLL or PPS in the simulation.
// It does not advance the simulation (reading changes nothing).
func (s *Sim) KernelState() (KernelState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := uint32(0)
	if !s.status.Synchronized {
		st |= StaUnsync
	}
	switch s.status.Leap {
	case ntp.LeapInsert:
		st |= StaIns
	case ntp.LeapDelete:
		st |= StaDel
	}
	return KernelState{
		Offset:       time.Duration(s.slew * float64(time.Second)),
		FrequencyPPM: s.freqCorr * 1e6,
		MaxError:     s.status.MaxError,
		EstError:     s.status.EstError,
		Status:       st,
		Precision:    time.Microsecond,
		TolerancePPM: MaxFrequency,
	}, nil
}
