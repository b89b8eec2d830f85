package daemon

// Security properties of the serving path (issue 7): no amplification, the
// default restriction policy, bounded behaviour under a flood. The tests
// start the daemon in-process on loopback; every packet goes to 127.0.0.0/8
// and every loop is bounded in count and time. docs/security.md lists the
// commands and results.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// secDaemon runs a daemon on an ephemeral 127.0.0.1 port until the test
// ends. clk, when not nil, is its clock.
func secDaemon(t testing.TB, conf string, tweak func(*Options)) *Daemon {
	t.Helper()
	cfg, err := ntpconf.Parse("security.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	opts := Options{
		Config:         cfg,
		Listen:         []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		LocalSyncDelay: 20 * time.Millisecond,
		Info:           SystemInfo{Version: "ntpkit security test"},
	}
	if tweak != nil {
		tweak(&opts)
	}
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for !d.Engine().System().Synchronized() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return d
}

// secExchange sends req from a fresh socket bound to from and returns the
// datagrams received until the socket has been quiet for quiet.
func secExchange(t testing.TB, server netip.AddrPort, from netip.Addr, req []byte, quiet time.Duration) [][]byte {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), net.UDPAddrFromAddrPort(server))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, bytes.Clone(buf[:n]))
	}
}

func ntpRequest(vn, mode uint8, xmt uint64) []byte {
	b := make([]byte, ntp.HeaderLen)
	b[0] = vn<<3 | mode
	b[2] = 6
	binary.BigEndian.PutUint64(b[40:], xmt)
	return b
}

func ctlReq(op mode6.Opcode, assoc uint16, data string) []byte {
	return mode6.MarshalRequest(mode6.NewRequest(op, 1, assoc), []byte(data))
}

// attack is one request of the amplification catalogue.
type attack struct {
	name string
	pkt  []byte
}

// attackCatalogue lists a request of every mode and every kind of control
// request, well-formed and not.
func attackCatalogue(t testing.TB) []attack {
	var a []attack
	for mode := uint8(0); mode < 8; mode++ {
		a = append(a, attack{fmt.Sprintf("mode %d, 48 octets", mode), ntpRequest(4, mode, 0x1234)})
	}
	for _, vn := range []uint8{0, 1, 2, 3, 5, 7} {
		a = append(a, attack{fmt.Sprintf("mode 3 version %d", vn), ntpRequest(vn, 3, 0x99)})
	}
	key, _ := ntp.NewKey(1, ntp.MACSHA1, []byte("secret"))
	ext := append(ntpRequest(4, 3, 7), 0x01, 0x04, 0, 16)
	ext = append(ext, make([]byte, 12)...)
	ext = append(ext, 0x02, 0x04, 0, 32)
	ext = append(ext, make([]byte, 28)...)
	monlist := make([]byte, 48)
	copy(monlist, []byte{0x17, 0x00, 0x03, 0x2a}) // mode 7, XNTPD, MON_GETLIST_1
	monlist4 := bytes.Clone(monlist)
	monlist4[0] = 0x27
	a = append(a,
		attack{"empty datagram", nil},
		attack{"one octet", []byte{0xe3}},
		attack{"mode 3, 47 octets", ntpRequest(4, 3, 1)[:47]},
		attack{"mode 3 with MAC", ntp.AppendMAC(ntpRequest(4, 3, 2), key)},
		attack{"mode 3 with crypto-NAK", ntp.AppendCryptoNAK(ntpRequest(4, 3, 3))},
		attack{"mode 3 with extension fields", ext},
		attack{"mode 3, 1200 octets", append(ntpRequest(4, 3, 4), make([]byte, 1152)...)},
		attack{"mode 7 monlist (CVE-2013-5211)", monlist},
		attack{"mode 7 monlist v4", monlist4},
		attack{"mode 7, 8 octets", monlist[:8]},
		attack{"mode 6 READSTAT", ctlReq(mode6.OpReadStat, 0, "")},
		attack{"mode 6 READVAR", ctlReq(mode6.OpReadVar, 0, "")},
		attack{"mode 6 READVAR list", ctlReq(mode6.OpReadVar, 0, "version,system,processor,refid,stratum")},
		attack{"mode 6 READVAR unknown var", ctlReq(mode6.OpReadVar, 0, "nosuchvariable")},
		attack{"mode 6 READVAR bad assoc", ctlReq(mode6.OpReadVar, 4242, "")},
		attack{"mode 6 READCLOCK", ctlReq(mode6.OpReadClock, 0, "")},
		attack{"mode 6 WRITEVAR", ctlReq(mode6.OpWriteVar, 0, "leap=1")},
		attack{"mode 6 CONFIGURE", ctlReq(mode6.OpConfigure, 0, "restrict default")},
		attack{"mode 6 READ_MRU (mrulist)", ctlReq(mode6.OpReadMRU, 0, "nonce=1, frags=32")},
		attack{"mode 6 signed READVAR", mode6.AppendSignedRequest(nil, mode6.NewRequest(mode6.OpReadVar, 1, 0), nil, key)},
		attack{"mode 6 ntpstat 576-octet READVAR", append(ctlReq(mode6.OpReadVar, 0, ""), make([]byte, 564)...)},
	)
	for op := mode6.Opcode(0); op < 32; op++ {
		if op == mode6.OpReadStat || op == mode6.OpReadVar {
			continue
		}
		a = append(a, attack{fmt.Sprintf("mode 6 opcode %d (%v)", op, op), ctlReq(op, 0, "")})
	}
	frag := ctlReq(mode6.OpReadVar, 0, "")
	frag[1] |= 0x20 // M bit
	resp := ctlReq(mode6.OpReadVar, 0, "")
	resp[1] |= 0x80 // R bit
	offset := ctlReq(mode6.OpReadVar, 0, "")
	binary.BigEndian.PutUint16(offset[8:], 468)
	count := ctlReq(mode6.OpReadVar, 0, "")
	binary.BigEndian.PutUint16(count[10:], 400)
	odd := append(ctlReq(mode6.OpReadVar, 0, ""), 0, 0)
	v0 := ctlReq(mode6.OpReadVar, 0, "")
	v0[0] = 0x06
	a = append(a,
		attack{"mode 6 fragment (M bit)", frag},
		attack{"mode 6 response bit", resp},
		attack{"mode 6 non-zero offset", offset},
		attack{"mode 6 count beyond datagram", count},
		attack{"mode 6 length not a multiple of 4", odd},
		attack{"mode 6 version 0", v0},
		attack{"mode 6 header only, 11 octets", ctlReq(mode6.OpReadVar, 0, "")[:11]},
	)
	return a
}

