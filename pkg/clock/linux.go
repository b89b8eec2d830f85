//go:build linux

package clock

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Linux adjusts the kernel's CLOCK_REALTIME through adjtimex(2). It is the
// only type in ntpkit that writes the system clock; constructing one does
// nothing, only its methods do.
type Linux struct{}

// NewLinux returns the kernel clock adjuster.
func NewLinux() *Linux { return &Linux{} }

// Now reads CLOCK_REALTIME.
func (*Linux) Now() time.Time { return time.Now() }

// ppmScale is the kernel's fixed-point frequency unit: ppm with a 16-bit
// binary fraction.
const ppmScale = 65536

func adjtimex(tx *unix.Timex) error {
	if _, err := unix.ClockAdjtime(unix.CLOCK_REALTIME, tx); err != nil {
		return err
	}
	return nil
}

// Step jumps the clock by offset with ADJ_SETOFFSET, which the kernel applies
// atomically relative to the current time (no read-modify-write race).
func (*Linux) Step(offset time.Duration) error {
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO}
	sec := int64(offset / time.Second)
	nsec := int64(offset % time.Second)
	if nsec < 0 { // the kernel wants 0 <= nsec < 1e9
		nsec += 1e9
		sec--
	}
	set(&tx.Time.Sec, sec)
	set(&tx.Time.Usec, nsec) // with ADJ_NANO this field holds nanoseconds
	if err := adjtimex(&tx); err != nil {
		return fmt.Errorf("step clock by %v: %w", offset, err)
	}
	return nil
}

// Slew starts an adjtime-style correction (ADJ_OFFSET_SINGLESHOT, in
// microseconds), amortised by the kernel at 500 ppm.
func (*Linux) Slew(offset time.Duration) error {
	// The kernel clamps singleshot offsets to about ±0.5 s; larger ones are
	// the caller's to step.
	tx := unix.Timex{Modes: unix.ADJ_OFFSET_SINGLESHOT}
	set(&tx.Offset, int64(offset/time.Microsecond))
	if err := adjtimex(&tx); err != nil {
		return fmt.Errorf("slew clock by %v: %w", offset, err)
	}
	return nil
}

// SetFrequency sets the kernel frequency correction (ADJ_FREQUENCY).
func (*Linux) SetFrequency(ppm float64) error {
	if ppm > MaxFrequency {
		ppm = MaxFrequency
	} else if ppm < -MaxFrequency {
		ppm = -MaxFrequency
	}
	tx := unix.Timex{Modes: unix.ADJ_FREQUENCY}
	set(&tx.Freq, int64(ppm*ppmScale))
	if err := adjtimex(&tx); err != nil {
		return fmt.Errorf("set frequency %.3f ppm: %w", ppm, err)
	}
	return nil
}

// Frequency reads the kernel frequency correction.
func (*Linux) Frequency() (float64, error) {
	var tx unix.Timex
	if err := adjtimex(&tx); err != nil {
		return 0, fmt.Errorf("read frequency: %w", err)
	}
	return float64(tx.Freq) / ppmScale, nil
}

// SetStatus clears or sets STA_UNSYNC, arms leap seconds and updates the
// error bounds.
func (*Linux) SetStatus(s Status) error {
	var cur unix.Timex
	if err := adjtimex(&cur); err != nil {
		return fmt.Errorf("read clock status: %w", err)
	}
	st := cur.Status &^ (unix.STA_UNSYNC | unix.STA_INS | unix.STA_DEL)
	if !s.Synchronized {
		st |= unix.STA_UNSYNC
	}
	switch s.Leap {
	case ntp.LeapInsert:
		st |= unix.STA_INS
	case ntp.LeapDelete:
		st |= unix.STA_DEL
	}
	tx := unix.Timex{Modes: unix.ADJ_STATUS | unix.ADJ_MAXERROR | unix.ADJ_ESTERROR, Status: st}
	set(&tx.Maxerror, int64(s.MaxError/time.Microsecond))
	set(&tx.Esterror, int64(s.EstError/time.Microsecond))
	if err := adjtimex(&tx); err != nil {
		return fmt.Errorf("set clock status: %w", err)
	}
	return nil
}

