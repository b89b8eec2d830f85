// Package testenv lets tests declare what they need from the machine: a
// reference tool on PATH, root with network namespaces, the classic ntp or
// chrony install, or a freshly built ntpkit binary.
//
// The rule everywhere: a missing requirement skips the test on a developer
// machine and fails it under CI (env CI=true), so CI can never go green by
// silently skipping the live tests.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Install locations of the reference implementations (see
// shared/compat/refsetup/install.sh).
const (
	ClassicRoot   = "/opt/classic"
	ClassicLibDir = ClassicRoot + "/usr/lib/x86_64-linux-gnu"
	ChronyRoot    = "/opt/chrony"
)

// InCI reports whether the tests run under CI, where missing requirements
// are failures rather than skips.
func InCI() bool { return os.Getenv("CI") == "true" }

// missing skips tb, or fails it under CI.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("testenv: %s (CI=true: required)", msg)
	}
	tb.Skipf("testenv: %s", msg)
}

// Lookup finds a tool given by name (searched on PATH) or by absolute path
// (which must exist and be executable). It returns the path to run.
func Lookup(tool string) (string, error) {
	if filepath.IsAbs(tool) {
		fi, err := os.Stat(tool)
		if err != nil {
			return "", err
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("%s: not an executable file", tool)
		}
		return tool, nil
	}
	return exec.LookPath(tool)
}

// Need skips (or, under CI, fails) the test unless every tool is available.
// Tools are names looked up on PATH or absolute paths such as
// ClassicBin("ntpq").
func Need(tb testing.TB, tools ...string) {
	tb.Helper()
	var absent []string
	for _, tool := range tools {
		if _, err := Lookup(tool); err != nil {
			absent = append(absent, tool)
		}
	}
	if len(absent) > 0 {
		missing(tb, "missing tools: %s", strings.Join(absent, ", "))
	}
}

var (
	netnsOnce sync.Once
	netnsErr  error
)

// NeedRoot skips (or, under CI, fails) the test unless it runs as root and
// `ip netns` works.
func NeedRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		missing(tb, "needs root (euid %d)", os.Geteuid())
		return
	}
	netnsOnce.Do(func() {
		ip, err := exec.LookPath("ip")
		if err != nil {
			netnsErr = fmt.Errorf("ip (iproute2) not found: %w", err)
			return
		}
		out, err := exec.Command(ip, "netns", "list").CombinedOutput()
		if err != nil {
			netnsErr = fmt.Errorf("ip netns list: %v: %s", err, bytes.TrimSpace(out))
		}
	})
	if netnsErr != nil {
		missing(tb, "network namespaces unavailable: %v", netnsErr)
	}
}

// ClassicBin returns the absolute path of a classic ntp 4.2.8 program
// (ntpq, ntpd, ntpdate, ...) under /opt/classic, looking in usr/bin then
// usr/sbin. The path is returned even when absent so Need can report it.
func ClassicBin(name string) string {
	return firstExisting(filepath.Join(ClassicRoot, "usr/bin", name), filepath.Join(ClassicRoot, "usr/sbin", name))
}

// ClassicEnv returns os.Environ() plus the LD_LIBRARY_PATH the classic
// binaries need.
func ClassicEnv() []string {
	env := os.Environ()
	lib := ClassicLibDir
	out := env[:0:0]
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "LD_LIBRARY_PATH="); ok {
			if v != "" {
				lib = lib + ":" + v
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LD_LIBRARY_PATH="+lib)
}

// ChronyBin returns the absolute path of chronyd or chronyc under
// /opt/chrony (usr/sbin, then usr/bin).
func ChronyBin(name string) string {
	return firstExisting(filepath.Join(ChronyRoot, "usr/sbin", name), filepath.Join(ChronyRoot, "usr/bin", name))
}

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}

// ModuleRoot returns the directory holding the module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// BuildNtpkitMain builds ./cmd/ntpkit once per test binary and returns the
// path of the executable. It suits TestMain; tests use BuildNtpkit. Call
// Cleanup after m.Run to remove the build directory.
func BuildNtpkitMain() (string, error) {
	build.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			build.err = err
			return
		}
		dir, err := os.MkdirTemp("", "ntpkit-testbin-")
		if err != nil {
			build.err = err
			return
		}
		build.dir = dir
		exe := filepath.Join(dir, "ntpkit")
		cmd := exec.Command("go", "build", "-o", exe, "./cmd/ntpkit")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/ntpkit: %v\n%s", err, out)
			return
		}
		build.path = exe
	})
	return build.path, build.err
}

// BuildNtpkit is BuildNtpkitMain for a test: a build failure fails tb.
func BuildNtpkit(tb testing.TB) string {
	tb.Helper()
	p, err := BuildNtpkitMain()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return p
}

// Cleanup removes what BuildNtpkit left behind. Call it from TestMain after
// m.Run; without it the small temp directory stays in $TMPDIR.
func Cleanup() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// Main is a ready TestMain body: os.Exit(testenv.Main(m)) runs the tests and
// removes the ntpkit build directory afterwards.
func Main(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}
