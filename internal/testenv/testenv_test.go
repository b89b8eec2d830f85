package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestLookup(t *testing.T) {
	tests := []struct {
		tool string
		ok   bool
	}{
		{"go", true},
		{"/bin/sh", true},
		{"ntpkit-no-such-tool", false},
		{"/nonexistent/ntpkit-tool", false},
		{os.TempDir(), false}, // a directory is not a tool
	}
	for _, tc := range tests {
		_, err := Lookup(tc.tool)
		if (err == nil) != tc.ok {
			t.Errorf("Lookup(%q) err=%v, want ok=%v", tc.tool, err, tc.ok)
		}
	}
}

func TestNeedPresent(t *testing.T) {
	Need(t, "go", "/bin/sh") // must neither skip nor fail
}

// TestNeedMissing runs a child test binary invocation to see both rules:
// skip locally, fail under CI.
func TestNeedMissing(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Need(t, "ntpkit-no-such-tool")
		t.Fatal("Need returned for a missing tool")
	}
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNeedMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		s := string(out)
		switch ci {
		case "":
			if err != nil || !strings.Contains(s, "--- SKIP") {
				t.Errorf("CI unset: want skip, got err=%v\n%s", err, s)
			}
		case "true":
			if err == nil || !strings.Contains(s, "--- FAIL") || !strings.Contains(s, "ntpkit-no-such-tool") {
				t.Errorf("CI=true: want failure naming the tool, got err=%v\n%s", err, s)
			}
		}
	}
}

func TestClassicAndChronyPaths(t *testing.T) {
	if got := ClassicBin("ntpq"); !strings.HasPrefix(got, "/opt/classic/usr/") || filepath.Base(got) != "ntpq" {
		t.Errorf("ClassicBin(ntpq) = %q", got)
	}
	if got := ChronyBin("chronyd"); !strings.HasPrefix(got, "/opt/chrony/usr/") || filepath.Base(got) != "chronyd" {
		t.Errorf("ChronyBin(chronyd) = %q", got)
	}
	var lib string
	for _, kv := range ClassicEnv() {
		if v, ok := strings.CutPrefix(kv, "LD_LIBRARY_PATH="); ok {
			if lib != "" {
				t.Errorf("LD_LIBRARY_PATH set twice")
			}
			lib = v
		}
	}
	if !strings.HasPrefix(lib, ClassicLibDir) {
		t.Errorf("ClassicEnv LD_LIBRARY_PATH = %q", lib)
	}
}

func TestClassicRuns(t *testing.T) {
	ntpq := ClassicBin("ntpq")
	Need(t, ntpq)
	cmd := exec.Command(ntpq, "--version")
	cmd.Env = ClassicEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", ntpq, err, out)
	}
}

func TestBuildNtpkit(t *testing.T) {
	p := BuildNtpkit(t)
	if p2 := BuildNtpkit(t); p2 != p {
		t.Errorf("second build path %q != %q", p2, p)
	}
	out, err := exec.Command(p, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ntpkit ") {
		t.Fatalf("%s version: err=%v out=%q", p, err, out)
	}
}
