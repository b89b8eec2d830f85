package daemon

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/internal/netns"
	"github.com/ntpkit/ntpkit/internal/testenv"
	"github.com/ntpkit/ntpkit/mode6"
)

const mruLiveConf = `server 127.127.1.0
fudge 127.127.1.0 stratum 10
restrict default kod limited nomodify notrap nopeer noquery
restrict 127.0.0.1
restrict ::1
`

// inNetns runs f on a thread that has joined the network namespace name,
// so the sockets f opens live there, then puts the thread back into its
// own namespace. The thread must not die: children started from it (the
// daemon, through netns.Start) have Pdeathsig set and would be killed. Only
// if it cannot go back is it left locked (and so discarded).
func inNetns(t *testing.T, name string, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer own.Close()
		fd, err := os.Open(filepath.Join("/run/netns", name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		f()
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err) // stays locked: the thread exits
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// mruClients sends n mode 3 requests from addr (one socket, so one source
// port) to the daemon at to, waiting for each answer.
func mruClients(to netip.AddrPort, from netip.AddrPort, n int) error {
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(from), net.UDPAddrFromAddrPort(to))
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 512)
	for i := 0; i < n; i++ {
		req := make([]byte, 48)
		req[0] = 4<<3 | 3
		binary.BigEndian.PutUint64(req[40:], uint64(i+1))
		if _, err := c.Write(req); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = c.Read(buf) // limited sources may get nothing
	}
	return nil
}

