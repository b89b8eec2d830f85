package oneshot

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// ntpdate computes in NTP fixed point, and its printed numbers depend on
// it (a delay is truncated to 1/65536 s before the constants are added), so
// the arithmetic is reproduced here exactly.

// LFP is a signed 32.32 fixed-point number of seconds (classic l_fp).
type LFP int64

// SFP is a signed 16.16 fixed-point number of seconds (classic s_fp).
type SFP int32

// UFP is an unsigned 16.16 fixed-point number of seconds (classic u_fp).
type UFP uint32

// FPSecond is one second in SFP units.
const FPSecond SFP = 1 << 16

// Seconds converts to float64 seconds.
func (x LFP) Seconds() float64 { return float64(x) / (1 << 32) }

// Seconds converts to float64 seconds.
func (x SFP) Seconds() float64 { return float64(x) / (1 << 16) }

// Seconds converts to float64 seconds.
func (x UFP) Seconds() float64 { return float64(x) / (1 << 16) }

// Duration converts to a time.Duration (rounded to the nanosecond).
func (x LFP) Duration() time.Duration {
	sec := int64(x) >> 32
	frac := uint64(x) & 0xffffffff
	return time.Duration(sec)*time.Second + time.Duration((frac*1e9+1<<31)>>32)
}

// SFP truncates to 16.16 (classic LFPTOFP: floor, saturating).
func (x LFP) SFP() SFP {
	v := int64(x) >> 16
	switch {
	case v > 1<<31-1:
		return 1<<31 - 1
	case v < -1<<31:
		return -1 << 31
	}
	return SFP(v)
}

// LFPFromSeconds converts float seconds (for tests and JSON input).
func LFPFromSeconds(s float64) LFP { return LFP(s * (1 << 32)) }

// Format renders x with ndec decimals and an explicit sign, rounded half
// up, as classic ntpdate prints offsets ("+0.000017", "-3.500003").
func (x LFP) Format(ndec int) string {
	neg := x < 0
	mag := uint64(x)
	if neg {
		mag = -mag
	}
	sign := "+"
	if neg {
		sign = "-"
	}
	return sign + formatFixed(mag, ndec)
}

// Format renders x with ndec decimals; only a negative value gets a sign
// ("0.02567").
func (x SFP) Format(ndec int) string {
	if x < 0 {
		return "-" + formatFixed(uint64(-int64(x))<<16, ndec)
	}
	return formatFixed(uint64(x)<<16, ndec)
}

// Format renders x with ndec decimals.
func (x UFP) Format(ndec int) string { return formatFixed(uint64(x)<<16, ndec) }

// formatFixed prints an unsigned 32.32 magnitude with ndec (0..9) decimals.
func formatFixed(mag uint64, ndec int) string {
	ndec = max(0, min(ndec, 9))
	ip := mag >> 32
	frac := mag & 0xffffffff
	pow := uint64(1)
	for range ndec {
		pow *= 10
	}
	scaled := (frac*pow + 1<<31) >> 32
	if scaled >= pow {
		scaled -= pow
		ip++
	}
	s := strconv.FormatUint(ip, 10)
	if ndec == 0 {
		return s
	}
	return fmt.Sprintf("%s.%0*d", s, ndec, scaled)
}

// PrettyDate renders a timestamp like classic's prettydate:
// "eeaccfbb.50a28aa4  Sun, Nov 22 2026  2:19:39.314" in loc, resolving the
// era around pivot. Milliseconds are truncated.
func PrettyDate(ts ntp.Timestamp, pivot time.Time, loc *time.Location) string {
	msec := ts.Fraction() / 4294967
	sec := ts.Seconds()
	if msec >= 1000 {
		msec -= 1000
		sec++
	}
	t := ntp.NewTimestamp(sec, 0).Time(pivot).In(loc)
	return fmt.Sprintf("%08x.%08x  %s, %s %2d %4d %2d:%02d:%02d.%03d",
		ts.Seconds(), ts.Fraction(), t.Format("Mon"), t.Format("Jan"), t.Day(), t.Year(),
		t.Hour(), t.Minute(), t.Second(), msec)
}
