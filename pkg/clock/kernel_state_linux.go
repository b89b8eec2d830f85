//go:build linux

package clock

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ReadKernel reads the kernel clock state with clock_adjtime(CLOCK_REALTIME)
// and modes 0, which changes nothing and needs no privilege.
func ReadKernel() (KernelState, error) {
	var tx unix.Timex // Modes 0: read only
	st, err := unix.ClockAdjtime(unix.CLOCK_REALTIME, &tx)
	if err != nil {
		return KernelState{}, fmt.Errorf("read kernel clock state: %w", err)
	}
	unit := time.Microsecond
	if tx.Status&unix.STA_NANO != 0 {
		unit = time.Nanosecond
	}
	return KernelState{
		Offset:       time.Duration(tx.Offset) * unit,
		FrequencyPPM: float64(tx.Freq) / ppmScale,
		MaxError:     time.Duration(tx.Maxerror) * time.Microsecond,
		EstError:     time.Duration(tx.Esterror) * time.Microsecond,
		Status:       uint32(tx.Status),
		TimeConstant: int64(tx.Constant),
		Precision:    time.Duration(tx.Precision) * time.Microsecond,
		TolerancePPM: float64(tx.Tolerance) / ppmScale,
		PPSFreqPPM:   float64(tx.Ppsfreq) / ppmScale,
		PPSJitter:    time.Duration(tx.Jitter) * unit,
		PPSStability: float64(tx.Stabil) / ppmScale,
		PPSShift:     int(tx.Shift),
		PPSCalCount:  int64(tx.Calcnt),
		PPSJitCount:  int64(tx.Jitcnt),
		PPSStbCount:  int64(tx.Stbcnt),
		PPSErrCount:  int64(tx.Errcnt),
		State:        st,
	}, nil
}

// KernelState reads the kernel state (it does not change it).
func (*Linux) KernelState() (KernelState, error) { return ReadKernel() }
