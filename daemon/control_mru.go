package daemon

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// mrulist on the daemon side: REQ_NONCE (opcode 12) and READ_MRU (opcode
// 10) answered from the MRU table (mru.go), as classic ntpd does:
//
//   - REQ_NONCE answers "nonce=<24 hex digits>\r\n": the receive time
//     (NTP seconds and fraction) and a 32-bit MAC of it and the source
//     address under a secret of this responder;
//   - READ_MRU needs a nonce that this responder issued to the same source
//     address less than 16 s ago; anything else is dropped without an
//     answer (so a spoofed source never gets the list, and a stale nonce is
//     silence, as from classic ntpd and NTPsec);
//   - the answer lists entries oldest first as addr.N, last.N, first.N,
//     ct.N, mv.N, rs.N after a fresh nonce, and closes with now= and
//     last.newest= when it reached the newest entry. frags= (at most 32) or
//     limit= (1..256, else BADVALUE) bound it; addr.N/last.N pairs name
//     entries the client has, and the answer continues after the newest
//     of them still unchanged in the table (UNKNOWNVAR when none is);
//     mincount=, maxlstint=, minlstint=, resall=, resany= and recent= filter;
//   - "disable monitor" (no table, or one kept only for rate limiting)
//     answers an empty list; "restrict ... noquery" drops both opcodes
//     (Handle), "nomrulist" answers READ_MRU with PERMISSION.
//
// The table records client requests (mode 3) only, with the source port
// and NTP version of each source's last packet: mv is that version and
// mode 3. rs holds the restriction bits of the address now (classic ntpd's
// numbering); like classic, limited (and kod, when configured) appear only
// when the source's last packet was actually over the rate.

// mruControl is the READ_MRU/REQ_NONCE state of one Control (one serving
// goroutine). All responders of a daemon share the nonce secret (when it
// has a table; without one the list is empty anyway and each responder
// has its own).
type mruControl struct {
	list    *MRU
	monitor bool
	start   ntp.Timestamp // NTP time of the table's time base zero
	flags   func(netip.Addr) ntpconf.RestrictFlags
	peer    *netip.AddrPort // source of the request being answered
	key     [32]byte
	ents    []MRUEntry
	text    []byte
}

// Classic ntpd's restriction bits (ntp.h of 4.2.8), as sent in rs.N.
const (
	resIgnore     = 0x0001
	resDontServe  = 0x0002
	resDontTrust  = 0x0004
	resVersion    = 0x0008
	resNoPeer     = 0x0010
	resNoQuery    = 0x0080
	resNoModify   = 0x0100
	resNoTrap     = 0x0200
	resLPTrap     = 0x0400
	resNoMRUList  = 0x4000
	resLimited    = 0x0040
	resKoD        = 0x0800
	mruEntryBound = 230 // octets an entry's items take at most
	mruTailBound  = 80  // now= and last.newest=
)

func classicResBits(f ntpconf.RestrictFlags) uint32 {
	var rs uint32
	for _, m := range [...]struct {
		f   ntpconf.RestrictFlags
		bit uint32
	}{
		{ntpconf.RestrictIgnore, resIgnore}, {ntpconf.RestrictNoServe, resDontServe},
		{ntpconf.RestrictNoTrust, resDontTrust}, {ntpconf.RestrictVersion, resVersion},
		{ntpconf.RestrictNoPeer, resNoPeer}, {ntpconf.RestrictNoQuery, resNoQuery},
		{ntpconf.RestrictNoModify, resNoModify}, {ntpconf.RestrictNoTrap, resNoTrap},
		{ntpconf.RestrictLowPrioTrap, resLPTrap}, {ntpconf.RestrictNoMRUList, resNoMRUList},
	} {
		if f.Has(m.f) {
			rs |= m.bit
		}
	}
	return rs
}

// attachMRU gives c the daemon's source table and a view of the source
// address of the request being handled (the worker's w.to).
func (c *Control) attachMRU(d *Daemon, peer *netip.AddrPort) {
	m := &mruControl{list: d.mru, monitor: d.monitor, peer: peer,
		start: ntp.TimestampFromTime(d.start), flags: d.restrict.Flags}
	if d.mru != nil {
		// One secret for all responders of the daemon (a nonce stays valid
		// when the hot path moves a client to another socket), derived from
		// the table's random hash seed without revealing it.
		h := sha256.New()
		h.Write([]byte("ntpkit mrulist nonce key"))
		h.Write(binary.BigEndian.AppendUint64(nil, d.mru.seed))
		copy(m.key[:], h.Sum(nil))
	} else {
		_, _ = rand.Read(m.key[:])
	}
	c.mru = m
}

// nonceMAC is the 32-bit MAC of a nonce's time for addr.
func (m *mruControl) nonceMAC(ts ntp.Timestamp, addr netip.Addr) uint32 {
	h := hmac.New(sha256.New, m.key[:])
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ts))
	a := addr.Unmap().As16()
	copy(b[8:], a[:])
	h.Write(b[:])
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// appendNonce appends the 24 hex digits of a nonce issued at now to addr.
func (m *mruControl) appendNonce(dst []byte, now ntp.Timestamp, addr netip.Addr) []byte {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now))
	binary.BigEndian.PutUint32(b[8:], m.nonceMAC(now, addr))
	return hex.AppendEncode(dst, b[:])
}

