package query_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/ntpqtest"
)

// scriptServer answers the n-th request (0-based) with whatever reply
// returns (nil: silence).
type scriptServer struct {
	c     *net.UDPConn
	n     atomic.Int64
	wg    sync.WaitGroup
	reply func(n int, req []byte) [][]byte
}

func newScriptServer(t *testing.T, reply func(n int, req []byte) [][]byte) *scriptServer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{c: c, reply: reply}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			i := int(s.n.Add(1) - 1)
			for _, p := range s.reply(i, append([]byte(nil), buf[:n]...)) {
				_, _ = c.WriteToUDP(p, from)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); s.wg.Wait() })
	return s
}

func (s *scriptServer) session(t *testing.T) *query.Session {
	t.Helper()
	sess, err := query.Dial(context.Background(), "udp", "localhost",
		query.ClientOptions{Dialer: &ntpqtest.RedirectDialer{To: s.c.LocalAddr().String()},
			FirstTimeout: 100 * time.Millisecond, FragTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// bigVars is a READVAR answer of three fragments.
func bigVars(t *testing.T) *ntpqtest.Scenario {
	var items []string
	for i := 0; i < 60; i++ {
		items = append(items, "var"+strings.Repeat("x", i%7)+"="+strings.Repeat("7", 1+i%5))
	}
	sc, err := ntpqtest.ParseScenario(strings.NewReader("sysstatus 0615\nsys " + strings.Join(items, ", ") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestRequestFragmentsOutOfOrder(t *testing.T) {
	sc := bigVars(t)
	s := newScriptServer(t, func(n int, req []byte) [][]byte {
		frags := ntpqtest.Answer(sc, req)
		for i, j := 0, len(frags)-1; i < j; i, j = i+1, j-1 {
			frags[i], frags[j] = frags[j], frags[i]
		}
		return append(frags, frags[0]) // and a duplicate
	})
	r, err := s.session(t).ReadVar(context.Background(), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	vars, _ := mode6.Tokenize(r.Data)
	if len(vars) != 60 || r.Status != 0x0615 {
		t.Errorf("got %d vars, status %04x", len(vars), r.Status)
	}
}

func TestRequestRetry(t *testing.T) {
	sc := bigVars(t)
	var seqs []uint16
	var mu sync.Mutex
	s := newScriptServer(t, func(n int, req []byte) [][]byte {
		h, _ := mode6.ParseHeader(req)
		mu.Lock()
		seqs = append(seqs, h.Sequence)
		mu.Unlock()
		if n == 0 {
			return nil // the first request is lost
		}
		return ntpqtest.Answer(sc, req)
	})
	if _, err := s.session(t).ReadVar(context.Background(), 0, ""); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Nothing was received: the retry keeps the sequence number (classic).
	if len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 1 {
		t.Errorf("sequences %v, want [1 1]", seqs)
	}
}

func TestRequestTimeouts(t *testing.T) {
	sc := bigVars(t)
	t.Run("nothing", func(t *testing.T) {
		s := newScriptServer(t, func(int, []byte) [][]byte { return nil })
		_, err := s.session(t).ReadVar(context.Background(), 0, "")
		var te *query.TimeoutError
		if !errors.As(err, &te) || !te.Nothing {
			t.Fatalf("err %v, want timeout with nothing received", err)
		}
		if got := s.n.Load(); got != 2 {
			t.Errorf("%d requests, want 2 (one retry)", got)
		}
	})
	t.Run("incomplete", func(t *testing.T) {
		s := newScriptServer(t, func(_ int, req []byte) [][]byte { return ntpqtest.Answer(sc, req)[:1] })
		_, err := s.session(t).ReadVar(context.Background(), 0, "")
		var te *query.TimeoutError
		if !errors.As(err, &te) || te.Nothing {
			t.Fatalf("err %v, want timeout with incomplete data", err)
		}
	})
	t.Run("server error", func(t *testing.T) {
		s := newScriptServer(t, func(_ int, req []byte) [][]byte { return ntpqtest.Answer(sc, req) })
		_, err := s.session(t).ReadVar(context.Background(), 0, "nosuchvar")
		var se *mode6.ServerError
		if !errors.As(err, &se) || se.Code != mode6.ErrCodeUnknownVar {
			t.Fatalf("err %v, want UNKNOWNVAR", err)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		s := newScriptServer(t, func(int, []byte) [][]byte { return nil })
		sess := s.session(t)
		sess.SetTimeouts(time.Hour, time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		// The hour-long timeouts give way to the context (a hang would
		// trip the test binary's timeout).
		_, err := sess.ReadVar(ctx, 0, "")
		var te *query.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("err %v, want a timeout", err)
		}
	})
}

func TestRequestRefused(t *testing.T) {
	fx := startFixture(t, "nodaemon")
	s, err := query.Dial(context.Background(), "udp", "localhost", query.ClientOptions{Dialer: fx.Dialer, FirstTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.ReadStat(context.Background()); !errors.Is(err, query.ErrRefused) {
		t.Fatalf("err %v, want ErrRefused", err)
	}
}

// TestRequestBytes: the requests are those of the captures
// (golden/pcaps-decoded.txt): ntpq-classic sends 0x16, ntpq-sec 0xd6,
// sequence numbers from 1, one READVAR per association after READSTAT, and
// a variable list NUL-padded to 4 octets.
func TestRequestBytes(t *testing.T) {
	sc := bigVars(t)
	for _, tc := range []struct {
		style query.Style
		b0    byte
	}{{query.StyleClassic, 0x16}, {query.StyleNTPsec, 0xd6}} {
		var mu sync.Mutex
		var reqs [][]byte
		s := newScriptServer(t, func(_ int, req []byte) [][]byte {
			mu.Lock()
			reqs = append(reqs, req)
			mu.Unlock()
			return ntpqtest.Answer(sc, req)
		})
		in := query.New(query.Config{Style: tc.style, Client: query.ClientOptions{
			Dialer: &ntpqtest.RedirectDialer{To: s.c.LocalAddr().String()}, FirstTimeout: 2 * time.Second}})
		in.Batch(context.Background(), nil, []string{"rv 0 leap,stratum,refid"})
		mu.Lock()
		last := reqs[len(reqs)-1]
		mu.Unlock()
		want := []byte{tc.b0, 0x02, 0, byte(len(reqs)), 0, 0, 0, 0, 0, 0, 0, 18}
		want = append(want, "leap,stratum,refid\x00\x00"...)
		if string(last) != string(want) {
			t.Errorf("style %d: request % x\nwant % x", tc.style, last, want)
		}
	}
}
