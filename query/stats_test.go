package query_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/ntpqtest"
)

// --json for the statistics commands (docs/json.md), golden files in
// testdata/stats/json (go test -run StatsJSON -update rewrites them).
func TestStatsJSON(t *testing.T) {
	cases := []struct {
		name, scenario string
		omit           bool // the daemon omits what it does not measure (ntpkit)
		args           []string
	}{
		{"sysstats-ntpkit", "omit", true, []string{"-c", "sysstats"}},
		{"kerninfo-classicd", "classicq-classicd.kerninfo", false, []string{"-c", "kerninfo"}},
		{"monstats-ntpkit", "omit", true, []string{"-c", "monstats"}},
		{"pstats-secd", "classicq-secd.pstats", false, []string{"-c", "pstats 17767"}},
		{"sysstats-classicd-unknown", "secq-classicd.sysstats", false, []string{"-c", "sysstats"}},
		{"pstats-badassoc", "omit", true, []string{"-c", "pstats 9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var fx *ntpqtest.Fixture
			if c.omit {
				fx = omitServer(t, c.scenario)
			} else {
				var err error
				fx, err = ntpqtest.StartFixture(statsDir, c.scenario)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(fx.Close)
			}
			var stdout, stderr bytes.Buffer
			cfg, hosts, cmds := configFor(t, fx, ntpqtest.Golden{Argv0: "ntpq"}, c.args, &stdout, &stderr)
			cfg.JSON = true
			query.New(cfg).Batch(context.Background(), hosts, cmds)
			if stderr.Len() != 0 {
				t.Errorf("stderr with --json: %q", stderr.String())
			}
			for i, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("line %d is not a JSON document: %s", i+1, line)
				}
			}
			checkJSONGolden(t, filepath.Join(statsDir, "json", c.name+".jsonl"), stdout.Bytes())
		})
	}
}

// pstats argument errors, as each front end words them (checked against
// both real ntpqs).
func TestStatsPstatsArgs(t *testing.T) {
	for _, c := range []struct {
		style, cmd, stderr string
	}{
		{"classic", "pstats", "usage: pstats assocID\n"},
		{"classic", "pstats abc", "***Illegal unsigned value abc\n"},
		{"classic", "pstats 99", "***Association ID 99 unknown to server\n"},
		{"ntpsec", "pstats", "usage: pstats assocID\n"},
		{"ntpsec", "pstats abc", "Invalid associd literal.\n"},
		{"ntpsec", "pstats 99", "Unknown associd.\n"},
		{"ntpsec", "pstats &7", "No such association as 7.\n"},
	} {
		fx, err := ntpqtest.StartFixture(statsDir, "classicq-classicd.pstats")
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		cfg, hosts, cmds := configFor(t, fx, ntpqtest.Golden{Argv0: "ntpq"}, []string{"--style", c.style, "-c", c.cmd}, &stdout, &stderr)
		query.New(cfg).Batch(context.Background(), hosts, cmds)
		fx.Close()
		if stdout.String() != "" || stderr.String() != c.stderr {
			t.Errorf("%s %q: stdout %q stderr %q, want stderr %q", c.style, c.cmd, stdout.String(), stderr.String(), c.stderr)
		}
	}
}
