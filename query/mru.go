package query

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// mrulist: the MRU (most recently used) source list of a daemon, read with
// REQ_NONCE + READ_MRU (see mode6/mru.go for the exchange).

// Restriction bits the two front ends test for the r column and set for
// the kod/limited arguments (their daemons number them differently).
const (
	classicResLimited = 0x0040
	classicResKoD     = 0x0800
	secResLimited     = 0x0020
	secResKoD         = 0x0400
)

// MRUArgs are the parsed arguments of the mrulist command.
type MRUArgs struct {
	// Params are sent to the daemon in every request, in order; First are
	// sent only in the first one (NTPsec's recent=).
	Params []mode6.MRUParam
	First  []mode6.MRUParam
	Sort   string // sort key as given ("" or "lstint": most recent first)
	Frags  int    // fragments asked for per answer (default 32)
	Limit  int    // rows per answer instead of frags (limit=)
	// Ignored are classic's "ignoring unrecognized mrulist parameter"
	// items (classic style only).
	Ignored []string
}

// ParseMRUArgs parses mrulist arguments ("mincount=2", "sort=-count",
// "kod", ...) the way the selected front end does. ntpq-classic sends
// mincount, laddr, resall, resany, maxlstint in the order given, kod and
// limited as resany, and ignores (with a message) anything else; ntpq-sec
// also knows minlstint, mindrop, minscore, recent, frags and limit, merges
// kod/limited into one resany, and refuses unknown names.
func ParseMRUArgs(args []string, style Style) (MRUArgs, error) {
	a := MRUArgs{Frags: mode6.MaxFrags}
	if style == StyleNTPsec {
		return parseSecMRUArgs(args)
	}
	for _, arg := range args {
		name, val, hasVal := strings.Cut(arg, "=")
		switch {
		case !hasVal && name == "kod":
			a.Params = append(a.Params, mode6.MRUParam{Name: "resany", Value: "0x" + strconv.FormatUint(classicResKoD, 16)})
		case !hasVal && name == "limited":
			a.Params = append(a.Params, mode6.MRUParam{Name: "resany", Value: "0x" + strconv.FormatUint(classicResLimited, 16)})
		case hasVal && (name == "mincount" || name == "maxlstint" || name == "laddr" || name == "resall" || name == "resany"):
			a.Params = append(a.Params, mode6.MRUParam{Name: name, Value: val})
		case hasVal && name == "sort":
			a.Sort = val
		default:
			a.Ignored = append(a.Ignored, arg)
		}
	}
	return a, nil
}

// secParamOK reports whether ntpq-sec accepts the parameter name.
func secParamOK(name string) bool {
	switch name {
	case "mincount", "mindrop", "minscore", "resall", "resany", "kod", "limited", "maxlstint",
		"minlstint", "laddr", "recent", "sort", "frags", "limit":
		return true
	}
	return false
}

// secValue converts a value as ntpq-sec does (Python's int(v, 0), else
// float, else the string without surrounding quotes: pyParse) and formats
// it back (str()); the number for resall/resany and whether it is an int.
func secValue(v string) (string, int64, bool) {
	p := pyParse(v)
	switch {
	case p.kind == pyInt && p.big == nil:
		return p.String(), p.i, true
	case p.kind == pyFloat:
		return p.String(), int64(p.f), false
	}
	return p.String(), 0, false
}

func parseSecMRUArgs(args []string) (MRUArgs, error) {
	a := MRUArgs{Frags: mode6.MaxFrags}
	type kv struct {
		name, val string
		num       int64
		isInt     bool
	}
	var vars []kv
	index := map[string]int{}
	for _, arg := range args {
		name, val, hasVal := strings.Cut(arg, "=")
		v := kv{name: strings.TrimSpace(name), val: "True"}
		if hasVal {
			v.val, v.num, v.isInt = secValue(strings.TrimSpace(val))
		}
		if i, ok := index[v.name]; ok {
			vars[i] = v // a later duplicate replaces the value in place
			continue
		}
		index[v.name] = len(vars)
		vars = append(vars, v)
	}
	resany, haveResany := int64(0), false
	var kept []kv
	for _, v := range vars {
		if !secParamOK(v.name) {
			tag, num, ok := strings.Cut(v.name, ".")
			n, err := strconv.Atoi(num)
			if !ok || (tag != "addr" && tag != "last") || err != nil || n < 0 || n > 15 || strconv.Itoa(n) != num {
				return a, fmt.Errorf("***Unknown parameter '%s'", v.name)
			}
		}
		switch v.name {
		case "sort":
			a.Sort = v.val
			continue
		case "frags":
			if v.isInt {
				a.Frags = int(v.num)
			}
			continue
		case "kod", "limited":
			continue
		case "resany":
			resany, haveResany = v.num, true
		}
		kept = append(kept, v)
	}
	if _, ok := index["kod"]; ok {
		resany |= secResKoD
		if !haveResany {
			kept = append(kept, kv{name: "resany"})
			haveResany = true
		}
	}
	if _, ok := index["limited"]; ok {
		resany |= secResLimited
		if !haveResany {
			kept = append(kept, kv{name: "resany"})
			haveResany = true
		}
	}
	switch a.Sort {
	case "", "lstint", "-lstint", "avgint", "-avgint", "addr", "-addr", "count", "-count",
		"score", "-score", "drop", "-drop":
	default:
		return a, fmt.Errorf("***Sort order %s is not implemented", a.Sort)
	}
	for _, v := range kept {
		p := mode6.MRUParam{Name: v.name, Value: v.val}
		switch v.name {
		case "resall":
			p.Value = "0x" + strconv.FormatInt(v.num, 16)
		case "resany":
			p.Value = "0x" + strconv.FormatInt(resany, 16)
		}
		if v.name == "recent" {
			a.First = append(a.First, p)
			continue
		}
		a.Params = append(a.Params, p)
	}
	if a.Frags <= 0 || a.Frags > mode6.MaxFrags {
		a.Frags = mode6.MaxFrags
	}
	return a, nil
}

