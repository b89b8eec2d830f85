package oneshot_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/sync/ntptest"
	"github.com/ntpkit/ntpkit/sync/oneshot"
)

func TestFixedFormat(t *testing.T) {
	lfp := []struct {
		v    oneshot.LFP
		n    int
		want string
	}{
		{oneshot.LFPFromSeconds(0.000017), 6, "+0.000017"},
		{oneshot.LFPFromSeconds(-0.000001), 6, "-0.000001"},
		{oneshot.LFPFromSeconds(3.5000604), 6, "+3.500060"},
		{oneshot.LFPFromSeconds(-3.5000606), 6, "-3.500061"}, // half up on the magnitude
		{oneshot.LFPFromSeconds(0.9999996), 6, "+1.000000"},  // carry into seconds
		{0, 6, "+0.000000"},
		{-1, 6, "-0.000000"},
	}
	for _, c := range lfp {
		if got := c.v.Format(c.n); got != c.want {
			t.Errorf("LFP(%d).Format(%d) = %q, want %q", c.v, c.n, got, c.want)
		}
	}
	sfp := []struct {
		v    oneshot.SFP
		n    int
		want string
	}{
		{1682, 5, "0.02567"}, {1681, 5, "0.02565"}, {1685, 5, "0.02571"}, {1311, 5, "0.02000"},
		{47, 6, "0.000717"}, {-1682, 5, "-0.02567"}, {0, 5, "0.00000"}, {8 << 16, 5, "8.00000"},
	}
	for _, c := range sfp {
		if got := c.v.Format(c.n); got != c.want {
			t.Errorf("SFP(%d).Format(%d) = %q, want %q", c.v, c.n, got, c.want)
		}
	}
	if got := oneshot.UFP(129).Format(6); got != "0.001968" {
		t.Errorf("UFP(129) = %q", got)
	}
}

func TestPrettyDate(t *testing.T) {
	pivot := time.Date(2026, 11, 22, 2, 19, 53, 0, time.UTC)
	cases := map[ntp.Timestamp]string{
		ntp.NewTimestamp(0xeeaccfbb, 0x50a28aa4): "eeaccfbb.50a28aa4  Sun, Nov 22 2026  2:19:39.314",
		ntp.NewTimestamp(0xeeaccfc9, 0x28ca06c6): "eeaccfc9.28ca06c6  Sun, Nov 22 2026  2:19:53.159",
		ntp.NewTimestamp(0xeeaccfc9, 0xffffffff): "eeaccfc9.ffffffff  Sun, Nov 22 2026  2:19:54.000",
	}
	for ts, want := range cases {
		if got := oneshot.PrettyDate(ts, pivot, time.UTC); got != want {
			t.Errorf("PrettyDate(%v) = %q, want %q", ts, got, want)
		}
	}
}

// Classic's delay: the measured round trip truncated to 1/65536 s, plus
// 2^-6, plus 2^precision(server) (zero below 2^-16), plus 0x28f, floored at
// 0x51f; offset in full 32.32 precision.
func TestSampleArithmetic(t *testing.T) {
	t1 := ntp.NewTimestamp(0xeeaccfc9, 0x28c20725)
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	cases := []struct {
		name       string
		t2, t3, t4 time.Duration // after t1
		prec       int8
		wantOff    string
		wantDel    string
	}{
		{"loopback 40us", us(30), us(31), us(41), -23, "+0.000010", "0.02565"},
		{"loopback 20us", us(15), us(16), us(21), -23, "+0.000005", "0.02563"},
		{"loopback 50us", us(30), us(31), us(51), -23, "+0.000005", "0.02567"},
		{"coarse server precision", us(30), us(31), us(41), -6, "+0.000010", "0.04128"},
		{"+3.5 s", 3500*time.Millisecond + us(20), 3500*time.Millisecond + us(21), us(81), -20, "+3.499980", "0.02570"},
		{"-1 s", -time.Second + us(10), -time.Second + us(11), us(23), -20, "-1.000001", "0.02563"},
		{"floor at 0.02", 20 * time.Millisecond, 30 * time.Millisecond, 0, -20, "+0.025000", "0.02000"},
		{"hopeless delay clears the sample", 50 * time.Millisecond, 90 * time.Millisecond, 10 * time.Millisecond, -20, "+0.000000", "0.00000"},
	}
	for _, c := range cases {
		off, del := oneshot.Sample(t1, t1.Add(c.t2), t1.Add(c.t3), t1.Add(c.t4), c.prec)
		if off.Format(6) != c.wantOff || del.Format(5) != c.wantDel {
			t.Errorf("%s: offset %s delay %s, want %s %s", c.name, off.Format(6), del.Format(5), c.wantOff, c.wantDel)
		}
	}
}

