package oneshot_test

// Live comparison with classic ntpdate 4.2.8: a pair of network namespaces
// (client side A, server side B, joined by a veth on 198.18.K.0/24, the
// topology of shared/compat/refsetup/start.sh) with real chronyd and NTPsec
// ntpd and fake servers on B; classic /opt/classic/usr/sbin/ntpdate -q and
// ntpkit's ntpdate -q run on A and must print the same lines, up to the
// PID/time stamp and measurement noise below 1 ms. Skipped without root or
// the tools, failed for that under CI=true.

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/internal/netns"
	"github.com/ntpkit/ntpkit/internal/testenv"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/sync/ntptest"
)

func TestMain(m *testing.M) {
	ntptest.RunFromEnv() // the fake servers started below are this binary
	if os.Getenv("NTPKIT_SKIP_BUILD") == "" {
		// Built once here; a failure is reported by the tests that need it.
		_, _ = testenv.BuildNtpkitMain()
	}
	os.Exit(testenv.Main(m))
}

// liveNet is the namespace topology shared by the live subtests.
type liveNet struct {
	pair    *netns.Pair
	ntpdate string // symlink "ntpdate" -> ntpkit binary
	classic string
	addr    map[string]string // role -> IPv4 address on B
}

func (ln *liveNet) host(n int) string {
	return fmt.Sprintf("198.18.%d.%d", ln.pair.Net, n)
}

