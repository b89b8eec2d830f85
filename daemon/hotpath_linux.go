//go:build linux

package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// The Linux hot path: per listen address, one SO_REUSEPORT socket per
// usable CPU (GOMAXPROCS), so the kernel spreads clients over the sockets by
// their address hash; per socket, one goroutine that receives up to
// hotBatch datagrams per recvmmsg call, answers them with the ordinary
// packet logic (worker.handlePacket: restrict flags, MRU rate limiting,
// Respond, the mode 6 responder), and sends the replies: one by one as
// they are built when the batch is small, with sendmmsg under load.
//
// The goroutine never blocks a thread in a system call: recvmmsg, sendto
// and sendmmsg run with MSG_DONTWAIT inside syscall.RawConn callbacks, as
// raw system calls (no scheduler hand-off: they cannot block), and when
// the socket is empty the callback returns false, so the goroutine parks in
// the runtime network poller until the socket is ready. This keeps latency
// low with GOMAXPROCS=1.
//
// Receive times are the kernel's (SO_TIMESTAMPNS, parsed from the control
// message without allocation). The transmit timestamp of every mode 4 reply
// is rewritten right before the system call that sends it; within a
// sendmmsg batch it is advanced by the measured kernel time per datagram
// so that every reply carries the time it actually leaves. Nothing on the
// mode 3 path allocates (BenchmarkHotPathLoop).

// hotBatch is the number of datagrams received (and replies sent) per
// system call.
const hotBatch = 32

const (
	hotRecvSize = 2048 // receive buffer per datagram (longer ones are dropped)
	hotSendSize = 1024 // reply slot; larger replies are sent on their own
	hotOOBSize  = 64   // room for one SCM_TIMESTAMPNS message
	sockaddrLen = unix.SizeofSockaddrInet6
)

// hotSockets is the number of sockets per listen address.
func hotSockets() int { return max(1, runtime.GOMAXPROCS(0)) }

