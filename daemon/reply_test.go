package daemon

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// clientRequest builds a 48-octet client request like ntpdate/ntpdig send.
func clientRequest(li, vn, mode uint8, poll int8, xmt ntp.Timestamp) []byte {
	b := make([]byte, ntp.HeaderLen)
	b[0] = li<<6 | vn<<3 | mode
	b[2] = byte(poll)
	b[3] = 0xfa // precision -6
	binary.BigEndian.PutUint64(b[40:], uint64(xmt))
	return b
}

func syncedState() *ntpsync.SystemState {
	return &ntpsync.SystemState{
		Leap: ntp.LeapNone, Stratum: 11, Precision: -24,
		RootDelay: 1500 * time.Microsecond, RootDispersion: 20 * time.Millisecond,
		RefID:   ntp.RefID{127, 127, 1, 0},
		RefTime: ntp.NewTimestamp(0xeeacd3d4, 0x528f80e2),
		Poll:    6, MinPoll: 3, SysPeer: 50307, ClockSource: 5, EventCount: 1, LastEvent: 4,
	}
}

func unsyncedState() *ntpsync.SystemState {
	return &ntpsync.SystemState{
		Leap: ntp.LeapAlarm, Stratum: 16, Precision: -24, RefID: ntp.KissInit,
		Poll: 3, MinPoll: 3, EventCount: 1, LastEvent: 6,
	}
}

