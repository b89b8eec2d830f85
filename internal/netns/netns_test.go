package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the UDP peer run inside namespaces:
//
//	NETNS_HELPER=echo ADDR  answers every datagram on ADDR with "echo:" + payload
//	NETNS_HELPER=send ADDR  sends one datagram to ADDR, prints the reply
func TestMain(m *testing.M) {
	switch os.Getenv("NETNS_HELPER") {
	case "echo":
		os.Exit(helperEcho(os.Getenv("NETNS_ADDR")))
	case "send":
		os.Exit(helperSend(os.Getenv("NETNS_ADDR")))
	}
	os.Exit(m.Run())
}

func helperEcho(addr string) int {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	buf := make([]byte, 512)
	for i := 0; i < 1000; i++ { // bounded
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return 1
		}
		c.WriteTo(append([]byte("echo:"), buf[:n]...), from)
	}
	return 0
}

func helperSend(addr string) int {
	c, err := net.Dial("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(string(buf[:n]))
	return 0
}

func helper(n *NS, ctx context.Context, mode, addr string) Result {
	cmd := n.Command(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETNS_HELPER="+mode, "NETNS_ADDR="+addr)
	return n.RunCmd(cmd)
}

func startEcho(t *testing.T, n *NS, addr string) *Proc {
	t.Helper()
	cmd := n.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETNS_HELPER=echo", "NETNS_ADDR="+addr)
	p := n.StartCmd(cmd)
	if err := n.WaitUDP(addr, 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	return p
}

func TestParseProcNetUDP(t *testing.T) {
	// little-endian host: 127.0.0.1 is 0100007F; ::1 is 3 zero words then 01000000
	text := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:007B 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0
  124: 00000000:0BB8 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
  5: 00000000000000000000000001000000:007B 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0
  6: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0
`
	got, err := parseProcNetUDP(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:123", "0.0.0.0:3000", "[::1]:123", "127.0.0.1:80"}
	if nativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("fixture is for little-endian hosts")
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != netip.MustParseAddrPort(want[i]) {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := parseProcNetUDP("  1: zz:00 x\n"); err == nil {
		t.Error("bad address accepted")
	}
}

// A fresh namespace has only lo, does not see the host's sockets, and its
// loopback is its own.
func TestIsolation(t *testing.T) {
	n := New(t)
	ctx := context.Background()

	r := n.Run(ctx, "ip", "-o", "link", "show")
	if r.Err != nil {
		t.Fatalf("ip link: %v %s", r.Err, r.Stderr)
	}
	if lines := strings.Split(strings.TrimSpace(r.Stdout), "\n"); len(lines) != 1 || !strings.Contains(lines[0], ": lo:") {
		t.Fatalf("interfaces in fresh namespace:\n%s", r.Stdout)
	}

	host, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	addr := host.LocalAddr().String()
	if err := n.WaitUDP(addr, 200*time.Millisecond); err == nil {
		t.Fatalf("host socket %s visible inside %s", addr, n.Name)
	}

	startEcho(t, n, addr)
	r = helper(n, ctx, "send", addr)
	if r.Err != nil || r.Stdout != "echo:ping" {
		t.Fatalf("echo inside namespace: %+v", r)
	}
	host.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := host.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatal("datagram sent inside the namespace reached the host socket")
	}
}

// Two namespaces talk over the veth pair on IPv4 and IPv6; a third one,
// not linked, cannot reach them.
func TestPair(t *testing.T) {
	p := NewPair(t)
	ctx := context.Background()
	for _, a := range []netip.Addr{p.B4, p.B6} {
		addr := netip.AddrPortFrom(a, 12300).String()
		startEcho(t, p.B, addr)
		if r := helper(p.A, ctx, "send", addr); r.Err != nil || r.Stdout != "echo:ping" {
			t.Errorf("A -> %s: %+v", addr, r)
		}
	}
	lone := New(t)
	r := helper(lone, ctx, "send", netip.AddrPortFrom(p.B4, 12300).String())
	if r.Err == nil {
		t.Errorf("unlinked namespace reached %v: %+v", p.B4, r)
	}
	if !strings.Contains(r.Stderr, "unreachable") {
		t.Logf("unlinked send failed with: %s", r.Stderr)
	}

	p.A.SetHosts("127.0.0.1 localhost\n" + p.B4.String() + " server.test\n")
	if r := p.A.Run(ctx, "getent", "hosts", "server.test"); r.Err != nil || !strings.HasPrefix(r.Stdout, p.B4.String()) {
		t.Errorf("hosts file inside A: %+v", r)
	}
	if r := helper(p.A, ctx, "send", "server.test:12300"); r.Err != nil || r.Stdout != "echo:ping" {
		t.Errorf("A -> server.test:12300: %+v", r)
	}

	p.B.AddAddr(p.DevB, fmt.Sprintf("198.18.%d.9/24", p.Net))
	extra := fmt.Sprintf("198.18.%d.9:12301", p.Net)
	startEcho(t, p.B, extra)
	if r := helper(p.A, ctx, "send", extra); r.Err != nil || r.Stdout != "echo:ping" {
		t.Errorf("A -> %s: %+v", extra, r)
	}
}

// Processes run without CAP_SYS_TIME, and Stop kills the whole group.
func TestProcesses(t *testing.T) {
	n := New(t)
	r := n.Run(context.Background(), "grep", "^CapBnd:", "/proc/self/status")
	f := strings.Fields(r.Stdout)
	if r.Err != nil || len(f) != 2 {
		t.Fatalf("CapBnd: %+v", r)
	}
	bnd, err := strconv.ParseUint(f[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	const capSysTime = 25
	if bnd&(1<<capSysTime) != 0 {
		t.Errorf("CAP_SYS_TIME still in the bounding set: %s", f[1])
	}

	proc := n.Start("sh", "-c", "sleep 300 & echo $!; wait")
	var child int
	for deadline := time.Now().Add(5 * time.Second); child == 0 && time.Now().Before(deadline); {
		child, _ = strconv.Atoi(strings.TrimSpace(proc.Output()))
		time.Sleep(10 * time.Millisecond)
	}
	if child == 0 {
		t.Fatalf("no child pid: %q", proc.Output())
	}
	if exited, _ := proc.Exited(); exited {
		t.Fatal("exited early")
	}
	proc.Stop()
	if exited, _ := proc.Exited(); !exited {
		t.Fatal("Stop returned before the process exited")
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil || strings.Contains(string(b), ") Z ") {
			break // gone, or a zombie waiting for init
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d survived Stop", child)
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r = n.Run(ctx, "sleep", "300")
	if r.Err == nil || time.Since(start) > 30*time.Second {
		t.Errorf("context expiry did not stop Run: %+v", r)
	}
}
