package chrony

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
)

// Default places where chronyd listens for monitoring requests.
const (
	// DefaultPort is the cmdmon UDP port.
	DefaultPort = 323
	// DefaultSocket is chronyd's unix domain command socket (root or the
	// chrony group only).
	DefaultSocket = "/run/chrony/chronyd.sock"
)

// DefaultAddrs are the addresses Detect and the ntpq/ntpstat fallback try,
// in order: chronyd answers monitoring requests from localhost by default.
var DefaultAddrs = []string{"127.0.0.1:323", "[::1]:323"}

// Options configure a Client. The zero value talks to 127.0.0.1:323.
type Options struct {
	// Addr is "host:port" for UDP (a bare host gets port 323), or an
	// absolute path for chronyd's unix domain socket.
	Addr string
	// Dial, when set, replaces the built-in dialer (tests, network
	// namespaces). The returned connection must preserve datagram
	// boundaries. Addr is then only used in messages.
	Dial func(ctx context.Context) (net.Conn, error)
	// Timeout is how long one attempt waits for its reply (default 1 s,
	// as chronyc); each retry doubles it. The context's deadline always
	// wins.
	Timeout time.Duration
	// Retries is the number of resends after the first attempt (default
	// 2; negative means none).
	Retries int
	// LocalSocketDir is where the client binds its own unix socket for
	// replies (default: the directory of the server's socket, as chronyc
	// does, falling back to os.TempDir()).
	LocalSocketDir string
	// Clock provides deadlines (default: the system clock, read only).
	Clock clock.Clock
	// Logger receives debug messages (default: discard).
	Logger *slog.Logger
}

// Client sends cmdmon requests to one chronyd. It is safe for concurrent
// use; requests are serialised.
type Client struct {
	opts    Options
	addr    string
	mu      sync.Mutex
	conn    net.Conn
	cleanup func()
	seq     uint32
	buf     []byte
}

// Dial opens a client for opts.Addr (or opts.Dial). Nothing is sent until
// the first request; a UDP "connection refused" shows up then.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	c := &Client{opts: opts, buf: make([]byte, MaxPacketLen+1)}
	if c.opts.Timeout <= 0 {
		c.opts.Timeout = time.Second
	}
	if c.opts.Retries == 0 {
		c.opts.Retries = 2
	}
	if c.opts.Retries < 0 {
		c.opts.Retries = 0
	}
	if c.opts.Clock == nil {
		c.opts.Clock = clock.System{}
	}
	if c.opts.Logger == nil {
		c.opts.Logger = slog.New(slog.DiscardHandler)
	}
	c.addr = c.opts.Addr
	if c.addr == "" {
		c.addr = DefaultAddrs[0]
	}
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c.seq = binary.BigEndian.Uint32(seed[:])

	var err error
	switch {
	case opts.Dial != nil:
		c.conn, err = opts.Dial(ctx)
	case strings.HasPrefix(c.addr, "/"):
		c.conn, c.cleanup, err = dialUnix(c.addr, c.opts.LocalSocketDir)
	default:
		addr := c.addr
		if _, _, e := net.SplitHostPort(addr); e != nil {
			addr = net.JoinHostPort(strings.Trim(addr, "[]"), fmt.Sprint(DefaultPort))
			c.addr = addr
		}
		var d net.Dialer
		c.conn, err = d.DialContext(ctx, "udp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("chronyd at %s: %w", c.addr, err)
	}
	return c, nil
}

// dialUnix binds a datagram socket of our own (chronyd sends the reply to
// the sender's path) and connects it to the server socket.
func dialUnix(server, dir string) (net.Conn, func(), error) {
	dirs := []string{dir}
	if dir == "" {
		dirs = []string{filepath.Dir(server), os.TempDir()}
	}
	var errs []error
	for _, d := range dirs {
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		local := filepath.Join(d, fmt.Sprintf("ntpkit.%d.%x.sock", os.Getpid(), rnd))
		laddr := &net.UnixAddr{Name: local, Net: "unixgram"}
		raddr := &net.UnixAddr{Name: server, Net: "unixgram"}
		conn, err := net.DialUnix("unixgram", laddr, raddr)
		if err != nil {
			errs = append(errs, err)
			_ = os.Remove(local)
			continue
		}
		// chronyd usually runs as its own user and must be able to send
		// to us.
		_ = os.Chmod(local, 0o666)
		return conn, func() { _ = os.Remove(local) }, nil
	}
	return nil, nil, errors.Join(errs...)
}

// Addr is the address the client talks to.
func (c *Client) Addr() string { return c.addr }

// Close releases the socket.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	if c.cleanup != nil {
		c.cleanup()
	}
	return err
}

// ErrTimeout is wrapped by the error of a request that got no answer.
var ErrTimeout = errors.New("no answer from chronyd")

// ErrVersion is wrapped by the error of a request that chronyd answered
// with another protocol version.
var ErrVersion = errors.New("unsupported cmdmon protocol version")

