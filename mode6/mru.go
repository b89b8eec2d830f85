package mode6

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// READ_MRU (opcode 10) and REQ_NONCE (opcode 12): the "mrulist" exchange.
//
// The client first asks for a nonce (REQ_NONCE, no data; the answer is
// "nonce=<hex>\r\n"), then sends READ_MRU requests whose text starts with
// that nonce, followed by "frags=N" or "limit=N", the user's filters
// (mincount=, laddr=, resall=0x.., resany=0x.., maxlstint=, minlstint=,
// recent=) and, after the first request, "addr.N=a:p, last.N=0x..."
// pairs naming the newest entries already received (N=0 the newest).
// Every answer starts with a fresh nonce and lists entries oldest first as
// addr.N, last.N, first.N, ct.N, mv.N, rs.N (NTPsec adds sc.N and dr.N;
// classic ntpd shuffles the items of an entry and adds a random decoy
// item); when the list was read to its end it closes with now= and
// last.newest=. A daemon drops a request with a bad or stale nonce without
// an answer, answers UNKNOWNVAR when none of the addr/last pairs is still in
// its list (the client starts over) and BADVALUE for a bad frags/limit.

// MRU protocol constants.
const (
	// MRUNonceTimeout is how long a nonce stays valid (NONCE_TIMEOUT of
	// both daemons, seconds).
	MRUNonceTimeout = 16
	// MRUMaxLimit is the largest limit= (rows) classic ntpd accepts.
	MRUMaxLimit = 256
	// MRUMaxRequest is the largest request text ntpq builds: it adds
	// addr/last pairs while the text stays shorter than one fragment.
	MRUMaxRequest = MaxFragData
	// MRUMaxResume is how many addr.N/last.N pairs a request may carry.
	MRUMaxResume = 16
)

// MRUEntry is one row of a READ_MRU answer.
type MRUEntry struct {
	Index    int            // N of the item names in the answer
	Addr     netip.AddrPort // addr.N ("198.18.0.2:123", "[::1]:40002")
	Last     uint64         // last.N, NTP timestamp (seconds<<32 | fraction)
	First    uint64         // first.N
	Count    uint64         // ct.N: packets seen
	MV       uint8          // mv.N: mode and version of the last packet (li_vn_mode)
	RS       uint32         // rs.N: restriction flags (daemon-specific bits)
	Score    float64        // sc.N (NTPsec)
	HasScore bool
	Drop     int64 // dr.N (NTPsec): packets dropped
	HasDrop  bool
}

// Mode is the mode of the entry's last packet.
func (e *MRUEntry) Mode() uint8 { return e.MV & 7 }

// Version is the NTP version of the entry's last packet.
func (e *MRUEntry) Version() uint8 { return (e.MV >> 3) & 7 }

// MRUResponse is one parsed READ_MRU answer.
type MRUResponse struct {
	Nonce   string     // the "nonce=..." item as sent (without the name)
	Entries []MRUEntry // ascending index: oldest first
	// Now and LastNewest are set (HasNow, Complete) when the daemon
	// reached the end of its list.
	Now        uint64
	HasNow     bool
	LastNewest uint64
	Complete   bool
}

// ErrMRUSyntax is wrapped by the MRU parsers for malformed input.
var ErrMRUSyntax = errors.New("mode6: bad mrulist item")

// mruField numbers the per-entry items.
const (
	mfAddr = 1 << iota
	mfLast
	mfFirst
	mfCount
	mfMV
	mfRS
)

