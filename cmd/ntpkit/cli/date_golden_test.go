package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/sync/ntptest"
)

// dateGolden is one capture of classic ntpdate from shared/compat/golden
// (copied to testdata/date).
type dateGolden struct {
	stdout, stderr string
	code           int
}

func readDateGolden(t *testing.T, name string) dateGolden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "date", name))
	if err != nil {
		t.Fatal(err)
	}
	var g dateGolden
	text := string(b)
	if m := regexp.MustCompile(`exit status: (\d+)`).FindStringSubmatch(text); m != nil {
		g.code, _ = strconv.Atoi(m[1])
	}
	const so, se = "# ---- stdout (verbatim) ----\n", "# ---- stderr (verbatim) ----\n"
	i := strings.Index(text, so)
	if i < 0 {
		t.Fatalf("%s: no stdout marker", name)
	}
	rest := text[i+len(so):]
	if j := strings.Index(rest, se); j >= 0 {
		g.stdout, g.stderr = rest[:j], rest[j+len(se):]
	} else {
		g.stdout = rest
	}
	return g
}

// dateFakeResolver resolves from a map; it never touches the network.
type dateFakeResolver struct {
	hosts   map[string][]netip.Addr
	reverse map[string]string
	err     error // returned for every forward lookup when set
}

func (r dateFakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	if r.err != nil {
		return nil, r.err
	}
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r dateFakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if n, ok := r.reverse[addr]; ok {
		return []string{n + "."}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

// dateFixedStamp is the message time of every test run.
var dateFixedStamp = time.Date(2026, 11, 22, 2, 19, 37, 0, time.UTC)

func dateTestDeps(port uint16, res dateFakeResolver) (dateDeps, *dateRecordingAdjuster) {
	adj := &dateRecordingAdjuster{}
	d := defaultDateDeps()
	d.Stamp = func() time.Time { return dateFixedStamp }
	d.Clock = clock.System{}
	d.Adjuster = func() (clock.Adjuster, error) { return adj, nil }
	d.PID = 27893
	d.Location = time.UTC
	d.Resolver = res
	d.ServerPort = port
	d.Version = "test"
	d.Syslog = func() (dateIOWriter, func(string) error, error) { return nil, nil, errDateNoSyslog }
	return d, adj
}

type dateRun struct {
	stdout, stderr string
	code           int
}

func runDateWith(t *testing.T, deps dateDeps, argv0 string, args ...string) dateRun {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Args: append([]string{argv0}, args...), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	cmd := newDateCmdWith(env, deps)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	code := exitStatus(env, cmd.Execute())
	return dateRun{stdout: out.String(), stderr: errb.String(), code: code}
}

var (
	dateStampRE = regexp.MustCompile(`[ 0-9]\d [A-Z][a-z]{2} \d\d:\d\d:\d\d ntpdate\[\d+\]: `)
	dateNumRE   = regexp.MustCompile(`[+-]?\d+\.\d+`)
)

func dateMaskStamp(s string) string { return dateStampRE.ReplaceAllString(s, "STAMP ntpdate[PID]: ") }

// dateSameModuloNoise compares line by line; decimal numbers (offsets, delays)
// may differ by less than tol but must keep their dateSign.
func dateSameModuloNoise(got, want string, tol float64) error {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(gl) != len(wl) {
		return fmt.Errorf("%d lines, want %d", len(gl), len(wl))
	}
	for i := range gl {
		if dateNumRE.ReplaceAllString(gl[i], "N") != dateNumRE.ReplaceAllString(wl[i], "N") {
			return fmt.Errorf("line %d:\n got %q\nwant %q", i+1, gl[i], wl[i])
		}
		gn, wn := dateNumRE.FindAllString(gl[i], -1), dateNumRE.FindAllString(wl[i], -1)
		for j := range gn {
			x, _ := strconv.ParseFloat(gn[j], 64)
			y, _ := strconv.ParseFloat(wn[j], 64)
			if math.Abs(x-y) >= tol || len(strings.SplitN(gn[j], ".", 2)[1]) != len(strings.SplitN(wn[j], ".", 2)[1]) {
				return fmt.Errorf("line %d: %s, want %s (±%g)", i+1, gn[j], wn[j], tol)
			}
			if (gn[j][0] == '+') != (wn[j][0] == '+') && math.Abs(y) >= tol {
				return fmt.Errorf("line %d: dateSign of %s, want %s", i+1, gn[j], wn[j])
			}
		}
	}
	return nil
}

// dateFakeSet starts fake servers on 127.0.0.N sharing one port, so several
// servers can be polled with the one ServerPort the command uses.
func dateFakeSet(t *testing.T, cfgs map[int]ntptest.Config) uint16 {
	t.Helper()
	for attempt := 0; attempt < 10; attempt++ {
		var started []*ntptest.Server
		var port uint16
		ok := true
		for _, n := range dateSortedKeys(cfgs) {
			addr := fmt.Sprintf("127.0.0.%d:%d", n, port)
			s, err := ntptest.Listen(addr, cfgs[n])
			if err != nil {
				ok = false
				break
			}
			started = append(started, s)
			port = s.Addr.Port()
		}
		if ok {
			for _, s := range started {
				t.Cleanup(func() { s.Close() })
			}
			return port
		}
		for _, s := range started {
			s.Close()
		}
	}
	t.Fatal("could not bind fake servers on one port")
	return 0
}

func dateSortedKeys(m map[int]ntptest.Config) []int {
	var k []int
	for n := range m {
		k = append(k, n)
	}
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if k[j] < k[i] {
				k[i], k[j] = k[j], k[i]
			}
		}
	}
	return k
}

