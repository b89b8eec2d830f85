package ntpconf

import (
	"errors"
	"io/fs"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse("ntp.conf", strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func TestLexer(t *testing.T) {
	tests := []struct {
		line string
		want []token
	}{
		{"", nil},
		{"   \t ", nil},
		{"# comment", nil},
		{"server a.example iburst # trailing", []token{{s: "server"}, {s: "a.example"}, {s: "iburst"}}},
		{"server\ta#b", []token{{s: "server"}, {s: "a"}}},
		{`driftfile "/var/lib/my ntp/drift"`, []token{{s: "driftfile"}, {s: "/var/lib/my ntp/drift", quoted: true}}},
		{`logfile "a#b"`, []token{{s: "logfile"}, {s: "a#b", quoted: true}}},
		{`x""y`, []token{{s: "x"}, {s: "", quoted: true}, {s: "y"}}},
		{"a\r", []token{{s: "a"}}},
	}
	for _, tt := range tests {
		got, err := splitLine(tt.line)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitLine(%q) = %v, %v; want %v", tt.line, got, err, tt.want)
		}
	}
	if _, err := splitLine(`logfile "/x`); err != errUnterminated {
		t.Errorf("unterminated quote: got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, "")
	want := NewConfig()
	want.Files = []string{"ntp.conf"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("empty config = %+v, want %+v", c, want)
	}
	if c.Tos.MinClock != 3 || c.Tos.MinSane != 1 || c.Tos.MaxClock != 10 || c.Tos.Orphan != 16 {
		t.Errorf("tos defaults: %+v", c.Tos)
	}
	if !c.Flags.Monitor || !c.Flags.Kernel || !c.Flags.NTP || c.Flags.Stats {
		t.Errorf("flag defaults: %+v", c.Flags)
	}
	if c.Discard != (Discard{Average: 3, Minimum: 2, Monitor: 3000}) {
		t.Errorf("discard defaults: %+v", c.Discard)
	}
}

// TestDirectives checks the Config each valid line produces.
func TestDirectives(t *testing.T) {
	pos1 := Pos{"ntp.conf", 1}
	srv := func(mod func(*Association)) []Association {
		a := Association{Kind: KindServer, MinPoll: 6, MaxPoll: 10, Version: 4, Pos: pos1}
		mod(&a)
		return []Association{a}
	}
	tests := []struct {
		in    string
		check func(c *Config) any // returns the part compared with want
		want  any
	}{
		{"server 192.0.2.1", func(c *Config) any { return c.Servers },
			srv(func(a *Association) { a.Address = "192.0.2.1" })},
		{"server ntp.example.org iburst burst prefer noselect minpoll 4 maxpoll 12 key 7 version 3",
			func(c *Config) any { return c.Servers },
			srv(func(a *Association) {
				a.Address, a.Iburst, a.Burst, a.Prefer, a.NoSelect = "ntp.example.org", true, true, true, true
				a.MinPoll, a.MaxPoll, a.Key, a.Version = 4, 12, 7, 3
			})},
		{"peer -6 2001:db8::1", func(c *Config) any { return c.Servers },
			srv(func(a *Association) { a.Kind, a.Family, a.Address = KindPeer, FamilyV6, "2001:db8::1" })},
		{"pool -4 pool.ntp.org iburst", func(c *Config) any { return c.Servers },
			srv(func(a *Association) { a.Kind, a.Family, a.Address, a.Iburst = KindPool, FamilyV4, "pool.ntp.org", true })},
		{"server 192.0.2.1 true ttl 5 mode 3 xleave preempt", func(c *Config) any { return c.Servers[0].Ignored },
			[]string{"true", "ttl 5", "mode 3", "xleave", "preempt"}},
		{"server 192.0.2.1 minpoll 12", func(c *Config) any { return [2]int{c.Servers[0].MinPoll, c.Servers[0].MaxPoll} }, [2]int{12, 12}},
		{"server 192.0.2.1 maxpoll 4", func(c *Config) any { return [2]int{c.Servers[0].MinPoll, c.Servers[0].MaxPoll} }, [2]int{4, 4}},
		{"server 127.127.1.0", func(c *Config) any { return c.Servers },
			srv(func(a *Association) { a.Address, a.IsRefclock, a.RefclockType = "127.127.1.0", true, 1 })},
		{"server 127.127.28.2 prefer", func(c *Config) any {
			return [3]int{c.Servers[0].RefclockType, c.Servers[0].RefclockUnit, len(c.Warnings)}
		}, [3]int{28, 2, 0}},
		{"server 127.127.1.0\nfudge 127.127.1.0 stratum 10 refid LCL time1 0.5 time2 -1e-3 flag1 1 flag4 0",
			func(c *Config) any { return c.Fudges },
			[]Fudge{{Address: "127.127.1.0", Type: 1, Stratum: ptr(10), RefID: "LCL", Time1: ptr(0.5), Time2: ptr(-0.001),
				Flags: [4]*bool{ptr(true), nil, nil, ptr(false)}, Pos: Pos{"ntp.conf", 2}}}},
		{"server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nfudge 127.127.1.0 refid XYZ",
			func(c *Config) any { f := c.FudgeFor("127.127.1.0"); return [2]any{*f.Stratum, f.RefID} }, [2]any{10, "XYZ"}},
		{"refclock shm unit 0", func(c *Config) any { return c.Servers },
			srv(func(a *Association) { a.Address, a.IsRefclock, a.RefclockType = "127.127.28.0", true, 28 })},
		{"refclock local unit 3 stratum 10 prefer", func(c *Config) any {
			return [3]any{c.Servers[0].Address, c.Servers[0].Prefer, *c.FudgeFor("127.127.1.3").Stratum}
		}, [3]any{"127.127.1.3", true, 10}},
		{"restrict default kod limited nomodify notrap nopeer noquery", func(c *Config) any { return c.Restrictions },
			[]Restrict{{Default: true, Flags: RestrictKOD | RestrictLimited | RestrictNoModify | RestrictNoTrap | RestrictNoPeer | RestrictNoQuery, Pos: pos1}}},
		{"restrict -6 default ignore", func(c *Config) any { return c.Restrictions },
			[]Restrict{{Default: true, Family: FamilyV6, Flags: RestrictIgnore, Pos: pos1}}},
		{"restrict source nomodify", func(c *Config) any { return c.Restrictions },
			[]Restrict{{Source: true, Flags: RestrictNoModify, Pos: pos1}}},
		{"restrict 192.0.2.7 mask 255.255.255.0 lowpriotrap noserve notrust version nomrulist", func(c *Config) any { return c.Restrictions },
			[]Restrict{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Mask: "255.255.255.0",
				Flags: RestrictLowPrioTrap | RestrictNoServe | RestrictNoTrust | RestrictVersion | RestrictNoMRUList, Pos: pos1}}},
		{"restrict 2001:db8::/32 noquery", func(c *Config) any { return c.Restrictions },
			[]Restrict{{Prefix: netip.MustParsePrefix("2001:db8::/32"), Flags: RestrictNoQuery, Pos: pos1}}},
		{"restrict -4 ntp.example.org mask 255.255.0.0 nomodify", func(c *Config) any { return c.Restrictions },
			[]Restrict{{Family: FamilyV4, Host: "ntp.example.org", Mask: "255.255.0.0", Flags: RestrictNoModify, Pos: pos1}}},
		{"restrict 127.0.0.1", func(c *Config) any { return c.Restrictions },
			[]Restrict{{Prefix: netip.MustParsePrefix("127.0.0.1/32"), Pos: pos1}}},
		{"restrict 10.0.0.0 mask 255.0.0.0 ippeerlimit 2 ntpport", func(c *Config) any { return c.Restrictions[0].Ignored },
			[]string{"ippeerlimit 2", "ntpport"}},
		{"discard average 4 minimum 1 monitor 100", func(c *Config) any { return c.Discard }, Discard{4, 1, 100}},
		{"discard minimum 5", func(c *Config) any { return c.Discard }, Discard{3, 5, 3000}},
		{"driftfile /var/lib/ntp/ntp.drift", func(c *Config) any { return c.DriftFile }, "/var/lib/ntp/ntp.drift"},
		{`driftfile "/var/lib/my ntp/drift" 1e-7`, func(c *Config) any { return c.DriftFile }, "/var/lib/my ntp/drift"},
		{"logfile /var/log/ntp.log", func(c *Config) any { return c.LogFile }, "/var/log/ntp.log"},
		{"leapfile /usr/share/zoneinfo/leap-seconds.list", func(c *Config) any { return c.LeapFile }, "/usr/share/zoneinfo/leap-seconds.list"},
		{"keys /etc/ntp.keys", func(c *Config) any { return c.Keys }, "/etc/ntp.keys"},
		{"statsdir /var/log/ntpstats/", func(c *Config) any { return c.StatsDir }, "/var/log/ntpstats/"},
		{"disable monitor kernel ntp auth\nenable stats calibrate pps", func(c *Config) any { return c.Flags },
			SystemFlags{Stats: true, Calibrate: true, PPS: true, KernelSet: true}},
		{"disable kernel\nenable kernel", func(c *Config) any { return c.Flags.Kernel }, true},
		{"enable kernel", func(c *Config) any { return [2]bool{c.Flags.Kernel, c.Flags.KernelSet} }, [2]bool{true, true}},
		{"disable kernel", func(c *Config) any { return [2]bool{c.Flags.Kernel, c.Flags.KernelSet} }, [2]bool{false, true}},
		{"enable stats", func(c *Config) any { return [2]bool{c.Flags.Kernel, c.Flags.KernelSet} }, [2]bool{true, false}},
		{"trustedkey 1 7 3\ntrustedkey (10 ... 12) 7 (20...21)", func(c *Config) any { return c.TrustedKeys },
			[]int{1, 7, 3, 10, 11, 12, 20, 21}},
		{"trustedkey ( 4 ... 5 )", func(c *Config) any { return c.TrustedKeys }, []int{4, 5}},
		{"controlkey 5\nrequestkey 6", func(c *Config) any { return [2]int{c.ControlKey, c.RequestKey} }, [2]int{5, 6}},
		{"interface listen all\ninterface ignore ipv6\nnic drop wildcard\ninterface listen eth0\ninterface ignore ipv4\ninterface listen 192.0.2.1\ninterface drop fe80::/10",
			func(c *Config) any { return c.Interfaces },
			[]InterfaceRule{
				{Action: InterfaceListen, Match: MatchAll, Pos: Pos{"ntp.conf", 1}},
				{Action: InterfaceIgnore, Match: MatchIPv6, Pos: Pos{"ntp.conf", 2}},
				{Action: InterfaceDrop, Match: MatchWildcard, Pos: Pos{"ntp.conf", 3}},
				{Action: InterfaceListen, Match: MatchName, Name: "eth0", Pos: Pos{"ntp.conf", 4}},
				{Action: InterfaceIgnore, Match: MatchIPv4, Pos: Pos{"ntp.conf", 5}},
				{Action: InterfaceListen, Match: MatchPrefix, Prefix: netip.MustParsePrefix("192.0.2.1/32"), Pos: Pos{"ntp.conf", 6}},
				{Action: InterfaceDrop, Match: MatchPrefix, Prefix: netip.MustParsePrefix("fe80::/10"), Pos: Pos{"ntp.conf", 7}},
			}},
		{"tos minclock 2 minsane 2 maxclock 4 orphan 10 mindist 0.01 maxdist 2.5\ntos floor 2 ceiling 12 cohort 1 beacon 60 orphanwait 30",
			func(c *Config) any { return c.Tos },
			Tos{MinClock: 2, MinSane: 2, MaxClock: 4, Orphan: 10, OrphanWait: 30, MinDist: 0.01, MaxDist: 2.5, Floor: 2, Ceiling: 12, Cohort: true, Beacon: 60}},
		{"filegen loopstats file loops type day link enable\nfilegen peerstats nolink disable",
			func(c *Config) any { return c.FileGen },
			[]FileGen{
				{Name: "loopstats", File: "loops", Type: "day", Link: ptr(true), Enable: ptr(true), Pos: Pos{"ntp.conf", 1}},
				{Name: "peerstats", Link: ptr(false), Enable: ptr(false), Pos: Pos{"ntp.conf", 2}},
			}},
		{"statistics loopstats peerstats\nstatistics clockstats loopstats", func(c *Config) any { return c.Statistics },
			[]string{"loopstats", "peerstats", "clockstats"}},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.in)
		if got := tt.check(c); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got  %#v\n want %#v", tt.in, got, tt.want)
		}
	}
}

