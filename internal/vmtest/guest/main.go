// Command guest is the /init of the qemu test VM (see package vmtest). It
// sets the guest's clock wrong on purpose, runs ntpkit's ntpdate or ntpd
// in-process against a server on the host's loopback (10.0.2.2 through qemu
// user networking), then measures the guest clock against that server and
// prints "NTPKIT-VM PASS|FAIL ..." lines and a closing RESULT line on the
// serial console before powering off.
//
// It changes the clock of the machine it runs on, so it refuses to run
// unless it is PID 1 and the kernel command line holds ntpkit.vmtest=1.
package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/cmd/ntpkit/cli"
	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/sync/ntptest"
)

var passed, failed int

func logf(format string, a ...any) { fmt.Printf("NTPKIT-VM "+format+"\n", a...) }

func check(name string, ok bool, format string, a ...any) {
	if ok {
		passed++
		logf("PASS %s: "+format, append([]any{name}, a...)...)
	} else {
		failed++
		logf("FAIL %s: "+format, append([]any{name}, a...)...)
	}
}

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guest: refusing to run: not PID 1 of a test VM (this program changes the system clock)")
		os.Exit(2)
	}
	_ = unix.Mount("proc", "/proc", "proc", 0, "")
	raw, _ := os.ReadFile("/proc/cmdline")
	args := parseCmdline(string(raw))
	if args["ntpkit.vmtest"] != "1" {
		fmt.Fprintln(os.Stderr, "guest: refusing to run: kernel command line lacks ntpkit.vmtest=1")
		os.Exit(2)
	}
	defer powerOff()
	defer func() {
		if r := recover(); r != nil {
			failed++
			logf("FAIL panic: %v", r)
		}
		logf("RESULT %d passed, %d failed", passed, failed)
	}()
	// The scenarios stop their in-process daemon with SIGTERM to this
	// process; a registered channel keeps the runtime from ever treating
	// the signal as fatal (PID 1 must not exit).
	signal.Notify(make(chan os.Signal, 1), unix.SIGTERM)
	_ = unix.Mount("sysfs", "/sys", "sysfs", 0, "")
	_ = unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "")
	logf("INFO init started")
	if err := setupNet(); err != nil {
		check("network", false, "%v", err)
		return
	}
	waitClocksource(10 * time.Second)
	host := args["ntpkit.host"]
	if host == "" {
		host = "10.0.2.2"
	}
	for _, sc := range strings.Split(args["ntpkit.scenario"], ",") {
		switch sc {
		case "date":
			scenarioDate(host)
		case "daemon":
			scenarioDaemon(host)
		case "kernel":
			scenarioKernel(host)
		case "leap":
			scenarioLeap()
		case "":
		default:
			check("scenario "+sc, false, "unknown scenario")
		}
	}
}

func parseCmdline(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func powerOff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	os.Exit(0)
}

