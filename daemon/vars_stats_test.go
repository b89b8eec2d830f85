package daemon

import (
	"bytes"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// The variable lists the two ntpq front ends send for their statistics
// commands (captured, query/testdata/stats/wire-*.txt).
const (
	classicSysstats = "ss_uptime,ss_reset,ss_received,ss_thisver,ss_oldver,ss_badformat,ss_badauth,ss_declined,ss_restricted,ss_limited,ss_kodsent,ss_processed"
	secSysstats2    = "ss_reset,ss_received,ss_thisver,ss_oldver,ss_ver1,ss_ver1client,ss_ver1zero,ss_ver1symm,ss_badformat,ss_badauth,ss_declined,ss_restricted,ss_limited,ss_kodsent,ss_processed,ss_reset_r,ss_received_r,ss_thisver_r,ss_oldver_r,ss_ver1_r,ss_ver1client_r,ss_ver1zero_r,ss_ver1symm_r,ss_badformat_r,ss_badauth_r,ss_declined_r,ss_restricted_r,ss_limited_r,ss_kodsent_r,ss_processed_r"
	kerninfoList    = "koffset,kfreq,kmaxerr,kesterr,kstflags,ktimeconst,kprecis,kfreqtol,kppsfreq,kppsstab,kppsjitter,kppscalibdur,kppscalibs,kppsjitexc,kppsstbexc,kppscaliberrs"
	iostatsList     = "iostats_reset,total_rbuf,free_rbuf,used_rbuf,rbuf_lowater,io_dropped,io_ignored,io_received,io_sent,io_sendfailed,io_wakeups,io_goodwakeups"
	monstatsSec     = "mru_enabled,mru_hashslots,mru_depth,mru_deepest,mru_maxdepth,mru_mindepth,mru_maxage,mru_minage,mru_mem,mru_maxmem,mru_exists,mru_new,mru_recycleold,mru_recyclefull,mru_none,mru_oldest_age"
	authinfoClassic = "authreset,authkeys,authfreek,authklookups,authknotfound,authkuncached,authkexpired,authencrypts,authdecrypts"
	authinfoSec     = "authreset,authkeys,authfreek,authklookups,authknotfound,authencrypts,authdigestencrypts,authcmacencrypts,authdecrypts,authdigestdecrypts,authdigestfails,authcmacdecrypts,authcmacfails,authkuncached,authkexpired"
	timerstatsList  = "timerstats_reset,timer_overruns,timer_xmts"
	pstatsClassic   = "srcadr,srcport,dstadr,dstport,timerec,timer,timereach,sent,received,badauth,bogusorg,oldpkt,seldisp,selbroken,candidate"
	pstatsSec       = "srcadr,dstadr,timerec,timer,timereach,sent,received,badauth,bogusorg,oldpkt,seldisp,selbroken,candidate,ntscookies"
)

type collectSender struct{ out [][]byte }

func (s *collectSender) send(pkt []byte, to netip.AddrPort) error {
	s.out = append(s.out, bytes.Clone(pkt))
	return nil
}

// statsQuery sends one READVAR through a worker (the serving path) and
// returns the answer's variables, or the error code.
func statsQuery(t *testing.T, w *worker, s *collectSender, assoc uint16, list string) (map[string]string, []string, mode6.ErrorCode) {
	t.Helper()
	s.out = nil
	req := ctlRequest(2, mode6.OpReadVar, 7, assoc, list)
	w.handlePacket(req, netip.MustParseAddrPort("127.0.0.1:40123"), 1)
	if len(s.out) == 0 {
		t.Fatalf("no answer to %q", list)
	}
	if h, _ := mode6.ParseHeader(s.out[0]); h.Error {
		return nil, nil, mode6.ErrorCode(h.Status >> 8)
	}
	_, data := reassemble(t, req, s.out)
	vars, err := mode6.Tokenize(data)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	var order []string
	for _, v := range vars {
		m[v.Name] = v.Value
		order = append(order, v.Name)
	}
	return m, order, 0
}

func simClock() *clock.Sim { return clock.NewSim(clock.System{}, clock.SimOptions{Seed: 1}) }

// The counters behind sysstats and iostats count what the daemon
// received, by the rules documented in vars_stats.go.
func TestStatsSysstatsCounters(t *testing.T) {
	sim := simClock()
	d := startDaemon(t, "server 127.127.1.0\nrestrict default limited kod\nrestrict 127.0.0.1\nrestrict 198.51.100.9 ignore\n",
		func(o *Options) { o.Clock = sim })
	s := &collectSender{}
	w := d.newWorker(s)
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	w.handlePacket(clientRequest(0, 4, 3, 6, 1), from, 1)                                      // v4 client: served
	w.handlePacket(clientRequest(0, 3, 3, 6, 1), from, 1)                                      // v3 client: served
	w.handlePacket(clientRequest(0, 1, 3, 6, 1), from, 1)                                      // v1 client: served
	w.handlePacket(clientRequest(0, 6, 3, 6, 1), from, 1)                                      // bad version
	w.handlePacket([]byte{0x17, 0, 0, 0}, from, 1)                                             // mode 7: declined
	w.handlePacket([]byte{0x23}, from, 1)                                                      // short
	w.handlePacket(clientRequest(0, 4, 3, 6, 1), netip.MustParseAddrPort("198.51.100.9:1"), 1) // restricted (a v4 NTP packet too)

	got, order, code := statsQuery(t, w, s, 0, classicSysstats)
	if code != 0 {
		t.Fatalf("error %v", code)
	}
	want := map[string]string{
		"ss_received": "8", // 7 above and this request
		"ss_thisver":  "3", "ss_oldver": "2", "ss_badformat": "2", "ss_badauth": "0",
		"ss_declined": "1", "ss_restricted": "1", "ss_limited": "0", "ss_kodsent": "0", "ss_processed": "0",
	}
	for n, v := range want {
		if got[n] != v {
			t.Errorf("%s=%q, want %q", n, got[n], v)
		}
	}
	for _, n := range []string{"ss_uptime", "ss_reset"} {
		if v, err := strconv.Atoi(got[n]); err != nil || v < 0 || v > 60 {
			t.Errorf("%s=%q, want seconds since start", n, got[n])
		}
	}
	if len(order) != 12 {
		t.Errorf("answered %v, want all 12 classic names", order)
	}

	// NTPsec's lists: the control request count, every "_r" twin equal to
	// its total, the unmeasured NTPv1 split left out.
	got, _, code = statsQuery(t, w, s, 0, "ss_uptime,ss_numctlreq")
	if code != 0 || got["ss_numctlreq"] != "1" {
		t.Errorf("ss_numctlreq: %v %v, want 1 (the earlier request)", got, code)
	}
	got, _, code = statsQuery(t, w, s, 0, secSysstats2)
	if code != 0 {
		t.Fatalf("error %v", code)
	}
	for n, v := range got {
		if base, ok := strings.CutSuffix(n, "_r"); ok && got[base] != v && base != "ss_reset" && base != "ss_received" {
			t.Errorf("%s=%s but %s=%s", n, v, base, got[base])
		}
	}
	if got["ss_ver1"] != "1" {
		t.Errorf("ss_ver1=%q, want 1", got["ss_ver1"])
	}
	for _, n := range []string{"ss_ver1client", "ss_ver1zero", "ss_ver1symm", "ss_ver1client_r"} {
		if _, ok := got[n]; ok {
			t.Errorf("%s sent; ntpkit does not count it", n)
		}
	}
	if _, ok := got["ss_reset_r"]; !ok {
		t.Error("ss_reset_r missing: NTPsec's ntpq needs every twin")
	}

	got, _, _ = statsQuery(t, w, s, 0, iostatsList)
	if len(got) != 3 || got["io_sendfailed"] != "0" || got["io_received"] == "" || got["iostats_reset"] == "" {
		t.Errorf("iostats: %v, want iostats_reset, io_received, io_sendfailed only", got)
	}
}

// Unknown names still fail the whole request; statistics names mixed with
// ordinary ones are answered together; the hot path stays free of
// allocations with the new counter.
func TestStatsNamesKnownAndUnknown(t *testing.T) {
	d := startDaemon(t, "server 127.127.1.0\n", func(o *Options) { o.Clock = simClock() })
	s := &collectSender{}
	w := d.newWorker(s)
	if _, _, code := statsQuery(t, w, s, 0, "ss_uptime,bogus"); code != mode6.ErrCodeUnknownVar {
		t.Errorf("ss_uptime,bogus: code %v, want UNKNOWNVAR", code)
	}
	got, order, code := statsQuery(t, w, s, 0, "stratum,ss_uptime,leap")
	if code != 0 || strings.Join(order, ",") != "leap,stratum,ss_uptime" {
		t.Errorf("mixed list: %v %v", order, code)
	}
	_ = got
	for _, list := range []string{authinfoClassic, authinfoSec, timerstatsList, monstatsSec} {
		got, _, code := statsQuery(t, w, s, 0, list)
		if code != 0 {
			t.Errorf("%s: %v", list, code)
		}
		for n := range got {
			if !strings.Contains(list, n) {
				t.Errorf("%s answered for %s", n, list)
			}
		}
	}
	got, _, _ = statsQuery(t, w, s, 0, monstatsSec)
	if got["mru_enabled"] != "0x1" || got["mru_maxdepth"] != "4096" || got["mru_depth"] == "" {
		t.Errorf("monstats: %v", got)
	}
	got, _, _ = statsQuery(t, w, s, 0, timerstatsList)
	if len(got) != 1 || got["timerstats_reset"] == "" {
		t.Errorf("timerstats: %v, want timerstats_reset only", got)
	}
	got, _, _ = statsQuery(t, w, s, 0, authinfoClassic)
	if len(got) != 2 || got["authkeys"] != "0" {
		t.Errorf("authinfo: %v, want authreset and authkeys=0", got)
	}

	req := clientRequest(0, 4, 3, 6, 1)
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	wn := d.newWorker(&nopSender{})
	if a := testing.AllocsPerRun(100, func() { wn.handlePacket(req, from, 5) }); a != 0 {
		t.Errorf("mode 3 path allocates %.1f times", a)
	}
}

// kerninfo reads the clock's kernel state: here the simulated clock's.
func TestStatsKerninfoFromSimClock(t *testing.T) {
	sim := simClock()
	if err := sim.SetFrequency(-12.5); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetStatus(clock.Status{Synchronized: true, Leap: ntp.LeapInsert, MaxError: 1500 * time.Microsecond, EstError: 250 * time.Microsecond}); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "server 127.127.1.0\n", func(o *Options) { o.Clock = sim })
	s := &collectSender{}
	w := d.newWorker(s)
	got, _, code := statsQuery(t, w, s, 0, kerninfoList)
	if code != 0 {
		t.Fatal(code)
	}
	want := map[string]string{
		"koffset": "0", "kfreq": "-12.5", "kmaxerr": "1.5", "kesterr": "0.25", "kstflags": `"ins"`,
		"ktimeconst": "0", "kprecis": "0.001", "kfreqtol": "500", "kppsfreq": "0", "kppsstab": "0",
		"kppsjitter": "0", "kppscalibdur": "0", "kppscalibs": "0", "kppsjitexc": "0", "kppsstbexc": "0",
		"kppscaliberrs": "0",
	}
	for n, v := range want {
		if got[n] != v {
			t.Errorf("%s=%q, want %q", n, got[n], v)
		}
	}
	// A clock that cannot report a kernel state: the names are known, the
	// values left out.
	d2 := startDaemon(t, "server 127.127.1.0\n", func(o *Options) { o.Clock = clock.Fixed(time.Now()) })
	w2 := d2.newWorker(s)
	if got, _, code := statsQuery(t, w2, s, 0, kerninfoList); code != 0 || len(got) != 0 {
		t.Errorf("fixed clock: %v %v, want an empty answer", got, code)
	}
}