// TestNoAmplification sends every request of the catalogue from addresses
// the restrictions do not allow to query (restrict default ... noquery;
// 127.0.0.2 and up are not exempt) and checks that no reply is larger than
// its request, that the replies together are not larger either, that mode
// 6 and mode 7 get no reply at all, and that only mode 3 is answered.
// From the exempt address 127.0.0.1 mode 7 and the other unserved modes
// still get nothing and mode 6 errors are no larger than the request.
func TestNoAmplification(t *testing.T) {
	d := secDaemon(t, ntpconf.DefaultConfig, nil)
	server := d.Addrs()[0]
	cat := attackCatalogue(t)
	type result struct {
		replies [][]byte
	}
	run := func(base [3]byte) []result {
		res := make([]result, len(cat))
		var wg sync.WaitGroup
		for i, at := range cat {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from := netip.AddrFrom4([4]byte{base[0], base[1], base[2], byte(i + 1)})
				if base == [3]byte{127, 0, 0} {
					from = netip.MustParseAddr("127.0.0.1")
				}
				res[i].replies = secExchange(t, server, from, at.pkt, 300*time.Millisecond)
			}()
		}
		wg.Wait()
		return res
	}

	restricted := run([3]byte{127, 0, 1})
	var answered []string
	for i, at := range cat {
		total := 0
		for _, r := range restricted[i].replies {
			total += len(r)
			if len(r) > len(at.pkt) {
				t.Errorf("restricted source, %s: %d-octet reply to a %d-octet request", at.name, len(r), len(at.pkt))
			}
		}
		if total > len(at.pkt) {
			t.Errorf("restricted source, %s: %d octets in %d replies to a %d-octet request", at.name, total, len(restricted[i].replies), len(at.pkt))
		}
		mode := -1
		if len(at.pkt) > 0 {
			mode = int(at.pkt[0] & 7)
		}
		if len(restricted[i].replies) > 0 {
			answered = append(answered, fmt.Sprintf("%s (%d×%d octets)", at.name, len(restricted[i].replies), len(restricted[i].replies[0])))
			if mode != 3 {
				t.Errorf("restricted source, %s: answered (mode %d); only mode 3 may be", at.name, mode)
			}
		}
	}
	t.Logf("restricted sources: %d requests, answered: %s", len(cat), strings.Join(answered, "; "))

	allowed := run([3]byte{127, 0, 0})
	for i, at := range cat {
		if len(at.pkt) == 0 {
			continue
		}
		mode := at.pkt[0] & 7
		n := len(allowed[i].replies)
		switch {
		case mode == 7 && n > 0:
			t.Errorf("127.0.0.1, %s: mode 7 answered", at.name)
		case mode == 1 && n > 0:
			// A symmetric active request from a source without nopeer may
			// be answered (mode 2), never with more octets than it had.
			for _, r := range allowed[i].replies {
				if len(r) > len(at.pkt) || r[0]&7 != 2 {
					t.Errorf("127.0.0.1, %s: mode %d reply of %d octets", at.name, r[0]&7, len(r))
				}
			}
		case mode != 3 && mode != 6 && n > 0:
			t.Errorf("127.0.0.1, %s: mode %d answered", at.name, mode)
		case mode == 6 && n > 0 && allowed[i].replies[0][1]&0x40 != 0 && len(allowed[i].replies[0]) > len(at.pkt):
			t.Errorf("127.0.0.1, %s: %d-octet error reply to a %d-octet request", at.name, len(allowed[i].replies[0]), len(at.pkt))
		}
	}
	worst, worstName := 0.0, ""
	for i, at := range cat {
		total := 0
		for _, r := range allowed[i].replies {
			total += len(r)
		}
		if len(at.pkt) > 0 && float64(total)/float64(len(at.pkt)) > worst {
			worst, worstName = float64(total)/float64(len(at.pkt)), at.name
		}
	}
	t.Logf("127.0.0.1 (allowed to query): largest reply/request octet ratio %.1f (%s)", worst, worstName)
	if got := d.Metrics().Packets(7, "served") + d.Metrics().Packets(7, "error"); got != 0 {
		t.Errorf("metrics: %d mode 7 packets answered", got)
	}
	// Still serving.
	if r := secExchange(t, server, netip.MustParseAddr("127.0.0.1"), ctlReq(mode6.OpReadVar, 0, "stratum"), time.Second); len(r) == 0 {
		t.Error("no answer to a READVAR from 127.0.0.1 after the catalogue")
	}
}

