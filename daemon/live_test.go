package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/internal/netns"
	"github.com/ntpkit/ntpkit/internal/testenv"
)

// Live interop: ntpkit's daemon on port 123 inside a private network
// namespace, serving the local clock (the configuration of
// shared/compat/refsetup/classic-localonly.conf), queried by the real
// classic and NTPsec tools, ntpstat, ntpdate, ntpdig and chronyd. Outputs
// are compared with what classic ntpd produced in the same situation
// (testdata/golden/classic-localonly.*), values that change masked.

const liveConf = `# like refsetup/classic-localonly.conf
server 127.127.1.0
fudge 127.127.1.0 stratum 10
restrict default kod nomodify nopeer noquery limited
restrict 127.0.0.1
restrict ::1
`

// golden returns the verbatim stdout part of a golden file.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	const mark = "# ---- stdout (verbatim) ----\n"
	s := string(b)
	i := strings.Index(s, mark)
	if i < 0 {
		t.Fatalf("%s: no stdout marker", name)
	}
	return s[i+len(mark):]
}

var (
	// ntpq -p rows: the when and reach columns change.
	peersWhenReach = regexp.MustCompile(`(?m)^(.\S+\s+\S+\s+\d+ [a-z])\s+\S+\s+(\d+)\s+\d+\s+`)
	asAssid        = regexp.MustCompile(`(?m)^(\s+\d+)\s+\d+\s+`)
	rvName         = regexp.MustCompile(`(?:^|, )([a-z_]+)=`)
)

func maskPeers(s string) string { return peersWhenReach.ReplaceAllString(s, "$1 WHEN $2 REACH ") }
func maskAs(s string) string    { return asAssid.ReplaceAllString(s, "$1 ASSID ") }

// rvVars splits ntpq's rv output into its status line and name=value pairs.
func rvVars(s string) (status string, names []string, vals map[string]string) {
	status, rest, _ := strings.Cut(s, "\n")
	rest = strings.ReplaceAll(strings.TrimSpace(rest), ",\n", ", ")
	vals = map[string]string{}
	idx := rvName.FindAllStringSubmatchIndex(rest, -1)
	for k, m := range idx {
		end := len(rest)
		if k+1 < len(idx) {
			end = idx[k+1][0]
		}
		name := rest[m[2]:m[3]]
		names = append(names, name)
		vals[name] = rest[m[1]:end]
	}
	return status, names, vals
}

// compareRV checks that ntpq's rv output has the golden status line, the
// same variables in the same order, and the same values except masked ones.
func compareRV(t *testing.T, what, got, want string, masked ...string) {
	t.Helper()
	gs, gn, gv := rvVars(got)
	ws, wn, wv := rvVars(want)
	if gs != ws {
		t.Errorf("%s: status line\n got %q\nwant %q", what, gs, ws)
	}
	if strings.Join(gn, ",") != strings.Join(wn, ",") {
		t.Errorf("%s: variables\n got %v\nwant %v", what, gn, wn)
	}
	skip := map[string]bool{}
	for _, m := range masked {
		skip[m] = true
	}
	for _, n := range wn {
		if !skip[n] && gv[n] != wv[n] {
			t.Errorf("%s: %s=%q, want %q", what, n, gv[n], wv[n])
		}
	}
	if t.Failed() {
		t.Logf("%s output:\n%s", what, got)
	}
}

type liveEnv struct {
	t   *testing.T
	ns  *netns.NS
	ctx context.Context
}

func (e *liveEnv) run(classic bool, argv ...string) (string, int) {
	e.t.Helper()
	cmd := e.ns.Command(e.ctx, argv...)
	if classic {
		cmd.Env = testenv.ClassicEnv()
	}
	r := e.ns.RunCmd(cmd)
	if r.ExitCode < 0 {
		e.t.Fatalf("%v: %v\n%s", argv, r.Err, r.Stderr)
	}
	if r.Stderr != "" {
		e.t.Logf("%v stderr: %s", argv, r.Stderr)
	}
	return r.Stdout, r.ExitCode
}

