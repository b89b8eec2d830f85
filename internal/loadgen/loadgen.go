// Package loadgen is the NTP load generator behind `ntpkit bench`: it sends
// client (mode 3) or control (mode 6 READVAR) requests to a server at a fixed
// rate from many source sockets, validates every reply, and reports loss,
// round-trip percentiles and two server-side figures from the replies'
// timestamps: the server's receive-to-transmit time (T3-T2) and the age of its
// transmit timestamp when the reply arrives (T4-T3, meaningful when the
// server shares this machine's clock).
//
// Every run is bounded by its duration and by a packet budget, and by
// default only loopback targets are allowed.
package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Config describes one run at one rate.
type Config struct {
	Server      netip.AddrPort
	Rate        int           // requests per second
	Duration    time.Duration // sending time
	Sources     int           // number of source sockets (distinct source ports)
	LocalAddrs  []netip.Addr  // source addresses, used round robin (default: unspecified)
	Mode6       bool          // send READVAR requests instead of mode 3
	MaxPackets  int           // hard cap on requests sent (default Rate*Duration, at most 10M)
	AllowRemote bool          // permit a non-loopback server
	Grace       time.Duration // wait for late replies after sending stops (default 200 ms)
}

// Result summarises one run.
type Result struct {
	Offered      float64 // requests per second actually sent
	Sent         int
	Replies      int
	Invalid      int // replies that failed validation
	Loss         float64
	RTT50        time.Duration
	RTT99        time.Duration
	ServerProc50 time.Duration // T3-T2
	ServerProc99 time.Duration
	XmtAge50     time.Duration // T4-T3
	XmtAge99     time.Duration
}

// ErrRemote is returned for a non-loopback target without AllowRemote.
var ErrRemote = errors.New("loadgen: refusing a non-loopback target (use --allow-remote if you own it)")

// slot remembers one request in flight. Requests are numbered; the number
// rides in the low 20 bits of the transmit timestamp's fraction (a 1 us
// blur, irrelevant for the measurement) and indexes this ring.
type slot struct {
	sentNs atomic.Int64 // wall-clock send time (Unix ns), 0 when free
	xmt    atomic.Uint64
}

const ringBits = 20
const ringSize = 1 << ringBits

type sample struct{ rtt, proc, age time.Duration }

// Run performs one run.
//
// Requests are sent in batches (sendmmsg on Linux), round robin over the
// source sockets, and their send time is read right before the batch is
// handed to the kernel. Replies are received in batches (recvmmsg) with the
// kernel's receive timestamp (SO_TIMESTAMPNS), which is the T4 of both the
// round trip and T4-T3: the generator's own wake-up delay is not part of
// the server's figures.
func Run(ctx context.Context, c Config) (Result, error) {
	var res Result
	if !c.Server.Addr().IsLoopback() && !c.AllowRemote {
		return res, ErrRemote
	}
	if c.Rate <= 0 || c.Duration <= 0 {
		return res, fmt.Errorf("loadgen: rate and duration must be positive")
	}
	if c.Sources <= 0 {
		c.Sources = 16
	}
	if c.Grace <= 0 {
		c.Grace = 200 * time.Millisecond
	}
	limit := int(float64(c.Rate) * c.Duration.Seconds())
	if c.MaxPackets > 0 && c.MaxPackets < limit {
		limit = c.MaxPackets
	}
	if limit > 10_000_000 {
		limit = 10_000_000
	}
	conns := make([]*batchConn, 0, c.Sources)
	closed := false
	closeAll := func() {
		if !closed {
			for _, cn := range conns {
				cn.c.Close()
			}
			closed = true
		}
	}
	defer closeAll()
	for i := 0; i < c.Sources; i++ {
		var laddr *net.UDPAddr
		if len(c.LocalAddrs) > 0 {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.LocalAddrs[i%len(c.LocalAddrs)], 0))
		}
		cn, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(c.Server))
		if err != nil {
			return res, fmt.Errorf("loadgen: socket %d: %w", i, err)
		}
		_ = cn.SetReadBuffer(4 << 20)
		bc, err := newBatchConn(cn)
		if err != nil {
			cn.Close()
			return res, fmt.Errorf("loadgen: socket %d: %w", i, err)
		}
		conns = append(conns, bc)
	}
	ring := make([]slot, ringSize)

	var mu stdsync.Mutex
	samples := make([]sample, 0, min(limit, 1<<20))
	var replies, invalid atomic.Int64
	var wg stdsync.WaitGroup
	for _, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]sample, 0, 1024)
			flush := func() {
				mu.Lock()
				if len(samples)+len(local) <= cap(samples) {
					samples = append(samples, local...)
				}
				mu.Unlock()
				local = local[:0]
			}
			defer flush()
			handle := func(pkt []byte, rx time.Time) {
				s, ok := validate(pkt, c.Mode6, ring, rx)
				if !ok {
					invalid.Add(1)
					return
				}
				replies.Add(1)
				local = append(local, s)
				if len(local) == cap(local) {
					flush()
				}
			}
			for {
				if err := cn.recv(handle); err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					// ECONNREFUSED (nothing listening) and the like.
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}

	// Pace in 1 ms ticks: at each tick send what the schedule owes, in
	// batches per source socket.
	nb := len(conns)
	bufs := make([][]byte, nb*batch)
	for i := range bufs {
		bufs[i] = make([]byte, 48)
	}
	pend := make([][][]byte, nb)
	pendSeq := make([][]uint64, nb)
	for i := range pend {
		pend[i] = make([][]byte, 0, batch)
		pendSeq[i] = make([]uint64, 0, batch)
	}
	start := time.Now()
	sent := 0
	flushSock := func(i int) {
		if len(pend[i]) == 0 {
			return
		}
		t := time.Now().UnixNano()
		for _, seq := range pendSeq[i] {
			ring[seq&(ringSize-1)].sentNs.Store(t)
		}
		conns[i].send(pend[i])
		pend[i], pendSeq[i] = pend[i][:0], pendSeq[i][:0]
	}
	tick := time.NewTicker(time.Millisecond)
	deadline := start.Add(c.Duration)
	next := 0
