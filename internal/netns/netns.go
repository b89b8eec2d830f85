// Package netns is a small harness for live tests in private network
// namespaces.
//
// A namespace from New has only a loopback interface, so nothing sent inside
// it can leave the machine; NewPair joins two namespaces with one veth pair
// carrying 198.18.K.1/24 and 198.18.K.2/24 (fd7e:5ee0:K::1/64 and ::2), the
// topology of shared/compat/refsetup/start.sh. Every process started here runs
// without CAP_SYS_TIME (setpriv), in its own process group, and is killed by
// that group on cleanup; t.Cleanup then deletes the namespace.
//
// All of it needs root (New calls testenv.NeedRoot, which skips the test, or
// fails it under CI=true).
//
// Typical use:
//
//	p := netns.NewPair(t)                       // A: client side, B: servers
//	srv := p.B.Start(ntpkit, "daemon", "-n", "--no-adjust", "-c", conf)
//	if err := p.B.WaitUDP(p.B4.String()+":123", 10*time.Second); err != nil {
//		t.Fatalf("%v\n%s", err, srv.Output())
//	}
//	cmd := p.A.Command(ctx, testenv.ClassicBin("ntpq"), "-p", p.B4.String())
//	cmd.Env = testenv.ClassicEnv()
//	r := p.A.RunCmd(cmd)                        // r.Stdout, r.Stderr, r.ExitCode
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/internal/testenv"
)

// Prefix starts the name of every namespace this package creates; the full
// name is Prefix + pid + "-" + counter.
const Prefix = "ntpkit-"

// noClock drops CAP_SYS_TIME from everything started inside a namespace, so
// no test process can step, slew or set the frequency of the host clock.
var noClock = []string{"setpriv", "--inh-caps=-sys_time", "--bounding-set=-sys_time", "--"}

var (
	counter   atomic.Int64
	sweepOnce sync.Once
)

// NS is one network namespace owned by a test.
type NS struct {
	Name string
	tb   testing.TB
}

// New creates a namespace with lo up and registers its deletion (after
// every process started in it has been stopped) with tb.Cleanup.
func New(tb testing.TB) *NS {
	tb.Helper()
	testenv.NeedRoot(tb)
	testenv.Need(tb, "ip", "setpriv")
	sweepOnce.Do(sweepStale)
	name := fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), counter.Add(1))
	if err := ip("netns", "add", name); err != nil {
		tb.Fatalf("netns: %v", err)
	}
	n := &NS{Name: name, tb: tb}
	tb.Cleanup(func() {
		if err := ip("netns", "del", name); err != nil {
			tb.Errorf("netns: %v", err)
		}
	})
	if err := ip("-n", name, "link", "set", "lo", "up"); err != nil {
		tb.Fatalf("netns %s: %v", name, err)
	}
	return n
}

// SetHosts gives the namespace its own /etc/hosts (ip netns exec bind-mounts
// /etc/netns/NAME/hosts over /etc/hosts for every process started after
// this call), so that configurations naming servers resolve without DNS.
func (n *NS) SetHosts(content string) {
	n.tb.Helper()
	dir := filepath.Join("/etc/netns", n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		n.tb.Fatalf("netns %s: %v", n.Name, err)
	}
	n.tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(content), 0o644); err != nil {
		n.tb.Fatalf("netns %s: %v", n.Name, err)
	}
}

// Pair is two namespaces joined by a veth pair: A and B talk over
// A4/B4 (IPv4) and A6/B6 (IPv6); each also has its own loopback.
type Pair struct {
	A, B           *NS
	DevA, DevB     string // interface names inside A and B
	A4, B4, A6, B6 netip.Addr
	Net            int // K in 198.18.K.0/24, unique per pair in this process
}

