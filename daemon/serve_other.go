//go:build !linux

package daemon

import (
	"context"
	"net"
	"net/netip"
	"sync"
)

// Portable socket layer: one socket and one goroutine per address (the
// Linux build uses the batched SO_REUSEPORT hot path in hotpath_linux.go).

func (d *Daemon) listen(a netip.AddrPort) (*net.UDPConn, error) {
	d.siblings = append(d.siblings, nil)
	return listenUDP(a, d.kernelTS)
}

func (d *Daemon) serveAll(ctx context.Context, wg *sync.WaitGroup) {
	for i, c := range d.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.serve(ctx, c, d.addrs[i])
		}()
	}
}

func (d *Daemon) closeConns() {
	for _, c := range d.conns {
		c.Close()
	}
}