// TestErrors asserts the exact file:line message of every kind of bad line.
func TestErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"server", `ntp.conf:1: server: expected an IP address or host name, got end of line`},
		{"server -4", `ntp.conf:1: server: expected an IP address or host name, got end of line`},
		{"server 1.2.3.256", `ntp.conf:1: server: expected an IP address or host name, got "1.2.3.256"`},
		{"server 2001:db8::zz", `ntp.conf:1: server: expected an IP address or host name, got "2001:db8::zz"`},
		{"server bad/host", `ntp.conf:1: server: expected an IP address or host name, got "bad/host"`},
		{"server -4 2001:db8::1", `ntp.conf:1: server: address 2001:db8::1 is not ipv4 as required by -4`},
		{"\n\n\n\n\n\nserver a.example minpoll x", `ntp.conf:7: minpoll: expected an integer 3..17, got "x"`},
		{"server a.example minpoll", `ntp.conf:1: minpoll: expected an integer 3..17, got end of line`},
		{"server a.example minpoll 2", `ntp.conf:1: minpoll: expected an integer 3..17, got "2"`},
		{"server a.example maxpoll 18", `ntp.conf:1: maxpoll: expected an integer 3..17, got "18"`},
		{"server a.example minpoll 8 maxpoll 6", `ntp.conf:1: maxpoll: expected at least minpoll 8, got 6`},
		{"server a.example key 0", `ntp.conf:1: key: expected an integer 1..65535, got "0"`},
		{"server a.example version 5", `ntp.conf:1: version: expected an integer 1..4, got "5"`},
		{"server a.example ttl", `ntp.conf:1: ttl: expected an integer 0..255, got end of line`},
		{"server a.example fast", `ntp.conf:1: server: unknown option "fast", expected iburst, burst, prefer, noselect, minpoll N, maxpoll N, key N or version N`},
		{`server a.example "iburst"`, `ntp.conf:1: server: unknown option "iburst", expected iburst, burst, prefer, noselect, minpoll N, maxpoll N, key N or version N`},
		{"peer 127.127.1.0", `ntp.conf:1: peer: refclock address 127.127.1.0: expected a server line`},
		{"fudge", `ntp.conf:1: fudge: expected a refclock address 127.127.t.u, got end of line`},
		{"fudge 192.0.2.1 stratum 3", `ntp.conf:1: fudge: expected a refclock address 127.127.t.u, got "192.0.2.1"`},
		{"fudge 127.127.1.0", `ntp.conf:1: fudge: expected an option (stratum N, refid ID, time1 X, time2 X, flag1..flag4 0|1), got end of line`},
		{"fudge 127.127.1.0 stratum 16", `ntp.conf:1: stratum: expected an integer 0..15, got "16"`},
		{"fudge 127.127.1.0 refid TOOLONG", `ntp.conf:1: refid: expected 1 to 4 characters, got "TOOLONG"`},
		{"fudge 127.127.1.0 time1 abc", `ntp.conf:1: time1: expected a number -86400..86400, got "abc"`},
		{"fudge 127.127.1.0 time1 NaN", `ntp.conf:1: time1: expected a number -86400..86400, got "NaN"`},
		{"fudge 127.127.1.0 flag2 2", `ntp.conf:1: flag2: expected 0 or 1, got "2"`},
		{"fudge 127.127.1.0 flag5 1", `ntp.conf:1: fudge: unknown option "flag5", expected stratum N, refid ID, time1 X, time2 X or flag1..flag4 0|1`},
		{"refclock", `ntp.conf:1: refclock: expected a driver name (arbiter, generic, gpsd, hpgps, jjy, local, modem, neoclock, nmea, oncore, pps, shm, spectracom, trimble, truetime, zyfer), got end of line`},
		{"refclock shm unit 256", `ntp.conf:1: unit: expected an integer 0..255, got "256"`},
		{"refclock shm stratum x", `ntp.conf:1: refclock: stratum: expected an integer 0..15, got "x"`},
		{"refclock shm bogus", `ntp.conf:1: refclock: unknown option "bogus", expected unit N, prefer, noselect, minpoll N, maxpoll N, stratum N, refid ID, time1 X, time2 X or flag1..flag4 0|1`},
		{"restrict", `ntp.conf:1: restrict: expected default, source, an address or a host name, got end of line`},
		{"restrict 10.0.0.0 mask", `ntp.conf:1: mask: expected a netmask like 255.255.255.0, got end of line`},
		{"restrict 10.0.0.0 mask 255.0.255.0", `ntp.conf:1: mask: expected a contiguous netmask like 255.255.255.0 or ffff:ffff::, got "255.0.255.0"`},
		{"restrict 10.0.0.0 mask ffff::", `ntp.conf:1: mask: expected an ipv4 netmask for 10.0.0.0, got "ffff::"`},
		{"restrict default mask 255.0.0.0", `ntp.conf:1: mask: not allowed with restrict default`},
		{"restrict 10.0.0.0/33", `ntp.conf:1: restrict: expected an address/prefix like 192.0.2.0/24, got "10.0.0.0/33"`},
		{"restrict -6 10.0.0.1", `ntp.conf:1: restrict: address 10.0.0.1 is not ipv6 as required by -6`},
		{"restrict 10.0.0.1 nosuchflag", `ntp.conf:1: restrict: unknown flag "nosuchflag", expected mask M or one of ignore, kod, limited, lowpriotrap, nomodify, noquery, nopeer, noserve, notrap, notrust, version, nomrulist`},
		{"restrict 10.0.0.300", `ntp.conf:1: restrict: expected an IP address or host name, got "10.0.0.300"`},
		{"discard", `ntp.conf:1: discard: expected average N, minimum N or monitor N, got end of line`},
		{"discard average", `ntp.conf:1: average: expected an integer 0..16, got end of line`},
		{"discard maximum 3", `ntp.conf:1: discard: unknown option "maximum", expected average N, minimum N or monitor N`},
		{"driftfile", `ntp.conf:1: driftfile: expected a file name, got end of line`},
		{"driftfile /a x", `ntp.conf:1: driftfile wander threshold: expected a number 0..1, got "x"`},
		{"driftfile /a 0.1 extra", `ntp.conf:1: driftfile: unexpected extra argument "extra", expected end of line`},
		{`logfile ""`, `ntp.conf:1: logfile: expected a file name, got ""`},
		{"leapfile a b", `ntp.conf:1: leapfile: unexpected extra argument "b", expected end of line`},
		{"keys", `ntp.conf:1: keys: expected a file name, got end of line`},
		{"enable", `ntp.conf:1: enable: expected auth, calibrate, kernel, monitor, ntp, pps or stats, got end of line`},
		{"disable kernal", `ntp.conf:1: disable: unknown flag "kernal", expected auth, calibrate, kernel, monitor, ntp, pps or stats`},
		{"trustedkey", `ntp.conf:1: trustedkey: expected a key number 1..65535, got end of line`},
		{"trustedkey 1 x", `ntp.conf:1: trustedkey: expected a key number 1..65535, got "x"`},
		{"trustedkey (1 ... )", `ntp.conf:1: trustedkey: expected a range (FIRST ... LAST), got "( 1 ... )"`},
		{"trustedkey (5 ... 1)", `ntp.conf:1: trustedkey: expected a range with FIRST <= LAST, got (5 ... 1)`},
		{"controlkey", `ntp.conf:1: controlkey: expected an integer 1..65535, got end of line`},
		{"requestkey 70000", `ntp.conf:1: requestkey: expected an integer 1..65535, got "70000"`},
		{"includefile", `ntp.conf:1: includefile: expected a file name, got end of line`},
		{"interface", `ntp.conf:1: interface: expected listen, ignore or drop, got end of line`},
		{"interface allow all", `ntp.conf:1: interface: expected listen, ignore or drop, got "allow"`},
		{"interface listen", `ntp.conf:1: interface: expected all, ipv4, ipv6, wildcard, an interface name or an address[/prefix], got end of line`},
		{"interface listen 10.0.0.0/40", `ntp.conf:1: interface: expected an address/prefix like 192.0.2.0/24, got "10.0.0.0/40"`},
		{"interface listen all extra", `ntp.conf:1: interface: unexpected extra argument "extra", expected end of line`},
		{"tos", `ntp.conf:1: tos: expected minclock N, minsane N, maxclock N, orphan N, orphanwait N, mindist X, maxdist X, floor N, ceiling N, cohort 0|1 or beacon N, got end of line`},
		{"tos maxclock", `ntp.conf:1: maxclock: expected an integer 1..100, got end of line`},
		{"tos orphan 17", `ntp.conf:1: orphan: expected an integer 1..16, got "17"`},
		{"tos mindist -1", `ntp.conf:1: mindist: expected a number 0..16, got "-1"`},
		{"tos minclock 5 maxclock 4", `ntp.conf:1: tos: expected minclock <= maxclock, got minclock 5 maxclock 4`},
		{"tos maxhop 3", `ntp.conf:1: tos: unknown option "maxhop", expected minclock N, minsane N, maxclock N, orphan N, orphanwait N, mindist X, maxdist X, floor N, ceiling N, cohort 0|1 or beacon N`},
		{"filegen", `ntp.conf:1: filegen: expected a statistics name (clockstats, cryptostats, loopstats, peerstats, protostats, rawstats, sysstats, timingstats, usestats), got end of line`},
		{"filegen loopstats type hourly", `ntp.conf:1: type: expected one of none, pid, day, week, month, year, age, got "hourly"`},
		{"filegen loopstats rotate", `ntp.conf:1: filegen: unknown option "rotate", expected file F, type T, link, nolink, enable or disable`},
		{"statistics", `ntp.conf:1: statistics: expected a statistics name (clockstats, cryptostats, loopstats, peerstats, protostats, rawstats, sysstats, timingstats, usestats), got end of line`},
		{`logfile "/var/log/x`, `ntp.conf:1: unterminated quoted string: expected a closing "`},
		{`"server" 192.0.2.1`, `ntp.conf:1: expected a directive name, got quoted string "server"`},
	}
	for _, tt := range tests {
		_, err := Parse("ntp.conf", strings.NewReader(tt.in))
		if err == nil {
			t.Errorf("%q: no error, want %s", tt.in, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%q:\n got  %s\n want %s", tt.in, err, tt.want)
		}
		var d Diag
		if !errors.As(err, &d) {
			t.Errorf("%q: errors.As(Diag) failed", tt.in)
		}
	}
}

