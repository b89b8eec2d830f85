package oneshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// Defaults of classic ntpdate.
const (
	DefaultSamples            = 4               // per server (1 with -q)
	DefaultTimeout            = 2 * time.Second // between tries
	MinTimeout                = time.Second
	TimeoutGranularity        = 200 * time.Millisecond
	DefaultVersion            = 4
	NTPPort            uint16 = 123
)

// Options configures Poll.
type Options struct {
	Samples   int           // 1..8 per server
	Timeout   time.Duration // wait for a reply, and gap after one
	Version   uint8         // request version (classic -o)
	LocalPort uint16        // 123 to use the NTP port, 0 for an ephemeral one
	Clock     clock.Clock   // reads T1 and T4; default the system clock
	// Listen opens the socket for network "udp4" or "udp6" on port;
	// default net.ListenUDP on the wildcard address.
	Listen func(network string, port uint16) (ntpsync.Socket, error)
	// Debug receives classic -d trace lines ("transmit(ip)", "receive(ip)").
	Debug io.Writer
	// OnRateKiss is called (from Poll's goroutine) when a server answers
	// with a RATE kiss-o'-death; classic prints "<ip> rate limit response
	// from server." at that moment.
	OnRateKiss func(*Server)
	// Key, when not nil, signs every request (classic -a/-k); a reply is
	// then trusted only when it carries a MAC made with the same key. An
	// untrusted reply is still recorded, but Select drops its server, as
	// classic does.
	Key *ntp.Key
}

// BindError reports that the local socket could not be opened.
type BindError struct {
	Port  uint16
	InUse bool // the port is taken (classic: "the NTP socket is in use")
	Err   error
}

func (e *BindError) Error() string {
	if e.InUse {
		return fmt.Sprintf("the NTP socket is in use: %v", e.Err)
	}
	return fmt.Sprintf("bind() fails: %v", e.Err)
}

func (e *BindError) Unwrap() error { return e.Err }

func defaultListen(network string, port uint16) (ntpsync.Socket, error) {
	addr := &net.UDPAddr{Port: int(port)}
	if network == "udp4" {
		addr.IP = net.IPv4zero
	} else {
		addr.IP = net.IPv6unspecified
	}
	lc := net.ListenConfig{}
	if port != 0 {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			return errors.Join(err, serr)
		}
	}
	pc, err := lc.ListenPacket(context.Background(), network, addr.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

type packet struct {
	ntpsync.Datagram
}

// Poll sends up to opt.Samples requests to every server, one at a time per
// server, as classic ntpdate does: the first requests to successive servers
// go out 0.2 s apart, and the next request goes opt.Timeout after
// a reply or after the previous request timed out (which shifts an empty
// sample into the filter). It returns when every server is done or ctx
// ends (the servers keep what arrived). It returns an error only when no
// socket could be opened.
func Poll(ctx context.Context, servers []*Server, opt Options) error {
	if opt.Samples <= 0 {
		opt.Samples = DefaultSamples
	}
	opt.Samples = min(opt.Samples, FilterSize)
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Version == 0 {
		opt.Version = DefaultVersion
	}
	if opt.Clock == nil {
		opt.Clock = clock.System{}
	}
	if opt.Listen == nil {
		opt.Listen = defaultListen
	}
	if len(servers) == 0 {
		return nil
	}

	// One socket per address family, as classic does.
	socks := map[bool]ntpsync.Socket{} // key: is IPv6
	for _, s := range servers {
		v6 := s.Addr.Addr().Is6()
		if _, ok := socks[v6]; ok {
			continue
		}
		network := "udp4"
		if v6 {
			network = "udp6"
		}
		sock, err := opt.Listen(network, opt.LocalPort)
		if err != nil {
			for _, o := range socks {
				o.Close()
			}
			return &BindError{Port: opt.LocalPort, InUse: errors.Is(err, syscall.EADDRINUSE), Err: err}
		}
		socks[v6] = sock
	}

	pkts := make(chan packet, 16)
	done := make(chan struct{})
	var wg stdsync.WaitGroup
	for _, sock := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				d, err := ntpsync.Receive(sock, opt.Clock, buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					select {
					case <-done:
						return
					default:
						continue // ICMP errors and the like
					}
				}
				d.Data = append([]byte(nil), d.Data...)
				select {
				case pkts <- packet{d}:
				case <-done:
					return
				}
			}
		}()
	}
	defer func() {
		close(done)
		for _, sock := range socks {
			sock.Close()
		}
		wg.Wait()
	}()

	p := &poller{opt: opt, servers: servers, socks: socks, start: time.Now()}
	// Like classic, the first requests go out one timer tick (0.2 s) apart.
	for i, s := range servers {
		s.done, s.next = false, int64(i)*int64(TimeoutGranularity)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for p.complete < len(servers) {
		select {
		case pk := <-pkts:
			p.receive(pk.Datagram)
		case <-timer.C:
			now := p.elapsed()
			for _, s := range servers {
				if !s.done && s.next <= now {
					p.transmit(s)
				}
			}
		case <-ctx.Done():
			return nil
		}
		// Re-arm for the earliest pending event.
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		var earliest int64 = -1
		for _, s := range servers {
			if !s.done && (earliest < 0 || s.next < earliest) {
				earliest = s.next
			}
		}
		if earliest >= 0 {
			timer.Reset(time.Duration(max(0, earliest-p.elapsed())))
		}
	}
	return nil
}