// The -d golden: four samples, the first minimum-delay one wins, the
// dispersion of four near-identical offsets is 0.00000.
func TestFilterGolden(t *testing.T) {
	s := oneshot.NewServer("x", netip.MustParseAddrPort("127.0.0.1:123"))
	delays := []oneshot.SFP{1681, 1681, 1685, 1685}
	offs := []float64{-0.000001, -0.000007, -0.000012, -0.000021}
	for i := range delays {
		s.FilterDelay[i] = delays[i]
		s.FilterOffset[i] = oneshot.LFPFromSeconds(offs[i] - 1e-10)
		s.FilterSOffset[i] = s.FilterOffset[i].SFP()
	}
	oneshot.Filter(s, 4)
	if s.Delay.Format(5) != "0.02565" || s.Offset.Format(6) != "-0.000001" || s.Dispersion.Format(5) != "0.00000" {
		t.Errorf("delay %s offset %s disp %s", s.Delay.Format(5), s.Offset.Format(6), s.Dispersion.Format(5))
	}
	// Timed-out samples (delay 0) lose to any real one and add the maximum
	// dispersion, halved per rank.
	s2 := oneshot.NewServer("x", netip.MustParseAddrPort("127.0.0.1:123"))
	s2.FilterDelay[1] = 1700
	s2.FilterOffset[1] = oneshot.LFPFromSeconds(0.5)
	oneshot.Filter(s2, 2)
	if s2.Delay != 1700 || s2.Offset.Format(6) != "+0.500000" || s2.Dispersion.Format(5) != "32.00000" {
		t.Errorf("with timeout: delay %v offset %s disp %s", s2.Delay, s2.Offset.Format(6), s2.Dispersion.Format(5))
	}
	// No sample at all.
	s3 := oneshot.NewServer("x", netip.MustParseAddrPort("127.0.0.1:123"))
	oneshot.Filter(s3, 4)
	if s3.Delay != 0 || s3.Dispersion.Format(0) != "64" {
		t.Errorf("empty: %+v", s3)
	}
}

// server builds an answered server with one sample.
func server(addr string, stratum uint8, offset float64, delay oneshot.SFP) *oneshot.Server {
	s := oneshot.NewServer(addr, netip.AddrPortFrom(netip.MustParseAddr(addr), 123))
	s.Stratum, s.Precision = stratum, -20
	s.Org = ntp.NewTimestamp(0xeeaccfc9, 0)
	s.RefTime = ntp.NewTimestamp(0xeeaccfb9, 0)
	s.Xmits, s.NextPt = 1, 1
	s.FilterDelay[0] = delay
	s.FilterOffset[0] = oneshot.LFPFromSeconds(offset)
	s.FilterSOffset[0] = s.FilterOffset[0].SFP()
	return s
}

func TestSelectClassicMulti(t *testing.T) {
	// classic.ntpdate-q-multi.txt: stratum 1 wins; the stratum-2
	// falseticker is dropped; strata 3 and 11 are beyond the two best.
	servers := []*oneshot.Server{
		server("127.0.0.1", 3, -0.000003, 1685),
		server("198.18.123.6", 2, 0.250045, 1693),
		server("198.18.123.2", 3, -0.000026, 1686),
		server("198.18.123.4", 11, -0.000013, 1685),
		server("198.18.123.5", 1, 0.000038, 1687),
	}
	chosen := oneshot.Select(servers, 1, nil)
	if chosen != servers[4] {
		t.Fatalf("chose %v", chosen)
	}
	want := []string{oneshot.RejectList, oneshot.RejectFalse, oneshot.RejectList, oneshot.RejectList, ""}
	for i, s := range servers {
		if s.Reject != want[i] || s.Chosen != (i == 4) {
			t.Errorf("%s: reject %q chosen %v, want %q", s.Name, s.Reject, s.Chosen, want[i])
		}
	}
}

