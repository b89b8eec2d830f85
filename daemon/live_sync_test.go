package daemon

// Live synchronisation interop: ntpkit's daemon as a client and as a
// symmetric peer of real NTP implementations (chronyd, NTPsec ntpd, classic
// ntpd 4.2.8) in private network namespaces, observed with the real ntpq
// (NTPsec and classic) and ntpstat. The topology is the one of
// shared/compat/refsetup/start.sh: side A runs ntpkit (198.18.K.1 and its own
// loopback, where ntpq and ntpstat ask), side B the upstream servers on
// 198.18.K.2, .3 and .4. No process has CAP_SYS_TIME; ntpkit runs with
// --no-adjust, chronyd with -x, both ntpds with "disable kernel".
//
// Skipped without root or the tools, failed for that under CI=true.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/ntpkit/ntpkit/internal/netns"
	"github.com/ntpkit/ntpkit/internal/testenv"
	"github.com/ntpkit/ntpkit/sync/ntptest"
)

// The fake falseticker is this test binary, started again inside the
// namespace with ntptest.EnvVar set: it then serves and never returns.
func init() { ntptest.RunFromEnv() }

// syncNet is one pair of namespaces with the upstream servers on B.
type syncNet struct {
	t    *testing.T
	pair *netns.Pair
	dir  string
	bin  string // ntpkit
	ctx  context.Context
	vars syncVars
}

// syncVars fills the testdata/livesync configuration templates.
type syncVars struct {
	Dir                                        string
	Ntpkit                                     string // A's address
	Chrony, NTPsec, Classic, False, ChronyPeer string // B's addresses
}

func newSyncNet(t *testing.T, timeout time.Duration) *syncNet {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "/usr/sbin/ntpd", "ntpq", "ntpstat", testenv.ClassicBin("ntpd"),
		testenv.ClassicBin("ntpq"), testenv.ChronyBin("chronyd"), testenv.ChronyBin("chronyc"))
	bin := testenv.BuildNtpkit(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o700) // chronyd wants a private directory for its socket
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	host := func(n int) string { return fmt.Sprintf("198.18.%d.%d", p.Net, n) }
	for n := 3; n <= 5; n++ {
		p.B.AddAddr(p.DevB, host(n)+"/24")
	}
	return &syncNet{t: t, pair: p, dir: dir, bin: bin, ctx: ctx, vars: syncVars{
		Dir: dir, Ntpkit: p.A4.String(),
		Chrony: host(2), NTPsec: host(3), Classic: host(3), False: host(4), ChronyPeer: host(5),
	}}
}

// conf renders testdata/livesync/name into the temporary directory.
func (s *syncNet) conf(name string) string {
	s.t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "livesync", name))
	if err != nil {
		s.t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, s.vars); err != nil {
		s.t.Fatal(err)
	}
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// waitUDP waits until something listens on addr:123 in ns.
func (s *syncNet) waitUDP(ns *netns.NS, addr string, p *netns.Proc) {
	s.t.Helper()
	if err := ns.WaitUDP(addr+":123", 15*time.Second); err != nil {
		s.t.Fatalf("%v\n%s", err, p.Output())
	}
}

func (s *syncNet) startChrony(conf, addr string) {
	s.t.Helper()
	c := s.pair.B.Start(testenv.ChronyBin("chronyd"), "-x", "-d", "-u", "root", "-f", s.conf(conf))
	s.waitUDP(s.pair.B, addr, c)
}

func (s *syncNet) startNTPsec(conf string) {
	s.t.Helper()
	n := s.pair.B.Start("/usr/sbin/ntpd", "-n", "-c", s.conf(conf), "-l", filepath.Join(s.dir, "ntpsec.log"))
	s.waitUDP(s.pair.B, s.vars.NTPsec, n)
}

func (s *syncNet) startClassic(conf string) {
	s.t.Helper()
	cmd := s.pair.B.Command(context.Background(), testenv.ClassicBin("ntpd"), "-n", "-c", s.conf(conf),
		"-l", filepath.Join(s.dir, "classic.log"))
	cmd.Env = testenv.ClassicEnv()
	c := s.pair.B.StartCmd(cmd)
	s.waitUDP(s.pair.B, s.vars.Classic, c)
}

