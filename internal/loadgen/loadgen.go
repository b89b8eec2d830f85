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
	sentNs atomic.Int64 // monotonic send time, 0 when free
	xmt    atomic.Uint64
}

const ringBits = 20
const ringSize = 1 << ringBits

type sample struct{ rtt, proc, age time.Duration }

// Run performs one run.
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
	conns := make([]*net.UDPConn, 0, c.Sources)
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
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
		conns = append(conns, cn)
	}
	ring := make([]slot, ringSize)
	epoch := time.Now()
	mono := func() int64 { return int64(time.Since(epoch)) }

	var mu stdsync.Mutex
	samples := make([]sample, 0, min(limit, 1<<20))
	var replies, invalid atomic.Int64
	var wg stdsync.WaitGroup
	stop := make(chan struct{})
	for _, cn := range conns {
		wg.Add(1)
		go func(cn *net.UDPConn) {
			defer wg.Done()
			buf := make([]byte, 2048)
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
			for {
				_ = cn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				n, err := cn.Read(buf)
				now := time.Now()
				if err != nil {
					select {
					case <-stop:
						return
					default:
						continue
					}
				}
				s, ok := validate(buf[:n], c.Mode6, ring, mono(), now)
				if !ok {
					invalid.Add(1)
					continue
				}
				replies.Add(1)
				local = append(local, s)
				if len(local) == cap(local) {
					flush()
				}
			}
		}(cn)
	}

	// Pace in 1 ms ticks: at each tick send what the schedule owes.
	req := make([]byte, 48)
	start := time.Now()
	sent := 0
	tick := time.NewTicker(time.Millisecond)
	deadline := start.Add(c.Duration)
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
			for ; owed > 0 && sent < limit; owed-- {
				seq := uint64(sent)
				sl := &ring[seq&(ringSize-1)]
				t := time.Now()
				xmt := uint64(ntp.TimestampFromTime(t))&^(ringSize-1) | seq&(ringSize-1)
				sl.xmt.Store(xmt)
				sl.sentNs.Store(mono())
				cn := conns[sent%len(conns)]
				var b []byte
				if c.Mode6 {
					b = mode6Request(req[:12], uint16(seq))
				} else {
					b = clientRequest(req, xmt)
				}
				_, _ = cn.Write(b)
				sent++
			}
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	time.Sleep(c.Grace)
	close(stop)
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

func validate(b []byte, mode6 bool, ring []slot, nowMono int64, now time.Time) (sample, bool) {
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
				s.rtt = time.Duration(nowMono - t)
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
	s.rtt = time.Duration(nowMono - t)
	s.proc = h.XmitTime.Sub(h.RecvTime)
	s.age = ntp.TimestampFromTime(now).Sub(h.XmitTime)
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

// MaxRate steps the rate up through rates and returns the highest one whose
// loss stayed under maxLoss, with every step's result.
func MaxRate(ctx context.Context, c Config, rates []int, maxLoss float64) (best int, steps []Result, err error) {
	for _, r := range rates {
		c.Rate = r
		res, err := Run(ctx, c)
		if err != nil {
			return best, steps, err
		}
		steps = append(steps, res)
		if res.Loss < maxLoss {
			best = r
		} else {
			break
		}
	}
	return best, steps, nil
}
