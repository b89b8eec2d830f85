package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/sync/oneshot"
)

// dateGoldenServer is the server of classic.ntpdate-q-d.txt, rebuilt from the
// numbers it printed.
func dateGoldenServer() *oneshot.Server {
	s := oneshot.NewServer("127.0.0.1", netip.MustParseAddrPort("127.0.0.1:123"))
	s.Stratum, s.Precision, s.Leap = 3, -23, 0
	s.RefID = ntp.RefID{198, 18, 123, 7}
	s.RootDelay = 47 // 0.000717
	s.RootDisp = 129 // 0.001968
	s.RefTime = ntp.NewTimestamp(0xeeaccfbb, 0x50a28aa4)
	s.Org = ntp.NewTimestamp(0xeeaccfc9, 0x28ca06c6)
	s.Xmt = ntp.NewTimestamp(0xeeaccfc9, 0x28c20725)
	s.Xmits, s.NextPt = 4, 4
	delays := []oneshot.SFP{1681, 1681, 1685, 1685}
	offs := []float64{-0.000001, -0.000007, -0.000012, -0.000021}
	for i := range 4 {
		s.FilterDelay[i] = delays[i]
		s.FilterOffset[i] = oneshot.LFPFromSeconds(offs[i])
		s.FilterSOffset[i] = s.FilterOffset[i].SFP()
	}
	return s
}

func TestServerLineFormat(t *testing.T) {
	cases := []struct {
		stratum uint8
		offset  float64
		delay   oneshot.SFP
		want    string
	}{
		{3, 0.000017, 1682, "server 127.0.0.1, stratum 3, offset +0.000017, delay 0.02567\n"},
		{16, -0.000024, 1685, "server 127.0.0.1, stratum 16, offset -0.000024, delay 0.02571\n"},
		{2, 3.500060, 1691, "server 127.0.0.1, stratum 2, offset +3.500060, delay 0.02580\n"},
		{3, -0.000001, 1681, "server 127.0.0.1, stratum 3, offset -0.000001, delay 0.02565\n"},
		{0, 0, 0, ""}, // never answered: not printed
	}
	for _, c := range cases {
		s := oneshot.NewServer("x", netip.MustParseAddrPort("127.0.0.1:123"))
		s.Stratum = c.stratum
		s.Offset = oneshot.LFPFromSeconds(c.offset + 1e-10*dateSign(c.offset))
		s.Delay = c.delay
		var b bytes.Buffer
		dateWriteServerLine(&b, s)
		if b.String() != c.want {
			t.Errorf("got %q, want %q", b.String(), c.want)
		}
	}
}

func dateSign(x float64) float64 {
	if x < 0 {
		return -1
	}
	return 1
}

