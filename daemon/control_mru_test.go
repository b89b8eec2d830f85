package daemon

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// mruRig is a Control with an MRU table of n sources (198.18.0.1 ...,
// one packet each, 1 ms apart, the last one 10 s before testNow) and a
// settable request source.
type mruRig struct {
	c    *Control
	list *MRU
	peer netip.AddrPort
	seq  uint16
	now  ntp.Timestamp
}

func newMRURig(t testing.TB, n int, monitor bool, flags func(netip.Addr) ntpconf.RestrictFlags) *mruRig {
	t.Helper()
	r := &mruRig{list: NewMRU(MRUOptions{Capacity: 1024}), peer: netip.MustParseAddrPort("127.0.0.1:40000"), now: testNow}
	base := int64(100 * time.Second)
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i + 1)})
		r.list.Observe(netip.AddrPortFrom(a, 123), 4, base+int64(i)*int64(time.Millisecond), false, false)
	}
	// time base zero is testNow - (base + n ms + 10 s)
	start := testNow.Add(-time.Duration(base) - time.Duration(n)*time.Millisecond - 10*time.Second)
	r.c = NewControl(testInfo)
	r.c.mru = &mruControl{list: r.list, monitor: monitor, start: start, flags: flags, peer: &r.peer}
	_, _ = rand.Read(r.c.mru.key[:])
	return r
}

// do sends one request and returns the datagrams and the outcome.
func (r *mruRig) do(t testing.TB, op mode6.Opcode, data string) ([][]byte, ControlOutcome, mode6.ErrorCode) {
	t.Helper()
	r.seq++
	req := ctlRequest(2, op, r.seq, 0, data)
	var out [][]byte
	o, code := r.c.Handle(req, 0, testSnapshot(), r.now, func(b []byte) error {
		out = append(out, bytes.Clone(b))
		return nil
	})
	return out, o, code
}

func (r *mruRig) nonce(t testing.TB) string {
	t.Helper()
	out, o, _ := r.do(t, mode6.OpReqNonce, "")
	if o != CtlAnswered || len(out) != 1 {
		t.Fatalf("REQ_NONCE: %v, %d datagrams", o, len(out))
	}
	h, data := reassemble(t, ctlRequest(2, mode6.OpReqNonce, r.seq, 0, ""), out)
	if h.Op != mode6.OpReqNonce || !h.Response {
		t.Fatalf("header %v", h)
	}
	n, err := mode6.ParseNonceResponse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), "\r\n") || len(n) != 24 || len(out[0]) != 44 {
		t.Errorf("nonce answer %q (%d octets), want nonce=<24 hex>\\r\\n in 44 octets like ntpd", data, len(out[0]))
	}
	return n
}