// waitControl waits until the daemon in namespace name answers a mode 6
// READVAR on 127.0.0.1 (binding the port is not yet answering).
func waitControl(t *testing.T, name string) {
	t.Helper()
	ok := false
	inNetns(t, name, func() {
		c, err := net.Dial("udp", "127.0.0.1:123")
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1024)
		for i := 0; i < 100 && !ok; i++ {
			c.Write(ctlReq(mode6.OpReadVar, 0, "stratum"))
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Read(buf); err == nil {
				ok = true
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
	if !ok {
		t.Fatal("the daemon does not answer READVAR")
	}
}

// TestLiveMRUList: real ntpq-classic 4.2.8 and NTPsec ntpq run mrulist
// against ntpkit's daemon in a private network namespace and list the
// sources that sent it packets (6 addresses, then 400 more, which takes
// several READ_MRU requests); ntpkit's own ntpq does too. With "disable
// monitor" the list is empty, and a noquery source's ntpq times out.
func TestLiveMRUList(t *testing.T) {
	testenv.NeedRoot(t)
	classicQ := testenv.ClassicBin("ntpq")
	testenv.Need(t, "ntpq", classicQ)
	bin := testenv.BuildNtpkit(t)
	ns := netns.New(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "ntp.conf")
	if err := os.WriteFile(conf, []byte(mruLiveConf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := ns.Start(bin, "daemon", "-n", "--no-adjust", "-c", conf, "--local-sync-delay", "100ms")
	if err := ns.WaitUDP("127.0.0.1:123", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, d.Output())
	}
	waitControl(t, ns.Name)
	server := netip.MustParseAddrPort("127.0.0.1:123")
	sources := []string{"127.0.0.2:40000", "127.0.0.3:40001", "127.0.0.4:40004", "127.0.0.5:40005", "127.0.0.6:40006"}
	var cerr error
	inNetns(t, ns.Name, func() {
		for i, s := range sources {
			if cerr = mruClients(server, netip.MustParseAddrPort(s), i+1); cerr != nil {
				return
			}
		}
		cerr = mruClients(netip.MustParseAddrPort("[::1]:123"), netip.MustParseAddrPort("[::1]:40002"), 2)
	})
	if cerr != nil {
		t.Fatal(cerr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(classic bool, argv ...string) (string, string) {
		t.Helper()
		cmd := ns.Command(ctx, argv...)
		if classic {
			cmd.Env = testenv.ClassicEnv()
		}
		r := ns.RunCmd(cmd)
		if r.ExitCode != 0 {
			t.Errorf("%v: exit %d %v\n%s", argv, r.ExitCode, r.Err, r.Stderr)
		}
		return r.Stdout, r.Stderr
	}
	// lstint avgint rstr r m v count [score drop] rport address
	row := regexp.MustCompile(`(?m)^ *\d+ +[0-9.]+ +[0-9a-f]+ [.LK] 3 4 +(\d+)(?: +\S+ +\S+)? +(\d+) (\S+)$`)
	check := func(what, out string, want map[string]string) {
		t.Helper()
		got := map[string]string{}
		for _, m := range row.FindAllStringSubmatch(out, -1) {
			got[m[3]] = m[1] + " from port " + m[2]
		}
		for addr, count := range want {
			if got[addr] != count {
				t.Errorf("%s: %s count %q, want %s\n%s", what, addr, got[addr], count, out)
				return
			}
		}
	}
	want := map[string]string{"127.0.0.2": "1 from port 40000", "127.0.0.3": "2 from port 40001", "127.0.0.4": "3 from port 40004",
		"127.0.0.5": "4 from port 40005", "127.0.0.6": "5 from port 40006", "::1": "2 from port 40002"}
	out, errOut := run(true, classicQ, "-n", "-c", "mrulist")
	if !strings.HasPrefix(out, "lstint avgint rstr r m v  count rport remote address\n"+strings.Repeat("=", 78)+"\n") ||
		!strings.Contains(errOut, "Retrieved 6 unique MRU entries and 0 updates.") {
		t.Errorf("classic ntpq:\n%s%s", out, errOut)
	}
	check("classic ntpq", out, want)
	out, _ = run(false, "ntpq", "-n", "-c", "mrulist")
	if !strings.Contains(out, " lstint avgint rstr r m v  count    score   drop rport remote address\n") ||
		!strings.Contains(out, "# Collected 6 slots") {
		t.Errorf("NTPsec ntpq:\n%s", out)
	}
	check("NTPsec ntpq", out, want)
	out, _ = run(false, bin, "query", "-n", "-c", "mrulist")
	check("ntpkit ntpq", out, want)

	// 400 more sources: several READ_MRU requests, continued with addr.N/last.N.
	inNetns(t, ns.Name, func() {
		for i := 0; i < 400 && cerr == nil; i++ {
			from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i / 200), byte(i%200 + 1)}), 0)
			cerr = mruClients(server, from, 1)
		}
	})
	if cerr != nil {
		t.Fatal(cerr)
	}
	out, errOut = run(true, classicQ, "-n", "-c", "mrulist")
	if n := len(row.FindAllString(out, -1)); n != 406 || !strings.Contains(errOut, "Retrieved 406 unique MRU entries") {
		t.Errorf("classic ntpq, 406 sources: %d rows\n%s", n, errOut)
	}
	out, _ = run(false, "ntpq", "-n", "-c", "mrulist")
	if n := len(row.FindAllString(out, -1)); n != 406 {
		t.Errorf("NTPsec ntpq, 406 sources: %d rows", n)
	}
	out, errOut = run(true, classicQ, "-n", "-c", "mrulist mincount=3 sort=-count")
	if n := len(row.FindAllString(out, -1)); n != 3 || !strings.Contains(out, "      5 40006 127.0.0.6\n") {
		t.Errorf("classic ntpq mincount=3:\n%s%s", out, errOut)
	}

	// disable monitor: no list (the table exists for "limited" only).
	conf2 := filepath.Join(dir, "nomon.conf")
	os.WriteFile(conf2, []byte(mruLiveConf+"disable monitor\n"), 0o644)
	ns2 := netns.New(t)
	d2 := ns2.Start(bin, "daemon", "-n", "--no-adjust", "-c", conf2, "--local-sync-delay", "100ms")
	if err := ns2.WaitUDP("127.0.0.1:123", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, d2.Output())
	}
	waitControl(t, ns2.Name)
	inNetns(t, ns2.Name, func() { cerr = mruClients(server, netip.MustParseAddrPort("127.0.0.9:40009"), 2) })
	cmd := ns2.Command(ctx, classicQ, "-n", "-c", "mrulist")
	cmd.Env = testenv.ClassicEnv()
	r := ns2.RunCmd(cmd)
	if r.Stdout != "lstint avgint rstr r m v  count rport remote address\n"+strings.Repeat("=", 78)+"\n" ||
		!strings.Contains(r.Stderr, "Retrieved 0 unique MRU entries") {
		t.Errorf("disable monitor: %q %q", r.Stdout, r.Stderr)
	}
}
