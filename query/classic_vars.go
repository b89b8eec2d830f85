package query

import (
	"bytes"

	"github.com/ntpkit/ntpkit/mode6"
)

// Limits of ntpq-classic's variable parser.
const (
	classicMaxName  = 256  // MAXVARLEN
	classicMaxValue = 2048 // MAXVALLEN
)

func isCSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// classicVars splits daemon text into variables the way ntpq-classic 4.2.8
// reads it, which matters only for odd text (NTPsec's garbage filter
// arrays): a name runs to ',', '=', CR, LF (or NUL); a value is either a
// double-quoted string or runs to ',' or CR; a quoted value not followed
// by ',' or CR, or an over-long name or value, ends the whole list; a
// value is cut at a NUL octet (C string).
func classicVars(data []byte) []mode6.Var {
	var out []mode6.Var
	cp, end := 0, len(data)
	for {
		for cp < end && (data[cp] == ',' || isCSpace(data[cp])) {
			cp++
		}
		if cp >= end {
			return out
		}
		n := cp
		for n < end && data[n] != ',' && data[n] != '=' && data[n] != '\r' && data[n] != '\n' && data[n] != 0 {
			n++
		}
		l := n - cp
		for l > 0 && isCSpace(data[cp+l-1]) {
			l--
		}
		if l >= classicMaxName {
			return out
		}
		name := string(data[cp : cp+l])
		cp = n
		if cp >= end || data[cp] == ',' || data[cp] == '\r' || data[cp] == '\n' {
			if cp < end {
				cp++
			}
			out = append(out, mode6.Var{Name: name})
			continue
		}
		cp++ // past '=' (or the NUL that ended the name)
		for cp < end && isCSpace(data[cp]) && data[cp] != '\r' && data[cp] != '\n' {
			cp++
		}
		np := cp
		if np < end && data[np] == '"' {
			np++
			for np < end && data[np] != '"' {
				np++
			}
			if np < end {
				np++
			}
		} else {
			for np < end && data[np] != ',' && data[np] != '\r' {
				np++
			}
		}
		if np-cp >= classicMaxValue || (np < end && data[np] != ',' && data[np] != '\r') {
			return out
		}
		v := data[cp:np]
		for len(v) > 0 && isCSpace(v[len(v)-1]) {
			v = v[:len(v)-1]
		}
		if i := bytes.IndexByte(v, 0); i >= 0 {
			v = v[:i]
		}
		out = append(out, mode6.Var{Name: name, Value: string(v), HasValue: true})
		if np < end && data[np] == ',' {
			np++
		}
		cp = np
	}
}