// ParseMRUResponse decodes the text of a READ_MRU answer. Items it does not
// know (classic's decoys, future additions) are ignored; an entry needs at
// least addr.N and last.N. Entries come back sorted by index. It never
// panics; the number of entries is bounded by the number of items
// Tokenize accepts.
func ParseMRUResponse(data []byte) (MRUResponse, error) {
	var r MRUResponse
	vars, err := Tokenize(data)
	if err != nil {
		return r, err
	}
	idx := map[int]int{} // index -> position in r.Entries
	have := []int{}
	for _, v := range vars {
		switch v.Name {
		case "nonce":
			r.Nonce = v.Value
			continue
		case "now":
			ts, err := ParseTimestamp(v.Value)
			if err != nil {
				return r, fmt.Errorf("%w: now=%q", ErrMRUSyntax, v.Value)
			}
			r.Now, r.HasNow = ts, true
			continue
		case "last.newest":
			ts, err := ParseTimestamp(v.Value)
			if err != nil {
				return r, fmt.Errorf("%w: last.newest=%q", ErrMRUSyntax, v.Value)
			}
			r.LastNewest, r.Complete = ts, true
			continue
		case "last.older", "addr.older":
			continue
		}
		tag, num, ok := strings.Cut(v.Name, ".")
		if !ok {
			continue
		}
		var bit int
		switch tag {
		case "addr":
			bit = mfAddr
		case "last":
			bit = mfLast
		case "first":
			bit = mfFirst
		case "ct":
			bit = mfCount
		case "mv":
			bit = mfMV
		case "rs":
			bit = mfRS
		case "sc", "dr":
		default:
			continue // decoy or unknown item
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 0xffff || num[0] == '+' {
			return r, fmt.Errorf("%w: %s", ErrMRUSyntax, v.Name)
		}
		pos, ok := idx[n]
		if !ok {
			pos = len(r.Entries)
			idx[n] = pos
			r.Entries = append(r.Entries, MRUEntry{Index: n})
			have = append(have, 0)
		}
		e := &r.Entries[pos]
		if err := setMRUField(e, tag, v.Value); err != nil {
			return r, err
		}
		have[pos] |= bit
	}
	for i := range r.Entries {
		if have[i]&(mfAddr|mfLast) != mfAddr|mfLast {
			return r, fmt.Errorf("%w: entry %d lacks addr or last", ErrMRUSyntax, r.Entries[i].Index)
		}
	}
	// Answers arrive sorted already; a hostile one costs n log n, not n².
	slices.SortFunc(r.Entries, func(a, b MRUEntry) int { return a.Index - b.Index })
	return r, nil
}

func setMRUField(e *MRUEntry, tag, val string) error {
	bad := func() error { return fmt.Errorf("%w: %s.%d=%q", ErrMRUSyntax, tag, e.Index, val) }
	switch tag {
	case "addr":
		ap, err := ParseMRUAddr(val)
		if err != nil {
			return bad()
		}
		e.Addr = ap
	case "last", "first":
		ts, err := ParseTimestamp(val)
		if err != nil {
			return bad()
		}
		if tag == "last" {
			e.Last = ts
		} else {
			e.First = ts
		}
	case "ct":
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return bad()
		}
		e.Count = n
	case "mv":
		n, err := strconv.ParseUint(val, 0, 8)
		if err != nil {
			return bad()
		}
		e.MV = uint8(n)
	case "rs":
		n, err := ParseHex(val)
		if err != nil || n > 0xffffffff {
			return bad()
		}
		e.RS = uint32(n)
	case "sc":
		f, err := ParseFloat(val)
		if err != nil {
			return bad()
		}
		e.Score, e.HasScore = f, true
	case "dr":
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return bad()
		}
		e.Drop, e.HasDrop = n, true
	}
	return nil
}

// ParseMRUAddr parses addr.N values: "a.b.c.d:port" or "[v6]:port"; a
// missing port is 0 (a bare IPv6 address is accepted too).
func ParseMRUAddr(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: address %q", ErrMRUSyntax, s)
	}
	return netip.AddrPortFrom(a, 0), nil
}

// AppendMRUAddr appends an address the way the daemons send addr.N:
// "198.18.0.2:123" or "[fd00::2]:123" (IPv4-mapped addresses unmapped).
func AppendMRUAddr(dst []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	if a.Is6() {
		dst = append(dst, '[')
		dst = a.AppendTo(dst)
		dst = append(dst, ']')
	} else {
		dst = a.AppendTo(dst)
	}
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(ap.Port()), 10)
}