// TestDefaultConfigControlLoopbackOnly: the built-in configuration answers
// control queries (mode 6) only from 127.0.0.1 and ::1; every other source
// gets time, rate limited with KoD, but no control answers.
func TestDefaultConfigControlLoopbackOnly(t *testing.T) {
	cfg, err := ntpconf.Parse("default", strings.NewReader(ntpconf.DefaultConfig))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Restrictor()
	for _, s := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1"} {
		if f := r.Flags(netip.MustParseAddr(s)); f.Has(ntpconf.RestrictNoQuery) || f.Has(ntpconf.RestrictIgnore) {
			t.Errorf("%s: flags %v, want control queries allowed", s, f)
		}
	}
	for _, s := range []string{"127.0.0.2", "127.255.255.254", "10.0.0.1", "192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1", "fe80::1", "::", "0.0.0.0", "255.255.255.255"} {
		f := r.Flags(netip.MustParseAddr(s))
		for _, want := range []ntpconf.RestrictFlags{ntpconf.RestrictNoQuery, ntpconf.RestrictLimited, ntpconf.RestrictKOD, ntpconf.RestrictNoModify, ntpconf.RestrictNoPeer} {
			if !f.Has(want) {
				t.Errorf("%s: flags %v lack %v", s, f, want)
			}
		}
		if f.Has(ntpconf.RestrictNoServe) || f.Has(ntpconf.RestrictIgnore) {
			t.Errorf("%s: flags %v refuse time", s, f)
		}
	}
	d := secDaemon(t, ntpconf.DefaultConfig, nil)
	server := d.Addrs()[0]
	req := ctlReq(mode6.OpReadVar, 0, "stratum")
	if got := secExchangeOnce(server, netip.MustParseAddr("127.0.0.1"), req, 2*time.Second); got == nil {
		t.Error("READVAR from 127.0.0.1 not answered")
	}
	for _, from := range []string{"127.0.0.2", "127.1.2.3"} {
		if got := secExchange(t, server, netip.MustParseAddr(from), req, 300*time.Millisecond); len(got) != 0 {
			t.Errorf("READVAR from %s answered", from)
		}
		if got := secExchangeOnce(server, netip.MustParseAddr(from), ntpRequest(4, 3, 5), 2*time.Second); len(got) != ntp.HeaderLen {
			t.Errorf("mode 3 from %s: reply %x", from, got)
		}
	}
}