// NewPair creates two namespaces and links them. K cycles through 1..250,
// so pairs made by one test binary have different subnets (the namespaces
// are isolated anyway; distinct addresses only make logs clearer).
func NewPair(tb testing.TB) *Pair {
	tb.Helper()
	a, b := New(tb), New(tb)
	k := int(counter.Add(1)%250) + 1
	p := &Pair{
		A: a, B: b, DevA: "veth-a", DevB: "veth-b", Net: k,
		A4: netip.AddrFrom4([4]byte{198, 18, byte(k), 1}),
		B4: netip.AddrFrom4([4]byte{198, 18, byte(k), 2}),
		A6: netip.MustParseAddr(fmt.Sprintf("fd7e:5ee0:%x::1", k)),
		B6: netip.MustParseAddr(fmt.Sprintf("fd7e:5ee0:%x::2", k)),
	}
	steps := [][]string{
		{"link", "add", p.DevA, "netns", a.Name, "type", "veth", "peer", "name", p.DevB, "netns", b.Name},
		{"-n", a.Name, "addr", "add", p.A4.String() + "/24", "dev", p.DevA},
		{"-n", b.Name, "addr", "add", p.B4.String() + "/24", "dev", p.DevB},
		{"-n", a.Name, "-6", "addr", "add", p.A6.String() + "/64", "dev", p.DevA, "nodad"},
		{"-n", b.Name, "-6", "addr", "add", p.B6.String() + "/64", "dev", p.DevB, "nodad"},
		{"-n", a.Name, "link", "set", p.DevA, "up"},
		{"-n", b.Name, "link", "set", p.DevB, "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			tb.Fatalf("netns pair: %v", err)
		}
	}
	return p
}

// AddAddr adds an address (CIDR, e.g. "198.18.7.9/24") to dev inside the
// namespace, for tests that need several servers on one side.
func (n *NS) AddAddr(dev, cidr string) {
	n.tb.Helper()
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		n.tb.Fatalf("netns %s: %v", n.Name, err)
	}
	args := []string{"-n", n.Name, "addr", "add", cidr, "dev", dev}
	if pfx.Addr().Is6() {
		args = []string{"-n", n.Name, "-6", "addr", "add", cidr, "dev", dev, "nodad"}
	}
	if err := ip(args...); err != nil {
		n.tb.Fatalf("netns %s: %v", n.Name, err)
	}
}

// Command returns an unstarted command that runs argv inside the namespace
// without CAP_SYS_TIME, in its own process group. Callers may set Env, Dir
// and Stdin; start it with StartCmd or RunCmd. A cancelled ctx kills the
// whole process group.
func (n *NS) Command(ctx context.Context, argv ...string) *exec.Cmd {
	full := append([]string{"netns", "exec", n.Name}, noClock...)
	full = append(full, argv...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Result is the outcome of Run.
type Result struct {
	Stdout, Stderr string
	ExitCode       int   // -1 when the process did not exit normally
	Err            error // start failure, signal, context expiry; nil on exit 0
}

// Run runs argv inside the namespace to completion and captures its output.
// A non-zero exit is reported in Result, not as a test failure.
func (n *NS) Run(ctx context.Context, argv ...string) Result {
	return n.RunCmd(n.Command(ctx, argv...))
}

// RunCmd runs a command from Command to completion.
func (n *NS) RunCmd(cmd *exec.Cmd) Result {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String(), Err: err, ExitCode: -1}
	if cmd.ProcessState != nil {
		r.ExitCode = cmd.ProcessState.ExitCode()
	}
	return r
}

// Proc is a background process started in a namespace.
type Proc struct {
	Cmd  *exec.Cmd
	PID  int
	out  lockedBuffer
	done chan struct{}
	err  error
}

// Start starts argv inside the namespace in the background. It is stopped
// (SIGTERM to its process group, SIGKILL after 3 s) by tb.Cleanup, or earlier
// by Stop; if the test failed, its output is logged.
func (n *NS) Start(argv ...string) *Proc {
	n.tb.Helper()
	return n.StartCmd(n.Command(context.Background(), argv...))
}

// StartCmd starts a command from Command in the background, like Start.
func (n *NS) StartCmd(cmd *exec.Cmd) *Proc {
	n.tb.Helper()
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.out
	}
	if err := cmd.Start(); err != nil {
		n.tb.Fatalf("netns %s: start %v: %v", n.Name, cmd.Args, err)
	}
	p.PID = cmd.Process.Pid
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.tb.Cleanup(func() {
		p.Stop()
		if n.tb.Failed() {
			n.tb.Logf("netns %s: output of %v (pid %d):\n%s", n.Name, argvOf(cmd), p.PID, p.Output())
		}
	})
	return p
}

