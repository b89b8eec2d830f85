//go:build !linux

package loadgen

import (
	"net"
	"time"
)

// Portable fallback: one system call per datagram, user-space receive
// times.

const (
	batch   = 32
	bufSize = 640
)

type batchConn struct {
	c   *net.UDPConn
	buf [bufSize]byte
}

func newBatchConn(c *net.UDPConn) (*batchConn, error) { return &batchConn{c: c}, nil }

func (b *batchConn) send(pkts [][]byte) int {
	n := 0
	for _, p := range pkts {
		if _, err := b.c.Write(p); err == nil {
			n++
		}
	}
	return n
}

func (b *batchConn) recv(f func(pkt []byte, rx time.Time)) error {
	n, err := b.c.Read(b.buf[:])
	if err != nil {
		return err
	}
	f(b.buf[:n], time.Now())
	return nil
}
