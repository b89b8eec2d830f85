package ntp

import (
	"fmt"
	"math"
	"time"
)

// unixEpochOffset is the number of seconds from the NTP prime epoch
// (1900-01-01 00:00:00 UTC, era 0) to the Unix epoch.
const unixEpochOffset = 2208988800

// eraSeconds is the length of one NTP era: 2^32 seconds (about 136 years).
const eraSeconds = 1 << 32

// Timestamp is the 64-bit NTP timestamp: 32 bits of seconds and 32 bits of
// fraction. On the wire it carries no era, so converting it to a time needs a
// pivot (see Time); differences between two timestamps are era-free as long as
// they are less than 68 years apart (see Sub).
type Timestamp uint64

// Seconds returns the seconds field.
func (t Timestamp) Seconds() uint32 { return uint32(t >> 32) }

// Fraction returns the fraction field (units of 2^-32 s).
func (t Timestamp) Fraction() uint32 { return uint32(t) }

// IsZero reports whether the timestamp is the all-zero value that NTP uses
// for "unknown" or "never".
func (t Timestamp) IsZero() bool { return t == 0 }

// NewTimestamp builds a timestamp from its two fields.
func NewTimestamp(sec, frac uint32) Timestamp { return Timestamp(uint64(sec)<<32 | uint64(frac)) }

// TimestampFromTime converts a wall-clock time to an NTP timestamp. Times
// outside era 0 wrap into their era's 32-bit seconds, as the wire format
// demands.
func TimestampFromTime(t time.Time) Timestamp {
	// Floor division keeps times before 1970 (and before 1900) correct.
	sec := t.Unix() + unixEpochOffset
	nsec := int64(t.Nanosecond())
	frac := (uint64(nsec) << 32) / 1e9
	// Round the fraction to nearest so that a round trip through Time is exact
	// to the nanosecond.
	if rem := (uint64(nsec) << 32) % 1e9; rem >= 5e8 {
		frac++
	}
	if frac >= 1<<32 {
		frac -= 1 << 32
		sec++
	}
	return Timestamp(uint64(uint32(sec))<<32 | frac)
}

// Era returns the NTP era number of t: 0 for 1900-2036, 1 from
// 2036-02-07T06:28:16Z, -1 before 1900.
func Era(t time.Time) int64 {
	s := t.Unix() + unixEpochOffset
	e := s / eraSeconds
	if s < 0 && s%eraSeconds != 0 {
		e--
	}
	return e
}

// TimeInEra converts t to a time, taking its seconds as an offset into the
// given era.
func (t Timestamp) TimeInEra(era int64) time.Time {
	sec := era*eraSeconds + int64(t.Seconds()) - unixEpochOffset
	nsec := (uint64(t.Fraction())*1e9 + 1<<31) >> 32
	return time.Unix(sec, int64(nsec)).UTC()
}

// Time converts t to the time nearest to pivot that has these wire bits. With
// the current time as pivot this resolves the era correctly for any
// timestamp within 68 years of now, including across the 2036 rollover.
func (t Timestamp) Time(pivot time.Time) time.Time {
	return pivot.Add(t.Sub(TimestampFromTime(pivot)))
}

// Sub returns t-u as a duration. The difference is computed modulo 2^64 and
// read as signed, so it is correct across an era boundary as long as the two
// timestamps are less than 2^31 seconds apart.
func (t Timestamp) Sub(u Timestamp) time.Duration {
	return fixedToDuration(int64(t - u))
}

// Add returns t shifted by d (wrapping within the era like the wire format).
func (t Timestamp) Add(d time.Duration) Timestamp {
	return t + Timestamp(durationToFixed(d))
}

// String renders the timestamp the way mode 6 does: 0x%08x.%08x.
func (t Timestamp) String() string {
	return fmt.Sprintf("0x%08x.%08x", t.Seconds(), t.Fraction())
}

// fixedToDuration converts a signed 32.32 fixed-point number of seconds to a
// duration, rounding to the nearest nanosecond.
func fixedToDuration(x int64) time.Duration {
	sec := x >> 32 // arithmetic shift: floor
	frac := uint64(x) & 0xffffffff
	ns := (frac*1e9 + 1<<31) >> 32
	return time.Duration(sec)*time.Second + time.Duration(ns)
}

// durationToFixed converts a duration to signed 32.32 fixed point seconds.
func durationToFixed(d time.Duration) int64 {
	sec := int64(d / time.Second)
	ns := int64(d % time.Second)
	if ns < 0 {
		ns += 1e9
		sec--
	}
	return sec<<32 + int64((uint64(ns)<<32+5e8)/1e9)
}

// Seconds converts a duration to floating point seconds; a helper used by
// the filter and discipline arithmetic.
func Seconds(d time.Duration) float64 { return d.Seconds() }

// DurationFromSeconds converts floating point seconds to a duration,
// saturating instead of overflowing.
func DurationFromSeconds(s float64) time.Duration {
	ns := s * 1e9
	switch {
	case math.IsNaN(ns):
		return 0
	case ns >= math.MaxInt64:
		return math.MaxInt64
	case ns <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(math.Round(ns))
}

// Short is the 32-bit NTP short format: 16 bits of seconds and 16 of
// fraction, used for root delay and root dispersion.
type Short uint32

// ShortFromDuration converts a non-negative duration to the short format,
// saturating at its maximum (about 18 hours) and flooring negatives at 0.
func ShortFromDuration(d time.Duration) Short {
	if d <= 0 {
		return 0
	}
	v := (uint64(d)<<16 + 5e8) / 1e9
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return Short(v)
}

// Duration converts the short format to a duration.
func (s Short) Duration() time.Duration {
	return time.Duration((uint64(s)*1e9 + 1<<15) >> 16)
}

// Seconds returns the value in seconds.
func (s Short) Seconds() float64 { return float64(s) / 65536 }