type poller struct {
	opt      Options
	servers  []*Server
	socks    map[bool]ntpsync.Socket
	start    time.Time
	complete int
}

func (p *poller) elapsed() int64 { return int64(time.Since(p.start)) }

func (p *poller) debugf(format string, args ...any) {
	if p.opt.Debug != nil {
		fmt.Fprintf(p.opt.Debug, format, args...)
	}
}

func (p *poller) finish(s *Server) {
	if !s.done {
		s.done = true
		p.complete++
	}
}

// transmit sends the next request to s, or marks it complete (classic
// transmit()).
func (p *poller) transmit(s *Server) {
	if s.NextPt < s.Xmits {
		s.record(0, 0) // the last request timed out
	}
	if s.NextPt >= p.opt.Samples {
		p.finish(s)
		return
	}
	p.debugf("transmit(%s)\n", s.Addr.Addr())
	xmt := ntp.TimestampFromTime(p.opt.Clock.Now())
	h := ntpsync.NewRequest(p.opt.Version, xmt)
	if k := p.opt.Key; k != nil {
		var b [ntp.HeaderLen + ntp.KeyIDLen + ntp.MaxDigestLen]byte
		h.MarshalTo(b[:ntp.HeaderLen])
		if _, err := p.socks[s.Addr.Addr().Is6()].WriteToUDPAddrPort(ntp.AppendMAC(b[:ntp.HeaderLen], k), s.Addr); err != nil {
			p.debugf("sendto(%s): %v\n", s.Addr.Addr(), err)
		}
	} else if _, err := ntpsync.Send(p.socks[s.Addr.Addr().Is6()], p.opt.Clock, s.Addr, h); err != nil {
		p.debugf("sendto(%s): %v\n", s.Addr.Addr(), err)
	}
	s.Xmt = xmt
	s.next = p.elapsed() + int64(p.opt.Timeout)
	s.Xmits++
}

// receive processes one datagram (classic receive()).
func (p *poller) receive(d ntpsync.Datagram) {
	p.debugf("receive(%s)\n", d.From.Addr())
	h, err := ntp.ParseHeader(d.Data)
	if err != nil {
		p.debugf("receive: packet length %d\n", len(d.Data))
		return
	}
	if h.Version < ntp.VersionMin || h.Version > ntp.VersionMax {
		return
	}
	if (h.Mode != ntp.ModeServer && h.Mode != ntp.ModeSymmetricPassive) || h.Stratum >= ntp.MaxStratum {
		p.debugf("receive: mode %d stratum %d\n", h.Mode, h.Stratum)
		return
	}
	var s *Server
	for _, c := range p.servers {
		if c.Addr == d.From {
			s = c
			break
		}
	}
	if s == nil || s.done {
		p.debugf("receive: server not found\n")
		return
	}
	err = ntpsync.CheckReply(&h, s.Xmt)
	reason := ntpsync.ReasonOf(err)
	if reason == ntpsync.ReasonOrigin {
		p.debugf("receive: pkt.org and peer.xmt differ\n")
		return
	}
	s.Trust <<= 1
	if k := p.opt.Key; k != nil {
		if id, err := ntp.Verify(d.Data, ntp.KeyMap{k.ID: k}); err != nil || id != k.ID {
			p.debugf("receive: authentication failed (%v)\n", err)
			s.Trust |= 1
		}
	}
	if reason == ntpsync.ReasonKiss && h.RefID == ntp.KissRate {
		s.Kiss = h.RefID
		if p.opt.OnRateKiss != nil {
			p.opt.OnRateKiss(s)
		}
		p.finish(s)
		return
	}
	s.Leap = h.Leap
	s.Stratum = h.Stratum
	if s.Stratum == 0 {
		s.Stratum = ntp.StratumUnsynchronized
	}
	s.Precision = h.Precision
	s.RootDelay = h.RootDelay
	s.RootDisp = h.RootDispersion
	s.RefID = h.RefID
	s.RefTime = h.RefTime
	s.Org = h.XmitTime
	if h.RecvTime == 0 || h.XmitTime < h.RecvTime {
		s.next = p.elapsed() + int64(p.opt.Timeout) // insane: try again later
		return
	}
	off, del := Sample(h.OrigTime, h.RecvTime, h.XmitTime, d.T4, h.Precision)
	s.record(del, off)
	if reason == ntpsync.ReasonKiss { // DENY or RSTR: keep the data, stop asking
		s.Kiss = h.RefID
		p.finish(s)
		return
	}
	if s.NextPt >= p.opt.Samples {
		p.finish(s)
		return
	}
	s.next = p.elapsed() + int64(p.opt.Timeout)
}

// Reachable reports whether the system has a route to addr (a UDP connect,
// which sends nothing), as classic checks each resolved address.
func Reachable(addr netip.Addr) bool {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, NTPPort)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}
