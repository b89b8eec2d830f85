package query_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/ntpqtest"
)

// Golden is a recorded run of a reference tool (see
// /work/shared/compat/golden/README.md for the file format).
type Golden struct {
	Command string
	Argv0   string
	Stdout  string
	Stderr  string
	Exit    int
}

const (
	stdoutMark = "# ---- stdout (verbatim) ----\n"
	stderrMark = "# ---- stderr (verbatim) ----\n"
)

func readGolden(t testing.TB, name string) Golden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	var g Golden
	i := strings.Index(s, stdoutMark)
	if i < 0 {
		t.Fatalf("%s: no stdout marker", name)
	}
	for _, line := range strings.Split(s[:i], "\n") {
		if c, ok := strings.CutPrefix(line, "# command: "); ok {
			g.Command = strings.TrimSpace(c)
			g.Argv0 = strings.Fields(g.Command)[0]
		}
		if _, e, ok := strings.Cut(line, "exit status: "); ok {
			g.Exit, _ = strconv.Atoi(strings.TrimSpace(e))
		}
	}
	rest := s[i+len(stdoutMark):]
	if strings.Contains(name, ".tty") {
		// Captured through a pseudo-tty: its output processing turned
		// every "\n" into "\r\n". The program itself wrote "\n".
		rest = strings.ReplaceAll(rest, "\r\n", "\n")
	}
	if j := strings.Index(rest, stderrMark); j >= 0 {
		g.Stdout, g.Stderr = rest[:j], rest[j+len(stderrMark):]
	} else {
		g.Stdout = rest
	}
	return g
}

// shellWords splits a line like a POSIX shell would for simple quoting.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

type goldenCase struct {
	golden, scenario string
	args             []string
}

func readCases(t testing.TB, file string) []goldenCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "golden", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		w := shellWords(line)
		out = append(out, goldenCase{golden: w[0], scenario: w[1], args: w[2:]})
	}
	return out
}

// fixture is a running fake daemon for one scenario.
type fixture struct {
	sc     *ntpqtest.Scenario
	srv    *ntpqtest.Server
	dialer query.Dialer
	names  query.StaticResolver
	now    time.Time
}

// refusedAddr returns a loopback address where nothing listens.
func refusedAddr(t testing.TB) string {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := c.LocalAddr().String()
	c.Close()
	return a
}

func startFixture(t testing.TB, scenario string) *fixture {
	t.Helper()
	fx := &fixture{names: query.StaticResolver{}}
	if scenario == "nodaemon" {
		fx.dialer = &ntpqtest.RedirectDialer{To: refusedAddr(t)}
		fx.now = time.Date(2026, 11, 22, 2, 31, 40, 0, time.UTC)
		return fx
	}
	sc, err := ntpqtest.ParseScenarioFile(filepath.Join("testdata", "scenarios", scenario+".scn"))
	if err != nil {
		t.Fatal(err)
	}
	fx.sc = sc
	srv, err := ntpqtest.Start(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	fx.srv, fx.dialer = srv, srv.Dialer()
	for _, r := range sc.Meta["resolve"] {
		f := strings.Fields(r)
		if len(f) == 2 {
			fx.names[f[0]] = f[1]
		}
	}
	when := sc.Meta["now"]
	if c := sc.Meta["at"]; len(c) > 0 {
		when = c
	}
	if len(when) > 0 {
		fx.now, err = time.Parse(time.RFC3339Nano, when[len(when)-1])
		if err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

// configFor parses the ntpq arguments of a case into a Config, the hosts
// and the commands (the CLI does the same with cobra; see
// cmd/ntpkit/cli for the real flags).
func configFor(t testing.TB, fx *fixture, g Golden, args []string, stdout, stderr *bytes.Buffer) (query.Config, []string, []string) {
	t.Helper()
	cfg := query.Config{
		Client:   query.ClientOptions{Dialer: fx.dialer, FirstTimeout: 50 * time.Millisecond, FragTimeout: 50 * time.Millisecond},
		Resolver: fx.names, Clock: clock.Fixed(fx.now), Location: time.UTC,
		Argv0: g.Argv0, Stdout: stdout, Stderr: stderr,
	}
	var hosts, cmds []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-p":
			cmds = append(cmds, "peers")
		case "-n":
			cfg.Numeric = true
		case "-w":
			cfg.Wide = true
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
			hosts = append(hosts, a)
		}
	}
	return cfg, hosts, cmds
}

func TestGoldenNtpq(t *testing.T) {
	for _, c := range readCases(t, "cases.txt") {
		t.Run(c.golden, func(t *testing.T) {
			t.Parallel()
			g := readGolden(t, c.golden)
			fx := startFixture(t, c.scenario)
			var stdout, stderr bytes.Buffer
			cfg, hosts, cmds := configFor(t, fx, g, c.args, &stdout, &stderr)
			in := query.New(cfg)
			in.Batch(context.Background(), hosts, cmds)
			if stdout.String() != g.Stdout {
				t.Errorf("stdout differs\n got:\n%s\nwant:\n%s\ndiff:\n%s", stdout.String(), g.Stdout, lineDiff(g.Stdout, stdout.String()))
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
		t.Run(c.golden, func(t *testing.T) {
			t.Parallel()
			g := readGolden(t, c.golden)
			fx := startFixture(t, c.scenario)
			rep, _ := query.FetchStat(context.Background(), fx.dialer, "127.0.0.1:123", 100*time.Millisecond)
			out, errText, code := rep.Render(query.StatOptions{})
			if out != g.Stdout || errText != g.Stderr || code != g.Exit {
				t.Errorf("got stdout %q stderr %q exit %d\nwant stdout %q stderr %q exit %d", out, errText, code, g.Stdout, g.Stderr, g.Exit)
			}
		})
	}
}

// lineDiff lists the lines that differ (for failure messages).
func lineDiff(want, got string) string {
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