// Do sends one request and returns the raw reply whose sequence number and
// command match, resending on timeouts. The reply header is checked
// (ParseReplyHeader); the status is not.
func (c *Client) Do(ctx context.Context, r Request) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil, fmt.Errorf("chronyd at %s: client closed", c.addr)
	}
	c.seq++
	r.Sequence = c.seq
	timeout := c.opts.Timeout
	for attempt := 0; attempt <= c.opts.Retries; attempt++ {
		r.Attempt = uint16(attempt)
		pkt, err := r.Marshal()
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("chronyd at %s: %v: %w", c.addr, r.Command, err)
		}
		deadline := c.opts.Clock.Now().Add(timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if _, err := c.conn.Write(pkt); err != nil {
			return nil, fmt.Errorf("chronyd at %s: send %v: %w", c.addr, r.Command, err)
		}
		reply, err := c.readReply(ctx, r, deadline)
		if err == nil {
			return reply, nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, fmt.Errorf("chronyd at %s: %v: %w", c.addr, r.Command, err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("chronyd at %s: %v: %w", c.addr, r.Command, ctx.Err())
		}
		if d, ok := ctx.Deadline(); ok && !deadline.Before(d) {
			// this attempt waited until the context's deadline (whose
			// timer may not have fired yet)
			return nil, fmt.Errorf("chronyd at %s: %v: %w", c.addr, r.Command, context.DeadlineExceeded)
		}
		c.opts.Logger.Debug("chronyd: no reply, resending", "addr", c.addr, "command", r.Command.String(), "attempt", attempt)
		timeout *= 2
	}
	return nil, fmt.Errorf("chronyd at %s: %v: %w", c.addr, r.Command, ErrTimeout)
}

// readReply reads datagrams until one answers r or the deadline passes.
// Stray datagrams (old sequence numbers, garbage) are skipped.
func (c *Client) readReply(ctx context.Context, r Request, deadline time.Time) ([]byte, error) {
	conn := c.conn
	if err := conn.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	// cancellation interrupts the read by moving the deadline into the
	// past; wait for that to finish before the connection is reused
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = conn.SetReadDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted
		}
	}()
	for {
		n, err := conn.Read(c.buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		pkt := c.buf[:n]
		h, err := ParseReplyHeader(pkt)
		if err != nil {
			if h.Version != 0 && h.Version != ProtocolVersion && len(pkt) >= ReplyHeaderLen && pkt[1] == pktTypeReply &&
				h.Sequence == r.Sequence {
				return nil, fmt.Errorf("%w: chronyd speaks protocol version %d, not %d", ErrVersion, h.Version, ProtocolVersion)
			}
			c.opts.Logger.Debug("chronyd: dropping datagram", "err", err)
			continue
		}
		if h.Sequence != r.Sequence || h.Command != r.Command {
			c.opts.Logger.Debug("chronyd: dropping stale reply", "seq", h.Sequence, "want", r.Sequence)
			continue
		}
		return append([]byte(nil), pkt...), nil
	}
}

// Tracking asks for chronyd's tracking report (chronyc tracking).
func (c *Client) Tracking(ctx context.Context) (Tracking, error) {
	b, err := c.Do(ctx, Request{Command: CmdTracking})
	if err != nil {
		return Tracking{}, err
	}
	return DecodeTracking(b)
}

// NumSources asks how many sources chronyd has.
func (c *Client) NumSources(ctx context.Context) (int, error) {
	b, err := c.Do(ctx, Request{Command: CmdNSources})
	if err != nil {
		return 0, err
	}
	return DecodeNSources(b)
}

// Source asks for the source with index i (0-based, chronyc's order).
func (c *Client) Source(ctx context.Context, i int) (Source, error) {
	b, err := c.Do(ctx, Request{Command: CmdSourceData, Index: uint32(i)})
	if err != nil {
		return Source{}, err
	}
	return DecodeSourceData(b)
}

// Sources lists all sources (chronyc sources).
func (c *Client) Sources(ctx context.Context) ([]Source, error) {
	n, err := c.NumSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Source, 0, n)
	for i := range n {
		s, err := c.Source(ctx, i)
		if errors.Is(err, ErrNoSuchSource) {
			break // a source went away between the two requests
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// SourceStat asks for the statistics of the source with index i.
func (c *Client) SourceStat(ctx context.Context, i int) (SourceStats, error) {
	b, err := c.Do(ctx, Request{Command: CmdSourceStats, Index: uint32(i)})
	if err != nil {
		return SourceStats{}, err
	}
	return DecodeSourceStats(b)
}

// SourceStats lists the statistics of all sources (chronyc sourcestats),
// in the same order as Sources.
func (c *Client) SourceStats(ctx context.Context) ([]SourceStats, error) {
	n, err := c.NumSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SourceStats, 0, n)
	for i := range n {
		s, err := c.SourceStat(ctx, i)
		if errors.Is(err, ErrNoSuchSource) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// NTPData asks for the NTP details of the NTP source at addr (chronyc
// ntpdata). Refclocks have none (ErrNoSuchSource).
func (c *Client) NTPData(ctx context.Context, addr Address) (NTPData, error) {
	if !addr.IP.IsValid() {
		return NTPData{}, &StatusError{Command: CmdNTPData, Status: StatusNoSuchSource}
	}
	b, err := c.Do(ctx, Request{Command: CmdNTPData, Addr: addr.IP})
	if err != nil {
		return NTPData{}, err
	}
	return DecodeNTPData(b)
}

// Detect reports whether a chronyd answers cmdmon requests at addr (as in
// Options.Addr; "" means 127.0.0.1:323) within the context's deadline or
// timeout, whichever is sooner. It sends one N_SOURCES request without
// retries; any well-formed chronyd reply counts, even an error status
// (e.g. a protocol version mismatch). A nil error means chronyd is there.
func Detect(ctx context.Context, addr string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 300 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := Dial(ctx, Options{Addr: addr, Timeout: timeout, Retries: -1})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do(ctx, Request{Command: CmdNSources})
	if errors.Is(err, ErrVersion) {
		return nil // a chronyd, just not one we can query
	}
	return err
}
