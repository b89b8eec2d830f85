package query_test

import (
	"testing"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/query"
)

func statPacket(b0, b1 byte, status uint16, text string) []byte {
	h := mode6.Header{Version: 2, Response: true, Op: mode6.OpReadVar, Sequence: 1, Status: status, Count: uint16(len(text))}
	p := h.Append(nil)
	p[0], p[1] = b0, b1
	p = append(p, text...)
	for len(p)%4 != 0 {
		p = append(p, 0)
	}
	return p
}

func TestParseStat(t *testing.T) {
	const good = "leap=0, stratum=3, precision=-23, rootdelay=0.651, rootdisp=2.284,\r\nrefid=198.18.123.7, tc=6, peer=17776, mintc=0\r\n"
	tests := []struct {
		name         string
		b0, b1       byte
		status       uint16
		text         string
		opts         query.StatOptions
		stdout, errs string
		exit         int
	}{
		{"ntpd-sec synced", 0x16, 0x82, 0x0014, good, query.StatOptions{},
			"synchronised to unspecified at stratum 3 \n   time correct to within 3 ms\n   polling server every 64 s\n", "", 0},
		{"ntp server", 0x16, 0x82, 0x0615, good, query.StatOptions{},
			"synchronised to NTP server (198.18.123.7) at stratum 3 \n   time correct to within 3 ms\n   polling server every 64 s\n", "", 0},
		{"more bit ignored", 0x16, 0xa2, 0x0615, good, query.StatOptions{},
			"synchronised to NTP server (198.18.123.7) at stratum 3 \n   time correct to within 3 ms\n   polling server every 64 s\n", "", 0},
		{"exceeded", 0x16, 0x82, 0x0615, good, query.StatOptions{MaxErrorMS: 2},
			"synchronised to NTP server (198.18.123.7) at stratum 3 \n   time correct to within 3 ms (exceeded maximum of 2 ms)\n   polling server every 64 s\n", "", 1},
		{"unsynchronised", 0x16, 0x82, 0xc016, "stratum=16, rootdelay=0.000, rootdisp=0.1, refid=INIT, tc=3, x=1", query.StatOptions{},
			"unsynchronised\n   polling server every 8 s\n", "", 1},
		{"re-starting", 0x16, 0x82, 0xc011, "tc=0, x", query.StatOptions{},
			"unsynchronised\n  time server re-starting\n   polling server every 1 s\n", "", 1},
		{"tc last: unreadable", 0x16, 0x82, 0x0514, "stratum=11, rootdelay=0.0, rootdisp=1.0, tc=6\r\n", query.StatOptions{},
			"synchronised to local net at stratum 11 \n   time correct to within 1 ms\n   poll interval unreadable\n", "", 0},
		{"tc found inside mintc", 0x16, 0x82, 0x0514, "mintc=3, stratum=11, rootdelay=0.0, rootdisp=1.0, tc=6, x", query.StatOptions{},
			"synchronised to local net at stratum 11 \n   time correct to within 1 ms\n   polling server every 8 s\n", "", 0},
		{"missing fields", 0x16, 0x82, 0x0614, "leap=0", query.StatOptions{},
			"synchronised to NTP server <IP unknown>, stratum unknown\n   accuracy unknown\n   poll interval unknown\n", "", 1},
		{"unreadable fields", 0x16, 0x82, 0x0614, "refid=, stratum=123, rootdisp=12345678901, rootdelay=1, tc=123, x", query.StatOptions{},
			"synchronised to NTP server <IP unreadable>, stratum unreadable\n   accuracy unreadable\n   poll interval unreadable\n", "", 0},
		{"half to even", 0x16, 0x82, 0x0514, "stratum=2, rootdisp=2.0, rootdelay=1.0, tc=4, x", query.StatOptions{},
			"synchronised to local net at stratum 2 \n   time correct to within 2 ms\n   polling server every 16 s\n", "", 0},
		{"bad version", 0x1e, 0x82, 0x0614, good, query.StatOptions{},
			"", "status word is 0x1e82\nreturn data appears to be invalid based on status word\n", 2},
		{"error response", 0x16, 0xc2, 0x0500, "", query.StatOptions{},
			"", "status word is 0x16c2\nreturn data appears to be invalid based on status word\n", 2},
		{"unknown source", 0x16, 0x82, 0x0c14, good, query.StatOptions{},
			"synchronised to unknown source at stratum 3 \n   time correct to within 3 ms\n   polling server every 64 s\n", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := query.ParseStat(statPacket(tc.b0, tc.b1, tc.status, tc.text))
			out, errs, code := r.Render(tc.opts)
			if out != tc.stdout || errs != tc.errs || code != tc.exit {
				t.Errorf("got %q %q %d\nwant %q %q %d", out, errs, code, tc.stdout, tc.errs, tc.exit)
			}
		})
	}
	if r := query.ParseStat([]byte{1, 2}); r.Error == "" {
		t.Error("short packet accepted")
	}
}

func TestStatRequest(t *testing.T) {
	b := query.StatRequest()
	if len(b) != 576 || b[0] != 0x16 || b[1] != 0x02 || b[2] != 0 || b[3] != 1 {
		t.Errorf("request % x", b[:12])
	}
	for _, c := range b[12:] {
		if c != 0 {
			t.Fatal("request not zero filled")
		}
	}
}

func TestStatFromChrony(t *testing.T) {
	r := query.StatFromChrony(query.ChronyStat{Synchronised: false, PollLog2: 4})
	out, _, code := r.Render(query.StatOptions{})
	if out != "unsynchronised\n   polling server every 16 s\n" || code != 1 {
		t.Errorf("got %q %d", out, code)
	}
	r = query.StatFromChrony(query.ChronyStat{Synchronised: true, SourceKind: "local net", Stratum: 10, AccuracyMS: 0.2, PollLog2: 6})
	out, _, code = r.Render(query.StatOptions{MaxErrorMS: 0.1})
	if out != "synchronised to local net at stratum 10\n   time correct to within 0 ms (exceeded maximum of 0.1 ms)\n   polling server every 64 s\n" || code != 1 {
		t.Errorf("got %q %d", out, code)
	}
}
