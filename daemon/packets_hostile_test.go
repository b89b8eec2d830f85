package daemon

// Hostile input (issue 7): random, truncated and corrupted packets of every
// mode streamed at the daemon's packet handler and at its sockets. The
// daemon must not panic, must never answer more octets than it was sent
// from a source that may not query, must never answer mode 7, and must
// keep serving well-behaved clients.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

const hostileConf = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n" +
	"restrict default kod limited nomodify notrap nopeer noquery\nrestrict 127.0.0.1\nrestrict ::1\n"

// hostileGen produces hostile datagrams from a seeded generator.
type hostileGen struct {
	r     *rand.Rand
	valid [][]byte // well-formed requests of every kind, to truncate and corrupt
}

func newHostileGen(seed uint64) *hostileGen {
	g := &hostileGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	key, _ := ntp.NewKey(1, ntp.MACMD5, []byte("hostile"))
	for mode := uint8(0); mode < 8; mode++ {
		g.valid = append(g.valid, ntpRequest(4, mode, 0x1122334455667788))
	}
	g.valid = append(g.valid, ntp.AppendMAC(ntpRequest(4, 3, 1), key), ntp.AppendCryptoNAK(ntpRequest(4, 3, 2)))
	ext := append(ntpRequest(4, 3, 3), 0x01, 0x04, 0, 20)
	g.valid = append(g.valid, append(ext, make([]byte, 16)...))
	for op := mode6.Opcode(0); op < 32; op++ {
		g.valid = append(g.valid, ctlReq(op, 0, "version,stratum"))
	}
	g.valid = append(g.valid,
		ctlReq(mode6.OpReadVar, 1, ""),
		append(ctlReq(mode6.OpReadVar, 0, ""), make([]byte, 564)...),
		mode6.AppendSignedRequest(nil, mode6.NewRequest(mode6.OpWriteVar, 9, 0), []byte("x=1"), key),
		[]byte{0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0},
	)
	return g
}

// next returns a hostile datagram: random bytes with a chosen mode, a
// truncated valid request, a valid request with random bit flips, or a
// valid request with a random length field (mode 6 count, extension field
// length).
func (g *hostileGen) next() []byte {
	r := g.r
	switch r.IntN(4) {
	case 0:
		n := r.IntN(1500)
		if r.IntN(4) == 0 {
			n = r.IntN(64)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if n > 0 {
			b[0] = b[0]&^7 | byte(r.IntN(8))
		}
		return b
	case 1:
		v := g.valid[r.IntN(len(g.valid))]
		return bytes.Clone(v[:r.IntN(len(v)+1)])
	case 2:
		b := bytes.Clone(g.valid[r.IntN(len(g.valid))])
		for k := r.IntN(4) + 1; k > 0 && len(b) > 0; k-- {
			b[r.IntN(len(b))] ^= 1 << r.IntN(8)
		}
		return b
	default:
		b := bytes.Clone(g.valid[r.IntN(len(g.valid))])
		if len(b) >= 12 {
			binary.BigEndian.PutUint16(b[10:], uint16(r.Uint32()))
		}
		if len(b) >= 52 {
			binary.BigEndian.PutUint16(b[50:], uint16(r.Uint32()))
		}
		return b
	}
}

// recSender records the replies of the packet handler.
type recSender struct {
	n, octets int
	last      []byte
	lastTo    netip.AddrPort
}

func (s *recSender) send(pkt []byte, to netip.AddrPort) error {
	s.n++
	s.octets += len(pkt)
	s.last = append(s.last[:0], pkt...)
	s.lastTo = to
	return nil
}

func hostileCount(t *testing.T, def int) int {
	if s := os.Getenv("NTPKIT_HOSTILE_PACKETS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("NTPKIT_HOSTILE_PACKETS=%q", s)
		}
		return n
	}
	return def
}