func TestRespond(t *testing.T) {
	const (
		xmt = ntp.Timestamp(0xeeacd3fb_24344233)
		rx  = ntp.Timestamp(0xeeacd3fb_25000000)
		tx  = ntp.Timestamp(0xeeacd3fb_25000100)
	)
	leapInsert := syncedState()
	leapInsert.Leap = ntp.LeapInsert
	stratum16 := syncedState()
	stratum16.Stratum = 16
	tests := []struct {
		name    string
		req     []byte
		sys     *ntpsync.SystemState
		ok      bool
		leap    ntp.Leap
		vn      uint8
		stratum uint8
		poll    int8
		refid   ntp.RefID
	}{
		{"v4 client", clientRequest(3, 4, 3, 6, xmt), syncedState(), true, 0, 4, 11, 6, ntp.RefID{127, 127, 1, 0}},
		{"v3 client", clientRequest(0, 3, 3, 6, xmt), syncedState(), true, 0, 3, 11, 6, ntp.RefID{127, 127, 1, 0}},
		{"v2 client", clientRequest(0, 2, 3, 10, xmt), syncedState(), true, 0, 2, 11, 10, ntp.RefID{127, 127, 1, 0}},
		{"v1 client", clientRequest(0, 1, 3, 4, xmt), syncedState(), true, 0, 1, 11, 4, ntp.RefID{127, 127, 1, 0}},
		{"poll clamped low", clientRequest(0, 4, 3, 0, xmt), syncedState(), true, 0, 4, 11, 3, ntp.RefID{127, 127, 1, 0}},
		{"poll clamped negative", clientRequest(0, 4, 3, -6, xmt), syncedState(), true, 0, 4, 11, 3, ntp.RefID{127, 127, 1, 0}},
		{"poll clamped high", clientRequest(0, 4, 3, 30, xmt), syncedState(), true, 0, 4, 11, 17, ntp.RefID{127, 127, 1, 0}},
		{"leap insert", clientRequest(0, 4, 3, 6, xmt), leapInsert, true, ntp.LeapInsert, 4, 11, 6, ntp.RefID{127, 127, 1, 0}},
		{"unsynchronised", clientRequest(3, 4, 3, 6, xmt), unsyncedState(), true, ntp.LeapAlarm, 4, 0, 6, ntp.KissInit},
		{"stratum 16 is unsynchronised", clientRequest(3, 4, 3, 6, xmt), stratum16, true, ntp.LeapAlarm, 4, 0, 6, ntp.RefID{127, 127, 1, 0}},
		{"version 0 dropped", clientRequest(0, 0, 3, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"version 5 dropped", clientRequest(0, 5, 3, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"version 7 dropped", clientRequest(0, 7, 3, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"mode 0 dropped", clientRequest(0, 4, 0, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"mode 1 dropped", clientRequest(0, 4, 1, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"mode 2 dropped", clientRequest(0, 4, 2, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"mode 4 dropped", clientRequest(0, 4, 4, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"mode 5 dropped", clientRequest(0, 4, 5, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"mode 6 dropped", clientRequest(0, 4, 6, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"mode 7 dropped", clientRequest(0, 4, 7, 6, xmt), syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"short dropped", clientRequest(0, 4, 3, 6, xmt)[:47], syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"empty dropped", nil, syncedState(), false, 0, 0, 0, 0, ntp.RefID{}},
		{"with MAC answered", append(clientRequest(0, 4, 3, 6, xmt), make([]byte, 20)...), syncedState(), true, 0, 4, 11, 6, ntp.RefID{127, 127, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := make([]byte, 64)
			n, ok := Respond(tc.req, rx, tx, tc.sys, out)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				if n != 0 {
					t.Fatalf("n = %d for a dropped request", n)
				}
				return
			}
			if n != 48 {
				t.Fatalf("n = %d, want 48", n)
			}
			h, err := ntp.ParseHeader(out[:n])
			if err != nil {
				t.Fatal(err)
			}
			want := ntp.Header{
				Leap: tc.leap, Version: tc.vn, Mode: ntp.ModeServer, Stratum: tc.stratum, Poll: tc.poll,
				Precision: tc.sys.Precision, RootDelay: ntp.ShortFromDuration(tc.sys.RootDelay),
				RootDispersion: ntp.ShortFromDuration(tc.sys.RootDispersion), RefID: tc.refid,
				RefTime: tc.sys.RefTime, OrigTime: xmt, RecvTime: rx, XmitTime: tx,
			}
			if h != want {
				t.Errorf("reply\n got %+v\nwant %+v", h, want)
			}
		})
	}
}

func TestRespondKiss(t *testing.T) {
	xmt := ntp.Timestamp(0x1234567890abcdef)
	out := make([]byte, 48)
	for vn := uint8(1); vn <= 4; vn++ {
		n, ok := RespondKiss(clientRequest(0, vn, 3, 4, xmt), 5, 6, ntp.KissRate, 3, syncedState(), out)
		if !ok || n != 48 {
			t.Fatalf("v%d: n=%d ok=%v", vn, n, ok)
		}
		h, _ := ntp.ParseHeader(out)
		if !h.IsKissOfDeath() || h.RefID != ntp.KissRate || h.Version != vn || h.Mode != ntp.ModeServer {
			t.Errorf("v%d: not a RATE kiss: %+v", vn, h)
		}
		if h.OrigTime != xmt {
			t.Errorf("v%d: origin %v, want the client's transmit %v", vn, h.OrigTime, xmt)
		}
		if h.Poll != 4 {
			t.Errorf("v%d: poll %d, want 4 (client poll above the minimum)", vn, h.Poll)
		}
	}
	n, ok := RespondKiss(clientRequest(0, 4, 3, 0, xmt), 5, 6, ntp.KissRate, 5, syncedState(), out)
	h, _ := ntp.ParseHeader(out[:n])
	if !ok || h.Poll != 5 {
		t.Errorf("poll = %d, want raised to the minimum 5", h.Poll)
	}
	if _, ok := RespondKiss(clientRequest(0, 4, 4, 0, xmt), 5, 6, ntp.KissRate, 3, syncedState(), out); ok {
		t.Error("kiss answered a mode 4 packet")
	}
}

func TestRespondNoAllocs(t *testing.T) {
	req := clientRequest(0, 4, 3, 6, 42)
	sys := syncedState()
	out := make([]byte, 48)
	if a := testing.AllocsPerRun(100, func() { Respond(req, 1, 2, sys, out) }); a != 0 {
		t.Errorf("Respond allocates %.1f times per packet", a)
	}
}

func BenchmarkRespond(b *testing.B) {
	req := clientRequest(0, 4, 3, 6, 42)
	sys := syncedState()
	out := make([]byte, 48)
	b.ReportAllocs()
	for b.Loop() {
		Respond(req, 1, 2, sys, out)
	}
}
