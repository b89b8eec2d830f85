package cli

import (
	"errors"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
	"github.com/ntpkit/ntpkit/sync/ntptest"
)

const dateUsageLine = "usage: ntpdate [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] [-o version#] [-t timeo] server ...\n"

// Without -q the command changes the clock through the injected Adjuster
// only: step from 0.5 s, slew (with classic's overshoot) below, -b always
// steps, -B always slews, -d never adjusts.
func TestDateClockAdjustment(t *testing.T) {
	cases := []struct {
		name      string
		offset    time.Duration
		args      []string
		wantStep  bool
		wantSlew  bool
		wantVerb  string
		wantValue time.Duration
	}{
		{"big offset steps", 3500 * time.Millisecond, nil, true, false, "step", 3500 * time.Millisecond},
		{"small offset slews", 100 * time.Millisecond, nil, false, true, "adjust", 150 * time.Millisecond},
		{"negative small slews", -200 * time.Millisecond, nil, false, true, "adjust", -262500 * time.Microsecond},
		{"-b steps small", 100 * time.Millisecond, []string{"-b"}, true, false, "step", 100 * time.Millisecond},
		{"-B slews big", -3500 * time.Millisecond, []string{"-B"}, false, true, "adjust", -3562500 * time.Microsecond},
		{"-d never adjusts", 3500 * time.Millisecond, []string{"-d"}, false, false, "step", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := ntptest.New(t, ntptest.Config{Offset: c.offset})
			deps, adj := dateTestDeps(srv.Addr.Port(), dateFakeResolver{})
			args := append([]string{"-u", "-p", "1"}, c.args...)
			r := runDateWith(t, deps, "ntpdate", append(args, "127.0.0.1")...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if !regexp.MustCompile(`ntpdate\[27893\]: ` + c.wantVerb + ` time server 127\.0\.0\.1 offset [+-]\d+\.\d{6} sec\n$`).MatchString(r.stdout) {
				t.Errorf("stdout %q", r.stdout)
			}
			if got := len(adj.Steps) == 1; got != c.wantStep {
				t.Errorf("steps %v", adj.Steps)
			}
			if got := len(adj.Slews) == 1; got != c.wantSlew {
				t.Errorf("slews %v", adj.Slews)
			}
			for _, v := range append(adj.Steps, adj.Slews...) {
				if d := v - c.wantValue; d > 5*time.Millisecond || d < -5*time.Millisecond {
					t.Errorf("adjusted by %v, want about %v", v, c.wantValue)
				}
			}
		})
	}
}

