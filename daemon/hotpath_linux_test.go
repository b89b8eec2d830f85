//go:build linux

package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// newHotDaemon builds a daemon (not running; its own socket is closed at the
// end) and a group of n SO_REUSEPORT sockets served by the hot path.
func newHotDaemon(t testing.TB, conf string, n int) (*Daemon, netip.AddrPort) {
	t.Helper()
	d, err := New(Options{
		Config: hotConf(t, conf),
		Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Info:   SystemInfo{Version: "test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	conns, err := listenGroup(netip.MustParseAddrPort("127.0.0.1:0"), n, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	d.serveGroup(ctx, &wg, conns, conns[0].LocalAddr().(*net.UDPAddr).AddrPort())
	t.Cleanup(func() {
		cancel()
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	})
	return d, conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
}

func hotConf(t testing.TB, text string) *ntpconf.Config {
	t.Helper()
	cfg, err := ntpconf.Parse("hot.conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// hotDaemon builds (does not start) a daemon on conf and opens one
// loopback serving socket for the hot-path loop; both are closed when the
// test ends.
func hotDaemon(tb testing.TB, conf string) (*Daemon, *net.UDPConn) {
	tb.Helper()
	d, err := New(Options{
		Config: hotConf(tb, conf),
		Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	conns, err := listenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 1, true)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conns[0].Close() })
	return d, conns[0]
}

// hotConnFor is hotDaemon's socket wrapped for the loop body.
func hotConnFor(tb testing.TB, conf string) (*Daemon, *hotConn) {
	tb.Helper()
	d, c := hotDaemon(tb, conf)
	h, err := newHotConn(d, c)
	if err != nil {
		tb.Fatal(err)
	}
	return d, h
}

func hotRequest(xmt uint64) []byte {
	b := make([]byte, 48)
	b[0] = 4<<3 | 3
	b[2] = 6
	binary.BigEndian.PutUint64(b[40:], xmt)
	return b
}

func TestListenGroupSharesOnePort(t *testing.T) {
	conns, err := listenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 3, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if len(conns) != 3 {
		t.Fatalf("%d sockets", len(conns))
	}
	p := conns[0].LocalAddr().(*net.UDPAddr).Port
	for _, c := range conns[1:] {
		if q := c.LocalAddr().(*net.UDPAddr).Port; q != p || p == 0 {
			t.Fatalf("ports %d and %d", p, q)
		}
	}
}

// Many clients over several sockets: every request gets exactly one valid
// reply, from the server's address, with origin = the request's transmit
// time and RecvTime <= XmitTime, both close to now (kernel timestamps).
func TestHotPathAnswersEveryClient(t *testing.T) {
	_, srv := newHotDaemon(t, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default\n", 3)
	const clients, per = 24, 20
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer cn.Close()
			buf := make([]byte, 512)
			for i := 0; i < per; i++ {
				xmt := uint64(c)<<32 | uint64(i)
				before := time.Now()
				cn.Write(hotRequest(xmt))
				cn.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := cn.Read(buf)
				if err != nil {
					errs <- "no reply: " + err.Error()
					return
				}
				h, err := ntp.ParseHeader(buf[:n])
				if err != nil || h.Mode != ntp.ModeServer || h.Version != 4 || n != 48 {
					errs <- "bad reply"
					return
				}
				if uint64(h.OrigTime) != xmt {
					errs <- "origin not echoed"
					return
				}
				if h.XmitTime.Sub(h.RecvTime) < 0 {
					errs <- "T3 before T2"
					return
				}
				if d := h.RecvTime.Sub(ntp.TimestampFromTime(before)); d < -time.Millisecond || d > time.Second {
					errs <- "T2 far from now"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// One client asking again only after each answer: the loop parks after
// every batch (without a recvmmsg that says EAGAIN) and must never lose the
// readiness of the next request.
func TestHotPathSequentialClient(t *testing.T) {
	_, srv := newHotDaemon(t, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default\n", 1)
	cn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	buf := make([]byte, 512)
	for i := 0; i < 500; i++ {
		cn.Write(hotRequest(uint64(i)))
		cn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := cn.Read(buf)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if h, err := ntp.ParseHeader(buf[:n]); err != nil || uint64(h.OrigTime) != uint64(i) {
			t.Fatalf("request %d: bad reply", i)
		}
	}
}

// A batch larger than hotSmallBatch leaves with sendmmsg: every reply is
// still answered and echoes its origin, and reply j's transmit timestamp
// is the batch's plus j times the kernel time per datagram, so that each
// carries the time it leaves rather than the time the batch started.
func TestHotPathLargeBatchStamps(t *testing.T) {
	_, h := hotConnFor(t, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default\n")
	const n = hotSmallBatch + 8
	cls := make([]*net.UDPConn, n)
	var err error
	for i := range cls {
		if cls[i], err = net.DialUDP("udp4", nil, h.c.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
		defer cls[i].Close()
		cls[i].Write(hotRequest(uint64(1000 + i)))
	}
	if err := h.rc.Read(h.recvFn); err != nil || h.rn != n {
		t.Fatalf("received %d datagrams (%v), want %d", h.rn, err, n)
	}
	const per = 3 * time.Microsecond
	h.perDgram = per
	h.handleBatch()
	if h.perDgram <= 0 || h.perDgram > maxPerDgram {
		t.Errorf("per-datagram estimate %v after a batch", h.perDgram)
	}
	buf := make([]byte, 512)
	var first ntp.Timestamp
	for i, cl := range cls {
		cl.SetReadDeadline(time.Now().Add(2 * time.Second))
		m, err := cl.Read(buf)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		r, err := ntp.ParseHeader(buf[:m])
		if err != nil || m != 48 || r.Mode != ntp.ModeServer || uint64(r.OrigTime) != uint64(1000+i) {
			t.Fatalf("client %d: bad reply %x", i, buf[:m])
		}
		if i == 0 {
			first = r.XmitTime
			continue
		}
		if got, want := r.XmitTime.Sub(first), time.Duration(i)*per; got < want-time.Microsecond || got > want+time.Microsecond {
			t.Errorf("reply %d: transmit timestamp %v after the first, want %v", i, got, want)
		}
	}
}

// Mode 6 goes through the ordinary handler (possibly several fragments).
func TestHotPathMode6(t *testing.T) {
	_, srv := newHotDaemon(t, "server 127.127.1.0\nrestrict default\n", 2)
	cn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	req := []byte{2<<3 | 6, 2, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0} // READVAR, sequence 7
	cn.Write(req)
	buf := make([]byte, 2048)
	cn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := cn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if buf[0]&7 != 6 || buf[1]&0x80 == 0 || binary.BigEndian.Uint16(buf[2:]) != 7 || n <= 12 {
		t.Fatalf("reply % x", buf[:min(n, 16)])
	}
	if !bytes.Contains(buf[12:n], []byte("version=")) {
		t.Fatalf("no version variable in %q", buf[12:n])
	}
}

// restrict limited kod: a burst from one source is answered, then kissed
// (RATE) or dropped, exactly as the portable loop does.
func TestHotPathRateLimit(t *testing.T) {
	d, srv := newHotDaemon(t, "server 127.127.1.0\nrestrict default limited kod\ndiscard average 3 minimum 0\n", 1)
	cn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	for i := 0; i < 30; i++ {
		cn.Write(hotRequest(uint64(i + 1)))
	}
	buf := make([]byte, 512)
	served, kod := 0, 0
	for {
		cn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := cn.Read(buf)
		if err != nil {
			break
		}
		h, err := ntp.ParseHeader(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		if h.Stratum == 0 && h.RefID == ntp.KissRate {
			kod++
		} else {
			served++
		}
	}
	if served != 8 || kod != 1 {
		t.Fatalf("served %d kod %d, want 8 and 1", served, kod)
	}
	if d.Metrics().RateLimited() != 22 || d.Metrics().KoDSent() != 1 {
		t.Fatalf("metrics: limited %d kod %d", d.Metrics().RateLimited(), d.Metrics().KoDSent())
	}
}

// restrict ignore and noserve are enforced on the hot path too.
func TestHotPathRestrict(t *testing.T) {
	for _, conf := range []string{"restrict default ignore\n", "restrict default noserve\n"} {
		_, srv := newHotDaemon(t, "server 127.127.1.0\n"+conf, 1)
		cn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
		if err != nil {
			t.Fatal(err)
		}
		cn.Write(hotRequest(1))
		cn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := cn.Read(make([]byte, 512)); err == nil {
			t.Errorf("%q: answered", conf)
		}
		cn.Close()
	}
}

func TestParseSockaddr(t *testing.T) {
	v4 := make([]byte, sockaddrLen)
	binary.NativeEndian.PutUint16(v4, unix.AF_INET)
	binary.BigEndian.PutUint16(v4[2:], 123)
	copy(v4[4:], []byte{127, 0, 0, 9})
	v6 := make([]byte, sockaddrLen)
	binary.NativeEndian.PutUint16(v6, unix.AF_INET6)
	binary.BigEndian.PutUint16(v6[2:], 4567)
	v6[23] = 1
	mapped := make([]byte, sockaddrLen)
	copy(mapped, v6)
	copy(mapped[8:24], netip.MustParseAddr("::ffff:10.1.2.3").AsSlice())
	tests := []struct {
		name string
		b    []byte
		want netip.AddrPort
		ok   bool
	}{
		{"ipv4", v4[:16], netip.MustParseAddrPort("127.0.0.9:123"), true},
		{"ipv6", v6, netip.MustParseAddrPort("[::1]:4567"), true},
		{"v4-mapped", mapped, netip.MustParseAddrPort("10.1.2.3:4567"), true},
		{"short ipv4", v4[:8], netip.AddrPort{}, false},
		{"short ipv6", v6[:20], netip.AddrPort{}, false},
		{"unknown family", make([]byte, 16), netip.AddrPort{}, false},
		{"empty", nil, netip.AddrPort{}, false},
	}
	for _, tt := range tests {
		got, ok := parseSockaddr(tt.b)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: got %v %v, want %v %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// A reply's destination: the raw source of the datagram being handled is
// reused; any other address is encoded for the socket's family.
func TestPutSockaddr(t *testing.T) {
	h := &hotConn{fam: unix.AF_INET, curRaw: -1}
	var dst [sockaddrLen]byte
	to := netip.MustParseAddrPort("127.0.0.5:999")
	if n := h.putSockaddr(&dst, to); n != unix.SizeofSockaddrInet4 {
		t.Fatalf("len %d", n)
	}
	if got, ok := parseSockaddr(dst[:16]); !ok || got != to {
		t.Fatalf("round trip %v", got)
	}
	h.fam = unix.AF_INET6
	to6 := netip.MustParseAddrPort("[2001:db8::1]:123")
	if n := h.putSockaddr(&dst, to6); n != unix.SizeofSockaddrInet6 {
		t.Fatalf("len %d", n)
	}
	if got, ok := parseSockaddr(dst[:]); !ok || got != to6 {
		t.Fatalf("round trip %v", got)
	}
	// Reuse of the raw source keeps the scope id.
	h.rname[3] = dst
	binary.NativeEndian.PutUint32(h.rname[3][24:], 7)
	h.rmsgs[3].Hdr.Namelen = sockaddrLen
	h.cur, h.curRaw = to6, 3
	var dst2 [sockaddrLen]byte
	h.putSockaddr(&dst2, to6)
	if binary.NativeEndian.Uint32(dst2[24:]) != 7 {
		t.Fatal("scope id lost")
	}
}

// BenchmarkHotPathLoop measures the loop body: recvmmsg of a batch of mode
// 3 requests from loopback, the replies built (restrict, MRU, Respond),
// stamped and sent (one by one: both batches are small). One op is one request; allocs/op must be 0.
// The client side (a connected socket writing and reading) runs in the same
// goroutine and is included in the time.
func BenchmarkHotPathLoop(b *testing.B) {
	for _, bs := range []int{1, 16} {
		b.Run(map[int]string{1: "batch1", 16: "batch16"}[bs], func(b *testing.B) {
			_, h := hotConnFor(b, "server 127.127.1.0\nrestrict default\nenable monitor\n")
			cls := make([]*net.UDPConn, 16)
			var err error
			for i := range cls {
				cls[i], err = net.DialUDP("udp4", nil, h.c.LocalAddr().(*net.UDPAddr))
				if err != nil {
					b.Fatal(err)
				}
				defer cls[i].Close()
			}
			req := hotRequest(1)
			buf := make([]byte, 512)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += bs {
				k := min(bs, b.N-i)
				for j := 0; j < k; j++ {
					cls[j].Write(req)
				}
				got := 0
				for got < k {
					if err := h.rc.Read(h.recvFn); err != nil {
						b.Fatal(err)
					}
					got += h.rn
					h.handleBatch()
				}
				for j := 0; j < k; j++ {
					if n, _ := cls[j].Read(buf); n != 48 {
						b.Fatalf("reply length %d", n)
					}
				}
			}
		})
	}
}

// BenchmarkTxStampAge compares the age of the transmit timestamp when the
// reply reaches the client's socket (T4-T3, from the client's kernel
// receive timestamp) between the hot path and the portable loop, for bursts
// of 1 and 4 requests from different clients. Run it with -cpu 1,2 to see
// the effect of GOMAXPROCS.
func BenchmarkTxStampAge(b *testing.B) {
	for _, burst := range []int{1, 4} {
		for _, hot := range []bool{true, false} {
			name := map[bool]string{true: "hot", false: "portable"}[hot] + "/burst" + string(rune('0'+burst))
			b.Run(name, func(b *testing.B) { benchTxStampAge(b, hot, burst) })
		}
	}
}

func benchTxStampAge(b *testing.B, hot bool, burst int) {
	d, conn := hotDaemon(b, "server 127.127.1.0\nrestrict default\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if hot {
			d.serveHot(ctx, conn, netip.AddrPort{})
		} else {
			d.serve(ctx, conn, netip.AddrPort{})
		}
	}()
	defer func() { cancel(); conn.Close(); <-done }()
	cls := make([]*net.UDPConn, burst)
	var err error
	for i := range cls {
		cls[i], err = net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
		if err != nil {
			b.Fatal(err)
		}
		defer cls[i].Close()
		rc, _ := cls[i].SyscallConn()
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
	}
	buf, oob := make([]byte, 512), make([]byte, 128)
	ages := make([]time.Duration, 0, b.N)
	req := hotRequest(1)
	b.ResetTimer()
	for i := 0; i < b.N; i += burst {
		for _, cl := range cls {
			cl.Write(req)
		}
		for _, cl := range cls {
			n, oobn, _, _, err := cl.ReadMsgUDP(buf, oob)
			if err != nil || n != 48 {
				b.Fatal(err)
			}
			t4, ok := kernelRxTime(oob[:oobn])
			if !ok {
				b.Fatal("no kernel timestamp")
			}
			ages = append(ages, t4.Sub(ntp.Timestamp(binary.BigEndian.Uint64(buf[40:48]))))
		}
	}
	b.StopTimer()
	slices.Sort(ages)
	b.ReportMetric(float64(ages[len(ages)/2])/1e3, "t4-t3-p50-us")
	b.ReportMetric(float64(ages[len(ages)*99/100])/1e3, "t4-t3-p99-us")
}

// drainCount reads what is queued on c without waiting.
func drainCount(t *testing.T, c *net.UDPConn) int {
	t.Helper()
	n := 0
	buf := make([]byte, 512)
	for {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			return n
		}
		n++
	}
}

// The steering program sends every client to the group's first socket;
// without it the kernel spreads clients by address hash.
func TestSteering(t *testing.T) {
	conns, err := listenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	send := func() {
		for i := 0; i < 64; i++ {
			cl, err := net.DialUDP("udp4", nil, conns[0].LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			cl.Write(hotRequest(uint64(i)))
			cl.Close()
		}
	}
	if err := setSpread(conns[0], false); err != nil {
		t.Skipf("reuseport BPF unavailable: %v", err)
	}
	send()
	if a, b := drainCount(t, conns[0]), drainCount(t, conns[1]); a != 64 || b != 0 {
		t.Fatalf("concentrated: %d and %d datagrams, want 64 and 0", a, b)
	}
	if err := setSpread(conns[0], true); err != nil {
		t.Fatal(err)
	}
	send()
	if a, b := drainCount(t, conns[0]), drainCount(t, conns[1]); a+b != 64 || a == 0 || b == 0 {
		t.Fatalf("spread: %d and %d datagrams", a, b)
	}
}

// The first loop spreads when its socket is busy more than half of a
// window and concentrates again when the group is mostly idle.
func TestSteeringDecision(t *testing.T) {
	conns, err := listenGroup(netip.MustParseAddrPort("127.0.0.1:0"), 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err := setSpread(conns[0], false); err != nil {
		t.Skipf("reuseport BPF unavailable: %v", err)
	}
	g := &hotGroup{steer: true, busy: make([]atomic.Int64, 2)}
	window := func(busy0, busy1 time.Duration) {
		g.winStart = time.Now().Add(-200 * time.Millisecond)
		g.busy[0].Store(int64(busy0))
		g.busy[1].Store(int64(busy1))
		g.account(0, conns[0])
	}
	steps := []struct {
		busy0, busy1 time.Duration
		spread       bool
	}{
		{50 * time.Millisecond, 0, false},                     // a quarter busy: stay
		{150 * time.Millisecond, 0, true},                     // three quarters: spread
		{40 * time.Millisecond, 40 * time.Millisecond, true},  // 0.4 of a core: stay spread
		{10 * time.Millisecond, 20 * time.Millisecond, false}, // idle: concentrate
	}
	for i, st := range steps {
		window(st.busy0, st.busy1)
		if g.spread != st.spread {
			t.Fatalf("step %d: spread %v, want %v", i, g.spread, st.spread)
		}
	}
	// Only the first loop decides, and only once a window has passed.
	g.busy[0].Store(int64(time.Second))
	g.account(1, conns[1])
	g.winStart = time.Now()
	g.account(0, conns[0])
	if g.spread {
		t.Fatal("decided early or from another loop")
	}
}
