package query

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ntpkit/ntpkit/mode6"
)

// VarKind tells which status word a readvar answer carries.
type VarKind int

const (
	VarsSystem VarKind = iota // assoc 0: system status
	VarsPeer                  // assoc N: peer status
	VarsClock                 // clockvar: clock status
)

// StatusText decodes a status word as ntpq-classic prints it after
// status=XXXX.
func StatusText(kind VarKind, status uint16) string {
	switch kind {
	case VarsPeer:
		return mode6.DecodePeerStatus(status).String()
	case VarsClock:
		// "no events, clk_unspec", "1 event, clk_no_reply": event count
		// and last clock event, like the low octet of the other words.
		return mode6.EventCountText(uint8(status>>4)&15) + ", " + mode6.ClockName(uint8(status)&15)
	}
	return mode6.DecodeSysStatus(status).String()
}

// classicLineMax is ntpq-classic's MAXOUTLINE.
const classicLineMax = 72

// lineWriter implements ntpq-classic's output()/endoutput() wrapping.
type lineWriter struct {
	b        strings.Builder
	chars    int
	linelen  int
	maxWidth int
}

func (l *lineWriter) item(name, value string) {
	n := len(name) + 1 + len(value)
	if l.chars != 0 {
		l.chars += 2
		if l.linelen+n+2 > l.maxWidth {
			l.b.WriteString(",\n")
			l.linelen = 0
		} else {
			l.b.WriteString(", ")
			l.linelen += 2
		}
	}
	l.b.WriteString(name)
	l.b.WriteByte('=')
	l.b.WriteString(value)
	l.chars += n
	l.linelen += n
}

func (l *lineWriter) end() string {
	if l.chars != 0 {
		l.b.WriteByte('\n')
	}
	return l.b.String()
}

// ClassicReadvar writes a readvar/clockvar answer like ntpq-classic:
// the associd/status line unless a variable list was given, then the
// variables cooked (or the daemon text as is in raw mode).
func ClassicReadvar(w io.Writer, kind VarKind, assoc uint16, status uint16, data []byte, haveList, raw bool, o RenderOptions) {
	var b strings.Builder
	if raw {
		if !haveList {
			fmt.Fprintf(&b, "associd=%d status=0x%04x,\n", assoc, status)
		}
		b.WriteString(RawText(data))
		io.WriteString(w, b.String())
		return
	}
	if !haveList {
		fmt.Fprintf(&b, "associd=%d status=%04x %s,\n", assoc, status, StatusText(kind, status))
	}
	b.WriteString(ClassicCooked(classicVars(data), o))
	io.WriteString(w, b.String())
}

// RawText is ntpq-classic's rawprint: the daemon text with CR dropped
// before LF and unprintable octets shown cat -v style.
func RawText(data []byte) string {
	var b strings.Builder
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '\r':
			if i == len(data)-1 || data[i+1] != '\n' {
				b.WriteString(catV(string(c)))
			}
		case c == '\n' || c == '\t' || c == ' ' || c == '\v' || c == '\f' || (c > ' ' && c < 0x7f):
			b.WriteByte(c)
		default:
			b.WriteString(catV(string(c)))
		}
	}
	return b.String()
}

// ClassicCooked formats variables like ntpq-classic's cookedprint,
// wrapped at 72 columns.
func ClassicCooked(vars []mode6.Var, o RenderOptions) string {
	l := lineWriter{maxWidth: classicLineMax}
	for _, v := range vars {
		if !v.HasValue {
			// ntpq prints a bare name as name= with an empty value.
			l.item(v.Name, "")
			continue
		}
		val, ok := CookClassic(v.Name, v.Value, o)
		if !ok {
			val = catV(v.Value) + "?"
		}
		l.item(v.Name, val)
	}
	return l.end()
}

var flashNames = [...]string{"pkt_dup", "pkt_bogus", "pkt_unsync", "pkt_denied", "pkt_auth",
	"pkt_stratum", "pkt_header", "pkt_autokey", "pkt_crypto", "peer_stratum", "peer_dist",
	"peer_loop", "peer_unreach"}

// FlashText is the cooked flash value: "00 ok" or hex and test names.
func FlashText(v uint64) string {
	s := fmt.Sprintf("%02x", v)
	if v == 0 {
		return s + " ok"
	}
	for i, n := range flashNames {
		if v&(1<<uint(i)) != 0 {
			s += " " + n
		}
	}
	return s
}

// CookClassic converts one value to ntpq-classic's cooked text. ok=false
// means the value did not decode and is shown raw with '?'.
func CookClassic(name, value string, o RenderOptions) (string, bool) {
	switch name {
	case "leap":
		v, ok := parseUintAuto(value)
		if !ok || v > 3 {
			return "", false
		}
		return fmt.Sprintf("%d%d", v>>1, v&1), true
	case "reach":
		v, ok := parseUintAuto(value)
		if !ok {
			return "", false
		}
		return fmt.Sprintf("%03o", v), true
	case "refid":
		if a, err := netip.ParseAddr(value); err == nil {
			if n, ok := refclockName(value); ok {
				return n, true
			}
			return a.String(), true
		}
		if len(value) <= 4 {
			return value, true
		}
		return "", false
	case "reftime", "clock", "org", "rec", "xmt":
		ts, ok := parseTS(value)
		if !ok {
			return "", false
		}
		if ts == 0 {
			return "(no time)", true
		}
		return classicDate(ts, o.Now, o.loc()), true
	case "flash":
		v, ok := parseUintAuto(value)
		if !ok {
			return "", false
		}
		return FlashText(v), true
	case "srcadr", "peeradr":
		if _, err := netip.ParseAddr(value); err != nil {
			return "", false
		}
		return o.addrName(value), true
	case "dstadr":
		a, err := netip.ParseAddr(value)
		if err != nil {
			return "", false
		}
		return a.String(), true
	case "filtdelay", "filtoffset", "filtdisp", "filterror":
		return classicArray(name, value)
	case "offset", "frequency":
		if value != "" && value[0] >= '0' && value[0] <= '9' {
			return "+" + value, true
		}
		return catV(value), true
	}
	return catV(value), true
}

// classicArray formats a filter array: padding to align the names, then
// each value with 2 decimals right-aligned in 7 (offsets signed).
func classicArray(name, value string) (string, bool) {
	f := strings.Fields(value)
	if len(f) == 0 || len(f) > 8 {
		return "", false
	}
	var b strings.Builder
	for i := len(name); i < 11; i++ {
		b.WriteByte(' ')
	}
	for i, s := range f {
		if _, err := strconv.ParseFloat(s, 64); err != nil || !isDecimal(s) {
			return "", false
		}
		mag, neg, _ := decimalRound(s, 2)
		switch {
		case neg:
			mag = "-" + mag
		case name == "filtoffset":
			mag = "+" + mag
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%7s", trunc(mag, 7))
	}
	return b.String(), true
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		case (c == '-' || c == '+') && i == 0:
		default:
			return false
		}
	}
	return true
}