// startFalse starts the fake falseticker: stratum 2, 250 ms ahead.
func (s *syncNet) startFalse() {
	s.t.Helper()
	self, err := os.Executable()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := s.pair.B.Command(context.Background(), self, "-test.run=^$")
	spec := ntptest.Spec(netip.AddrPortFrom(netip.MustParseAddr(s.vars.False), 123).String(),
		ntptest.Config{Stratum: 2, Offset: 250 * time.Millisecond})
	cmd.Env = append(os.Environ(), ntptest.EnvVar+"="+spec)
	f := s.pair.B.StartCmd(cmd)
	s.waitUDP(s.pair.B, s.vars.False, f)
}

// startNtpkit starts ntpkit's daemon on A (all addresses, so 127.0.0.1:123
// for ntpq and ntpstat).
func (s *syncNet) startNtpkit(conf string) *netns.Proc {
	s.t.Helper()
	d := s.pair.A.Start(s.bin, "daemon", "-n", "-d", "--no-adjust", "-c", s.conf(conf))
	s.waitUDP(s.pair.A, "127.0.0.1", d)
	s.waitUDP(s.pair.A, s.vars.Ntpkit, d)
	return d
}

// run runs a tool in ns to completion; classic selects the classic
// programs' library path.
func (s *syncNet) run(ns *netns.NS, classic bool, argv ...string) (string, int) {
	s.t.Helper()
	e := &liveEnv{t: s.t, ns: ns, ctx: s.ctx}
	return e.run(classic, argv...)
}

// peerRow is one association line of ntpq -p (ntpq -n: remote is the
// address).
type peerRow struct {
	tally, remote, refid, typ, reach string
	stratum                          int
	offset                           float64 // ms
}

// reachable reports a non-zero reach register.
func (r peerRow) reachable() bool { return r.reach != "" && r.reach != "0" }

// ntpq -p lines: tally remote refid st t when poll reach delay offset jitter
var peerLine = regexp.MustCompile(`(?m)^([ x.\-+#*o])(\S+)\s+(\S+)\s+(\d+)\s+([a-zA-Z-])\s+\S+\s+\d+\s+([0-7]+)\s+\S+\s+(\S+)\s+\S+$`)

// peerRows maps remote address to row.
func peerRows(out string) map[string]peerRow {
	rows := map[string]peerRow{}
	for _, m := range peerLine.FindAllStringSubmatch(out, -1) {
		st, _ := strconv.Atoi(m[4])
		off, _ := strconv.ParseFloat(m[7], 64)
		rows[m[2]] = peerRow{tally: m[1], remote: m[2], refid: m[3], stratum: st, typ: m[5], reach: m[6], offset: off}
	}
	return rows
}

