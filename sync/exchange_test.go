package sync_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
	"github.com/ntpkit/ntpkit/sync/ntptest"
)

// The request classic ntpdate sends (golden/ntpdate-q.classic.pcap, SPEC
// §5): e3 00 03 fa, root delay and dispersion 1.0, the rest zero but the
// transmit timestamp.
func TestNewRequestBytes(t *testing.T) {
	xmt := ntp.NewTimestamp(0xeeaccfc9, 0x28c20725)
	h := ntpsync.NewRequest(4, xmt)
	got := hex.EncodeToString(h.Marshal())
	h3 := ntpsync.NewRequest(3, xmt)
	want := "e30003fa" + "00010000" + "00010000" + "00000000" +
		"0000000000000000" + "0000000000000000" + "0000000000000000" + "eeaccfc928c20725"
	if got != want {
		t.Errorf("request\n got %s\nwant %s", got, want)
	}
	if b := h3.Marshal()[0]; b != 0xdb {
		t.Errorf("-o 3: octet 0 = %#x, want 0xdb", b)
	}
}

func reply() ntp.Header {
	return ntp.Header{
		Leap: ntp.LeapNone, Version: 4, Mode: ntp.ModeServer, Stratum: 2, Precision: -20,
		RefID:    ntp.RefID{198, 18, 0, 1},
		RefTime:  ntp.NewTimestamp(1000, 0),
		OrigTime: ntp.NewTimestamp(1010, 0),
		RecvTime: ntp.NewTimestamp(1010, 1<<30),
		XmitTime: ntp.NewTimestamp(1010, 1<<31),
	}
}

func TestCheckReply(t *testing.T) {
	origin := ntp.NewTimestamp(1010, 0)
	cases := []struct {
		name   string
		mutate func(*ntp.Header)
		want   ntpsync.Reason
	}{
		{"good", func(*ntp.Header) {}, 0},
		{"version 0", func(h *ntp.Header) { h.Version = 0 }, ntpsync.ReasonVersion},
		{"version 5", func(h *ntp.Header) { h.Version = 5 }, ntpsync.ReasonVersion},
		{"mode 3", func(h *ntp.Header) { h.Mode = ntp.ModeClient }, ntpsync.ReasonMode},
		{"mode 2 accepted", func(h *ntp.Header) { h.Mode = ntp.ModeSymmetricPassive }, 0},
		{"stratum 16", func(h *ntp.Header) { h.Stratum = 16 }, ntpsync.ReasonStratum},
		{"origin", func(h *ntp.Header) { h.OrigTime++ }, ntpsync.ReasonOrigin},
		{"kiss RATE", func(h *ntp.Header) { h.Leap, h.Stratum, h.RefID = 3, 0, ntp.KissRate }, ntpsync.ReasonKiss},
		{"kiss DENY", func(h *ntp.Header) { h.Leap, h.Stratum, h.RefID = 3, 0, ntp.KissDeny }, ntpsync.ReasonKiss},
		{"INIT is no kiss", func(h *ntp.Header) { h.Leap, h.Stratum, h.RefID = 3, 0, ntp.RefIDFromString("INIT") }, 0},
		{"RATE without LI 3", func(h *ntp.Header) { h.Stratum, h.RefID = 0, ntp.KissRate }, 0},
		{"zero receive", func(h *ntp.Header) { h.RecvTime = 0 }, ntpsync.ReasonZeroReceive},
		{"zero transmit", func(h *ntp.Header) { h.XmitTime = 0 }, ntpsync.ReasonTransmitOrder},
		{"transmit before receive", func(h *ntp.Header) { h.XmitTime = h.RecvTime - 1 }, ntpsync.ReasonTransmitOrder},
	}
	for _, c := range cases {
		h := reply()
		c.mutate(&h)
		err := ntpsync.CheckReply(&h, origin)
		if got := ntpsync.ReasonOf(err); got != c.want {
			t.Errorf("%s: %v (reason %d), want %v", c.name, err, got, c.want)
		}
	}
}