func TestDateAdjusterFailure(t *testing.T) {
	srv := ntptest.New(t, ntptest.Config{Offset: 3500 * time.Millisecond})
	deps, _ := dateTestDeps(srv.Addr.Port(), dateFakeResolver{})
	deps.Adjuster = func() (clock.Adjuster, error) { return &dateFailingAdjuster{}, nil }
	r := runDateWith(t, deps, "ntpdate", "-u", "-p", "1", "127.0.0.1")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "ntpdate[27893]: Can't set time of day: operation not permitted\n") {
		t.Errorf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

type dateFailingAdjuster struct{ dateRecordingAdjuster }

func (*dateFailingAdjuster) Step(time.Duration) error { return errors.New("operation not permitted") }
func (*dateFailingAdjuster) Slew(time.Duration) error { return errors.New("operation not permitted") }

// Source port 123 unless -u, -q or -d.
func TestDateSourcePort(t *testing.T) {
	cases := []struct {
		args []string
		want uint16
	}{
		{[]string{"-p", "1"}, 123},
		{[]string{"-p", "1", "-u"}, 0},
		{[]string{"-q"}, 0},
		{[]string{"-d", "-p", "1"}, 0},
	}
	for _, c := range cases {
		srv := ntptest.New(t, ntptest.Config{})
		deps, _ := dateTestDeps(srv.Addr.Port(), dateFakeResolver{})
		var ports []uint16
		deps.Listen = func(network string, port uint16) (ntpsync.Socket, error) {
			ports = append(ports, port)
			return net.ListenUDP(network, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		}
		r := runDateWith(t, deps, "ntpdate", append(c.args, "127.0.0.1")...)
		if r.code != 0 || len(ports) != 1 || ports[0] != c.want {
			t.Errorf("%v: exit %d ports %v, want [%d]\n%s", c.args, r.code, ports, c.want, r.stderr)
		}
	}
}

// Command-line errors print classic's messages and usage; exit 2.
func TestDateUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, dateUsageLine},
		{[]string{"-q"}, dateUsageLine},
		{[]string{"-X", "h"}, "ntpdate: unknown option -X\n" + dateUsageLine},
		{[]string{"-h"}, "ntpdate: unknown option -h\n" + dateUsageLine},
		{[]string{"-q", "-p"}, "ntpdate: option requires argument -p\n" + dateUsageLine},
		{[]string{"-q", "-o"}, "ntpdate: option requires argument -o\n" + dateUsageLine},
		{[]string{"-p", "9", "x"}, "ntpdate: number of samples (9) is invalid\n" + dateUsageLine},
		{[]string{"-p", "abc", "x"}, "ntpdate: number of samples (0) is invalid\n" + dateUsageLine},
		{[]string{"-t", "abc", "x"}, "ntpdate: timeout abc is undecodeable\n" + dateUsageLine},
		{[]string{"-e", "1.5", "x"}, "ntpdate: encryption delay 1.5 is unlikely\n" + dateUsageLine},
	}
	for _, c := range cases {
		deps, _ := dateTestDeps(123, dateFakeResolver{})
		r := runDateWith(t, deps, "ntpdate", c.args...)
		if r.code != 2 || r.stdout != "" || r.stderr != c.want {
			t.Errorf("%v: exit %d stdout %q stderr %q, want %q", c.args, r.code, r.stdout, r.stderr, c.want)
		}
	}
}

// Options stop at the first server, as with classic getopt: "-t" after a
// server is a host name.
func TestDateOptionsStopAtServer(t *testing.T) {
	deps, _ := dateTestDeps(123, dateFakeResolver{})
	deps.Reachable = func(netip.Addr) bool { return false }
	r := runDateWith(t, deps, "ntpdate", "-q", "::1", "-t", "1")
	if !strings.Contains(r.stderr, "Error resolving -t: Name or service not known (-2)\n") {
		t.Errorf("stderr %q", r.stderr)
	}
}

// Name resolution: classic's messages for each getaddrinfo outcome.
func TestDateResolution(t *testing.T) {
	srv := ntptest.New(t, ntptest.Config{Stratum: 3})
	res := dateFakeResolver{hosts: map[string][]netip.Addr{"ntp.test": {netip.MustParseAddr("127.0.0.1")}}}
	deps, _ := dateTestDeps(srv.Addr.Port(), res)

	r := runDateWith(t, deps, "ntpdate", "-q", "ntp.test")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "server 127.0.0.1, stratum 3, offset ") {
		t.Errorf("by name: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	r = runDateWith(t, deps, "ntpdate", "-q", "nosuch.test")
	want := "Error resolving nosuch.test: Name or service not known (-2)\n" +
		"22 Nov 02:19:37 ntpdate[27893]: Can't find host nosuch.test: Name or service not known (-2)\n" +
		"22 Nov 02:19:37 ntpdate[27893]: no servers can be used, exiting\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("not found: exit %d stderr %q", r.code, r.stderr)
	}

	r = runDateWith(t, deps, "ntpdate", "-q", "-4", "::1")
	want = "Error resolving ::1: Address family for hostname not supported (-9)\n" +
		"22 Nov 02:19:37 ntpdate[27893]: Can't find host ::1: Address family for hostname not supported (-9)\n" +
		"22 Nov 02:19:37 ntpdate[27893]: no servers can be used, exiting\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("-4 ::1: exit %d stderr %q", r.code, r.stderr)
	}

	// A failing name server stops at once, even with good servers after it.
	deps.Resolver = dateFakeResolver{err: &net.DNSError{Err: "i/o timeout", IsTimeout: true}}
	r = runDateWith(t, deps, "ntpdate", "-q", "bad.test", "127.0.0.1")
	want = "Exiting, name server cannot be used: Temporary failure in name resolution (-3)" +
		"22 Nov 02:19:37 ntpdate[27893]: name server cannot be used: Temporary failure in name resolution (-3)\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("EAI_AGAIN: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

