package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// Each source's row carries the port and version of its last packet, and
// whether that packet was over the rate; READ_MRU reports them in mv, the
// address and rs (limited, plus kod when configured, only while limited).
func TestMRURecordsLastPacket(t *testing.T) {
	limitedKoD := func(netip.Addr) ntpconf.RestrictFlags {
		return ntpconf.RestrictLimited | ntpconf.RestrictKOD | ntpconf.RestrictNoQuery
	}
	r := newMRURig(t, 0, true, limitedKoD)
	src := netip.MustParseAddrPort("198.18.9.9:40123")
	sec := int64(time.Second)
	base := int64(100 * time.Second)
	// Minimum 0, average 1 s, burst 8: the 9th packet inside a second is
	// over the rate.
	for i := range 9 {
		r.list.Observe(src, 3, base+int64(i), true, true)
	}
	rows := r.list.Entries()
	if len(rows) != 1 || rows[0].Port != 40123 || rows[0].Version != 3 || !rows[0].Limited || rows[0].Count != 9 {
		t.Fatalf("row after a burst: %+v", rows)
	}
	resp, _ := r.read(t, "nonce="+r.nonce(t)+", frags=32")
	if len(resp.Entries) != 1 {
		t.Fatalf("%+v", resp)
	}
	e := resp.Entries[0]
	if e.Addr != src || e.Mode() != 3 || e.Version() != 3 || e.RS != resNoQuery|resLimited|resKoD {
		t.Errorf("entry %v mode %d version %d rs %#x, want %v, 3, 3, %#x", e.Addr, e.Mode(), e.Version(), e.RS, src, resNoQuery|resLimited|resKoD)
	}
	// A packet within the rate a minute later, from another port and
	// version: the row follows, and limited/kod leave rs.
	src2 := netip.AddrPortFrom(src.Addr(), 40124)
	r.list.Observe(src2, 4, base+60*sec, true, true)
	resp, _ = r.read(t, "nonce="+r.nonce(t)+", frags=32")
	if e := resp.Entries[0]; e.Addr != src2 || e.Version() != 4 || e.RS != resNoQuery {
		t.Errorf("entry after a good packet: %v version %d rs %#x", e.Addr, e.Version(), e.RS)
	}
}