// MRUList is a daemon's MRU list as collected.
type MRUList struct {
	Host string
	// Entries are unique by address and port, oldest first (the order the
	// daemon sent them; an entry sent again moves to its newer place).
	Entries []mode6.MRUEntry
	// Now is the daemon's clock at the end of the collection (now=); when
	// the collection was not complete, the client's clock.
	Now      uint64
	Complete bool
	Slots    int // entries received, duplicates included (ntpq-sec's slots)
	Updates  int // entries received again (ntpq-classic's updates)
	Requests int // READ_MRU requests sent
}

// MRUFetch configures FetchMRU.
type MRUFetch struct {
	Args MRUArgs
	// Now returns the current wall-clock time: the age of a nonce (a new one
	// is asked for after 16 s) and Now of an incomplete list. nil: the
	// session's clock.
	Now func() time.Time
	// MaxRequests bounds the READ_MRU requests of one collection (default
	// 4096); MaxEntries the entries kept (default 1<<20).
	MaxRequests int
	MaxEntries  int
}

// Errors of FetchMRU.
var (
	// ErrNonce: the daemon did not answer REQ_NONCE with a nonce.
	ErrNonce = errors.New("nonce request failed")
	// ErrMRUStall: the daemon kept answering that none of the entries named
	// in the request is still in its list (a busy server with a small list).
	ErrMRUStall = errors.New("no response, probably high-traffic server with low MRU limit")
)

// NonceError wraps the failure of the REQ_NONCE request.
type NonceError struct{ Err error }

func (e *NonceError) Error() string { return "nonce request: " + e.Err.Error() }
func (e *NonceError) Unwrap() error { return e.Err }

// fetchNonce asks for a nonce, up to 4 times when the answer is not one
// (as ntpq-sec does).
func (s *Session) fetchNonce(ctx context.Context) (string, error) {
	var last error
	for range 4 {
		r, err := s.Request(ctx, mode6.OpReqNonce, 0, nil)
		if err != nil {
			return "", &NonceError{Err: err}
		}
		n, err := mode6.ParseNonceResponse(r.Data)
		if err == nil {
			return n, nil
		}
		last = err
	}
	return "", &NonceError{Err: fmt.Errorf("%w: %v", ErrNonce, last)}
}