// run runs an ntpkit personality in-process and returns its status and
// output.
func run(args ...string) (int, string) {
	var out bytes.Buffer
	env := &cli.Env{Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	code := cli.Main(env)
	return code, out.String()
}

// measure returns the guest clock's offset from the server (positive: the
// guest is behind), from the lowest-delay of n exchanges.
func measure(host string, n int) (offset, delay time.Duration, err error) {
	conn, err := net.Dial("udp", net.JoinHostPort(host, "123"))
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	best := time.Duration(-1)
	for i := 0; i < n; i++ {
		req := ntp.Header{Version: 4, Mode: ntp.ModeClient}
		t1 := time.Now()
		req.XmitTime = ntp.TimestampFromTime(t1)
		if _, err := conn.Write(req.Marshal()); err != nil {
			return 0, 0, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 512)
		k, err := conn.Read(buf)
		t4 := time.Now()
		if err != nil {
			continue
		}
		h, err := ntp.ParseHeader(buf[:k])
		if err != nil || h.OrigTime != req.XmitTime {
			continue
		}
		T1, T4 := ntp.TimestampFromTime(t1), ntp.TimestampFromTime(t4)
		off := (h.RecvTime.Sub(T1) + h.XmitTime.Sub(T4)) / 2
		d := T4.Sub(T1) - h.XmitTime.Sub(h.RecvTime)
		if best < 0 || d < best {
			best, offset, delay = d, off, d
		}
		time.Sleep(50 * time.Millisecond)
	}
	if best < 0 {
		return 0, 0, fmt.Errorf("no answer from %s", host)
	}
	return offset, delay, nil
}

// scenarioDate checks ntpdate's three ways of setting the clock.
func scenarioDate(host string) {
	adj := clock.NewLinux()
	// Plain ntpdate with the clock 3 s fast: |offset| >= 0.5 s, so it steps.
	tool(adj, host, "date-default-step", 3*time.Second, []string{"ntpdate", host}, "step time server", 0)
	// -b steps even a small offset.
	tool(adj, host, "date-b", 200*time.Millisecond, []string{"ntpdate", "-b", host}, "step time server", 0)
	// -B only slews: right after, the clock is still off. Like classic
	// ntpdate it over-adjusts by half the offset (at most 1/16 s), so once
	// the kernel has amortised the slew at 500 ppm (15 ms: 30 s) the
	// clock sits about half the original offset on the other side.
	tool(adj, host, "date-B", 10*time.Millisecond, []string{"ntpdate", "-B", host}, "adjust time server", 45*time.Second)
}

func tool(adj *clock.Linux, host, name string, wrong time.Duration, argv []string, want string, settle time.Duration) {
	if err := adj.Step(wrong); err != nil {
		check(name, false, "set the guest clock %v off: %v", wrong, err)
		return
	}
	before, _, err := measure(host, 4)
	if err != nil {
		check(name, false, "measure before: %v", err)
		return
	}
	code, out := run(argv...)
	logf("INFO %s: %s exited %d: %s", name, strings.Join(argv, " "), code, strings.TrimSpace(out))
	check(name+"-exit", code == 0 && strings.Contains(out, want), "exit %d, output contains %q", code, want)
	if settle > 0 {
		mid, _, _ := measure(host, 4)
		// A slew is gradual: immediately afterwards most of the error remains.
		check(name+"-gradual", mid.Abs() > wrong/2, "offset right after slewing is %v (was %v)", mid, before)
		time.Sleep(settle)
	}
	after, delay, err := measure(host, 8)
	if err != nil {
		check(name, false, "measure after: %v", err)
		return
	}
	if settle > 0 {
		want := -before / 2
		check(name+"-overshoot", (after-want).Abs() < 3*time.Millisecond,
			"offset before %v, after %v, want about %v (classic's 50%% overshoot; delay %v)", before, after, want, delay)
		return
	}
	check(name+"-corrected", after.Abs() < 5*time.Millisecond, "offset before %v, after %v (delay %v)", before, after, delay)
}

// scenarioDaemon gives the guest a real oscillator error of +100 ppm (a
// longer kernel tick, which the discipline cannot see or reset), a drift file
// claiming -50 ppm (so the daemon starts with a +50 ppm frequency error) and
// a clock 0.3 s off, then runs ntpkit's daemon against the host until the
// kernel reports TIME_OK with the offset under 1 ms and the frequency
// correction near the -100 ppm that cancels the tick.
func scenarioDaemon(host string) {
	adj := clock.NewLinux()
	if err := adj.SetTick(10001); err != nil {
		check("daemon-setup", false, "set tick: %v", err)
		return
	}
	_ = adj.Step(300 * time.Millisecond)
	conf := fmt.Sprintf("server %s iburst minpoll 4 maxpoll 4\ndriftfile /tmp/ntp.drift\n", host)
	if err := os.WriteFile("/tmp/ntp.conf", []byte(conf), 0o644); err != nil {
		check("daemon-setup", false, "%v", err)
		return
	}
	_ = os.WriteFile("/tmp/ntp.drift", []byte("-50.000\n"), 0o644)
	// Leave the kernel PLL on, as an earlier ntpd with kernel discipline
	// would: the daemon's own loop must switch it off (checked below).
	if err := adj.KernelPLL(0, 0); err != nil {
		check("daemon-setup", false, "set STA_PLL: %v", err)
		return
	}
	stop := startDaemon("daemon", "ntpd", "-n", "-g", "-c", "/tmp/ntp.conf")
	defer stop()
	deadline := time.Now().Add(300 * time.Second)
	var lastOff time.Duration
	var state int
	var freq float64
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Second)
		off, _, err := measure(host, 4)
		if err != nil {
			continue
		}
		lastOff = off
		state, _, _ = adj.State()
		freq, _ = adj.Frequency()
		logf("INFO daemon t=%s offset=%v state=%d freq=%.2fppm", time.Until(deadline).Round(time.Second), off, state, freq)
		if state == unix.TIME_OK && off.Abs() < time.Millisecond && freq > -110 && freq < -90 {
			break
		}
	}
	check("daemon-time-ok", state == unix.TIME_OK, "kernel state %d", state)
	check("daemon-offset", lastOff.Abs() < time.Millisecond, "offset %v", lastOff)
	// ±10 ppm: under TCG the guest oscillator itself wanders by a few ppm
	// with host load (shared/vmclock measured -2.9..+0.8 ppm idle), and one
	// CI run under full test-suite load read -107.6 ppm with the offset
	// held under 0.4 ms, i.e. a correct lock on a slightly different rate.
	check("daemon-frequency", freq > -110 && freq < -90, "frequency correction %.2f ppm, want -100 ppm +-10 (tick +100 ppm)", freq)
	_, status, _ := adj.State()
	check("daemon-own-loop", status&unix.STA_PLL == 0, "kernel status %#x: STA_PLL clear (set before the start; the own loop switched the kernel PLL off)", status)
}

