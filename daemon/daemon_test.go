package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func parseConf(t testing.TB, text string) *ntpconf.Config {
	t.Helper()
	cfg, err := ntpconf.Parse("test.conf", strings.NewReader(text))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// startDaemon runs a daemon on an ephemeral loopback port until the test
// ends.
func startDaemon(t testing.TB, conf string, tweak func(*Options)) *Daemon {
	t.Helper()
	opts := Options{
		Config:         parseConf(t, conf),
		Listen:         []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Logger:         slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LocalSyncDelay: 50 * time.Millisecond,
		Info:           testInfo,
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
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	return d
}

// roundTrip sends req to the daemon from a fresh socket bound to from
// (zero: any loopback port) and collects replies until timeout.
func roundTrip(t testing.TB, d *Daemon, from netip.Addr, req []byte, timeout time.Duration) [][]byte {
	t.Helper()
	var laddr *net.UDPAddr
	if from.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	c, err := net.DialUDP("udp4", laddr, net.UDPAddrFromAddrPort(d.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, bytes.Clone(buf[:n]))
		c.SetReadDeadline(time.Now().Add(timeout / 4))
	}
}

func waitSynced(t testing.TB, d *Daemon) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !d.Engine().System().Synchronized() {
		if time.Now().After(deadline) {
			t.Fatal("not synchronised after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDaemonDefaultConfigServesLocalClock(t *testing.T) {
	d := startDaemon(t, ntpconf.DefaultConfig, func(o *Options) { o.LocalSyncDelay = 300 * time.Millisecond })
	// Right after start: unsynchronised, LI 3 stratum 0.
	r := roundTrip(t, d, netip.Addr{}, clientRequest(3, 4, 3, 6, 77), time.Second)
	if len(r) != 1 {
		t.Fatalf("%d replies before sync", len(r))
	}
	h, _ := ntp.ParseHeader(r[0])
	if !d.Engine().System().Synchronized() && (h.Leap != ntp.LeapAlarm || h.Stratum != 0) {
		t.Errorf("before sync: %+v", h)
	}
	waitSynced(t, d)
	r = roundTrip(t, d, netip.Addr{}, clientRequest(3, 4, 3, 6, 77), time.Second)
	if len(r) != 1 {
		t.Fatalf("%d replies", len(r))
	}
	h, _ = ntp.ParseHeader(r[0])
	if h.Leap != 0 || h.Stratum != 11 || h.RefID != (ntp.RefID{127, 127, 1, 0}) || h.OrigTime != 77 || h.Mode != ntp.ModeServer {
		t.Errorf("synchronised reply %+v", h)
	}
	if h.RecvTime.IsZero() || h.XmitTime.Sub(h.RecvTime) < 0 {
		t.Errorf("timestamps rx %v tx %v", h.RecvTime, h.XmitTime)
	}
	// Mode 6 from loopback is allowed by the default configuration.
	req := ctlRequest(2, mode6.OpReadVar, 1, 0, "stratum,refid,tc")
	r = roundTrip(t, d, netip.Addr{}, req, time.Second)
	if len(r) != 1 || !bytes.Contains(r[0], []byte("stratum=11, refid=127.127.1.0, tc=6\r\n")) {
		t.Errorf("rv: %q", r)
	}
	if h, _ := mode6.ParseHeader(r[0]); h.Status != 0x0514 {
		t.Errorf("system status %#04x, want 0514 (sync_local)", h.Status)
	}
	// LOCAL(0) is the system peer, stratum 10 as fudged.
	ps := d.Engine().Peers()
	if len(ps) != 1 || ps[0].Stratum != 10 || ps[0].Select != 6 || PeerStatusWord(&ps[0]) != 0x961a {
		t.Errorf("peers %+v", ps)
	}
	if m := d.Metrics(); m.Packets(3, "served") != 2 || m.Packets(6, "served") != 1 {
		t.Errorf("metrics: mode 3 served %d, mode 6 served %d", m.Packets(3, "served"), m.Packets(6, "served"))
	}
}

func TestDaemonRestrictions(t *testing.T) {
	tests := []struct {
		name         string
		conf         string
		mode3, mode6 bool
	}{
		{"open", "server 127.127.1.0\n", true, true},
		{"noquery", "server 127.127.1.0\nrestrict 127.0.0.1 noquery\n", true, false},
		{"default noquery, loopback allowed", "server 127.127.1.0\nrestrict default noquery\nrestrict 127.0.0.1\n", true, true},
		{"noserve", "server 127.127.1.0\nrestrict 127.0.0.1 noserve\n", false, true},
		{"ignore", "server 127.127.1.0\nrestrict default ignore\n", false, false},
		{"version", "server 127.127.1.0\nrestrict default version\n", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startDaemon(t, tc.conf, nil)
			r3 := roundTrip(t, d, netip.Addr{}, clientRequest(0, 4, 3, 6, 1), 300*time.Millisecond)
			r6 := roundTrip(t, d, netip.Addr{}, ctlRequest(2, mode6.OpReadStat, 1, 0, ""), 300*time.Millisecond)
			if (len(r3) == 1) != tc.mode3 || (len(r6) == 1) != tc.mode6 {
				t.Errorf("mode 3 answered %v (want %v), mode 6 answered %v (want %v)", len(r3) == 1, tc.mode3, len(r6) == 1, tc.mode6)
			}
			if tc.name == "version" {
				if r := roundTrip(t, d, netip.Addr{}, clientRequest(0, 3, 3, 6, 1), 300*time.Millisecond); len(r) != 0 {
					t.Error("restrict version answered an NTPv3 request")
				}
			}
		})
	}
}

func TestDaemonMonitorSwitch(t *testing.T) {
	if d := startDaemon(t, "server 127.127.1.0\ndisable monitor\n", nil); d.MRU() != nil {
		t.Error("disable monitor without limited: MRU table kept")
	}
	if d := startDaemon(t, "server 127.127.1.0\n", nil); d.MRU() == nil {
		t.Error("monitor enabled by default: no MRU table")
	}
	d := startDaemon(t, "server 127.127.1.0\ndisable monitor\nrestrict default limited kod\n", nil)
	if d.MRU() == nil {
		t.Fatal("limited needs the MRU table even with monitoring disabled")
	}
	roundTrip(t, d, netip.Addr{}, clientRequest(0, 4, 3, 6, 1), 200*time.Millisecond)
	if d.MRU().Len() != 1 {
		t.Errorf("MRU len %d after one packet", d.MRU().Len())
	}
}

func TestDaemonDriftFile(t *testing.T) {
	dir := t.TempDir()
	drift := filepath.Join(dir, "ntp.drift")
	os.WriteFile(drift, []byte("12.500\n"), 0o644)
	conf := "server 127.127.1.0\ndriftfile " + drift + "\n"
	d := startDaemon(t, conf, nil)
	if f := d.Engine().System().FrequencyPPM; f != 12.5 {
		t.Errorf("frequency %v, want 12.5 from the drift file", f)
	}
	// Corrupt and unwritable drift files: a log line, and the daemon runs.
	os.WriteFile(drift, []byte("garbage"), 0o644)
	d2 := startDaemon(t, "server 127.127.1.0\ndriftfile "+filepath.Join(dir, "missing-dir", "x")+"\n", nil)
	if r := roundTrip(t, d2, netip.Addr{}, clientRequest(0, 4, 3, 6, 1), time.Second); len(r) != 1 {
		t.Error("daemon with an unusable drift file does not serve")
	}
	d3 := startDaemon(t, conf, nil)
	if f := d3.Engine().System().FrequencyPPM; f != 0 {
		t.Errorf("corrupt drift file gave frequency %v", f)
	}
}

func TestDaemonWritesDriftAtShutdown(t *testing.T) {
	dir := t.TempDir()
	drift := filepath.Join(dir, "ntp.drift")
	os.WriteFile(drift, []byte("-4.250\n"), 0o644)
	d, err := New(Options{Config: parseConf(t, "server 127.127.1.0\ndriftfile "+drift+"\n"),
		Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(drift)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, err := ReadDrift(drift); err != nil || v != -4.25 {
		t.Errorf("drift after shutdown: %v %v", v, err)
	}
}

// Without a fudge line the LOCAL driver runs at its default stratum 5.
func TestDaemonMetrics(t *testing.T) {
	d := startDaemon(t, "server 127.127.1.0\n", func(o *Options) { o.MetricsAddr = "127.0.0.1:0" })
	waitSynced(t, d)
	roundTrip(t, d, netip.Addr{}, clientRequest(0, 4, 3, 6, 1), time.Second)
	resp, err := http.Get("http://" + d.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`ntpkit_packets_total{mode="3",outcome="served"} 1`,
		`ntpkit_dropped_total{reason="rate_limited"} 0`,
		"ntpkit_kod_sent_total 0", "ntpkit_rate_limited_total 0",
		"ntpkit_system_stratum 6", "ntpkit_system_offset_seconds 0", "ntpkit_system_frequency_ppm 0",
		"ntpkit_peers_reachable 1", "ntpkit_mru_capacity 4096",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

type nopSender struct{ n int }

func (s *nopSender) send(pkt []byte, to netip.AddrPort) error { s.n++; return nil }

// The whole mode 3 path (restrict lookup, MRU, reply, send) does not
// allocate.
func TestHandleClientNoAllocs(t *testing.T) {
	d := startDaemon(t, "server 127.127.1.0\nrestrict default limited kod\nrestrict 127.0.0.1\n", nil)
	s := &nopSender{}
	w := d.newWorker(s)
	req := clientRequest(0, 4, 3, 6, 1)
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	limitedFrom := netip.MustParseAddrPort("198.51.100.7:40000")
	if a := testing.AllocsPerRun(200, func() {
		w.handlePacket(req, from, 5)
		w.handlePacket(req, limitedFrom, 5)
	}); a != 0 {
		t.Errorf("mode 3 path allocates %.1f times per packet pair", a)
	}
	if s.n == 0 {
		t.Error("nothing sent")
	}
}

func BenchmarkHandleClient(b *testing.B) {
	d := startDaemon(b, "server 127.127.1.0\nrestrict default limited kod\nrestrict 127.0.0.1\n", nil)
	w := d.newWorker(&nopSender{})
	req := clientRequest(0, 4, 3, 6, 1)
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	b.ReportAllocs()
	for b.Loop() {
		w.handlePacket(req, from, 5)
	}
}

var errSend = errors.New("send failed")

type failSender struct{}

func (failSender) send([]byte, netip.AddrPort) error { return errSend }

func TestHandleSendErrorCounted(t *testing.T) {
	d := startDaemon(t, "server 127.127.1.0\n", nil)
	w := d.newWorker(failSender{})
	w.handlePacket(clientRequest(0, 4, 3, 6, 1), netip.MustParseAddrPort("127.0.0.1:1"), 1)
	w.handlePacket([]byte{0x17, 0, 0, 0}, netip.MustParseAddrPort("127.0.0.1:1"), 1) // mode 7
	w.handlePacket(nil, netip.MustParseAddrPort("127.0.0.1:1"), 1)
	m := d.Metrics()
	if m.Dropped("send_error") != 1 || m.Dropped("mode") != 1 || m.Dropped("short") != 1 {
		t.Errorf("drops: send_error %d mode %d short %d", m.Dropped("send_error"), m.Dropped("mode"), m.Dropped("short"))
	}
}

// fakeEngine shows how an engine plugs in: it publishes a fixed snapshot.
type fakeEngine struct {
	sys   ntpsync.SystemState
	peers []ntpsync.PeerState
}

func (f *fakeEngine) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f *fakeEngine) System() *ntpsync.SystemState  { return &f.sys }
func (f *fakeEngine) Peers() []ntpsync.PeerState    { return f.peers }

func TestDaemonCustomEngine(t *testing.T) {
	var got EngineParams
	d := startDaemon(t, "server 198.18.0.1 iburst\ndriftfile "+filepath.Join(t.TempDir(), "drift")+"\n", func(o *Options) {
		o.NewEngine = func(p EngineParams) (Engine, error) {
			got = p
			up := netPeer()
			return &fakeEngine{
				sys: ntpsync.SystemState{Leap: 0, Stratum: 4, Precision: -24, RefID: ntp.RefID{198, 18, 0, 1},
					Poll: 6, MinPoll: 3, SysPeer: up.AssocID, ClockSource: 6, FrequencyPPM: -3.5},
				peers: []ntpsync.PeerState{up},
			}, nil
		}
	})
	if got.Config == nil || len(got.Config.Servers) != 1 || got.Adjuster != nil || got.Clock == nil || got.FirstAssocID == 0 {
		t.Errorf("engine params %+v", got)
	}
	r := roundTrip(t, d, netip.Addr{}, clientRequest(0, 4, 3, 6, 9), time.Second)
	if len(r) != 1 {
		t.Fatal("no reply")
	}
	if h, _ := ntp.ParseHeader(r[0]); h.Stratum != 4 || h.RefID != (ntp.RefID{198, 18, 0, 1}) {
		t.Errorf("reply %+v", h)
	}
	r = roundTrip(t, d, netip.Addr{}, ctlRequest(2, mode6.OpReadVar, 1, 0, "refid,peer,frequency"), time.Second)
	if len(r) != 1 || !bytes.HasSuffix(r[0][:12+binary.BigEndian.Uint16(r[0][10:])], []byte("refid=198.18.0.1, peer=2208, frequency=-3.500\r\n")) {
		t.Errorf("rv: %q", r)
	}
	if h, _ := mode6.ParseHeader(r[0]); h.Status>>8 != 0x06 {
		t.Errorf("status %#04x: clock source should be 6 (sync_ntp)", h.Status)
	}
}