// read sends a READ_MRU and returns the parsed answer.
func (r *mruRig) read(t testing.TB, data string) (mode6.MRUResponse, int) {
	t.Helper()
	out, o, code := r.do(t, mode6.OpReadMRU, data)
	if o != CtlAnswered {
		t.Fatalf("READ_MRU %q: %v %v", data, o, code)
	}
	_, text := reassemble(t, ctlRequest(2, mode6.OpReadMRU, r.seq, 0, data), out)
	resp, err := mode6.ParseMRUResponse(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return resp, len(out)
}

func TestMRUNonceAndList(t *testing.T) {
	flags := func(a netip.Addr) ntpconf.RestrictFlags {
		if a.Is4() && a.As4()[3] == 3 {
			return ntpconf.RestrictNoModify | ntpconf.RestrictNoPeer | ntpconf.RestrictLimited | ntpconf.RestrictKOD
		}
		return 0
	}
	r := newMRURig(t, 5, true, flags)
	n := r.nonce(t)
	resp, frags := r.read(t, "nonce="+n+", frags=32")
	if frags > 3 || !resp.Complete || !resp.HasNow || resp.Now != uint64(testNow) || len(resp.Entries) != 5 || resp.Nonce == "" {
		t.Fatalf("%+v (%d datagrams)", resp, frags)
	}
	first, last := resp.Entries[0], resp.Entries[4]
	if first.Addr != netip.MustParseAddrPort("198.18.0.1:123") || last.Addr != netip.MustParseAddrPort("198.18.0.5:123") {
		t.Errorf("order: %v ... %v, want oldest first", first.Addr, last.Addr)
	}
	if got := float64(int64(resp.Now-last.Last)) / (1 << 32); got < 9.999 || got > 10.001 {
		t.Errorf("lstint of the newest %v s, want 10", got)
	}
	if resp.LastNewest != last.Last || last.Count != 1 || last.Mode() != 3 || last.Version() != 4 || last.First != last.Last {
		t.Errorf("newest %+v, last.newest %x", last, resp.LastNewest)
	}
	if rs := resp.Entries[2].RS; rs != resNoModify|resNoPeer {
		t.Errorf("rs of 198.18.0.3 = %#x, want %#x (classic bits, no limited/kod)", rs, resNoModify|resNoPeer)
	}

	// Filters.
	resp, _ = r.read(t, "nonce="+n+", frags=32, resall=0x110")
	if len(resp.Entries) != 1 || resp.Entries[0].Addr.Addr() != netip.MustParseAddr("198.18.0.3") {
		t.Errorf("resall: %+v", resp.Entries)
	}
	resp, _ = r.read(t, "nonce="+n+", frags=32, mincount=2")
	if len(resp.Entries) != 0 || !resp.Complete {
		t.Errorf("mincount=2: %+v", resp)
	}
	resp, _ = r.read(t, "nonce="+n+", frags=32, recent=2")
	if len(resp.Entries) != 2 || resp.Entries[0].Addr.Addr() != netip.MustParseAddr("198.18.0.4") {
		t.Errorf("recent=2: %+v", resp.Entries)
	}
	resp, _ = r.read(t, "nonce="+n+", frags=32, maxlstint=5")
	if len(resp.Entries) != 0 {
		t.Errorf("maxlstint=5: %+v", resp.Entries)
	}

	// limit and continuation: two rows, then the rest after the newest named one.
	resp, _ = r.read(t, "nonce="+n+", limit=2")
	if len(resp.Entries) != 2 || resp.Complete || resp.HasNow {
		t.Fatalf("limit=2: %+v", resp)
	}
	e1 := resp.Entries[1]
	next := fmt.Sprintf("nonce=%s, limit=2, addr.0=%s, last.0=0x%08x.%08x, addr.1=198.18.9.9:0, last.1=0x1.2",
		resp.Nonce, e1.Addr, e1.Last>>32, uint32(e1.Last))
	resp, _ = r.read(t, next)
	if len(resp.Entries) != 2 || resp.Entries[0].Addr.Addr() != netip.MustParseAddr("198.18.0.3") {
		t.Errorf("continuation: %+v", resp.Entries)
	}

	// Errors.
	for _, tc := range []struct {
		data string
		code mode6.ErrorCode
	}{
		{"limit=0", mode6.ErrCodeBadValue},
		{"limit=257", mode6.ErrCodeBadValue},
		{"frags=0", mode6.ErrCodeBadValue},
		{"frags=ten", mode6.ErrCodeBadValue},
		{"frags=32, addr.0=198.18.9.9:0, last.0=0x1.2", mode6.ErrCodeUnknownVar},
		{fmt.Sprintf("frags=32, addr.0=%s, last.0=0x%08x.%08x", e1.Addr, e1.Last>>32, uint32(e1.Last)+1), mode6.ErrCodeUnknownVar},
	} {
		out, o, code := r.do(t, mode6.OpReadMRU, "nonce="+n+", "+tc.data)
		if o != CtlError || code != tc.code || len(out) != 1 || len(out[0]) != mode6.HeaderLen {
			t.Errorf("%q: %v %v (%d datagrams), want error %v", tc.data, o, code, len(out), tc.code)
		}
	}
}

// TestMRUNonceRules: READ_MRU without a valid nonce is dropped silently,
// as by classic ntpd and NTPsec.
func TestMRUNonceRules(t *testing.T) {
	r := newMRURig(t, 3, true, nil)
	n := r.nonce(t)
	other := newMRURig(t, 3, true, nil) // another responder: another secret
	n2 := other.nonce(t)
	flip := []byte(n)
	flip[23] ^= 1
	for name, data := range map[string]string{
		"no nonce":            "frags=32",
		"garbage":             "nonce=0123456789abcdef01234567, frags=32",
		"short":               "nonce=" + n[:20] + ", frags=32",
		"flipped MAC bit":     "nonce=" + string(flip) + ", frags=32",
		"other responder":     "nonce=" + n2 + ", frags=32",
		"not hex":             "nonce=" + strings.Repeat("z", 24) + ", frags=32",
		"bad value, no nonce": "frags=x",
	} {
		if out, o, _ := r.do(t, mode6.OpReadMRU, data); o != CtlDropped || len(out) != 0 {
			t.Errorf("%s: %v, %d datagrams; want dropped", name, o, len(out))
		}
	}
	// Issued to 127.0.0.1, used from 127.0.0.2.
	r.peer = netip.MustParseAddrPort("127.0.0.2:40000")
	if out, o, _ := r.do(t, mode6.OpReadMRU, "nonce="+n+", frags=32"); o != CtlDropped || len(out) != 0 {
		t.Errorf("nonce of another address: %v", o)
	}
	r.peer = netip.MustParseAddrPort("127.0.0.1:40001") // another port is fine (address only)
	if _, o, _ := r.do(t, mode6.OpReadMRU, "nonce="+n+", frags=32"); o != CtlAnswered {
		t.Errorf("same address, other port: %v", o)
	}
	// Stale: 16 s or more after it was issued; also a nonce from the future.
	for _, d := range []time.Duration{15 * time.Second, 16 * time.Second, -time.Second} {
		r.now = testNow.Add(d)
		_, o, _ := r.do(t, mode6.OpReadMRU, "nonce="+n+", frags=32")
		if want := d == 15*time.Second; (o == CtlAnswered) != want {
			t.Errorf("nonce %v old: %v", d, o)
		}
	}
}

func TestMRUDisabledAndRestricted(t *testing.T) {
	// disable monitor: the table (kept for "limited") is not shown.
	r := newMRURig(t, 3, false, nil)
	n := r.nonce(t)
	resp, _ := r.read(t, "nonce="+n+", frags=32")
	if len(resp.Entries) != 0 || !resp.Complete || !resp.HasNow {
		t.Errorf("monitor disabled: %+v", resp)
	}
	// No table at all.
	r.c.mru.list = nil
	resp, _ = r.read(t, "nonce="+n+", frags=32")
	if len(resp.Entries) != 0 || !resp.Complete {
		t.Errorf("no table: %+v", resp)
	}
	// nomrulist: PERMISSION.
	r = newMRURig(t, 3, true, func(netip.Addr) ntpconf.RestrictFlags { return ntpconf.RestrictNoMRUList })
	n = r.nonce(t)
	if _, o, code := r.do(t, mode6.OpReadMRU, "nonce="+n+", frags=32"); o != CtlError || code != mode6.ErrCodePermission {
		t.Errorf("nomrulist: %v %v", o, code)
	}
	// noquery / ignore: nothing for either opcode.
	for _, op := range []mode6.Opcode{mode6.OpReqNonce, mode6.OpReadMRU} {
		for _, f := range []ntpconf.RestrictFlags{ntpconf.RestrictNoQuery, ntpconf.RestrictIgnore} {
			var out [][]byte
			o, _ := r.c.Handle(ctlRequest(2, op, 9, 0, "nonce="+n), f, testSnapshot(), testNow, func(b []byte) error {
				out = append(out, b)
				return nil
			})
			if o != CtlRestricted || len(out) != 0 {
				t.Errorf("%v with %v: %v", op, f, o)
			}
		}
	}
	// A Control without the daemon's table answers BADOP, as before.
	if out, o, code := exchange(t, ctlRequest(2, mode6.OpReqNonce, 1, 0, ""), 0, testSnapshot()); o != CtlError || code != mode6.ErrCodeBadOp || len(out) != 1 {
		t.Errorf("unattached: %v %v", o, code)
	}
}

// TestReadMRUBounded: a big table is answered in at most the fragments asked
// for (at most 32), each a full-size datagram at most, and read to its end
// by following the continuation.
func TestReadMRUBounded(t *testing.T) {
	r := newMRURig(t, 1000, true, nil)
	n := r.nonce(t)
	for _, tc := range []struct {
		data     string
		maxFrags int
	}{
		{"frags=1", 1}, {"frags=4", 4}, {"frags=32", 32}, {"frags=1000", 32}, {"limit=256", 32},
	} {
		out, o, _ := r.do(t, mode6.OpReadMRU, "nonce="+n+", "+tc.data)
		if o != CtlAnswered || len(out) > tc.maxFrags || len(out) == 0 {
			t.Errorf("%s: %v, %d datagrams (max %d)", tc.data, o, len(out), tc.maxFrags)
		}
		for _, d := range out {
			if len(d) > MaxControlReply {
				t.Errorf("%s: %d-octet datagram", tc.data, len(d))
			}
		}
	}
	// Collect everything the way ntpq does.
	seen := map[netip.Addr]bool{}
	var pairs string
	for req := 0; req < 100; req++ {
		resp, _ := r.read(t, "nonce="+n+", frags=32"+pairs)
		n = resp.Nonce
		for _, e := range resp.Entries {
			if seen[e.Addr.Addr()] {
				t.Fatalf("%v sent twice", e.Addr)
			}
			seen[e.Addr.Addr()] = true
		}
		if resp.Complete {
			break
		}
		e := resp.Entries[len(resp.Entries)-1]
		pairs = fmt.Sprintf(", addr.0=%s, last.0=0x%08x.%08x", e.Addr, e.Last>>32, uint32(e.Last))
	}
	if len(seen) != 1000 {
		t.Errorf("collected %d of 1000 entries", len(seen))
	}
}

func BenchmarkReadMRU(b *testing.B) {
	r := newMRURig(b, 1000, true, nil)
	n := r.nonce(b)
	req := ctlRequest(2, mode6.OpReadMRU, 1, 0, "nonce="+n+", frags=32")
	send := func([]byte) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		r.c.Handle(req, 0, testSnapshot(), testNow, send)
	}
}

