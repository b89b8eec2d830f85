package ntpconf

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden parses the real configuration files of the reference setup
// (testdata/refsetup, copied from compat/refsetup) and the built-in default,
// and compares a JSON dump with testdata/golden/NAME.json.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/refsetup/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no config files: %v", err)
	}
	inputs := map[string]string{"default.conf": DefaultConfig}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(f)] = string(b)
	}
	for name, text := range inputs {
		t.Run(name, func(t *testing.T) {
			c, err := Parse(name, strings.NewReader(text))
			dump := struct {
				Config *Config `json:"config"`
				Errors string  `json:"errors,omitempty"`
			}{Config: c}
			if err != nil {
				dump.Errors = err.Error()
			}
			got, jerr := json.MarshalIndent(dump, "", "  ")
			if jerr != nil {
				t.Fatal(jerr)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".conf")+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("dump differs from %s (run go test -update and review the diff):\n%s", golden, got)
			}
		})
	}
}
