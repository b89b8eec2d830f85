package daemon

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// A bounded flood from many loopback source addresses (127.2.x.y) against
// "restrict default limited kod": KoD answers appear, the MRU table stays
// at its fixed size, memory does not grow with the number of sources, and a
// well-behaved client keeps getting normal answers throughout.
func TestFloodManySources(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test skipped in -short mode")
	}
	const (
		capacity   = 128
		sources    = 1200 // > capacity: the table must evict
		perSource  = 4    // back to back: over "discard minimum"
		batch      = 200
		goodPolls  = 4
		goodPeriod = 1100 * time.Millisecond
	)
	d := startDaemon(t, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrestrict default limited kod\ndiscard minimum 1\n",
		func(o *Options) { o.MRUCapacity = capacity })
	waitSynced(t, d)
	server := net.UDPAddrFromAddrPort(d.Addrs()[0])

	// The well-behaved client polls every 1.1 s from 127.0.0.1 while the
	// flood runs.
	goodDone := make(chan [2]int)
	go func() {
		c, err := net.DialUDP("udp4", nil, server)
		if err != nil {
			goodDone <- [2]int{-1, 0}
			return
		}
		defer c.Close()
		ok, kod := 0, 0
		buf := make([]byte, 128)
		for i := 0; i < goodPolls; i++ {
			if i > 0 {
				time.Sleep(goodPeriod)
			}
			c.Write(clientRequest(0, 4, 3, 6, ntp.Timestamp(i+1)))
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err != nil {
				continue
			}
			h, _ := ntp.ParseHeader(buf[:n])
			if h.IsKissOfDeath() {
				kod++
			} else if h.Stratum == 11 && h.OrigTime == ntp.Timestamp(i+1) {
				ok++
			}
		}
		goodDone <- [2]int{ok, kod}
	}()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	kods, normal := 0, 0
	buf := make([]byte, 128)
	for b := 0; b < sources/batch; b++ {
		conns := make([]*net.UDPConn, 0, batch)
		for i := 0; i < batch; i++ {
			k := b*batch + i
			src := netip.AddrFrom4([4]byte{127, 2, byte(k >> 8), byte(k)})
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), server)
			if err != nil {
				t.Fatalf("source %v: %v", src, err)
			}
			conns = append(conns, c)
			for j := 0; j < perSource; j++ {
				c.Write(clientRequest(0, 4, 3, 6, ntp.Timestamp(j+1)))
			}
		}
		// Let the replies arrive, then drain every socket (a passed
		// deadline would fail reads without looking at queued data).
		time.Sleep(150 * time.Millisecond)
		for _, c := range conns {
			for {
				c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
				n, err := c.Read(buf)
				if err != nil {
					break
				}
				h, _ := ntp.ParseHeader(buf[:n])
				if h.IsKissOfDeath() && h.RefID == ntp.KissRate {
					kods++
				} else {
					normal++
				}
			}
			c.Close()
		}
		if d.MRU().Len() > capacity {
			t.Fatalf("MRU holds %d entries > capacity %d", d.MRU().Len(), capacity)
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)

	t.Logf("server: served %d kod %d dropped %d (send_error %d, rate %d)", d.Metrics().Packets(3, "served"), d.Metrics().Packets(3, "kod"), d.Metrics().Packets(3, "dropped"), d.Metrics().Dropped("send_error"), d.Metrics().Dropped("rate_limited"))
	good := <-goodDone
	t.Logf("%d sources x %d packets in %v: %d normal replies, %d KoD; well-behaved client: %d ok, %d KoD",
		sources, perSource, elapsed.Round(time.Millisecond), normal, kods, good[0], good[1])
	if d.MRU().Len() != capacity {
		t.Errorf("MRU len %d, want the full fixed capacity %d", d.MRU().Len(), capacity)
	}
	if kods == 0 {
		t.Error("no KoD replies")
	}
	// KoDs are themselves rate limited: at most one per source (its
	// packets came within one average interval) and within the table-wide
	// budget of 100 per second.
	if max := min(sources, int(100*(elapsed.Seconds()+1))+1); kods > max {
		t.Errorf("%d KoDs, want at most %d", kods, max)
	}
	// Each source's first packet is answered, unless the burst overflowed
	// the socket's receive buffer (the kernel drops those, not the daemon).
	if normal < sources*3/4 {
		t.Errorf("%d normal replies, want about one per source (%d)", normal, sources)
	}
	if good[0] != goodPolls {
		t.Errorf("well-behaved client: %d of %d polls answered normally (%d KoD)", good[0], goodPolls, good[1])
	}
	if m := d.Metrics(); m.KoDSent() != uint64(kods) || m.RateLimited() < uint64(sources*(perSource-1)/2) {
		t.Errorf("metrics: kod %d (seen %d), rate limited %d", m.KoDSent(), kods, m.RateLimited())
	}
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 4<<20 {
		t.Errorf("heap grew by %d bytes during the flood", grow)
	}
}
