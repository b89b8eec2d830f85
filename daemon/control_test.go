package daemon

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

var testInfo = SystemInfo{Version: "ntpkit test", Processor: "x86_64", System: "Linux/6.1.0"}

// localPeer is LOCAL(0) as classic ntpd shows it before its first sample
// (golden/pcaps-decoded.txt, ntpq -p against classic-main: stratum 12).
func localPeerUnreached() ntpsync.PeerState {
	p := ntpsync.PeerState{
		AssocID:    2216,
		Addr:       netip.MustParseAddrPort("127.127.1.0:123"),
		LocalAddr:  netip.MustParseAddrPort("127.0.0.1:123"),
		HostMode:   ntp.ModeClient,
		PeerMode:   ntp.ModeServer,
		Configured: true,
		EventCount: 1, LastEvent: 1,
		Leap: ntp.LeapAlarm, Stratum: 12, Precision: -24,
		RefID:    ntp.RefIDFromString("LOCL"),
		HostPoll: 6, PeerPoll: 6, Flash: 0x1200,
		Dispersion: 15937500 * time.Microsecond,
	}
	for i := range p.FiltDisp {
		p.FiltDisp[i] = 16 * time.Second
	}
	return p
}

func netPeer() ntpsync.PeerState {
	return ntpsync.PeerState{
		AssocID: 2208, Addr: netip.MustParseAddrPort("198.18.123.2:123"), LocalAddr: netip.MustParseAddrPort("198.18.123.1:123"),
		HostMode: 3, PeerMode: 4, Configured: true, Select: ntpsync.SelSysPeer, EventCount: 1, LastEvent: 10,
		Stratum: 3, Precision: -25, RefID: ntp.RefID{127, 127, 1, 1}, Reach: 1, HostPoll: 6, PeerPoll: 6, Headway: 358,
		Offset: -100 * time.Microsecond, Delay: 8 * time.Microsecond, Dispersion: 187527 * time.Microsecond, Jitter: 10 * time.Microsecond,
	}
}

func testSnapshot() Snapshot {
	return Snapshot{Sys: syncedState(), Peers: []ntpsync.PeerState{netPeer(), localPeerUnreached()}}
}

var testNow = ntp.Timestamp(0xeeacd3fb_24344233)

func ctlRequest(vn uint8, op mode6.Opcode, seq, assoc uint16, data string) []byte {
	return mode6.MarshalRequest(mode6.Header{Version: vn, Op: op, Sequence: seq, AssocID: assoc}, []byte(data))
}

// exchange runs one request through a Control and returns the datagrams.
func exchange(t testing.TB, req []byte, flags ntpconf.RestrictFlags, snap Snapshot) ([][]byte, ControlOutcome, mode6.ErrorCode) {
	c := NewControl(testInfo)
	var out [][]byte
	o, code := c.Handle(req, flags, snap, testNow, func(b []byte) error {
		out = append(out, bytes.Clone(b))
		return nil
	})
	return out, o, code
}

// reassemble checks each datagram and returns the response data.
func reassemble(t testing.TB, req []byte, dgrams [][]byte) (mode6.Header, []byte) {
	t.Helper()
	rh, _ := mode6.ParseHeader(req)
	a := mode6.NewAssembler(rh, mode6.MaxResponse)
	var first mode6.Header
	for i, d := range dgrams {
		if len(d) > MaxControlReply || len(d)%4 != 0 {
			t.Fatalf("datagram %d: %d octets", i, len(d))
		}
		h, _ := mode6.ParseHeader(d)
		if i == 0 {
			first = h
		}
		if h.More != (i < len(dgrams)-1) {
			t.Errorf("datagram %d: More=%v", i, h.More)
		}
		if _, err := a.AddBytes(d); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
	}
	if !a.Done() {
		t.Fatalf("response incomplete (%d datagrams)", len(dgrams))
	}
	return first, a.Data()
}

