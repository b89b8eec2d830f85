//go:build gendocs

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestDocsUpToDate regenerates the man pages and completions and compares
// them with the committed docs/man and completions directories.
func TestDocsUpToDate(t *testing.T) {
	files, err := generateDocs(docsDate)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..", "..")
	committed := map[string]bool{}
	for _, pattern := range []string{filepath.Join(manDir, "*.[18]"), filepath.Join(completionsDir, "*", "*")} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, p := range m {
			rel, _ := filepath.Rel(root, p)
			committed[rel] = true
		}
	}
	var problems []string
	for rel, want := range files {
		got, err := os.ReadFile(filepath.Join(root, rel))
		switch {
		case err != nil:
			problems = append(problems, "missing "+rel)
		case !bytes.Equal(got, want):
			problems = append(problems, "stale "+rel)
		}
		delete(committed, rel)
	}
	for rel := range committed {
		problems = append(problems, "not generated any more: "+rel)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Fatalf("generated docs differ from the committed ones; run make docs\n%s", strings.Join(problems, "\n"))
	}
}

func TestGendocsCommand(t *testing.T) {
	dir := t.TempDir()
	// a stale page from an earlier run must disappear
	os.MkdirAll(filepath.Join(dir, manDir), 0o755)
	os.WriteFile(filepath.Join(dir, manDir, "ntpkit-gone.1"), []byte("x"), 0o644)
	var out, errb bytes.Buffer
	env := &Env{Args: []string{"ntpkit", "gendocs", dir}, Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "SOURCE_DATE_EPOCH" {
				return "1700000000" // Nov 2023
			}
			return ""
		}}
	if code := Main(env); code != 0 {
		t.Fatalf("gendocs exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, manDir, "ntpkit-gone.1")); err == nil {
		t.Error("stale man page not removed")
	}
	for _, want := range []struct{ file, text string }{
		{"docs/man/ntpkit.1", `.TH "NTPKIT" "1" "Nov 2023" "ntpkit" "ntpkit manual"`},
		{"docs/man/ntpq.1", `.TH "NTPQ" "1"`},
		{"docs/man/ntpstat.1", `.TH "NTPSTAT" "1"`},
		{"docs/man/ntpdate.1", `.TH "NTPDATE" "1"`},
		{"docs/man/ntpd.8", `.TH "NTPD" "8"`},
		{"completions/bash/ntpq", "__start_ntpq"},
		{"completions/bash/ntpkit", "__start_ntpkit"},
		{"completions/zsh/_ntpd", "#compdef ntpd"},
		{"completions/fish/ntpdate.fish", "complete -c ntpdate"},
		{"completions/powershell/ntpstat.ps1", "Register-ArgumentCompleter -CommandName 'ntpstat'"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, want.file))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if !strings.Contains(string(b), want.text) {
			t.Errorf("%s lacks %q", want.file, want.text)
		}
		if strings.Contains(string(b), "Auto generated") {
			t.Errorf("%s has an auto-generated tag", want.file)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "docs/man/ntpkit.1")); err == nil && strings.Contains(string(b), "gendocs") {
		t.Error("hidden gendocs command documented")
	}
}
