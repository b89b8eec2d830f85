package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func daemonCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(&Env{Args: append([]string{"ntpkit"}, args...), Stdin: strings.NewReader(""),
		Stdout: &o, Stderr: &e, Getenv: func(string) string { return "" }})
	return o.String(), e.String(), code
}

func TestDaemonCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(good, []byte("server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default noquery\n"), 0o644)
	os.WriteFile(bad, []byte("server 127.127.1.0\nfudge 127.127.1.0 stratum many\n"), 0o644)
	tests := []struct {
		args       []string
		code       int
		out, errTx string
	}{
		{[]string{"daemon", "--check", "-c", good}, 0, "good.conf: configuration OK (1 associations, 1 restrict lines)", ""},
		{[]string{"daemon", "--check", "-c", bad}, 1, "", "bad.conf:2:"},
		{[]string{"daemon", "--check", "-c", filepath.Join(dir, "missing.conf")}, 1, "", "does not exist"},
		{[]string{"daemon", "-4", "-6", "-c", good}, 2, "", "mutually exclusive"},
		{[]string{"daemon", "--listen", "nonsense", "-c", good}, 2, "", "--listen"},
	}
	for _, tc := range tests {
		out, errTx, code := daemonCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errTx, tc.errTx) {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q", tc.args, code, out, errTx)
		}
	}
	if _, err := os.Stat(defaultConfigPath); err == nil {
		t.Skipf("%s exists: the built-in default is not used here", defaultConfigPath)
	}
	out, _, code := daemonCLI(t, "daemon", "--check")
	if code != 0 || !strings.Contains(out, "built-in default configuration: configuration OK") {
		t.Errorf("--check without a config: %d %q", code, out)
	}
}

func TestParseListen(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:123": "127.0.0.1:123", "[::1]:1123": "[::1]:1123", ":4123": "0.0.0.0:4123",
	} {
		ap, err := parseListen(in)
		if err != nil || ap.String() != want {
			t.Errorf("%q: %v %v", in, ap, err)
		}
	}
	for _, in := range []string{"127.0.0.1", "host:123", ":x", ""} {
		if _, err := parseListen(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// The daemon runs in-process from the CLI: configuration, sockets, clean
// stop when the context ends, and the built-in default announced in the log.
func TestDaemonRunInProcess(t *testing.T) {
	var stderr bytes.Buffer
	env := &Env{Args: []string{"ntpd"}, Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr,
		Getenv: func(string) string { return "" }}
	f := &daemonFlags{listen: []string{"127.0.0.1:0"}, noAdjust: true, syncDelay: 10 * time.Millisecond, mruCapacity: 64}
	builtin := true
	if _, err := os.Stat(defaultConfigPath); err == nil {
		builtin = false
		f.config = filepath.Join(t.TempDir(), "ntp.conf")
		os.WriteFile(f.config, []byte("server 127.127.1.0\n"), 0o644)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := runDaemon(ctx, env, f); err != nil {
		t.Fatalf("runDaemon: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{"ntpkit daemon starting", "--no-adjust", "serving NTP", "synchronised", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if builtin && !strings.Contains(log, "using the built-in default configuration") {
		t.Errorf("log does not say the built-in default is used:\n%s", log)
	}
}
