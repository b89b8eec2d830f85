package query_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/query"
)

// Seeds live in testdata/fuzz/FuzzXxx; run with go test -fuzz FuzzXxx.

// FuzzParseStat: ntpstat's parser and renderer never panic, and always
// produce an exit status of 0, 1 or 2.
func FuzzParseStat(f *testing.F) {
	f.Add(statPacket(0x16, 0x82, 0x0615, "refid=1.2.3.4, stratum=3, rootdisp=1.5, rootdelay=0.2, tc=6, x=1"))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		r := query.ParseStat(pkt)
		for _, max := range []float64{0, 1} {
			_, _, code := r.Render(query.StatOptions{MaxErrorMS: max})
			if code < 0 || code > 2 {
				t.Fatalf("exit %d", code)
			}
			_ = r.JSON(query.StatOptions{MaxErrorMS: max})
		}
	})
}

// FuzzCooked: the value cooking of both front ends, the raw printer and
// the JSON decoding accept any daemon text.
func FuzzCooked(f *testing.F) {
	f.Add([]byte("leap=0, reach=0x3f, refid=GPS, flash=0x1600, filtdelay= 0.01 0.02, reftime=0xeeacd1bb.dae211dc\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := query.RenderOptions{Now: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), Location: time.UTC}
		vars, _ := mode6.Tokenize(data)
		cooked := query.ClassicCooked(vars, o)
		if len(vars) > 0 && !strings.HasSuffix(cooked, "\n") {
			t.Fatalf("cooked output does not end with a newline: %q", cooked)
		}
		_ = query.SecCooked(vars, o, 78)
		_ = query.RawText(data)
		_ = query.ReadvarJSON("readvar", "h", query.VarsPeer, 1, 0x961a, data, o)
	})
}

// FuzzPeers: the peers renderers accept any variable text.
func FuzzPeers(f *testing.F) {
	f.Add([]byte("srcadr=198.18.123.2, dstadr=198.18.123.1, refid=127.127.1.1, stratum=3, hmode=3, hpoll=6, ppoll=6, reach=0xff, delay=0.010, offset=-0.002, jitter=0.004, rec=0xeeacd284.00000000"), uint16(0x941a))
	f.Fuzz(func(t *testing.T, data []byte, status uint16) {
		vars, _ := mode6.Tokenize(data)
		p := query.Peer{AssocID: 1, Status: status, Vars: vars}
		o := query.RenderOptions{Now: time.Date(2026, 11, 22, 2, 31, 32, 0, time.UTC), Wide: status&1 == 1, Width: int(status % 130)}
		for _, k := range []query.PeersKind{query.KindPeers, query.KindOpeers, query.KindApeers} {
			row := query.ClassicPeerRow(p, k, o, int(status%20))
			if !strings.HasSuffix(row, "\n") {
				t.Fatalf("row without newline: %q", row)
			}
			_ = query.SecPeerRow(p, k, o, 0, "")
		}
		_ = query.PeersJSON("peers", &query.PeersModel{Peers: []query.Peer{p}}, o)
	})
}