// validNonce reports whether s is a nonce issued to addr less than
// MRUNonceTimeout seconds before now.
func (m *mruControl) validNonce(s string, now ntp.Timestamp, addr netip.Addr) bool {
	if len(s) != 24 {
		return false
	}
	var b [12]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return false
	}
	ts := ntp.Timestamp(binary.BigEndian.Uint64(b[:8]))
	age := now.Sub(ts)
	if age < 0 || age >= mode6.MRUNonceTimeout*time.Second {
		return false
	}
	return hmac.Equal(b[8:], binary.BigEndian.AppendUint32(nil, m.nonceMAC(ts, addr)))
}

// handleMRU answers REQ_NONCE and READ_MRU (the dispatch in Handle).
func (c *Control) handleMRU(h mode6.Header, data []byte, leap uint8, now ntp.Timestamp, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	m := c.mru
	if m == nil || m.peer == nil {
		return c.fail(h, leap, mode6.ErrCodeBadOp, send)
	}
	src := m.peer.Addr().Unmap()
	tmpl := mode6.ReplyHeader(h, leap, 0)
	if h.Op == mode6.OpReqNonce {
		e := &c.enc
		e.Reset(c.text[:0])
		e.Begin("nonce")
		e.Append(m.appendNonce(m.text[:0], now, src)...)
		e.End()
		return c.finishVars(tmpl, send)
	}
	req, err := mode6.ParseMRURequest(data)
	if !m.validNonce(req.Nonce, now, src) {
		return CtlDropped, 0
	}
	if err != nil {
		return c.fail(h, leap, mode6.ErrCodeBadValue, send)
	}
	if m.flags != nil && m.flags(src).Has(ntpconf.RestrictNoMRUList) {
		return c.fail(h, leap, mode6.ErrCodePermission, send)
	}
	frags, limit := mode6.MaxFrags, mode6.MRUMaxLimit
	if req.HasLimit {
		if req.Limit < 1 || req.Limit > mode6.MRUMaxLimit {
			return c.fail(h, leap, mode6.ErrCodeBadValue, send)
		}
		limit = req.Limit
	}
	if req.HasFrags {
		if req.Frags < 1 {
			return c.fail(h, leap, mode6.ErrCodeBadValue, send)
		}
		frags = min(req.Frags, mode6.MaxFrags)
	}
	// Snapshot of the table, oldest first.
	m.ents = m.ents[:0]
	if m.list != nil && m.monitor {
		m.ents = m.list.AppendEntries(m.ents)
	}
	for i, j := 0, len(m.ents)-1; i < j; i, j = i+1, j-1 {
		m.ents[i], m.ents[j] = m.ents[j], m.ents[i]
	}
	ts := func(ns int64) ntp.Timestamp { return m.start.Add(time.Duration(ns)) }
	from := 0
	if len(req.Resume) > 0 {
		from = -1
		for _, r := range req.Resume {
			for i := range m.ents {
				if m.ents[i].Addr == r.Addr.Addr().Unmap() && uint64(ts(m.ents[i].Last)) == r.Last {
					from = i + 1
					break
				}
			}
			if from >= 0 {
				break
			}
		}
		if from < 0 {
			return c.fail(h, leap, mode6.ErrCodeUnknownVar, send)
		}
	}
	if req.Recent > 0 && len(req.Resume) == 0 {
		from = max(0, len(m.ents)-req.Recent)
	}
	e := &c.enc
	e.Reset(c.text[:0])
	if len(req.Resume) > 0 && from > 0 {
		// The entry the answer continues after (ntpq-classic insists on it).
		older := &m.ents[from-1]
		e.Timestamp("last.older", uint64(ts(older.Last)))
		e.Begin("addr.older")
		e.Append(mode6.AppendMRUAddr(m.text[:0], netip.AddrPortFrom(older.Addr, older.Port))...)
		e.End()
	}
	e.Begin("nonce")
	e.Append(m.appendNonce(m.text[:0], now, src)...)
	e.End()
	budget := frags*(mode6.MaxFragData-2) - mruTailBound
	rows, done := 0, true
	var row mode6.MRUEntry
	// last.newest is the last entry the answer sends (ntpq-classic checks it
	// against the last one it got): the resumed-after one when none is, now
	// when there is neither.
	newest := now
	if len(req.Resume) > 0 && from > 0 {
		newest = ts(m.ents[from-1].Last)
	}
	for i := from; i < len(m.ents); i++ {
		en := &m.ents[i]
		last := ts(en.Last)
		lst := now.Sub(last)
		rs := uint32(0)
		if m.flags != nil {
			f := m.flags(en.Addr)
			rs = classicResBits(f)
			if en.Limited {
				rs |= resLimited
				if f.Has(ntpconf.RestrictKOD) {
					rs |= resKoD
				}
			}
		}
		if en.Count < req.MinCount ||
			(req.MaxLstInt >= 0 && lst > time.Duration(req.MaxLstInt)*time.Second) ||
			(req.MinLstInt >= 0 && lst < time.Duration(req.MinLstInt)*time.Second) ||
			rs&req.ResAll != req.ResAll || (req.ResAny != 0 && rs&req.ResAny == 0) {
			continue
		}
		if rows >= limit || len(e.Bytes())+mruEntryBound > budget {
			done = false
			break
		}
		row = mode6.MRUEntry{Addr: netip.AddrPortFrom(en.Addr, en.Port), Last: uint64(last), First: uint64(ts(en.First)),
			Count: en.Count, MV: en.Version<<3 | uint8(ntp.ModeClient), RS: rs}
		e.PutMRUEntry(rows, &row)
		rows++
		newest = last
	}
	if done {
		e.Timestamp("now", uint64(now))
		e.Timestamp("last.newest", uint64(newest))
	}
	return c.finishVars(tmpl, send)
}
