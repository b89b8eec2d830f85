package chrony

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeChronyd answers from the live captures, like chronyd would have.
type fakeChronyd struct {
	tracking    []byte
	nSources    []byte
	sourceData  [][]byte
	sourceStats [][]byte
	ntpData     map[netip.Addr][]byte

	mu        sync.Mutex
	drop      int  // drop this many requests first
	stale     bool // send a reply with an old sequence number first
	refuseNTP bool // answer NTP_DATA "not authorised" (as chronyd over UDP)
	silent    bool // never answer
	seen      []Request
}

func newFake(t *testing.T) *fakeChronyd {
	t.Helper()
	f := &fakeChronyd{ntpData: map[netip.Addr][]byte{}}
	for _, c := range loadCaptures(t) {
		for _, e := range c.Exchanges {
			req, rpy := e.bytes(t)
			r, err := ParseRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			switch r.Command {
			case CmdTracking:
				f.tracking = rpy
			case CmdNSources:
				f.nSources = rpy
			case CmdSourceData:
				f.sourceData = append(f.sourceData, rpy)
			case CmdSourceStats:
				f.sourceStats = append(f.sourceStats, rpy)
			case CmdNTPData:
				f.ntpData[r.Addr] = rpy
			}
		}
	}
	return f
}

// answer returns the replies to send for one request datagram.
func (f *fakeChronyd) answer(pkt []byte) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := ParseRequest(pkt)
	if err != nil {
		return nil
	}
	f.seen = append(f.seen, r)
	if f.silent {
		return nil
	}
	if f.drop > 0 {
		f.drop--
		return nil
	}
	var rpy []byte
	pick := func(list [][]byte, i uint32) []byte {
		if int(i) < len(list) {
			return list[i]
		}
		return reply(r.Command, RpyNull, StatusNoSuchSource, 0)
	}
	switch {
	case len(pkt) < RequestLen(r.Command) && !(r.Command == CmdNTPData && len(pkt) >= ReplyHeaderLen+ntpDataLen):
		rpy = reply(r.Command, RpyNull, StatusBadPktLength, 0)
	case r.Command == CmdTracking:
		rpy = f.tracking
	case r.Command == CmdNSources:
		rpy = f.nSources
	case r.Command == CmdSourceData:
		rpy = pick(f.sourceData, r.Index)
	case r.Command == CmdSourceStats:
		rpy = pick(f.sourceStats, r.Index)
	case r.Command == CmdNTPData && f.refuseNTP:
		rpy = reply(r.Command, RpyNull, StatusUnauth, 0)
	case r.Command == CmdNTPData:
		if rpy = f.ntpData[r.Addr]; rpy == nil {
			rpy = reply(r.Command, RpyNull, StatusNoSuchSource, 0)
		}
	}
	rpy = append([]byte(nil), rpy...)
	binary.BigEndian.PutUint32(rpy[16:], r.Sequence)
	out := [][]byte{rpy}
	if f.stale {
		old := append([]byte(nil), rpy...)
		binary.BigEndian.PutUint32(old[16:], r.Sequence-1)
		out = [][]byte{old, []byte("garbage"), rpy}
	}
	return out
}

// pipe starts the fake behind an in-memory connection.
func (f *fakeChronyd) pipe(t *testing.T) Options {
	return Options{Addr: "fake", Timeout: 100 * time.Millisecond, Dial: func(context.Context) (net.Conn, error) {
		cl, srv := net.Pipe()
		go func() {
			buf := make([]byte, 2048)
			for {
				n, err := srv.Read(buf)
				if err != nil {
					return
				}
				for _, r := range f.answer(buf[:n]) {
					if _, err := srv.Write(r); err != nil {
						return
					}
				}
			}
		}()
		t.Cleanup(func() { srv.Close() })
		return cl, nil
	}}
}

// serve answers on a datagram socket (UDP or unixgram).
func (f *fakeChronyd) serve(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		for _, r := range f.answer(buf[:n]) {
			_, _ = pc.WriteTo(r, from)
		}
	}
}