// startDaemon runs ntpd in-process until the returned function stops it
// (SIGTERM, which the daemon handles like ntpd: it writes the drift file
// and returns).
func startDaemon(name string, argv ...string) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, out := run(argv...)
		logf("INFO %s: daemon exited %d: %s", name, code, strings.TrimSpace(lastLines(out, 40)))
	}()
	return func() {
		select {
		case <-done:
			return
		default:
		}
		_ = unix.Kill(os.Getpid(), unix.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			logf("INFO %s: daemon did not stop within 10 s", name)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// scenarioKernel is scenarioDaemon with "enable kernel": the same real
// +100 ppm oscillator error (tick), a drift file claiming -50 ppm (so the
// daemon starts with a +50 ppm frequency error) and the clock 0.3 s off,
// but the offsets go to the kernel PLL once the daemon's own loop has
// measured the frequency (within about two minutes). The kernel must reach
// TIME_OK with STA_PLL set, the offset under 1 ms and its frequency near
// -100 ppm.
func scenarioKernel(host string) {
	adj := clock.NewLinux()
	if err := adj.SetTick(10001); err != nil {
		check("kernel-setup", false, "set tick: %v", err)
		return
	}
	_ = adj.Step(300 * time.Millisecond)
	conf := fmt.Sprintf("server %s iburst minpoll 4 maxpoll 4\ndriftfile /tmp/ntp-kernel.drift\nenable kernel\n", host)
	if err := os.WriteFile("/tmp/ntp-kernel.conf", []byte(conf), 0o644); err != nil {
		check("kernel-setup", false, "%v", err)
		return
	}
	_ = os.WriteFile("/tmp/ntp-kernel.drift", []byte("-50.000\n"), 0o644)
	before, _, _ := measure(host, 4)
	logf("INFO kernel: offset before %v", before)
	t0 := time.Now()
	stop := startDaemon("kernel", "ntpd", "-n", "-c", "/tmp/ntp-kernel.conf")
	defer stop()
	deadline := t0.Add(200 * time.Second)
	var lastOff time.Duration
	var state int
	var status int32
	var freq float64
	good := 0
	for time.Now().Before(deadline) {
		time.Sleep(8 * time.Second)
		off, _, err := measure(host, 4)
		if err != nil {
			continue
		}
		lastOff = off
		state, status, _ = adj.State()
		freq, _ = adj.Frequency()
		logf("INFO kernel t=%s offset=%v state=%d status=%#x freq=%.2fppm", time.Since(t0).Round(time.Second), off, state, status, freq)
		if state == unix.TIME_OK && status&unix.STA_PLL != 0 && off.Abs() < time.Millisecond && kernelFreqOK(freq) {
			// twice in a row: locked, not passing through
			if good++; good == 2 {
				break
			}
		} else {
			good = 0
		}
	}
	logf("INFO kernel: done after %v", time.Since(t0).Round(time.Second))
	stop() // writes the drift file
	drift, _ := os.ReadFile("/tmp/ntp-kernel.drift")
	var saved float64
	_, derr := fmt.Sscanf(strings.TrimSpace(string(drift)), "%g", &saved)
	kfreq, _ := adj.Frequency() // no more updates: the register the daemon saw last
	check("kernel-drift", derr == nil && (saved-kfreq) > -0.01 && (saved-kfreq) < 0.01, "drift file %q at exit, want the kernel's frequency %.3f", strings.TrimSpace(string(drift)), kfreq)
	check("kernel-time-ok", state == unix.TIME_OK, "kernel state %d", state)
	check("kernel-pll", status&unix.STA_PLL != 0, "kernel status %#x: STA_PLL set (enable kernel)", status)
	check("kernel-offset", lastOff.Abs() < time.Millisecond, "offset %v (0.3 s before the daemon started)", lastOff)
	check("kernel-frequency", kernelFreqOK(freq), "kernel frequency %.2f ppm, want -100 ppm +-10 (tick +100 ppm; started at -50)", freq)
}

// kernelFreqOK: the +50 ppm error is corrected to within 10 ppm of the
// tick's -100 ppm, as with the own loop: the daemon measures the frequency
// itself and writes it to the kernel before it hands the offsets to the
// kernel PLL, at ntpd's time constant (the poll exponent), which no longer
// follows each sample's noise (TestKernelPLLSimulated: RMS 0.1 ppm at
// 0.2 ms jitter, 0.5 ppm at 1 ms, against 4-6 and 20-30 ppm before). Under
// TCG the guest's true rate sits a few ppm beyond -100 under load
// (-105..-108 seen with the own loop).
func kernelFreqOK(freq float64) bool { return freq > -110 && freq < -90 }

// scenarioLeap checks that a leap second announced upstream is armed in the
// kernel and inserted. The guest clock moves to 23:59:30 UTC on 31 December;
// a fake stratum 1 server inside the guest (127.0.0.2, serving the guest's
// own clock) announces an insertion; ntpkit's daemon synchronises to it,
// serves the warning and arms the kernel (TIME_INS). At midnight the kernel
// repeats a second: the wall clock falls back 1 s against the monotonic
// clock. The clock is moved back afterwards.
func scenarioLeap() {
	adj := clock.NewLinux()
	_ = adj.SetTick(10000)
	now := time.Now().UTC()
	target := time.Date(now.Year(), 12, 31, 23, 59, 30, 0, time.UTC)
	if now.Month() == 12 && now.Day() == 31 {
		target = target.AddDate(1, 0, 0)
	}
	shift := target.Sub(now)
	if err := adj.Step(shift); err != nil {
		check("leap-setup", false, "step to %v: %v", target, err)
		return
	}
	defer func() { _ = adj.Step(-shift + time.Second) }()
	srv, err := ntptest.Listen("127.0.0.2:123", ntptest.Config{Stratum: 1, Leap: ntp.LeapInsert, RefID: ntp.RefIDFromString("GPS"), RefAge: time.Second})
	if err != nil {
		check("leap-setup", false, "fake server: %v", err)
		return
	}
	defer srv.Close()
	conf := "server 127.0.0.2 iburst minpoll 4 maxpoll 4\ntos maxdist 16\n"
	if err := os.WriteFile("/tmp/ntp-leap.conf", []byte(conf), 0o644); err != nil {
		check("leap-setup", false, "%v", err)
		return
	}
	stop := startDaemon("leap", "ntpd", "-n", "-c", "/tmp/ntp-leap.conf")
	defer stop()
	midnight := target.Add(30 * time.Second)
	var state int
	var served ntp.Leap = ntp.LeapAlarm
	for time.Until(midnight) > 3*time.Second {
		time.Sleep(time.Second)
		state, _, _ = adj.State()
		if h, err := query("127.0.0.1:123"); err == nil {
			served = h.Leap
		}
		if state == unix.TIME_INS && served == ntp.LeapInsert {
			break
		}
	}
	logf("INFO leap: %v before midnight: state %d, served LI %d", time.Until(midnight).Round(time.Second), state, served)
	check("leap-served", served == ntp.LeapInsert, "the daemon serves LI %d, want 1 (insert)", served)
	check("leap-armed", state == unix.TIME_INS, "kernel state %d, want TIME_INS (%d)", state, unix.TIME_INS)
	// Elapsed time across midnight on the monotonic clock minus that on
	// the wall clock (Round(0) strips the monotonic reading).
	t0 := time.Now()
	limit := time.Until(midnight) + 10*time.Second
	for time.Now().Round(0).Before(midnight.Add(3 * time.Second)) {
		time.Sleep(250 * time.Millisecond)
		if time.Since(t0) > limit {
			break
		}
	}
	t1 := time.Now()
	w1 := t1.Round(0)
	lost := t1.Sub(t0) - w1.Sub(t0.Round(0))
	st, status, _ := adj.State()
	logf("INFO leap: after midnight wall %s, state %d status %#x, wall clock behind monotonic by %v", w1.UTC().Format(time.RFC3339Nano), st, status, lost)
	check("leap-inserted", (lost-time.Second).Abs() < 50*time.Millisecond, "across midnight the wall clock fell back %v against the monotonic clock, want 1 s", lost)
}

// query sends one client request to addr and returns the reply's header.
func query(addr string) (ntp.Header, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return ntp.Header{}, err
	}
	defer conn.Close()
	req := ntp.Header{Version: 4, Mode: ntp.ModeClient, XmitTime: ntp.TimestampFromTime(time.Now())}
	if _, err := conn.Write(req.Marshal()); err != nil {
		return ntp.Header{}, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		return ntp.Header{}, err
	}
	return ntp.ParseHeader(buf[:n])
}

func loadModules() {
	ents, err := os.ReadDir("/modules")
	if err != nil {
		return
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		f, err := os.Open("/modules/" + e.Name())
		if err != nil {
			continue
		}
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
			logf("INFO module %s: %v", e.Name(), err)
		}
		f.Close()
	}
}

