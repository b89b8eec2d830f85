//go:build linux

package chrony

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/internal/testenv"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

var update = flag.Bool("update", false, "rewrite testdata/capture and fuzz seeds from the live chronyd")

// netns is a private network namespace (loopback only) for one test.
type netns struct {
	name string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	n := &netns{name: fmt.Sprintf("ntpkit-chrony-%d", os.Getpid())}
	run(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", n.name, err, out)
		}
	})
	run(t, "ip", "-n", n.name, "link", "set", "lo", "up")
	return n
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// do runs fn on an OS thread that has entered the namespace. Sockets made
// by fn stay in the namespace for their whole life, whatever thread uses
// them later. The thread is never unlocked, so the runtime discards it.
func (n *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/var/run/netns", n.name))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// start runs a command inside the namespace without the right to set the
// clock, and kills it (by PID) at cleanup.
func (n *netns) start(t *testing.T, logf string, args ...string) {
	t.Helper()
	full := append([]string{"netns", "exec", n.name,
		"setpriv", "--inh-caps=-sys_time", "--bounding-set=-sys_time", "--"}, args...)
	cmd := exec.Command("ip", full...)
	out, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
	})
}

func (n *netns) output(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%v: %v: %s", args, err, ee.Stderr)
		}
		t.Fatalf("%v: %v", args, err)
	}
	return string(out)
}

// fakeNTP answers NTP client requests on addr:123 inside the namespace with
// the host's time plus offset (the host clock is only read).
func fakeNTP(t *testing.T, n *netns, addr string, stratum uint8, refid ntp.RefID, offset, rootDisp time.Duration) {
	t.Helper()
	var pc net.PacketConn
	if err := n.do(func() (err error) {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(addr, "123"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			m, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			rx := time.Now().Add(offset)
			req, err := ntp.ParseHeader(buf[:m])
			if err != nil || req.Mode != ntp.ModeClient {
				continue
			}
			h := ntp.Header{
				Version: req.Version, Mode: ntp.ModeServer, Stratum: stratum, Poll: req.Poll,
				Precision: -20, RootDelay: ntp.ShortFromDuration(time.Millisecond),
				RootDispersion: ntp.ShortFromDuration(rootDisp), RefID: refid,
				RefTime: ntp.TimestampFromTime(rx.Add(-time.Second)), OrigTime: req.XmitTime,
				RecvTime: ntp.TimestampFromTime(rx),
			}
			h.XmitTime = ntp.TimestampFromTime(time.Now().Add(offset))
			_, _ = pc.WriteTo(h.Marshal(), from)
		}
	}()
}

// relay forwards datagrams from a front socket to chronyd and back,
// recording every exchange, so that what chronyc printed can be checked
// against the exact bytes it received.
type relay struct {
	front net.PacketConn
	back  net.Conn
	mu    sync.Mutex
	log   []exchange
}

func (r *relay) serve() {
	buf := make([]byte, 2048)
	rbuf := make([]byte, 2048)
	for {
		m, from, err := r.front.ReadFrom(buf)
		if err != nil {
			return
		}
		req := append([]byte(nil), buf[:m]...)
		if _, err := r.back.Write(req); err != nil {
			continue
		}
		_ = r.back.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := r.back.Read(rbuf)
		if err != nil {
			continue
		}
		rpy := append([]byte(nil), rbuf[:k]...)
		r.mu.Lock()
		r.log = append(r.log, exchange{Request: hex.EncodeToString(req), Reply: hex.EncodeToString(rpy)})
		r.mu.Unlock()
		_, _ = r.front.WriteTo(rpy, from)
	}
}

func (r *relay) take() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.log
	r.log = nil
	return l
}

type liveEnv struct {
	ns      *netns
	dir     string
	sock    string // chronyd's unix command socket
	udpRel  *relay
	udpPort int
	unixRel *relay
	relSock string
}

