package chrony

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

func TestNtpqTally(t *testing.T) {
	tests := []struct {
		s            SourceState
		chronyc, tly byte
	}{
		{StateSelected, '*', '*'},
		{StateCombined, '+', '+'},
		{StateNotCombined, '-', '-'},
		{StateFalseticker, 'x', 'x'},
		{StateJittery, '~', '-'},
		{StateNonselectable, '?', ' '},
		{SourceState(42), ' ', ' '},
	}
	for _, tc := range tests {
		if c := tc.s.Char(); c != tc.chronyc {
			t.Errorf("%v.Char() = %q, want %q", tc.s, c, tc.chronyc)
		}
		if c := NtpqTally(tc.s); c != tc.tly {
			t.Errorf("NtpqTally(%v) = %q, want %q", tc.s, c, tc.tly)
		}
	}
	modes := []struct {
		m       SourceMode
		chronyc byte
		ntpq    byte
		name    string
	}{
		{ModeClient, '^', 'u', "server"},
		{ModePeer, '=', 's', "peer"},
		{ModeRefclock, '#', 'l', "refclock"},
		{SourceMode(9), ' ', 'u', "mode 9"},
	}
	for _, tc := range modes {
		if tc.m.Char() != tc.chronyc || NtpqType(tc.m) != tc.ntpq || tc.m.String() != tc.name {
			t.Errorf("%v: %q %q %q", tc.m, tc.m.Char(), NtpqType(tc.m), tc.m.String())
		}
	}
}

func TestPollInterval(t *testing.T) {
	for _, tc := range []struct {
		log2 int
		want time.Duration
	}{
		{0, time.Second}, {6, 64 * time.Second}, {-2, 250 * time.Millisecond}, {10, 1024 * time.Second},
		{-99, PollInterval(-30)}, {99, PollInterval(30)},
	} {
		if got := PollInterval(tc.log2); got != tc.want {
			t.Errorf("PollInterval(%d) = %v, want %v", tc.log2, got, tc.want)
		}
	}
}

// TestPeers builds ntpq rows from the captured chronyd state.
func TestPeers(t *testing.T) {
	f := newFake(t)
	c := dialFake(t, f.pipe(t))
	peers, err := c.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		tally   byte
		remote  string
		refid   string
		st      int
		typ     byte
		when    string
		poll    time.Duration
		reach   uint8
		hasNTP  bool
		offsign int
	}
	want := []row{
		{' ', "GPS0", "GPS0", 0, 'l', "-", 2 * time.Second, 0, false, 0},
		{'?', "127.0.0.2", "127.127.1.1", 3, 'u', "", time.Second, 0o377, true, 0},
		{'?', "127.0.0.3", "GPS", 1, 'u', "", time.Second, 0o377, true, 0},
		{'x', "127.0.0.4", "127.0.0.77", 2, 'u', "", time.Second, 0o377, true, +1},
		{'?', "127.0.0.5", "127.0.0.3", 2, 'u', "", time.Second, 0o377, true, 0},
		{' ', "127.0.0.9", "INIT", 16, 'u', "-", time.Second, 0, true, 0},
		{'?', "::1", "127.0.0.3", 2, 'u', "", time.Second, 0o377, true, 0},
	}
	if len(peers) != len(want) {
		t.Fatalf("%d peers, want %d", len(peers), len(want))
	}
	for i, p := range peers {
		when := "-"
		if d, ok := p.When(); ok {
			when = d.String()
		}
		w := want[i]
		sign := 0
		if p.Offset() > 0 {
			sign = 1
		} else if p.Offset() < 0 {
			sign = -1
		}
		got := row{p.Tally(), p.Remote(), p.RefID(), p.Stratum(), p.Type(), when, p.Poll(), p.Reach(), p.NTP != nil, sign}
		// selection among the equal servers and sample ages vary
		// between captures: those cells are checked against the source
		if w.tally == '?' {
			w.tally, w.offsign = got.tally, got.offsign
			if got.tally != NtpqTally(p.Source.State) || !strings.ContainsRune("*+-", rune(got.tally)) {
				t.Errorf("row %d: tally %q for %v", i, got.tally, p.Source.State)
			}
		}
		if w.when == "" {
			w.when = (time.Duration(p.Source.LastRx) * time.Second).String()
		}
		if got != w {
			t.Errorf("row %d:\n got  %+v\n want %+v", i, got, w)
		}
		if p.Stats == nil {
			t.Errorf("row %d: no sourcestats", i)
		}
	}
	// the falseticker serves +250 ms: ntpq's offset is positive, chrony's negative
	x := peers[3]
	if math.Abs(x.Offset()-0.25) > 0.001 || x.Source.Offset > 0 {
		t.Errorf("falseticker offset %g (chrony %g)", x.Offset(), x.Source.Offset)
	}
	if x.Delay() <= 0 || x.Delay() > 0.01 || x.Jitter() <= 0 || x.Jitter() > 0.01 {
		t.Errorf("falseticker delay %g jitter %g", x.Delay(), x.Jitter())
	}
	// refclock and never-heard sources: no delay, never-sampled when
	if peers[0].Delay() != 0 || peers[5].Delay() != 0 {
		t.Errorf("delays %g %g", peers[0].Delay(), peers[5].Delay())
	}
	// without ntpdata (chronyd over UDP refuses it) rows still come
	f.mu.Lock()
	f.refuseNTP = true
	f.mu.Unlock()
	peers, err = c.Peers(context.Background())
	if err != nil || len(peers) != 7 || peers[3].NTP != nil || peers[3].RefID() != "INIT" {
		t.Errorf("peers without ntpdata: %v %+v", err, peers)
	}
}

