package sync_test

import (
	"context"
	"log/slog"
	"net/netip"
	stdsync "sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// dnsTable is a resolver whose answers the test changes while the engine
// runs; a name mapped to nil hangs until the lookup's context ends.
type dnsTable struct {
	mu    stdsync.Mutex
	addrs map[string][]netip.Addr
	calls map[string]int
	nets  map[string]string // the network of the last lookup of a name
}

func newDNSTable() *dnsTable {
	return &dnsTable{addrs: map[string][]netip.Addr{}, calls: map[string]int{}, nets: map[string]string{}}
}

func (d *dnsTable) set(host string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(addrs) == 0 {
		d.addrs[host] = nil
		return
	}
	d.addrs[host] = nil
	for _, a := range addrs {
		d.addrs[host] = append(d.addrs[host], netip.MustParseAddr(a))
	}
}

func (d *dnsTable) count(host string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[host]
}

func (d *dnsTable) network(host string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nets[host]
}

func (d *dnsTable) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	d.calls[host]++
	d.nets[host] = network
	a := d.addrs[host]
	d.mu.Unlock()
	if a == nil {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return a, nil
}

// run starts an engine on tr with one server configuration and returns it.
func runEngine(t *testing.T, tr addrTransport, res ntpsync.Resolver, logs *lockedBuf, sc ...ntpsync.ServerConfig) *ntpsync.Engine {
	t.Helper()
	e, err := ntpsync.NewEngine(ntpsync.Options{Clock: clock.System{}, Transport: tr, Resolver: res,
		Select: ntpsync.SelectOptions{MaxClock: 3},
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Servers: sc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go e.Run(ctx)
	return e
}

// A server name that resolved once is looked up again after its reach
// register has been 0 for four polls; when the name now points elsewhere
// the association moves there (same id, filter cleared) and becomes
// reachable. While it answered, the name was looked up once.
func TestReresolveServerMoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := make(addrTransport, 16)
		dns := newDNSTable()
		dns.set("ntp.test", "198.18.0.1")
		var logs lockedBuf
		e := runEngine(t, tr, dns, &logs, ntpsync.ServerConfig{Address: "ntp.test", MinPoll: 4, MaxPoll: 4})
		oldA, newA := netip.MustParseAddrPort("198.18.0.1:123"), netip.MustParseAddrPort("198.18.0.9:123")
		alive := map[netip.AddrPort]bool{oldA: true}
		perDest := map[netip.AddrPort]int{}
		polls := func(n int) {
			t.Helper()
			for range n {
				p := <-tr
				perDest[p.to]++
				if alive[p.to] {
					h := engineReply(p.b, clock.System{})
					e.Input(h.Marshal(), p.to, time.Now())
				}
				synctest.Wait()
			}
		}
		polls(10)
		id := e.Peers()[0].AssocID
		if p := e.Peers()[0]; p.Addr != oldA || p.Reach != 0xff || dns.count("ntp.test") != 1 {
			t.Fatalf("healthy: addr %v reach %#o lookups %d", p.Addr, p.Reach, dns.count("ntp.test"))
		}
		// the server moves: the old address goes silent, DNS has the new one
		alive = map[netip.AddrPort]bool{newA: true}
		dns.set("ntp.test", "198.18.0.9")
		for i := 0; i < 40 && (e.Peers()[0].Addr != newA || e.Peers()[0].Reach != 0xff); i++ {
			polls(1)
		}
		p := e.Peers()[0]
		t.Logf("requests %v, lookups %d\n%s", perDest, dns.count("ntp.test"), logs.String())
		if p.Addr != newA || p.Reach != 0xff || p.AssocID != id || p.Name != "ntp.test" {
			t.Fatalf("after the move: %v reach %#o id %d name %q; want %v 0377 id %d", p.Addr, p.Reach, p.AssocID, p.Name, newA, id)
		}
		// 10 answered, then 11 silent: the 8th silent poll shifts the last
		// bit out of the register, the 4th poll with it at 0 starts the lookup
		if n := perDest[oldA]; n != 10+11 {
			t.Errorf("%d requests to the old address, want 21", n)
		}
		if n := dns.count("ntp.test"); n != 2 {
			t.Errorf("%d lookups, want 2", n)
		}
		if !e.System().Synchronized() {
			t.Errorf("not synchronised at the new address")
		}
	})
}