// poll repeats check every second until it returns "" (done) or the
// deadline passes; it returns the last complaint ("" on success).
func poll(t *testing.T, ctx context.Context, d time.Duration, check func() string) string {
	start := time.Now()
	deadline := start.Add(d)
	prev := ""
	for {
		why := check()
		if why != prev {
			t.Logf("%5.1fs: %s", time.Since(start).Seconds(), why)
			prev = why
		}
		if why == "" || time.Now().After(deadline) || ctx.Err() != nil {
			return why
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// TestLiveSyncClient: ntpkit's daemon synchronises to chronyd and NTPsec
// and rejects a 250 ms falseticker; the real ntpq (NTPsec and classic)
// show the tallies "*", "+" and "x", and the real ntpstat reports the
// synchronisation.
func TestLiveSyncClient(t *testing.T) {
	t.Parallel()
	s := newSyncNet(t, 3*time.Minute)
	s.startChrony("chrony.conf", s.vars.Chrony)
	s.startFalse()
	s.startNTPsec("ntpsec-server.conf")
	start := time.Now()
	d := s.startNtpkit("ntpkit-client.conf")
	cq := testenv.ClassicBin("ntpq")
	var last string
	servers := []string{s.vars.Chrony, s.vars.NTPsec}
	why := poll(t, s.ctx, 150*time.Second, func() string {
		sec, _ := s.run(s.pair.A, false, "ntpq", "-n", "-p")
		cla, _ := s.run(s.pair.A, true, cq, "-n", "-p")
		stat, code := s.run(s.pair.A, false, "ntpstat")
		last = fmt.Sprintf("NTPsec ntpq -p:\n%s\nclassic ntpq -p:\n%s\nntpstat (exit %d):\n%s", sec, cla, code, stat)
		var sys string
		for _, tool := range []struct{ name, out string }{{"NTPsec ntpq", sec}, {"classic ntpq", cla}} {
			rows := peerRows(tool.out)
			if r := rows[s.vars.False]; r.tally != "x" {
				return fmt.Sprintf("%s: falseticker %s has tally %q, want x", tool.name, s.vars.False, r.tally)
			}
			a, b := rows[servers[0]], rows[servers[1]]
			switch {
			case a.tally == "*" && b.tally == "+":
				sys = servers[0]
			case a.tally == "+" && b.tally == "*":
				sys = servers[1]
			default:
				return fmt.Sprintf("%s: tallies %q (chronyd) and %q (NTPsec), want * and +", tool.name, a.tally, b.tally)
			}
			for _, r := range rows {
				if r.typ != "u" || !r.reachable() {
					return fmt.Sprintf("%s: %s: type %q reach %s, want u and reachable", tool.name, r.remote, r.typ, r.reach)
				}
			}
			// --no-adjust: ntpkit's clock is the system clock, which the
			// servers share; only the falseticker is off, by 250 ms.
			for _, addr := range servers {
				if off := rows[addr].offset; math.Abs(off) > 20 {
					return fmt.Sprintf("%s: %s: offset %.3f ms, want within 20 ms", tool.name, addr, off)
				}
			}
			if off := rows[s.vars.False].offset; math.Abs(off-250) > 20 {
				return fmt.Sprintf("%s: falseticker: offset %.3f ms, want 250 ms within 20 ms", tool.name, off)
			}
		}
		if code != 0 {
			return fmt.Sprintf("ntpstat exit %d", code)
		}
		rows := peerRows(sec)
		want := fmt.Sprintf(`^synchronised to NTP server \(%s\) at stratum %d *\n`, regexp.QuoteMeta(sys), rows[sys].stratum+1)
		if !regexp.MustCompile(want).MatchString(stat) {
			first, _, _ := strings.Cut(stat, "\n")
			return fmt.Sprintf("ntpstat: first line %q, want %s", first, want)
		}
		return ""
	})
	if why != "" {
		t.Fatalf("after %v: %s\n%s\nntpkit:\n%s", time.Since(start).Round(time.Second), why, last, d.Output())
	}
	t.Logf("ntpkit settled after %v\n%s", time.Since(start).Round(time.Second), last)
}

// TestLiveSyncPeers: ntpkit's daemon with "peer" lines for classic ntpd,
// a second chronyd and NTPsec ntpd, which have "peer" lines for ntpkit;
// ntpkit and the ntpds use the first chronyd as their server. Classic ntpd
// and chronyd form symmetric active/active pairs with ntpkit (type "s" in
// ntpq, mode "=" in chronyc sources, reachable). NTPsec 1.2 no longer does
// symmetric mode: its "peer" polls ntpkit as a server (type "u"), and it
// leaves ntpkit's symmetric active packets unanswered, so after four
// unanswered polls ntpkit polls it as a server too (type "u", reachable).
func TestLiveSyncPeers(t *testing.T) {
	t.Parallel()
	s := newSyncNet(t, 3*time.Minute)
	// B: .2 chronyd (server), .3 classic ntpd, .4 NTPsec ntpd, .5 chronyd (peer)
	s.vars.NTPsec = fmt.Sprintf("198.18.%d.4", s.pair.Net)
	s.startChrony("chrony.conf", s.vars.Chrony)
	s.startChrony("chrony-peer.conf", s.vars.ChronyPeer)
	s.startClassic("classic-peer.conf")
	s.startNTPsec("ntpsec-peer.conf")
	start := time.Now()
	d := s.startNtpkit("ntpkit-peer.conf")
	cq := testenv.ClassicBin("ntpq")
	var last string
	// 4 unanswered polls (8 s at first, then backing off) before the NTPsec fallback
	why := poll(t, s.ctx, 130*time.Second, func() string {
		own, _ := s.run(s.pair.A, false, "ntpq", "-n", "-p")
		cla, _ := s.run(s.pair.B, true, cq, "-n", "-p", s.vars.Classic)
		sec, _ := s.run(s.pair.B, false, "ntpq", "-n", "-p", s.vars.NTPsec)
		secAs, _ := s.run(s.pair.B, false, "ntpq", "-c", "as", s.vars.NTPsec)
		chr, _ := s.run(s.pair.B, false, testenv.ChronyBin("chronyc"), "-h", filepath.Join(s.dir, "chronyd-peer.sock"), "-n", "sources")
		last = fmt.Sprintf("ntpkit (NTPsec ntpq -p):\n%s\nclassic ntpd (classic ntpq -p):\n%s\nNTPsec ntpd (ntpq -p, -c as):\n%s\n%s\nchronyd (chronyc sources):\n%s", own, cla, sec, secAs, chr)
		rows := peerRows(own)
		if r := rows[s.vars.Classic]; r.typ != "s" || !r.reachable() || math.Abs(r.offset) > 20 {
			return fmt.Sprintf("ntpkit: classic ntpd %s: type %q reach %q offset %.3f ms, want s, reachable, within 20 ms", s.vars.Classic, r.typ, r.reach, r.offset)
		}
		if r := rows[s.vars.ChronyPeer]; r.typ != "s" || !r.reachable() || math.Abs(r.offset) > 20 {
			return fmt.Sprintf("ntpkit: chronyd %s: type %q reach %q offset %.3f ms, want s, reachable, within 20 ms", s.vars.ChronyPeer, r.typ, r.reach, r.offset)
		}
		if r := rows[s.vars.NTPsec]; r.typ != "u" || !r.reachable() || math.Abs(r.offset) > 20 {
			return fmt.Sprintf("ntpkit: NTPsec ntpd %s: type %q reach %q offset %.3f ms, want u (client-mode fallback), reachable, within 20 ms", s.vars.NTPsec, r.typ, r.reach, r.offset)
		}
		rows = peerRows(cla)
		if r := rows[s.vars.Ntpkit]; r.typ != "s" || !r.reachable() {
			return fmt.Sprintf("classic ntpd: ntpkit %s: type %q reach %q, want s and reachable", s.vars.Ntpkit, r.typ, r.reach)
		}
		// chronyc sources: mode "=" (peer), then state, address, stratum,
		// poll, reach (octal)
		m := regexp.MustCompile(`(?m)^=. ` + regexp.QuoteMeta(s.vars.Ntpkit) + `\s+\d+\s+-?\d+\s+([0-7]+)\s`).FindStringSubmatch(chr)
		if m == nil || m[1] == "0" {
			return fmt.Sprintf("chronyd: ntpkit %s not a reachable peer (=) in chronyc sources", s.vars.Ntpkit)
		}
		// NTPsec's "peer" is a client association ("u")
		rows = peerRows(sec)
		if r := rows[s.vars.Ntpkit]; r.typ != "u" || !r.reachable() {
			return fmt.Sprintf("NTPsec ntpd: ntpkit %s: type %q reach %q, want u and reachable", s.vars.Ntpkit, r.typ, r.reach)
		}
		if n := len(regexp.MustCompile(`(?m)^\s*\d+\s+\d+\s+[0-9a-f]{4}\s+yes\s+yes\s`).FindAllString(secAs, -1)); n != 2 {
			return fmt.Sprintf("NTPsec ntpq -c as: %d associations configured and reachable, want 2", n)
		}
		return ""
	})
	if why != "" {
		t.Fatalf("after %v: %s\n%s\nntpkit:\n%s", time.Since(start).Round(time.Second), why, last, d.Output())
	}
	t.Logf("peers reachable after %v\n%s", time.Since(start).Round(time.Second), last)
}
