package query

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// PeersKind selects a member of the peers family of views.
type PeersKind int

const (
	KindPeers  PeersKind = iota // peers / lpeers: refid column, jitter
	KindOpeers                  // opeers / lopeers: local address column, dispersion
	KindApeers                  // apeers: short refid and assid columns
)

// RenderOptions are the presentation settings shared by the renderers.
type RenderOptions struct {
	Numeric  bool           // -n: no host names
	Wide     bool           // -w: full names on a line of their own
	Width    int            // ntpq-sec -W / terminal width (0: 80-column layout)
	Units    bool           // ntpq-sec -u: delay/offset/jitter with units
	Names    Names          // reverse DNS answers (numeric address -> name)
	Now      time.Time      // for the when column and date pivots
	Location *time.Location // local time zone of ntpq-classic dates (nil: time.Local)
}

func (o *RenderOptions) loc() *time.Location {
	if o.Location == nil {
		return time.Local
	}
	return o.Location
}

// addrName is ntpq-classic's nntohost: refclock name, reverse DNS name or
// the numeric address.
func (o *RenderOptions) addrName(addr string) string {
	if o.Numeric {
		return addr
	}
	if n, ok := refclockName(addr); ok {
		return n
	}
	if n, ok := o.Names[addr]; ok {
		return n
	}
	return addr
}

const classicRule = "=============================================================================="