func TestControlErrors(t *testing.T) {
	snap := testSnapshot()
	tests := []struct {
		name string
		req  []byte
		code mode6.ErrorCode
	}{
		{"unknown opcode 0", ctlRequest(2, mode6.OpUnspec, 1, 0, ""), mode6.ErrCodeBadOp},
		{"unknown opcode 20", ctlRequest(2, 20, 1, 0, ""), mode6.ErrCodeBadOp},
		{"read_mru not served", ctlRequest(2, mode6.OpReadMRU, 1, 0, ""), mode6.ErrCodeBadOp},
		{"asyncmsg", ctlRequest(2, mode6.OpAsyncMsg, 1, 0, ""), mode6.ErrCodeBadOp},
		{"readvar bad assoc", ctlRequest(2, mode6.OpReadVar, 1, 4242, ""), mode6.ErrCodeBadAssoc},
		{"readstat bad assoc", ctlRequest(2, mode6.OpReadStat, 1, 4242, ""), mode6.ErrCodeBadAssoc},
		{"readclock of a network peer", ctlRequest(2, mode6.OpReadClock, 1, 2208, ""), mode6.ErrCodeBadAssoc},
		{"unknown sys var", ctlRequest(2, mode6.OpReadVar, 2, 0, "nosuchvar"), mode6.ErrCodeUnknownVar},
		{"unknown sys var in a list", ctlRequest(2, mode6.OpReadVar, 2, 0, "leap,nosuchvar"), mode6.ErrCodeUnknownVar},
		{"unknown peer var", ctlRequest(2, mode6.OpReadVar, 2, 2208, "srcadr,bogus"), mode6.ErrCodeUnknownVar},
		{"writevar", ctlRequest(2, mode6.OpWriteVar, 1, 0, "leap=1"), mode6.ErrCodePermission},
		{"writeclock", ctlRequest(2, mode6.OpWriteClock, 1, 2216, "x=1"), mode6.ErrCodePermission},
		{"configure", ctlRequest(2, mode6.OpConfigure, 1, 0, "server 1.2.3.4"), mode6.ErrCodePermission},
		{"saveconfig", ctlRequest(2, mode6.OpSaveConfig, 1, 0, ""), mode6.ErrCodePermission},
		{"settrap", ctlRequest(2, mode6.OpSetTrap, 1, 0, ""), mode6.ErrCodePermission},
		{"unsettrap", ctlRequest(2, mode6.OpUnsetTrap, 1, 0, ""), mode6.ErrCodePermission},
		{"bad length", append(ctlRequest(2, mode6.OpReadVar, 1, 0, ""), 0), mode6.ErrCodeBadFmt},
		{"count beyond data", func() []byte {
			b := ctlRequest(2, mode6.OpReadVar, 1, 0, "")
			binary.BigEndian.PutUint16(b[10:], 8)
			return b
		}(), mode6.ErrCodeBadFmt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, o, code := exchange(t, tc.req, 0, snap)
			if o != CtlError || code != tc.code {
				t.Fatalf("outcome %v code %v, want error %v", o, code, tc.code)
			}
			if len(out) != 1 || len(out[0]) != 12 {
				t.Fatalf("want one 12-octet error datagram, got %d", len(out))
			}
			h, _ := mode6.ParseHeader(out[0])
			rh, _ := mode6.ParseHeader(tc.req)
			if !h.Response || !h.Error || h.Op != rh.Op || h.Sequence != rh.Sequence || h.AssocID != rh.AssocID ||
				h.Status != uint16(tc.code)<<8 || h.Count != 0 || h.Version != 2 {
				t.Errorf("error header %+v", h)
			}
			if out[0][1] != 0xc0|byte(rh.Op) {
				t.Errorf("octet 1 = %#x", out[0][1])
			}
		})
	}
}

