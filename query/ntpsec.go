package query

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// secNameWidth is the remote column width of ntpq-sec for a layout width
// (0: the fixed 80-column layout).
func secNameWidth(width int) int {
	if width <= 0 {
		return 15
	}
	return max(15+min(width-80, 24), 1)
}

// SecPeersHeader writes the header of an ntpq-sec peers table; hostw > 0
// adds the "server" column of multi-host output.
func SecPeersHeader(w io.Writer, kind PeersKind, o RenderOptions, hostw int) {
	nw := secNameWidth(o.Width)
	var b strings.Builder
	if hostw > 0 {
		fmt.Fprintf(&b, "%-*s ", hostw, "server")
	}
	pad := strings.Repeat(" ", max(nw-15, 0))
	switch kind {
	case KindOpeers:
		b.WriteString("     remote      " + pad + "     local      st t when poll reach   delay   offset     disp\n")
	case KindApeers:
		b.WriteString("     remote  " + pad + "     refid   assid  st t when poll reach   delay   offset   jitter\n")
	default:
		b.WriteString("     remote      " + pad + "     refid      st t when poll reach   delay   offset   jitter\n")
	}
	rule := 79 + nw - 15
	if hostw > 0 {
		rule += hostw + 1
	}
	b.WriteString(strings.Repeat("=", rule))
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// SecPeers writes an ntpq-sec peers table.
func SecPeers(w io.Writer, m *PeersModel, kind PeersKind, o RenderOptions, hostw int, hostLabel string) {
	SecPeersHeader(w, kind, o, hostw)
	for _, p := range m.Peers {
		io.WriteString(w, SecPeerRow(p, kind, o, hostw, hostLabel))
	}
}

func secRefid(r string) string {
	if r != "" && !strings.ContainsAny(r, ".:") {
		r = "." + r + "."
	}
	return r
}

func leftTrunc(s string, n int) string {
	if len(s) > n {
		return "-" + s[len(s)-(n-1):]
	}
	return s
}

func secType(pi peerInfo, kind PeersKind) byte {
	switch pi.hmode {
	case 1:
		return 's'
	case 2:
		return 'S'
	case 5:
		if isMulticast(pi.srcadr) {
			return 'M'
		}
		return 'B'
	case 6:
		return 'b'
	case 3:
		switch {
		case strings.Contains(pi.srchost, "("):
			return 'l'
		case kind != KindOpeers && pi.refid == "POOL":
			return 'p'
		case strings.HasPrefix(pi.srcadr, "224."):
			return 'a'
		case pi.haveNTS && pi.ntscookies >= 0:
			if pi.ntscookies > 9 {
				return '*'
			}
			return byte('0' + pi.ntscookies)
		}
		return 'u'
	}
	if !pi.haveHmode {
		return 'u'
	}
	return '?'
}

// f8dot4 and f8dot3 are ntpq-sec's 8-column number formats: as many of the
// wanted decimals as fit, one fewer per decade, then an integer.
func f8dot4(f float64) string { return f8(f, 4) }

func f8dot3(f float64) string { return f8(f, 3) }

func f8(f float64, decimals int) string {
	if math.IsNaN(f) {
		return "     nan"
	}
	for d := decimals; d >= 1; d-- {
		// With d decimals a positive value fits below 10^(7-d), a negative
		// one (its sign takes a column) above -10^(6-d).
		if (f >= 0 && f < math.Pow10(7-d)) || (f < 0 && f > -math.Pow10(6-d)) {
			return fmt.Sprintf("%8.*f", d, f)
		}
	}
	return fmt.Sprintf("%8d", int64(f))
}

func (pi peerInfo) secWhen(o RenderOptions) string {
	ts := pi.reftime
	if pi.recLast {
		ts = pi.rec
	}
	if ts == 0 {
		return "-"
	}
	t := ntp.Timestamp(ts).Time(o.Now)
	return prettySec(float64(int64(o.Now.Sub(t).Seconds())))
}

// secRemote is ntpq-sec's remote column text.
func secRemote(pi peerInfo, o RenderOptions) string {
	if isUnspecified(pi.srcadr) || isRefclock(pi.srcadr) {
		if pi.haveSrchost && pi.srchost != "" {
			return pi.srchost
		}
		return pi.srcadr
	}
	if o.Numeric {
		return pi.srcadr
	}
	if n, ok := o.Names[pi.srcadr]; ok {
		return strings.ToLower(n)
	}
	return pi.srcadr
}

// SecPeerRow formats one row of an ntpq-sec peers table.
func SecPeerRow(p Peer, kind PeersKind, o RenderOptions, hostw int, hostLabel string) string {
	pi := newPeerInfo(p.Vars)
	nw := secNameWidth(o.Width)
	var b strings.Builder
	if hostw > 0 {
		fmt.Fprintf(&b, "%-*s ", hostw, hostLabel)
	}
	tally := mode6.DecodePeerStatus(p.Status).Tally()
	remote := secRemote(pi, o)
	if o.Wide && len(remote) > nw {
		fmt.Fprintf(&b, "%c%s\n%*s", tally, remote, nw+2, "")
	} else {
		fmt.Fprintf(&b, "%c%-*.*s ", tally, nw, nw, remote)
	}
	last := pi.jitter
	switch kind {
	case KindOpeers:
		fmt.Fprintf(&b, "%-15s", leftTrunc(pi.dstadr, 15))
		last = pi.disp
	case KindApeers:
		r := secRefid(pi.refid)
		if len(r) >= 8 {
			r = "..."
		}
		fmt.Fprintf(&b, "%-9s%-6d", r, p.AssocID)
	default:
		fmt.Fprintf(&b, "%-15s", leftTrunc(secRefid(pi.refid), 15))
	}
	poll := prettySec(float64(int64(1) << pi.pollExp()))
	fmt.Fprintf(&b, " %2d %c %4.4s %4.4s  %3o", pi.stratum, secType(pi, kind), pi.secWhen(o), poll, pi.reach&0xff)
	fnum := f8dot3
	if pi.delayDecimals >= 6 {
		fnum = f8dot4
	}
	for _, s := range []string{pi.delay, pi.offset, last} {
		b.WriteByte(' ')
		if o.Units {
			b.WriteString(secUnitify(s))
			continue
		}
		f, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
		b.WriteString(fnum(f))
	}
	b.WriteByte('\n')
	return b.String()
}

// SecAssociations writes the associations listing of ntpq-sec.
func SecAssociations(w io.Writer, rows []AssocRow) {
	if len(rows) == 0 {
		io.WriteString(w, "No association IDs returned\n")
		return
	}
	io.WriteString(w, "\n")
	ClassicAssociations(w, rows)
}

// pyRepr formats a float like Python's repr().
func pyRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	a := math.Abs(f)
	if a < 1e-4 || a >= 1e16 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// CookSec converts one value to ntpq-sec's cooked text.
func CookSec(name, value string, o RenderOptions) string {
	switch name {
	case "leap":
		if v, ok := parseUintAuto(value); ok && v <= 3 {
			return fmt.Sprintf("%d%d", v>>1, v&1)
		}
	case "reach":
		if v, ok := parseUintAuto(value); ok {
			return fmt.Sprintf("%03o", v)
		}
	case "reftime", "clock", "org", "rec", "xmt", "leapsec", "expire":
		if ts, ok := parseTS(value); ok {
			return secDate(ts, o.Now)
		}
	case "flash":
		if v, ok := parseUintAuto(value); ok {
			return FlashText(v)
		}
	case "filtdelay", "filtoffset", "filtdisp":
		var clean []byte
		for i := 0; i < len(value); i++ {
			if value[i] < 0x7f {
				clean = append(clean, value[i])
			}
		}
		return strings.Join(strings.Fields(string(clean)), "\t")
	}
	if strings.Contains(value, ".") && isDecimal(value) {
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			return pyRepr(f)
		}
	}
	return value
}