// ClassicPeersHeader writes the two header lines of a classic peers table;
// hostw > 0 adds the "server (local)" column of multi-host output.
func ClassicPeersHeader(w io.Writer, kind PeersKind, hostw int) {
	var b strings.Builder
	if hostw > 0 {
		fmt.Fprintf(&b, "%-*.*s ", hostw, hostw, "server (local)")
	}
	switch kind {
	case KindOpeers:
		b.WriteString("     remote           local      st t when poll reach   delay   offset    disp\n")
	case KindApeers:
		b.WriteString("     remote       refid   assid  st t when poll reach   delay   offset  jitter\n")
	default:
		b.WriteString("     remote           refid      st t when poll reach   delay   offset  jitter\n")
	}
	if hostw > 0 {
		b.WriteString(strings.Repeat("=", hostw+1))
	}
	b.WriteString(classicRule)
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// ClassicPeers writes a classic peers table (header and one row per
// fetched association).
func ClassicPeers(w io.Writer, m *PeersModel, kind PeersKind, o RenderOptions, hostw int) {
	ClassicPeersHeader(w, kind, hostw)
	for _, p := range m.Peers {
		io.WriteString(w, ClassicPeerRow(p, kind, o, hostw))
	}
}

// classicType is the t column of ntpq-classic.
func classicType(pi peerInfo) byte {
	if !pi.haveHmode {
		switch {
		case isMulticast(pi.dstadr):
			return 'm'
		case pi.dstadr == "127.0.0.1":
			return 'l'
		}
		return 'u'
	}
	switch pi.hmode {
	case 1:
		return 's'
	case 2:
		return 'S'
	case 3:
		switch {
		case isRefclock(pi.srcadr):
			return 'l'
		case isUnspecified(pi.srcadr):
			return 'p'
		case isMulticast(pi.srcadr):
			return 'a'
		}
		return 'u'
	case 5:
		if isMulticast(pi.srcadr) {
			return 'M'
		}
		return 'B'
	case 6:
		return 'b'
	}
	return '?'
}

const flashLoop = 0x0800 // TEST12, peer_loop

func classicRefid(pi peerInfo) string {
	if pi.flash&flashLoop != 0 {
		return "(loop)"
	}
	r := pi.refid
	if a, err := netip.ParseAddr(r); err == nil && a.Is4() {
		if n, ok := refclockName(r); ok {
			return n
		}
		return r
	}
	if r == "" {
		return ""
	}
	if len(r) <= 4 {
		return "." + r + "."
	}
	return r
}

func classicApeersRefid(pi peerInfo) string {
	r := pi.refid
	if a, err := netip.ParseAddr(r); err == nil && a.Is4() && pi.flash&flashLoop == 0 {
		if n, ok := refclockName(r); ok {
			return n
		}
		b := a.As4()
		return fmt.Sprintf("%02x%02x%02x%02x", b[0], b[1], b[2], b[3])
	}
	return classicRefid(pi)
}

func (pi peerInfo) whenSeconds(now time.Time) (int64, bool) {
	base := pi.rec
	if base == 0 {
		base = pi.reftime
	}
	if base == 0 {
		return 0, false
	}
	return ntpSeconds(now) - int64(ntp.Timestamp(base).Seconds()), true
}

func (pi peerInfo) pollExp() int64 {
	e := min(pi.ppoll, pi.hpoll)
	if e < 0 {
		e = 3
	}
	if e > 62 {
		e = 62
	}
	return e
}

// ClassicPeerRow formats one row of a classic peers table.
func ClassicPeerRow(p Peer, kind PeersKind, o RenderOptions, hostw int) string {
	vars := p.Vars
	if p.Raw != nil {
		vars = classicVars(p.Raw)
	}
	pi := newPeerInfo(vars)
	var b strings.Builder
	if hostw > 0 {
		local := o.addrName(pi.dstadr)
		if o.Numeric && len(local) > hostw {
			// numeric addresses keep their low end: "_8.18.7.1"
			local = "_" + local[len(local)-(hostw-1):]
		}
		fmt.Fprintf(&b, "%-*.*s ", hostw, hostw, local)
	}
	tally := mode6.DecodePeerStatus(p.Status).Tally()
	var remote string
	switch {
	case kind != KindOpeers && pi.haveSrchost && pi.srchost != "":
		remote = pi.srchost
	default:
		remote = o.addrName(pi.srcadr)
	}
	if o.Wide && len(remote) > 15 {
		fmt.Fprintf(&b, "%c%s\n%17s", tally, remote, "")
	} else {
		fmt.Fprintf(&b, "%c%-15.15s ", tally, remote)
	}
	last := pi.jitter
	switch kind {
	case KindOpeers:
		local := pi.dstadr
		if len(local) > 15 {
			local = "_" + local[len(local)-14:]
		}
		fmt.Fprintf(&b, "%-15s", local)
		last = pi.disp
	case KindApeers:
		fmt.Fprintf(&b, "%-9s%-6d", classicApeersRefid(pi), p.AssocID)
	default:
		fmt.Fprintf(&b, "%-15s", classicRefid(pi))
	}
	when := "-"
	if d, ok := pi.whenSeconds(o.Now); ok {
		when = prettyClassic(d)
	}
	poll := prettyClassic(int64(1) << pi.pollExp())
	fmt.Fprintf(&b, " %2d %c %4.4s %4.4s  %3o  %7.7s %8.7s %7.7s\n",
		pi.stratum, classicType(pi), when, poll, pi.reach&0xff,
		msClassic(pi.delay, false), msClassic(pi.offset, true), msClassic(last, false))
	return b.String()
}

// AssocRow is one line of the associations listing.
type AssocRow struct {
	Index     int
	AssocID   uint16
	Status    uint16
	Conf      string
	Reach     string
	Auth      string
	Condition string
	LastEvent string
	Count     uint8
}

// AssocRows computes the associations listing from a READSTAT answer
// (all: lassociations; else only conf-or-reach associations). Index is
// the position in the full list, as ntpq's &N references count.
func AssocRows(list []mode6.AssocStatus, all bool) []AssocRow {
	var out []AssocRow
	for i, a := range list {
		ps := mode6.DecodePeerStatus(a.Status)
		if !all && ps.Flags&(mode6.PeerConf|mode6.PeerReach) == 0 {
			continue
		}
		r := AssocRow{Index: i + 1, AssocID: a.AssocID, Status: a.Status, Count: ps.Count,
			Condition: mode6.Condition(ps.Select), LastEvent: mode6.PeerEventListName(ps.Event)}
		r.Conf = "no"
		if ps.Has(mode6.PeerConf) {
			r.Conf = "yes"
		}
		if ps.Has(mode6.PeerBcast) {
			r.Reach = "none"
			r.Auth = "none"
			if ps.Has(mode6.PeerAuthEnb) {
				r.Auth = "yes"
			}
		} else {
			r.Reach = "no"
			if ps.Has(mode6.PeerReach) {
				r.Reach = "yes"
			}
			r.Auth = "none"
			if ps.Has(mode6.PeerAuthEnb) {
				r.Auth = "bad"
				if ps.Has(mode6.PeerAuth) {
					r.Auth = "ok "
				}
			}
		}
		out = append(out, r)
	}
	return out
}

const assocHeader = "ind assid status  conf reach auth condition  last_event cnt\n" +
	"===========================================================\n"

// ClassicAssociations writes the associations listing of ntpq-classic.
func ClassicAssociations(w io.Writer, rows []AssocRow) {
	if len(rows) == 0 {
		io.WriteString(w, "No association ID's returned\n")
		return
	}
	var b strings.Builder
	b.WriteString(assocHeader)
	for _, r := range rows {
		line := fmt.Sprintf("%3d %5d  %04x   %3.3s  %4s  %4.4s %9.9s %11s %2d",
			r.Index, r.AssocID, r.Status, r.Conf, r.Reach, r.Auth, r.Condition, r.LastEvent, r.Count)
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String())
}