// MRUResume is one addr.N/last.N pair of a follow-up request.
type MRUResume struct {
	Addr netip.AddrPort
	Last uint64
}

// MRURequest is a parsed READ_MRU request (the daemon side).
type MRURequest struct {
	Nonce     string
	Frags     int // frags=; 0 when absent
	Limit     int // limit=; 0 when absent
	HasFrags  bool
	HasLimit  bool
	MinCount  uint64 // mincount=
	ResAll    uint32 // resall=: every one of these restrict bits set
	ResAny    uint32 // resany=: at least one of these set
	MaxLstInt int64  // maxlstint= (seconds; <0 absent)
	MinLstInt int64  // minlstint= (NTPsec; <0 absent)
	Recent    int    // recent= (NTPsec); 0 absent
	Laddr     netip.Addr
	// Resume holds the addr.N/last.N pairs by N (Resume[0] is the newest
	// entry the client holds). Pairs missing either half are dropped.
	Resume []MRUResume
	// Unknown are item names the daemon does not know (classic ntpd ignores them).
	Unknown []string
}

// ParseMRURequest decodes the text of a READ_MRU request. Values that do
// not parse are an error (the daemon answers BADVALUE); unknown names are
// collected in Unknown. It never panics.
func ParseMRURequest(data []byte) (MRURequest, error) {
	r := MRURequest{MaxLstInt: -1, MinLstInt: -1}
	vars, err := Tokenize(data)
	if err != nil {
		return r, err
	}
	var addrs [MRUMaxResume]netip.AddrPort
	var lasts [MRUMaxResume]uint64
	var haveA, haveL [MRUMaxResume]bool
	for _, v := range vars {
		bad := func() error { return fmt.Errorf("%w: %s=%q", ErrMRUSyntax, v.Name, v.Value) }
		uintVal := func() (uint64, error) {
			n, err := strconv.ParseUint(v.Value, 0, 64)
			if err != nil {
				return 0, bad()
			}
			return n, nil
		}
		switch v.Name {
		case "nonce":
			r.Nonce = v.Value
			continue
		case "frags", "limit":
			n, err := uintVal()
			if err != nil {
				return r, err
			}
			if n > 1<<20 {
				n = 1 << 20
			}
			if v.Name == "frags" {
				r.Frags, r.HasFrags = int(n), true
			} else {
				r.Limit, r.HasLimit = int(n), true
			}
			continue
		case "mincount":
			n, err := uintVal()
			if err != nil {
				return r, err
			}
			r.MinCount = n
			continue
		case "resall", "resany":
			n, err := ParseHex(v.Value)
			if err != nil || n > 0xffffffff {
				return r, bad()
			}
			if v.Name == "resall" {
				r.ResAll = uint32(n)
			} else {
				r.ResAny = uint32(n)
			}
			continue
		case "maxlstint", "minlstint":
			n, err := uintVal()
			if err != nil {
				return r, err
			}
			n = min(n, 1<<40)
			if v.Name == "maxlstint" {
				r.MaxLstInt = int64(n)
			} else {
				r.MinLstInt = int64(n)
			}
			continue
		case "recent":
			n, err := uintVal()
			if err != nil {
				return r, err
			}
			r.Recent = int(min(n, 1<<20))
			continue
		case "laddr":
			a, err := netip.ParseAddr(strings.Trim(v.Value, "[]"))
			if err != nil {
				return r, bad()
			}
			r.Laddr = a
			continue
		}
		tag, num, ok := strings.Cut(v.Name, ".")
		if ok && (tag == "addr" || tag == "last") {
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 || num[0] == '+' {
				return r, bad()
			}
			if n >= MRUMaxResume {
				continue // more than fits in one request: ignore
			}
			if tag == "addr" {
				ap, err := ParseMRUAddr(v.Value)
				if err != nil {
					return r, bad()
				}
				addrs[n], haveA[n] = ap, true
			} else {
				ts, err := ParseTimestamp(v.Value)
				if err != nil {
					return r, bad()
				}
				lasts[n], haveL[n] = ts, true
			}
			continue
		}
		if len(r.Unknown) < 8 {
			r.Unknown = append(r.Unknown, v.Name)
		}
	}
	for i := range addrs {
		if haveA[i] && haveL[i] {
			r.Resume = append(r.Resume, MRUResume{Addr: addrs[i], Last: lasts[i]})
		}
	}
	return r, nil
}