send:
	for sent < limit {
		select {
		case <-ctx.Done():
			break send
		case now := <-tick.C:
			if now.After(deadline) {
				break send
			}
			owed := int(float64(c.Rate)*now.Sub(start).Seconds()) - sent
			xmtBase := uint64(ntp.TimestampFromTime(now)) &^ (ringSize - 1)
			for ; owed > 0 && sent < limit; owed-- {
				i := next
				next = (next + 1) % nb
				seq := uint64(sent)
				sl := &ring[seq&(ringSize-1)]
				xmt := xmtBase | seq&(ringSize-1)
				sl.xmt.Store(xmt)
				b := bufs[i*batch+len(pend[i])]
				if c.Mode6 {
					b = mode6Request(b[:12], uint16(seq))
				} else {
					b = clientRequest(b, xmt)
				}
				pend[i] = append(pend[i], b)
				pendSeq[i] = append(pendSeq[i], seq)
				if len(pend[i]) == batch {
					flushSock(i)
				}
				sent++
			}
			for i := range pend {
				flushSock(i)
			}
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	time.Sleep(c.Grace)
	closeAll()
	wg.Wait()

	res.Sent = sent
	res.Offered = float64(sent) / elapsed.Seconds()
	res.Replies = int(replies.Load())
	res.Invalid = int(invalid.Load())
	if sent > 0 {
		res.Loss = 1 - float64(res.Replies)/float64(sent)
		if res.Loss < 0 {
			res.Loss = 0
		}
	}
	res.RTT50, res.RTT99 = percentiles(samples, func(s sample) time.Duration { return s.rtt })
	if !c.Mode6 {
		res.ServerProc50, res.ServerProc99 = percentiles(samples, func(s sample) time.Duration { return s.proc })
		res.XmtAge50, res.XmtAge99 = percentiles(samples, func(s sample) time.Duration { return s.age })
	}
	return res, nil
}

func clientRequest(b []byte, xmt uint64) []byte {
	clear(b)
	b[0] = 0<<6 | 4<<3 | 3 // LI 0, VN 4, mode 3
	binary.BigEndian.PutUint64(b[40:], xmt)
	return b[:48]
}

// mode6Request is a system-variables READVAR with the sequence number that
// identifies it (mode 6 replies carry no timestamps).
func mode6Request(b []byte, seq uint16) []byte {
	clear(b)
	b[0] = 2<<3 | 6
	b[1] = 2 // READVAR
	binary.BigEndian.PutUint16(b[2:], seq)
	return b[:12]
}

func validate(b []byte, mode6 bool, ring []slot, rx time.Time) (sample, bool) {
	var s sample
	if mode6 {
		if len(b) < 12 || b[0]&7 != 6 || b[1]&0x80 == 0 {
			return s, false
		}
		seq := uint64(binary.BigEndian.Uint16(b[2:]))
		// Only the first fragment of each reply is timed.
		if binary.BigEndian.Uint16(b[8:]) != 0 {
			return s, false
		}
		// Mode 6 sequence numbers wrap at 16 bits: look up the newest
		// request with those low bits.
		for base := uint64(0); base < ringSize; base += 1 << 16 {
			sl := &ring[(seq+base)&(ringSize-1)]
			if t := sl.sentNs.Swap(0); t != 0 {
				s.rtt = time.Duration(rx.UnixNano() - t)
				return s, true
			}
		}
		return s, false
	}
	h, err := ntp.ParseHeader(b)
	if err != nil || h.Mode != ntp.ModeServer {
		return s, false
	}
	seq := uint64(h.OrigTime) & (ringSize - 1)
	sl := &ring[seq]
	if sl.xmt.Load() != uint64(h.OrigTime) {
		return s, false
	}
	t := sl.sentNs.Swap(0)
	if t == 0 {
		return s, false // duplicate
	}
	s.rtt = time.Duration(rx.UnixNano() - t)
	s.proc = h.XmitTime.Sub(h.RecvTime)
	s.age = ntp.TimestampFromTime(rx).Sub(h.XmitTime)
	return s, true
}

func percentiles(ss []sample, f func(sample) time.Duration) (p50, p99 time.Duration) {
	if len(ss) == 0 {
		return 0, 0
	}
	v := make([]time.Duration, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	return v[len(v)*50/100], v[min(len(v)-1, len(v)*99/100)]
}

// MaxRate steps the rate up through rates and returns the highest rate
// actually offered (requests per second sent, which is below the nominal
// rate when the generator itself is saturated) whose loss stayed under
// maxLoss, with every step's result. It stops at the first step over the
// loss limit, and also when the generator cannot offer 95% of a step's
// rate: higher steps would not offer more.
func MaxRate(ctx context.Context, c Config, rates []int, maxLoss float64) (best int, steps []Result, err error) {
	for _, r := range rates {
		c.Rate = r
		res, err := Run(ctx, c)
		if err != nil {
			return best, steps, err
		}
		steps = append(steps, res)
		if res.Loss >= maxLoss {
			break
		}
		best = max(best, int(res.Offered))
		if GeneratorLimited(res, r) {
			break
		}
	}
	return best, steps, nil
}

// GeneratorLimited reports whether a step offered less than 95% of its
// nominal rate: the figure is then the generator's limit, not the server's.
func GeneratorLimited(res Result, rate int) bool { return res.Offered < 0.95*float64(rate) }