// SecReadvar writes a readvar answer like ntpq-sec (width: terminal
// width, 0 for 80).
func SecReadvar(w io.Writer, kind VarKind, assoc uint16, status uint16, data []byte, haveList, raw bool, o RenderOptions) {
	var b strings.Builder
	if raw {
		if !haveList {
			fmt.Fprintf(&b, "associd=%d status=0x%04x,\n", assoc, status)
		}
		b.WriteString(strings.ReplaceAll(string(data), ",\r\n", ",\n"))
		io.WriteString(w, b.String())
		return
	}
	if !haveList {
		fmt.Fprintf(&b, "associd=%d status=%04x %s,\n", assoc, status, StatusText(kind, status))
	}
	vars, _ := mode6.Tokenize(data)
	width := o.Width
	if width <= 0 {
		width = 80
	}
	b.WriteString(SecCooked(vars, o, width-2))
	io.WriteString(w, b.String())
}

// SecCooked formats variables the way ntpq-sec does, wrapping at max.
func SecCooked(vars []mode6.Var, o RenderOptions, maxw int) string {
	if len(vars) == 0 {
		return ""
	}
	var text []byte
	for _, v := range vars {
		var item string
		switch v.Name {
		case "filtdelay", "filtoffset", "filtdisp":
			item = fmt.Sprintf("%10s =%s, ", v.Name, CookSec(v.Name, v.Value, o))
		default:
			item = v.Name + "=" + CookSec(v.Name, v.Value, o) + ", "
		}
		lineLen := len(text)
		if i := strings.LastIndexByte(string(text), '\n'); i >= 0 {
			lineLen = len(text) - i - 1
		}
		if lineLen+len(item) > maxw && len(text) > 0 {
			text[len(text)-1] = '\n'
		}
		text = append(text, item...)
	}
	text = append(text[:len(text)-2], '\n')
	return string(text)
}

