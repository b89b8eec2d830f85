// Command benchcmp is `make bench`: it runs ntpkit's daemon, chronyd and
// NTPsec ntpd one after another inside a private network namespace, loads
// each with the same generator (internal/loadgen, the engine of `ntpkit
// bench`) in interleaved rounds, and prints a table of ratios to chronyd.
// None of the servers can touch the clock: chronyd runs with -x, ntpd with
// `disable kernel` and without CAP_SYS_TIME, ntpkit with --no-adjust.
//
//	go run ./internal/benchcmp -ntpkit ./bin/ntpkit -rounds 3 -out docs/performance.md
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/internal/loadgen"
)

const nsEnv = "NTPKIT_BENCH_NETNS"

var (
	ntpkitBin = flag.String("ntpkit", "./bin/ntpkit", "ntpkit binary")
	rounds    = flag.Int("rounds", 3, "interleaved rounds (medians are reported)")
	outFile   = flag.String("out", "", "also write the report (markdown) to this file")
	quick     = flag.Bool("quick", false, "shorter steps, for trying the tool")
	chronyd   = flag.String("chronyd", "/opt/chrony/usr/sbin/chronyd", "chronyd binary")
	ntpsecd   = flag.String("ntpd", "/usr/sbin/ntpd", "NTPsec ntpd binary")
	classicQ  = flag.String("classic-ntpq", "/opt/classic/usr/bin/ntpq", "classic ntpq")
	secQ      = flag.String("ntpsec-ntpq", "/usr/bin/ntpq", "NTPsec ntpq")
	niceness  = flag.Int("nice", -15, "scheduling priority of the benchmark and every server (0: unchanged); on a shared machine it keeps other work from distorting the figures")
	baseline  = flag.String("baseline", "", "another ntpkit binary to measure in the same run (e.g. the build before a change)")
	only      = flag.String("only", "", "comma-separated contestant names to run (default all)")
	variants  variantFlag
	latency   = flag.Bool("latency", false, "measure only the 10k/s round trip (with T3-T2 and T4-T3) and the CPU per reply at 50k/s, for quick comparisons of hot path changes")
)

// variantFlag collects -variant NAME=BIN: more ntpkit builds (or wrappers
// setting an environment) measured in the same run, unpinned.
type variantFlag []string

func (v *variantFlag) String() string { return strings.Join(*v, ",") }
func (v *variantFlag) Set(s string) error {
	if !strings.Contains(s, "=") {
		return fmt.Errorf("want NAME=BIN")
	}
	*v = append(*v, s)
	return nil
}

func main() {
	flag.Var(&variants, "variant", "NAME=BIN: another ntpkit binary measured unpinned in the same run as contestant NAME (repeatable)")
	flag.Parse()
	if os.Getenv(nsEnv) == "" {
		os.Exit(outer())
	}
	if err := inner(); err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(1)
	}
}

// outer creates the namespace, re-runs this program inside it, and deletes
// the namespace afterwards whatever happens.
func outer() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "benchcmp: needs root (network namespace)")
		return 2
	}
	if *niceness != 0 {
		// Inherited by the generator (this process, re-run in the
		// namespace) and by every server it starts.
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, *niceness); err != nil {
			fmt.Fprintf(os.Stderr, "benchcmp: setpriority %d: %v\n", *niceness, err)
		}
	}
	ns := fmt.Sprintf("ntpkit-bench-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: ip netns add: %v %s\n", err, out)
		return 1
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	_ = exec.Command("ip", "-n", ns, "link", "set", "lo", "up").Run()
	self, _ := os.Executable()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), nsEnv+"="+ns)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

// server is one contestant: how to start it and which processes to watch.
type server struct {
	name    string
	start   func(dir string) ([]*exec.Cmd, error)
	mode6   bool // answers mode 6 to loopback
	rttOnly bool
}

