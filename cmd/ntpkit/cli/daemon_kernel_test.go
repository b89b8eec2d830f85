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

// "enable kernel" under --no-adjust: the daemon says it runs its own loop
// on a simulated clock instead (the system clock is never touched).
func TestDaemonEnableKernelNoAdjust(t *testing.T) {
	var stderr bytes.Buffer
	env := &Env{Args: []string{"ntpd"}, Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr,
		Getenv: func(string) string { return "" }}
	conf := filepath.Join(t.TempDir(), "ntp.conf")
	if err := os.WriteFile(conf, []byte("server 127.0.0.1 minpoll 4\nenable kernel\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &daemonFlags{config: conf, listen: []string{"127.0.0.1:0"}, noAdjust: true, syncDelay: 10 * time.Millisecond, mruCapacity: 64}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := runDaemon(ctx, env, f); err != nil {
		t.Fatalf("runDaemon: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{"--no-adjust: the system clock will not be touched",
		`msg="enable kernel: kernel discipline not used, own loop instead" reason="--no-adjust`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "clock discipline: kernel PLL") {
		t.Errorf("kernel discipline chosen under --no-adjust:\n%s", log)
	}
}