// FetchMRU reads the whole MRU list: a nonce, then READ_MRU requests, each
// naming the newest entries already received so the daemon continues
// after them, until an answer ends with now=/last.newest=. A daemon that no
// longer has any of the named entries answers UNKNOWNVAR and the
// collection restarts (at most 8 times); BADVALUE turns frags= into
// limit= and then lowers the limit; a lost answer halves the request (9
// in a row end the collection).
// Every loop is bounded (MaxRequests). On error the entries collected so
// far are returned with it.
func (s *Session) FetchMRU(ctx context.Context, f MRUFetch) (*MRUList, error) {
	now := f.Now
	if now == nil {
		now = s.opts.Wall
	}
	maxReq := f.MaxRequests
	if maxReq <= 0 {
		maxReq = 4096
	}
	maxEnt := f.MaxEntries
	if maxEnt <= 0 {
		maxEnt = 1 << 20
	}
	l := &MRUList{Host: s.Host}
	nonce, err := s.fetchNonce(ctx)
	if err != nil {
		return l, err
	}
	nonceAt := now()
	frags, limit := f.Args.Frags, f.Args.Limit
	if frags <= 0 || frags > mode6.MaxFrags {
		frags = mode6.MaxFrags
	}
	useFrags := limit <= 0
	if limit <= 0 {
		limit = min(3*mode6.MaxFrags, mode6.MRUMaxLimit)
	}
	rowLimit := mode6.MRUMaxLimit
	pos := map[netip.AddrPort]int{} // index into l.Entries of the live copy
	// An entry sent again is appended and its older copy marked dead;
	// dead copies are dropped in one pass when they are half of the list
	// (and on return), so updates cost O(1) amortized, not a shift of
	// the list each.
	var dead []bool // parallel to l.Entries
	ndead := 0
	compact := func() {
		if ndead == 0 {
			return
		}
		n := 0
		for i, e := range l.Entries {
			if !dead[i] {
				l.Entries[n] = e
				pos[e.Addr] = n
				n++
			}
		}
		l.Entries, dead, ndead = l.Entries[:n], dead[:n], 0
		clear(dead)
	}
	defer func() {
		compact()
		if !l.Complete {
			l.Now = uint64(ntp.TimestampFromTime(now()))
		}
	}()
	restarts, idle, lost := 0, 0, 0
	var buf []byte
	resume := func() []mode6.MRUResume {
		var r []mode6.MRUResume
		for i := len(l.Entries) - 1; i >= 0 && len(r) < mode6.MRUMaxResume; i-- {
			if !dead[i] {
				r = append(r, mode6.MRUResume{Addr: l.Entries[i].Addr, Last: l.Entries[i].Last})
			}
		}
		return r
	}
	params := append(append([]mode6.MRUParam(nil), f.Args.First...), f.Args.Params...)
	var pairs []mode6.MRUResume
	for l.Requests < maxReq {
		fr, lim := 0, limit
		if useFrags {
			fr = frags
		}
		buf = mode6.AppendMRURequest(buf[:0], nonce, fr, lim, params, pairs)
		l.Requests++
		r, err := s.Request(ctx, mode6.OpReadMRU, 0, buf)
		params = f.Args.Params
		var se *mode6.ServerError
		var te *TimeoutError
		switch {
		case err == nil:
		case errors.As(err, &se) && se.Code == mode6.ErrCodeUnknownVar:
			restarts++
			if restarts > 8 {
				return l, ErrMRUStall
			}
			pairs = nil
			continue
		case errors.As(err, &se) && se.Code == mode6.ErrCodeBadValue:
			if useFrags {
				useFrags = false
			} else {
				rowLimit = max(1, rowLimit-1)
				limit = min(limit, rowLimit)
				if limit <= 1 {
					return l, err
				}
			}
			continue
		case errors.As(err, &te) && !te.Nothing:
			// Each costs a fragment timeout: give up after 8 in a row
			// (the request is at its smallest after 4).
			lost++
			if lost > 8 {
				return l, err
			}
			if useFrags {
				frags = max(2, frags/2)
			} else {
				limit = max(2, limit/2)
			}
			continue
		default:
			return l, err
		}
		lost = 0
		resp, perr := mode6.ParseMRUResponse(r.Data)
		if resp.Nonce != "" {
			nonce, nonceAt = resp.Nonce, now()
		}
		if perr != nil {
			return l, perr
		}
		if len(resp.Entries) == 0 && !resp.Complete {
			// Nothing new and not finished (e.g. a filter matched no entry of
			// this span): bounded, unlike ntpq-sec's endless loop.
			idle++
			if idle >= 8 {
				return l, ErrMRUStall
			}
		} else {
			idle = 0
		}
		for _, e := range resp.Entries {
			l.Slots++
			if i, ok := pos[e.Addr]; ok {
				l.Updates++
				if e.Last < l.Entries[i].Last {
					continue
				}
				dead[i] = true
				ndead++
				delete(pos, e.Addr)
			}
			if len(l.Entries)-ndead >= maxEnt {
				continue
			}
			pos[e.Addr] = len(l.Entries)
			l.Entries = append(l.Entries, e)
			dead = append(dead, false)
		}
		if ndead > len(l.Entries)/2 {
			compact()
		}
		if resp.Complete || resp.HasNow {
			l.Complete = true
			l.Now = resp.Now
			return l, nil
		}
		if useFrags {
			frags = min(mode6.MaxFrags, frags+1)
		} else {
			limit = min(3*mode6.MaxFrags, rowLimit, max(limit+1, limit*33/32))
		}
		if now().Sub(nonceAt) >= mode6.MRUNonceTimeout*time.Second {
			if nonce, err = s.fetchNonce(ctx); err != nil {
				return l, err
			}
			nonceAt = now()
		}
		pairs = resume()
		if ctx.Err() != nil {
			return l, ctx.Err()
		}
	}
	return l, ErrMRUStall
}

// ntpFloat converts an NTP timestamp to seconds (era 0).
func ntpFloat(ts uint64) float64 {
	return float64(ts>>32) + float64(uint32(ts))/4294967296.0
}

// tsDiff is a - b in seconds (timestamps within one era of each other).
func tsDiff(a, b uint64) float64 { return float64(int64(a-b)) / 4294967296.0 }