// On Linux the system clock's state is read from the kernel, without
// privileges and without changing it.
func TestStatsReadKernel(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("adjtimex is Linux")
	}
	k, err := clock.ReadKernel()
	if err != nil {
		t.Fatal(err)
	}
	if k.TolerancePPM != 500 || k.Precision <= 0 {
		t.Errorf("kernel state %+v: want 500 ppm tolerance and a precision", k)
	}
	if KernelStatusText(clock.StaPLL|clock.StaUnsync|clock.StaNano) != "pll unsync nano" {
		t.Errorf("status text %q", KernelStatusText(clock.StaPLL|clock.StaUnsync|clock.StaNano))
	}
}

// pstats: the addresses and the time since the last packet; what the
// engine does not count is left out, not sent as zero.
func TestStatsPstats(t *testing.T) {
	d := startDaemon(t, "server 127.127.1.0\n", func(o *Options) { o.Clock = simClock() })
	waitSynced(t, d)
	s := &collectSender{}
	w := d.newWorker(s)
	var p ntpsync.PeerState
	deadline := time.Now().Add(5 * time.Second)
	for {
		if peers := d.Engine().Peers(); len(peers) > 0 && peers[0].Rec != 0 {
			p = peers[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no packet from the local clock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, list := range []string{pstatsClassic, pstatsSec} {
		got, _, code := statsQuery(t, w, s, p.AssocID, list)
		if code != 0 {
			t.Fatalf("%v", code)
		}
		if got["srcadr"] != "127.127.1.0" || got["dstadr"] == "" {
			t.Errorf("addresses: %v", got)
		}
		if v, err := strconv.Atoi(got["timerec"]); err != nil || v < 0 || v > 60 {
			t.Errorf("timerec=%q", got["timerec"])
		}
		for _, n := range []string{"sent", "received", "timer", "timereach", "ntscookies", "candidate"} {
			if _, ok := got[n]; ok {
				t.Errorf("%s sent; the engine does not count it", n)
			}
		}
	}
	if _, _, code := statsQuery(t, w, s, p.AssocID+1, pstatsClassic); code != mode6.ErrCodeBadAssoc {
		t.Errorf("unknown association: %v, want BADASSOC", code)
	}
}

// A responder without a daemon (NewControl alone) knows the names and
// answers none of them.
func TestStatsWithoutDaemon(t *testing.T) {
	snap := testSnapshot()
	out, o, code := exchange(t, ctlRequest(2, mode6.OpReadVar, 1, 0, classicSysstats), 0, snap)
	if o != CtlAnswered || code != 0 {
		t.Fatalf("outcome %v %v", o, code)
	}
	_, data := reassemble(t, ctlRequest(2, mode6.OpReadVar, 1, 0, classicSysstats), out)
	if len(bytes.TrimSpace(data)) != 0 {
		t.Errorf("data %q, want none", data)
	}
}
