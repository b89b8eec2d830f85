package ntpqtest

import (
	"os"
	"strings"
	"testing"

	"github.com/ntpkit/ntpkit/mode6"
)

func TestParseScenario(t *testing.T) {
	sc, err := ParseScenario(strings.NewReader(`# comment
now 2026-11-22T02:31:32.9Z
resolve 198.18.123.2 chrony-a.ref.test
sysstatus 0615
sys version="ntpd, with comma", leap=0
assoc 2208 941a
var srcadr=198.18.123.2, rec=now-6, filtdelay=\xe0I$ 0.01
clock device="x"
delassoc 9
`))
	if err != nil {
		t.Fatal(err)
	}
	if sc.SysStatus != 0x0615 || len(sc.SysVars) != 2 || sc.SysVars[0].Value != `"ntpd, with comma"` {
		t.Errorf("sys: %04x %+v", sc.SysStatus, sc.SysVars)
	}
	a := sc.Assocs[0]
	if rec, _ := mode6.Lookup(a.Vars, "rec"); rec != "0xeeacd27e.80000000" {
		t.Errorf("rec=%s", rec)
	}
	if f, _ := mode6.Lookup(a.Vars, "filtdelay"); f != "\xe0I$ 0.01" {
		t.Errorf("filtdelay=%q", f)
	}
	if len(a.ClockVars) != 1 || sc.Meta["resolve"][0] != "198.18.123.2 chrony-a.ref.test" {
		t.Errorf("clock %v meta %v", a.ClockVars, sc.Meta)
	}
	for _, bad := range []string{"sysstatus zz", "var a=1", "assoc 1", "now yesterday", "assoc 1 2\nvar x=now-q"} {
		if _, err := ParseScenario(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAnswer(t *testing.T) {
	sc, _ := ParseScenario(strings.NewReader("sysstatus c016\nsys leap=3, stratum=16, tc=3\nassoc 5 8011\nvar srcadr=1.2.3.4\n"))
	req := func(op mode6.Opcode, assoc uint16, data string) mode6.Packet {
		out := Answer(sc, mode6.MarshalRequest(mode6.NewRequest(op, 7, assoc), []byte(data)))
		if len(out) != 1 {
			t.Fatalf("%d datagrams", len(out))
		}
		p, err := mode6.Parse(out[0])
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := req(mode6.OpReadVar, 0, "tc,leap"); string(p.Data) != "leap=3, tc=3\r\n" || p.LI != 3 || p.Sequence != 7 {
		t.Errorf("varlist: %q %+v", p.Data, p.Header)
	}
	if p := req(mode6.OpReadVar, 9, ""); !p.Error || p.Status != 0x0400 {
		t.Errorf("bad assoc: %+v", p.Header)
	}
	if p := req(mode6.OpReadVar, 0, "nosuch"); !p.Error || p.Status != 0x0500 {
		t.Errorf("unknown var: %+v", p.Header)
	}
	if p := req(mode6.OpReadStat, 0, ""); string(p.Data) != "\x00\x05\x80\x11" || p.Status != 0xc016 {
		t.Errorf("readstat: % x", p.Data)
	}
	if p := req(mode6.OpSetTrap, 0, ""); !p.Error || p.Status != 0x0300 {
		t.Errorf("bad op: %+v", p.Header)
	}
	sc.Drop = true
	if out := Answer(sc, mode6.MarshalRequest(mode6.NewRequest(mode6.OpReadStat, 1, 0), nil)); out != nil {
		t.Error("drop answered")
	}
}

// FuzzParseScenario: the scenario parser never panics.
func FuzzParseScenario(f *testing.F) {
	for _, name := range []string{"classic-main-0231.scn", "ntpsec-main-0217.scn"} {
		if b, err := os.ReadFile("../testdata/scenarios/" + name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := ParseScenario(strings.NewReader(string(b)))
		if err == nil {
			for _, a := range sc.Assocs {
				_ = encode(a.Vars)
			}
		}
	})
}
