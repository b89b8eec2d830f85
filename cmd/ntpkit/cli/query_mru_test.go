package cli

import (
	"bufio"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/ntpqtest"
)

// mruReplay serves the daemon side of a recorded mrulist run
// (query/testdata/mru/NAME.txt): the i-th request gets the datagrams that
// answered the i-th recorded one.
func mruReplay(t *testing.T, name string) (ntpqtest.Golden, string) {
	t.Helper()
	path := filepath.Join("..", "..", "..", "query", "testdata", "mru", name+".txt")
	g, err := ntpqtest.ReadGolden(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var answers [][][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<16)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 || (line[0] != '>' && line[0] != '<') {
			continue
		}
		b, err := hex.DecodeString(line[2:])
		if err != nil {
			t.Fatal(err)
		}
		if line[0] == '>' {
			answers = append(answers, nil)
		} else {
			answers[len(answers)-1] = append(answers[len(answers)-1], b)
		}
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for i := 0; ; i++ {
			_, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if i < len(answers) {
				for _, p := range answers[i] {
					_, _ = c.WriteToUDP(p, from)
				}
			}
		}
	}()
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return g, c.LocalAddr().String()
}

func mruDeps(to string) queryDeps {
	return queryDeps{
		Dialer:       &ntpqtest.RedirectDialer{To: to},
		Resolver:     query.StaticResolver{"127.0.0.1": "localhost"},
		Clock:        clock.Fixed(time.Unix(1_800_000_000, 0)),
		Location:     time.UTC,
		FirstTimeout: time.Second,
		FragTimeout:  time.Second,
		IsTerminal:   func(any) bool { return false },
	}
}

var secFigures = regexp.MustCompile(`slots in [0-9.]+ seconds|Used \d+ megabytes`)

// TestQueryMRUList: mrulist through the ntpq command line (-c, the
// interactive prompt's stdin, --style ntpsec, --json) prints what the real
// ntpq printed against the recorded daemon (ntpq-sec's timing and memory
// figures aside).
func TestQueryMRUList(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		argv    []string
		stdin   string
	}{
		{"classic-vs-classic.n", []string{"ntpq", "-n", "-c", "mrulist"}, ""},
		{"classic-vs-classic.n", []string{"ntpq", "-n"}, "mrulist\n"},
		{"classic-vs-classic.opts", []string{"ntpq", "-n", "-c", "mrulist mincount=2 resany=0x40 sort=-count"}, ""},
		{"classic-vs-ntpsec.many", []string{"ntpq", "-n", "-c", "mrulist"}, ""},
		{"ntpsec-vs-ntpsec.n", []string{"ntpq", "--style", "ntpsec", "-n", "-c", "mrulist"}, ""},
		{"ntpsec-vs-ntpsec.names", []string{"ntpq", "--style", "ntpsec", "-i"}, "mrulist\n"},
	} {
		t.Run(tc.fixture+"/"+strings.Join(tc.argv[1:], "_"), func(t *testing.T) {
			g, to := mruReplay(t, tc.fixture)
			r := runCmd(t, buildQuery, mruDeps(to), tc.argv, tc.stdin)
			if got, want := secFigures.ReplaceAllString(r.stdout, "X"), secFigures.ReplaceAllString(g.Stdout, "X"); got != want {
				t.Errorf("stdout\n got:\n%s\nwant:\n%s", got, want)
			}
			if r.stderr != g.Stderr || r.code != 0 {
				t.Errorf("stderr %q (exit %d), want %q", r.stderr, r.code, g.Stderr)
			}
		})
	}
	_, to := mruReplay(t, "classic-vs-classic.n")
	r := runCmd(t, buildQuery, mruDeps(to), []string{"ntpq", "--json", "-n", "-c", "mrulist"}, "")
	if !strings.HasPrefix(r.stdout, `{"view":"mrulist","host":"localhost","now":"0x`) || !strings.Contains(r.stdout, `"addr":"127.0.0.4","port":40004`) || r.stderr != "" {
		t.Errorf("--json: %q %q", r.stdout, r.stderr)
	}
}