func TestSelectRules(t *testing.T) {
	cases := []struct {
		name    string
		servers func() []*oneshot.Server
		chosen  int // index, -1 none
		reject  map[int]string
	}{
		{"lower delay wins within a stratum", func() []*oneshot.Server {
			return []*oneshot.Server{server("10.0.0.1", 2, 0.001, 3000), server("10.0.0.2", 2, 0.0015, 1700)}
		}, 1, map[int]string{0: oneshot.RejectNotBest}},
		{"falseticker of three", func() []*oneshot.Server {
			return []*oneshot.Server{server("10.0.0.1", 2, 0.25, 1700), server("10.0.0.2", 2, 0.0, 1750), server("10.0.0.3", 2, 0.001, 1760)}
		}, 1, map[int]string{0: oneshot.RejectFalse, 2: oneshot.RejectNotBest}},
		{"unsynchronised", func() []*oneshot.Server {
			s := server("10.0.0.1", 2, 0, 1700)
			s.Leap = ntp.LeapAlarm
			return []*oneshot.Server{s}
		}, -1, map[int]string{0: oneshot.RejectUnsync}},
		{"stratum 16", func() []*oneshot.Server { return []*oneshot.Server{server("10.0.0.1", 16, 0, 1700)} },
			-1, map[int]string{0: oneshot.RejectStratum}},
		{"no data", func() []*oneshot.Server {
			s := server("10.0.0.1", 2, 0, 1700)
			s.Stratum = 0
			return []*oneshot.Server{s, server("10.0.0.2", 3, 0, 1700)}
		}, 1, map[int]string{0: oneshot.RejectNoData}},
		{"reference time after transmit", func() []*oneshot.Server {
			s := server("10.0.0.1", 2, 0, 1700)
			s.RefTime = s.Org + 1
			return []*oneshot.Server{s}
		}, -1, map[int]string{0: oneshot.RejectBroken}},
		{"reference time a day old", func() []*oneshot.Server {
			s := server("10.0.0.1", 2, 0, 1700)
			s.RefTime = s.Org - ntp.NewTimestamp(86400, 0)
			return []*oneshot.Server{s}
		}, -1, map[int]string{0: oneshot.RejectStale}},
		{"too far away", func() []*oneshot.Server {
			return []*oneshot.Server{server("10.0.0.1", 2, 0, 9<<16)}
		}, -1, map[int]string{0: oneshot.RejectFar}},
	}
	for _, c := range cases {
		servers := c.servers()
		chosen := oneshot.Select(servers, 1, nil)
		if (c.chosen < 0) != (chosen == nil) || c.chosen >= 0 && chosen != servers[c.chosen] {
			t.Errorf("%s: chose %v", c.name, chosen)
		}
		for i, why := range c.reject {
			if servers[i].Reject != why {
				t.Errorf("%s: server %d reject %q, want %q", c.name, i, servers[i].Reject, why)
			}
		}
	}
}

func TestNeedsStep(t *testing.T) {
	for _, c := range []struct {
		off  float64
		want bool
	}{{0.499, false}, {0.5, true}, {-0.5, true}, {-0.4999, false}, {3.5, true}} {
		s := server("10.0.0.1", 2, c.off, 1700)
		oneshot.Filter(s, 1)
		if s.NeedsStep() != c.want {
			t.Errorf("offset %v: step %v", c.off, !c.want)
		}
	}
}

