//go:build linux

package mode6

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/internal/netns"
	"github.com/ntpkit/ntpkit/internal/testenv"
)

// The live test runs the real ntpq (classic and NTPsec) and ntpstat against
// a minimal responder built only from this package, inside a private network
// namespace. The responder serves the state captured from ntpd-sec
// (testdata/pcap): the association list and peer variables of
// classic-ntpq-p.vs-ntpsecd.pcap and the system variables of
// ntpstat.ntpsec.pcap, decoded with Tokenize and re-encoded with
// VarEncoder/EachFragmentAt. So real clients must reassemble our fragments
// (every peer answer takes two) and accept our headers, errors and text.

const liveHelperEnv = "MODE6_LIVE_RESPONDER"

type liveScenario struct {
	sysStatus uint16
	sysVars   []Var
	list      []AssocStatus
	peers     map[uint16]liveAssoc
}

type liveAssoc struct {
	status uint16
	vars   []Var
}

func loadLiveScenario(t *testing.T) *liveScenario {
	sc := &liveScenario{peers: map[uint16]liveAssoc{}}
	for _, ex := range exchanges(t) {
		if !ex.done || ex.err != nil {
			continue
		}
		switch {
		case ex.file == "ntpstat.ntpsec.pcap" && ex.req.Op == OpReadVar && ex.req.AssocID == 0:
			sc.sysStatus = ex.asm.Status()
			sc.sysVars, _ = Tokenize(ex.asm.Data())
		case ex.file == "classic-ntpq-p.vs-ntpsecd.pcap" && ex.req.Op == OpReadStat:
			sc.list, _ = ParseAssocList(ex.asm.Data())
		case ex.file == "classic-ntpq-p.vs-ntpsecd.pcap" && ex.req.Op == OpReadVar && ex.req.AssocID != 0:
			vars, _ := Tokenize(ex.asm.Data())
			sc.peers[ex.req.AssocID] = liveAssoc{status: ex.asm.Status(), vars: vars}
		}
	}
	if len(sc.sysVars) == 0 || len(sc.list) != 11 || len(sc.peers) != 11 {
		t.Fatalf("scenario incomplete: %d sys vars, %d assocs, %d peers", len(sc.sysVars), len(sc.list), len(sc.peers))
	}
	return sc
}

// respond answers one request datagram through send (nothing for a drop).
func (sc *liveScenario) respond(b []byte, buf []byte, enc *VarEncoder, send func([]byte) error) error {
	d := ValidateRequest(b)
	switch d.Verdict {
	case Drop:
		return nil
	case Reject:
		return send(AppendError(buf[:0], d.Request.Header, LeapNone, d.Code))
	}
	h := d.Request.Header
	fail := func(c ErrorCode) error { return send(AppendError(buf[:0], h, LeapNone, c)) }
	switch h.Op {
	case OpReadStat:
		return EachFragment(buf, ReplyHeader(h, LeapNone, sc.sysStatus), AppendAssocList(nil, sc.list), send)
	case OpReadVar:
		vars, status := sc.sysVars, sc.sysStatus
		if h.AssocID != 0 {
			p, ok := sc.peers[h.AssocID]
			if !ok {
				return fail(ErrCodeBadAssoc)
			}
			vars, status = p.vars, p.status
		}
		if len(d.Request.Data) > 0 {
			want, _ := Tokenize(d.Request.Data)
			var sel []Var
			for _, v := range vars { // table order, not request order
				if _, ok := Lookup(want, v.Name); ok {
					sel = append(sel, v)
				}
			}
			if len(sel) != len(want) {
				return fail(ErrCodeUnknownVar)
			}
			vars = sel
		}
		enc.Reset(nil)
		for _, v := range vars {
			enc.Raw(v.Name, v.RawValue)
		}
		data := enc.Finish()
		cuts, err := enc.Cuts()
		if err != nil {
			return err
		}
		return EachFragmentAt(buf, ReplyHeader(h, LeapNone, status), data, cuts, send)
	}
	return fail(ErrCodeBadOp)
}

// TestLiveResponderHelper is the responder process; it only runs when
// started by TestLiveRealClients (inside the namespace).
func TestLiveResponderHelper(t *testing.T) {
	if os.Getenv(liveHelperEnv) != "1" {
		t.Skip("helper process for TestLiveRealClients")
	}
	sc := loadLiveScenario(t)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 123})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := time.Now().Add(90 * time.Second) // bounded even if never killed
	rb := make([]byte, 2048)
	buf := make([]byte, 0, HeaderLen+MaxFragData)
	var enc VarEncoder
	for n := 0; n < 10000 && time.Now().Before(stop); n++ {
		conn.SetReadDeadline(stop)
		k, from, err := conn.ReadFromUDP(rb)
		if err != nil {
			return
		}
		if err := sc.respond(rb[:k], buf, &enc, func(p []byte) error {
			_, err := conn.WriteToUDP(p, from)
			return err
		}); err != nil {
			t.Log(err)
		}
	}
}

func TestLiveRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("live test")
	}
	testenv.NeedRoot(t)
	ns := netns.New(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, exe, "-test.run=^TestLiveResponderHelper$", "-test.v")
	cmd.Env = append(os.Environ(), liveHelperEnv+"=1")
	ns.StartCmd(cmd)
	if err := ns.WaitUDP("127.0.0.1:123", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	golden := func(t *testing.T, name string) string {
		t.Helper()
		b, err := os.ReadFile("testdata/golden/" + name)
		if err != nil {
			t.Fatal(err)
		}
		_, out, ok := strings.Cut(string(b), "# ---- stdout (verbatim) ----\n")
		if !ok {
			t.Fatalf("%s: no stdout section", name)
		}
		return out
	}
	classic := testenv.ClassicBin("ntpq")
	run := func(t *testing.T, env []string, argv ...string) string {
		t.Helper()
		c := ns.Command(ctx, argv...)
		c.Env = append(env, "TZ=UTC")
		r := ns.RunCmd(c)
		if r.Err != nil || r.Stderr != "" {
			t.Fatalf("%v: %v\nstdout:\n%s\nstderr:\n%s", argv, r.Err, r.Stdout, r.Stderr)
		}
		return r.Stdout
	}
	asWant := golden(t, "classic-vs-ntpsecd.ntpq-c-as.txt")

	t.Run("classic ntpq as", func(t *testing.T) {
		testenv.Need(t, classic)
		if got := run(t, testenv.ClassicEnv(), classic, "-c", "as", "127.0.0.1"); got != asWant {
			t.Errorf("got:\n%s\nwant:\n%s", got, asWant)
		}
	})
	t.Run("ntpsec ntpq as", func(t *testing.T) {
		testenv.Need(t, "ntpq")
		if got := run(t, os.Environ(), "ntpq", "-c", "as", "127.0.0.1"); got != "\n"+asWant {
			t.Errorf("got:\n%s\nwant:\n%s", got, "\n"+asWant)
		}
	})
	varlistWant := "leap=00, stratum=3, refid=198.18.123.7\n"
	t.Run("classic ntpq rv varlist", func(t *testing.T) {
		testenv.Need(t, classic)
		if got := run(t, testenv.ClassicEnv(), classic, "-c", "rv 0 refid,stratum,leap", "127.0.0.1"); got != varlistWant {
			t.Errorf("got %q want %q", got, varlistWant)
		}
	})
	t.Run("ntpsec ntpq rv varlist", func(t *testing.T) {
		testenv.Need(t, "ntpq")
		if got := run(t, os.Environ(), "ntpq", "-c", "rv 0 leap,stratum,refid", "127.0.0.1"); got != varlistWant {
			t.Errorf("got %q want %q", got, varlistWant)
		}
	})
	t.Run("classic ntpq errors", func(t *testing.T) {
		testenv.Need(t, classic)
		c := ns.Command(ctx, classic, "-c", "rv 0 nosuchvar", "-c", "rv 12345", "127.0.0.1")
		c.Env = testenv.ClassicEnv()
		r := ns.RunCmd(c)
		want := ErrCodeUnknownVar.ClassicMessage(0) + "\n" + ErrCodeBadAssoc.ClassicMessage(12345) + "\n"
		if r.Stderr != want { // stdout gets an empty line per failed rv
			t.Errorf("stdout %q stderr %q, want stderr %q", r.Stdout, r.Stderr, want)
		}
	})
	t.Run("ntpsec ntpq unknown variable", func(t *testing.T) {
		testenv.Need(t, "ntpq")
		r := ns.Run(ctx, "ntpq", "-c", "rv 0 nosuchvar", "127.0.0.1")
		if !strings.Contains(r.Stderr, ErrCodeUnknownVar.SecMessage()) {
			t.Errorf("stdout %q stderr %q", r.Stdout, r.Stderr)
		}
	})
	t.Run("rv status line", func(t *testing.T) {
		testenv.Need(t, classic, "ntpq")
		first := "associd=0 status=0014 leap_none, sync_unspec, 1 event, freq_mode,\n"
		for _, out := range []string{
			run(t, testenv.ClassicEnv(), classic, "-c", "rv", "127.0.0.1"),
			run(t, os.Environ(), "ntpq", "-c", "rv", "127.0.0.1"),
		} {
			if !strings.HasPrefix(out, first) || !strings.Contains(out, `version="ntpd ntpsec-1.2.2"`) {
				t.Errorf("got:\n%s", out)
			}
		}
	})
	t.Run("peers, two fragments per association", func(t *testing.T) {
		testenv.Need(t, classic)
		// remote, refid, st and t depend only on the served variables; the
		// other columns depend on the time of the run.
		cols := func(s string) []string {
			var rows []string
			for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
				if f := strings.Fields(l); len(l) > 0 && l[0] != '=' && len(f) >= 4 {
					rows = append(rows, l[:1]+" "+strings.Join(f[:4], " "))
				}
			}
			return rows
		}
		got := cols(run(t, testenv.ClassicEnv(), classic, "-n", "-p", "127.0.0.1"))
		want := cols(golden(t, "classic-vs-ntpsecd.ntpq-n-p.txt"))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("ntpsec peers", func(t *testing.T) {
		testenv.Need(t, "ntpq")
		// tally and remote columns must agree with classic's golden rows.
		cols := func(s string) []string {
			var rows []string
			for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
				if f := strings.Fields(l); len(l) > 0 && l[0] != '=' && len(f) >= 4 && f[0] != "remote" {
					rows = append(rows, l[:1]+" "+strings.TrimLeft(f[0], "*+-x#o. "))
				}
			}
			return rows
		}
		got := cols(run(t, os.Environ(), "ntpq", "-n", "-p", "127.0.0.1"))
		want := cols(golden(t, "classic-vs-ntpsecd.ntpq-n-p.txt"))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("ntpstat", func(t *testing.T) {
		testenv.Need(t, "ntpstat")
		r := ns.Run(ctx, "ntpstat")
		if r.ExitCode != 0 || !strings.HasPrefix(r.Stdout, "synchronised to unspecified at stratum 3 \n   time correct to within ") ||
			!strings.HasSuffix(r.Stdout, " ms\n   polling server every 64 s\n") {
			t.Errorf("exit %d stdout %q stderr %q", r.ExitCode, r.Stdout, r.Stderr)
		}
	})
}
