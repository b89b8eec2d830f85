package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Dialer opens the UDP association to a daemon. *net.Dialer satisfies it;
// tests inject one that redirects every address to a fake server.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Defaults of both ntpq front ends (SPEC §1.2).
const (
	DefaultFirstTimeout = 5 * time.Second // wait for the first fragment
	DefaultFragTimeout  = 3 * time.Second // wait between fragments
	DefaultRetries      = 1               // retries of a whole request
	DefaultPort         = "123"
)

// ClientOptions configures a Session.
type ClientOptions struct {
	Dialer       Dialer        // nil: net.Dialer
	Port         string        // "" means 123
	FirstTimeout time.Duration // 0: DefaultFirstTimeout
	FragTimeout  time.Duration // 0: DefaultFragTimeout
	Retries      int           // <0: none; 0: DefaultRetries
	// LeapBits is the LI field put into requests: 0 as ntpq-classic sends
	// (0x16), 3 as ntpq-sec (0xD6).
	LeapBits uint8
	// Wall returns the wall-clock time used for socket deadlines only
	// (nil: time.Now). Protocol decisions never depend on it.
	Wall func() time.Time
	// Debug, when set, receives one line per datagram sent or received
	// (ntpq -d).
	Debug io.Writer
}

func (o *ClientOptions) fill() {
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Port == "" {
		o.Port = DefaultPort
	}
	if o.FirstTimeout <= 0 {
		o.FirstTimeout = DefaultFirstTimeout
	}
	if o.FragTimeout <= 0 {
		o.FragTimeout = DefaultFragTimeout
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Wall == nil {
		o.Wall = time.Now
	}
}

// Errors of a request.
var (
	// ErrRefused: the daemon's port answered with ICMP port unreachable
	// (nothing listening).
	ErrRefused = errors.New("connection refused")
)

// TimeoutError is returned when no complete answer arrived after the
// retries. Nothing tells whether no fragment at all was received.
type TimeoutError struct {
	Nothing bool
	Err     error // the assembler's explanation
}

func (e *TimeoutError) Error() string {
	if e.Nothing {
		return "timed out, nothing received"
	}
	return "timed out: " + e.Err.Error()
}

// Session is a connected mode 6 client for one host.
type Session struct {
	Host    string // as given by the user
	Network string // udp, udp4, udp6
	conn    net.Conn
	opts    ClientOptions
	seq     uint16
	asm     mode6.Assembler
	buf     []byte
	sign    *ntp.Key // when set, requests are signed (RequestSigned)
}

// Dial connects to host (name or address, optional port) over network
// ("udp", "udp4" or "udp6").
func Dial(ctx context.Context, network, host string, opts ClientOptions) (*Session, error) {
	opts.fill()
	if network == "" {
		network = "udp"
	}
	addr := host
	if h, p, err := net.SplitHostPort(host); err == nil && p != "" {
		addr = net.JoinHostPort(h, p)
	} else {
		addr = net.JoinHostPort(trimBrackets(host), opts.Port)
	}
	c, err := opts.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &Session{Host: host, Network: network, conn: c, opts: opts, buf: make([]byte, 2048)}, nil
}

func trimBrackets(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// NewSession wraps an existing connection (tests, custom transports).
func NewSession(host string, c net.Conn, opts ClientOptions) *Session {
	opts.fill()
	return &Session{Host: host, Network: "udp", conn: c, opts: opts, buf: make([]byte, 2048)}
}

// Close releases the socket.
func (s *Session) Close() error { return s.conn.Close() }

// SetTimeouts changes the first-fragment and between-fragment timeouts
// (ntpq's "timeout" command sets both from one value in ms).
func (s *Session) SetTimeouts(first, frag time.Duration) {
	if first > 0 {
		s.opts.FirstTimeout = first
	}
	if frag > 0 {
		s.opts.FragTimeout = frag
	}
}

// Timeout returns the first-fragment timeout.
func (s *Session) Timeout() time.Duration { return s.opts.FirstTimeout }

// Response is a complete mode 6 answer.
type Response struct {
	Header mode6.Header // of the first fragment
	Status uint16
	Data   []byte // reassembled data (owned by the caller)
}

// Request sends one request and waits for the complete response, with the
// ntpq timeouts and one retry. Server errors come back as
// *mode6.ServerError, a refused port as ErrRefused, silence as
// *TimeoutError.
func (s *Session) Request(ctx context.Context, op mode6.Opcode, assoc uint16, data []byte) (Response, error) {
	var lastErr error
	received := false
	for attempt := 0; attempt <= s.opts.Retries; attempt++ {
		if attempt == 0 || received {
			s.seq++
		}
		h := mode6.NewRequest(op, s.seq, assoc)
		h.LI = s.opts.LeapBits
		pkt := mode6.MarshalRequest(h, data)
		if s.sign != nil {
			pkt = mode6.AppendMAC(pkt, s.sign)
		}
		if s.opts.Debug != nil {
			sent, _ := mode6.ParseHeader(pkt)
			fmt.Fprintf(s.opts.Debug, "sending %d octets to %s: %s\n", len(pkt), s.conn.RemoteAddr(), sent)
		}
		if _, err := s.conn.Write(pkt); err != nil {
			if isRefused(err) {
				return Response{}, ErrRefused
			}
			return Response{}, fmt.Errorf("write: %w", err)
		}
		s.asm.Reset(h, 0)
		resp, got, err := s.collect(ctx)
		if err == nil {
			return resp, nil
		}
		received = got
		var te *TimeoutError
		if !errors.As(err, &te) {
			return Response{}, err
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return Response{}, lastErr
}

func (s *Session) collect(ctx context.Context) (Response, bool, error) {
	wait := s.opts.FirstTimeout
	for {
		dl := s.opts.Wall().Add(wait)
		if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
			dl = cd
		}
		_ = s.conn.SetReadDeadline(dl)
		n, err := s.conn.Read(s.buf)
		if err != nil {
			if isRefused(err) {
				return Response{}, false, ErrRefused
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
				got := s.asm.Fragments() > 0
				return Response{}, got, &TimeoutError{Nothing: !got, Err: s.asm.Err()}
			}
			return Response{}, false, fmt.Errorf("read: %w", err)
		}
		if s.opts.Debug != nil {
			if h, err := mode6.ParseHeader(s.buf[:n]); err == nil {
				fmt.Fprintf(s.opts.Debug, "received %d octets: %s\n", n, h)
			} else {
				fmt.Fprintf(s.opts.Debug, "received %d octets: %v\n", n, err)
			}
		}
		before := s.asm.Fragments()
		done, aerr := s.asm.AddBytes(s.buf[:n])
		if done {
			if aerr != nil {
				return Response{}, true, aerr
			}
			hdr, _ := s.asm.Header()
			d := append([]byte(nil), s.asm.Data()...)
			return Response{Header: hdr, Status: hdr.Status, Data: d}, true, nil
		}
		if s.asm.Fragments() > before {
			wait = s.opts.FragTimeout
		}
		if ctx.Err() != nil {
			got := s.asm.Fragments() > 0
			return Response{}, got, &TimeoutError{Nothing: !got, Err: s.asm.Err()}
		}
	}
}

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// ReadStat asks for the association list (READSTAT). It returns the system
// status word and the associations sorted by ascending id.
func (s *Session) ReadStat(ctx context.Context) (uint16, []mode6.AssocStatus, error) {
	r, err := s.Request(ctx, mode6.OpReadStat, 0, nil)
	if err != nil {
		return 0, nil, err
	}
	list, err := mode6.ParseAssocList(r.Data)
	if err != nil {
		return r.Status, nil, err
	}
	sortAssocs(list)
	return r.Status, list, nil
}

// ReadVar reads the variables of association assoc (0: system); varlist is
// the comma-separated request list or "" for the default list.
func (s *Session) ReadVar(ctx context.Context, assoc uint16, varlist string) (Response, error) {
	return s.Request(ctx, mode6.OpReadVar, assoc, []byte(varlist))
}

// ReadClock reads the clock variables of a refclock association.
func (s *Session) ReadClock(ctx context.Context, assoc uint16, varlist string) (Response, error) {
	return s.Request(ctx, mode6.OpReadClock, assoc, []byte(varlist))
}

func sortAssocs(l []mode6.AssocStatus) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].AssocID < l[j-1].AssocID; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}
