package ntpconf

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestRestrictFlagsString(t *testing.T) {
	tests := []struct {
		f    RestrictFlags
		want string
	}{
		{0, "none"},
		{RestrictNoQuery, "noquery"},
		{RestrictKOD | RestrictNoMRUList | RestrictIgnore, "ignore kod nomrulist"},
		{RestrictNoMRUList << 1, "unknown"},
		{RestrictNoTrap | RestrictNoMRUList<<3, "notrap unknown"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%#x.String() = %q, want %q", uint32(tt.f), got, tt.want)
		}
	}
}

const restrictConf = `
restrict default kod limited nomodify noquery
restrict -6 default ignore
restrict 192.0.2.0 mask 255.255.255.0 nomodify
restrict 192.0.2.128 mask 255.255.255.128 noserve
restrict 192.0.2.200
restrict 198.51.100.0/24 notrust
restrict 198.51.100.0 mask 255.255.255.0 nopeer
restrict 2001:db8::/32 noquery
restrict 2001:db8:1:: mask ffff:ffff:ffff:: notrap
restrict ::1
restrict 127.0.0.1
restrict source nopeer
restrict ntp.example.org noserve
`

func TestRestrictMatch(t *testing.T) {
	tests := []struct {
		addr string
		want RestrictFlags
	}{
		{"203.0.113.9", RestrictKOD | RestrictLimited | RestrictNoModify | RestrictNoQuery}, // default
		{"192.0.2.1", RestrictNoModify},  // /24
		{"192.0.2.129", RestrictNoServe}, // /25 beats /24
		{"192.0.2.200", 0},               // /32 beats /25
		{"198.51.100.7", RestrictNoPeer}, // same prefix written twice: later replaces
		{"127.0.0.1", 0},                 // host entry
		{"127.0.0.2", RestrictKOD | RestrictLimited | RestrictNoModify | RestrictNoQuery},
		{"::ffff:192.0.2.1", RestrictNoModify}, // mapped addresses are IPv4
		{"2001:db8::1", RestrictNoQuery},       // /32
		{"2001:db8:1::5", RestrictNoTrap},      // /48 by mask
		{"2001:db8:1::5%eth0", RestrictNoTrap}, // zone ignored
		{"2001:db9::1", RestrictIgnore},        // -6 default replaced default for IPv6
		{"::1", 0},
	}
	c := mustParse(t, restrictConf)
	r := c.Restrictor()
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := r.Flags(a); got != tt.want {
			t.Errorf("Restrictor.Flags(%s) = %v, want %v", tt.addr, got, tt.want)
		}
		if got := c.RestrictFor(a); got != tt.want {
			t.Errorf("RestrictFor(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestRestrictFamilies(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		conf   string
		w4, w6 RestrictFlags
	}{
		{"", 0, 0},
		{"restrict default noquery", RestrictNoQuery, RestrictNoQuery},
		{"restrict -4 default noquery", RestrictNoQuery, 0},
		{"restrict -6 default noquery", 0, RestrictNoQuery},
		{"restrict default noquery\nrestrict -4 default nopeer", RestrictNoPeer, RestrictNoQuery},
		{"restrict -4 default nopeer\nrestrict default noquery", RestrictNoQuery, RestrictNoQuery},
		{"restrict default noquery\nrestrict default nomodify", RestrictNoModify, RestrictNoModify},
		{"restrict 0.0.0.0 mask 0.0.0.0 ignore", RestrictIgnore, 0}, // classic spelling of -4 default
		{"restrict ::/0 ignore", 0, RestrictIgnore},
		{"restrict ::ffff:192.0.2.0/120 noquery", RestrictNoQuery, 0}, // mapped: stored as IPv4
		{"restrict ::ffff:192.0.2.1 noquery", RestrictNoQuery, 0},
		{"restrict default ignore\nrestrict 192.0.2.1 mask 255.255.255.255", 0, RestrictIgnore},
		{"restrict source noquery\nrestrict ntp.example.org noquery", 0, 0}, // not numeric
	}
	for _, tt := range tests {
		c := mustParse(t, tt.conf)
		r := c.Restrictor()
		if g4, g6 := r.Flags(v4), r.Flags(v6); g4 != tt.w4 || g6 != tt.w6 {
			t.Errorf("%q: Restrictor v4 %v v6 %v, want %v %v", tt.conf, g4, g6, tt.w4, tt.w6)
		}
		if g4, g6 := c.RestrictFor(v4), c.RestrictFor(v6); g4 != tt.w4 || g6 != tt.w6 {
			t.Errorf("%q: RestrictFor v4 %v v6 %v, want %v %v", tt.conf, g4, g6, tt.w4, tt.w6)
		}
	}
	if f, ok := mustParse(t, "restrict source noquery").SourceFlags(); !ok || f != RestrictNoQuery {
		t.Errorf("SourceFlags = %v %v", f, ok)
	}
	if _, ok := mustParse(t, "").SourceFlags(); ok {
		t.Errorf("SourceFlags without restrict source")
	}
}

func TestMaskBits(t *testing.T) {
	tests := []struct {
		mask string
		bits int
		ok   bool
	}{
		{"255.255.255.255", 32, true},
		{"255.255.255.0", 24, true},
		{"255.255.254.0", 23, true},
		{"255.128.0.0", 9, true},
		{"0.0.0.0", 0, true},
		{"255.255.0.255", 0, false},
		{"255.254.255.0", 0, false},
		{"ffff:ffff:ffff:ff80::", 57, true},
		{"ffff::1", 0, false},
	}
	for _, tt := range tests {
		b, ok := maskBits(netip.MustParseAddr(tt.mask))
		if b != tt.bits || ok != tt.ok {
			t.Errorf("maskBits(%s) = %d %v, want %d %v", tt.mask, b, ok, tt.bits, tt.ok)
		}
	}
}

func TestRestrictNoAlloc(t *testing.T) {
	c := mustParse(t, restrictConf)
	r := c.Restrictor()
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.129"), netip.MustParseAddr("2001:db8:1::5%eth0"),
		netip.MustParseAddr("::ffff:10.1.2.3")}
	var sink RestrictFlags
	n := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			sink |= r.Flags(a) | c.RestrictFor(a)
		}
	})
	if n != 0 {
		t.Errorf("lookup allocates %v times per run", n)
	}
	_ = sink
}

func BenchmarkRestrictor(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("restrict default kod limited nomodify noquery\n")
	for i := range 200 {
		sb.WriteString("restrict 10." + strconv.Itoa(i) + ".0.0 mask 255.255.0.0 nopeer\n")
	}
	c, err := Parse("bench.conf", strings.NewReader(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	r := c.Restrictor()
	a := netip.MustParseAddr("203.0.113.1")
	b.ReportAllocs()
	for b.Loop() {
		r.Flags(a)
	}
}
