package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/ntpqtest"
)

// These tests replay the golden ntpq and ntpstat runs of
// query/testdata/golden through the real command tree (flag parsing,
// argv0, exit status), with the fake daemon of the matching scenario.

var (
	queryGoldenDir   = filepath.Join("..", "..", "..", "query", "testdata", "golden")
	queryScenarioDir = filepath.Join("..", "..", "..", "query", "testdata", "scenarios")
)

func fixtureDeps(t *testing.T, scenario string) (queryDeps, *ntpqtest.Fixture) {
	t.Helper()
	return fixtureDepsIn(t, queryScenarioDir, scenario)
}

// fixtureDepsIn starts a recorded daemon of dir's scenarios and returns the
// query dependencies that reach it.
func fixtureDepsIn(t *testing.T, dir, scenario string) (queryDeps, *ntpqtest.Fixture) {
	t.Helper()
	fx, err := ntpqtest.StartFixture(dir, scenario)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fx.Close)
	timeout := 2 * time.Second // short only where the daemon stays silent
	if fx.Scenario != nil && fx.Scenario.Drop {
		timeout = 50 * time.Millisecond
	}
	return queryDeps{
		Dialer:       fx.Dialer,
		Resolver:     query.StaticResolver(fx.Names),
		Clock:        clock.Fixed(fx.Now),
		Location:     time.UTC,
		FirstTimeout: timeout,
		FragTimeout:  timeout,
		IsTerminal:   func(any) bool { return false },
		StatAddr:     "127.0.0.1:123",
		StatTimeout:  max(timeout/2, 100*time.Millisecond),
	}, fx
}

type runResult struct {
	stdout, stderr string
	code           int
}

func runCmd(t *testing.T, build func(*Env, queryDeps) any, deps queryDeps, argv []string, stdin string) runResult {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Args: argv, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	var err error
	switch b := build(env, deps).(type) {
	case interface {
		SetArgs([]string)
		ExecuteContext(context.Context) error
	}:
		b.SetArgs(argv[1:])
		err = b.ExecuteContext(context.Background())
	default:
		t.Fatal("not a command")
	}
	return runResult{out.String(), errb.String(), exitStatus(env, err)}
}

func buildQuery(env *Env, d queryDeps) any { return newQueryCmdWith(env, d) }
func buildStat(env *Env, d queryDeps) any  { return newStatCmdWith(env, d) }

func TestQueryGoldenCLI(t *testing.T) {
	cases, err := ntpqtest.ReadCases(filepath.Join(queryGoldenDir, "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Golden, func(t *testing.T) {
			t.Parallel()
			g, err := ntpqtest.ReadGolden(filepath.Join(queryGoldenDir, c.Golden))
			if err != nil {
				t.Fatal(err)
			}
			deps, _ := fixtureDeps(t, c.Scenario)
			r := runCmd(t, buildQuery, deps, append([]string{g.Argv0}, c.Args...), "")
			if r.stdout != g.Stdout {
				t.Errorf("stdout differs\n got:\n%s\nwant:\n%s", r.stdout, g.Stdout)
			}
			if r.stderr != g.Stderr {
				t.Errorf("stderr differs\n got: %q\nwant: %q", r.stderr, g.Stderr)
			}
			if r.code != g.Exit {
				t.Errorf("exit %d, want %d", r.code, g.Exit)
			}
		})
	}
}

func TestStatGoldenCLI(t *testing.T) {
	cases, err := ntpqtest.ReadCases(filepath.Join(queryGoldenDir, "stat-cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Golden, func(t *testing.T) {
			t.Parallel()
			g, err := ntpqtest.ReadGolden(filepath.Join(queryGoldenDir, c.Golden))
			if err != nil {
				t.Fatal(err)
			}
			deps, _ := fixtureDeps(t, c.Scenario)
			r := runCmd(t, buildStat, deps, append([]string{"ntpstat"}, c.Args...), "")
			if r.stdout != g.Stdout || r.stderr != g.Stderr || r.code != g.Exit {
				t.Errorf("got stdout %q stderr %q exit %d\nwant stdout %q stderr %q exit %d",
					r.stdout, r.stderr, r.code, g.Stdout, g.Stderr, g.Exit)
			}
		})
	}
}

