package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// The sync engine sends from the serving sockets (port 123): a symmetric
// peer (classic ntpd, chronyd) matches our packets to its association by
// address and port, and sends its own to our port 123. The answers to the
// engine's packets therefore arrive on the serving sockets too, and
// handlePacket hands them over.

// packetInput is implemented by engines that take the packets of modes 1,
// 2 and 4 received on the serving sockets (SyncEngine).
type packetInput interface {
	Input(pkt []byte, from netip.AddrPort, rx time.Time)
}

// senderSetter is implemented by engines that can send through the
// serving sockets (SyncEngine).
type senderSetter interface {
	SetSender(send func(pkt []byte, to netip.AddrPort) error)
}

// forwardToEngine hands a packet of mode 1, 2 or 4 to the engine; false
// when it is dropped: the engine does not take packets, or a symmetric
// packet comes from a source restricted noserve, or nopeer and not a
// configured peer.
func (d *Daemon) forwardToEngine(pkt []byte, from netip.AddrPort, rx ntp.Timestamp, flags ntpconf.RestrictFlags) bool {
	in, ok := d.engine.(packetInput)
	if !ok || len(pkt) < ntp.HeaderLen {
		return false
	}
	if ntp.Mode(pkt[0]&7) != ntp.ModeServer {
		if flags.Has(ntpconf.RestrictNoServe) || flags.Has(ntpconf.RestrictNoPeer) && !d.configuredPeer(from.Addr()) {
			return false
		}
	}
	in.Input(pkt, from, rx.Time(d.clock.Now()))
	return true
}

// configuredPeer reports whether a is the address of a "peer" line.
func (d *Daemon) configuredPeer(a netip.Addr) bool {
	for _, s := range d.cfg.Servers {
		if s.Kind != ntpconf.KindPeer {
			continue
		}
		if p, err := netip.ParseAddr(s.Address); err == nil && p.Unmap() == a.Unmap() {
			return true
		}
	}
	return false
}

// errNoServingSocket: no serving socket has the source address the kernel
// would use towards the destination (the daemon listens on other addresses
// only); the engine then sends from its own socket.
var errNoServingSocket = errors.New("no serving socket")

// sendServing sends pkt to `to` from the serving socket bound to the
// address the kernel would use as the source (or a wildcard socket).
func (d *Daemon) sendServing(pkt []byte, to netip.AddrPort) error {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	// A connected UDP socket learns its source address from the routing
	// table; nothing is sent.
	probe, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return err
	}
	src := probe.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	probe.Close()
	for i, a := range d.addrs {
		if a.Addr().Unmap() == src || a.Addr().IsUnspecified() && a.Addr().Is4() == src.Is4() {
			_, err := d.conns[i].WriteToUDPAddrPort(pkt, to)
			return err
		}
	}
	return fmt.Errorf("%w for source address %s", errNoServingSocket, src)
}