// IPv6 servers work like IPv4 ones.
func TestDateIPv6(t *testing.T) {
	srv, err := ntptest.Listen("[::1]:0", ntptest.Config{Stratum: 2})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer srv.Close()
	deps, _ := dateTestDeps(srv.Addr.Port(), dateFakeResolver{})
	r := runDateWith(t, deps, "ntpdate", "-q", "::1")
	if r.code != 0 || !regexp.MustCompile(`^server ::1, stratum 2, offset [+-]0\.\d{6}, delay 0\.\d{5}\n.*adjust time server ::1 offset`).MatchString(r.stdout) {
		t.Errorf("exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// -d: the trace and the per-server block of classic.ntpdate-q-d.txt, with
// the measured numbers and timestamps masked.
func TestDateDebugGoldenShape(t *testing.T) {
	srv := ntptest.New(t, ntptest.Config{Stratum: 3, Precision: -23, RefID: ntp.RefID{198, 18, 123, 7},
		RootDelay: 717 * time.Microsecond, RootDisp: 1968 * time.Microsecond})
	res := dateFakeResolver{reverse: map[string]string{"127.0.0.1": "localhost"}}
	deps, adj := dateTestDeps(srv.Addr.Port(), res)
	deps.ServerPort = srv.Addr.Port()
	r := runDateWith(t, deps, "ntpdate", "-d", "-t", "1", "127.0.0.1")
	g := readDateGolden(t, "classic.ntpdate-q-d.txt")
	mask := func(s string) string {
		s = dateMaskStamp(s)
		s = regexp.MustCompile(`ntpdate\[PID\]: ntpdate .*`).ReplaceAllString(s, "ntpdate[PID]: ntpdate VERSION")
		s = regexp.MustCompile(`[0-9a-f]{8}\.[0-9a-f]{8}  [A-Z][a-z]{2}, [A-Z][a-z]{2} [ \d]\d \d{4} [ \d]\d:\d\d:\d\d\.\d{3}`).ReplaceAllString(s, "TIMESTAMP")
		s = regexp.MustCompile(`port \d+`).ReplaceAllString(s, "port N")
		return regexp.MustCompile(`[+-]?\d+\.\d+`).ReplaceAllString(s, "N")
	}
	if mask(r.stdout) != mask(g.stdout) || r.stderr != g.stderr || r.code != 0 {
		t.Errorf("exit %d\n--- got\n%s--- want\n%s--- stderr %q want %q", r.code, mask(r.stdout), mask(g.stdout), r.stderr, g.stderr)
	}
	if len(adj.Steps)+len(adj.Slews) != 0 {
		t.Errorf("-d touched the clock")
	}
}

// -s without a syslog socket falls back to the terminal; with one, only
// the -q server lines stay on stdout.
func TestDateSyslog(t *testing.T) {
	srv := ntptest.New(t, ntptest.Config{Stratum: 3})
	deps, _ := dateTestDeps(srv.Addr.Port(), dateFakeResolver{})
	r := runDateWith(t, deps, "ntpdate", "-s", "-q", "127.0.0.1")
	if r.code != 0 || !strings.Contains(r.stdout, "ntpdate[27893]: adjust time server 127.0.0.1") {
		t.Errorf("fallback: %q %q", r.stdout, r.stderr)
	}
	var notices strings.Builder
	var errs []string
	deps.Syslog = func() (dateIOWriter, func(string) error, error) {
		return &notices, func(m string) error { errs = append(errs, m); return nil }, nil
	}
	r = runDateWith(t, deps, "ntpdate", "-s", "-q", "127.0.0.1")
	if r.code != 0 || strings.Contains(r.stdout, "ntpdate[") || !strings.HasPrefix(notices.String(), "adjust time server 127.0.0.1 offset ") {
		t.Errorf("syslog: stdout %q stderr %q notices %q errs %v", r.stdout, r.stderr, notices.String(), errs)
	}
}

// A kiss-o'-death RATE stops polling that server after one request.
func TestDateKissStopsPolling(t *testing.T) {
	srv := ntptest.New(t, ntptest.Config{Kiss: "RATE"})
	deps, _ := dateTestDeps(srv.Addr.Port(), dateFakeResolver{})
	r := runDateWith(t, deps, "ntpdate", "-q", "-p", "4", "-t", "1", "127.0.0.1")
	want := "22 Nov 02:19:37 ntpdate[27893]: 127.0.0.1 rate limit response from server.\n" +
		"22 Nov 02:19:37 ntpdate[27893]: no server suitable for synchronization found\n"
	if r.code != 1 || r.stderr != want || srv.Requests() != 1 {
		t.Errorf("exit %d stderr %q requests %d", r.code, r.stderr, srv.Requests())
	}
}

// --json replaces the classic stdout lines with one document.
func TestDateJSONEndToEnd(t *testing.T) {
	port := dateFakeSet(t, map[int]ntptest.Config{1: {Stratum: 3}, 9: {Silent: true}})
	deps, _ := dateTestDeps(port, dateFakeResolver{})
	r := runDateWith(t, deps, "ntpdate", "-q", "-t", "1", "--json", "127.0.0.1", "127.0.0.9")
	for _, want := range []string{`"chosen": "127.0.0.1"`, `"action": "adjust"`, `"rejected": "no data"`, `"adjusted": false`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %s in\n%s", want, r.stdout)
		}
	}
	if r.code != 0 || strings.Contains(r.stdout, "server 127.0.0.1, stratum") {
		t.Errorf("exit %d stdout %s", r.code, r.stdout)
	}
}

// The whole run is bounded: a resolver that never answers gives up at the
// deadline with classic's EAI_AGAIN message.
func TestDateNeverHangs(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the run deadline")
	}
	deps, _ := dateTestDeps(123, dateFakeResolver{})
	deps.Resolver = dateBlockingResolver{}
	start := time.Now()
	r := runDateWith(t, deps, "ntpdate", "-q", "-t", "1", "slow.test")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Exiting, name server cannot be used: Temporary failure in name resolution (-3)") {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("took %v", el)
	}
}

