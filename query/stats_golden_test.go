package query_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/ntpqtest"
)

// The statistics commands against the variables that classic ntpd and
// NTPsec ntpd sent to the real ntpqs (testdata/stats): both layouts byte
// for byte, including NTPsec's one-at-a-time fallback.

const statsDir = "testdata/stats"

func TestStatsGolden(t *testing.T) {
	cases, err := ntpqtest.ReadCases(filepath.Join(statsDir, "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("%d cases, want the 30 recorded runs", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Golden, func(t *testing.T) {
			t.Parallel()
			g, err := ntpqtest.ReadGolden(filepath.Join(statsDir, c.Golden))
			if err != nil {
				t.Fatal(err)
			}
			fx, err := ntpqtest.StartFixture(statsDir, c.Scenario)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(fx.Close)
			var stdout, stderr bytes.Buffer
			cfg, hosts, cmds := configFor(t, fx, g, c.Args, &stdout, &stderr)
			query.New(cfg).Batch(context.Background(), hosts, cmds)
			if stdout.String() != g.Stdout {
				t.Errorf("stdout differs\n got:\n%s\nwant:\n%s\ndiff:\n%s", stdout.String(), g.Stdout, LineDiff(g.Stdout, stdout.String()))
			}
			if stderr.String() != g.Stderr {
				t.Errorf("stderr differs\n got: %q\nwant: %q", stderr.String(), g.Stderr)
			}
		})
	}
}

// omitServer is a fake daemon that knows every statistics variable but
// sends only those of its scenario, as ntpkit's daemon leaves out what it
// cannot know (a name outside the statistics tables is still UNKNOWNVAR).
func omitServer(t *testing.T, scenario string) *ntpqtest.Fixture {
	t.Helper()
	fx, err := ntpqtest.StartFixture(statsDir, scenario)
	if err != nil {
		t.Fatal(err)
	}
	fx.Server.Close()
	sc := fx.Scenario
	known := map[string]bool{}
	for _, n := range query.StatsVarNames() {
		known[n] = true
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fx.Dialer = &ntpqtest.RedirectDialer{To: c.LocalAddr().String()}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			for _, pkt := range omitAnswer(sc, known, buf[:n]) {
				_, _ = c.WriteToUDP(pkt, from)
			}
		}
	}()
	return fx
}

func omitAnswer(sc *ntpqtest.Scenario, known map[string]bool, req []byte) [][]byte {
	d := mode6.ValidateRequest(req)
	if d.Verdict != mode6.Accept || d.Request.Header.Op != mode6.OpReadVar || len(d.Request.Data) == 0 {
		return ntpqtest.Answer(sc, req)
	}
	h := d.Request.Header
	vars := sc.SysVars
	status := sc.SysStatus
	if h.AssocID != 0 {
		var a *ntpqtest.Assoc
		for i := range sc.Assocs {
			if sc.Assocs[i].ID == h.AssocID {
				a = &sc.Assocs[i]
			}
		}
		if a == nil {
			return ntpqtest.Answer(sc, req)
		}
		vars, status = a.Vars, a.Status
	}
	var e mode6.VarEncoder
	e.Reset(nil)
	for _, n := range strings.Split(strings.TrimRight(string(d.Request.Data), "\x00"), ",") {
		n = strings.TrimSpace(n)
		if v, ok := mode6.Lookup(vars, n); ok {
			e.Raw(n, v)
		} else if !known[n] {
			return [][]byte{mode6.AppendError(nil, h, uint8(sc.SysStatus>>14), mode6.ErrCodeUnknownVar)}
		}
	}
	out, err := mode6.Fragment(mode6.ReplyHeader(h, uint8(sc.SysStatus>>14), status), e.Finish())
	if err != nil {
		panic(err)
	}
	return out
}

func TestStatsGoldenOmitted(t *testing.T) {
	cases, err := ntpqtest.ReadCases(filepath.Join(statsDir, "cases-omit.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Golden, func(t *testing.T) {
			t.Parallel()
			g, err := ntpqtest.ReadGolden(filepath.Join(statsDir, c.Golden))
			if err != nil {
				t.Fatal(err)
			}
			fx := omitServer(t, c.Scenario)
			var stdout, stderr bytes.Buffer
			cfg, hosts, cmds := configFor(t, fx, g, c.Args, &stdout, &stderr)
			query.New(cfg).Batch(context.Background(), hosts, cmds)
			if stdout.String() != g.Stdout {
				t.Errorf("stdout differs\n got:\n%s\nwant:\n%s\ndiff:\n%s", stdout.String(), g.Stdout, LineDiff(g.Stdout, stdout.String()))
			}
			if stderr.String() != g.Stderr {
				t.Errorf("stderr differs\n got: %q\nwant: %q", stderr.String(), g.Stderr)
			}
		})
	}
}
