package mode6

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxLineLen is the line length limit of the daemons' variable text
// (MAXDATALINELEN).
const MaxLineLen = 72

// VarEncoder builds the text of a READVAR response the way both reference
// daemons do: items "name=value" separated by ", " or ",\r\n" (SPEC §1.3:
// before every item but the first emit ',', then "\r\n" if
// len(item)+L+1 >= 72 else ' '), the whole text ending with "\r\n".
//
// The zero value is ready to use. It appends into a caller-provided buffer
// (Reset) and does not allocate once that buffer has enough capacity:
//
//	var e mode6.VarEncoder
//	e.Reset(buf[:0])
//	e.Int("stratum", 3)
//	e.Timestamp("reftime", ts)
//	data := e.Finish()
type VarEncoder struct {
	b     []byte
	base  int // len(b) at Reset: text offsets are relative to it
	line  int // L: characters on the current line
	items int
	start int // index of the current item's separator (Begin/End)
	open  bool
	// Fragment simulation (see Cuts).
	pkt  int                  // octets in the current fragment
	ncut int                  // number of cuts
	cuts [MaxFrags - 1]uint16 // text offsets where a fragment ends
	big  bool                 // more than MaxFrags fragments or 64 KiB
}

// Reset starts a new list appended to dst (usually buf[:0]).
func (e *VarEncoder) Reset(dst []byte) { *e = VarEncoder{b: dst, base: len(dst)} }

// Len is the number of items written.
func (e *VarEncoder) Len() int { return e.items }

// Begin starts an item: it writes the separator placeholder, name and '='.
// Append the value with Append or the Append* helpers via Buf/SetBuf, then
// call End. The typed methods below do all three steps.
func (e *VarEncoder) Begin(name string) {
	e.End()
	e.start = len(e.b)
	if e.items > 0 {
		e.b = append(e.b, ',', ' ')
	}
	e.b = append(e.b, name...)
	e.b = append(e.b, '=')
	e.open = true
}

// BeginBare starts an item that has no "=value" part (a bare name).
func (e *VarEncoder) BeginBare(name string) {
	e.End()
	e.start = len(e.b)
	if e.items > 0 {
		e.b = append(e.b, ',', ' ')
	}
	e.b = append(e.b, name...)
	e.open = true
}

// Append appends raw value octets to the open item.
func (e *VarEncoder) Append(p ...byte) { e.b = append(e.b, p...) }

// AppendString appends raw value text to the open item.
func (e *VarEncoder) AppendString(s string) { e.b = append(e.b, s...) }

// AppendFixed appends v with the given decimals to the open item (see the
// package function AppendFixed), e.g. for space-separated filter values.
func (e *VarEncoder) AppendFixed(v float64, decimals int) { e.b = AppendFixed(e.b, v, decimals) }

// AppendInt appends a decimal integer to the open item.
func (e *VarEncoder) AppendInt(v int64) { e.b = strconv.AppendInt(e.b, v, 10) }

// End closes the item started by Begin and applies the line-break rule.
func (e *VarEncoder) End() {
	if !e.open {
		return
	}
	e.open = false
	if e.items == 0 {
		e.items = 1
		e.line = len(e.b) - e.start
		e.place(0, e.line)
		return
	}
	itemLen := len(e.b) - e.start - 2
	e.line++ // the ','
	sep := 2
	if itemLen+e.line+1 >= MaxLineLen {
		// ", item" -> ",\r\nitem": shift the item right by one octet.
		e.b = append(e.b, 0)
		copy(e.b[e.start+3:], e.b[e.start+2:len(e.b)-1])
		e.b[e.start+1], e.b[e.start+2] = '\r', '\n'
		e.line = 0
		sep = 3
	} else {
		e.line++
	}
	e.line += itemLen
	e.items++
	e.place(sep, itemLen)
}

// place simulates how the daemons (ctl_putdata) pack an item of n octets,
// preceded by a separator of sep octets, into 468-octet fragments: the
// separator always fits; while the item plus 3 reserved octets (room for the
// next separator or the final CRLF) does not fit, the fragment is filled up
// with as much of the item as fits and sent. So a fragment is cut inside
// an item at exactly 468 octets, or right after an item that left fewer than
// 3 octets free.
func (e *VarEncoder) place(sep, n int) {
	e.pkt += sep
	pos := len(e.b) - n - e.base // text offset of the item
	for n+3+e.pkt > MaxFragData {
		cur := min(n, MaxFragData-e.pkt)
		pos += cur
		n -= cur
		e.cut(pos)
	}
	e.pkt += n
}

