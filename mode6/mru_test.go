package mode6

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Texts as classic ntpd 4.2.8 and NTPsec 1.2.2 sent them (see
// query/testdata/mru): classic shuffles the items of an entry and adds a
// decoy item with a random name.
const (
	mruClassicText = "nonce=eead10d1340db878dbe7a304, mv.0=35, addr.0=127.0.0.2:40000,\r\nrs.0=0x110, first.0=0xeead10b1.91d88ead, ct.0=1,\r\nlast.0=0xeead10b1.91d88ead, YNH.0=18446744073709535241,\r\nlast.1=0xeead10b2.188036b8, addr.1=[::1]:40002,\r\nfirst.1=0xeead10b1.feaab57a, ct.1=3, mv.1=27, rs.1=0x150,\r\nnow=0xeead10d1.341f334c, last.newest=0xeead10b2.188036b8\r\n"
	mruSecText     = "nonce=eead10d0fdb227bf1a645ead, rs.0=0xc0, ct.0=1, sc.0=0.050, mv.0=35,\r\naddr.0=127.0.0.2:40000, last.0=0xeead10af.0b92a5f7, dr.0=0,\r\nfirst.0=0xeead10af.0b92a5f7, dei.0=26229,\r\nnow=0xeead10d0.fdbe70c5, last.newest=0xeead10af.0b92a5f7\r\n"
)

func TestParseMRUResponse(t *testing.T) {
	r, err := ParseMRUResponse([]byte(mruClassicText))
	if err != nil {
		t.Fatal(err)
	}
	if r.Nonce != "eead10d1340db878dbe7a304" || !r.Complete || !r.HasNow || r.Now != 0xeead10d1341f334c || len(r.Entries) != 2 {
		t.Fatalf("%+v", r)
	}
	e := r.Entries[1]
	if e.Addr != netip.MustParseAddrPort("[::1]:40002") || e.Count != 3 || e.Mode() != 3 || e.Version() != 3 ||
		e.RS != 0x150 || e.Last != 0xeead10b2188036b8 || e.First != 0xeead10b1feaab57a || e.HasScore || e.HasDrop {
		t.Errorf("entry 1: %+v", e)
	}
	r, err = ParseMRUResponse([]byte(mruSecText))
	if err != nil {
		t.Fatal(err)
	}
	if e := r.Entries[0]; !e.HasScore || e.Score != 0.05 || !e.HasDrop || e.Drop != 0 || e.RS != 0xc0 || e.Version() != 4 {
		t.Errorf("ntpsec entry: %+v", e)
	}
	// A partial answer (limit reached) has no now= / last.newest=.
	r, err = ParseMRUResponse([]byte("nonce=ab, addr.0=1.2.3.4:5, last.0=0x1.2\r\n"))
	if err != nil || r.Complete || r.HasNow || len(r.Entries) != 1 {
		t.Errorf("partial: %+v %v", r, err)
	}
	for _, bad := range []string{
		"addr.0=1.2.3.4:5",                        // no last
		"addr.0=bogus, last.0=0x1.2",              // bad address
		"addr.0=1.2.3.4:5, last.0=zz",             // bad timestamp
		"addr.x=1.2.3.4:5",                        // bad index
		"addr.0=1.2.3.4:5, last.0=0x1.2, ct.0=-1", // bad count
		"now=later",
	} {
		if _, err := ParseMRUResponse([]byte(bad)); !errors.Is(err, ErrMRUSyntax) {
			t.Errorf("%q: err %v, want ErrMRUSyntax", bad, err)
		}
	}
}

func TestMRURoundTrip(t *testing.T) {
	in := []MRUEntry{
		{Addr: netip.MustParseAddrPort("198.18.0.2:123"), Last: 0xeead10b2188036b8, First: 0xeead10b1feaab57a, Count: 7, MV: 0x23, RS: 0x150},
		{Addr: netip.MustParseAddrPort("[fd00::2]:40002"), Last: 2, First: 1, Count: 1, MV: 0x1b, Score: 1.5, HasScore: true, Drop: 3, HasDrop: true},
	}
	var e VarEncoder
	e.Reset(nil)
	e.Raw("nonce", "00112233")
	for i := range in {
		e.PutMRUEntry(i, &in[i])
	}
	e.Timestamp("now", 5)
	e.Timestamp("last.newest", 2)
	r, err := ParseMRUResponse(e.Finish())
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i].Index = i
		if r.Entries[i] != in[i] {
			t.Errorf("entry %d: %+v, want %+v", i, r.Entries[i], in[i])
		}
	}
}

