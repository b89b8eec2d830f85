//go:build linux

package loadgen

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched socket I/O for the generator: sendmmsg and recvmmsg through the
// runtime poller (MSG_DONTWAIT in RawConn callbacks, as raw system calls:
// they never block, and the ordinary wrapper would wake the runtime's
// monitor thread between reading a request's send time and sending it),
// and kernel receive
// timestamps (SO_TIMESTAMPNS), so that the generator's own scheduling
// delays do not show up in the measured round trip and so that one core can
// drive several hundred thousand requests per second.

const (
	batch   = 32
	bufSize = 640 // a mode 4 reply or one mode 6 fragment
	oobSize = 64
)

type batchConn struct {
	c  *net.UDPConn
	rc syscall.RawConn

	smsgs [batch]unix.Mmsghdr
	siov  [batch]unix.Iovec
	sn    int
	sdone int

	rmsgs [batch]unix.Mmsghdr
	riov  [batch]unix.Iovec
	rbuf  [batch][bufSize]byte
	roob  [batch][oobSize]byte
	rn    int
	rerr  syscall.Errno

	sendFn, recvFn func(uintptr) bool
}

func newBatchConn(c *net.UDPConn) (*batchConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	b := &batchConn{c: c, rc: rc}
	for i := 0; i < batch; i++ {
		b.smsgs[i].Hdr.Iov = &b.siov[i]
		b.smsgs[i].Hdr.SetIovlen(1)
		b.riov[i].Base = &b.rbuf[i][0]
		b.riov[i].SetLen(bufSize)
		b.rmsgs[i].Hdr.Iov = &b.riov[i]
		b.rmsgs[i].Hdr.SetIovlen(1)
		b.rmsgs[i].Hdr.Control = &b.roob[i][0]
	}
	b.sendFn = b.doSend
	b.recvFn = b.doRecv
	return b, nil
}

// send transmits pkts (at most batch) on the connected socket and returns
// how many the kernel took.
func (b *batchConn) send(pkts [][]byte) int {
	for i, p := range pkts {
		b.siov[i].Base = &p[0]
		b.siov[i].SetLen(len(p))
	}
	b.sn, b.sdone = len(pkts), 0
	if err := b.rc.Write(b.sendFn); err != nil {
		return b.sdone
	}
	return b.sdone
}

func (b *batchConn) doSend(fd uintptr) bool {
	for b.sdone < b.sn {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.smsgs[b.sdone])), uintptr(b.sn-b.sdone), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EAGAIN:
			return false
		case e == unix.EINTR:
		case e != 0:
			// ECONNREFUSED and the like: skip the datagram.
			b.sdone++
		default:
			b.sdone += int(n)
		}
	}
	return true
}

// recv waits for at least one datagram and calls f for each one received,
// with its kernel receive time (or the time of the call without one). It
// returns an error when the socket is closed.
func (b *batchConn) recv(f func(pkt []byte, rx time.Time)) error {
	if err := b.rc.Read(b.recvFn); err != nil {
		return err
	}
	if b.rerr != 0 {
		return nil
	}
	var now time.Time
	for i := 0; i < b.rn; i++ {
		m := &b.rmsgs[i]
		rx, ok := kernelTime(b.roob[i][:min(int(m.Hdr.Controllen), oobSize)])
		if !ok {
			if now.IsZero() {
				now = time.Now()
			}
			rx = now
		}
		f(b.rbuf[i][:min(int(m.Len), bufSize)], rx)
	}
	return nil
}

func (b *batchConn) doRecv(fd uintptr) bool {
	for i := range b.rmsgs {
		b.rmsgs[i].Hdr.SetControllen(oobSize)
		b.rmsgs[i].Hdr.Flags = 0
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rmsgs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		return false
	}
	b.rn, b.rerr = int(n), e
	if e != 0 {
		b.rn = 0
	}
	return true
}

// kernelTime parses an SCM_TIMESTAMPNS control message.
func kernelTime(oob []byte) (time.Time, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return time.Time{}, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= unix.SizeofCmsghdr+int(unsafe.Sizeof(unix.Timespec{})) {
			d := oob[unix.SizeofCmsghdr:]
			if unsafe.Sizeof(uintptr(0)) == 8 {
				return time.Unix(int64(binary.NativeEndian.Uint64(d[0:8])), int64(binary.NativeEndian.Uint64(d[8:16]))), true
			}
			return time.Unix(int64(int32(binary.NativeEndian.Uint32(d[0:4]))), int64(int32(binary.NativeEndian.Uint32(d[4:8])))), true
		}
		oob = oob[unix.CmsgSpace(l-unix.SizeofCmsghdr):]
	}
	return time.Time{}, false
}