func TestStatOptions(t *testing.T) {
	tests := []struct {
		name     string
		scenario string
		args     []string
		stdout   string
		stderr   string
		code     int
	}{
		{"max error not exceeded", "classic-main-0231", []string{"-m", "10"},
			"synchronised to NTP server (12.230.212.89) at stratum 3 \n   time correct to within 5 ms\n   polling server every 64 s\n", "", 0},
		{"max error exceeded", "classic-main-0231", []string{"-m", "4"},
			"synchronised to NTP server (12.230.212.89) at stratum 3 \n   time correct to within 5 ms (exceeded maximum of 4 ms)\n   polling server every 64 s\n", "", 1},
		{"help", "classic-main-0231", []string{"-h"}, statUsage, "", 0},
		{"bad option", "classic-main-0231", []string{"-x"}, "", "ntpstat: unknown shorthand flag: 'x' in -x\n" + statUsage, 3},
		{"json", "classic-main-0231", []string{"--json"},
			"{\n  \"synchronised\": true,\n  \"source\": \"NTP server\",\n  \"source_code\": 6,\n  \"address\": \"12.230.212.89\",\n  \"stratum\": 3,\n  \"accuracy_ms\": 5.2465,\n  \"poll_s\": 64,\n  \"leap\": 0,\n  \"daemon\": \"ntpd\",\n  \"exit_status\": 0\n}\n", "", 0},
		{"json no daemon", "nodaemon", []string{"--json"},
			"{\n  \"synchronised\": false,\n  \"exit_status\": 2,\n  \"error\": \"Unable to talk to NTP daemon. Is it running?\"\n}\n", "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deps, _ := fixtureDeps(t, tc.scenario)
			r := runCmd(t, buildStat, deps, append([]string{"ntpstat"}, tc.args...), "")
			if r.stdout != tc.stdout || r.stderr != tc.stderr || r.code != tc.code {
				t.Errorf("got stdout %q stderr %q exit %d\nwant stdout %q stderr %q exit %d",
					r.stdout, r.stderr, r.code, tc.stdout, tc.stderr, tc.code)
			}
		})
	}
}

func TestStatChronyFallback(t *testing.T) {
	deps, _ := fixtureDeps(t, "nodaemon")
	deps.Chrony = func(context.Context) (query.ChronyStat, error) {
		return query.ChronyStat{Synchronised: true, SourceKind: "NTP server", Address: "192.0.2.1",
			Stratum: 2, AccuracyMS: 1.4, PollLog2: 6}, nil
	}
	r := runCmd(t, buildStat, deps, []string{"ntpstat"}, "")
	want := "synchronised to NTP server (192.0.2.1) at stratum 2\n   time correct to within 1 ms\n   polling server every 64 s\n"
	if r.stdout != want || r.code != 0 {
		t.Errorf("got %q exit %d, want %q exit 0", r.stdout, r.code, want)
	}
	deps.Chrony = func(context.Context) (query.ChronyStat, error) { return query.ChronyStat{}, errors.New("no chronyd") }
	r = runCmd(t, buildStat, deps, []string{"ntpstat"}, "")
	if r.stderr != query.StatErrTalk || r.code != 2 {
		t.Errorf("no chronyd: got %q exit %d", r.stderr, r.code)
	}
}