// Units of ntpq-sec's -u display, smallest first.
var secUnits = []string{"ns", "us", "ms", "s", "ks"}

// secScale shifts a decimal number text by powers of 1000 so that its
// integer part has 1 to 3 digits (never inventing digits), returning the
// new text and how many units it moved (negative: smaller units).
func secScale(value string) (string, int) {
	v := strings.TrimSpace(value)
	neg := strings.HasPrefix(v, "-")
	v = strings.TrimLeft(v, "+-")
	whole, dec, _ := strings.Cut(v, ".")
	var nw, nd string
	moved := 0
	if whole == "" || strings.Trim(whole, "0") == "" {
		i := 0
		for i < len(dec) && dec[i] == '0' {
			i++
		}
		lo := i/3 + 1
		if len(dec) < lo*3 {
			lo = i / 3
		}
		n := lo * 3
		nw, nd, moved = strings.TrimLeft(dec[:n], "0"), dec[n:], -lo
	} else {
		whole = strings.TrimLeft(whole, "0")
		hi, hd := len(whole)/3, len(whole)%3
		if hd == 0 {
			hi, hd = hi-1, 3
		}
		nw, nd, moved = whole[:hd], whole[hd:]+dec, hi
	}
	if nw == "" {
		nw = "0"
	}
	s := nw
	if nd != "" {
		s += "." + nd
	}
	if neg {
		s = "-" + s
	}
	return s, moved
}

// secFit fits a number text into width characters: padded on the left,
// or rounded to fewer decimals when too long.
func secFit(v string, width int) string {
	if len(v) < width {
		return strings.Repeat(" ", width-len(v)) + v
	}
	if len(v) == width {
		return v
	}
	if i := strings.IndexByte(v, '.'); i >= 0 && i < width {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			decs := max(width-i-1, 0)
			s := strconv.FormatFloat(f, 'f', decs, 64)
			if len(s) <= width {
				return strings.Repeat(" ", width-len(s)) + s
			}
		}
	}
	return v
}

// secUnitify formats a millisecond value text with a unit, 8 wide, as
// ntpq-sec -u does ("14us", "2.302ms").
func secUnitify(ms string) string {
	if _, err := strconv.ParseFloat(strings.TrimSpace(ms), 64); err != nil {
		return fmt.Sprintf("%8s", ms)
	}
	v, moved := secScale(ms)
	idx := 2 + moved // ms
	if idx < 0 || idx >= len(secUnits) {
		v, idx = strings.TrimSpace(ms), 2
	}
	unit := secUnits[idx]
	return secFit(v, 8-len(unit)) + unit
}