// TestHostilePacketsHandler streams NTPKIT_HOSTILE_PACKETS (default
// 300 000) hostile datagrams at the packet handler, alternating a source
// that may query (127.0.0.1) and 64 that may not, and after every 10 000
// checks that a client request and a control query from 127.0.0.1 are
// still answered correctly. A panic fails the test with the input.
func TestHostilePacketsHandler(t *testing.T) {
	total := hostileCount(t, 300_000)
	d := secDaemon(t, hostileConf, func(o *Options) { o.KernelTimestamps = new(bool) })
	s := &recSender{}
	w := d.newWorker(s)
	g := newHostileGen(7)
	allowed := netip.MustParseAddrPort("127.0.0.1:40000")
	var cur []byte
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic %v on datagram %x", p, cur)
		}
	}()
	answered := map[string]int{}
	for i := 0; i < total; i++ {
		cur = g.next()
		from := allowed
		if i%2 == 1 {
			from = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 2, byte(i >> 1 & 63)}), 123)
		}
		n0, o0 := s.n, s.octets
		w.handlePacket(cur, from, ntp.Timestamp(uint64(i)<<20))
		mode := -1
		if len(cur) > 0 {
			mode = int(cur[0] & 7)
		}
		if s.n > n0 {
			answered[fmt.Sprintf("mode %d from %s", mode, map[bool]string{true: "127.0.0.1", false: "restricted"}[from == allowed])]++
			if mode == 7 {
				t.Fatalf("mode 7 answered: %x", cur)
			}
			if from != allowed && s.octets-o0 > len(cur) {
				t.Errorf("restricted source: %d octets answered to a %d-octet datagram %x", s.octets-o0, len(cur), cur)
			}
		}
		if i%10_000 == 9_999 {
			hostileCheckServing(t, w, s, allowed, i)
		}
	}
	t.Logf("%d hostile datagrams; answered: %v", total, answered)
}

func hostileCheckServing(t *testing.T, w *worker, s *recSender, from netip.AddrPort, i int) {
	t.Helper()
	n0 := s.n
	w.handlePacket(ntpRequest(4, 3, uint64(i)), from, 1)
	h, err := ntp.ParseHeader(s.last)
	if s.n != n0+1 || err != nil || h.Mode != ntp.ModeServer || h.Stratum != 11 || h.OrigTime != ntp.Timestamp(i) {
		t.Fatalf("after %d hostile datagrams: mode 3 answer %+v, %v", i+1, h, err)
	}
	n0 = s.n
	w.handlePacket(ctlReq(mode6.OpReadVar, 0, "stratum"), from, 1)
	p, err := mode6.Parse(s.last)
	if s.n != n0+1 || err != nil || p.Error || !bytes.Contains(p.Data, []byte("stratum=11")) {
		t.Fatalf("after %d hostile datagrams: READVAR answer %q, %v", i+1, s.last, err)
	}
}

// TestHostilePacketsUDP sends 20 000 hostile datagrams through the real
// socket from 127.0.0.1 and from restricted loopback sources (bounded:
// at most 10 s), then checks that the daemon still answers a client and a
// control query.
func TestHostilePacketsUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("live test")
	}
	d := secDaemon(t, hostileConf, nil)
	server := d.Addrs()[0]
	snd := newPktinfoSender(t)
	g := newHostileGen(11)
	begin := time.Now()
	sent := 0
	for i := 0; i < 20_000 && time.Since(begin) < 10*time.Second; i++ {
		src := netip.MustParseAddr("127.0.0.1")
		if i%2 == 1 {
			src = netip.AddrFrom4([4]byte{127, 0, 3, byte(i >> 1 & 255)})
		}
		if err := snd.sendFrom(src, g.next(), server); err == nil {
			sent++
		}
		if i%1000 == 999 {
			time.Sleep(5 * time.Millisecond) // let the daemon keep up; this is not a load test
		}
	}
	time.Sleep(200 * time.Millisecond)
	r := secExchangeOnce(server, netip.MustParseAddr("127.0.0.1"), ntpRequest(4, 3, 77), 2*time.Second)
	h, err := ntp.ParseHeader(r)
	if r == nil || err != nil || h.Stratum != 11 || h.OrigTime != 77 {
		t.Fatalf("after %d hostile datagrams: mode 3 answer %x", sent, r)
	}
	r = secExchangeOnce(server, netip.MustParseAddr("127.0.0.1"), ctlReq(mode6.OpReadVar, 0, "stratum"), 2*time.Second)
	if p, err := mode6.Parse(r); err != nil || !bytes.Contains(p.Data, []byte("stratum=11")) {
		t.Fatalf("after %d hostile datagrams: READVAR answer %q, %v", sent, r, err)
	}
	m := d.Metrics()
	t.Logf("%d hostile datagrams in %v; served mode 3 %d, mode 6 %d (+%d errors); dropped: short %d, version %d, mode %d, noquery %d, malformed %d, rate %d",
		sent, time.Since(begin).Round(time.Millisecond), m.Packets(3, "served"), m.Packets(6, "served"), m.Packets(6, "error"),
		m.Dropped("short"), m.Dropped("version"), m.Dropped("mode"), m.Dropped("noquery"), m.Dropped("malformed"), m.Dropped("rate_limited"))
	if m.Packets(7, "served")+m.Packets(7, "error") != 0 {
		t.Error("mode 7 answered")
	}
}
