package sync

// The on-wire client exchange (RFC 5905 §8): build a mode 3 request, read a
// reply with its arrival time, validate it, and turn T1..T4 into offset,
// delay and dispersion. The date command (sync/oneshot) and the daemon's poll
// loop share it; neither needs anything else from this file.
//
//	T1 = request transmit (client)   T2 = request receive (server)
//	T3 = reply transmit (server)     T4 = reply receive (client)
//	offset = ((T2 - T1) + (T3 - T4)) / 2
//	delay  = (T4 - T1) - (T3 - T2)

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// ClientPrecision is the precision (log2 s) a client request claims, as
// classic ntpdate does (2^-6 s).
const ClientPrecision int8 = -6

// MaxRefAge is how old a server's reference time may be before the server
// counts as not synchronised (one day, classic ntpdate's NTP_MAXAGE).
const MaxRefAge = 86400 * time.Second

// NewRequest returns the mode 3 request classic ntpdate sends (SPEC §5):
// LI 3, the given version, stratum 0, poll 3, precision -6, root delay and
// root dispersion 1 s, refid 0, zero reference/origin/receive timestamps and
// xmt as transmit timestamp. The caller keeps xmt to match the reply's
// origin timestamp.
func NewRequest(version uint8, xmt ntp.Timestamp) ntp.Header {
	return ntp.Header{
		Leap:           ntp.LeapAlarm,
		Version:        version & 7,
		Mode:           ntp.ModeClient,
		Stratum:        0,
		Poll:           ntp.MinPoll,
		Precision:      ClientPrecision,
		RootDelay:      1 << 16,
		RootDispersion: 1 << 16,
		XmitTime:       xmt,
	}
}

// Socket is the datagram socket an exchange runs over. *net.UDPConn
// implements it; tests may substitute an in-memory one.
type Socket interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	ReadFromUDPAddrPort(b []byte) (n int, addr netip.AddrPort, err error)
	SetReadDeadline(t time.Time) error
	Close() error
}

// Datagram is one received packet with its arrival time (T4).
type Datagram struct {
	Data []byte
	From netip.AddrPort
	T4   ntp.Timestamp
	At   time.Time // arrival time as read from the clock
}

// Send marshals h and writes it to addr. It returns the transmit timestamp
// actually placed in the packet (h.XmitTime, or the clock's time when
// h.XmitTime is zero).
func Send(s Socket, clk clock.Clock, addr netip.AddrPort, h ntp.Header) (ntp.Timestamp, error) {
	if h.XmitTime == 0 {
		h.XmitTime = ntp.TimestampFromTime(clk.Now())
	}
	var b [ntp.HeaderLen]byte
	h.MarshalTo(b[:])
	if _, err := s.WriteToUDPAddrPort(b[:], addr); err != nil {
		return 0, fmt.Errorf("send to %s: %w", addr, err)
	}
	return h.XmitTime, nil
}

// Receive reads one datagram into buf and stamps its arrival with clk right
// after the read returns. The read honours the socket's deadline.
func Receive(s Socket, clk clock.Clock, buf []byte) (Datagram, error) {
	n, from, err := s.ReadFromUDPAddrPort(buf)
	now := clk.Now()
	if err != nil {
		return Datagram{}, err
	}
	return Datagram{Data: buf[:n], From: unmapAddrPort(from), T4: ntp.TimestampFromTime(now), At: now}, nil
}

func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Reason says why a reply was refused.
type Reason int

// Reasons, in the order CheckReply tests them.
const (
	ReasonShort          Reason = iota + 1 // shorter than 48 octets
	ReasonVersion                          // version outside 1..4
	ReasonMode                             // not mode 4 (server) or 2 (passive)
	ReasonStratum                          // wire stratum 16 or more
	ReasonOrigin                           // origin timestamp is not our transmit timestamp
	ReasonKiss                             // kiss-o'-death (LI 3, stratum 0); Kiss holds the code
	ReasonZeroReceive                      // receive timestamp zero
	ReasonTransmitOrder                    // transmit timestamp before receive timestamp (or zero)
	ReasonUnsynchronized                   // leap indicator 3 (alarm)
	ReasonNoStratum                        // stratum 0 (no data) or above 15
	ReasonRefTimeFuture                    // reference time later than transmit time
	ReasonRefTimeStale                     // reference time older than MaxRefAge
)

