package query

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// NTPsec's ntpq is a Python program: it turns every value into an int
// (int(text, 0)), else a float, else a string (quotes removed), and prints
// them with Python's str(). pyValue reproduces that.

type pyKind uint8

const (
	pyNone pyKind = iota // Python None (no value)
	pyInt
	pyFloat
	pyStr
)

type pyValue struct {
	kind pyKind
	i    int64
	big  *big.Int // ints beyond int64
	f    float64
	s    string
}

// pyParse converts a value text as NTPsec's response parser does.
func pyParse(raw string) pyValue {
	v := strings.TrimSpace(raw)
	if v == "" {
		return pyValue{kind: pyStr}
	}
	if n, ok := pyParseInt(v); ok {
		if n.IsInt64() {
			return pyValue{kind: pyInt, i: n.Int64()}
		}
		return pyValue{kind: pyInt, big: n}
	}
	if f, ok := pyParseFloat(v); ok {
		return pyValue{kind: pyFloat, f: f}
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return pyValue{kind: pyStr, s: v}
}

// pyParseInt is Python's int(s, 0): optional sign, 0x/0o/0b prefixes,
// decimal without leading zeros (except zero itself), single underscores
// between digits.
func pyParseInt(s string) (*big.Int, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 10 {
			s = s[2:]
			s = strings.TrimPrefix(s, "_")
		}
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return nil, false
	}
	s = strings.ReplaceAll(s, "_", "")
	if base == 10 && len(s) > 1 && s[0] == '0' && strings.Trim(s, "0") != "" {
		return nil, false // "012" is not an int literal
	}
	for _, c := range s {
		if d := digitVal(c); d < 0 || d >= base {
			return nil, false
		}
	}
	n, ok := new(big.Int).SetString(s, base)
	if !ok {
		return nil, false
	}
	if neg {
		n.Neg(n)
	}
	return n, true
}

func digitVal(c rune) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

// pyParseFloat is Python's float(s) for the decimal forms daemons send
// (and inf/nan).
func pyParseFloat(s string) (float64, bool) {
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case "inf", "infinity", "nan":
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' || c == '_') {
			return 0, false
		}
	}
	if strings.Contains(s, "_") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if e, ok := err.(*strconv.NumError); ok && e.Err == strconv.ErrRange {
			return f, true // Python gives inf or 0.0 too
		}
		return 0, false
	}
	return f, true
}

func (v pyValue) isNumber() bool { return v.kind == pyInt || v.kind == pyFloat }

func (v pyValue) truthy() bool {
	switch v.kind {
	case pyInt:
		return v.big != nil || v.i != 0
	case pyFloat:
		return v.f != 0
	case pyStr:
		return v.s != ""
	}
	return false
}

func (v pyValue) float() float64 {
	switch v.kind {
	case pyInt:
		if v.big != nil {
			f, _ := new(big.Float).SetInt(v.big).Float64()
			return f
		}
		return float64(v.i)
	case pyFloat:
		return v.f
	}
	return math.NaN()
}

// String is Python's str().
func (v pyValue) String() string {
	switch v.kind {
	case pyInt:
		if v.big != nil {
			return v.big.String()
		}
		return strconv.FormatInt(v.i, 10)
	case pyFloat:
		return pyRepr(v.f)
	case pyStr:
		return v.s
	}
	return "None"
}

// periodize is NTPsec's uptime display: the seconds rounded (half to
// even) as "[ND ]HH:MM:SS", and the rounded number for rates; "???" and
// None when the value is not a number.
func periodize(v pyValue) (pyValue, string) {
	if !v.isNumber() {
		return pyValue{}, "???"
	}
	var n int64
	if v.kind == pyInt && v.big == nil {
		n = v.i
	} else {
		n = int64(math.RoundToEven(v.float()))
	}
	s := ""
	if n >= 86400 {
		s = strconv.FormatInt(n/86400, 10) + "D "
	}
	s += pad2i(floorMod(n, 86400)/3600) + ":" + pad2i(floorMod(n, 3600)/60) + ":" + pad2i(floorMod(n, 60))
	return pyValue{kind: pyInt, i: n}, s
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func pad2i(n int64) string {
	if n >= 0 && n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// packetize is NTPsec's packet count with a rate over period: the count,
// then packets per second (more packets than seconds) or seconds per
// packet, rounded half to even; blank rate for zero packets or an unknown
// period, "???" for a count that is not an integer. (NTPsec's ntpq fails
// on a zero period with packets; this shows no rate.)
func packetize(v pyValue, period pyValue) [3]string {
	if v.kind != pyInt {
		return [3]string{"???", "", ""}
	}
	if !v.truthy() || !period.isNumber() || !period.truthy() {
		return [3]string{v.String(), "", ""}
	}
	p, t := v.float(), period.float()
	if p > t {
		return [3]string{v.String(), pyRepr(math.RoundToEven(p / t)), "p/s"}
	}
	return [3]string{v.String(), pyRepr(math.RoundToEven(t / p)), "s/p"}
}