// listenGroup opens n UDP sockets bound to a with SO_REUSEPORT (when a's
// port is 0, the first socket picks it and the others join it), each with
// SO_TIMESTAMPNS when kernelTS. On error it closes what it opened.
func listenGroup(a netip.AddrPort, n int, kernelTS bool) ([]*net.UDPConn, error) {
	network := "udp4"
	if !a.Addr().Unmap().Is4() {
		network = "udp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			// Absorb bursts (best effort; capped at net.core.rmem_max).
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
			if serr == nil && kernelTS {
				// Silently do without kernel timestamps when refused.
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			}
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("SO_REUSEPORT: %w", serr)
		}
		return nil
	}}
	var conns []*net.UDPConn
	addr := a
	for i := 0; i < max(1, n); i++ {
		pc, err := lc.ListenPacket(context.Background(), network, addr.String())
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		c := pc.(*net.UDPConn)
		if i == 0 {
			la := c.LocalAddr().(*net.UDPAddr).AddrPort()
			addr = netip.AddrPortFrom(a.Addr(), la.Port())
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// hotConn is the state of one socket's loop. It is used by one goroutine
// only and is allocated once; every buffer the system calls see lives here.
type hotConn struct {
	d    *Daemon
	w    *worker
	c    *net.UDPConn
	rc   syscall.RawConn
	fam  uint16 // AF_INET or AF_INET6
	rxTS bool   // kernel timestamps requested

	rmsgs [hotBatch]unix.Mmsghdr
	riov  [hotBatch]unix.Iovec
	rname [hotBatch][sockaddrLen]byte
	roob  [hotBatch][hotOOBSize]byte
	rbuf  [hotBatch][hotRecvSize]byte
	rn    int
	rerr  syscall.Errno
	// drained: the last recvmmsg returned fewer datagrams than asked for
	drained bool

	smsgs  [hotBatch]unix.Mmsghdr
	siov   [hotBatch]unix.Iovec
	sname  [hotBatch][sockaddrLen]byte
	sbuf   [hotBatch][hotSendSize]byte
	sn     int // replies queued
	sdone  int // next reply to hand to the kernel
	slimit int // end of the range being sent
	serr   syscall.Errno
	// perDgram: smoothed kernel time per datagram of a sendmmsg batch
	perDgram time.Duration

	cur    netip.AddrPort // source of the datagram being handled
	curRaw int            // its index in rname

	g   *hotGroup // nil for a lone socket
	idx int       // index in g

	recvFn  func(fd uintptr) bool
	serveFn func(fd uintptr) bool
	sendFn  func(fd uintptr) bool
}

func newHotConn(d *Daemon, c *net.UDPConn) (*hotConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	h := &hotConn{d: d, c: c, rc: rc, fam: unix.AF_INET, rxTS: d.kernelTS}
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && !la.AddrPort().Addr().Unmap().Is4() {
		h.fam = unix.AF_INET6
	}
	h.w = d.newWorker(h)
	for i := range h.rmsgs {
		h.riov[i].Base = &h.rbuf[i][0]
		h.riov[i].SetLen(hotRecvSize)
		m := &h.rmsgs[i].Hdr
		m.Name = &h.rname[i][0]
		m.Iov = &h.riov[i]
		m.SetIovlen(1)
		m.Control = &h.roob[i][0]
		h.smsgs[i].Hdr.Name = &h.sname[i][0]
		h.smsgs[i].Hdr.Iov = &h.siov[i]
		h.smsgs[i].Hdr.SetIovlen(1)
		h.siov[i].Base = &h.sbuf[i][0]
	}
	h.curRaw = -1
	h.recvFn = h.recv
	h.serveFn = h.serveReady
	h.sendFn = h.sendBatch
	return h, nil
}

// recv receives one batch: a non-blocking recvmmsg. It returns false on
// EAGAIN (and true with h.rn = 0 on EINTR, with h.rerr set on other
// errors). As a RawConn.Read callback it receives one batch per call.
//
// It is a raw system call: it never blocks (MSG_DONTWAIT), and the
// ordinary wrapper tells the scheduler, which wakes the runtime's monitor
// thread when that sleeps: on an idle server a second thread wake-up per
// burst of requests, on another CPU, on the path of the reply (tens of
// microseconds when that CPU has to be woken, as on a virtual machine).
func (h *hotConn) recv(fd uintptr) bool {
	for i := range h.rmsgs {
		h.rmsgs[i].Hdr.Namelen = sockaddrLen
		h.rmsgs[i].Hdr.SetControllen(hotOOBSize)
		h.rmsgs[i].Hdr.Flags = 0
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&h.rmsgs[0])), hotBatch, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
		h.rn, h.rerr = int(n), 0
	case unix.EAGAIN:
		h.rn = 0
		return false
	case unix.EINTR:
		h.rn, h.rerr = 0, 0
	default:
		h.rn, h.rerr = 0, e
	}
	return true
}

// serveReady is the loop's RawConn.Read callback: it receives and answers
// batches until the socket is empty, and returns false to park in the
// runtime poller, or true on a receive error (in h.rerr) or after
// hotMaxBatches batches without a pause.
//
// After a batch that emptied the socket (fewer datagrams than asked for) it
// parks without the recvmmsg that would only say EAGAIN: the poller is
// edge-triggered and the readiness it records is only reset when a Read
// call starts, so a datagram that arrived since the batch makes the wait
// return at once. (That is why the loop runs in one Read call while it can.)
//
// The bound matters under a flood that never lets the socket empty: the
// Read call holds the descriptor, so closing the socket (shutdown) waits
// for the callback to return.
func (h *hotConn) serveReady(fd uintptr) bool {
	for range hotMaxBatches {
		if h.drained {
			h.drained = false
			return false
		}
		if !h.recv(fd) {
			return false
		}
		if h.rerr != 0 {
			return true
		}
		if h.rn == 0 {
			continue // EINTR
		}
		h.drained = h.rn < hotBatch
		if h.g != nil {
			// The steering decision runs after every batch, not only
			// before parking: under overload the first socket never
			// parks, and that is when the group must spread.
			t0 := time.Now()
			h.handleBatch()
			h.g.busy[h.idx].Add(int64(time.Since(t0)))
			h.g.account(h.idx, h.c)
		} else {
			h.handleBatch()
		}
	}
	return true
}

// hotMaxBatches is the most batches one Read call of the loop answers
// before it returns (see serveReady).
const hotMaxBatches = 256

