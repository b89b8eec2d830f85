package query

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// ntpEpochOffset is the number of seconds from 1900-01-01 to 1970-01-01.
const ntpEpochOffset = 2208988800

// decimalRound rounds the decimal number text to dec decimals, half away
// from zero on the decimal digits (how ntpq's l_fp printing rounds). It
// returns the magnitude text, whether the value is negative and ok=false
// if text is not a number.
func decimalRound(text string, dec int) (mag string, neg bool, ok bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return "", false, false
	}
	neg = f < 0
	s := strconv.FormatFloat(math.Abs(f), 'f', -1, 64)
	ip, fp, _ := strings.Cut(s, ".")
	if len(fp) <= dec {
		fp += strings.Repeat("0", dec-len(fp))
	} else {
		roundUp := fp[dec] >= '5'
		fp = fp[:dec]
		if roundUp {
			digits := []byte(ip + fp)
			i := len(digits) - 1
			for ; i >= 0; i-- {
				if digits[i] == '9' {
					digits[i] = '0'
					continue
				}
				digits[i]++
				break
			}
			if i < 0 {
				digits = append([]byte{'1'}, digits...)
			}
			ip, fp = string(digits[:len(digits)-dec]), string(digits[len(digits)-dec:])
		}
	}
	mag = ip
	if dec > 0 {
		mag += "." + fp
	}
	// The sign is the value's, before rounding: -0.0002 prints as -0.000
	// (ntpq converts to a signed fixed-point value first); -0 has none.
	return mag, neg, true
}

// msClassic formats a millisecond value text with 3 decimals as
// ntpq-classic does for the peers columns: unsigned for delay and jitter,
// with an explicit sign for offsets. Unparseable text counts as 0.
func msClassic(text string, signed bool) string {
	mag, neg, ok := decimalRound(text, 3)
	if !ok {
		mag, neg = "0.000", false
	}
	switch {
	case neg:
		return "-" + mag
	case signed:
		return "+" + mag
	}
	return mag
}

// trunc returns the first n bytes of s (C's %.Ns).
func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// prettyClassic is ntpq-classic's prettyinterval for when and poll.
func prettyClassic(diff int64) string {
	if diff <= 0 {
		return "-"
	}
	if diff <= 2048 {
		return strconv.FormatInt(diff, 10)
	}
	diff = (diff + 29) / 60
	if diff <= 300 {
		return strconv.FormatInt(diff, 10) + "m"
	}
	diff = (diff + 29) / 60
	if diff <= 96 {
		return strconv.FormatInt(diff, 10) + "h"
	}
	diff = (diff + 11) / 24
	if diff <= 999 {
		return strconv.FormatInt(diff, 10) + "d"
	}
	y := int64(math.Round(float64(diff) / 365.25))
	if y <= 999 {
		return strconv.FormatInt(y, 10) + "y"
	}
	return "INF"
}

// prettySec is ntpq-sec's prettyinterval (Python float division).
func prettySec(diff float64) string {
	if diff <= 0 {
		return "-"
	}
	if diff <= 2048 {
		return strconv.FormatInt(int64(diff), 10)
	}
	diff = (diff + 29) / 60
	if diff <= 300 {
		return strconv.FormatInt(int64(diff), 10) + "m"
	}
	diff = (diff + 29) / 60
	if diff <= 96 {
		return strconv.FormatInt(int64(diff), 10) + "h"
	}
	diff = (diff + 11) / 24
	return strconv.FormatInt(int64(diff), 10) + "d"
}

// refclockNames are the driver names of the classic refclock types
// (refnumtoa), indexed by type.
var refclockNames = map[int]string{
	1: "LOCAL", 2: "GPS_TRAK", 3: "WWV_PST", 4: "SPECTRACOM", 5: "TRUETIME",
	6: "IRIG_AUDIO", 7: "CHU_AUDIO", 8: "GENERIC", 9: "GPS_MX4200", 10: "GPS_AS2201",
	11: "GPS_ARBITER", 12: "IRIG_TPRO", 13: "ATOM_LEITCH", 14: "MSF_EES", 15: "GPSTM_TRUE",
	16: "GPS_BANC", 17: "GPS_DATUM", 18: "ACTS_MODEM", 19: "WWV_HEATH", 20: "GPS_NMEA",
	21: "GPS_VME", 22: "PPS", 23: "ACTS_PTB", 24: "ACTS_USNO", 25: "TRUETIME",
	26: "GPS_HP", 27: "MSF_ARCRON", 28: "SHM", 29: "GPS_PALISADE", 30: "GPS_ONCORE",
	31: "GPS_JUPITER", 32: "CHRONOLOG", 33: "DUMBCLOCK", 34: "ULINK_M320", 35: "PCF",
	36: "WWV_AUDIO", 37: "GPS_FG", 38: "HOPF_S", 39: "HOPF_P", 40: "JJY",
	41: "TT_IRIG", 42: "GPS_ZYFER", 43: "GPS_RIPENCC", 44: "NEOCLK4X", 45: "PCI_TSYNC",
	46: "GPSD_JSON",
}