func (e *VarEncoder) cut(pos int) {
	e.pkt = 0
	if e.ncut >= len(e.cuts) || pos > 0xffff {
		e.big = true
		return
	}
	e.cuts[e.ncut] = uint16(pos)
	e.ncut++
}

// Cuts returns the text offsets at which the reference daemons would end
// each fragment but the last (pass to FragmentAt/EachFragmentAt for
// byte-identical datagrams); ErrTooLarge if the text needs more than
// MaxFrags fragments. The slice aliases the encoder.
func (e *VarEncoder) Cuts() ([]uint16, error) {
	if e.big {
		return nil, ErrTooLarge
	}
	return e.cuts[:e.ncut], nil
}

// Raw writes name=value with the value as given.
func (e *VarEncoder) Raw(name, value string) {
	e.Begin(name)
	e.b = append(e.b, value...)
	e.End()
}

// Bare writes a name without a value.
func (e *VarEncoder) Bare(name string) {
	e.BeginBare(name)
	e.End()
}

// Quoted writes name="value".
func (e *VarEncoder) Quoted(name, value string) {
	e.Begin(name)
	e.b = AppendQuoted(e.b, value)
	e.End()
}

// Int writes a decimal integer.
func (e *VarEncoder) Int(name string, v int64) {
	e.Begin(name)
	e.b = strconv.AppendInt(e.b, v, 10)
	e.End()
}

// Uint writes a decimal unsigned integer.
func (e *VarEncoder) Uint(name string, v uint64) {
	e.Begin(name)
	e.b = strconv.AppendUint(e.b, v, 10)
	e.End()
}

// Hex writes 0x-prefixed lower-case hex without padding (reach=0x7).
func (e *VarEncoder) Hex(name string, v uint64) {
	e.Begin(name)
	e.b = AppendHex(e.b, v)
	e.End()
}

// Timestamp writes an NTP timestamp (seconds<<32 | fraction) as
// 0x%08x.%08x.
func (e *VarEncoder) Timestamp(name string, ts uint64) {
	e.Begin(name)
	e.b = AppendTimestamp(e.b, ts)
	e.End()
}

// Fixed writes v with the given number of decimals, like C's %.Nf
// (rootdelay: 3, offset: 6).
func (e *VarEncoder) Fixed(name string, v float64, decimals int) {
	e.Begin(name)
	e.b = AppendFixed(e.b, v, decimals)
	e.End()
}

// Finish terminates the list with "\r\n" (when it has items) and returns the
// text. The encoder must be Reset before reuse.
func (e *VarEncoder) Finish() []byte {
	e.End()
	if e.items > 0 {
		e.b = append(e.b, '\r', '\n')
	}
	return e.b
}

// Bytes returns the text written so far, without the final "\r\n".
func (e *VarEncoder) Bytes() []byte { return e.b }

// AppendQuoted appends "s". Double quotes inside s cannot be represented in
// the protocol and are replaced by '\”.
func AppendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			c = '\''
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// AppendHex appends v as 0x-prefixed lower-case hex, no padding (0x0, 0x3f).
func AppendHex(dst []byte, v uint64) []byte {
	dst = append(dst, '0', 'x')
	return strconv.AppendUint(dst, v, 16)
}

// AppendTimestamp appends an NTP timestamp as 0x%08x.%08x (lower case).
func AppendTimestamp(dst []byte, ts uint64) []byte {
	dst = append(dst, '0', 'x')
	for s := 60; s >= 32; s -= 4 {
		dst = append(dst, hexDigits[(ts>>uint(s))&15])
	}
	dst = append(dst, '.')
	for s := 28; s >= 0; s -= 4 {
		dst = append(dst, hexDigits[(ts>>uint(s))&15])
	}
	return dst
}

// AppendFixed appends v formatted like C's "%.*f" (decimals clamped to
// 0..17; NaN and infinities as C prints them: nan, inf, -inf).
func AppendFixed(dst []byte, v float64, decimals int) []byte {
	switch {
	case math.IsNaN(v):
		if math.Signbit(v) {
			return append(dst, "-nan"...)
		}
		return append(dst, "nan"...)
	case math.IsInf(v, 1):
		return append(dst, "inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-inf"...)
	}
	decimals = max(0, min(decimals, 17))
	return strconv.AppendFloat(dst, v, 'f', decimals, 64)
}