var reasonText = map[Reason]string{
	ReasonShort:          "packet too short",
	ReasonVersion:        "bad version",
	ReasonMode:           "bad mode",
	ReasonStratum:        "stratum 16 or more on the wire",
	ReasonOrigin:         "origin timestamp does not match request",
	ReasonKiss:           "kiss-o'-death",
	ReasonZeroReceive:    "zero receive timestamp",
	ReasonTransmitOrder:  "transmit timestamp before receive timestamp",
	ReasonUnsynchronized: "leap not in sync",
	ReasonNoStratum:      "strata too high",
	ReasonRefTimeFuture:  "server is very broken",
	ReasonRefTimeStale:   "server has gone too long without sync",
}

func (r Reason) String() string {
	if s, ok := reasonText[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Foreign reports whether a reply refused for r is most likely not an answer
// to our request at all (stray, duplicate or spoofed): the caller should go on
// waiting for the real reply rather than count the request as answered.
func (r Reason) Foreign() bool { return r <= ReasonOrigin }

// RejectError is the error CheckReply and CheckUsable return.
type RejectError struct {
	Reason Reason
	Kiss   ntp.RefID // the kiss code for ReasonKiss
}

func (e *RejectError) Error() string {
	if e.Reason == ReasonKiss {
		return fmt.Sprintf("kiss-o'-death %s", e.Kiss.Text())
	}
	return e.Reason.String()
}

// ReasonOf returns the Reason carried by err, or 0.
func ReasonOf(err error) Reason {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return 0
}

func reject(r Reason) error { return &RejectError{Reason: r} }

// CheckReply validates a reply to a request whose transmit timestamp was
// origin, in classic ntpdate's order: version, mode, wire stratum, origin
// match, kiss-o'-death (LI 3, stratum 0 and refid RATE, DENY or RSTR), then
// the receive and transmit timestamps.
// It returns nil or a *RejectError.
func CheckReply(h *ntp.Header, origin ntp.Timestamp) error {
	switch {
	case h.Version < ntp.VersionMin || h.Version > ntp.VersionMax:
		return reject(ReasonVersion)
	case h.Mode != ntp.ModeServer && h.Mode != ntp.ModeSymmetricPassive:
		return reject(ReasonMode)
	case h.Stratum >= ntp.MaxStratum:
		return reject(ReasonStratum)
	case h.OrigTime != origin:
		return reject(ReasonOrigin)
	case h.Leap == ntp.LeapAlarm && h.Stratum == ntp.StratumKiss && isKissCode(h.RefID):
		return &RejectError{Reason: ReasonKiss, Kiss: h.RefID}
	case h.RecvTime == 0:
		return reject(ReasonZeroReceive)
	case h.XmitTime < h.RecvTime:
		return reject(ReasonTransmitOrder)
	}
	return nil
}

// isKissCode reports whether a stratum-0 refid is one of the kiss codes a
// client must act on (RFC 5905 §7.4): RATE (reduce polling), DENY and RSTR
// (stop). Other stratum-0 codes (INIT, STEP, ...) only mean "not
// synchronised": such replies pass CheckReply and fail CheckUsable.
func isKissCode(r ntp.RefID) bool {
	return r == ntp.KissRate || r == ntp.KissDeny || r == ntp.KissRstr
}

// ParseReply parses and validates one datagram as a reply to a request
// sent with transmit timestamp origin.
func ParseReply(b []byte, origin ntp.Timestamp) (ntp.Header, error) {
	h, err := ntp.ParseHeader(b)
	if err != nil {
		return h, reject(ReasonShort)
	}
	return h, CheckReply(&h, origin)
}

// CheckUsable tells whether a validated reply comes from a server fit to
// synchronise to (classic ntpdate's selection-time tests): leap not 3,
// stratum 1..15, reference time not after the transmit time and not older
// than MaxRefAge.
func CheckUsable(h *ntp.Header) error {
	switch {
	case h.Stratum == 0 || h.Stratum >= ntp.MaxStratum:
		return reject(ReasonNoStratum)
	case h.Leap == ntp.LeapAlarm:
		return reject(ReasonUnsynchronized)
	case h.XmitTime < h.RefTime:
		return reject(ReasonRefTimeFuture)
	case h.XmitTime.Seconds()-h.RefTime.Seconds() >= uint32(MaxRefAge/time.Second):
		return reject(ReasonRefTimeStale)
	}
	return nil
}

// Sample is one measurement of a server's clock.
type Sample struct {
	T1, T2, T3, T4 ntp.Timestamp
	Offset         time.Duration // server minus local
	Delay          time.Duration // round trip, never negative
	// Dispersion is RFC 5905's sample dispersion: the two precisions plus
	// PHI times the round trip as measured locally.
	Dispersion time.Duration
	Reply      ntp.Header
}

// NewSample computes offset, delay and dispersion from a reply and its
// arrival time t4; T1 is the reply's origin timestamp. The arithmetic is in
// 64-bit 32.32 fixed point, so it is exact across era boundaries for
// offsets up to 68 years.
func NewSample(reply ntp.Header, t4 ntp.Timestamp, localPrecision int8) Sample {
	t1, t2, t3 := reply.OrigTime, reply.RecvTime, reply.XmitTime
	a := int64(t2 - t1) // T2 - T1
	b := int64(t3 - t4) // T3 - T4
	off := a>>1 + b>>1
	del := a - b
	if del < 0 {
		del = 0
	}
	s := Sample{
		T1: t1, T2: t2, T3: t3, T4: t4,
		Offset: fixedDuration(off),
		Delay:  fixedDuration(del),
		Reply:  reply,
	}
	roundTrip := t4.Sub(t1)
	if roundTrip < 0 {
		roundTrip = 0
	}
	s.Dispersion = precisionDuration(localPrecision) + precisionDuration(reply.Precision) +
		time.Duration(clientPHI*float64(roundTrip))
	return s
}

func fixedDuration(x int64) time.Duration {
	// 32.32 signed seconds to nanoseconds without overflowing for |x| < 2^31 s.
	sec := x >> 32
	frac := uint64(x) & 0xffffffff
	return time.Duration(sec)*time.Second + time.Duration((frac*1e9+1<<31)>>32)
}

func precisionDuration(p int8) time.Duration {
	if p <= -63 {
		return 0
	}
	if p >= 0 {
		return time.Second << min(p, 30)
	}
	return time.Duration(float64(time.Second) / float64(uint64(1)<<uint(-p)))
}

// Exchange performs one complete request/reply on s with server: it sends a
// request of the given version and reads until a reply that passes
// CheckReply arrives, a kiss-o'-death or a bad-timestamp reply arrives
// (returned as *RejectError with the parsed reply), or ctx ends. Replies from
// other addresses and foreign replies are skipped. s should not be shared
// with another reader while Exchange runs.
func Exchange(ctx context.Context, s Socket, clk clock.Clock, server netip.AddrPort, version uint8) (Sample, error) {
	server = unmapAddrPort(server)
	t1, err := Send(s, clk, server, NewRequest(version, ntp.TimestampFromTime(clk.Now())))
	if err != nil {
		return Sample{}, err
	}
	if dl, ok := ctx.Deadline(); ok {
		if err := s.SetReadDeadline(dl); err != nil {
			return Sample{}, err
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = s.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1024)
	for {
		d, err := Receive(s, clk, buf)
		if err != nil {
			if ctx.Err() != nil {
				return Sample{}, fmt.Errorf("exchange with %s: %w", server, ctx.Err())
			}
			// The only read deadline on the socket is the context's, and
			// the socket can notice it a moment before the context's own
			// timer does: report it as the context's expiry.
			if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
				return Sample{}, fmt.Errorf("exchange with %s: %w", server, context.DeadlineExceeded)
			}
			return Sample{}, fmt.Errorf("exchange with %s: %w", server, err)
		}
		if d.From != server {
			continue
		}
		h, err := ParseReply(d.Data, t1)
		if err != nil {
			if ReasonOf(err).Foreign() {
				continue
			}
			return Sample{Reply: h, T4: d.T4}, err
		}
		return NewSample(h, d.T4, ClientPrecision), nil
	}
}

// clientPHI is RFC 5905's frequency tolerance (15 ppm), kept local so this
// file does not depend on the filter's constants.
const clientPHI = 15e-6