func setupLive(t *testing.T) *liveNet {
	t.Helper()
	testenv.NeedRoot(t)
	classic := testenv.ClassicBin("ntpdate")
	chronyd := testenv.ChronyBin("chronyd")
	testenv.Need(t, classic, chronyd, "/usr/sbin/ntpd", "setpriv", "ip")
	bin := testenv.BuildNtpkit(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "ntpdate")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := netns.NewPair(t)
	ln := &liveNet{pair: p, ntpdate: link, classic: classic, addr: map[string]string{}}
	// A (the client side) runs NTPsec ntpd on 127.0.0.1 with chronyd as its
	// upstream, like refsetup's "main" daemon.
	// B: .2 chronyd, .4 fake stratum 1,
	// .5 fake falseticker +0.25 s, .6 fake +3.5 s, .7 KoD RATE,
	// .8 unsynchronised (leap 3, stratum 16), .9 nothing.
	for i := 3; i <= 9; i++ {
		p.B.AddAddr(p.DevB, fmt.Sprintf("%s/24", ln.host(i)))
	}
	roles := []struct {
		name string
		n    int
	}{{"chrony", 2}, {"gps", 4}, {"false", 5}, {"step", 6}, {"kod", 7}, {"unsync", 8}, {"none", 9}}
	for _, r := range roles {
		ln.addr[r.name] = ln.host(r.n)
	}

	chronyConf := filepath.Join(dir, "chrony.conf")
	writeFile(t, chronyConf, fmt.Sprintf(`bindaddress %s
port 123
cmdport 0
pidfile %s/chrony.pid
driftfile %s/chrony.drift
local stratum 3
allow
`, ln.addr["chrony"], dir, dir))
	p.B.Start(chronyd, "-x", "-d", "-u", "root", "-f", chronyConf)

	fakes := map[string]ntptest.Config{
		"gps":    {Stratum: 1, RefID: ntp.RefIDFromString("GPS"), RootDisp: 200 * time.Microsecond},
		"false":  {Stratum: 2, RefID: ntp.RefID{198, 18, 123, 77}, Offset: 250 * time.Millisecond, RootDelay: 10 * time.Millisecond, RootDisp: 20 * time.Millisecond},
		"step":   {Stratum: 2, Offset: 3500 * time.Millisecond},
		"kod":    {Kiss: "RATE"},
		"unsync": {Stratum: 16, Leap: ntp.LeapAlarm, RefID: ntp.RefIDFromString("INIT")},
		"v6":     {Stratum: 2, RefID: ntp.RefID{198, 18, 123, 5}},
	}
	v6 := netip.MustParseAddr(fmt.Sprintf("fd7e:5ee0:%x::6", p.Net))
	p.B.AddAddr(p.DevB, v6.String()+"/64")
	ln.addr["v6"] = v6.String()
	for role, cfg := range fakes {
		cmd := p.B.Command(context.Background(), self, "-test.run=^$")
		listen := netip.AddrPortFrom(netip.MustParseAddr(ln.addr[role]), 123).String()
		cmd.Env = append(os.Environ(), ntptest.EnvVar+"="+ntptest.Spec(listen, cfg), "NTPKIT_SKIP_BUILD=1")
		p.B.StartCmd(cmd)
	}
	ntpConf := filepath.Join(dir, "ntp.conf")
	writeFile(t, ntpConf, fmt.Sprintf(`disable kernel
interface ignore wildcard
interface ignore all
interface listen 127.0.0.1
interface listen %s
server %s iburst minpoll 3 maxpoll 4
tos minsane 1 minclock 1
restrict default kod limited nomodify nopeer
restrict 127.0.0.1
driftfile %s/ntp.drift
`, p.A4, ln.addr["chrony"], dir))
	p.A.Start("/usr/sbin/ntpd", "-n", "-g", "-c", ntpConf, "-l", filepath.Join(dir, "ntpd.log"))

	ln.addr["ntpsec"] = "127.0.0.1"
	if err := p.A.WaitUDP("127.0.0.1:123", 10*time.Second); err != nil {
		t.Fatalf("ntpsec: %v", err)
	}
	for _, role := range []string{"chrony", "gps", "false", "step", "kod", "unsync", "v6"} {
		listen := netip.AddrPortFrom(netip.MustParseAddr(ln.addr[role]), 123).String()
		if err := p.B.WaitUDP(listen, 10*time.Second); err != nil {
			t.Fatalf("%s: %v", role, err)
		}
	}
	// Warm up neighbour discovery, so that no first exchange pays for ARP.
	ln.run(t, ln.ntpdate, "-q", "-t", "1", ln.addr["chrony"], ln.addr["gps"], ln.addr["false"], ln.addr["step"], ln.addr["v6"])
	return ln
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

type runOut struct {
	stdout, stderr string
	code           int
}

func (ln *liveNet) run(t *testing.T, prog string, args ...string) runOut {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := ln.pair.A.Command(ctx, append([]string{prog}, args...)...)
	cmd.Env = testenv.ClassicEnv()
	r := ln.pair.A.RunCmd(cmd)
	if r.ExitCode < 0 {
		t.Fatalf("%s %v: %v\n%s%s", prog, args, r.Err, r.Stdout, r.Stderr)
	}
	return runOut{normalize(r.Stdout, prog), normalize(r.Stderr, prog), r.ExitCode}
}

var stampRE = regexp.MustCompile(`(?m)[ 0-9]\d [A-Z][a-z]{2} \d\d:\d\d:\d\d ntpdate\[\d+\]: `)

var (
	versionRE = regexp.MustCompile(`ntpdate\[PID\]: ntpdate .*`)
	prettyRE  = regexp.MustCompile(`[0-9a-f]{8}\.[0-9a-f]{8}  [A-Z][a-z]{2}, [A-Z][a-z]{2} [ \d]\d \d{4} [ \d]\d:\d\d:\d\d\.\d{3}`)
)

// normalize masks the syslog-style stamp, the program path, the version
// banner and -d's timestamps.
func normalize(s, prog string) string {
	s = stampRE.ReplaceAllString(s, "STAMP ntpdate[PID]: ")
	s = versionRE.ReplaceAllString(s, "ntpdate[PID]: ntpdate VERSION")
	s = prettyRE.ReplaceAllString(s, "TIMESTAMP")
	return strings.ReplaceAll(s, prog, "ntpdate")
}

var numRE = regexp.MustCompile(`[+-]?\d+\.\d+`)

// sameModuloNoise compares two outputs line by line; decimal numbers may
// differ by less than tol plus the measurement noise visible in that very
// exchange: a round trip above the loopback floor on either side (a busy
// machine) bounds how far offsets and delays can drift apart, so each
// server's excess delays are added to the tolerance of every line naming it.
func sameModuloNoise(a, b string, tol float64) error {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al) != len(bl) {
		return fmt.Errorf("%d lines vs %d lines", len(al), len(bl))
	}
	slack := map[string]float64{}
	owner := make([]string, len(al)) // -d: the server whose block a line is in
	for _, lines := range [][]string{al, bl} {
		cur := ""
		for i, l := range lines {
			if m := serverLineRE.FindStringSubmatch(l); m != nil {
				d, _ := strconv.ParseFloat(m[2], 64)
				slack[m[1]] += math.Max(0, d-loopbackDelay)
			}
			if m := debugServerRE.FindStringSubmatch(l); m != nil {
				cur = m[1]
			}
			if m := debugDelayRE.FindStringSubmatch(l); m != nil && cur != "" {
				d, _ := strconv.ParseFloat(m[1], 64)
				slack[cur] += math.Max(0, d-loopbackDelay)
			}
			if l == "" {
				cur = ""
			}
			if cur != "" {
				owner[i] = cur
			}
		}
	}
	for i := range al {
		if numRE.ReplaceAllString(al[i], "N") != numRE.ReplaceAllString(bl[i], "N") {
			return fmt.Errorf("line %d differs:\n  %q\n  %q", i+1, al[i], bl[i])
		}
		lineTol := tol + slack[owner[i]]
		for addr, sl := range slack {
			if strings.Contains(al[i], "server "+addr+" ") || strings.Contains(al[i], "server "+addr+",") {
				lineTol += sl
			}
		}
		an, bn := numRE.FindAllString(al[i], -1), numRE.FindAllString(bl[i], -1)
		for j := range an {
			x, _ := strconv.ParseFloat(an[j], 64)
			y, _ := strconv.ParseFloat(bn[j], 64)
			if math.Abs(x-y) >= lineTol || (an[j][0] == '+') != (bn[j][0] == '+') && math.Abs(x) > lineTol {
				return fmt.Errorf("line %d: %s vs %s (tolerance %.6f)", i+1, an[j], bn[j], lineTol)
			}
		}
	}
	return nil
}

