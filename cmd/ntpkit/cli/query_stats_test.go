package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ntpkit/ntpkit/query/ntpqtest"
)

// The statistics goldens of query/testdata/stats (real classic and NTPsec
// ntpq against classic and NTPsec ntpd) through the real command tree:
// flags, --style, argv0, exit status.
func TestQueryStatsGoldenCLI(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "query", "testdata", "stats")
	cases, err := ntpqtest.ReadCases(filepath.Join(dir, "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Golden, func(t *testing.T) {
			t.Parallel()
			g, err := ntpqtest.ReadGolden(filepath.Join(dir, c.Golden))
			if err != nil {
				t.Fatal(err)
			}
			deps, _ := fixtureDepsIn(t, dir, c.Scenario)
			r := runCmd(t, buildQuery, deps, append([]string{"ntpq"}, c.Args...), "")
			if r.stdout != g.Stdout || r.stderr != g.Stderr || r.code != 0 {
				t.Errorf("got exit %d stdout:\n%s\nstderr %q\nwant stdout:\n%s\nstderr %q", r.code, r.stdout, r.stderr, g.Stdout, g.Stderr)
			}
		})
	}
}

// The commands also work from the interactive prompt and --json.
func TestQueryStatsInteractiveAndJSON(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "query", "testdata", "stats")
	deps, _ := fixtureDepsIn(t, dir, "classicq-classicd.timerstats")
	r := runCmd(t, buildQuery, deps, []string{"ntpq"}, "timerstats\nquit\n")
	want := "time since reset:    167\ntimer overruns:      0\ncalls to transmit:   0\n"
	if r.stdout != want || r.stderr != "" {
		t.Errorf("interactive: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "--json", "-c", "timerstats"}, "")
	if !strings.HasPrefix(r.stdout, `{"view":"timerstats","host":"localhost","assid":0,`) || r.stderr != "" {
		t.Errorf("--json: stdout %q stderr %q", r.stdout, r.stderr)
	}
}