// The scenarios of the classic goldens, replayed against fake servers on
// loopback (198.18.123.N becomes 127.0.0.N). Numbers may differ by
// measurement noise only.
func TestDateGoldenEndToEnd(t *testing.T) {
	healthy := func(stratum uint8) ntptest.Config {
		return ntptest.Config{Stratum: stratum, RefID: ntp.RefID{198, 18, 123, 7}, Precision: -23}
	}
	cases := []struct {
		dateGolden string
		fakes      map[int]ntptest.Config
		args       []string
		res        dateFakeResolver
		argv0      string
	}{
		{dateGolden: "classic.ntpdate-q.txt", fakes: map[int]ntptest.Config{1: healthy(3)}, args: []string{"-q", "127.0.0.1"}},
		{dateGolden: "classic.ntpdate-q-u.txt", fakes: map[int]ntptest.Config{1: healthy(3)}, args: []string{"-q", "-u", "127.0.0.1"}},
		{dateGolden: "classic.ntpdate-q-b.txt", fakes: map[int]ntptest.Config{1: healthy(3)}, args: []string{"-q", "-b", "127.0.0.1"}},
		{dateGolden: "classic-localonly.ntpdate-q.txt", fakes: map[int]ntptest.Config{1: {Stratum: 11, RefID: ntp.RefID{127, 127, 1, 0}}}, args: []string{"-q", "127.0.0.1"}},
		{dateGolden: "classic.ntpdate-q-step.txt", fakes: map[int]ntptest.Config{10: {Offset: 3500 * time.Millisecond}}, args: []string{"-q", "127.0.0.10"}},
		{dateGolden: "classic.ntpdate-q-B-step.txt", fakes: map[int]ntptest.Config{10: {Offset: 3500 * time.Millisecond}}, args: []string{"-q", "-B", "127.0.0.10"}},
		{dateGolden: "classic.ntpdate-q-falseticker-only.txt", fakes: map[int]ntptest.Config{6: {Offset: 250 * time.Millisecond}}, args: []string{"-q", "127.0.0.6"}},
		{dateGolden: "classic.ntpdate-q-multi.txt", fakes: map[int]ntptest.Config{
			1: healthy(3), 6: {Offset: 250 * time.Millisecond, RootDelay: 10 * time.Millisecond},
			2: healthy(3), 4: healthy(11), 5: {Stratum: 1, RefID: ntp.RefIDFromString("GPS")},
		}, args: []string{"-q", "127.0.0.1", "127.0.0.6", "127.0.0.2", "127.0.0.4", "127.0.0.5"}},
		{dateGolden: "classic.ntpdate-q-kod.txt", fakes: map[int]ntptest.Config{11: {Kiss: "RATE"}}, args: []string{"-q", "127.0.0.11"}},
		{dateGolden: "classic.ntpdate-q-unsync.txt", fakes: map[int]ntptest.Config{12: {Stratum: 16, Leap: ntp.LeapAlarm, RefID: ntp.RefIDFromString("INIT")}}, args: []string{"-q", "-t", "1", "127.0.0.12"}},
		{dateGolden: "ntpsec-unsync.classic-ntpdate-q.txt", fakes: map[int]ntptest.Config{1: {Stratum: 0, Leap: ntp.LeapAlarm, RefID: ntp.RefIDFromString("INIT"),
			Mutate: func(h *ntp.Header) { h.Stratum = 0 }}}, args: []string{"-q", "127.0.0.1"}},
		{dateGolden: "classic.ntpdate-q-unreachable.txt", fakes: map[int]ntptest.Config{9: {Silent: true}}, args: []string{"-q", "-t", "1", "127.0.0.9"}},
		{dateGolden: "nodaemon.ntpdate-q.classic.txt", fakes: map[int]ntptest.Config{1: {Silent: true}}, args: []string{"-q", "-t", "1", "127.0.0.1"}},
		{dateGolden: "classic.ntpdate-q-t.txt", fakes: map[int]ntptest.Config{9: {Silent: true}, 1: healthy(3)}, args: []string{"-q", "-t", "1", "127.0.0.9", "127.0.0.1"}},
		{dateGolden: "classic.ntpdate-q-p4.txt", fakes: map[int]ntptest.Config{1: healthy(3)}, args: []string{"-q", "-p", "2", "-t", "1", "127.0.0.1"}},
		{dateGolden: "classic.ntpdate-q-v.txt", fakes: map[int]ntptest.Config{1: healthy(3)}, args: []string{"-q", "-v", "127.0.0.1"}},
		{dateGolden: "classic.ntpdate-q-badhost.txt", fakes: map[int]ntptest.Config{1: healthy(3)}, args: []string{"-q", "no-such-host.invalid"},
			res: dateFakeResolver{err: &net.DNSError{Err: "server misbehaving", Name: "no-such-host.invalid", IsTemporary: true}}},
		{dateGolden: "classic.ntpdate-noargs.txt", fakes: map[int]ntptest.Config{1: healthy(3)}, argv0: "/opt/classic/usr/sbin/ntpdate"},
	}
	for _, c := range cases {
		t.Run(c.dateGolden, func(t *testing.T) {
			port := dateFakeSet(t, c.fakes)
			deps, adj := dateTestDeps(port, c.res)
			argv0 := c.argv0
			if argv0 == "" {
				argv0 = "ntpdate"
			}
			want := readDateGolden(t, c.dateGolden)
			norm := func(s string) string {
				s = dateMaskStamp(s)
				s = strings.ReplaceAll(s, "198.18.123.", "127.0.0.")
				// The version line names the implementation.
				return regexp.MustCompile(`ntpdate\[PID\]: ntpdate .*`).ReplaceAllString(s, "ntpdate[PID]: ntpdate VERSION")
			}
			// Loopback delays are tens of microseconds, but a loaded machine
			// can add milliseconds: retry (bounded) while only numbers differ.
			var got dateRun
			for try := 0; try < 3; try++ {
				got = runDateWith(t, deps, argv0, c.args...)
				if dateSameModuloNoise(norm(got.stdout), norm(want.stdout), 5e-3) == nil ||
					dateSameModuloNoise(norm(got.stdout), norm(want.stdout), math.Inf(1)) != nil {
					break
				}
			}
			if got.code != want.code {
				t.Errorf("exit %d, want %d", got.code, want.code)
			}
			if err := dateSameModuloNoise(norm(got.stdout), norm(want.stdout), 5e-3); err != nil {
				t.Errorf("stdout: %v\n--- got\n%s--- want\n%s", err, got.stdout, want.stdout)
			}
			if err := dateSameModuloNoise(norm(got.stderr), norm(want.stderr), 5e-3); err != nil {
				t.Errorf("stderr: %v\n--- got\n%s--- want\n%s", err, got.stderr, want.stderr)
			}
			if len(adj.Steps)+len(adj.Slews) != 0 {
				t.Errorf("-q touched the clock: %+v", adj)
			}
		})
	}
}

var errDateNoSyslog = errors.New("no syslog in tests")
