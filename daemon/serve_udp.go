package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// This file is the socket layer: one UDP socket per address, one goroutine
// per socket, kernel receive timestamps when available. The packet logic is
// in handle.go, reply building in reply.go and control.go.

// listenUDP binds a UDP socket and, if kernelTS, asks for SO_TIMESTAMPNS
// receive timestamps (silently doing without when refused).
func listenUDP(a netip.AddrPort, kernelTS bool) (*net.UDPConn, error) {
	network := "udp4"
	if !a.Addr().Unmap().Is4() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(a))
	if err != nil {
		return nil, err
	}
	if kernelTS {
		if rc, err := c.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			})
		}
	}
	return c, nil
}

type udpSender struct{ c *net.UDPConn }

func (s udpSender) send(pkt []byte, to netip.AddrPort) error {
	_, err := s.c.WriteToUDPAddrPort(pkt, to)
	return err
}

// serve reads datagrams from c until it is closed.
func (d *Daemon) serve(ctx context.Context, c *net.UDPConn, local netip.AddrPort) {
	w := d.newWorker(udpSender{c})
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			d.log.Debug("receive", "addr", local.String(), "err", err)
			time.Sleep(10 * time.Millisecond) // never spin on a persistent error
			continue
		}
		rx, ok := kernelRxTime(oob[:oobn])
		if !ok {
			rx = ntp.TimestampFromTime(d.clock.Now())
		}
		w.handlePacket(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), rx)
	}
}

// kernelRxTime extracts an SCM_TIMESTAMPNS control message without
// allocating.
func kernelRxTime(oob []byte) (ntp.Timestamp, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		// struct cmsghdr: size_t len, int level, int type.
		var l int
		var level, typ int32
		if unix.SizeofCmsghdr == 16 {
			l = int(binary.NativeEndian.Uint64(oob[0:8]))
			level = int32(binary.NativeEndian.Uint32(oob[8:12]))
			typ = int32(binary.NativeEndian.Uint32(oob[12:16]))
		} else {
			l = int(binary.NativeEndian.Uint32(oob[0:4]))
			level = int32(binary.NativeEndian.Uint32(oob[4:8]))
			typ = int32(binary.NativeEndian.Uint32(oob[8:12]))
		}
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && l >= unix.SizeofCmsghdr+16 {
			data := oob[unix.SizeofCmsghdr:]
			var sec, nsec int64
			if unix.SizeofCmsghdr == 16 {
				sec = int64(binary.NativeEndian.Uint64(data[0:8]))
				nsec = int64(binary.NativeEndian.Uint64(data[8:16]))
			} else {
				sec = int64(int32(binary.NativeEndian.Uint32(data[0:4])))
				nsec = int64(int32(binary.NativeEndian.Uint32(data[4:8])))
			}
			return ntp.TimestampFromTime(time.Unix(sec, nsec)), true
		}
		sp := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if sp > len(oob) {
			return 0, false
		}
		oob = oob[sp:]
	}
	return 0, false
}