// MRUParam is one user parameter of a READ_MRU request, in the order the
// client sends it ("mincount", "2").
type MRUParam struct{ Name, Value string }

// AppendMRURequest builds the text of a READ_MRU request the way both ntpq
// front ends do: "nonce=..., frags=N" (or "limit=N" when frags is 0), the
// parameters, then addr.N/last.N pairs from resume (newest first) while
// the text stays shorter than MRUMaxRequest octets.
func AppendMRURequest(dst []byte, nonce string, frags, limit int, params []MRUParam, resume []MRUResume) []byte {
	start := len(dst)
	dst = append(dst, "nonce="...)
	dst = append(dst, nonce...)
	if frags > 0 {
		dst = append(dst, ", frags="...)
		dst = strconv.AppendInt(dst, int64(frags), 10)
	} else {
		dst = append(dst, ", limit="...)
		dst = strconv.AppendInt(dst, int64(limit), 10)
	}
	for _, p := range params {
		dst = append(dst, ", "...)
		dst = append(dst, p.Name...)
		dst = append(dst, '=')
		dst = append(dst, p.Value...)
	}
	var pair []byte
	for i, r := range resume {
		if i >= MRUMaxResume {
			break
		}
		pair = append(pair[:0], ", addr."...)
		pair = strconv.AppendInt(pair, int64(i), 10)
		pair = append(pair, '=')
		pair = AppendMRUAddr(pair, r.Addr)
		pair = append(pair, ", last."...)
		pair = strconv.AppendInt(pair, int64(i), 10)
		pair = append(pair, '=')
		pair = AppendTimestamp(pair, r.Last)
		if len(dst)-start+len(pair) >= MRUMaxRequest {
			break
		}
		dst = append(dst, pair...)
	}
	return dst
}

// ParseNonceResponse extracts the nonce from a REQ_NONCE answer
// ("nonce=<hex>\r\n").
func ParseNonceResponse(data []byte) (string, error) {
	s := strings.TrimRight(string(data), "\r\n\x00 ")
	v, ok := strings.CutPrefix(s, "nonce=")
	if !ok || v == "" || len(v) > 64 || strings.ContainsAny(v, ", \r\n\"=") {
		return "", fmt.Errorf("%w: nonce answer %q", ErrMRUSyntax, truncate(s, 40))
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// PutMRUEntry writes one entry as index n: addr.n, last.n, first.n, ct.n,
// mv.n, rs.n, and sc.n/dr.n when set (the daemon side of READ_MRU).
func (e *VarEncoder) PutMRUEntry(n int, m *MRUEntry) {
	var name [16]byte
	item := func(tag string) string {
		b := append(name[:0], tag...)
		b = append(b, '.')
		return string(strconv.AppendInt(b, int64(n), 10))
	}
	e.Begin(item("addr"))
	e.b = AppendMRUAddr(e.b, m.Addr)
	e.End()
	e.Timestamp(item("last"), m.Last)
	e.Timestamp(item("first"), m.First)
	e.Uint(item("ct"), m.Count)
	e.Uint(item("mv"), uint64(m.MV))
	e.Hex(item("rs"), uint64(m.RS))
	if m.HasScore {
		e.Fixed(item("sc"), m.Score, 3)
	}
	if m.HasDrop {
		e.Int(item("dr"), m.Drop)
	}
}