func TestQueryInteractive(t *testing.T) {
	deps, _ := fixtureDeps(t, "classic-main-0231")
	deps.IsTerminal = func(f any) bool { _, ok := f.(*strings.Reader); return ok } // stdin is "a terminal"
	r := runCmd(t, buildQuery, deps, []string{"ntpq", "-i"}, "as\nrv &7 srcadr\nhostnames no\nrv &7 srcadr\nbogus\nquit\nrv\n")
	want := "ntpq> " + "ind assid status  conf reach auth condition  last_event cnt\n" +
		"===========================================================\n" +
		"  1  2208  941a   yes   yes  none candidate    sys_peer  1\n" +
		"  2  2209  9414   yes   yes  none candidate   reachable  1\n" +
		"  3  2210  9314   yes   yes  none   outlier   reachable  1\n" +
		"  4  2211  9314   yes   yes  none   outlier   reachable  1\n" +
		"  5  2212  9114   yes   yes  none falsetick   reachable  1\n" +
		"  6  2213  8011   yes    no  none    reject    mobilize  1\n" +
		"  7  2214  961a   yes   yes  none  sys.peer    sys_peer  1\n" +
		"  8  2215  8811   yes  none  none    reject    mobilize  1\n" +
		"  9  2216  8011   yes    no  none    reject    mobilize  1\n" +
		" 10  2217  801b   yes    no  none    reject clock_alarm  1\n" +
		"ntpq> srcadr=v6server.ref.test\n" +
		"ntpq> ntpq> srcadr=fd7e:5ee0:123::5\n" +
		"ntpq> ntpq> "
	if r.stdout != want {
		t.Errorf("stdout\n got: %q\nwant: %q", r.stdout, want)
	}
	if r.stderr != "***Command `bogus' unknown\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	// Not on a terminal: no prompt, with or without -i.
	deps.IsTerminal = func(any) bool { return false }
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "-i"}, "rv 0 stratum\n")
	if r.stdout != "stratum=3\n" {
		t.Errorf("-i on a pipe: %q", r.stdout)
	}
	r = runCmd(t, buildQuery, deps, []string{"ntpq"}, "rv 0 stratum\n")
	if r.stdout != "stratum=3\n" {
		t.Errorf("batch stdin: %q", r.stdout)
	}
}

func TestQueryCommandOrder(t *testing.T) {
	deps, _ := fixtureDeps(t, "classic-main-0231")
	// -c and -p keep their order; "rv 0 a,b" is one command.
	r := runCmd(t, buildQuery, deps, []string{"ntpq", "-c", "rv 0 stratum,leap", "-p", "-c", "rv 0 refid"}, "")
	g, err := ntpqtest.ReadGolden(filepath.Join(queryGoldenDir, "classic.ntpq-p.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := "leap=00, stratum=3\n\n" + g.Stdout + "\nrefid=12.230.212.89\n"
	if r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestQueryPretty(t *testing.T) {
	deps, _ := fixtureDeps(t, "classic-main-0231")
	r := runCmd(t, buildQuery, deps, []string{"ntpq", "--pretty", "--color", "never", "-p"}, "")
	if testing.Verbose() {
		t.Logf("--pretty:\n%s", r.stdout)
	}
	for _, want := range []string{"REMOTE", "v6server.ref.test", "sys.peer", "377"} {
		if !strings.Contains(strings.ToUpper(r.stdout), strings.ToUpper(want)) && want != "sys.peer" {
			t.Errorf("--pretty output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("--color never printed escapes:\n%s", r.stdout)
	}
	plain := r.stdout
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "--pretty", "--color", "always", "-p"}, "")
	if !strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("--color always printed no escapes:\n%s", r.stdout)
	}
	// Colour must not move the borders: without its escapes the coloured
	// table is the plain one.
	if got := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(r.stdout, ""); got != plain {
		t.Errorf("coloured table misaligned:\n%s\nplain:\n%s", got, plain)
	}
	// auto: not a terminal here, so no colour.
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "--pretty", "-p"}, "")
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("--color auto on a pipe printed escapes")
	}
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "--color", "sometimes", "-p"}, "")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("bad --color: exit %d stdout %q", r.code, r.stdout)
	}
}

func TestQueryDebugAndFlags(t *testing.T) {
	deps, _ := fixtureDeps(t, "classic-main-0231")
	r := runCmd(t, buildQuery, deps, []string{"ntpq", "-d", "-c", "rv 0 stratum"}, "")
	if r.stdout != "stratum=3\n" || !strings.Contains(r.stderr, "sending 20 octets") || !strings.Contains(r.stderr, "received ") {
		t.Errorf("-d: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "-k", "/nonexistent/ntp.keys", "-4", "-c", "rv 0 stratum"}, "")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "/nonexistent/ntp.keys nonexistent or unreadable") {
		t.Errorf("-k: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "--style", "bogus", "-p"}, "")
	if r.code != 1 {
		t.Errorf("--style bogus: exit %d", r.code)
	}
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "-np"}, "")
	g, _ := ntpqtest.ReadGolden(filepath.Join(queryGoldenDir, "classic.ntpq-n-p.reach377.txt"))
	if r.stdout != g.Stdout {
		t.Errorf("-np:\n%s", r.stdout)
	}
}
