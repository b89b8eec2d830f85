package daemon

import (
	"testing"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// FuzzRespond: the mode 3 responder never panics and never answers with
// anything but a 48-octet mode 4 packet echoing the client's transmit time.
func FuzzRespond(f *testing.F) {
	f.Add(clientRequest(3, 4, 3, 6, 0x1122334455667788))
	f.Add(clientRequest(0, 1, 3, 0, 1))
	f.Add([]byte{0xe3})
	f.Fuzz(func(t *testing.T, req []byte) {
		out := make([]byte, 64)
		for _, sys := range []*struct{ s, k bool }{{true, false}, {false, false}, {true, true}} {
			st := syncedState()
			if !sys.s {
				st = unsyncedState()
			}
			var n int
			var ok bool
			if sys.k {
				n, ok = RespondKiss(req, 1, 2, [4]byte{'R', 'A', 'T', 'E'}, 3, st, out)
			} else {
				n, ok = Respond(req, 1, 2, st, out)
			}
			if !ok {
				if n != 0 {
					t.Fatalf("dropped with n=%d", n)
				}
				continue
			}
			if n != 48 || out[0]&7 != 4 || req[0]&7 != 3 || string(out[24:32]) != string(req[40:48]) {
				t.Fatalf("bad reply %x to %x", out[:n], req)
			}
		}
	})
}

// FuzzControl: the mode 6 responder never panics, sends nothing to
// noquery sources, and never sends a datagram larger than a header plus 468
// data octets, nor more than 32 fragments.
func FuzzControl(f *testing.F) {
	f.Add(ctlRequest(2, mode6.OpReadStat, 1, 0, ""))
	f.Add(ctlRequest(2, mode6.OpReadVar, 2, 0, "leap,stratum,refid"))
	f.Add(ctlRequest(2, mode6.OpReadVar, 3, 2216, ""))
	f.Add(ctlRequest(2, mode6.OpReadVar, 3, 2208, "srcadr,,=x,filtdisp"))
	f.Add(ctlRequest(2, mode6.OpReadClock, 4, 0, ""))
	f.Add(ctlRequest(2, mode6.OpWriteVar, 5, 0, "leap=1"))
	ntpstat := make([]byte, 576)
	copy(ntpstat, []byte{0x16, 0x02, 0x00, 0x01})
	f.Add(ntpstat)
	f.Fuzz(func(t *testing.T, req []byte) {
		c := NewControl(testInfo)
		for _, flags := range []ntpconf.RestrictFlags{0, ntpconf.RestrictNoQuery} {
			n := 0
			c.Handle(req, flags, testSnapshot(), testNow, func(b []byte) error {
				n++
				if flags != 0 {
					t.Fatal("answered a noquery source")
				}
				if len(b) > MaxControlReply || len(b) < mode6.HeaderLen || len(b)%4 != 0 {
					t.Fatalf("datagram of %d octets", len(b))
				}
				if b[1]&0x80 == 0 || b[0]&7 != 6 {
					t.Fatalf("not a mode 6 response: %x", b[:2])
				}
				return nil
			})
			if n > mode6.MaxFrags {
				t.Fatalf("%d fragments", n)
			}
		}
	})
}