func dialFake(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := Dial(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClient(t *testing.T) {
	f := newFake(t)
	c := dialFake(t, f.pipe(t))
	ctx := context.Background()
	tr, err := c.Tracking(ctx)
	if err != nil || tr.RefName() == "" {
		t.Fatalf("tracking %+v, %v", tr, err)
	}
	srcs, err := c.Sources(ctx)
	if err != nil || len(srcs) != 7 || srcs[0].Name() != "GPS0" || srcs[6].Name() != "::1" {
		t.Fatalf("sources %+v, %v", srcs, err)
	}
	stats, err := c.SourceStats(ctx)
	if err != nil || len(stats) != 7 || stats[1].Addr.String() != "127.0.0.2" || stats[1].Samples == 0 {
		t.Fatalf("sourcestats %+v, %v", stats, err)
	}
	if _, err := c.Source(ctx, 99); !errors.Is(err, ErrNoSuchSource) {
		t.Errorf("source 99: %v", err)
	}
	if _, err := c.NTPData(ctx, Address{}); !errors.Is(err, ErrNoSuchSource) {
		t.Errorf("ntpdata without address: %v", err)
	}
	// sequence numbers advance; every request is padded
	f.mu.Lock()
	seen := f.seen
	f.mu.Unlock()
	for i := 1; i < len(seen); i++ {
		if seen[i].Sequence != seen[i-1].Sequence+1 || seen[i].Attempt != 0 {
			t.Errorf("request %d: %+v after %+v", i, seen[i], seen[i-1])
		}
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if _, err := c.Tracking(ctx); err == nil {
		t.Error("closed client answered")
	}
}

func TestClientRetryAndStale(t *testing.T) {
	f := newFake(t)
	f.drop, f.stale = 1, true
	c := dialFake(t, f.pipe(t))
	if _, err := c.Tracking(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 2 || f.seen[1].Attempt != 1 || f.seen[1].Sequence != f.seen[0].Sequence {
		t.Errorf("want a resend with attempt 1 and the same sequence: %+v", f.seen)
	}
}

func TestClientTimeout(t *testing.T) {
	f := newFake(t)
	f.silent = true
	opts := f.pipe(t)
	opts.Timeout = 20 * time.Millisecond
	c := dialFake(t, opts)
	if _, err := c.Tracking(context.Background()); !errors.Is(err, ErrTimeout) {
		t.Errorf("silent chronyd: %v", err)
	}
	f.mu.Lock()
	if n := len(f.seen); n != 3 {
		t.Errorf("%d attempts, want 3 (2 retries)", n)
	}
	f.mu.Unlock()
	// the context's deadline wins over the retry schedule
	opts.Timeout = time.Hour
	c = dialFake(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.Tracking(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
	// so does cancellation
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.Tracking(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v", err)
	}
}

func TestUDPAndDetect(t *testing.T) {
	f := newFake(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go f.serve(pc)
	addr := pc.LocalAddr().String()
	ctx := context.Background()
	if err := Detect(ctx, addr, time.Second); err != nil {
		t.Errorf("Detect(%s): %v", addr, err)
	}
	c := dialFake(t, Options{Addr: addr})
	if tr, err := c.Tracking(ctx); err != nil || !tr.Synchronised() {
		t.Errorf("tracking over UDP: %+v, %v", tr, err)
	}
	if c.Addr() != addr {
		t.Errorf("Addr() = %s", c.Addr())
	}

	// nothing listening: refused at once (the timeout is far away)
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.LocalAddr().String()
	closed.Close()
	if err := Detect(ctx, closedAddr, 10*time.Second); err == nil || errors.Is(err, ErrTimeout) {
		t.Errorf("Detect(closed port): %v, want connection refused", err)
	}
	// listening but silent (e.g. ntpd on the port): a timeout
	f2 := newFake(t)
	f2.silent = true
	pc2, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc2.Close()
	go f2.serve(pc2)
	if err := Detect(ctx, pc2.LocalAddr().String(), 50*time.Millisecond); err == nil {
		t.Error("Detect(silent) succeeded")
	}
	// a bare host gets port 323
	c2, err := Dial(ctx, Options{Addr: "::1"})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer c2.Close()
	if c2.Addr() != "[::1]:323" {
		t.Errorf("Addr() = %s", c2.Addr())
	}
}

func TestUnixSocket(t *testing.T) {
	f := newFake(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "chronyd.sock")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go f.serve(pc)
	ctx := context.Background()
	c, err := Dial(ctx, Options{Addr: sock})
	if err != nil {
		t.Fatal(err)
	}
	peers, err := c.Peers(ctx)
	if err != nil || len(peers) != 7 || peers[3].NTP == nil || peers[6].NTP == nil {
		t.Fatalf("peers over unix socket: %+v, %v", peers, err)
	}
	if err := Detect(ctx, sock, time.Second); err != nil {
		t.Errorf("Detect(%s): %v", sock, err)
	}
	c.Close()
	if left, _ := filepath.Glob(filepath.Join(dir, "ntpkit.*.sock")); len(left) != 0 {
		t.Errorf("client sockets left behind: %v", left)
	}
	// an unwritable directory for our own socket is an error, not a hang
	if _, err := Dial(ctx, Options{Addr: sock, LocalSocketDir: filepath.Join(dir, "missing")}); err == nil {
		t.Error("bound a socket in a missing directory")
	}
	if _, err := os.Stat(sock); err != nil {
		t.Error(err)
	}
}

func TestClientVersionMismatch(t *testing.T) {
	old := reply(CmdNSources, RpyNull, StatusBadPktVersion, 0)
	old[0] = 5
	opts := Options{Addr: "old", Timeout: time.Second, Dial: func(context.Context) (net.Conn, error) {
		cl, srv := net.Pipe()
		go func() {
			buf := make([]byte, 2048)
			for {
				n, err := srv.Read(buf)
				if err != nil {
					return
				}
				r, _ := ParseRequest(buf[:n])
				binary.BigEndian.PutUint32(old[16:], r.Sequence)
				if _, err := srv.Write(old); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() { srv.Close() })
		return cl, nil
	}}
	c := dialFake(t, opts)
	if _, err := c.NumSources(context.Background()); !errors.Is(err, ErrVersion) {
		t.Errorf("version 5 reply: %v", err)
	}
}
