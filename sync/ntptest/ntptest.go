// Package ntptest runs fake NTP servers for tests: a UDP responder that
// answers mode 3 requests with a configurable mode 4 reply (clock offset,
// stratum, leap, refid, precision, kiss-o'-death, silence, arbitrary
// tampering). It binds loopback addresses by default; live tests can run it
// inside a network namespace through the test binary (see RunFromEnv).
package ntptest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Config describes the server's behaviour. The zero value is a healthy
// stratum-2 server with no offset.
type Config struct {
	Offset    time.Duration // added to the true time in every timestamp
	Stratum   uint8         // wire stratum; 0 with Kiss or Unsync, default 2
	Leap      ntp.Leap
	RefID     ntp.RefID // default 198.18.0.1 (a dotted upstream)
	Precision int8      // default -20
	RootDelay time.Duration
	RootDisp  time.Duration
	// RefAge is how long before the reply's transmit time the reference
	// time lies (default 16 s). Negative puts it in the future.
	RefAge time.Duration
	// Kiss, when set (e.g. "RATE"), makes every reply a kiss-o'-death:
	// LI 3, stratum 0, refid = the code.
	Kiss string
	// Silent drops every request.
	Silent bool
	// Mutate, when set, may change each reply before it is sent.
	Mutate func(*ntp.Header)
	// Clock supplies the true time (default the system clock).
	Clock clock.Clock
}

func (c Config) withDefaults() Config {
	if c.Stratum == 0 && c.Kiss == "" {
		c.Stratum = 2
	}
	if c.RefID.IsZero() && c.Kiss == "" {
		c.RefID = ntp.RefID{198, 18, 0, 1}
	}
	if c.Precision == 0 {
		c.Precision = -20
	}
	if c.RefAge == 0 {
		c.RefAge = 16 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.Kiss != "" {
		c.Leap = ntp.LeapAlarm
		c.Stratum = 0
		c.RefID = ntp.RefIDFromString(c.Kiss)
	}
	return c
}

// Reply builds the reply to req received at true time rx, sent at true time
// tx.
func (c Config) Reply(req ntp.Header, rx, tx time.Time) ntp.Header {
	c = c.withDefaults()
	h := ntp.Header{
		Leap:           c.Leap,
		Version:        req.Version,
		Mode:           ntp.ModeServer,
		Stratum:        c.Stratum,
		Poll:           req.Poll,
		Precision:      c.Precision,
		RootDelay:      ntp.ShortFromDuration(c.RootDelay),
		RootDispersion: ntp.ShortFromDuration(c.RootDisp),
		RefID:          c.RefID,
		RefTime:        ntp.TimestampFromTime(tx.Add(c.Offset - c.RefAge)),
		OrigTime:       req.XmitTime,
		RecvTime:       ntp.TimestampFromTime(rx.Add(c.Offset)),
		XmitTime:       ntp.TimestampFromTime(tx.Add(c.Offset)),
	}
	if c.Kiss != "" {
		h.RefTime = 0
	}
	if c.Mutate != nil {
		c.Mutate(&h)
	}
	return h
}

// Server is a running fake server.
type Server struct {
	Addr     netip.AddrPort // where it listens
	conn     *net.UDPConn
	mu       stdsync.Mutex
	cfg      Config
	requests atomic.Int64
	done     chan struct{}
}

// Listen starts a server on addr ("127.0.0.1:0", "[::1]:0", "198.18.1.2:123").
func Listen(addr string, cfg Config) (*Server, error) {
	ap, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("ntptest: %w", err)
	}
	conn, err := net.ListenUDP("udp", ap)
	if err != nil {
		return nil, fmt.Errorf("ntptest: %w", err)
	}
	s := &Server{conn: conn, cfg: cfg.withDefaults(), done: make(chan struct{})}
	la := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s.Addr = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
	go s.serve()
	return s, nil
}

