package daemon

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

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
	// Absorb bursts (best effort; the kernel caps it at net.core.rmem_max).
	_ = c.SetReadBuffer(4 << 20)
	if kernelTS {
		if rc, err := c.SyscallConn(); err == nil {
			_ = rc.Control(enableRxTimestamps)
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