// A name that still resolves to the same (silent) address keeps it; the
// lookups thin out (after 4, 8, 16, 32 unreachable polls), and a lookup
// that hangs never holds up polling.
func TestReresolveServerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := make(addrTransport, 16)
		dns := newDNSTable()
		dns.set("down.test", "198.18.0.1")
		dns.set("hang.test", "198.18.0.2")
		var logs lockedBuf
		e := runEngine(t, tr, dns, &logs,
			ntpsync.ServerConfig{Address: "down.test", MinPoll: 4, MaxPoll: 4},
			ntpsync.ServerConfig{Address: "hang.test", MinPoll: 4, MaxPoll: 4})
		down, hang := netip.MustParseAddrPort("198.18.0.1:123"), netip.MustParseAddrPort("198.18.0.2:123")
		perDest := map[netip.AddrPort]int{}
		for perDest[down] < 40 || perDest[hang] < 40 {
			p := <-tr
			perDest[p.to]++
			if perDest[hang] == 1 && p.to == hang {
				dns.set("hang.test") // resolved once; from now on lookups hang
			}
			synctest.Wait()
		}
		t.Logf("requests %v, lookups down %d hang %d\n%s", perDest, dns.count("down.test"), dns.count("hang.test"), logs.String())
		for _, p := range e.Peers() {
			if p.Addr != down && p.Addr != hang {
				t.Errorf("association moved to %v", p.Addr)
			}
		}
		// first lookup at start, then after 4, 8, 16 and 32 silent polls
		if n := dns.count("down.test"); n != 5 {
			t.Errorf("down.test looked up %d times in 40 polls, want 5", n)
		}
		if n := dns.count("hang.test"); n < 3 || n > 5 {
			t.Errorf("hang.test looked up %d times in 40 polls, want 3..5 (a hung lookup times out after 10 s)", n)
		}
	})
}

// Pool members that die are replaced from the pool's current DNS answer.
func TestPoolReplacesDeadMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := make(addrTransport, 64)
		dns := newDNSTable()
		dns.set("pool.test", "198.18.0.1", "198.18.0.2", "198.18.0.3")
		var logs lockedBuf
		e := runEngine(t, tr, dns, &logs, ntpsync.ServerConfig{Kind: ntpsync.KindPool, Address: "pool.test", MinPoll: 4, MaxPoll: 4})
		alive := map[netip.Addr]bool{}
		for _, a := range []string{"198.18.0.1", "198.18.0.2", "198.18.0.3"} {
			alive[netip.MustParseAddr(a)] = true
		}
		members := func() map[netip.Addr]uint8 {
			m := map[netip.Addr]uint8{}
			for _, p := range e.Peers() {
				if p.Name == "" {
					m[p.Addr.Addr()] = p.Reach
				}
			}
			return m
		}
		serve := func(n int) {
			for range n {
				p := <-tr
				if alive[p.to.Addr()] {
					h := engineReply(p.b, clock.System{})
					e.Input(h.Marshal(), p.to, time.Now())
				}
				synctest.Wait()
			}
		}
		serve(30)
		if m := members(); len(m) != 3 {
			t.Fatalf("members %v, want 3", m)
		}
		// two members die and the pool's DNS now names two others
		delete(alive, netip.MustParseAddr("198.18.0.1"))
		delete(alive, netip.MustParseAddr("198.18.0.2"))
		dns.set("pool.test", "198.18.0.3", "198.18.0.4", "198.18.0.5")
		alive[netip.MustParseAddr("198.18.0.4")] = true
		alive[netip.MustParseAddr("198.18.0.5")] = true
		want := map[netip.Addr]bool{netip.MustParseAddr("198.18.0.3"): true, netip.MustParseAddr("198.18.0.4"): true, netip.MustParseAddr("198.18.0.5"): true}
		ok := func() bool {
			m := members()
			if len(m) != 3 {
				return false
			}
			for a, r := range m {
				if !want[a] || r == 0 {
					return false
				}
			}
			return true
		}
		for i := 0; i < 200 && !ok(); i++ {
			serve(1)
		}
		if !ok() {
			t.Fatalf("members %v, want .3 .4 .5 reachable\n%s", members(), logs.String())
		}
	})
}

// server -4 / -6 restrict the lookups to one family.
func TestResolveFamily(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := make(addrTransport, 16)
		dns := newDNSTable()
		dns.set("any.test", "198.18.0.1")
		dns.set("v4.test", "198.18.0.2")
		dns.set("v6.test", "2001:db8::3")
		var logs lockedBuf
		runEngine(t, tr, dns, &logs,
			ntpsync.ServerConfig{Address: "any.test"},
			ntpsync.ServerConfig{Address: "v4.test", Network: "ip4"},
			ntpsync.ServerConfig{Address: "v6.test", Network: "ip6"})
		seen := map[netip.AddrPort]bool{}
		for len(seen) < 3 {
			seen[(<-tr).to] = true
		}
		for host, want := range map[string]string{"any.test": "ip", "v4.test": "ip4", "v6.test": "ip6"} {
			if got := dns.network(host); got != want {
				t.Errorf("%s looked up as %q, want %q", host, got, want)
			}
		}
	})
}