// TestAllErrors checks that every bad line is reported, that the good
// lines are still applied, and that unknown directives are warnings.
func TestAllErrors(t *testing.T) {
	in := `# test
server 192.0.2.1 iburst
server 192.0.2.2 minpoll x
frobnicate 1 2 3
tinker panic 0
restrict default nosuch
restrict 127.0.0.1
tos maxclock 5
`
	c, err := Parse("ntp.conf", strings.NewReader(in))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T %v is not an ErrorList", err, err)
	}
	want := `ntp.conf:3: minpoll: expected an integer 3..17, got "x"
ntp.conf:6: restrict: unknown flag "nosuch", expected mask M or one of ignore, kod, limited, lowpriotrap, nomodify, noquery, nopeer, noserve, notrap, notrust, version, nomrulist`
	if err.Error() != want {
		t.Errorf("errors:\n%s\nwant\n%s", err, want)
	}
	if len(c.Servers) != 1 || len(c.Restrictions) != 1 || c.Tos.MaxClock != 5 {
		t.Errorf("good lines not applied: %+v", c)
	}
	var warns []string
	for _, w := range c.Warnings {
		warns = append(warns, w.String())
	}
	wantW := []string{
		`ntp.conf:4: unknown directive "frobnicate", ignored`,
		`ntp.conf:5: tinker: directive of ntpd not supported by ntpkit, ignored`,
	}
	if !reflect.DeepEqual(warns, wantW) {
		t.Errorf("warnings %q, want %q", warns, wantW)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct{ in, want string }{
		{"server 192.0.2.1 xleave", `ntp.conf:1: server: option "xleave" accepted but ignored`},
		{"server a.example\nserver a.example", `ntp.conf:2: server: duplicate of a.example at ntp.conf:1`},
		{"fudge 127.127.1.0 stratum 3", `ntp.conf:1: fudge: refclock 127.127.1.0 is not configured by a server line`},
		{"restrict 10.0.0.1\nrestrict 10.0.0.1 noquery", `ntp.conf:2: restrict: replaces the identical entry at ntp.conf:1`},
		{"restrict 10.0.0.1 ntpport", `ntp.conf:1: restrict: flag "ntpport" accepted but ignored`},
		{"disable bclient", `ntp.conf:1: disable: flag "bclient" accepted but ignored`},
		{"driftfile /x 1e-7", `ntp.conf:1: driftfile: wander threshold accepted but ignored`},
		{"refclock shm path /dev/x", `ntp.conf:1: refclock: option "path" accepted but ignored`},
		{"Server 192.0.2.1", `ntp.conf:1: unknown directive "Server", ignored`},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.in)
		if len(c.Warnings) != 1 || c.Warnings[0].String() != tt.want {
			t.Errorf("%q: warnings %v, want [%s]", tt.in, c.Warnings, tt.want)
		}
	}
}