// Poll against fake servers: samples, timeouts shifting empty samples in,
// kiss-o'-death, and the context bounding the run.
func TestPoll(t *testing.T) {
	good := ntptest.New(t, ntptest.Config{Offset: 250 * time.Millisecond, Stratum: 2})
	silent := ntptest.New(t, ntptest.Config{Silent: true})
	kod := ntptest.New(t, ntptest.Config{Kiss: "RATE"})
	servers := []*oneshot.Server{
		oneshot.NewServer("good", good.Addr), oneshot.NewServer("silent", silent.Addr), oneshot.NewServer("kod", kod.Addr),
	}
	var kissed []string
	opt := oneshot.Options{Samples: 2, Timeout: 300 * time.Millisecond,
		OnRateKiss: func(s *oneshot.Server) { kissed = append(kissed, s.Name) }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := oneshot.Poll(ctx, servers, opt); err != nil {
		t.Fatal(err)
	}
	g, s, k := servers[0], servers[1], servers[2]
	if g.Xmits != 2 || g.NextPt != 2 || g.Stratum != 2 || good.Requests() != 2 {
		t.Errorf("good: xmits %d filter %d stratum %d requests %d", g.Xmits, g.NextPt, g.Stratum, good.Requests())
	}
	if s.Xmits != 2 || s.NextPt != 2 || s.FilterDelay[0] != 0 || s.Answered() {
		t.Errorf("silent: xmits %d filter %d", s.Xmits, s.NextPt)
	}
	if k.Xmits != 1 || k.Answered() || k.Kiss != ntp.KissRate || len(kissed) != 1 || kissed[0] != "kod" {
		t.Errorf("kod: xmits %d kiss %v kissed %v", k.Xmits, k.Kiss, kissed)
	}
	chosen := oneshot.Select(servers, 2, nil)
	if chosen != g || g.Offset.Seconds() < 0.2 || g.Offset.Seconds() > 0.3 {
		t.Errorf("chosen %v offset %v", chosen, g.Offset.Seconds())
	}

	// A context that ends first stops the poll promptly.
	slow := []*oneshot.Server{oneshot.NewServer("silent", silent.Addr)}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	start := time.Now()
	if err := oneshot.Poll(short, slow, oneshot.Options{Samples: 8, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("poll ignored its context")
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	if a, err := oneshot.Resolve(ctx, nil, "127.0.0.1", 0); err != nil || a[0].String() != "127.0.0.1" {
		t.Errorf("literal: %v %v", a, err)
	}
	if a, err := oneshot.Resolve(ctx, nil, "[::1]", 6); err != nil || a[0].String() != "::1" {
		t.Errorf("bracketed: %v %v", a, err)
	}
	for _, c := range []struct {
		host   string
		family int
		code   int
	}{{"::1", 4, oneshot.EAIAddrFamily}, {"127.0.0.1", 6, oneshot.EAIAddrFamily}, {"a..b", 0, oneshot.EAINoName}} {
		_, err := oneshot.Resolve(ctx, nil, c.host, c.family)
		re, ok := err.(*oneshot.ResolveError)
		if !ok || re.Code != c.code {
			t.Errorf("%s -%d: %v", c.host, c.family, err)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	mk := func() []*oneshot.Server {
		return []*oneshot.Server{
			server("127.0.0.1", 3, -0.000003, 1685), server("198.18.123.6", 2, 0.250045, 1693),
			server("198.18.123.2", 3, -0.000026, 1686), server("198.18.123.4", 11, -0.000013, 1685),
			server("198.18.123.5", 1, 0.000038, 1687),
		}
	}
	servers := mk()
	b.ReportAllocs()
	for b.Loop() {
		oneshot.Select(servers, 1, nil)
	}
}

func BenchmarkSample(b *testing.B) {
	t1 := ntp.NewTimestamp(0xeeaccfc9, 0x28c20725)
	for b.Loop() {
		oneshot.Sample(t1, t1+1000, t1+2000, t1+5000, -20)
	}
}

// FuzzSampleSelect: arbitrary reply timestamps, precisions, strata and
// leap values never panic the arithmetic, the filter or the selection, and
// the chosen server always passed the sanity checks.
func FuzzSampleSelect(f *testing.F) {
	f.Add(uint64(0xeeaccfc928c20725), uint64(0xeeaccfc928c9aaaa), uint64(0xeeaccfc928ca06c6), uint64(0xeeaccfc928d00000), int8(-23), uint8(3), uint8(0), uint64(0xeeaccfbb50a28aa4))
	f.Add(uint64(0), uint64(0), uint64(0), uint64(0), int8(127), uint8(16), uint8(3), uint64(0))
	f.Add(uint64(1<<63), uint64(1), uint64(1<<62), uint64(0xffffffffffffffff), int8(-128), uint8(1), uint8(1), uint64(5))
	f.Fuzz(func(t *testing.T, t1, t2, t3, t4 uint64, prec int8, stratum, leap uint8, ref uint64) {
		var servers []*oneshot.Server
		for i := range 3 {
			s := oneshot.NewServer("x", netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 123))
			off, del := oneshot.Sample(ntp.Timestamp(t1), ntp.Timestamp(t2+uint64(i)), ntp.Timestamp(t3), ntp.Timestamp(t4), prec)
			s.FilterDelay[0], s.FilterOffset[0], s.FilterSOffset[0] = del, off, off.SFP()
			s.Xmits, s.NextPt = 1, 1
			s.Stratum, s.Leap, s.Precision = stratum+uint8(i), ntp.Leap(leap&3), prec
			s.RefTime, s.Org = ntp.Timestamp(ref), ntp.Timestamp(t3)
			servers = append(servers, s)
			_ = off.Format(6) + del.Format(5)
		}
		if c := oneshot.Select(servers, 1, nil); c != nil {
			if c.Stratum == 0 || c.Stratum > 15 || c.Leap == ntp.LeapAlarm || c.Reject != "" || !c.Chosen {
				t.Fatalf("chose an unfit server: %+v", c)
			}
		}
	})
}