// New starts a server on 127.0.0.1 (a random port) for the duration of tb.
func New(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// SetConfig replaces the configuration for later requests.
func (s *Server) SetConfig(cfg Config) {
	s.mu.Lock()
	s.cfg = cfg.withDefaults()
	s.mu.Unlock()
}

// Requests returns how many requests arrived (answered or not).
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Close stops the server and waits for its goroutine.
func (s *Server) Close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

// Wait blocks until the server stops (Close, or a socket error).
func (s *Server) Wait() { <-s.done }

func (s *Server) serve() {
	defer close(s.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		cfg := s.cfg
		s.mu.Unlock()
		rx := cfg.Clock.Now()
		s.requests.Add(1)
		req, err := ntp.ParseHeader(buf[:n])
		if err != nil || req.Mode != ntp.ModeClient || cfg.Silent {
			continue
		}
		h := cfg.Reply(req, rx, cfg.Clock.Now())
		var out [ntp.HeaderLen]byte
		h.MarshalTo(out[:])
		_, _ = s.conn.WriteToUDPAddrPort(out[:], from)
	}
}

// EnvVar names the environment variable RunFromEnv reads.
const EnvVar = "NTPKIT_NTPTEST_SERVE"

// Spec renders a listen address and configuration as the value of EnvVar,
// so a test can start its own binary as a fake server inside a network
// namespace: ADDR;offset=3.5s;stratum=2;leap=3;refid=GPS;kiss=RATE;silent
// (refid is dotted for stratum >= 2, text otherwise).
func Spec(addr string, cfg Config) string {
	parts := []string{addr}
	if cfg.Offset != 0 {
		parts = append(parts, "offset="+cfg.Offset.String())
	}
	if cfg.Stratum != 0 {
		parts = append(parts, "stratum="+strconv.Itoa(int(cfg.Stratum)))
	}
	if cfg.Leap != 0 {
		parts = append(parts, "leap="+strconv.Itoa(int(cfg.Leap)))
	}
	if !cfg.RefID.IsZero() {
		if cfg.Stratum >= 2 && cfg.Stratum < 16 {
			parts = append(parts, "refid="+cfg.RefID.Dotted())
		} else {
			parts = append(parts, "refid="+cfg.RefID.Text())
		}
	}
	if cfg.Precision != 0 {
		parts = append(parts, "precision="+strconv.Itoa(int(cfg.Precision)))
	}
	if cfg.Kiss != "" {
		parts = append(parts, "kiss="+cfg.Kiss)
	}
	if cfg.Silent {
		parts = append(parts, "silent")
	}
	return strings.Join(parts, ";")
}

// ParseSpec is the inverse of Spec.
func ParseSpec(spec string) (addr string, cfg Config, err error) {
	parts := strings.Split(spec, ";")
	addr = parts[0]
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		var n int
		switch k {
		case "offset":
			cfg.Offset, err = time.ParseDuration(v)
		case "stratum", "leap", "precision":
			n, err = strconv.Atoi(v)
			switch k {
			case "stratum":
				cfg.Stratum = uint8(n)
			case "leap":
				cfg.Leap = ntp.Leap(n)
			default:
				cfg.Precision = int8(n)
			}
		case "refid":
			if a, perr := netip.ParseAddr(v); perr == nil && a.Is4() {
				cfg.RefID = ntp.RefID(a.As4())
			} else {
				cfg.RefID = ntp.RefIDFromString(v)
			}
		case "kiss":
			cfg.Kiss = v
		case "silent":
			cfg.Silent = true
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return "", Config{}, fmt.Errorf("ntptest spec %q: %w", spec, err)
		}
	}
	return addr, cfg, nil
}

// RunFromEnv serves forever when EnvVar is set (call it first thing in
// TestMain) and never returns in that case; it exits the process with
// status 2 on a bad spec or bind failure.
func RunFromEnv() {
	spec := os.Getenv(EnvVar)
	if spec == "" {
		return
	}
	addr, cfg, err := ParseSpec(spec)
	if err == nil {
		var s *Server
		if s, err = Listen(addr, cfg); err == nil {
			fmt.Fprintf(os.Stderr, "ntptest: serving on %s\n", s.Addr)
			s.Wait()
			os.Exit(0)
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}