func TestMRURequest(t *testing.T) {
	resume := []MRUResume{{netip.MustParseAddrPort("127.1.0.118:39421"), 0xeead10ee42abdfa8}}
	for range 10 {
		resume = append(resume, resume[0])
	}
	got := string(AppendMRURequest(nil, "eead10f4c8f76d597b27546f", 32, 0, []MRUParam{{"mincount", "2"}, {"resany", "0x40"}}, resume))
	if !strings.HasPrefix(got, "nonce=eead10f4c8f76d597b27546f, frags=32, mincount=2, resany=0x40, addr.0=127.1.0.118:39421, last.0=0xeead10ee.42abdfa8, addr.1=") {
		t.Errorf("request %q", got)
	}
	if len(got) >= MRUMaxRequest {
		t.Errorf("request of %d octets", len(got))
	}
	r, err := ParseMRURequest([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if r.Nonce != "eead10f4c8f76d597b27546f" || !r.HasFrags || r.Frags != 32 || r.MinCount != 2 || r.ResAny != 0x40 ||
		len(r.Resume) < 5 || r.Resume[0] != resume[0] || r.MaxLstInt != -1 {
		t.Errorf("%+v", r)
	}
	r, err = ParseMRURequest([]byte("nonce=x, limit=10, laddr=127.0.0.1, resall=0x10, maxlstint=100, minlstint=3, recent=4, bogus=3, addr.1=[::1]:5"))
	if err != nil || r.Limit != 10 || !r.HasLimit || r.Laddr != netip.MustParseAddr("127.0.0.1") || r.ResAll != 0x10 ||
		r.MaxLstInt != 100 || r.MinLstInt != 3 || r.Recent != 4 || len(r.Unknown) != 1 || len(r.Resume) != 0 {
		t.Errorf("%+v %v", r, err)
	}
	for _, bad := range []string{"nonce=x, frags=-1", "limit=ten", "resall=0xZZ", "addr.0=nowhere", "last.0=0xq", "laddr=x"} {
		if _, err := ParseMRURequest([]byte(bad)); !errors.Is(err, ErrMRUSyntax) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if n, err := ParseNonceResponse([]byte("nonce=eead10d133eab593708aa958\r\n")); err != nil || n != "eead10d133eab593708aa958" {
		t.Errorf("nonce %q %v", n, err)
	}
	for _, bad := range []string{"", "nonce=", "leap=0", "nonce=a, b"} {
		if _, err := ParseNonceResponse([]byte(bad)); err == nil {
			t.Errorf("nonce answer %q accepted", bad)
		}
	}
}

func FuzzParseMRUResponse(f *testing.F) {
	f.Add([]byte(mruClassicText))
	f.Add([]byte(mruSecText))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseMRUResponse(b)
		if err != nil {
			return
		}
		for i := 1; i < len(r.Entries); i++ {
			if r.Entries[i].Index < r.Entries[i-1].Index {
				t.Fatalf("entries not sorted")
			}
		}
		// What parsed re-encodes and parses to the same entries.
		var e VarEncoder
		e.Reset(nil)
		for i := range r.Entries {
			e.PutMRUEntry(r.Entries[i].Index, &r.Entries[i])
		}
		r2, err := ParseMRUResponse(e.Finish())
		if err != nil || len(r2.Entries) != len(r.Entries) {
			t.Fatalf("re-encoded: %v (%d entries, want %d)", err, len(r2.Entries), len(r.Entries))
		}
		for i := range r.Entries {
			a, b := r.Entries[i], r2.Entries[i]
			a.Score, b.Score = 0, 0 // re-encoded with 3 decimals
			a.Addr = netip.AddrPortFrom(a.Addr.Addr().Unmap().WithZone(""), a.Addr.Port())
			if a != b {
				t.Fatalf("entry %d: %+v != %+v", i, a, b)
			}
		}
	})
}

func FuzzParseMRURequest(f *testing.F) {
	f.Add([]byte("nonce=eead10f4c8f76d597b27546f, frags=32, mincount=2, laddr=127.0.0.1, resall=0x10, resany=0x40"))
	f.Add([]byte("nonce=eead1111cfc6409b3c3b2067, frags=32, recent=4, maxlstint=100, minlstint=30, mincount=2, resany=0x420, addr.0=127.1.0.118:39421, last.0=0xeead10ee.42abdfa8, addr.1=[::1]:123, last.1=0x1.2"))
	f.Add([]byte("limit=300, addr.99=1.2.3.4:5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseMRURequest(b)
		if err != nil {
			return
		}
		if len(r.Resume) > MRUMaxResume || len(r.Unknown) > 8 || r.Frags < 0 || r.Limit < 0 || r.Frags > 1<<20 || r.Limit > 1<<20 {
			t.Fatalf("unbounded: %+v", r)
		}
		// A request built from it parses again.
		params := []MRUParam{{"mincount", strconv.FormatUint(r.MinCount, 10)}}
		if _, err := ParseMRURequest(AppendMRURequest(nil, "ab", r.Frags, r.Limit, params, r.Resume)); err != nil {
			t.Fatalf("rebuilt request: %v", err)
		}
	})
}

func FuzzParseNonceResponse(f *testing.F) {
	f.Add([]byte("nonce=eead10d133eab593708aa958\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNonceResponse(b)
		if err == nil && (n == "" || strings.ContainsAny(n, ", \r\n")) {
			t.Fatalf("nonce %q", n)
		}
	})
}

// TestMRUFuzzSeeds checks that the committed seed corpora exist.
func TestMRUFuzzSeeds(t *testing.T) {
	for _, d := range []string{"FuzzParseMRUResponse", "FuzzParseMRURequest", "FuzzParseNonceResponse"} {
		m, _ := filepath.Glob(filepath.Join("testdata", "fuzz", d, "*"))
		if len(m) == 0 {
			if _, err := os.Stat(filepath.Join("testdata", "fuzz", d)); err != nil {
				t.Errorf("no seed corpus for %s", d)
			}
		}
	}
}