type metrics struct {
	maxRate      float64
	cpuPerReply  float64 // microseconds
	rtt50, rtt99 float64 // microseconds at 10k/s
	age50        float64 // microseconds, T4-T3
	proc50       float64 // microseconds, T3-T2 (the server's own receive-to-transmit time)
	age50at50k   float64 // microseconds, T4-T3 at 50k/s (replies sent in batches under load)
	rssIdle      float64 // KiB
	rssGrowth    float64 // KiB
	mode6Max     float64
	genLimited   bool    // maxRate is the generator's limit (a lower bound)
	genCPU       float64 // generator CPU, microseconds per request at 50k/s
	others       float64 // CPU used by other processes during the steps, in cores
	disturbed    bool
}

func inner() error {
	dir, err := os.MkdirTemp("", "ntpkit-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := filepath.Abs(*ntpkitBin)
	if err != nil {
		return err
	}
	servers := contestants(bin)
	if *only != "" {
		want := strings.Split(*only, ",")
		servers = slices.DeleteFunc(servers, func(s server) bool { return !slices.Contains(want, s.name) })
	}
	load0 := loadAvg()
	results := map[string][]metrics{}
	for r := 0; r < *rounds; r++ {
		for _, s := range servers {
			m, err := measure(s, dir)
			if err == nil && m.disturbed {
				// Other load competed with this step: measure it once more
				// and keep the repeat (still flagged if disturbed again).
				fmt.Fprintf(os.Stderr, "round %d %s: disturbed, repeating\n", r+1, s.name)
				m, err = measure(s, dir)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "round %d %s: %v\n", r+1, s.name, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "round %d %-22s max %.0f/s%s cpu %.2fus rtt %.1f/%.1fus proc %.1fus age %.1fus (%.1fus @50k/s) rss %.0f+%.0fKiB mode6 %.0f/s gen %.2fus/req others %.2f cores load %s%s\n",
				r+1, s.name, m.maxRate, map[bool]string{true: " (generator limit)"}[m.genLimited], m.cpuPerReply, m.rtt50, m.rtt99, m.proc50, m.age50, m.age50at50k, m.rssIdle, m.rssGrowth, m.mode6Max, m.genCPU, m.others, loadAvg(), flagIf(m.disturbed))
			results[s.name] = append(results[s.name], m)
		}
	}
	var qt []ntpqTime
	if !*latency {
		qt = ntpqTimes(bin, dir)
	}
	report := render(servers, results, qt, load0, loadAvg())
	fmt.Print(report)
	if *outFile != "" {
		return os.WriteFile(*outFile, []byte(report), 0o644)
	}
	return nil
}

func flagIf(b bool) string {
	if b {
		return " (disturbed: other load seen)"
	}
	return ""
}

func noClock(args ...string) []string {
	return append([]string{"setpriv", "--inh-caps=-sys_time", "--bounding-set=-sys_time", "--"}, args...)
}

func pinned(args ...string) []string { return append([]string{"taskset", "-c", "0"}, args...) }

func contestants(bin string) []server {
	ntpkitConf := "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default\n"
	ntpkitBin := func(bin string, env []string, wrap func(...string) []string) func(string) ([]*exec.Cmd, error) {
		return func(dir string) ([]*exec.Cmd, error) {
			conf := filepath.Join(dir, "ntpkit.conf")
			if err := os.WriteFile(conf, []byte(ntpkitConf), 0o644); err != nil {
				return nil, err
			}
			c, err := spawn(wrap(noClock(bin, "daemon", "-n", "--no-adjust", "-c", conf)...), env)
			return []*exec.Cmd{c}, err
		}
	}
	ntpkit := func(env []string, wrap func(...string) []string) func(string) ([]*exec.Cmd, error) {
		return ntpkitBin(bin, env, wrap)
	}
	chrony := func(n int, wrap func(...string) []string) func(string) ([]*exec.Cmd, error) {
		return func(dir string) ([]*exec.Cmd, error) {
			var cmds []*exec.Cmd
			for i := 0; i < n; i++ {
				d := filepath.Join(dir, fmt.Sprintf("chrony%d", i))
				os.MkdirAll(d, 0o755)
				conf := filepath.Join(d, "chrony.conf")
				text := fmt.Sprintf("local stratum 3\nallow\npidfile %s/pid\ndriftfile %s/drift\nbindcmdaddress %s/sock\ncmdport 0\n", d, d, d)
				if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
					return cmds, err
				}
				w := wrap
				if n > 1 {
					core := strconv.Itoa(i % runtime.NumCPU())
					w = func(a ...string) []string { return append([]string{"taskset", "-c", core}, a...) }
				}
				c, err := spawn(w(noClock(*chronyd, "-x", "-d", "-u", "root", "-f", conf)...), nil)
				if err != nil {
					return cmds, err
				}
				cmds = append(cmds, c)
			}
			return cmds, nil
		}
	}
	ntpsec := func(dir string) ([]*exec.Cmd, error) {
		conf := filepath.Join(dir, "ntpsec.conf")
		text := "disable kernel\nrestrict default\nrestrict 127.0.0.1\nunrestrict default noquery limited\ndriftfile " + dir + "/ntpsec.drift\n"
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		c, err := spawn(noClock(*ntpsecd, "-n", "-c", conf), nil)
		return []*exec.Cmd{c}, err
	}
	id := func(a ...string) []string { return a }
	var extra []server
	if *baseline != "" {
		// Another ntpkit build (before a change), measured in the same run.
		b, _ := filepath.Abs(*baseline)
		extra = []server{
			{name: "baseline ntpkit", start: ntpkitBin(b, nil, id), mode6: true},
			{name: "baseline GOMAXPROCS=1", start: ntpkitBin(b, []string{"GOMAXPROCS=1"}, id), rttOnly: true},
			{name: "baseline pinned", start: ntpkitBin(b, nil, pinned)},
		}
	}
	for _, v := range variants {
		name, b, _ := strings.Cut(v, "=")
		b, _ = filepath.Abs(b)
		extra = append(extra, server{name: name, start: ntpkitBin(b, nil, id), mode6: true})
	}
	return append(extra, []server{
		{name: "ntpkit", start: ntpkit(nil, id), mode6: true},
		{name: "ntpkit GOMAXPROCS=1", start: ntpkit([]string{"GOMAXPROCS=1"}, id), rttOnly: true},
		{name: "ntpkit pinned", start: ntpkit(nil, pinned)},
		{name: "chronyd", start: chrony(1, id)},
		{name: "chronyd pinned", start: chrony(1, pinned)},
		{name: "chronyd x2 (per core)", start: chrony(2, id)},
		{name: "ntpsec ntpd", start: ntpsec, mode6: true},
	}...)
}

