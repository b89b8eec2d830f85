package ntpqtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Golden is a recorded run of a reference tool (the format of
// shared/compat/golden: "# " header lines with the command and the exit
// status, then the verbatim stdout and stderr after marker lines).
type Golden struct {
	Command string // as run
	Argv0   string // first word of Command
	Stdout  string
	Stderr  string
	Exit    int
}

const (
	stdoutMark = "# ---- stdout (verbatim) ----\n"
	stderrMark = "# ---- stderr (verbatim) ----\n"
)

// ReadGolden parses a golden file. Files captured through a pseudo-tty
// (".tty" in the name) have the tty's "\r\n" turned back into "\n".
func ReadGolden(path string) (Golden, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Golden{}, err
	}
	s := string(b)
	var g Golden
	i := strings.Index(s, stdoutMark)
	if i < 0 {
		return g, fmt.Errorf("%s: no stdout marker", path)
	}
	for _, line := range strings.Split(s[:i], "\n") {
		if c, ok := strings.CutPrefix(line, "# command: "); ok {
			g.Command = strings.TrimSpace(c)
			if f := strings.Fields(g.Command); len(f) > 0 {
				g.Argv0 = f[0]
			}
		}
		if _, e, ok := strings.Cut(line, "exit status: "); ok {
			g.Exit, _ = strconv.Atoi(strings.TrimSpace(e))
		}
	}
	rest := s[i+len(stdoutMark):]
	if strings.Contains(filepath.Base(path), ".tty") {
		rest = strings.ReplaceAll(rest, "\r\n", "\n")
	}
	if j := strings.Index(rest, stderrMark); j >= 0 {
		g.Stdout, g.Stderr = rest[:j], rest[j+len(stderrMark):]
	} else {
		g.Stdout = rest
	}
	return g, nil
}

// Case is one line of a golden case table: the golden file, the scenario
// that reproduces the daemon, and the tool's arguments.
type Case struct {
	Golden   string
	Scenario string
	Args     []string
}

// ReadCases reads a case table: one case per line, "golden scenario
// args...", arguments quoted like a shell; # starts a comment line.
func ReadCases(path string) ([]Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Case
	sc := bufio.NewScanner(f)
	ln := 0
	for sc.Scan() {
		ln++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		w := ShellWords(line)
		if len(w) < 2 {
			return nil, fmt.Errorf("%s:%d: want GOLDEN SCENARIO [ARGS]", path, ln)
		}
		out = append(out, Case{Golden: w[0], Scenario: w[1], Args: w[2:]})
	}
	return out, sc.Err()
}

// ShellWords splits a line into words with single and double quotes.
func ShellWords(s string) []string {
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

// Fixture is a scenario being served, with what a test needs to
// reproduce the recorded run: a dialer reaching the fake daemon, the
// reverse DNS answers and the capture time.
type Fixture struct {
	Scenario *Scenario
	Server   *Server // nil for "nodaemon"
	Dialer   *RedirectDialer
	Names    map[string]string // address -> name ("resolve" lines)
	Now      time.Time         // "at" if given, else "now"
}

// Close stops the server.
func (f *Fixture) Close() {
	if f.Server != nil {
		f.Server.Close()
	}
}

// StartFixture serves dir/name.scn. The name "nodaemon" gives a dialer to
// a loopback port where nothing listens (connection refused).
func StartFixture(dir, name string) (*Fixture, error) {
	fx := &Fixture{Names: map[string]string{}}
	if name == "nodaemon" {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		a := c.LocalAddr().String()
		c.Close()
		fx.Dialer = &RedirectDialer{To: a}
		fx.Now = time.Date(2026, 11, 22, 2, 31, 40, 0, time.UTC)
		return fx, nil
	}
	sc, err := ParseScenarioFile(filepath.Join(dir, name+".scn"))
	if err != nil {
		return nil, err
	}
	srv, err := Start(sc)
	if err != nil {
		return nil, err
	}
	fx.Scenario, fx.Server, fx.Dialer = sc, srv, srv.Dialer()
	for _, r := range sc.Meta["resolve"] {
		if f := strings.Fields(r); len(f) == 2 {
			fx.Names[f[0]] = f[1]
		}
	}
	when := sc.Meta["now"]
	if a := sc.Meta["at"]; len(a) > 0 {
		when = a
	}
	if len(when) > 0 {
		fx.Now, err = time.Parse(time.RFC3339Nano, when[len(when)-1])
		if err != nil {
			srv.Close()
			return nil, err
		}
	}
	return fx, nil
}