func startLive(t *testing.T) *liveEnv {
	testenv.NeedRoot(t)
	chronyd, chronyc := testenv.ChronyBin("chronyd"), testenv.ChronyBin("chronyc")
	testenv.Need(t, chronyd, chronyc, "setpriv")

	dir, err := os.MkdirTemp("", "ntpkit-chrony-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// chronyd refuses a socket directory others can enter
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := &liveEnv{ns: newNetns(t), dir: dir, sock: filepath.Join(dir, "chronyd.sock")}

	// With combinelimit 1000 below, .3 (root distance a few ms) is
	// combined with the selected upstream chronyd (microseconds) while .5
	// (half a second) is not: every selection state but "jittery" shows.
	ms := time.Millisecond
	fakeNTP(t, e.ns, "127.0.0.3", 1, ntp.RefIDFromString("GPS"), 0, 2*ms)
	fakeNTP(t, e.ns, "127.0.0.4", 2, ntp.RefID{127, 0, 0, 77}, 250*ms, 2*ms)
	fakeNTP(t, e.ns, "127.0.0.5", 2, ntp.RefID{127, 0, 0, 3}, 0, 500*ms)
	fakeNTP(t, e.ns, "::1", 2, ntp.RefID{127, 0, 0, 3}, 0, 500*ms)

	up := filepath.Join(dir, "up.conf")
	writeFile(t, up, fmt.Sprintf(`bindaddress 127.0.0.2
port 123
cmdport 0
bindcmdaddress %s/up.sock
pidfile %s/up.pid
local stratum 3
allow 127.0.0.0/8
`, dir, dir))
	mainConf := filepath.Join(dir, "main.conf")
	writeFile(t, mainConf, fmt.Sprintf(`port 0
cmdport 323
bindcmdaddress 127.0.0.1
bindcmdaddress ::1
bindcmdaddress %[1]s
pidfile %[2]s/main.pid
server 127.0.0.2 iburst minpoll 0 maxpoll 0
server 127.0.0.3 iburst minpoll 0 maxpoll 0
server 127.0.0.4 iburst minpoll 0 maxpoll 0
server 127.0.0.5 iburst minpoll 0 maxpoll 0
server 127.0.0.9 iburst minpoll 0 maxpoll 0
server ::1 iburst minpoll 0 maxpoll 0
combinelimit 1000
refclock SOCK %[2]s/refclock.sock refid GPS0 poll 1
`, e.sock, dir))
	e.ns.start(t, filepath.Join(dir, "up.log"), chronyd, "-x", "-d", "-u", "root", "-f", up)
	e.ns.start(t, filepath.Join(dir, "main.log"), chronyd, "-x", "-d", "-u", "root", "-f", mainConf)
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"up.log", "main.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})

	// relays: UDP inside the namespace, and a unix socket one (needed for
	// ntpdata, which chronyd answers only on its unix socket)
	e.udpRel = &relay{}
	if err := e.ns.do(func() error {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		e.udpRel.front = pc
		e.udpPort = pc.LocalAddr().(*net.UDPAddr).Port
		e.udpRel.back, err = net.Dial("udp", "127.0.0.1:323")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.udpRel.front.Close(); e.udpRel.back.Close() })
	go e.udpRel.serve()
	return e
}

// startUnixRelay starts the unix socket relay once chronyd's socket exists.
func (e *liveEnv) startUnixRelay(t *testing.T) {
	t.Helper()
	e.relSock = filepath.Join(e.dir, "relay.sock")
	front, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: e.relSock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.DialUnix("unixgram", &net.UnixAddr{Name: filepath.Join(e.dir, "relay-back.sock"), Net: "unixgram"},
		&net.UnixAddr{Name: e.sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	e.unixRel = &relay{front: front, back: back}
	t.Cleanup(func() { front.Close(); back.Close() })
	go e.unixRel.serve()
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// udpClient dials chronyd's UDP port from inside the namespace.
func (e *liveEnv) udpClient(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), Options{Addr: addr, Dial: func(ctx context.Context) (conn net.Conn, err error) {
		err = e.ns.do(func() error {
			var d net.Dialer
			conn, err = d.DialContext(ctx, "udp", addr)
			return err
		})
		return conn, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitSettled waits (bounded) until chronyd is synchronised and the five
// answering servers have a full reach register, so the states are stable.
func waitSettled(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var last string
	for {
		tr, err1 := c.Tracking(ctx)
		srcs, err2 := c.Sources(ctx)
		if err1 == nil && err2 == nil && tr.Synchronised() {
			full := 0
			for _, s := range srcs {
				if s.Reach == 0o377 {
					full++
				}
			}
			if full >= 5 {
				return
			}
			last = fmt.Sprintf("%d sources at reach 377: %+v", full, srcs)
		} else {
			last = fmt.Sprint(err1, err2, tr)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("chronyd did not settle: %s", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func TestLive(t *testing.T) {
	e := startLive(t)
	c := e.udpClient(t, "127.0.0.1:323")
	waitSettled(t, c)
	e.startUnixRelay(t)
	chronyc := testenv.ChronyBin("chronyc")

	// 1. chronyc through the relays: its output must be exactly what our
	// decoders make of the replies it got.
	type job struct {
		name string
		via  string // "udp" or "unix"
		args []string
	}
	jobs := []job{
		{"tracking", "udp", []string{"-c", "tracking"}},
		{"tracking-text", "udp", []string{"tracking"}},
		{"sources", "udp", []string{"-c", "sources"}},
		{"sourcestats", "udp", []string{"-c", "sourcestats"}},
	}
	var caps []capture
	for _, j := range jobs {
		var args []string
		var rel *relay
		if j.via == "udp" {
			args = []string{chronyc, "-h", "127.0.0.1", "-p", fmt.Sprint(e.udpPort), "-n"}
			rel = e.udpRel
		} else {
			args = []string{chronyc, "-h", e.relSock, "-n"}
			rel = e.unixRel
		}
		rel.take()
		out := e.ns.output(t, append(args, j.args...)...)
		ex := rel.take()
		c := capture{Name: j.name, Chronyc: append([]string{"-n"}, j.args...), Exchanges: ex, Output: out}
		got := replayAny(t, c)
		if got != out {
			t.Errorf("chronyc %v printed\n%s\nour decoding of the same replies gives\n%s", j.args, out, got)
		}
		// our requests must be byte-identical to chronyc's, but for the
		// sequence number (octets 8-11)
		for i, x := range ex {
			req, _ := x.bytes(t)
			r, err := ParseRequest(req)
			if err != nil {
				t.Errorf("%s: chronyc request %d: %v", j.name, i, err)
				continue
			}
			r.Sequence = 0
			ours, err := r.Marshal()
			if err != nil {
				t.Errorf("%s: %v", j.name, err)
				continue
			}
			copy(req[8:12], []byte{0, 0, 0, 0})
			if !bytes.Equal(ours, req) {
				t.Errorf("%s request %d differs from chronyc's:\n ours    %x\n chronyc %x", j.name, i, ours, req)
			}
		}
		caps = append(caps, c)
	}

	// ntpdata for every NTP source, via the unix socket relay
	srcs, err := c.Sources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if s.Mode != ModeClient {
			continue
		}
		e.unixRel.take()
		out := e.ns.output(t, chronyc, "-h", e.relSock, "-n", "-c", "ntpdata", s.Addr.String())
		ex := e.unixRel.take()
		cp := capture{Name: "ntpdata-" + strings.ReplaceAll(s.Addr.String(), ":", "_"), Chronyc: []string{"-n", "-c", "ntpdata", s.Addr.String()}, Exchanges: ex, Output: out}
		if got := replayNTPDataCSV(t, cp); got != out {
			t.Errorf("chronyc ntpdata %s printed\n%s\nour decoding gives\n%s", s.Addr, out, got)
		}
		caps = append(caps, cp)
	}
	if *update {
		for _, cp := range caps {
			writeCapture(t, cp)
		}
		writeFuzzSeeds(t, caps)
	}

	// 2. Our own client against chronyc's human output, side by side.
	t.Run("client", func(t *testing.T) { liveClient(t, e, c) })
}

func liveClient(t *testing.T, e *liveEnv, c *Client) {
	ctx := context.Background()
	var tr Tracking
	var srcs []Source
	// chronyd may reselect between two requests: compare snapshots until
	// one is consistent (bounded)
	var problems []string
	for try := 0; try < 3; try++ {
		problems = nil
		var err error
		if tr, err = c.Tracking(ctx); err != nil {
			t.Fatal(err)
		}
		// -h: chronyc would otherwise try /run/chrony/chronyd.sock first,
		// which is shared by every network namespace on the host
		text := e.ns.output(t, testenv.ChronyBin("chronyc"), "-h", "127.0.0.1", "-n", "tracking")
		for _, line := range []string{
			fmt.Sprintf("Reference ID    : %08X (%s)", tr.RefID.Uint32(), tr.RefName()),
			fmt.Sprintf("Stratum         : %d", tr.Stratum),
			"Leap status     : Normal",
		} {
			if !strings.Contains(text, line+"\n") {
				problems = append(problems, fmt.Sprintf("chronyc tracking lacks %q:\n%s", line, text))
			}
		}
		if srcs, err = c.Sources(ctx); err != nil {
			t.Fatal(err)
		}
		text = e.ns.output(t, testenv.ChronyBin("chronyc"), "-h", "127.0.0.1", "-n", "sources")
		// reach and state may move between the two requests; mode, name
		// and stratum do not
		for _, s := range srcs {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(string(s.Mode.Char())) + `. ` +
				regexp.QuoteMeta(fmt.Sprintf("%-27s  %2d  ", s.Name(), s.Stratum)))
			if !re.MatchString(text) {
				problems = append(problems, fmt.Sprintf("chronyc sources has no line matching %q:\n%s", re, text))
			}
		}
		selected := 0
		for _, s := range srcs {
			if s.State == StateSelected {
				selected++
				if want := s.Stratum + 1; tr.Stratum != want {
					problems = append(problems, fmt.Sprintf("tracking stratum %d, selected source %s has %d", tr.Stratum, s.Name(), s.Stratum))
				}
				if tr.RefAddr.String() != s.Name() {
					problems = append(problems, fmt.Sprintf("tracking reference %s, selected source %s", tr.RefAddr, s.Name()))
				}
			}
		}
		if selected != 1 || !tr.Synchronised() {
			problems = append(problems, fmt.Sprintf("%d selected sources, synchronised %v", selected, tr.Synchronised()))
		}
		if len(problems) == 0 {
			break
		}
		t.Logf("try %d: %v", try, problems)
		time.Sleep(300 * time.Millisecond)
	}
	for _, p := range problems {
		t.Error(p)
	}
	byName := map[string]Source{}
	for _, s := range srcs {
		byName[s.Name()] = s
	}
	if s := byName["127.0.0.4"]; s.State != StateFalseticker || s.Offset > -0.2 {
		t.Errorf("127.0.0.4 (+250 ms) should be a falseticker at about -0.25 s: %+v", s)
	}
	if s := byName["127.0.0.9"]; s.Reach != 0 || s.LastRx != NeverSampled || s.State != StateNonselectable {
		t.Errorf("127.0.0.9 should be unreachable: %+v", s)
	}
	if s := byName["GPS0"]; s.Mode != ModeRefclock || s.Addr.String() != "" {
		t.Errorf("refclock GPS0: %+v", s)
	}

	// IPv6 loopback and unix socket transports give the same picture.
	c6 := e.udpClient(t, "[::1]:323")
	if tr6, err := c6.Tracking(ctx); err != nil || tr6.RefID != tr.RefID {
		t.Errorf("tracking over ::1: %+v, %v", tr6, err)
	}
	cu, err := Dial(ctx, Options{Addr: e.sock})
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	peers, err := cu.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		t.Logf("%c%-12s %-14s %2d %c %3d %3o %9.3f %9.3f %9.3f", p.Tally(), p.Remote(), p.RefID(), p.Stratum(), p.Type(),
			int(p.Poll().Seconds()), p.Reach(), p.Delay()*1e3, p.Offset()*1e3, p.Jitter()*1e3)
		switch p.Remote() {
		case "127.0.0.4":
			if p.Tally() != 'x' || p.RefID() != "127.0.0.77" || p.Offset() < 0.2 || p.NTP == nil || p.NTP.PeerDelay <= 0 {
				t.Errorf("falseticker row: %+v", p)
			}
		case "127.0.0.3":
			if p.RefID() != "GPS" || p.Stratum() != 1 {
				t.Errorf("GPS row: %+v", p)
			}
		case "127.0.0.9":
			if p.RefID() != "INIT" || p.Stratum() != 16 || p.Tally() != ' ' {
				t.Errorf("unreachable row: %+v", p)
			}
		case "GPS0":
			if p.Type() != 'l' || p.NTP != nil {
				t.Errorf("refclock row: %+v", p)
			}
		}
	}
	// over UDP chronyd refuses ntpdata: Peers still works, without delays
	up, err := c.Peers(ctx)
	if err != nil || len(up) != len(peers) {
		t.Fatalf("Peers over UDP: %d rows, %v", len(up), err)
	}
	for _, p := range up {
		if p.NTP != nil {
			t.Errorf("ntpdata over UDP unexpectedly answered for %s", p.Remote())
		}
	}
	_, err = c.NTPData(ctx, byName["127.0.0.2"].Addr)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusUnauth {
		t.Errorf("ntpdata over UDP: %v, want not authorised", err)
	}

	st, err := cu.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Synchronised || st.Kind != KindNTP || st.Source != tr.RefAddr.String() || st.PollLog2 != 0 {
		t.Errorf("status: %+v", st)
	}

	// detection
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := e.ns.do(func() error { return Detect(dctx, "127.0.0.1", 0) }); err != nil {
		t.Errorf("Detect(127.0.0.1) in the namespace: %v", err)
	}
	if err := e.ns.do(func() error { return Detect(dctx, "127.0.0.1:324", 0) }); err == nil {
		t.Errorf("Detect found chronyd on a closed port")
	}
	if err := Detect(dctx, e.sock, 0); err != nil {
		t.Errorf("Detect(%s): %v", e.sock, err)
	}
}
