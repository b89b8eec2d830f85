// Package clock separates reading time from writing it.
//
// Protocol logic reads time through Clock and never calls time.Now, so tests
// drive it with a simulated clock. Only the daemon's discipline and the date
// command hold an Adjuster. The Linux implementation in this package is the
// only code in ntpkit that calls clock-writing system calls; nothing else may.
package clock

import (
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Clock reads the current time.
type Clock interface {
	Now() time.Time
}

// System is the real system clock (read only).
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Status is the synchronisation state reported to the kernel, which it
// exports to other programs (adjtimex, ntptime, chronyc) and uses to decide
// whether to copy the time to the RTC.
type Status struct {
	Synchronized bool
	Leap         ntp.Leap      // LeapInsert or LeapDelete arm the kernel for midnight UTC
	MaxError     time.Duration // maximum error bound
	EstError     time.Duration // estimated error
}

// Adjuster changes a clock. Implementations: Linux (the real kernel clock)
// and Sim (a simulated oscillator for tests).
type Adjuster interface {
	Clock
	// Step jumps the clock by offset at once.
	Step(offset time.Duration) error
	// Slew starts a gradual correction of offset (like adjtime(2)); a new
	// call replaces any correction still in progress.
	Slew(offset time.Duration) error
	// SetFrequency sets the frequency correction in parts per million;
	// positive makes the clock run faster.
	SetFrequency(ppm float64) error
	// Frequency returns the current frequency correction in ppm.
	Frequency() (float64, error)
	// SetStatus reports the synchronisation state.
	SetStatus(Status) error
}

// MaxSlewRate is the rate at which the kernel (and Sim) amortises a slew:
// 500 ppm, the Linux adjtime rate.
const MaxSlewRate = 500e-6

// MaxFrequency is the largest frequency correction the kernel accepts (ppm).
const MaxFrequency = 500.0