func spawn(argv []string, env []string) (*exec.Cmd, error) {
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append(os.Environ(), env...)
	c.Stdout, c.Stderr = io.Discard, io.Discard
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c, c.Start()
}

func stop(cmds []*exec.Cmd) {
	for _, c := range cmds {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		}
	}
	for _, c := range cmds {
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

var target = netip.MustParseAddrPort("127.0.0.1:123")

func measure(s server, dir string) (metrics, error) {
	var m metrics
	if strings.HasSuffix(s.name, "pinned") && runtime.NumCPU() > 1 {
		// The server is on CPU 0: keep the generator off it.
		pinSelf(func(cpu int) bool { return cpu != 0 })
		defer pinSelf(func(int) bool { return true })
	}
	cmds, err := s.start(dir)
	defer stop(cmds)
	if err != nil {
		return m, err
	}
	ctx := context.Background()
	// Wait until it answers.
	ready := false
	for i := 0; i < 50 && !ready; i++ {
		time.Sleep(100 * time.Millisecond)
		r, _ := loadgen.Run(ctx, loadgen.Config{Server: target, Rate: 100, Duration: 50 * time.Millisecond, Sources: 1})
		ready = r.Replies > 0
	}
	if !ready {
		return m, fmt.Errorf("no answer on %v", target)
	}
	time.Sleep(time.Second)
	pids := descendants(cmds)
	m.rssIdle = rss(pids)
	cpu0, self0, srv0 := machineBusy(), selfTicks(), cpuTicks(pids)
	t0 := time.Now()
	step := 3 * time.Second
	if *quick {
		step = time.Second
	}
	rtt, err := loadgen.Run(ctx, loadgen.Config{Server: target, Rate: 10000, Duration: step, Sources: 64})
	if err != nil {
		return m, err
	}
	m.rtt50, m.rtt99, m.age50, m.proc50 = us(rtt.RTT50), us(rtt.RTT99), us(rtt.XmtAge50), us(rtt.ServerProc50)
	if s.rttOnly {
		m.others = otherCores(cpu0, self0, srv0, pids, t0)
		m.disturbed = m.others > maxOthers
		return m, nil
	}
	c0, g0 := cpuTicks(pids), selfTicks()
	fixed, err := loadgen.Run(ctx, loadgen.Config{Server: target, Rate: 50000, Duration: step, Sources: 64})
	if err != nil {
		return m, err
	}
	c1, g1 := cpuTicks(pids), selfTicks()
	if fixed.Replies > 0 {
		m.cpuPerReply = float64(c1-c0) / float64(clkTck) * 1e6 / float64(fixed.Replies)
	}
	if fixed.Sent > 0 {
		m.genCPU = float64(g1-g0) / float64(clkTck) * 1e6 / float64(fixed.Sent)
	}
	m.age50at50k = us(fixed.XmtAge50)
	if *latency {
		m.others = otherCores(cpu0, self0, srv0, pids, t0)
		m.disturbed = m.others > maxOthers
		return m, nil
	}
	rates := []int{25000, 50000, 75000, 100000, 125000, 150000, 175000, 200000, 250000, 300000, 350000, 400000, 500000, 600000}
	best, steps, err := loadgen.MaxRate(ctx, loadgen.Config{Server: target, Duration: step / 2, Sources: 64}, rates, 0.01)
	if err != nil {
		return m, err
	}
	m.maxRate = float64(best)
	if n := len(steps); n > 0 && steps[n-1].Loss < 0.01 {
		m.genLimited = true // never lost 1%: the generator's limit
	}
	m.rssGrowth = rss(pids) - m.rssIdle
	if s.mode6 {
		b6, _, _ := loadgen.MaxRate(ctx, loadgen.Config{Server: target, Duration: step / 2, Sources: 64, Mode6: true},
			[]int{5000, 10000, 20000, 30000, 40000, 60000, 80000, 100000}, 0.01)
		m.mode6Max = float64(b6)
	}
	m.others = otherCores(cpu0, self0, srv0, pids, t0)
	m.disturbed = m.others > maxOthers
	return m, nil
}

// pinSelf sets the CPU affinity of every thread of this process (threads
// created later inherit it from their creator).
func pinSelf(allow func(cpu int) bool) {
	var set unix.CPUSet
	for c := 0; c < runtime.NumCPU(); c++ {
		if allow(c) {
			set.Set(c)
		}
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.SchedSetaffinity(tid, &set)
		}
	}
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

const clkTck = 100 // USER_HZ on Linux

// descendants returns the started PIDs plus their direct children (the
// setpriv/taskset wrappers exec, so usually the PIDs themselves).
func descendants(cmds []*exec.Cmd) []int {
	var pids []int
	for _, c := range cmds {
		if c.Process != nil {
			pids = append(pids, c.Process.Pid)
		}
	}
	return pids
}

func cpuTicks(pids []int) int64 {
	var total int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			k, _ := strconv.ParseInt(f[12], 10, 64)
			total += u + k
		}
	}
	return total
}

