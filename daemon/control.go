package daemon

import (
	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// SystemInfo is the static text of the system variables.
type SystemInfo struct {
	Version   string // version="..."
	Processor string // processor="x86_64"
	System    string // system="Linux/6.1.0"
}

// Snapshot is the engine state a control query reports.
type Snapshot struct {
	Sys   *ntpsync.SystemState
	Peers []ntpsync.PeerState // ascending association id
}

// ControlOutcome says what Control.Handle did with a request.
type ControlOutcome uint8

const (
	// CtlAnswered: a normal response was sent.
	CtlAnswered ControlOutcome = iota
	// CtlError: an error response was sent (see the returned code).
	CtlError
	// CtlDropped: nothing was sent (malformed, a response, or noquery).
	CtlDropped
	// CtlRestricted: nothing was sent because of ignore/noquery.
	CtlRestricted
)

// MaxControlReply is the largest datagram Handle sends: header plus one
// full fragment.
const MaxControlReply = mode6.HeaderLen + mode6.MaxFragData

// Control answers mode 6 (ntpq/ntpstat) requests. It keeps reusable
// buffers, so it is not safe for concurrent use: give each serving
// goroutine its own.
type Control struct {
	Info SystemInfo
	// Keys is the trusted view of the daemon's keys (nil: none) and
	// ControlKey the "controlkey" id (0: none). A request whose MAC
	// verifies gets its response signed with the same key; writes need a
	// MAC made with the control key.
	Keys       ntp.KeyLookup
	ControlKey uint32
	signKey    *ntp.Key
	signSend   func([]byte) error
	send       func([]byte) error

	enc   mode6.VarEncoder
	text  []byte
	pkt   []byte
	tmp   []byte
	list  []mode6.AssocStatus
	want  [64]bool
	wantN int
	// stats answers the statistics variables of ntpq's sysstats, kerninfo,
	// ... pstats (vars_stats.go); nil: those names are known but omitted.
	stats *Daemon
	mru   *mruControl // REQ_NONCE/READ_MRU (control_mru.go); nil: BADOP
}

// NewControl returns a responder.
func NewControl(info SystemInfo) *Control {
	return &Control{
		Info: info,
		text: make([]byte, 0, 4096),
		pkt:  make([]byte, 0, MaxControlReply+8+ntp.KeyIDLen+ntp.MaxDigestLen),
		tmp:  make([]byte, 0, 64),
	}
}

// Handle answers one mode 6 datagram. flags are the restriction flags of
// the source: ignore and noquery drop the request silently (as ntpd does).
// now is the time reported as clock=. send is called with each response
// datagram (the slice is reused after send returns). Handle returns what it
// did and, for CtlError, the error code sent.
//
// Rules (SPEC §1, §8): malformed requests (see mode6.ValidateRequest) are
// dropped or answered with BADFMT; READSTAT lists the associations
// (descending id) with the system status word; READVAR returns the system
// (assoc 0) or peer variables — all of the default list, or only those
// named in the request data, in table order — or UNKNOWNVAR / BADASSOC;
// READCLOCK returns the reference clock variables of a refclock
// association; WRITEVAR signed with the control key is answered as ntpd
// does (UNKNOWNVAR for a name it does not know, PERMISSION for its
// read-only variables and for peer variables: nothing is writable), any
// other write, configuration and traps are refused with PERMISSION; other
// opcodes get BADOP. A request with a MAC that verifies under Keys gets
// every response datagram signed with the same key.
func (c *Control) Handle(req []byte, flags ntpconf.RestrictFlags, snap Snapshot, now ntp.Timestamp, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	if flags&(ntpconf.RestrictIgnore|ntpconf.RestrictNoQuery) != 0 {
		return CtlRestricted, 0
	}
	sys := snap.Sys
	leap, _ := sysLeapStratum(sys)
	d := mode6.ValidateRequest(req)
	switch d.Verdict {
	case mode6.Drop:
		return CtlDropped, 0
	case mode6.Reject:
		return c.fail(d.Request.Header, uint8(leap), d.Code, send)
	}
	h := d.Request.Header
	data := d.Request.Data
	authed := false
	if len(d.Request.MAC) > 0 && c.Keys != nil {
		if id, err := mode6.VerifyPacket(req, &d.Request, c.Keys); err == nil {
			if k, ok := c.Keys.LookupKey(id); ok {
				send = c.signed(k, send)
				authed = true
			}
		}
	}
	switch h.Op {
	case mode6.OpReadStat:
		if h.AssocID != 0 {
			p := findPeer(snap.Peers, h.AssocID)
			if p == nil {
				return c.fail(h, uint8(leap), mode6.ErrCodeBadAssoc, send)
			}
			tmpl := mode6.ReplyHeader(h, uint8(leap), PeerStatusWord(p))
			return c.sendData(tmpl, nil, nil, send)
		}
		c.list = c.list[:0]
		for i := len(snap.Peers) - 1; i >= 0; i-- {
			p := &snap.Peers[i]
			c.list = append(c.list, mode6.AssocStatus{AssocID: p.AssocID, Status: PeerStatusWord(p)})
		}
		c.text = mode6.AppendAssocList(c.text[:0], c.list)
		tmpl := mode6.ReplyHeader(h, uint8(leap), SysStatusWord(sys))
		return c.sendData(tmpl, c.text, nil, send)
	case mode6.OpReadVar:
		if h.AssocID == 0 {
			return c.readSys(h, data, sys, now, send)
		}
		p := findPeer(snap.Peers, h.AssocID)
		if p == nil {
			return c.fail(h, uint8(leap), mode6.ErrCodeBadAssoc, send)
		}
		return c.readPeer(h, data, uint8(leap), p, send)
	case mode6.OpReadClock:
		var p *ntpsync.PeerState
		if h.AssocID == 0 {
			p = findPeer(snap.Peers, sys.SysPeer)
		} else {
			p = findPeer(snap.Peers, h.AssocID)
		}
		if p == nil || !ntp.IsRefclockAddr(p.Addr.Addr()) {
			return c.fail(h, uint8(leap), mode6.ErrCodeBadAssoc, send)
		}
		return c.readClock(h, data, uint8(leap), p, send)
	case mode6.OpWriteVar:
		if !authed {
			return c.fail(h, uint8(leap), mode6.ErrCodePermission, send)
		}
		if _, err := mode6.Authorize(req, &d.Request, c.Keys, c.ControlKey); err != nil {
			return c.fail(h, uint8(leap), mode6.ErrCodePermission, send)
		}
		return c.writeVar(h, data, uint8(leap), SysStatusWord(sys), send)
	case mode6.OpReadMRU, mode6.OpReqNonce:
		return c.handleMRU(h, data, uint8(leap), now, send)
	case mode6.OpWriteClock, mode6.OpSetTrap, mode6.OpUnsetTrap,
		mode6.OpConfigure, mode6.OpSaveConfig:
		return c.fail(h, uint8(leap), mode6.ErrCodePermission, send)
	}
	return c.fail(h, uint8(leap), mode6.ErrCodeBadOp, send)
}

func findPeer(peers []ntpsync.PeerState, id uint16) *ntpsync.PeerState {
	if id == 0 {
		return nil
	}
	for i := range peers {
		if peers[i].AssocID == id {
			return &peers[i]
		}
	}
	return nil
}

func (c *Control) fail(h mode6.Header, leap uint8, code mode6.ErrorCode, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	c.pkt = mode6.AppendError(c.pkt[:0], h, leap, code)
	_ = send(c.pkt)
	return CtlError, code
}

func (c *Control) sendData(tmpl mode6.Header, data []byte, cuts []uint16, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	if err := mode6.EachFragmentAt(c.pkt[:0], tmpl, data, cuts, send); err != nil {
		return CtlDropped, 0
	}
	return CtlAnswered, 0
}

// parseList marks the requested names in c.want (by index into names).
// It returns false when a name is unknown. Items are separated by commas;
// white space is ignored and "=value" parts are skipped.
func (c *Control) parseList(data []byte, names []string) (ok bool) {
	c.want = [64]bool{}
	c.wantN = 0
	for len(data) > 0 {
		var item []byte
		item, data = nextListName(data)
		if len(item) == 0 {
			continue
		}
		id := lookupName(names, item)
		if id < 0 {
			return false
		}
		if !c.want[id] {
			c.want[id] = true
			c.wantN++
		}
	}
	return true
}

// nextListName splits the first item off a mode 6 variable list
// ("name[=value],..."): it returns the item's name without "=value" and white
// space, and the rest of the list after the comma. It does not allocate.
func nextListName(data []byte) (name, rest []byte) {
	end := 0
	for end < len(data) && data[end] != ',' {
		end++
	}
	name = data[:end]
	if end < len(data) {
		rest = data[end+1:]
	}
	for i := range name {
		if name[i] == '=' {
			name = name[:i]
			break
		}
	}
	return trimSpace(name), rest
}

func trimSpace(b []byte) []byte {
	isSp := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 }
	for len(b) > 0 && isSp(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSp(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func (c *Control) readSys(h mode6.Header, data []byte, sys *ntpsync.SystemState, now ntp.Timestamp, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	leap, _ := sysLeapStratum(sys)
	if !c.parseList(data, sysVarNames[:]) {
		if c.hasStatsNames(data, statsSysNames) { // vars_stats.go
			return c.readSysStats(h, data, sys, now, send)
		}
		return c.fail(h, uint8(leap), mode6.ErrCodeUnknownVar, send)
	}
	e := &c.enc
	e.Reset(c.text[:0])
	if c.wantN == 0 {
		for _, id := range sysDefault {
			c.putSys(e, id, sys, now)
		}
	} else {
		for id := 0; id < svCount; id++ {
			if c.want[id] {
				c.putSys(e, id, sys, now)
			}
		}
	}
	return c.finishVars(mode6.ReplyHeader(h, uint8(leap), SysStatusWord(sys)), send)
}

func (c *Control) readPeer(h mode6.Header, data []byte, leap uint8, p *ntpsync.PeerState, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	if !c.parseList(data, peerVarNames[:]) {
		if c.hasStatsNames(data, statsPeerNames) { // vars_stats.go
			return c.readPeerStats(h, data, leap, p, send)
		}
		return c.fail(h, leap, mode6.ErrCodeUnknownVar, send)
	}
	e := &c.enc
	e.Reset(c.text[:0])
	if c.wantN == 0 {
		refclock := ntp.IsRefclockAddr(p.Addr.Addr())
		for _, id := range peerDefaultHead {
			c.putPeer(e, id, p)
		}
		if !refclock && p.Name != "" {
			c.putPeer(e, pvSrcHost, p)
		}
		for _, id := range peerDefaultTail {
			c.putPeer(e, id, p)
		}
		tail := peerDefaultNet
		if refclock {
			tail = peerDefaultRefclock
		}
		for _, id := range tail {
			c.putPeer(e, id, p)
		}
	} else {
		for id := 0; id < pvCount; id++ {
			if c.want[id] {
				c.putPeer(e, id, p)
			}
		}
	}
	return c.finishVars(mode6.ReplyHeader(h, leap, PeerStatusWord(p)), send)
}

var clockVarNames = []string{"name", "type", "timecode", "poll", "noreply", "badformat", "baddata",
	"fudgetime1", "fudgetime2", "stratum", "refid", "flags"}

func (c *Control) readClock(h mode6.Header, data []byte, leap uint8, p *ntpsync.PeerState, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	if !c.parseList(data, clockVarNames) {
		return c.fail(h, leap, mode6.ErrCodeUnknownVar, send)
	}
	a := p.Addr.Addr().Unmap().As4()
	e := &c.enc
	e.Reset(c.text[:0])
	for id, name := range clockVarNames {
		if c.wantN != 0 && !c.want[id] {
			continue
		}
		switch id {
		case 0:
			if p.Name != "" {
				e.Quoted(name, p.Name)
			}
		case 1:
			e.Int(name, int64(a[2]))
		case 2:
			e.Quoted(name, "")
		case 3:
			e.Int(name, int64(p.Reach&1))
		case 4, 5, 6:
			e.Int(name, 0)
		case 7, 8:
			e.Fixed(name, 0, 3)
		case 9:
			e.Int(name, int64(p.Stratum))
		case 10:
			e.Begin(name)
			c.tmp = appendRefID(c.tmp[:0], p.RefID, true)
			e.Append(c.tmp...)
			e.End()
		case 11:
			e.Int(name, 0)
		}
	}
	tmpl := mode6.ReplyHeader(h, leap, 0)
	return c.finishVars(tmpl, send)
}

func (c *Control) finishVars(tmpl mode6.Header, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	c.text = c.enc.Finish()
	cuts, err := c.enc.Cuts()
	if err != nil {
		return CtlDropped, 0
	}
	return c.sendData(tmpl, c.text, cuts, send)
}