// loopbackDelay is what classic reports for a round trip of a few
// microseconds: 2^-6 + 0x28f/65536 plus a couple of 1/65536 s units.
const loopbackDelay = 0.0257

var (
	debugServerRE = regexp.MustCompile(`^server (\S+), port \d+$`)
	debugDelayRE  = regexp.MustCompile(`^delay (\d+\.\d+), dispersion`)
)

var serverLineRE = regexp.MustCompile(`^server (\S+), stratum \d+, offset \S+, delay (\d+\.\d+)$`)

func TestLiveAgainstClassic(t *testing.T) {
	ln := setupLive(t)
	a := ln.addr
	cases := []struct {
		name string
		args []string
	}{
		{"one-server", []string{"-q", a["chrony"]}},
		{"stratum1", []string{"-q", a["gps"]}},
		{"multi-falseticker", []string{"-q", a["chrony"], a["false"], a["gps"]}},
		{"falseticker-only", []string{"-q", a["false"]}},
		{"unreachable", []string{"-q", "-t", "1", a["none"]}},
		{"unreachable-and-good", []string{"-q", "-t", "1", a["none"], a["chrony"]}},
		{"kod", []string{"-q", a["kod"]}},
		{"unsync", []string{"-q", a["unsync"]}},
		{"step", []string{"-q", a["step"]}},
		{"step-B", []string{"-q", "-B", a["step"]}},
		{"slew-b", []string{"-q", "-b", a["chrony"]}},
		{"p2", []string{"-q", "-p", "2", "-t", "1", a["chrony"]}},
		{"badhost", []string{"-q", "no-such-host.invalid"}},
		{"noargs", nil},
		{"bad-flag", []string{"-X", a["chrony"]}},
		{"bad-samples", []string{"-p", "9", a["chrony"]}},
		{"family", []string{"-q", "-6", a["chrony"]}},
		{"ipv6", []string{"-q", a["v6"]}},
		{"debug", []string{"-d", "-p", "2", "-t", "1", a["chrony"]}},
		{"debug-multi", []string{"-d", "-p", "1", "-t", "1", a["gps"], a["false"], a["none"]}},
		{"verbose", []string{"-q", "-v", a["gps"]}},
		{"ipv4-and-ipv6", []string{"-q", a["gps"], a["v6"]}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want, got runOut
			// A busy machine can add milliseconds to one exchange: retry
			// (bounded) while only the numbers differ.
			for try := 0; try < 6; try++ {
				if try > 0 {
					time.Sleep(200 * time.Millisecond)
				}
				want = ln.run(t, ln.classic, c.args...)
				got = ln.run(t, ln.ntpdate, c.args...)
				if sameModuloNoise(got.stdout, want.stdout, 1e-3) == nil && sameModuloNoise(got.stderr, want.stderr, 1e-3) == nil ||
					sameModuloNoise(got.stdout, want.stdout, math.Inf(1)) != nil {
					break
				}
			}
			if got.code != want.code {
				t.Errorf("exit %d, classic %d", got.code, want.code)
			}
			if err := sameModuloNoise(got.stdout, want.stdout, 1e-3); err != nil {
				t.Errorf("stdout: %v\n--- ntpkit\n%s--- classic\n%s", err, got.stdout, want.stdout)
			}
			if err := sameModuloNoise(got.stderr, want.stderr, 1e-3); err != nil {
				t.Errorf("stderr: %v\n--- ntpkit\n%s--- classic\n%s", err, got.stderr, want.stderr)
			}
		})
	}

	// NTPsec ntpd needs a few polls of chronyd before it serves a stratum;
	// until then it answers unsynchronised (stratum 16), which is compared
	// too. Bounded wait.
	t.Run("ntpsec", func(t *testing.T) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			want := ln.run(t, ln.classic, "-q", a["ntpsec"])
			got := ln.run(t, ln.ntpdate, "-q", a["ntpsec"])
			synced := want.code == 0 && got.code == 0
			if synced || time.Now().After(deadline) {
				if got.code != want.code {
					t.Errorf("exit %d, classic %d", got.code, want.code)
				}
				if err := sameModuloNoise(got.stdout, want.stdout, 1e-3); err != nil {
					t.Errorf("stdout: %v\n--- ntpkit\n%s--- classic\n%s", err, got.stdout, want.stdout)
				}
				if !synced {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					q := ln.pair.A.Run(ctx, "ntpq", "-n", "-p")
					t.Logf("ntpsec ntpd did not synchronise in time; compared unsynchronised answers\n%s%s", q.Stdout, q.Stderr)
				}
				return
			}
			time.Sleep(2 * time.Second)
		}
	})
}
