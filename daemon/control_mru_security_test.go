package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// TestNoAmplificationMRU extends TestNoAmplification to mrulist: the
// list is the one control answer much larger than its request, so it must
// reach only a source that can receive: READ_MRU needs a nonce issued to
// the same address (REQ_NONCE, answered with 44 octets, like ntpd); without
// one, with a forged one, or with one issued to another address the daemon
// stays silent, and noquery sources get nothing for either opcode. A valid
// request gets at most 32 datagrams of at most 480 octets, whatever it
// asks for.
func TestNoAmplificationMRU(t *testing.T) {
	d := secDaemon(t, ntpconf.DefaultConfig+"restrict 127.0.0.2\n", nil)
	server := d.Addrs()[0]
	// Fill the table: one client packet from each of 300 addresses.
	for i := 0; i < 300; i++ {
		from := netip.AddrFrom4([4]byte{127, 0, 3 + byte(i/250), byte(i%250 + 1)})
		secExchangeOnce(server, from, ntpRequest(4, 3, uint64(i)), 200*time.Millisecond)
	}
	local, other, restricted := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.1.7")
	nonceReq := ctlReq(mode6.OpReqNonce, 0, "")

	if got := secExchange(t, server, restricted, nonceReq, 300*time.Millisecond); len(got) != 0 {
		t.Errorf("noquery source: REQ_NONCE answered (%d datagrams)", len(got))
	}
	got := secExchange(t, server, local, nonceReq, 300*time.Millisecond)
	if len(got) != 1 || len(got[0]) != 44 {
		t.Fatalf("REQ_NONCE from 127.0.0.1: %d datagrams", len(got))
	}
	t.Logf("REQ_NONCE: %d-octet request, %d-octet answer (as classic ntpd and NTPsec)", len(nonceReq), len(got[0]))
	nonce, err := mode6.ParseNonceResponse(got[0][mode6.HeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	valid := ctlReq(mode6.OpReadMRU, 0, "nonce="+nonce+", frags=1000, limit=256")
	for _, tc := range []struct {
		name string
		from netip.Addr
		req  []byte
	}{
		{"no nonce", local, ctlReq(mode6.OpReadMRU, 0, "frags=32")},
		{"forged nonce", local, ctlReq(mode6.OpReadMRU, 0, "nonce=eead10d133eab593708aa958, frags=32")},
		{"nonce of 127.0.0.1 from 127.0.0.2 (spoofing)", other, valid},
		{"nonce of 127.0.0.1 from a noquery source", restricted, valid},
	} {
		if got := secExchange(t, server, tc.from, tc.req, 300*time.Millisecond); len(got) != 0 {
			t.Errorf("%s: %d datagrams answered", tc.name, len(got))
		}
	}
	got = secExchange(t, server, local, valid, 300*time.Millisecond)
	total := 0
	for _, p := range got {
		total += len(p)
		if len(p) > MaxControlReply {
			t.Errorf("%d-octet datagram", len(p))
		}
	}
	if len(got) == 0 || len(got) > mode6.MaxFrags {
		t.Errorf("valid READ_MRU: %d datagrams (1..%d)", len(got), mode6.MaxFrags)
	}
	t.Logf("READ_MRU with a valid nonce from 127.0.0.1: %d datagrams, %d octets for a %d-octet request (needs the nonce round trip first)",
		len(got), total, len(valid))
}