func TestStatusFrom(t *testing.T) {
	base, err := DecodeTracking(captured(t, "tracking", 0))
	if err != nil {
		t.Fatal(err)
	}
	var srcs []Source
	for i := 1; i <= 6; i++ {
		s, err := DecodeSourceData(captured(t, "sources", i))
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, s)
	}
	local := base
	local.RefID, local.RefAddr, local.Stratum = LocalRefID, Address{}, 3
	gps := base
	gps.RefID, gps.RefAddr, gps.Stratum = ntp.RefIDFromString("PPS"), Address{}, 1
	unsync := base
	unsync.Leap, unsync.RefID, unsync.RefAddr, unsync.Stratum = ntp.LeapAlarm, ntp.RefID{}, Address{}, 0
	noSel := append([]Source(nil), srcs...)
	noSel[1].State = StateNonselectable
	noSel[1].Poll = 4
	noSel[1].Reach = 0
	noSel[2].Poll = 6

	tests := []struct {
		name   string
		t      Tracking
		srcs   []Source
		sync   bool
		kind   SourceKind
		source string
		poll   int
	}{
		{"ntp", base, srcs, true, KindNTP, base.RefAddr.String(), 0},
		{"local", local, srcs, true, KindLocal, "", 0},
		{"refclock", gps, srcs, true, KindRefclock, "PPS", 0},
		{"unsynchronised", unsync, noSel, false, KindNone, "", 6},
		{"no sources", unsync, nil, false, KindNone, "", 0},
	}
	for _, tc := range tests {
		s := StatusFrom(tc.t, tc.srcs)
		if s.Synchronised != tc.sync || s.Kind != tc.kind || s.Source != tc.source || s.PollLog2 != tc.poll {
			t.Errorf("%s: %+v", tc.name, s)
		}
	}
	s := StatusFrom(base, srcs)
	want := base.RootDelay/2 + base.RootDispersion + math.Abs(base.CurrentCorrection)
	if s.Accuracy() != want || s.Stratum != base.Stratum || s.Leap != ntp.LeapNone {
		t.Errorf("accuracy %g want %g; %+v", s.Accuracy(), want, s)
	}
	for k, w := range map[SourceKind]string{KindNTP: "NTP server", KindLocal: "local net", KindRefclock: "reference clock", KindNone: "unspecified"} {
		if k.String() != w {
			t.Errorf("%d: %q", k, k.String())
		}
	}
	if local.RefName() != "" || gps.RefName() != "PPS" || unsync.RefName() != "" {
		t.Errorf("RefName: %q %q %q", local.RefName(), gps.RefName(), unsync.RefName())
	}
	if unsync.Synchronised() {
		t.Error("leap 3 is synchronised")
	}
}

func ExamplePeer() {
	p := Peer{
		Source: Source{Addr: Address{IP: netip.MustParseAddr("192.0.2.1")}, Mode: ModeClient, State: StateCombined,
			Poll: 6, Stratum: 2, Reach: 0o377, LastRx: 17, Offset: -0.0012},
		Stats: &SourceStats{StdDev: 0.0003},
		NTP:   &NTPData{RefID: ntp.RefID{192, 0, 2, 99}, Stratum: 2, PeerDelay: 0.0105, TotalValid: 9},
	}
	when, _ := p.When()
	fmt.Printf("%c%-15s %-15s %2d %c %4d %4d %3o %7.3f %7.3f %7.3f\n", p.Tally(), p.Remote(), p.RefID(), p.Stratum(),
		p.Type(), int(when.Seconds()), int(p.Poll().Seconds()), p.Reach(), p.Delay()*1e3, p.Offset()*1e3, p.Jitter()*1e3)
	// Output:
	// +192.0.2.1       192.0.2.99       2 u   17   64 377  10.500   1.200   0.300
}