// offsetClock is the real clock shifted by a settable offset, so a test can
// run minutes of daemon time in a second.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time                { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) advanceTo(since time.Duration) { c.off.Store(int64(since)) }

// countSender records what the packet handler sends.
type countSender struct {
	good          netip.Addr
	goodReplies   [][]byte
	normal, kod   int
	other, bigger int
	bytes         int
}

func (s *countSender) send(pkt []byte, to netip.AddrPort) error {
	s.bytes += len(pkt)
	if len(pkt) > ntp.HeaderLen {
		s.bigger++
	}
	if to.Addr() == s.good {
		s.goodReplies = append(s.goodReplies, bytes.Clone(pkt))
	}
	h, err := ntp.ParseHeader(pkt)
	switch {
	case err != nil || h.Mode != ntp.ModeServer:
		s.other++
	case h.IsKissOfDeath():
		s.kod++
	default:
		s.normal++
	}
	return nil
}

func floodPackets(t *testing.T, def int) int {
	if s := os.Getenv("NTPKIT_FLOOD_PACKETS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			t.Fatalf("NTPKIT_FLOOD_PACKETS=%q: want a number >= 1000", s)
		}
		return n
	}
	return def
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFloodBounded drives the daemon's packet handler (the code behind
// every socket) with a flood under "restrict default limited kod", in
// simulated time: NTPKIT_FLOOD_PACKETS packets (default 200 000) over 64
// daemon seconds, 60% from 10 000 spoofed sources in 127.0.0.0/8 (more than
// the MRU table holds, so it must evict), 40% from 1 000 heavy hitters
// (each over its rate, together asking for more KoDs than the table-wide
// limit allows), and a well-behaved client (127.0.0.1, under the same
// restriction) polling every 16 s. It checks that the MRU table never
// exceeds its capacity and the heap does not grow with the packet count,
// that KoDs are limited table-wide (at most 100/s plus one second's
// burst), that no reply is larger than its request, that heavy hitters get
// no more normal answers than their burst plus one per 8 s, and that every
// poll of the good client gets a normal answer.
func TestFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test skipped in -short mode")
	}
	total := floodPackets(t, 200_000)
	const (
		spoofed   = 10_000
		heavy     = 1_000
		span      = 64 * time.Second
		goodEvery = 16 * time.Second
		kodPerSec = 100 // MRUOptions default
	)
	clk := &offsetClock{}
	d := secDaemon(t, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default limited kod nomodify nopeer noquery\n",
		func(o *Options) { o.Clock = clk; o.KernelTimestamps = new(bool) })
	if !d.Engine().System().Synchronized() {
		t.Fatal("daemon not synchronised")
	}
	mru := d.MRU()
	if mru == nil {
		t.Fatal("no MRU table with limited")
	}
	good := netip.MustParseAddr("127.0.0.1")
	s := &countSender{good: good}
	w := d.newWorker(s)
	src := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 10 + byte(i>>16), byte(i >> 8), byte(i)}), 123)
	}
	heavySrc := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 200, byte(i >> 8), byte(i)}), 40000)
	}
	start := clk.Now()
	before := heapInUse()
	req := ntpRequest(4, 3, 0)
	var heavySent, heavyNormal, heavyKoD, goodPolls, spoofN int
	nextGood := time.Duration(0)
	maxLen := 0
	wall := time.Now()
	for i := 0; i < total; i++ {
		at := time.Duration(int64(span) * int64(i) / int64(total))
		clk.advanceTo(at)
		rx := ntp.TimestampFromTime(start.Add(at))
		if at >= nextGood {
			goodPolls++
			before := len(s.goodReplies)
			binary.BigEndian.PutUint64(req[40:], uint64(0xa000+goodPolls))
			w.handlePacket(req, netip.AddrPortFrom(good, 40123), rx)
			if len(s.goodReplies) != before+1 {
				t.Fatalf("good client poll %d at %v: no reply", goodPolls, at)
			}
			nextGood += goodEvery
		}
		binary.BigEndian.PutUint64(req[40:], uint64(i))
		if i%5 < 2 {
			n0, k0 := s.normal, s.kod
			w.handlePacket(req, heavySrc(heavySent%heavy), rx)
			heavySent++
			heavyNormal += s.normal - n0
			heavyKoD += s.kod - k0
		} else {
			w.handlePacket(req, src(spoofN%spoofed), rx)
			spoofN++
		}
		if i%4096 == 0 {
			maxLen = max(maxLen, mru.Len())
		}
	}
	elapsed := time.Since(wall)
	after := heapInUse()
	maxLen = max(maxLen, mru.Len())

	for i, r := range s.goodReplies {
		h, err := ntp.ParseHeader(r)
		if err != nil || h.IsKissOfDeath() || h.Mode != ntp.ModeServer || h.Stratum != 11 || uint64(h.OrigTime) != uint64(0xa000+i+1) {
			t.Errorf("good client poll %d: %+v, %v", i+1, h, err)
		}
	}
	// The daemon's time is the simulated span plus the wall time the loop
	// took (the clock is the real one, shifted).
	daemonTime := clk.Now().Sub(start)
	kodBound := int(daemonTime.Seconds()*kodPerSec) + kodPerSec + 1
	growth := int64(after) - int64(before)
	t.Logf("%d packets (%d from %d heavy hitters, the rest from %d sources) over %v daemon time in %v (%.0f packets/s): "+
		"%d normal replies, %d KoDs (bound %d), heavy hitters: %d normal + %d KoD answers to %d packets, good client %d/%d normal, "+
		"MRU max %d of %d, heap %+d octets",
		total, heavySent, heavy, spoofed, span, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(),
		s.normal, s.kod, kodBound, heavyNormal, heavyKoD, heavySent, len(s.goodReplies), goodPolls, maxLen, mru.Cap(), growth)
	if maxLen > mru.Cap() {
		t.Errorf("MRU table held %d entries, capacity %d", maxLen, mru.Cap())
	}
	if s.kod > kodBound {
		t.Errorf("%d KoDs in %v: more than %d", s.kod, daemonTime, kodBound)
	}
	if s.kod == 0 {
		t.Error("no KoD sent to the heavy hitters")
	}
	if s.bigger > 0 || s.other > 0 {
		t.Errorf("%d replies larger than 48 octets, %d not mode 4", s.bigger, s.other)
	}
	if s.bytes > (total+goodPolls)*ntp.HeaderLen {
		t.Errorf("replied %d octets to %d octets of requests", s.bytes, (total+goodPolls)*ntp.HeaderLen)
	}
	// Heavy hitters: a burst of 8 each, then one per 8 s on average.
	if limit := heavy * (8 + int(span/(8*time.Second)) + 1); heavyNormal > limit {
		t.Errorf("heavy hitters got %d normal answers to %d packets (limit %d)", heavyNormal, heavySent, limit)
	}
	if s.kod < int(span/time.Second)*kodPerSec/2 {
		t.Errorf("only %d KoDs: the table-wide limit was not reached, the test does not test it", s.kod)
	}
	// The table is fixed size and nothing else should accumulate per
	// packet or per source: allow 4 MiB of noise.
	if growth > 4<<20 {
		t.Errorf("heap grew by %d octets over %d packets", growth, total)
	}
}