func TestTooManyErrors(t *testing.T) {
	in := strings.Repeat("server\n", 500)
	_, err := Options{MaxErrors: 10}.Parse("ntp.conf", strings.NewReader(in))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 11 {
		t.Fatalf("got %d errors, want 10 + 1", len(list))
	}
	if got := list[10].String(); got != "ntp.conf:11: too many errors (10), giving up" {
		t.Errorf("last error %q", got)
	}
}

func TestLongLine(t *testing.T) {
	in := "server 192.0.2.1\n" + strings.Repeat("x", MaxLineLength+1) + "\nserver 192.0.2.2\n"
	c, err := Parse("ntp.conf", strings.NewReader(in))
	if err == nil || !strings.HasPrefix(err.Error(), "ntp.conf:2: line too long") {
		t.Fatalf("err = %v", err)
	}
	if len(c.Servers) != 1 {
		t.Errorf("servers %v", c.Servers)
	}
}

func TestDefaultConfig(t *testing.T) {
	c := mustParse(t, DefaultConfig)
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
	if len(c.Servers) != 1 || !c.Servers[0].IsRefclock || c.Servers[0].RefclockType != 1 {
		t.Errorf("servers: %+v", c.Servers)
	}
	if f := c.FudgeFor("127.127.1.0"); f == nil || f.Stratum == nil || *f.Stratum != 10 {
		t.Errorf("fudge: %+v", f)
	}
	r := c.Restrictor()
	for _, a := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1"} {
		if f := r.Flags(netip.MustParseAddr(a)); f.Has(RestrictNoQuery) {
			t.Errorf("%s: %v, want queries allowed", a, f)
		}
	}
	for _, a := range []string{"192.0.2.1", "2001:db8::1", "127.0.0.2"} {
		if f := r.Flags(netip.MustParseAddr(a)); !f.Has(RestrictNoQuery|RestrictKOD|RestrictLimited) || f.Has(RestrictNoServe) {
			t.Errorf("%s: %v, want time but no queries", a, f)
		}
	}
	if c.DriftFile != "" {
		t.Errorf("driftfile %q", c.DriftFile)
	}
}

func TestParseFile(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "missing.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	c, err := ParseFile("testdata/refsetup/classic-main.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Files[0] != "testdata/refsetup/classic-main.conf" || c.Servers[0].Pos.String() != "testdata/refsetup/classic-main.conf:14" {
		t.Errorf("positions: %v %v", c.Files, c.Servers[0].Pos)
	}
}