func ifUp(name string, addr, mask net.IP) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if addr != nil {
		for _, x := range []struct {
			req uint
			ip  net.IP
		}{{unix.SIOCSIFADDR, addr}, {unix.SIOCSIFNETMASK, mask}} {
			ifr, err := unix.NewIfreq(name)
			if err != nil {
				return err
			}
			if err := ifr.SetInet4Addr(x.ip.To4()); err != nil {
				return err
			}
			if err := unix.IoctlIfreq(fd, x.req, ifr); err != nil {
				return fmt.Errorf("%s ioctl %#x: %w", name, x.req, err)
			}
		}
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func setupNet() error {
	loadModules()
	_ = ifUp("lo", nil, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("/sys/class/net/eth0"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no eth0 after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := ifUp("eth0", net.IPv4(10, 0, 2, 15), net.IPv4(255, 255, 255, 0)); err != nil {
		return err
	}
	// A default route is not needed: 10.0.2.2 is on the link.
	return nil
}

// waitClocksource waits out the tsc-early -> tsc switch a few seconds after
// boot: a clocksource change clears the kernel's NTP state (pending slews,
// PLL), which would silently void the slew and discipline checks.
func waitClocksource(max time.Duration) {
	t0 := time.Now()
	for time.Since(t0) < max {
		b, _ := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
		if cs := strings.TrimSpace(string(b)); cs != "tsc-early" && cs != "" {
			logf("INFO clocksource %s after %v", cs, time.Since(t0).Round(time.Millisecond))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