// FuzzReadMRU: any request text after a valid nonce is answered within the
// bounds (at most 32 datagrams of at most MaxControlReply octets) with a
// list that parses, or with an error, and never panics.
func FuzzReadMRU(f *testing.F) {
	f.Add("frags=32")
	f.Add("limit=3, mincount=1, resall=0x0, resany=0x0, maxlstint=100000, minlstint=0, recent=5")
	f.Add("frags=4, addr.0=198.18.0.9:0, last.0=0xeeacd3f9.4e6f1a2c, addr.1=[::1]:0, last.1=0x1.2, laddr=127.0.0.1")
	f.Add("frags=-1, limit=1000000000000, bogus, =, addr.99=x")
	r := newMRURig(f, 300, true, nil)
	n := r.nonce(f)
	f.Fuzz(func(t *testing.T, rest string) {
		data := "nonce=" + n + ", " + rest
		if len(data) > 2048 {
			return
		}
		out, o, _ := r.do(t, mode6.OpReadMRU, data)
		if len(out) > mode6.MaxFrags {
			t.Fatalf("%d datagrams", len(out))
		}
		for _, d := range out {
			if len(d) > MaxControlReply {
				t.Fatalf("%d-octet datagram", len(d))
			}
		}
		if o != CtlAnswered {
			return
		}
		_, text := reassemble(t, ctlRequest(2, mode6.OpReadMRU, r.seq, 0, data), out)
		if _, err := mode6.ParseMRUResponse(text); err != nil {
			t.Fatalf("answer does not parse: %v\n%s", err, text)
		}
	})
}