// KernelPLL hands an offset to the kernel's phase-locked loop (ADJ_OFFSET
// with STA_PLL), the "kernel discipline" of ntpd. With STA_NANO, which this
// sets, Linux takes timeConstant as given (0..10; only without STA_NANO does
// it add 4): ntpd passes its poll exponent.
func (*Linux) KernelPLL(offset time.Duration, timeConstant int) error {
	var cur unix.Timex
	if err := adjtimex(&cur); err != nil {
		return fmt.Errorf("read clock status: %w", err)
	}
	tx := unix.Timex{
		Modes:  unix.ADJ_OFFSET | unix.ADJ_STATUS | unix.ADJ_TIMECONST | unix.ADJ_NANO,
		Status: (cur.Status | unix.STA_PLL | unix.STA_NANO) &^ unix.STA_FLL,
	}
	set(&tx.Offset, int64(offset))
	set(&tx.Constant, int64(timeConstant))
	if err := adjtimex(&tx); err != nil {
		return fmt.Errorf("kernel pll offset %v: %w", offset, err)
	}
	return nil
}

// kernelLoopBits are the status bits under which the kernel disciplines
// the clock itself.
const kernelLoopBits = unix.STA_PLL | unix.STA_FLL | unix.STA_PPSFREQ | unix.STA_PPSTIME

// KernelPLLOff switches the kernel's own loop off, as ntpd does when the
// kernel discipline is disabled: a PLL left running by an earlier ntpd (or
// an earlier "enable kernel" run) would otherwise keep slewing its last
// phase error and adjusting the frequency under the daemon's own loop. The
// pending phase is zeroed first, while STA_PLL still lets the kernel take an
// offset; then the loop bits are cleared. A kernel whose loop is already off
// is not written to.
func (*Linux) KernelPLLOff() error {
	var cur unix.Timex
	if err := adjtimex(&cur); err != nil {
		return fmt.Errorf("read clock status: %w", err)
	}
	if cur.Status&kernelLoopBits == 0 {
		return nil
	}
	if cur.Status&unix.STA_PLL != 0 {
		tx := unix.Timex{Modes: unix.ADJ_OFFSET | unix.ADJ_NANO}
		if err := adjtimex(&tx); err != nil {
			return fmt.Errorf("zero kernel pll offset: %w", err)
		}
	}
	tx := unix.Timex{Modes: unix.ADJ_STATUS, Status: cur.Status &^ kernelLoopBits}
	if err := adjtimex(&tx); err != nil {
		return fmt.Errorf("switch kernel pll off: %w", err)
	}
	return nil
}

// State reports the kernel clock state (TIME_OK, TIME_ERROR, ...) and the
// status bits, for diagnostics and the VM tests.
func (*Linux) State() (state int, status int32, err error) {
	var tx unix.Timex
	st, err := unix.ClockAdjtime(unix.CLOCK_REALTIME, &tx)
	if err != nil {
		return 0, 0, fmt.Errorf("read clock state: %w", err)
	}
	return st, tx.Status, nil
}

// SetTick sets the kernel's tick length in microseconds per 1/USER_HZ
// second (nominally 10000). One microsecond more makes the clock run 100 ppm
// fast, independently of the frequency register the discipline writes: the
// VM tests use it to give the guest a real oscillator error to correct.
func (*Linux) SetTick(usec int64) error {
	tx := unix.Timex{Modes: unix.ADJ_TICK}
	set(&tx.Tick, usec)
	if err := adjtimex(&tx); err != nil {
		return fmt.Errorf("set tick %d: %w", usec, err)
	}
	return nil
}

// set stores v in a timex field, whose width is the platform's C long:
// 64 bits on amd64/arm64/riscv64, 32 on 386 and arm.
func set[T ~int32 | ~int64](field *T, v int64) { *field = T(v) }
