// Package ntpqtest is a fake mode 6 daemon for tests: it serves recorded
// variables (a Scenario) on 127.0.0.1 over real UDP, answering READSTAT,
// READVAR (with and without a variable list) and READCLOCK the way the
// reference daemons do (fragments of 468 octets, the daemons' line
// breaking, error responses for unknown associations and variables).
package ntpqtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ntpkit/ntpkit/mode6"
)

// Assoc is one association the fake daemon reports.
type Assoc struct {
	ID        uint16
	Status    uint16      // peer status word
	Vars      []mode6.Var // default list, in daemon order
	ClockVars []mode6.Var // READCLOCK list (refclocks)
}

// Scenario is the recorded state of a daemon.
type Scenario struct {
	SysStatus uint16
	SysVars   []mode6.Var
	Assocs    []Assoc
	// Drop makes the server silently ignore every request (noquery).
	Drop bool
	// Meta holds the directives of a scenario file the server does not use
	// itself (now, resolve, ...), by keyword.
	Meta map[string][]string
	// NowSeconds is the NTP seconds of the "now" directive (0 if none).
	NowSeconds uint32
}

// Server is a running fake daemon.
type Server struct {
	conn *net.UDPConn
	mu   sync.Mutex
	sc   *Scenario
	wg   sync.WaitGroup
	// Requests counts the datagrams received.
	Requests atomic.Int64
}

// Start serves sc on 127.0.0.1 (a free port).
func Start(sc *Scenario) (*Server, error) {
	return StartOn("127.0.0.1:0", sc)
}

// StartOn serves sc on addr ("127.0.0.1:0", "[::1]:0").
func StartOn(addr string, sc *Scenario) (*Server, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("ntpqtest: listen %s: %w", addr, err)
	}
	s := &Server{conn: c, sc: sc}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// SetScenario replaces the served state.
func (s *Server) SetScenario(sc *Scenario) {
	s.mu.Lock()
	s.sc = sc
	s.mu.Unlock()
}

// Close stops the server.
func (s *Server) Close() error {
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

// Dialer returns a dialer that connects every address to this server,
// whatever host or port is asked for.
func (s *Server) Dialer() *RedirectDialer { return &RedirectDialer{To: s.Addr()} }

// RedirectDialer dials To instead of the requested address. Refuse lists
// requested hosts that must fail as if nothing listened there.
type RedirectDialer struct {
	To string
	// Map sends specific requested hosts (without port) elsewhere.
	Map map[string]string
}

// DialContext implements query.Dialer.
func (d *RedirectDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	to := d.To
	if h, _, err := net.SplitHostPort(address); err == nil {
		if m, ok := d.Map[h]; ok {
			to = m
		}
	}
	var nd net.Dialer
	if network == "udp6" || network == "udp4" {
		network = "udp"
	}
	return nd.DialContext(ctx, network, to)
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.Requests.Add(1)
		s.mu.Lock()
		sc := s.sc
		s.mu.Unlock()
		for _, pkt := range Answer(sc, buf[:n]) {
			_, _ = s.conn.WriteToUDP(pkt, from)
		}
	}
}

// Answer computes the datagrams the fake daemon sends for one request.
func Answer(sc *Scenario, req []byte) [][]byte {
	if sc == nil || sc.Drop {
		return nil
	}
	d := mode6.ValidateRequest(req)
	leap := uint8(sc.SysStatus >> 14)
	switch d.Verdict {
	case mode6.Drop:
		return nil
	case mode6.Reject:
		return [][]byte{mode6.AppendError(nil, d.Request.Header, leap, d.Code)}
	}
	h := d.Request.Header
	errResp := func(c mode6.ErrorCode) [][]byte {
		return [][]byte{mode6.AppendError(nil, h, leap, c)}
	}
	switch h.Op {
	case mode6.OpReadStat:
		if h.AssocID != 0 {
			a := sc.find(h.AssocID)
			if a == nil {
				return errResp(mode6.ErrCodeBadAssoc)
			}
			return frag(mode6.ReplyHeader(h, leap, a.Status), encode(a.Vars))
		}
		list := make([]mode6.AssocStatus, 0, len(sc.Assocs))
		for _, a := range sc.Assocs {
			list = append(list, mode6.AssocStatus{AssocID: a.ID, Status: a.Status})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].AssocID > list[j].AssocID })
		return frag(mode6.ReplyHeader(h, leap, sc.SysStatus), mode6.AppendAssocList(nil, list))
	case mode6.OpReadVar, mode6.OpReadClock:
		var vars []mode6.Var
		status := sc.SysStatus
		if h.Op == mode6.OpReadClock {
			// assoc 0: the first refclock; others must be refclocks.
			var a *Assoc
			for i := range sc.Assocs {
				if c := &sc.Assocs[i]; c.ClockVars != nil && (h.AssocID == 0 || c.ID == h.AssocID) {
					a = c
					break
				}
			}
			if a == nil {
				return errResp(mode6.ErrCodeBadAssoc)
			}
			vars, status = a.ClockVars, 0
		} else if h.AssocID != 0 {
			a := sc.find(h.AssocID)
			if a == nil {
				return errResp(mode6.ErrCodeBadAssoc)
			}
			vars, status = a.Vars, a.Status
		} else {
			vars = sc.SysVars
		}
		if len(d.Request.Data) > 0 {
			sel, ok := selectVars(vars, string(d.Request.Data))
			if !ok {
				return errResp(mode6.ErrCodeUnknownVar)
			}
			vars = sel
		}
		return frag(mode6.ReplyHeader(h, leap, status), encode(vars))
	}
	return errResp(mode6.ErrCodeBadOp)
}

func (sc *Scenario) find(id uint16) *Assoc {
	for i := range sc.Assocs {
		if sc.Assocs[i].ID == id {
			return &sc.Assocs[i]
		}
	}
	return nil
}

// selectVars returns the requested variables in the daemon's order.
func selectVars(vars []mode6.Var, list string) ([]mode6.Var, bool) {
	want := map[string]bool{}
	for _, n := range strings.Split(strings.TrimRight(list, "\x00"), ",") {
		n = strings.TrimSpace(n)
		if i := strings.IndexByte(n, '='); i >= 0 {
			n = n[:i]
		}
		if n == "" {
			continue
		}
		if _, ok := mode6.Lookup(vars, n); !ok {
			return nil, false
		}
		want[n] = true
	}
	var out []mode6.Var
	for _, v := range vars {
		if want[v.Name] {
			out = append(out, v)
			delete(want, v.Name)
		}
	}
	return out, true
}

func encode(vars []mode6.Var) []byte {
	var e mode6.VarEncoder
	e.Reset(nil)
	for _, v := range vars {
		if v.HasValue {
			e.Raw(v.Name, v.Value)
		} else {
			e.Bare(v.Name)
		}
	}
	return e.Finish()
}

func frag(h mode6.Header, data []byte) [][]byte {
	out, err := mode6.Fragment(h, data)
	if err != nil {
		return [][]byte{mode6.AppendError(nil, h, h.LI, mode6.ErrCodeUnspec)}
	}
	return out
}
