package daemon

import (
	"net/netip"
	"testing"
	"time"
)

const sec = int64(time.Second)

func addrN(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)})
}

func TestMRUBounded(t *testing.T) {
	m := NewMRU(MRUOptions{Capacity: 100})
	for i := 0; i < 10000; i++ {
		m.Observe(netip.AddrPortFrom(addrN(i), 123), 4, int64(i), false, false)
		if m.Len() > 100 {
			t.Fatalf("after %d sources: %d entries > capacity 100", i+1, m.Len())
		}
	}
	if m.Len() != 100 || m.Cap() != 100 {
		t.Fatalf("len %d cap %d", m.Len(), m.Cap())
	}
	// The 100 most recent sources remain, most recent first.
	es := m.Entries()
	for i, e := range es {
		if want := addrN(9999 - i); e.Addr != want {
			t.Fatalf("entry %d = %v, want %v", i, e.Addr, want)
		}
	}
	// A remembered source is found again (count grows), not duplicated.
	m.Observe(netip.AddrPortFrom(addrN(9950), 123), 4, 20000, false, false)
	if m.Len() != 100 || m.Entries()[0].Addr != addrN(9950) || m.Entries()[0].Count != 2 {
		t.Errorf("re-seen source: %+v", m.Entries()[0])
	}
	// IPv6 and IPv4-mapped addresses.
	v6 := netip.MustParseAddr("fd7e::1")
	m.Observe(netip.AddrPortFrom(v6, 123), 4, 20001, false, false)
	m.Observe(netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.1.38.222"), 123), 4, 20002, false, false)
	if es := m.Entries(); es[1].Addr != v6 || es[0].Addr != netip.MustParseAddr("127.1.38.222") {
		t.Errorf("entries %v %v", es[0].Addr, es[1].Addr)
	}
}

func TestMRURateLimit(t *testing.T) {
	a := netip.MustParseAddr("127.0.0.2")
	tests := []struct {
		name     string
		interval time.Duration
		n        int
		limited  bool
		kod      bool
		wantOK   int
		wantKoD  int
	}{
		{"not limited: all answered", 10 * time.Millisecond, 50, false, false, 50, 0},
		{"well-behaved every 8 s", 8 * time.Second, 50, true, true, 50, 0},
		{"every 4 s: burst then limited", 4 * time.Second, 50, true, false, 0, 0},
		{"below minimum: only the first", 500 * time.Millisecond, 20, true, false, 1, 0},
		{"below minimum with kod: one KoD per 8 s", 500 * time.Millisecond, 32, true, true, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMRU(MRUOptions{Capacity: 16, Average: 3, Minimum: 2})
			ok, kod := 0, 0
			for i := 0; i < tc.n; i++ {
				switch m.Observe(netip.AddrPortFrom(a, 123), 4, int64(i)*int64(tc.interval), tc.limited, tc.kod) {
				case RateOK:
					ok++
				case RateKoD:
					kod++
				}
			}
			if tc.name == "every 4 s: burst then limited" {
				// 8 s of credit per packet, draining 4 s per packet: the
				// bucket holds 8 packets, so about half get through.
				if ok < 20 || ok > 35 {
					t.Errorf("ok = %d, want about half of %d", ok, tc.n)
				}
				return
			}
			if ok != tc.wantOK || kod != tc.wantKoD {
				t.Errorf("ok %d kod %d, want %d %d", ok, kod, tc.wantOK, tc.wantKoD)
			}
		})
	}
}

func TestMRUBurstThenRecover(t *testing.T) {
	m := NewMRU(MRUOptions{Capacity: 16, Average: 3, Minimum: 0})
	a := netip.MustParseAddr("127.0.0.3")
	// 8 packets 1 s apart (iburst-like) are all answered...
	for i := 0; i < 8; i++ {
		if v := m.Observe(netip.AddrPortFrom(a, 123), 4, int64(i)*sec, true, true); v != RateOK {
			t.Fatalf("burst packet %d: %v", i, v)
		}
	}
	// ...but keeping up one packet per second soon overflows the bucket.
	i := 8
	for ; i < 20 && m.Observe(netip.AddrPortFrom(a, 123), 4, int64(i)*sec, true, true) == RateOK; i++ {
	}
	if i > 10 {
		t.Fatalf("still answered after %d packets at 1/s", i)
	}
	if v := m.Observe(netip.AddrPortFrom(a, 123), 4, int64(i)*sec+1, true, true); v != RateLimited {
		t.Fatalf("right after the KoD: %v, want limited (KoDs are paced)", v)
	}
	// ...and after a quiet minute the source is served again.
	if v := m.Observe(netip.AddrPortFrom(a, 123), 4, 70*sec, true, true); v != RateOK {
		t.Fatalf("after a pause: %v", v)
	}
}

func TestMRUGlobalKoDBudget(t *testing.T) {
	m := NewMRU(MRUOptions{Capacity: 4096, Average: 3, Minimum: 2, KoDPerSecond: 10})
	kods := 0
	// 1000 sources each sending 3 packets within one second: every source
	// is over its minimum, but only 10 KoDs per second may go out.
	for round := 0; round < 3; round++ {
		for i := 0; i < 1000; i++ {
			now := int64(round)*sec/10 + int64(i)*1000
			if m.Observe(netip.AddrPortFrom(addrN(i), 123), 4, now, true, true) == RateKoD {
				kods++
			}
		}
	}
	if kods == 0 || kods > 11 {
		t.Errorf("%d KoDs within 0.3 s, want 1..11 (budget 10/s)", kods)
	}
}

func TestMRUNoAllocs(t *testing.T) {
	m := NewMRU(MRUOptions{Capacity: 64})
	i := 0
	if a := testing.AllocsPerRun(1000, func() { i++; m.Observe(netip.AddrPortFrom(addrN(i), 123), 4, int64(i), true, true) }); a != 0 {
		t.Errorf("Observe allocates %.1f times", a)
	}
}

func BenchmarkMRUObserve(b *testing.B) {
	m := NewMRU(MRUOptions{Capacity: 4096})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		m.Observe(netip.AddrPortFrom(addrN(i&8191), 123), 4, int64(i)*1000, true, true)
	}
}