// sendBatch is the RawConn.Write callback: the queued replies [sdone,
// slimit), one reply with sendto, more with sendmmsg. The transmit
// timestamps are written right before the system call; in a sendmmsg
// batch, reply j's is advanced by j times the kernel's time per datagram
// (h.perDgram, measured on the previous batches), so that it is the time
// that reply actually leaves rather than the time the batch started. A
// datagram the kernel refuses is skipped (counted as a send error) so one
// bad destination cannot stall the batch.
func (h *hotConn) sendBatch(fd uintptr) bool {
	for h.sdone < h.slimit {
		var n uintptr
		var e syscall.Errno
		// Raw system calls, as in recv: MSG_DONTWAIT never blocks.
		if i := h.sdone; h.slimit-i == 1 {
			h.stamp(i, ntp.TimestampFromTime(h.d.clock.Now()))
			_, _, e = unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&h.sbuf[i][0])), uintptr(h.siov[i].Len),
				unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&h.sname[i][0])), uintptr(h.smsgs[i].Hdr.Namelen))
			n = 1
		} else {
			t0 := time.Now()
			tx := h.d.clock.Now()
			for j := i; j < h.slimit; j++ {
				h.stamp(j, ntp.TimestampFromTime(tx.Add(time.Duration(j-i)*h.perDgram)))
			}
			n, _, e = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&h.smsgs[i])), uintptr(h.slimit-i), unix.MSG_DONTWAIT, 0, 0)
			if e == 0 && n > 0 {
				// Smoothed, and capped so that one preemption in the
				// kernel does not push later stamps into the future.
				per := min(time.Since(t0)/time.Duration(n), maxPerDgram)
				h.perDgram += (per - h.perDgram) / 8
			}
		}
		switch {
		case e == unix.EAGAIN:
			return false
		case e == unix.EINTR:
			continue
		case e != 0:
			h.serr = e
			h.d.metrics.drop(h.sbuf[h.sdone][0]&7, dropSendError)
			h.sdone++
		default:
			h.sdone += int(n)
		}
	}
	return true
}

// maxPerDgram caps the measured kernel time per datagram of a sendmmsg
// batch (on loopback it is one to three microseconds).
const maxPerDgram = 10 * time.Microsecond

// send queues one reply (the worker's sender). The transmit timestamp of a
// mode 4 reply is rewritten at flush time.
func (h *hotConn) send(pkt []byte, to netip.AddrPort) error {
	if len(pkt) > hotSendSize {
		// Not an NTP reply; the slow way, in order.
		h.flush()
		_, err := h.c.WriteToUDPAddrPort(pkt, to)
		return err
	}
	if h.sn == hotBatch {
		h.flush()
	}
	i := h.sn
	copy(h.sbuf[i][:], pkt)
	h.siov[i].SetLen(len(pkt))
	nl := h.putSockaddr(&h.sname[i], to)
	h.smsgs[i].Hdr.Namelen = uint32(nl)
	h.sn++
	return nil
}

// putSockaddr writes to as a raw sockaddr of the socket's family. A reply to
// the datagram being handled reuses its raw source address (keeping an IPv6
// scope id).
func (h *hotConn) putSockaddr(dst *[sockaddrLen]byte, to netip.AddrPort) int {
	if to == h.cur && h.curRaw >= 0 {
		*dst = h.rname[h.curRaw]
		return int(h.rmsgs[h.curRaw].Hdr.Namelen)
	}
	clear(dst[:])
	binary.BigEndian.PutUint16(dst[2:4], to.Port())
	ip := to.Addr()
	if h.fam == unix.AF_INET {
		binary.NativeEndian.PutUint16(dst[0:2], unix.AF_INET)
		a := ip.Unmap().As4()
		copy(dst[4:8], a[:])
		return unix.SizeofSockaddrInet4
	}
	binary.NativeEndian.PutUint16(dst[0:2], unix.AF_INET6)
	a := ip.As16()
	copy(dst[8:24], a[:])
	return unix.SizeofSockaddrInet6
}

