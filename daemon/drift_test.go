package daemon

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDriftRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ntp.drift")
	for _, v := range []float64{0, 12.345, -7.5, 499.999, -500} {
		if err := WriteDrift(p, v); err != nil {
			t.Fatal(err)
		}
		got, err := ReadDrift(p)
		if err != nil || got != v {
			t.Errorf("wrote %v, read %v, %v", v, got, err)
		}
	}
	b, _ := os.ReadFile(p)
	if string(b) != "-500.000\n" {
		t.Errorf("file text %q, want classic %%.3f format", b)
	}
	if err := WriteDrift(p, 1234); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadDrift(p); got != 500 {
		t.Errorf("out-of-range frequency stored as %v, want clamped to 500", got)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("directory holds %d files", len(ents))
	}
}

func TestDriftBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"empty": "", "garbage": "hello\n", "nan": "NaN\n", "huge": "1e9\n", "inf": "+Inf\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		if v, err := ReadDrift(p); err == nil {
			t.Errorf("%s: read %v without error", name, v)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
	if _, err := ReadDrift(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file read without error")
	}
	// Trailing fields (ntpd-sec writes only the number; tolerate more).
	p := filepath.Join(dir, "extra")
	os.WriteFile(p, []byte("  -3.250 1\n"), 0o644)
	if v, err := ReadDrift(p); err != nil || v != -3.25 {
		t.Errorf("extra: %v %v", v, err)
	}
	// Unwritable directory: an error, and the old file stays.
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if err := WriteDrift(filepath.Join(ro, "d"), 1); err == nil {
			t.Error("write into a read-only directory succeeded")
		}
	}
	if err := WriteDrift(filepath.Join(dir, "nodir", "d"), 1); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// TestDriftWriterHelper is the subprocess of TestDriftCrashMidWrite.
func TestDriftWriterHelper(t *testing.T) {
	path := os.Getenv("NTPKIT_DRIFT_HELPER")
	if path == "" {
		t.Skip("helper process only")
	}
	switch os.Getenv("NTPKIT_DRIFT_MODE") {
	case "pause":
		driftMidWrite = func() {
			os.Stdout.WriteString("mid\n")
			time.Sleep(time.Minute) // killed here
		}
		WriteDrift(path, 99.5)
	case "loop":
		os.Stdout.WriteString("start\n")
		for i := 0; ; i++ {
			WriteDrift(path, float64(i%1000)/10)
		}
	}
}

func startDriftHelper(t *testing.T, path, mode string) (*exec.Cmd, *bufio.Reader) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDriftWriterHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NTPKIT_DRIFT_HELPER="+path, "NTPKIT_DRIFT_MODE="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

// A writer killed in the middle of writing the new value leaves the old
// file intact; a writer killed at random points always leaves a complete
// value.
func TestDriftCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ntp.drift")
	if err := WriteDrift(path, -1.5); err != nil {
		t.Fatal(err)
	}
	cmd, r := startDriftHelper(t, path, "pause")
	line, err := r.ReadString('\n')
	if err != nil || line != "mid\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if v, err := ReadDrift(path); err != nil || v != -1.5 {
		t.Fatalf("after a crash mid-write: %v, %v; want the old -1.5", v, err)
	}

	for i := 0; i < 3; i++ {
		cmd, r := startDriftHelper(t, path, "loop")
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+i*15) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		b, _ := os.ReadFile(path)
		v, err := ReadDrift(path)
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		if s := strconv.FormatFloat(v, 'f', 3, 64) + "\n"; s != string(b) {
			t.Fatalf("kill %d: file %q is not a complete value", i, b)
		}
	}
}
