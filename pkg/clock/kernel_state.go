package clock

import "time"

// KernelState is the kernel clock discipline's state as adjtimex(2)
// reports it when asked without changing anything (modes 0): the values
// ntpq's kerninfo shows. Reading it never changes the clock.
type KernelState struct {
	Offset       time.Duration // remaining PLL offset
	FrequencyPPM float64       // frequency correction
	MaxError     time.Duration // maximum error bound
	EstError     time.Duration // estimated error
	Status       uint32        // STA_* bits (Sta* below)
	TimeConstant int64         // PLL time constant
	Precision    time.Duration // clock precision
	TolerancePPM float64       // largest frequency error the kernel accepts
	PPSFreqPPM   float64       // PPS frequency
	PPSJitter    time.Duration
	PPSStability float64 // PPS stability, ppm
	PPSShift     int     // log2 of the PPS calibration interval (s)
	PPSCalCount  int64   // calibration intervals
	PPSJitCount  int64   // jitter limit exceeded
	PPSStbCount  int64   // stability limit exceeded
	PPSErrCount  int64   // calibration errors
	State        int     // clock state returned by the call (TIME_OK ...)
}

// Kernel status bits (the kernel's STA_* values, RFC 1589 / Linux).
const (
	StaPLL       = 0x0001
	StaPPSFreq   = 0x0002
	StaPPSTime   = 0x0004
	StaFLL       = 0x0008
	StaIns       = 0x0010
	StaDel       = 0x0020
	StaUnsync    = 0x0040
	StaFreqHold  = 0x0080
	StaPPSSignal = 0x0100
	StaPPSJitter = 0x0200
	StaPPSWander = 0x0400
	StaPPSError  = 0x0800
	StaClockErr  = 0x1000
	StaNano      = 0x2000
	StaMode      = 0x4000
	StaClk       = 0x8000
)

// KernelReader is a clock whose kernel discipline state can be read:
// the Linux clock (the real kernel) and Sim (a simulated one for tests).
type KernelReader interface {
	KernelState() (KernelState, error)
}