// flush sends the queued replies, each mode 4 reply stamped with the
// current time right before its system call.
func (h *hotConn) flush() {
	if h.sn == 0 {
		return
	}
	n := h.sn
	if n > hotSmallBatch {
		// Under load: one system call for all (h.sn <= hotBatch).
		h.sendRange(0, n)
	} else {
		// Every reply stamped right before its own send, so that no reply
		// waits for the kernel to process the ones before.
		for i := 0; i < n; i++ {
			h.sendRange(i, i+1)
		}
	}
	h.sn, h.sdone = 0, 0
}

// hotSmallBatch is the largest batch whose replies are stamped and sent one
// by one, each as soon as it is built. Larger batches (overload: the
// socket filled up while the loop was busy) go out with sendmmsg, which
// saves a system call per reply, the most expensive part of a reply after
// the kernel's own work (on a virtual machine especially).
const hotSmallBatch = hotBatch / 2

// stamp writes tx into the transmit timestamp of queued reply i when it is
// an unauthenticated mode 4 reply (a MAC covers the timestamp of an
// authenticated one).
func (h *hotConn) stamp(i int, tx ntp.Timestamp) {
	if int(h.siov[i].Len) == ntp.HeaderLen && h.sbuf[i][0]&7 == byte(ntp.ModeServer) {
		binary.BigEndian.PutUint64(h.sbuf[i][40:48], uint64(tx))
	}
}

// sendRange hands the queued replies [from, to) to the kernel.
func (h *hotConn) sendRange(from, to int) {
	h.sdone, h.slimit = from, to
	if err := h.rc.Write(h.sendFn); err != nil {
		for ; h.sdone < to; h.sdone++ {
			h.d.metrics.drop(h.sbuf[h.sdone][0]&7, dropSendError)
		}
	}
}

// parseSockaddr reads a raw sockaddr_in / sockaddr_in6 without allocating
// (an IPv6 scope id is not carried into the address; replies reuse the raw
// form).
func parseSockaddr(b []byte) (netip.AddrPort, bool) {
	if len(b) < 2 {
		return netip.AddrPort{}, false
	}
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		if len(b) < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4])), true
	case unix.AF_INET6:
		if len(b) < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), binary.BigEndian.Uint16(b[2:4])), true
	}
	return netip.AddrPort{}, false
}

// handleBatch answers the h.rn datagrams just received. Replies to a small
// batch leave as soon as each is built; a large one (overload) is sent in
// chunks at the end.
func (h *hotConn) handleBatch() {
	d := h.d
	now := h.rn <= hotSmallBatch
	for i := 0; i < h.rn; i++ {
		m := &h.rmsgs[i]
		n := int(m.Len)
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 || n > hotRecvSize {
			d.metrics.drop(0, dropShort) // longer than any request we answer
			continue
		}
		from, ok := parseSockaddr(h.rname[i][:min(int(m.Hdr.Namelen), sockaddrLen)])
		if !ok {
			continue
		}
		var rx ntp.Timestamp
		ok = false
		if h.rxTS {
			rx, ok = kernelRxTime(h.roob[i][:min(int(m.Hdr.Controllen), hotOOBSize)])
		}
		if !ok {
			rx = ntp.TimestampFromTime(d.clock.Now())
		}
		h.cur, h.curRaw = from, i
		h.w.handlePacket(h.rbuf[i][:n], from, rx)
		if now {
			h.flush()
		}
	}
	h.cur, h.curRaw = netip.AddrPort{}, -1
	h.flush()
}

// serveHot runs the loop on c until it is closed.
func (d *Daemon) serveHot(ctx context.Context, c *net.UDPConn, local netip.AddrPort) {
	h, err := newHotConn(d, c)
	if err != nil {
		d.log.Warn("hot path unavailable; using the portable loop", "addr", local.String(), "err", err)
		d.serve(ctx, c, local)
		return
	}
	h.loop(ctx, local)
}

func (h *hotConn) loop(ctx context.Context, local netip.AddrPort) {
	for ctx.Err() == nil {
		h.drained = false // a Read call starts with a recvmmsg
		if err := h.rc.Read(h.serveFn); err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			h.d.log.Debug("receive", "addr", local.String(), "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if h.rerr != 0 {
			if ctx.Err() != nil {
				return
			}
			h.d.log.Debug("recvmmsg", "addr", local.String(), "err", h.rerr)
			h.rerr = 0
			time.Sleep(10 * time.Millisecond) // never spin on a persistent error
		}
	}
}