func TestControlDrops(t *testing.T) {
	snap := testSnapshot()
	ok := ctlRequest(2, mode6.OpReadVar, 1, 0, "")
	resp := bytes.Clone(ok)
	resp[1] |= 0x80
	more := bytes.Clone(ok)
	more[1] |= 0x20
	offset := bytes.Clone(ok)
	offset[9] = 4
	v5 := bytes.Clone(ok)
	v5[0] = 5<<3 | 6
	tests := []struct {
		name  string
		req   []byte
		flags ntpconf.RestrictFlags
		want  ControlOutcome
	}{
		{"noquery", ok, ntpconf.RestrictNoQuery, CtlRestricted},
		{"noquery with others", ok, ntpconf.RestrictNoQuery | ntpconf.RestrictLimited | ntpconf.RestrictKOD, CtlRestricted},
		{"ignore", ok, ntpconf.RestrictIgnore, CtlRestricted},
		{"response bit", resp, 0, CtlDropped},
		{"more bit", more, 0, CtlDropped},
		{"offset", offset, 0, CtlDropped},
		{"version 5", v5, 0, CtlDropped},
		{"short", ok[:11], 0, CtlDropped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, o, _ := exchange(t, tc.req, tc.flags, snap)
			if o != tc.want || len(out) != 0 {
				t.Errorf("outcome %v with %d datagrams, want %v and silence", o, len(out), tc.want)
			}
		})
	}
	// nomodify, notrap, limited and kod do not stop queries.
	out, o, _ := exchange(t, ok, ntpconf.RestrictNoModify|ntpconf.RestrictNoTrap|ntpconf.RestrictLimited|ntpconf.RestrictKOD|ntpconf.RestrictNoPeer, snap)
	if o != CtlAnswered || len(out) != 1 {
		t.Errorf("nomodify etc.: outcome %v, %d datagrams", o, len(out))
	}
}