func TestCheckUsable(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*ntp.Header)
		want   ntpsync.Reason
	}{
		{"good", func(*ntp.Header) {}, 0},
		{"leap alarm", func(h *ntp.Header) { h.Leap = ntp.LeapAlarm }, ntpsync.ReasonUnsynchronized},
		{"stratum 0", func(h *ntp.Header) { h.Stratum = 0 }, ntpsync.ReasonNoStratum},
		{"reftime in the future", func(h *ntp.Header) { h.RefTime = h.XmitTime + 1 }, ntpsync.ReasonRefTimeFuture},
		{"reftime a day old", func(h *ntp.Header) { h.RefTime = h.XmitTime - ntp.NewTimestamp(86400, 0) }, ntpsync.ReasonRefTimeStale},
		{"reftime zero", func(h *ntp.Header) { h.RefTime = 0 }, ntpsync.ReasonRefTimeStale},
	}
	for _, c := range cases {
		h := reply()
		h.XmitTime = ntp.NewTimestamp(100000, 0)
		h.RefTime = ntp.NewTimestamp(99990, 0)
		c.mutate(&h)
		if got := ntpsync.ReasonOf(ntpsync.CheckUsable(&h)); got != c.want {
			t.Errorf("%s: reason %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNewSample(t *testing.T) {
	// Server 1 s ahead, 20 ms each way, 10 ms in the server.
	t1 := ntp.TimestampFromTime(time.Unix(1_800_000_000, 0))
	h := reply()
	h.OrigTime = t1
	h.RecvTime = t1.Add(1020 * time.Millisecond)
	h.XmitTime = t1.Add(1030 * time.Millisecond)
	t4 := t1.Add(50 * time.Millisecond)
	s := ntpsync.NewSample(h, t4, ntpsync.ClientPrecision)
	if d := s.Offset - time.Second; d > time.Microsecond || d < -time.Microsecond {
		t.Errorf("offset %v", s.Offset)
	}
	if d := s.Delay - 40*time.Millisecond; d > time.Microsecond || d < -time.Microsecond {
		t.Errorf("delay %v", s.Delay)
	}
	if s.Dispersion < 15*time.Millisecond || s.Dispersion > 17*time.Millisecond {
		t.Errorf("dispersion %v (2^-6 + 2^-20 + PHI*50ms)", s.Dispersion)
	}
	// Across the era boundary (2036-02-07) the arithmetic stays exact.
	t1 = ntp.NewTimestamp(0xffffffff, 0)
	h.OrigTime = t1
	h.RecvTime = t1.Add(2 * time.Second)
	h.XmitTime = t1.Add(2 * time.Second)
	s = ntpsync.NewSample(h, t1, ntpsync.ClientPrecision)
	if s.Offset != 2*time.Second || s.Delay != 0 {
		t.Errorf("era wrap: offset %v delay %v", s.Offset, s.Delay)
	}
}

func TestExchangeWithFakeServer(t *testing.T) {
	srv := ntptest.New(t, ntptest.Config{Offset: 3500 * time.Millisecond, Stratum: 3})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := ntpsync.Exchange(ctx, conn, clock.System{}, srv.Addr, 4)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Offset - 3500*time.Millisecond; d > 50*time.Millisecond || d < -50*time.Millisecond {
		t.Errorf("offset %v", s.Offset)
	}
	if s.Reply.Stratum != 3 || ntpsync.CheckUsable(&s.Reply) != nil {
		t.Errorf("reply %+v", s.Reply)
	}

	// A kiss-o'-death comes back as a RejectError with the code.
	srv.SetConfig(ntptest.Config{Kiss: "RATE"})
	_, err = ntpsync.Exchange(ctx, conn, clock.System{}, srv.Addr, 4)
	var re *ntpsync.RejectError
	if !errors.As(err, &re) || re.Reason != ntpsync.ReasonKiss || re.Kiss != ntp.KissRate {
		t.Errorf("kiss: %v", err)
	}

	// A silent server ends with the context.
	srv.SetConfig(ntptest.Config{Silent: true})
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if _, err = ntpsync.Exchange(short, conn, clock.System{}, srv.Addr, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent: %v", err)
	}
}

// FuzzParseReply: any datagram is either refused with a reason or gives a
// reply whose sample is finite; never a panic.
func FuzzParseReply(f *testing.F) {
	good := reply()
	f.Add(good.Marshal(), uint64(good.OrigTime))
	kod := reply()
	kod.Leap, kod.Stratum, kod.RefID = 3, 0, ntp.KissRate
	f.Add(kod.Marshal(), uint64(kod.OrigTime))
	f.Add([]byte{0xe4}, uint64(0))
	f.Add(append(good.Marshal(), make([]byte, 20)...), uint64(good.OrigTime))
	f.Fuzz(func(t *testing.T, b []byte, origin uint64) {
		h, err := ntpsync.ParseReply(b, ntp.Timestamp(origin))
		if err != nil {
			if ntpsync.ReasonOf(err) == 0 {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		s := ntpsync.NewSample(h, h.XmitTime, ntpsync.ClientPrecision)
		if s.Delay < 0 || s.Dispersion < 0 {
			t.Fatalf("sample %+v", s)
		}
		_ = ntpsync.CheckUsable(&h)
	})
}