func TestLiveInterop(t *testing.T) {
	testenv.NeedRoot(t)
	cq, cdate := testenv.ClassicBin("ntpq"), testenv.ClassicBin("ntpdate")
	chronyd, chronyc := testenv.ChronyBin("chronyd"), testenv.ChronyBin("chronyc")
	testenv.Need(t, "ntpq", "ntpstat", "ntpdig", cq, cdate, chronyd, chronyc)
	bin := testenv.BuildNtpkit(t)
	ns := netns.New(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "ntp.conf")
	pidFile := filepath.Join(dir, "ntpd.pid")
	os.WriteFile(conf, []byte(liveConf), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := &liveEnv{t: t, ns: ns, ctx: ctx}

	const syncDelay = 6 * time.Second
	start := time.Now()
	d := ns.Start(bin, "daemon", "--no-adjust", "-n", "-c", conf, "-p", pidFile,
		"--local-sync-delay", syncDelay.String())
	if err := ns.WaitUDP("127.0.0.1:123", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, d.Output())
	}

	// Right after start: unsynchronised, exactly like classic ntpd.
	t.Run("startup", func(t *testing.T) {
		out, code := e.run(false, "ntpstat")
		if time.Since(start) > syncDelay {
			t.Skip("machine too slow to observe the startup state")
		}
		if code != 1 || out != golden(t, "classic-localonly.ntpstat.startup.txt") {
			t.Errorf("ntpstat before sync: exit %d\n%s", code, out)
		}
		out, _ = e.run(true, cq, "-p")
		if maskPeers(out) != maskPeers(golden(t, "classic-localonly.ntpq-p.startup.txt")) {
			t.Errorf("classic ntpq -p before sync:\n%s", out)
		}
		out, _ = e.run(true, cq, "-c", "rv")
		compareRV(t, "classic ntpq -c rv before sync", out, golden(t, "classic-localonly.ntpq-c-rv.startup.txt"),
			"version", "processor", "system", "precision", "rootdisp", "clock")
		out, code = e.run(true, cdate, "-q", "127.0.0.1")
		if code != 1 || !strings.HasPrefix(out, "server 127.0.0.1, stratum 16, ") {
			t.Errorf("classic ntpdate -q before sync: exit %d\n%s", code, out)
		}
		if time.Since(start) > syncDelay {
			t.Skip("machine too slow to observe the startup state")
		}
	})

	// Synchronised to LOCAL(0) within seconds.
	deadline := time.Now().Add(syncDelay + 10*time.Second)
	for {
		if _, code := e.run(false, "ntpstat"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not synchronised after %v\n%s", time.Since(start), d.Output())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("synchronised %v after start", time.Since(start).Round(100*time.Millisecond))

	t.Run("ntpstat", func(t *testing.T) {
		out, code := e.run(false, "ntpstat")
		ms := regexp.MustCompile(`within \d+ ms`)
		if code != 0 || ms.ReplaceAllString(out, "within N ms") != ms.ReplaceAllString(golden(t, "classic-localonly.ntpstat.txt"), "within N ms") {
			t.Errorf("ntpstat: exit %d\n%q", code, out)
		}
	})
	t.Run("classic ntpq", func(t *testing.T) {
		out, _ := e.run(true, cq, "-p")
		if maskPeers(out) != maskPeers(golden(t, "classic-localonly.ntpq-p.txt")) {
			t.Errorf("classic ntpq -p:\n%s\nwant\n%s", out, golden(t, "classic-localonly.ntpq-p.txt"))
		}
		out, _ = e.run(true, cq, "-c", "as")
		if maskAs(out) != maskAs(golden(t, "classic-localonly.ntpq-c-as.txt")) {
			t.Errorf("classic ntpq -c as:\n%s", out)
		}
		out, _ = e.run(true, cq, "-c", "rv")
		compareRV(t, "classic ntpq -c rv", out, golden(t, "classic-localonly.ntpq-c-rv.txt"),
			"version", "processor", "system", "precision", "rootdisp", "reftime", "clock", "peer")
	})
	t.Run("ntpsec ntpq", func(t *testing.T) {
		out, _ := e.run(false, "ntpq", "-p")
		if maskPeers(out) != maskPeers(golden(t, "ntpsec-vs-classicd.localonly.ntpq-p.txt")) {
			t.Errorf("ntpq -p:\n%s", out)
		}
		out, _ = e.run(false, "ntpq", "-c", "rv")
		compareRV(t, "ntpq -c rv", out, golden(t, "ntpsec-vs-classicd.localonly.ntpq-c-rv.txt"),
			"version", "processor", "system", "precision", "rootdisp", "reftime", "clock", "peer")
		out, _ = e.run(false, "ntpq", "-c", "as")
		if !regexp.MustCompile(`(?m)^\s+1\s+\d+\s+961a\s+yes\s+yes\s+none\s+sys\.peer\s+sys_peer\s+1$`).MatchString(out) {
			t.Errorf("ntpq -c as:\n%s", out)
		}
	})
	t.Run("ntpdate and ntpdig", func(t *testing.T) {
		out, code := e.run(true, cdate, "-q", "127.0.0.1")
		if code != 0 || !regexp.MustCompile(`^server 127\.0\.0\.1, stratum 11, offset [-+]0\.0\d+, delay 0\.\d+\n`).MatchString(out) {
			t.Errorf("classic ntpdate -q: exit %d\n%s", code, out)
		}
		out, code = e.run(false, "ntpdig", "127.0.0.1")
		if code != 0 || !regexp.MustCompile(`[-+]0\.0\d+ \+/- \S+ 127\.0\.0\.1 s11 no-leap\n$`).MatchString(out) {
			t.Errorf("ntpdig: exit %d\n%s", code, out)
		}
	})
	t.Run("chronyd client", func(t *testing.T) {
		cdir := t.TempDir()
		os.Chmod(cdir, 0o700) // chronyd refuses a socket directory others can read
		sock := filepath.Join(cdir, "chronyd.sock")
		cconf := filepath.Join(cdir, "chrony.conf")
		os.WriteFile(cconf, []byte(fmt.Sprintf(`server 127.0.0.1 iburst minpoll -2 maxpoll -2
port 0
cmdport 0
bindcmdaddress %s
pidfile %s
`, sock, filepath.Join(cdir, "chronyd.pid"))), 0o644)
		c := ns.Start(chronyd, "-x", "-d", "-u", "root", "-f", cconf)
		var out string
		deadline := time.Now().Add(30 * time.Second)
		for {
			time.Sleep(time.Second)
			out, _ = e.run(false, chronyc, "-h", sock, "-n", "sources")
			if regexp.MustCompile(`(?m)^\^\* 127\.0\.0\.1 +11 `).MatchString(out) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("chronyd did not select ntpkit:\n%s\nchronyd:\n%s", out, c.Output())
			}
		}
		t.Logf("chronyc sources:\n%s", out)
		c.Stop()
	})

	// SIGTERM: clean exit, pid file removed.
	if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) == "" {
		t.Errorf("pid file: %q %v", b, err)
	}
	d.Signal(syscall.SIGTERM)
	select {
	case <-d.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	if _, err := d.Exited(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, d.Output())
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("pid file left behind")
	}
	if !strings.Contains(d.Output(), "msg=stopped") {
		t.Errorf("no clean stop in the log:\n%s", d.Output())
	}
}