func TestControlReadStat(t *testing.T) {
	req := ctlRequest(2, mode6.OpReadStat, 1, 0, "")
	out, o, _ := exchange(t, req, 0, testSnapshot())
	if o != CtlAnswered || len(out) != 1 {
		t.Fatalf("outcome %v, %d datagrams", o, len(out))
	}
	h, data := reassemble(t, req, out)
	if h.Status != 0x0514 {
		t.Errorf("status %#04x, want 0514 (leap_none, sync_local, 1 event, freq_mode)", h.Status)
	}
	list, err := mode6.ParseAssocList(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []mode6.AssocStatus{{AssocID: 2216, Status: 0x8011}, {AssocID: 2208, Status: 0x961a}}
	if len(list) != 2 || list[0] != want[0] || list[1] != want[1] {
		t.Errorf("assoc list %v, want %v (descending ids)", list, want)
	}
	if out[0][0] != 0x16 || out[0][1] != 0x81 {
		t.Errorf("octets 0-1 = %#x %#x", out[0][0], out[0][1])
	}
	// READSTAT of one association: its status word, no data.
	out, o, _ = exchange(t, ctlRequest(2, mode6.OpReadStat, 2, 2208, ""), 0, testSnapshot())
	if o != CtlAnswered || len(out) != 1 {
		t.Fatalf("readstat 2208: %v", o)
	}
	if h, _ := mode6.ParseHeader(out[0]); h.Status != 0x961a || h.Count != 0 {
		t.Errorf("readstat 2208: %+v", h)
	}
}

func TestControlSysVars(t *testing.T) {
	req := ctlRequest(2, mode6.OpReadVar, 1, 0, "")
	out, _, _ := exchange(t, req, 0, testSnapshot())
	_, data := reassemble(t, req, out)
	want := "version=\"ntpkit test\", processor=\"x86_64\", system=\"Linux/6.1.0\", leap=0,\r\n" +
		"stratum=11, precision=-24, rootdelay=1.500, rootdisp=20.000,\r\n" +
		"refid=127.127.1.0, reftime=0xeeacd3d4.528f80e2,\r\n" +
		"clock=0xeeacd3fb.24344233, peer=50307, tc=6, mintc=3, offset=0.000000,\r\n" +
		"frequency=0.000, sys_jitter=0.000000, clk_jitter=0.000,\r\n" +
		"clk_wander=0.000\r\n"
	if string(data) != want {
		t.Errorf("system variables\n got %q\nwant %q", data, want)
	}
	// Unsynchronised: leap 3, stratum 16, refid INIT, status c016.
	snap := testSnapshot()
	snap.Sys = unsyncedState()
	out, _, _ = exchange(t, req, 0, snap)
	h, data := reassemble(t, req, out)
	if h.Status != 0xc016 || h.LI != 3 {
		t.Errorf("unsynchronised status %#04x LI %d", h.Status, h.LI)
	}
	for _, s := range []string{"leap=3,", "stratum=16,", "refid=INIT,", "peer=0,", "tc=3,"} {
		if !strings.Contains(string(data), s) {
			t.Errorf("unsynchronised variables lack %q:\n%s", s, data)
		}
	}
}

func TestControlVarListOrder(t *testing.T) {
	tests := []struct {
		assoc uint16
		list  string
		want  string
	}{
		// Table order, not request order (golden classic.ntpq-c-rv0-varlist-order.txt).
		{0, "tc,stratum,leap,refid", "leap=0, stratum=11, refid=127.127.1.0, tc=6\r\n"},
		{0, "leap,stratum,refid", "leap=0, stratum=11, refid=127.127.1.0\r\n"},
		{0, " mintc , tc ,tc", "tc=6, mintc=3\r\n"},
		{0, "version,clock", "clock=0xeeacd3fb.24344233, version=\"ntpkit test\"\r\n"},
		{2208, "srcadr,stratum,reach,delay,offset,jitter,hpoll,ppoll,rec,reftime",
			"srcadr=198.18.123.2, stratum=3, ppoll=6, hpoll=6,\r\nreftime=0x00000000.00000000, rec=0x00000000.00000000, reach=0x1,\r\ndelay=0.008, offset=-0.100, jitter=0.010\r\n"},
		{2216, "refid,srcadr", "srcadr=127.127.1.0, refid=LOCL\r\n"},
	}
	for _, tc := range tests {
		req := ctlRequest(2, mode6.OpReadVar, 7, tc.assoc, tc.list)
		out, o, _ := exchange(t, req, 0, testSnapshot())
		if o != CtlAnswered {
			t.Errorf("%q: outcome %v", tc.list, o)
			continue
		}
		_, data := reassemble(t, req, out)
		if string(data) != tc.want {
			t.Errorf("rv %d %s\n got %q\nwant %q", tc.assoc, tc.list, data, tc.want)
		}
	}
}

// The LOCAL(0) peer variables and the fragment split are byte-identical to
// classic ntpd's (golden/pcaps-decoded.txt, ntpq-p.classic.pcap assoc 2216).
func TestControlPeerVarsClassicLocal(t *testing.T) {
	req := ctlRequest(2, mode6.OpReadVar, 10, 2216, "")
	out, o, _ := exchange(t, req, 0, testSnapshot())
	if o != CtlAnswered || len(out) != 2 {
		t.Fatalf("outcome %v, %d datagrams, want 2", o, len(out))
	}
	h0, _ := mode6.ParseHeader(out[0])
	h1, _ := mode6.ParseHeader(out[1])
	if h0.Status != 0x8011 || h0.Count != 468 || !h0.More || h1.Offset != 468 || h1.Count != 87 || h1.More {
		t.Errorf("fragments %+v / %+v; want status 8011, counts 468+87 as captured", h0, h1)
	}
	_, data := reassemble(t, req, out)
	want := "srcadr=127.127.1.0, srcport=123, dstadr=127.0.0.1, dstport=123, leap=3,\r\n" +
		"stratum=12, precision=-24, rootdelay=0.000, rootdisp=0.000, refid=LOCL,\r\n" +
		"reftime=0x00000000.00000000, rec=0x00000000.00000000, reach=0x0,\r\n" +
		"unreach=0, hmode=3, pmode=4, hpoll=6, ppoll=6, headway=0, flash=0x1200,\r\n" +
		"keyid=0, ttl=0, offset=0.000, delay=0.000, dispersion=15937.500,\r\n" +
		"jitter=0.000, filtdelay= 0.00 0.00 0.00 0.00 0.00 0.00 0.00 0.00,\r\n" +
		"filtoffset= 0.00 0.00 0.00 0.00 0.00 0.00 0.00 0.00,\r\n" +
		"filtdisp= 16000.00 16000.00 16000.00 16000.00 16000.00 16000.00 16000.00 16000.00\r\n"
	if string(data) != want {
		t.Errorf("LOCAL(0) variables\n got %q\nwant %q", data, want)
	}
}

func TestControlNetPeerFragments(t *testing.T) {
	req := ctlRequest(2, mode6.OpReadVar, 2, 2208, "")
	out, _, _ := exchange(t, req, 0, testSnapshot())
	if len(out) != 2 {
		t.Fatalf("%d datagrams, want 2", len(out))
	}
	h0, _ := mode6.ParseHeader(out[0])
	if h0.Count != 468 || h0.Status != 0x961a {
		t.Errorf("first fragment %+v, want 468 octets, status 961a", h0)
	}
	_, data := reassemble(t, req, out)
	if !strings.HasPrefix(string(data), "srcadr=198.18.123.2, srcport=123, dstadr=198.18.123.1, dstport=123,\r\nleap=0, stratum=3,") ||
		!strings.Contains(string(data), "jitter=0.010, xleave=0.000,\r\nfiltdelay=") {
		t.Errorf("peer variables:\n%s", data)
	}
}

// ntpstat sends one 576-octet READVAR and reads one datagram: everything it
// parses must be there, not last, and tc= must come before mintc=.
func TestControlNtpstatRequest(t *testing.T) {
	req := make([]byte, 576)
	copy(req, []byte{0x16, 0x02, 0x00, 0x01})
	for _, snap := range []Snapshot{testSnapshot(), {Sys: unsyncedState(), Peers: testSnapshot().Peers}} {
		out, o, _ := exchange(t, req, 0, snap)
		if o != CtlAnswered || len(out) != 1 {
			t.Fatalf("outcome %v, %d datagrams, want exactly one", o, len(out))
		}
		d := out[0]
		if d[0]&0x3f != 0x16 || d[1]&^0x20 != 0x82 {
			t.Errorf("octets 0-1 %#x %#x fail ntpstat's check", d[0], d[1])
		}
		h, _ := mode6.ParseHeader(d)
		text := string(d[12 : 12+int(h.Count)])
		for _, v := range []string{"stratum=", "refid=", "rootdisp=", "rootdelay=", "tc="} {
			i := strings.Index(text, v)
			if i < 0 {
				t.Errorf("%s missing from the first datagram", v)
				continue
			}
			if !strings.Contains(text[i:], ",") {
				t.Errorf("%s is the last variable", v)
			}
		}
		if strings.Index(text, "tc=") > strings.Index(text, "mintc=") {
			t.Errorf("mintc= before tc=")
		}
	}
}

func TestControlReadClock(t *testing.T) {
	req := ctlRequest(2, mode6.OpReadClock, 3, 2216, "")
	out, o, _ := exchange(t, req, 0, testSnapshot())
	if o != CtlAnswered {
		t.Fatalf("outcome %v", o)
	}
	_, data := reassemble(t, req, out)
	if !strings.Contains(string(data), "type=1,") || !strings.Contains(string(data), "refid=LOCL") {
		t.Errorf("clock variables: %q", data)
	}
}

func TestControlNoAllocsSteadyState(t *testing.T) {
	c := NewControl(testInfo)
	snap := testSnapshot()
	req := ctlRequest(2, mode6.OpReadVar, 1, 0, "")
	send := func([]byte) error { return nil }
	c.Handle(req, 0, snap, testNow, send)
	if a := testing.AllocsPerRun(50, func() { c.Handle(req, 0, snap, testNow, send) }); a > 0 {
		t.Logf("READVAR allocates %.1f times per request", a)
	}
}
