package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/internal/testenv"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// Fault tests (issue 7): every fault gives a clear log line and the daemon
// keeps serving time. Upstream and DNS faults are in sync/faults_test.go.

// faultLog collects the daemon's log (and copies it to the test log).
type faultLog struct {
	t  testing.TB
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (l *faultLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor waits until the log holds every string of want (a deadline only
// to end a broken test, not a timing assertion).
func (l *faultLog) waitFor(want ...string) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		s := l.b.String()
		l.mu.Unlock()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return true
		}
	}
	return false
}

func startFaultDaemon(t *testing.T, drift string) (*Daemon, *faultLog) {
	l := &faultLog{t: t}
	d := startDaemon(t, ntpconf.DefaultConfig, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(l, nil))
		o.DriftFile = drift
		o.DriftInterval = 20 * time.Millisecond
	})
	return d, l
}

func assertServes(t *testing.T, d *Daemon) {
	t.Helper()
	if r := roundTrip(t, d, netip.Addr{}, clientRequest(0, 4, 3, 6, 77), time.Second); len(r) != 1 {
		t.Fatalf("daemon does not answer mode 3 after the fault: %d replies", len(r))
	}
}

// A missing or corrupt drift file at start: a warning naming the file and
// the error, frequency 0, the daemon serves (and rewrites the file).
// A drift file that cannot be written (directory where nothing can be
// created, even by root): an error naming the file, the daemon serves.
func TestFaultDriftFile(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.drift")
	os.WriteFile(corrupt, []byte("hello\n"), 0o644)
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "missing.drift"),
			[]string{`msg="cannot use drift file; starting with frequency 0"`, "missing.drift: open", "no such file or directory"}},
		{"corrupt", corrupt,
			[]string{`msg="cannot use drift file; starting with frequency 0"`, `corrupt.drift: not a number: \"hello\"`}},
		// /proc refuses new files whatever the privileges
		{"unwritable", "/proc/ntpkit-fault.drift",
			[]string{`msg="cannot write drift file"`, "drift file /proc/ntpkit-fault.drift: open /proc/.ntpkit-fault.drift.tmp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, l := startFaultDaemon(t, tc.path)
			if !l.waitFor(tc.want...) {
				t.Fatalf("log lacks %q", tc.want)
			}
			assertServes(t, d)
		})
	}
	// the daemon rewrote the bad files with a valid value
	for _, p := range []string{corrupt, filepath.Join(dir, "missing.drift")} {
		if _, err := ReadDrift(p); err != nil {
			t.Errorf("not rewritten: %v", err)
		}
	}
}

// TestFaultDiskFullHelper runs in a private mount namespace (see
// TestFaultDriftDiskFull): a daemon whose drift file lies on a full tmpfs.
func TestFaultDiskFullHelper(t *testing.T) {
	dir := os.Getenv("NTPKIT_DISKFULL_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make mounts private: %v", err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8k"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(dir, 0)
	path := filepath.Join(dir, "ntp.drift")
	if err := WriteDrift(path, 3.5); err != nil {
		t.Fatal(err)
	}
	// fill the file system
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for i := 0; i < 64; i++ {
		if _, err = f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	if err == nil {
		t.Fatal("tmpfs of 8k never filled up")
	}
	d, l := startFaultDaemon(t, path)
	if !l.waitFor(`msg="cannot write drift file"`, "drift file "+path, "no space left on device") {
		t.Fatal("no log line for the full disk")
	}
	assertServes(t, d)
	if v, err := ReadDrift(path); err != nil || v != 3.5 {
		t.Errorf("old drift value lost on a full disk: %v %v", v, err)
	}
	fmt.Println("DISKFULL-OK")
}

// A drift write on a full file system: an error naming the file and
// ENOSPC, the old value stays, the daemon serves. Root only (tmpfs mount
// in a private mount namespace).
func TestFaultDriftDiskFull(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, "unshare")
	cmd := exec.Command("unshare", "-m", os.Args[0], "-test.run=^TestFaultDiskFullHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "NTPKIT_DISKFULL_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("DISKFULL-OK")) {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "cannot write drift file") {
			t.Log(strings.TrimSpace(line))
			break
		}
	}
}

// After -u nobody the process keeps exactly CAP_SYS_TIME (effective and
// permitted, nothing inheritable); with --no-adjust it keeps nothing. The
// helper (testdata/privdrop, built without cgo as the release is) calls
// DropPrivileges and never touches the clock.
func TestFaultPrivilegesKeepOnlySysTime(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, "go")
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "privdrop")
	build := exec.Command("go", "build", "-o", bin, "./daemon/testdata/privdrop")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build helper: %v\n%s", err, out)
	}
	sysTime := fmt.Sprintf("%016x", uint64(1)<<unix.CAP_SYS_TIME)
	for _, tc := range []struct{ mode, want string }{{"keep", sysTime}, {"drop", "0000000000000000"}} {
		out, err := exec.Command(bin, "nobody", tc.mode).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.mode, err, out)
		}
		s := string(out)
		for _, re := range []string{
			`(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$`,
			`(?m)^CapEff:\s+` + tc.want + `$`,
			`(?m)^CapPrm:\s+` + tc.want + `$`,
			`(?m)^CapInh:\s+0+$`,
		} {
			if !regexp.MustCompile(re).MatchString(s) {
				t.Errorf("%s: /proc/PID/status does not match %s:\n%s", tc.mode, re, s)
			}
		}
	}
}
