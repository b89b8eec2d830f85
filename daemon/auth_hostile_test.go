package daemon

// Acceptance test of symmetric-key authentication in the daemon (issue 7),
// as classic ntpd behaves (checked in mode6/auth_interop_test.go):
//   - a mode 3 request signed with a trusted key gets a reply signed with
//     the same key; a bad MAC gets a crypto-NAK (classic) or nothing
//     (NTPsec); an unsigned request an unsigned reply;
//   - "restrict ... notrust" sources get time only for authenticated
//     requests;
//   - a mode 6 request with a MAC gets its response fragments signed; a
//     write needs the trusted controlkey (else PERMISSION);
//   - a noquery source gets no mode 6 answer, signed or not, and no reply
//     is ever longer than its request for such a source.

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

func TestAuthenticatedDaemon(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "ntp.keys")
	const keysText = "1 MD5 Wgimok6H_N}=Rm+*pxNd\n2 SHA1 488f1730e4c6c61d1af96b8cb073d148158b9fee\n3 AES128CMAC 000102030405060708090a0b0c0d0e0f\n4 MD5 untrusted\n"
	if err := os.WriteFile(kf, []byte(keysText), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := ntpconf.ReadKeys(kf)
	if err != nil {
		t.Fatal(err)
	}
	keys.Trust(1, 2, 3)
	conf := "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\nkeys " + kf + "\ntrustedkey 1 2 3\ncontrolkey 1\n" +
		"restrict default kod limited nomodify nopeer noquery\nrestrict 127.0.0.1\nrestrict 127.0.4.0 mask 255.255.255.0 notrust noquery\n"
	d := secDaemon(t, conf, nil)
	server := d.Addrs()[0]
	local := netip.MustParseAddr("127.0.0.1")
	k1, _ := keys.Lookup(1)

	req := func(xmt uint64) []byte { return ntpRequest(4, 3, xmt) }

	for _, id := range []uint32{1, 2, 3} {
		k, _ := keys.Lookup(id)
		signed := ntp.AppendMAC(req(uint64(10+id)), k)
		r := secExchangeOnce(server, local, signed, 2*time.Second)
		if got, err := ntp.Verify(r, keys.Trusted()); err != nil || got != id || len(r) > len(signed) {
			t.Errorf("mode 3 signed with key %d (%v): reply of %d octets, Verify %d, %v", id, k.Type, len(r), got, err)
		}
	}
	wrong, _ := ntp.NewKey(1, ntp.MACMD5, []byte("not the secret"))
	untrusted, _ := keys.Lookup(4)
	for name, k := range map[string]*ntp.Key{"wrong secret": wrong, "untrusted key": untrusted} {
		signed := ntp.AppendMAC(req(20), k)
		if r := secExchangeOnce(server, local, signed, 500*time.Millisecond); r != nil && !ntp.IsCryptoNAK(r) {
			t.Errorf("mode 3 with %s: %d-octet reply that is not a crypto-NAK", name, len(r))
		}
	}
	if r := secExchangeOnce(server, local, req(21), 2*time.Second); len(r) != ntp.HeaderLen {
		t.Errorf("unsigned mode 3: reply of %d octets", len(r))
	}

	// notrust: unsigned requests from 127.0.4.0/24 get nothing, signed ones
	// are answered and signed.
	nt := netip.MustParseAddr("127.0.4.9")
	if r := secExchangeOnce(server, nt, req(30), 500*time.Millisecond); r != nil && !ntp.IsCryptoNAK(r) {
		t.Errorf("notrust source, unsigned: %d-octet reply", len(r))
	}
	if r := secExchangeOnce(server, netip.MustParseAddr("127.0.4.10"), ntp.AppendMAC(req(31), k1), 2*time.Second); r == nil {
		t.Error("notrust source, signed: no reply")
	} else if _, err := ntp.Verify(r, keys.Trusted()); err != nil {
		t.Errorf("notrust source, signed: reply %v", err)
	}

	// Mode 6 from 127.0.0.1: signed READVAR gets signed fragments; writes
	// need the control key.
	k2, _ := keys.Lookup(2)
	frags := secExchange(t, server, local, mode6.AppendSignedRequest(nil, mode6.NewRequest(mode6.OpReadVar, 5, 0), nil, k2), 300*time.Millisecond)
	if len(frags) == 0 {
		t.Fatal("signed READVAR: no answer")
	}
	for i, f := range frags {
		if id, err := mode6.VerifyMAC(f, keys.Trusted()); err != nil || id != 2 {
			t.Errorf("signed READVAR: fragment %d: %d, %v", i, id, err)
		}
	}
	write := func(k *ntp.Key) mode6.ErrorCode {
		h := mode6.NewRequest(mode6.OpWriteVar, 6, 0)
		pkt := mode6.MarshalRequest(h, []byte("nosuchvariable=1"))
		if k != nil {
			pkt = mode6.AppendSignedRequest(nil, h, []byte("nosuchvariable=1"), k)
		}
		r := secExchangeOnce(server, local, pkt, 2*time.Second)
		p, err := mode6.Parse(r)
		if err != nil || !p.Error {
			return 0
		}
		return mode6.ErrorCode(p.Status >> 8)
	}
	if c := write(nil); c != mode6.ErrCodePermission {
		t.Errorf("unsigned WRITEVAR: error %v, want PERMISSION", c)
	}
	if c := write(k2); c != mode6.ErrCodePermission {
		t.Errorf("WRITEVAR signed with a trusted key that is not the control key: %v, want PERMISSION", c)
	}
	if c := write(k1); c == mode6.ErrCodePermission {
		t.Error("WRITEVAR signed with the control key: PERMISSION")
	}

	// noquery sources: no mode 6 answer even when signed; never amplified.
	for i, pkt := range [][]byte{
		mode6.AppendSignedRequest(nil, mode6.NewRequest(mode6.OpReadVar, 7, 0), nil, k1),
		mode6.AppendSignedRequest(nil, mode6.NewRequest(mode6.OpReadStat, 8, 0), nil, k2),
	} {
		from := netip.AddrFrom4([4]byte{127, 0, 5, byte(i + 1)})
		if r := secExchange(t, server, from, pkt, 300*time.Millisecond); len(r) != 0 {
			t.Errorf("noquery source, signed mode 6: %d replies", len(r))
		}
	}
	for i, k := range []*ntp.Key{k1, k2, wrong} {
		signed := ntp.AppendMAC(req(uint64(40+i)), k)
		for _, r := range secExchange(t, server, netip.AddrFrom4([4]byte{127, 0, 6, byte(i + 1)}), signed, 300*time.Millisecond) {
			if len(r) > len(signed) {
				t.Errorf("restricted source: %d-octet reply to a %d-octet signed request", len(r), len(signed))
			}
		}
	}
}
