package query_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/ntpqtest"
)

// The golden tests replay every ntpq and ntpstat run recorded in
// testdata/golden (copies of shared/compat/golden) against the fake
// daemon serving the matching testdata/scenarios file, and require the
// output byte for byte. Case tables: testdata/golden/cases.txt (ntpq) and
// stat-cases.txt (ntpstat).

const (
	goldenDir   = "testdata/golden"
	scenarioDir = "testdata/scenarios"
)

func startFixture(t testing.TB, name string) *ntpqtest.Fixture {
	t.Helper()
	fx, err := ntpqtest.StartFixture(scenarioDir, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fx.Close)
	return fx
}

func readGolden(t testing.TB, name string) ntpqtest.Golden {
	t.Helper()
	g, err := ntpqtest.ReadGolden(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func readCases(t testing.TB, name string) []ntpqtest.Case {
	t.Helper()
	c, err := ntpqtest.ReadCases(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// configFor turns the ntpq arguments of a case into a Config, the hosts
// and the commands (the CLI does the same with its flags; the CLI tests
// replay the same table through the real command).
func configFor(t testing.TB, fx *ntpqtest.Fixture, g ntpqtest.Golden, args []string, stdout, stderr *bytes.Buffer) (query.Config, []string, []string) {
	t.Helper()
	// Short timeouts only where the daemon is silent, so that a loaded
	// machine cannot turn a slow answer into a spurious timeout.
	timeout := 2 * time.Second
	if fx.Scenario != nil && fx.Scenario.Drop {
		timeout = 50 * time.Millisecond
	}
	cfg := query.Config{
		Client:   query.ClientOptions{Dialer: fx.Dialer, FirstTimeout: timeout, FragTimeout: timeout},
		Resolver: query.StaticResolver(fx.Names), Clock: clock.Fixed(fx.Now), Location: time.UTC,
		Argv0: g.Argv0, Stdout: stdout, Stderr: stderr,
	}
	var hosts, cmds []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-p":
			cmds = append(cmds, "peers")
		case "-n":
			cfg.Numeric = true
		case "-w":
			cfg.Wide = true
		case "-u":
			cfg.Units = true
		case "-c":
			i++
			cmds = append(cmds, args[i])
		case "-W":
			i++
			cfg.Width, _ = strconv.Atoi(args[i])
		case "--style":
			i++
			st, err := query.ParseStyle(args[i])
			if err != nil {
				t.Fatal(err)
			}
			cfg.Style = st
		default:
			if strings.HasPrefix(a, "-") {
				t.Fatalf("configFor: unknown flag %s", a)
			}
			hosts = append(hosts, a)
		}
	}
	return cfg, hosts, cmds
}

func TestGoldenNtpq(t *testing.T) {
	for _, c := range readCases(t, "cases.txt") {
		t.Run(c.Golden, func(t *testing.T) {
			t.Parallel()
			g := readGolden(t, c.Golden)
			fx := startFixture(t, c.Scenario)
			var stdout, stderr bytes.Buffer
			cfg, hosts, cmds := configFor(t, fx, g, c.Args, &stdout, &stderr)
			query.New(cfg).Batch(context.Background(), hosts, cmds)
			if stdout.String() != g.Stdout {
				t.Errorf("stdout differs\n got:\n%s\nwant:\n%s\ndiff:\n%s", stdout.String(), g.Stdout, LineDiff(g.Stdout, stdout.String()))
			}
			if stderr.String() != g.Stderr {
				t.Errorf("stderr differs\n got: %q\nwant: %q", stderr.String(), g.Stderr)
			}
			if g.Exit != 0 {
				t.Errorf("golden exit %d, ntpq always exits 0", g.Exit)
			}
		})
	}
}

func TestGoldenNtpstat(t *testing.T) {
	for _, c := range readCases(t, "stat-cases.txt") {
		t.Run(c.Golden, func(t *testing.T) {
			t.Parallel()
			g := readGolden(t, c.Golden)
			fx := startFixture(t, c.Scenario)
			timeout := time.Second
			if fx.Scenario != nil && fx.Scenario.Drop {
				timeout = 100 * time.Millisecond
			}
			rep, _ := query.FetchStat(context.Background(), fx.Dialer, "127.0.0.1:123", timeout)
			out, errText, code := rep.Render(query.StatOptions{})
			if out != g.Stdout || errText != g.Stderr || code != g.Exit {
				t.Errorf("got stdout %q stderr %q exit %d\nwant stdout %q stderr %q exit %d", out, errText, code, g.Stdout, g.Stderr, g.Exit)
			}
		})
	}
}

// LineDiff lists the lines that differ (for failure messages).
func LineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("-" + strconv.Quote(a) + "\n+" + strconv.Quote(c) + "\n")
		}
	}
	return b.String()
}