// pktinfoSender sends UDP datagrams with a chosen source address in
// 127.0.0.0/8 (IP_PKTINFO ipi_spec_dst), so one socket can act as many
// loopback clients. Replies to those addresses go nowhere.
type pktinfoSender struct {
	c   *net.UDPConn
	oob []byte
	pi  *unix.Inet4Pktinfo
}

func newPktinfoSender(t testing.TB) *pktinfoSender {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	oob := make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_IP
	h.Type = unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	return &pktinfoSender{c: c, oob: oob, pi: (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))}
}

func (p *pktinfoSender) sendFrom(src netip.Addr, pkt []byte, to netip.AddrPort) error {
	p.pi.Spec_dst = src.As4()
	_, _, err := p.c.WriteMsgUDPAddrPort(pkt, p.oob, to)
	return err
}

// TestFloodUDP is the same flood through the real sockets, smaller and in
// real time: 100 000 datagrams (NTPKIT_FLOOD_PACKETS/2 when set) from
// 10 000 loopback source addresses and 1 000 heavy hitters, paced over
// about 5 s, while a well-behaved client on 127.0.0.1 polls every 2.2 s. Every
// poll must get a normal answer (one retry for a datagram lost on the
// busy machine), KoDs stay within the table-wide limit, and the MRU table
// within its capacity.
func TestFloodUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test skipped in -short mode")
	}
	total := 100_000
	if os.Getenv("NTPKIT_FLOOD_PACKETS") != "" {
		total = floodPackets(t, 0) / 2
	}
	const (
		spoofed  = 10_000
		heavy    = 1_000
		duration = 5 * time.Second
	)
	d := secDaemon(t, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default limited kod nomodify nopeer noquery\n", nil)
	server := d.Addrs()[0]
	snd := newPktinfoSender(t)
	if err := snd.sendFrom(netip.MustParseAddr("127.3.0.1"), ntpRequest(4, 3, 1), server); err != nil {
		t.Skipf("IP_PKTINFO source selection unavailable: %v", err)
	}

	goodCh := make(chan [3]int, 1)
	stop := make(chan struct{})
	go func() {
		ok, bad, polls := 0, 0, 0
		for {
			polls++
			var got bool
			for try := 0; try < 2 && !got; try++ {
				r := secExchangeOnce(server, netip.MustParseAddr("127.0.0.1"), ntpRequest(4, 3, uint64(polls)), time.Second)
				if r == nil {
					continue
				}
				got = true
				if h, err := ntp.ParseHeader(r); err == nil && !h.IsKissOfDeath() && h.Stratum == 11 && h.OrigTime == ntp.Timestamp(polls) {
					ok++
				} else {
					bad++
				}
			}
			select {
			case <-stop:
				goodCh <- [3]int{ok, bad, polls}
				return
			case <-time.After(2200 * time.Millisecond):
			}
		}
	}()

	kod0 := d.Metrics().KoDSent()
	begin := time.Now()
	req := ntpRequest(4, 3, 0)
	sendErrs := 0
	perTick := total / int(duration/(10*time.Millisecond))
	maxLen := 0
	nHeavy, nSpoof := 0, 0
	for i := 0; i < total; i++ {
		var src netip.Addr
		if i%5 < 2 {
			h := nHeavy % heavy
			nHeavy++
			src = netip.AddrFrom4([4]byte{127, 201, byte(h >> 8), byte(h)})
		} else {
			j := nSpoof % spoofed
			nSpoof++
			src = netip.AddrFrom4([4]byte{127, 11, byte(j >> 8), byte(j)})
		}
		binary.BigEndian.PutUint64(req[40:], uint64(i))
		if err := snd.sendFrom(src, req, server); err != nil {
			sendErrs++
		}
		if i%perTick == perTick-1 {
			// pace: stay on schedule for `duration`, never beyond 3x
			if ahead := time.Duration(int64(duration)*int64(i)/int64(total)) - time.Since(begin); ahead > 0 {
				time.Sleep(ahead)
			}
			if time.Since(begin) > 3*duration {
				t.Logf("stopping early after %d datagrams: the machine is too slow", i)
				total = i + 1
				break
			}
			maxLen = max(maxLen, d.MRU().Len())
		}
	}
	sent := time.Since(begin)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	g := <-goodCh
	kods := d.Metrics().KoDSent() - kod0
	elapsed := time.Since(begin)
	kodBound := uint64(elapsed/time.Second+1)*100 + 100
	m := d.Metrics()
	t.Logf("%d datagrams in %v (%d send errors); daemon: %d served, %d KoD (bound %d), %d rate-limited drops; MRU max %d of %d; good client %d/%d polls normal, %d bad",
		total, sent.Round(time.Millisecond), sendErrs, m.Packets(3, "served"), kods, kodBound, m.Dropped("rate_limited"), maxLen, d.MRU().Cap(), g[0], g[2], g[1])
	if g[0] != g[2] || g[1] != 0 {
		t.Errorf("good client: %d of %d polls answered normally, %d bad answers", g[0], g[2], g[1])
	}
	if kods > kodBound {
		t.Errorf("%d KoDs in %v, bound %d", kods, elapsed, kodBound)
	}
	if maxLen > d.MRU().Cap() {
		t.Errorf("MRU %d > capacity %d", maxLen, d.MRU().Cap())
	}
	if m.Packets(3, "served")+m.Packets(3, "kod")+m.Packets(3, "dropped") == 0 {
		t.Error("the daemon saw none of the flood")
	}
}

// secExchangeOnce sends req from a fresh socket bound to from and returns
// the first reply, or nil after timeout.
func secExchangeOnce(server netip.AddrPort, from netip.Addr, req []byte, timeout time.Duration) []byte {
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return nil
	}
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return bytes.Clone(buf[:n])
}