func rss(pids []int) float64 {
	var total float64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				total += v
			}
		}
	}
	return total
}

// maxOthers is the CPU (in cores, averaged over a server's steps) that
// other processes may use before the measurement counts as disturbed. The
// benchmark runs at a raised priority, so other work mostly fills the time
// the contestants leave idle; above half the machine it competes.
const maxOthers = 0.5

// machineBusy returns the user, nice and system ticks of all CPUs (interrupt
// and softirq time, much of it the loopback traffic itself, is left out).
func machineBusy() int64 {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		if i > 2 { // user nice system only
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return busy
}

// selfTicks is this process's CPU time (the generator), in ticks.
func selfTicks() int64 { return cpuTicks([]int{os.Getpid()}) }

// otherCores is the CPU used since t0 by processes other than the server
// and the generator, in cores: the direct measure of interference.
func otherCores(cpu0, self0, srv0 int64, pids []int, t0 time.Time) float64 {
	other := (machineBusy() - cpu0) - (selfTicks() - self0) - (cpuTicks(pids) - srv0)
	return max(0, float64(other)/float64(clkTck)/time.Since(t0).Seconds())
}

// loadAvg is /proc/loadavg's three load averages.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

type ntpqTime struct {
	name   string
	median time.Duration
	err    string
}

// ntpqTimes times `ntpq -p` against NTPsec's ntpd for the three front ends.
func ntpqTimes(bin, dir string) []ntpqTime {
	srv := server{name: "ntpsec ntpd"}
	for _, s := range contestants(bin) {
		if s.name == "ntpsec ntpd" {
			srv = s
		}
	}
	cmds, err := srv.start(dir)
	defer stop(cmds)
	if err != nil {
		return []ntpqTime{{name: "all", err: err.Error()}}
	}
	time.Sleep(2 * time.Second)
	tools := []struct {
		name string
		argv []string
		env  []string
	}{
		{"ntpkit query -p", []string{bin, "query", "-p", "127.0.0.1"}, nil},
		{"classic ntpq -p", []string{*classicQ, "-p", "127.0.0.1"}, []string{"LD_LIBRARY_PATH=/opt/classic/usr/lib/x86_64-linux-gnu"}},
		{"NTPsec ntpq -p", []string{*secQ, "-p", "127.0.0.1"}, nil},
	}
	// Rounds interleave the front ends, so that load from elsewhere falls
	// on all of them alike (scripts/ntpq-walltime.sh does the same, with
	// the start-up floors beside them).
	const runs = 31
	ds := make([][]time.Duration, len(tools))
	lastErr := make([]string, len(tools))
	for range runs {
		for i, t := range tools {
			c := exec.Command(t.argv[0], t.argv[1:]...)
			c.Env = append(os.Environ(), t.env...)
			t0 := time.Now()
			if err := c.Run(); err != nil {
				lastErr[i] = err.Error()
			}
			ds[i] = append(ds[i], time.Since(t0))
		}
	}
	var out []ntpqTime
	for i, t := range tools {
		slices.Sort(ds[i])
		out = append(out, ntpqTime{name: t.name, median: ds[i][len(ds[i])/2], err: lastErr[i]})
	}
	return out
}

func median(ms []metrics, f func(metrics) float64) float64 {
	var v []float64
	for _, m := range ms {
		v = append(v, f(m))
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func render(servers []server, res map[string][]metrics, qt []ntpqTime, load0, load1 string) string {
	var b strings.Builder
	host, _ := os.Hostname()
	cpu := "unknown"
	if ci, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(ci), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	kern, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&b, "# ntpkit performance\n\nGenerated by `make bench` (internal/benchcmp) on %s: %d CPUs (%s), Linux %s, %s.\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpu, strings.TrimSpace(string(kern)), host)
	fmt.Fprintf(&b, "Medians of %d interleaved rounds; ratios are to one chronyd instance measured in the same run.\n", *rounds)
	fmt.Fprintf(&b, "Load average at start %s, at end %s; benchmark and servers at nice %d.\n\n", load0, load1, *niceness)
	ref := res["chronyd"]
	cols := []struct {
		name      string
		f         func(metrics) float64
		lowerBest bool
	}{
		{"max rate <1% loss (/s)", func(m metrics) float64 { return m.maxRate }, false},
		{"CPU us/reply @50k/s", func(m metrics) float64 { return m.cpuPerReply }, true},
		{"RTT p50 @10k/s (us)", func(m metrics) float64 { return m.rtt50 }, true},
		{"RTT p99 @10k/s (us)", func(m metrics) float64 { return m.rtt99 }, true},
		{"T3-T2 p50 (us)", func(m metrics) float64 { return m.proc50 }, true},
		{"T4-T3 p50 (us)", func(m metrics) float64 { return m.age50 }, true},
		{"T4-T3 p50 @50k/s (us)", func(m metrics) float64 { return m.age50at50k }, true},
		{"RSS idle (KiB)", func(m metrics) float64 { return m.rssIdle }, true},
		{"RSS growth (KiB)", func(m metrics) float64 { return m.rssGrowth }, true},
		{"mode 6 READVAR max (/s)", func(m metrics) float64 { return m.mode6Max }, false},
		{"generator CPU us/req", func(m metrics) float64 { return m.genCPU }, true},
		{"other load (cores)", func(m metrics) float64 { return m.others }, true},
	}
	fmt.Fprintf(&b, "| server |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.name)
	}
	fmt.Fprintf(&b, "\n|---|")
	for range cols {
		fmt.Fprintf(&b, "---|")
	}
	fmt.Fprintln(&b)
	for _, s := range servers {
		ms := res[s.name]
		if len(ms) == 0 {
			fmt.Fprintf(&b, "| %s | (failed to run) |\n", s.name)
			continue
		}
		disturbed := false
		for _, m := range ms {
			disturbed = disturbed || m.disturbed
		}
		name := s.name
		if disturbed {
			name += " †"
		}
		fmt.Fprintf(&b, "| %s |", name)
		for _, c := range cols {
			v := median(ms, c.f)
			r := median(ref, c.f)
			if v == 0 {
				fmt.Fprintf(&b, " - |")
				continue
			}
			pre := ""
			if strings.HasPrefix(c.name, "max rate") && slices.ContainsFunc(ms, func(m metrics) bool { return m.genLimited }) {
				pre = "≥" // the generator ran out before the server lost 1%
			}
			if r > 0 && s.name != "chronyd" {
				fmt.Fprintf(&b, " %s%.4g (%.2fx) |", pre, v, v/r)
			} else {
				fmt.Fprintf(&b, " %s%.4g |", pre, v)
			}
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintf(&b, "\n† in a round of this server other processes used more than %.2f cores during the steps (from /proc/stat minus the server and the generator).\n", maxOthers)
	fmt.Fprintf(&b, "≥ the server never lost 1%%: the figure is the rate the generator could offer, a lower bound.\n")
	if len(qt) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "\n## `ntpq -p` wall time against a local NTPsec ntpd (median of 31, interleaved)\n\n| front end | wall time | ratio to ntpkit |\n|---|---|---|\n")
	var base time.Duration
	for _, q := range qt {
		if strings.HasPrefix(q.name, "ntpkit") {
			base = q.median
		}
	}
	for _, q := range qt {
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(q.median)/float64(base))
		}
		e := ""
		if q.err != "" {
			e = " (error: " + q.err + ")"
		}
		fmt.Fprintf(&b, "| %s | %v%s | %s |\n", q.name, q.median.Round(100*time.Microsecond), e, ratio)
	}
	return b.String()
}