// Steering. Spreading clients over one socket per core costs CPU at
// moderate rates: every socket wakes its goroutine for smaller batches,
// and waking goroutines on several threads costs the runtime more than the
// packets cost the daemon. So a group starts with a classic BPF program
// that sends every datagram to its first socket, and spreads (by detaching
// the program; the kernel then picks a socket by the client's address
// hash) when that socket's goroutine is busy more than half of the time. It
// concentrates again when the whole group's busy time falls under a
// quarter of one core. The decision runs in the first socket's loop every
// hotWindow, from busy times the loops add up without locking.

const hotWindow = 100 * time.Millisecond

type hotGroup struct {
	steer    bool // the program could be attached
	spread   bool // no program attached (only the first loop touches it)
	winStart time.Time
	busy     []atomic.Int64 // ns spent handling batches in this window
}

var steerToFirst = []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}

// setSpread attaches (spread=false) or detaches the steering program.
func setSpread(c *net.UDPConn, spread bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if spread {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DETACH_REUSEPORT_BPF, 0)
			return
		}
		prog := unix.SockFprog{Len: uint16(len(steerToFirst)), Filter: &steerToFirst[0]}
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &prog)
	})
	if err != nil {
		return err
	}
	return serr
}

// account is called by every loop before it waits; the first socket's loop
// also decides about spreading at the end of each window (c is its socket).
func (g *hotGroup) account(idx int, c *net.UDPConn) {
	if idx != 0 || !g.steer {
		return
	}
	now := time.Now()
	el := now.Sub(g.winStart)
	if el < hotWindow {
		return
	}
	first := time.Duration(g.busy[0].Swap(0))
	total := first
	for i := 1; i < len(g.busy); i++ {
		total += time.Duration(g.busy[i].Swap(0))
	}
	g.winStart = now
	switch {
	case !g.spread && first > el/2:
		if setSpread(c, true) == nil {
			g.spread = true
		}
	case g.spread && total < el/4:
		if setSpread(c, false) == nil {
			g.spread = false
		}
	}
}

// listen binds the sockets for one server address: hotSockets() sockets
// sharing it with SO_REUSEPORT. The first is returned (it is the address's
// entry in d.conns); the others are kept in d.siblings at the same index.
// Where SO_REUSEPORT is refused, one ordinary socket serves the address.
func (d *Daemon) listen(a netip.AddrPort) (*net.UDPConn, error) {
	cs, err := listenGroup(a, hotSockets(), d.kernelTS)
	if err != nil {
		c, err2 := listenUDP(a, d.kernelTS)
		if err2 != nil {
			return nil, err2
		}
		d.siblings = append(d.siblings, nil)
		return c, nil
	}
	d.siblings = append(d.siblings, cs[1:])
	return cs[0], nil
}

// serveAll starts one hot-path goroutine per socket (wg counts them).
func (d *Daemon) serveAll(ctx context.Context, wg *sync.WaitGroup) {
	for i, c := range d.conns {
		group := []*net.UDPConn{c}
		if i < len(d.siblings) {
			group = append(group, d.siblings[i]...)
		}
		d.serveGroup(ctx, wg, group, d.addrs[i])
	}
}

// serveGroup starts the loops of one address's sockets.
func (d *Daemon) serveGroup(ctx context.Context, wg *sync.WaitGroup, conns []*net.UDPConn, local netip.AddrPort) {
	var g *hotGroup
	if len(conns) > 1 {
		g = &hotGroup{busy: make([]atomic.Int64, len(conns)), winStart: time.Now()}
		// Without the program the kernel spreads by address hash.
		g.steer = setSpread(conns[0], false) == nil
		g.spread = !g.steer
	}
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := newHotConn(d, c)
			if err != nil {
				d.log.Warn("hot path unavailable; using the portable loop", "addr", local.String(), "err", err)
				d.serve(ctx, c, local)
				return
			}
			h.g, h.idx = g, i
			h.loop(ctx, local)
		}()
	}
}

// closeConns closes every server socket (which ends the loops).
func (d *Daemon) closeConns() {
	for _, c := range d.conns {
		c.Close()
	}
	for _, g := range d.siblings {
		for _, c := range g {
			c.Close()
		}
	}
}