func argvOf(cmd *exec.Cmd) []string {
	// drop "ip netns exec NAME setpriv ... --"
	skip := 3 + len(noClock)
	if len(cmd.Args) > skip && cmd.Args[0] == "ip" {
		return cmd.Args[skip:]
	}
	return cmd.Args
}

// Output returns everything the process wrote to stdout and stderr (when
// they were not redirected before StartCmd).
func (p *Proc) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its Wait error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) error { return killGroup(p.Cmd, sig) }

// Stop terminates the process group (SIGTERM, then SIGKILL after 3 s) and
// waits for the process. It returns the Wait error; calling it again is safe.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = killGroup(p.Cmd, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = killGroup(p.Cmd, syscall.SIGKILL)
		<-p.done
	}
	return p.err
}

// killGroup signals the process group led by cmd's process, which Command
// made with Setpgid, so only processes this test started are reached.
func killGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil || cmd.Process.Pid <= 1 {
		return errors.New("netns: process not started")
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}

// WaitUDP waits until some socket in the namespace is bound to the UDP
// address addr ("127.0.0.1:123", "[::1]:123", "198.18.1.2:123"), or to the
// wildcard address on that port. It reads the namespace's /proc/net/udp*
// and sends nothing.
func (n *NS) WaitUDP(addr string, timeout time.Duration) error {
	want, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("netns: WaitUDP: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		bound, err := n.UDPBound()
		if err != nil {
			return err
		}
		for _, b := range bound {
			if b.Port() == want.Port() && (b.Addr() == want.Addr().Unmap() || b.Addr().IsUnspecified()) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns %s: nothing bound to udp %s after %v", n.Name, addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// UDPBound lists the local addresses of the UDP sockets in the namespace.
func (n *NS) UDPBound() ([]netip.AddrPort, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := n.Run(ctx, "cat", "/proc/net/udp", "/proc/net/udp6")
	if r.Err != nil {
		return nil, fmt.Errorf("netns %s: read /proc/net/udp: %v: %s", n.Name, r.Err, r.Stderr)
	}
	return parseProcNetUDP(r.Stdout)
}

// parseProcNetUDP parses the local_address column of /proc/net/udp and
// udp6: hex address words in host byte order, then ':' and the hex port.
func parseProcNetUDP(text string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] == "sl" {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("netns: bad /proc/net/udp line %q", line)
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("netns: bad port in %q: %w", line, err)
		}
		var raw []byte
		for i := 0; i+8 <= len(hexAddr); i += 8 {
			w, err := strconv.ParseUint(hexAddr[i:i+8], 16, 32)
			if err != nil {
				return nil, fmt.Errorf("netns: bad address in %q: %w", line, err)
			}
			raw = nativeEndian.AppendUint32(raw, uint32(w))
		}
		a, ok := netip.AddrFromSlice(raw)
		if !ok || len(hexAddr)%8 != 0 {
			return nil, fmt.Errorf("netns: bad address in %q", line)
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)))
	}
	return out, nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

var ownName = regexp.MustCompile(`^` + Prefix + `(\d+)-\d+$`)

// sweepStale deletes namespaces this package created in earlier test
// processes that died without cleaning up (their pid no longer exists).
// It touches no process and no namespace of any other naming scheme.
func sweepStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := ownName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			_ = ip("netns", "del", f[0])
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