// -u drops root after binding port 123; -l logs to a file that SIGHUP
// reopens (log rotation); --metrics serves Prometheus text.
func TestLivePrivilegesAndSignals(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, "ntpdig")
	bin := testenv.BuildNtpkit(t)
	ns := netns.New(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755) // nobody must reach the log directory after the drop
	conf := filepath.Join(dir, "ntp.conf")
	logf := filepath.Join(dir, "logs", "ntpd.log")
	os.Mkdir(filepath.Dir(logf), 0o777)
	os.Chmod(filepath.Dir(logf), 0o777)
	os.WriteFile(conf, []byte(liveConf), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := ns.Start(bin, "daemon", "--no-adjust", "-c", conf, "-u", "nobody", "-l", logf,
		"--local-sync-delay", "100ms", "--metrics", "127.0.0.1:9123")
	if err := ns.WaitUDP("127.0.0.1:123", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, d.Output())
	}
	var status string
	for i := 0; i < 50; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.PID))
		status = string(b)
		if regexp.MustCompile(`(?m)^Uid:\s+65534\s`).MatchString(status) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !regexp.MustCompile(`(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$`).MatchString(status) {
		t.Errorf("daemon did not drop to nobody:\n%s", status)
	}
	r := ns.Run(ctx, "ntpdig", "127.0.0.1")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "127.0.0.1 s11 no-leap") {
		t.Errorf("ntpdig after the privilege drop: %d %s %s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if b, err := os.ReadFile(logf); err != nil || !strings.Contains(string(b), "dropped privileges") {
		t.Fatalf("log file: %v\n%s\n%s", err, b, d.Output())
	}
	// Rotate the log: rename it, SIGHUP, and the daemon writes a new one.
	os.Rename(logf, logf+".1")
	d.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(logf)
		if strings.Contains(string(b), "log file reopened") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new log file after SIGHUP; old:\n%s", func() string { b, _ := os.ReadFile(logf + ".1"); return string(b) }())
		}
		time.Sleep(50 * time.Millisecond)
	}
	old, _ := os.ReadFile(logf + ".1")
	for _, want := range []string{"ntpkit daemon starting", "dropped privileges", "serving metrics"} {
		if !strings.Contains(string(old), want) {
			t.Errorf("log lacks %q:\n%s", want, old)
		}
	}
	d.Signal(syscall.SIGTERM)
	select {
	case <-d.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no exit on SIGTERM")
	}
	if _, err := d.Exited(); err != nil {
		t.Errorf("exit: %v", err)
	}
}