// Var is one item of a variable list: the name and the value text as sent
// (quotes kept; Value has surrounding white space removed, RawValue only
// the trailing white space, e.g. classic's "filtdelay= 0.01 ..."). Bare items without
// '=' have HasValue false.
type Var struct {
	Name     string
	Value    string // trimmed value
	RawValue string // value as sent: leading blanks kept, trailing blanks/CRLF removed
	HasValue bool
}

// MaxVars bounds the number of items Tokenize returns.
const MaxVars = 4096

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Tokenize splits the text of a READVAR response (or a request variable
// list) into items, in order. Items are separated by ','; white space and
// CR/LF around items are skipped; a value in double quotes may contain ','
// and '='; an unterminated quote runs to the end of the text; empty items
// are skipped; embedded NULs and other octets are kept. It never panics and
// returns ErrTooManyVar (with the first MaxVars items) on absurd input.
func Tokenize(data []byte) ([]Var, error) {
	text := string(data) // one copy; names and values are substrings
	var out []Var
	i := 0
	for i < len(text) {
		// skip separators
		for i < len(text) && (isSpace(text[i]) || text[i] == ',') {
			i++
		}
		if i >= len(text) {
			break
		}
		// name: up to '=' or ','
		ns := i
		for i < len(text) && text[i] != '=' && text[i] != ',' {
			i++
		}
		v := Var{Name: strings.TrimRight(text[ns:i], " \t\r\n")}
		if i < len(text) && text[i] == '=' {
			i++
			v.HasValue = true
			vs := i
			inQuote := false
			for i < len(text) {
				c := text[i]
				if c == '"' {
					inQuote = !inQuote
				} else if c == ',' && !inQuote {
					break
				}
				i++
			}
			v.RawValue = strings.TrimRight(text[vs:i], " \t\r\n")
			v.Value = strings.TrimLeft(v.RawValue, " \t\r\n")
		}
		if v.Name == "" && v.Value == "" {
			continue
		}
		if len(out) >= MaxVars {
			return out, fmt.Errorf("%w: more than %d", ErrTooManyVar, MaxVars)
		}
		if out == nil {
			out = make([]Var, 0, 16)
		}
		out = append(out, v)
	}
	return out, nil
}

// Lookup returns the value of the first item called name.
func Lookup(vars []Var, name string) (string, bool) {
	for _, v := range vars {
		if v.Name == name {
			return v.Value, true
		}
	}
	return "", false
}

// Unquote strips one pair of surrounding double quotes, if present.
func Unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 1 && v[0] == '"' { // unterminated
		return v[1:]
	}
	return v
}

// ParseTimestamp parses an NTP timestamp written as 0xSSSSSSSS.FFFFFFFF
// (the 0x prefix is optional; either part may have 1..8 hex digits; a
// missing fraction is 0). It returns seconds<<32 | fraction.
func ParseTimestamp(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		t = t[2:]
	}
	sec, frac, hasDot := strings.Cut(t, ".")
	if len(sec) == 0 || len(sec) > 8 || (hasDot && (len(frac) == 0 || len(frac) > 8)) {
		return 0, fmt.Errorf("%w: timestamp %q", ErrSyntax, s)
	}
	hi, err := strconv.ParseUint(sec, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: timestamp %q", ErrSyntax, s)
	}
	var lo uint64
	if hasDot {
		lo, err = strconv.ParseUint(frac, 16, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: timestamp %q", ErrSyntax, s)
		}
		lo <<= 4 * uint(8-len(frac)) // "8" means 0x80000000
	}
	return hi<<32 | lo, nil
}

// ParseHex parses an unsigned integer written in hex with or without a 0x
// prefix (reach=0x3f, flash=0x1600).
func ParseHex(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		t = t[2:]
	}
	v, err := strconv.ParseUint(t, 16, 64)
	if err != nil || t == "" || t[0] == '+' {
		return 0, fmt.Errorf("%w: hex %q", ErrSyntax, s)
	}
	return v, nil
}

// ParseInt parses a decimal integer (stratum=3, precision=-23).
func ParseInt(s string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: integer %q", ErrSyntax, s)
	}
	return v, nil
}

// ParseFloat parses a decimal number (offset=-0.003143). Hex floats,
// underscores, NaN and infinities are refused.
func ParseFloat(s string) (float64, error) {
	t := strings.TrimSpace(s)
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, fmt.Errorf("%w: number %q", ErrSyntax, s)
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: number %q", ErrSyntax, s)
	}
	return v, nil
}