// refclockName converts a refclock pseudo-address 127.127.t.u to NAME(u)
// (REFCLK(t,u) for unknown types); ok is false for other text.
func refclockName(addr string) (string, bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return "", false
	}
	b := a.As4()
	if b[0] != 127 || b[1] != 127 {
		return "", false
	}
	if n, ok := refclockNames[int(b[2])]; ok {
		return fmt.Sprintf("%s(%d)", n, b[3]), true
	}
	return fmt.Sprintf("REFCLK(%d,%d)", b[2], b[3]), true
}

func isRefclock(addr string) bool { _, ok := refclockName(addr); return ok }

func isUnspecified(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && a.IsUnspecified()
}

func isMulticast(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && a.IsMulticast()
}

// catV renders octets like `cat -v` (ntpq-classic's makeascii):
// control characters as ^X, DEL as ^?, high octets as M-x.
func catV(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			b.WriteString("M-")
			c &= 0x7f
		}
		switch {
		case c == 0x7f:
			b.WriteString("^?")
		case c < ' ' && c != '\n' && c != '\t':
			b.WriteByte('^')
			b.WriteByte(c + '@')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseUintAuto parses an unsigned integer the way ntpq's decodeuint does:
// 0x-prefixed hex, else decimal.
func parseUintAuto(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		return v, err == nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

func parseIntText(s string) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return v, err == nil
}

// parseTS parses an NTP timestamp in the daemons' 0xSSSSSSSS.FFFFFFFF form.
func parseTS(s string) (ntp.Timestamp, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		return 0, false
	}
	sec, frac, ok := strings.Cut(s[2:], ".")
	if !ok || len(sec) == 0 || len(sec) > 8 || len(frac) == 0 || len(frac) > 8 {
		return 0, false
	}
	hi, err1 := strconv.ParseUint(sec, 16, 32)
	lo, err2 := strconv.ParseUint(frac, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	lo <<= 4 * uint(8-len(frac))
	return ntp.Timestamp(hi<<32 | lo), true
}

// tsTime converts a timestamp to time near pivot (era-aware).
func tsTime(ts ntp.Timestamp, pivot time.Time) time.Time {
	return ts.Time(pivot)
}

// tsMillis is the truncated millisecond part of a timestamp.
func tsMillis(ts ntp.Timestamp) int {
	return int((uint64(ts.Fraction()) * 1000) >> 32)
}

// classicDate formats a timestamp like ntpq-classic's prettydate:
// "eeaccf79.509b343c  Sun, Nov 22 2026  2:18:33.314" (local time).
func classicDate(ts ntp.Timestamp, pivot time.Time, loc *time.Location) string {
	t := tsTime(ts, pivot).In(loc)
	return fmt.Sprintf("%08x.%08x  %s, %s %2d %4d %2d:%02d:%02d.%03d",
		ts.Seconds(), ts.Fraction(), t.Format("Mon"), t.Format("Jan"), t.Day(), t.Year(),
		t.Hour(), t.Minute(), t.Second(), tsMillis(ts))
}

// secDate formats a timestamp like ntpq-sec: "eeaccf37.50957278 2026-11-22T02:17:27.314Z".
func secDate(ts ntp.Timestamp, pivot time.Time) string {
	t := tsTime(ts, pivot).UTC()
	return fmt.Sprintf("%08x.%08x %s.%03dZ", ts.Seconds(), ts.Fraction(), t.Format("2006-01-02T15:04:05"), tsMillis(ts))
}

// ntpSeconds is the NTP era seconds of t.
func ntpSeconds(t time.Time) int64 {
	return t.Unix() + ntpEpochOffset
}