// --port (an ntpkit extension) polls servers on another port; the VM test
// uses it with the real clock adjuster.
func TestDatePortFlag(t *testing.T) {
	srv := ntptest.New(t, ntptest.Config{Stratum: 4})
	deps, _ := dateTestDeps(123, dateFakeResolver{})
	r := runDateWith(t, deps, "ntpdate", "-q", "--port", strconv.Itoa(int(srv.Addr.Port())), "127.0.0.1")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "server 127.0.0.1, stratum 4,") {
		t.Errorf("exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// Every reachable address of a name is polled, like classic's loop over
// getaddrinfo's answers; unreachable ones are skipped silently.
func TestDateNameWithSeveralAddresses(t *testing.T) {
	port := dateFakeSet(t, map[int]ntptest.Config{1: {Stratum: 3}, 2: {Stratum: 2}})
	res := dateFakeResolver{hosts: map[string][]netip.Addr{"pool.test": {
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("192.0.2.1"),
	}}}
	deps, _ := dateTestDeps(port, res)
	deps.Reachable = func(a netip.Addr) bool { return a.IsLoopback() }
	r := runDateWith(t, deps, "ntpdate", "-q", "pool.test")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "server 127.0.0.1, stratum 3,") ||
		!strings.HasPrefix(lines[1], "server 127.0.0.2, stratum 2,") || !strings.Contains(lines[2], "adjust time server 127.0.0.2 ") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