// The -d block of classic.ntpdate-q-d.txt, byte for byte, from the same
// numbers.
func TestServerDebugBlockGolden(t *testing.T) {
	g := readDateGolden(t, "classic.ntpdate-q-d.txt")
	start := strings.Index(g.stdout, "server 127.0.0.1, port 123\n")
	end := strings.Index(g.stdout, "22 Nov 02:19:53")
	want := g.stdout[start:end]

	s := dateGoldenServer()
	oneshot.Filter(s, 4)
	var b bytes.Buffer
	pivot := time.Date(2026, 11, 22, 2, 19, 53, 0, time.UTC)
	dateWriteServerDebug(&b, s, 4, pivot, time.UTC)
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestDateLoggerFormat(t *testing.T) {
	var out, errb bytes.Buffer
	l := &dateLogger{stdout: &out, stderr: &errb, loc: time.UTC, pid: 27866,
		now: func() time.Time { return time.Date(2026, 11, 2, 2, 19, 37, 0, time.UTC) }}
	l.notice("step time server %s offset %s sec", "198.18.123.10", "+3.500060")
	l.errorf("no server suitable for synchronization found")
	if got, want := out.String(), " 2 Nov 02:19:37 ntpdate[27866]: step time server 198.18.123.10 offset +3.500060 sec\n"; got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	if got, want := errb.String(), " 2 Nov 02:19:37 ntpdate[27866]: no server suitable for synchronization found\n"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	// With a syslog writer nothing reaches the terminal.
	out.Reset()
	errb.Reset()
	var sys bytes.Buffer
	var sysErr []string
	l.sysNotice = &sys
	l.sysErr = func(m string) error { sysErr = append(sysErr, m); return nil }
	l.notice("adjust time server %s offset %s sec", "127.0.0.1", "+0.000017")
	l.errorf("boom")
	if out.Len()+errb.Len() != 0 || sys.String() != "adjust time server 127.0.0.1 offset +0.000017 sec" || len(sysErr) != 1 {
		t.Errorf("syslog: out %q err %q sys %q %v", out.String(), errb.String(), sys.String(), sysErr)
	}
}

func TestSlewAmountOvershoot(t *testing.T) {
	cases := []struct {
		off  float64
		want time.Duration
	}{
		{0.1, 150 * time.Millisecond},
		{-0.1, -150 * time.Millisecond},
		{0.4, 462500 * time.Microsecond}, // overshoot capped at 1/16 s
		{0, 0},
	}
	for _, c := range cases {
		got := dateSlewAmount(oneshot.LFPFromSeconds(c.off))
		if d := got - c.want; d > time.Microsecond || d < -time.Microsecond {
			t.Errorf("slewAmount(%v) = %v, want %v", c.off, got, c.want)
		}
	}
}

func TestDateJSON(t *testing.T) {
	s := dateGoldenServer()
	other := oneshot.NewServer("198.18.123.9", netip.MustParseAddrPort("198.18.123.9:123"))
	chosen := oneshot.Select([]*oneshot.Server{s, other}, 4, nil)
	var b bytes.Buffer
	writeDateJSON(&b, dateResult{Servers: []*oneshot.Server{s, other}, Chosen: chosen, Action: "adjust"})
	var doc struct {
		Servers []map[string]any `json:"servers"`
		Chosen  string           `json:"chosen"`
		Action  string           `json:"action"`
		Offset  float64          `json:"offset"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if doc.Chosen != "127.0.0.1" || doc.Action != "adjust" || doc.Offset != -0.000001 || len(doc.Servers) != 2 {
		t.Errorf("doc %+v", doc)
	}
	first, second := doc.Servers[0], doc.Servers[1]
	if first["chosen"] != true || first["delay"] != 0.02565 || first["refid"] != "198.18.123.7" || first["leap"] != "no-leap" || first["stratum"] != 3.0 {
		t.Errorf("first %v", first)
	}
	if second["chosen"] != false || second["rejected"] != oneshot.RejectNoData || second["offset"] != nil {
		t.Errorf("second %v", second)
	}
}

var dateUpdate = flag.Bool("update-date", false, "rewrite testdata/date/*.golden.json from the current output")

// The --json document is ours: pinned by a golden file (regenerate with
// go test ./cmd/ntpkit/cli -run TestDateJSONGolden -update-date).
func TestDateJSONGolden(t *testing.T) {
	s := dateGoldenServer()
	kod := oneshot.NewServer("198.18.123.11", netip.MustParseAddrPort("198.18.123.11:123"))
	kod.Kiss, kod.Xmits = ntp.KissRate, 1
	silent := oneshot.NewServer("unreachable.test", netip.MustParseAddrPort("198.18.123.9:123"))
	silent.Xmits, silent.NextPt = 4, 4
	servers := []*oneshot.Server{s, kod, silent}
	chosen := oneshot.Select(servers, 4, nil)
	var b bytes.Buffer
	writeDateJSON(&b, dateResult{Servers: servers, Chosen: chosen, Action: "adjust"})
	path := filepath.Join("testdata", "date", "json.golden.json")
	if *dateUpdate {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
