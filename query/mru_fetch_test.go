package query_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/query"
)

// mruRepeatServer answers REQ_NONCE and READ_MRU: each of the first rounds
// answers lists the same addresses again (newer last= each time), the
// answer after them closes the list with now=.
// With partial set, it sends only the first fragment of each READ_MRU
// answer (a lost rest).
func mruRepeatServer(t *testing.T, addrs, rounds int, partial bool) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		out := make([]byte, 0, 2048)
		n := 0
		for {
			k, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req, err := mode6.ParseHeader(buf[:k])
			if err != nil {
				continue
			}
			var data strings.Builder
			switch req.Op {
			case mode6.OpReqNonce:
				data.WriteString("nonce=0123456789abcdef\r\n")
			case mode6.OpReadMRU:
				n++
				data.WriteString("nonce=0123456789abcdef")
				for i := range addrs {
					fmt.Fprintf(&data, ", addr.%d=127.0.0.%d:%d, last.%d=0x%08x.00000000, first.%d=0x%08x.00000000, ct.%d=%d",
						i, 1+i/250, 1000+i, i, 1000+n*addrs+i, i, 1000, i, n)
				}
				if n > rounds {
					fmt.Fprintf(&data, ", now=0x%08x.00000000, last.newest=0x%08x.00000000", 1000+(n+1)*addrs, 1000+(n+1)*addrs)
				}
			default:
				continue
			}
			sent := 0
			_ = mode6.EachFragment(out, mode6.ReplyHeader(req, 0, 0), []byte(data.String()), func(p []byte) error {
				if partial && req.Op == mode6.OpReadMRU && sent > 0 {
					return nil
				}
				sent++
				_, err := c.WriteToUDP(p, from)
				return err
			})
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c.LocalAddr().String()
}

// A daemon that sends the same sources again and again: each is kept once,
// at its newest place, and every resend counts as an update.
func TestFetchMRURepeatedSources(t *testing.T) {
	const addrs, rounds = 100, 20
	to := mruRepeatServer(t, addrs, rounds, false)
	ctx := context.Background()
	s, err := query.Dial(ctx, "udp", to, query.ClientOptions{FirstTimeout: 2 * time.Second, FragTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.FetchMRU(ctx, query.MRUFetch{Args: query.MRUArgs{Frags: mode6.MaxFrags}, Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Complete || len(l.Entries) != addrs || l.Slots != addrs*(rounds+1) || l.Updates != addrs*rounds {
		t.Fatalf("complete %v, %d entries, %d slots, %d updates; want true, %d, %d, %d",
			l.Complete, len(l.Entries), l.Slots, l.Updates, addrs, addrs*(rounds+1), addrs*rounds)
	}
	for i := 1; i < len(l.Entries); i++ {
		if l.Entries[i].Last <= l.Entries[i-1].Last {
			t.Fatalf("entry %d not newer than the one before", i)
		}
	}
}

// A daemon whose answers always lose their rest: the collection ends after
// a bounded number of requests with the timeout, not after MaxRequests
// fragment timeouts.
func TestFetchMRULostAnswers(t *testing.T) {
	to := mruRepeatServer(t, 100, 1000, true)
	ctx := context.Background()
	s, err := query.Dial(ctx, "udp", to, query.ClientOptions{FirstTimeout: time.Second, FragTimeout: 20 * time.Millisecond, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.FetchMRU(ctx, query.MRUFetch{Args: query.MRUArgs{Frags: mode6.MaxFrags}, Now: func() time.Time { return time.Unix(0, 0) }})
	var te *query.TimeoutError
	if !errors.As(err, &te) || te.Nothing {
		t.Fatalf("err = %v, want a timeout with incomplete data", err)
	}
	if l.Requests > 9 {
		t.Errorf("%d requests sent, want at most 9", l.Requests)
	}
}
