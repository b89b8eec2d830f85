package query_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ntpkit/ntpkit/query"
)

var update = flag.Bool("update", false, "rewrite the JSON golden files (ntpkit's own output: testdata/json, testdata/stats/json, testdata/mru/*.jsonl)")

// checkJSONGolden compares got with the golden file at path (rewriting it
// first under -update). These goldens are ntpkit's own documents; the goldens
// of the real tools' text output are never rewritten.
func checkJSONGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// The --json output is ntpkit's own format (docs/json.md); its golden
// files are regenerated with go test -run JSON -update.
func TestJSONGolden(t *testing.T) {
	cases := []struct {
		name, scenario string
		args           []string
	}{
		{"peers", "classic-main-0231", []string{"-p"}},
		{"opeers-ntpsecd", "ntpsec-main-0222", []string{"-c", "lopeers"}},
		{"associations", "classic-main-0231", []string{"-c", "as"}},
		{"readvar-system", "classic-main-0231", []string{"-c", "rv"}},
		{"readvar-peer", "ntpsec-main-0217", []string{"-c", "rv 17776"}},
		{"readvar-list", "classic-main-0231", []string{"-c", "rv 0 leap,stratum,refid"}},
		{"error-refused", "nodaemon", []string{"-p"}},
		{"error-unknownvar", "classic-main-0231", []string{"-c", "rv 0 nosuchvar"}},
		{"two-hosts", "classic-main-0231", []string{"-c", "as", "127.0.0.1", "::1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := startFixture(t, c.scenario)
			var stdout, stderr bytes.Buffer
			cfg, hosts, cmds := configFor(t, fx, readGolden(t, "classic.ntpq-p.txt"), c.args, &stdout, &stderr)
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
			checkJSONGolden(t, filepath.Join("testdata", "json", c.name+".jsonl"), stdout.Bytes())
		})
	}
}
