package ntp

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 4493 section 4 (AES-128) and NIST SP 800-38B appendix D (AES-192,
// AES-256) examples; the values were also checked with `openssl mac CMAC`.
func TestCMACVectors(t *testing.T) {
	const m64 = "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51" +
		"30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710"
	k128 := "2b7e1516 28aed2a6 abf71588 09cf4f3c"
	tests := []struct {
		name string
		typ  MACType
		key  string
		mlen int
		want string
	}{
		{"rfc4493 example 1 (empty)", MACAESCMAC128, k128, 0, "bb1d6929 e9593728 7fa37d12 9b756746"},
		{"rfc4493 example 2 (16)", MACAESCMAC128, k128, 16, "070a16b4 6b4d4144 f79bdd9d d04a287c"},
		{"rfc4493 example 3 (40)", MACAESCMAC128, k128, 40, "dfa66747 de9ae630 30ca3261 1497c827"},
		{"rfc4493 example 4 (64)", MACAESCMAC128, k128, 64, "51f0bebf 7e3b9d92 fc497417 79363cfe"},
		{"aes-192 (16)", MACAESCMAC192, "8e73b0f7 da0e6452 c810f32b 809079e5 62f8ead2 522c6b7b", 16, "9e99a7bf 31e71090 0662f65e 617c5184"},
		{"aes-256 (empty)", MACAESCMAC256, "603deb10 15ca71be 2b73aef0 857d7781 1f352c07 3b6108d7 2d9810a3 0914dff4", 0, "028962f6 1b7bf89e fc6b551f 4667d983"},
	}
	msg := unhex(t, m64)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKey(1, tc.typ, unhex(t, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			got := k.AppendDigest(nil, msg[:tc.mlen])
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("CMAC = %x, want %x", got, want)
			}
		})
	}
	// RFC 4493 section 4: the subkeys.
	k, _ := NewKey(1, MACAESCMAC128, unhex(t, k128))
	if want := unhex(t, "fbeed618 35713366 7c85e08f 7236a8de"); !bytes.Equal(k.cmac.k1[:], want) {
		t.Errorf("K1 = %x, want %x", k.cmac.k1, want)
	}
	if want := unhex(t, "f7ddac30 6ae266cc f90bc11e e46d513b"); !bytes.Equal(k.cmac.k2[:], want) {
		t.Errorf("K2 = %x, want %x", k.cmac.k2, want)
	}
}

// A short CMAC secret is zero padded to the AES key size, a long one cut.
func TestCMACKeyPadding(t *testing.T) {
	short, _ := NewKey(1, MACAESCMAC128, []byte("abc"))
	padded, _ := NewKey(2, MACAESCMAC128, append([]byte("abc"), make([]byte, 13)...))
	long, _ := NewKey(3, MACAESCMAC128, append(append([]byte("abc"), make([]byte, 13)...), "ignored"...))
	msg := []byte("some packet")
	a, b, c := short.AppendDigest(nil, msg), padded.AppendDigest(nil, msg), long.AppendDigest(nil, msg)
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Errorf("padding: %x %x %x", a, b, c)
	}
}

// The hash types are H(secret || packet), truncated to 20 octets.
func TestHashDigests(t *testing.T) {
	secret := []byte("Wgimok6H_N}=Rm+*pxNd")
	msg := bytes.Repeat([]byte{0xe3, 0, 6, 0xec}, 12)
	cat := append(append([]byte(nil), secret...), msg...)
	m5, s1, s224, s256, s384, s512 := md5.Sum(cat), sha1.Sum(cat), sha256.Sum224(cat), sha256.Sum256(cat), sha512.Sum384(cat), sha512.Sum512(cat)
	tests := []struct {
		typ  MACType
		want []byte
	}{
		{MACMD5, m5[:]}, {MACSHA1, s1[:]}, {MACSHA224, s224[:20]}, {MACSHA256, s256[:20]},
		{MACSHA384, s384[:20]}, {MACSHA512, s512[:20]},
	}
	for _, tc := range tests {
		k, err := NewKey(7, tc.typ, secret)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.AppendDigest(nil, msg); !bytes.Equal(got, tc.want) {
			t.Errorf("%v: %x, want %x", tc.typ, got, tc.want)
		}
		// The streaming path for large packets agrees with the Sum path.
		big := bytes.Repeat(msg, 50)
		h := newHash(tc.typ)
		h.Write(secret)
		h.Write(big)
		if got, want := k.AppendDigest(nil, big), h.Sum(nil)[:tc.typ.DigestLen()]; !bytes.Equal(got, want) {
			t.Errorf("%v large: %x, want %x", tc.typ, got, want)
		}
	}
}

func TestParseMACType(t *testing.T) {
	ok := map[string]MACType{
		"M": MACMD5, "md5": MACMD5, "MD5": MACMD5, "SHA1": MACSHA1, "sha-1": MACSHA1,
		"SHA256": MACSHA256, "sha224": MACSHA224, "SHA384": MACSHA384, "sha512": MACSHA512,
		"AES128CMAC": MACAESCMAC128, "AES": MACAESCMAC128, "aes-128": MACAESCMAC128,
		"aes-192": MACAESCMAC192, "AES-256": MACAESCMAC256,
	}
	for name, want := range ok {
		if got, err := ParseMACType(name); err != nil || got != want {
			t.Errorf("ParseMACType(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, name := range []string{"", "SHA", "RIPEMD160", "md4", "aes-128-gcm", "x"} {
		if got, err := ParseMACType(name); err == nil {
			t.Errorf("ParseMACType(%q) = %v, want an error", name, got)
		}
	}
}

func TestNewKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		id     uint32
		typ    MACType
		secret []byte
	}{
		{0, MACMD5, []byte("x")},
		{65536, MACMD5, []byte("x")},
		{1, MACNone, []byte("x")},
		{1, MACMD5, nil},
		{1, MACSHA1, make([]byte, 33)},
	} {
		if k, err := NewKey(tc.id, tc.typ, tc.secret); err == nil {
			t.Errorf("NewKey(%d, %v, %d octets) = %v, want an error", tc.id, tc.typ, len(tc.secret), k)
		}
	}
	k, _ := NewKey(1, MACMD5, []byte("secret"))
	if s := k.String(); strings.Contains(s, "secret") {
		t.Errorf("String leaks the secret: %q", s)
	}
}

func testKeys(t testing.TB) KeyMap {
	m := KeyMap{}
	for i, typ := range []MACType{MACMD5, MACSHA1, MACSHA224, MACSHA256, MACSHA384, MACSHA512, MACAESCMAC128, MACAESCMAC192, MACAESCMAC256} {
		k, err := NewKey(uint32(i+1), typ, []byte("0123456789abcdefghij"))
		if err != nil {
			t.Fatal(err)
		}
		m[k.ID] = k
	}
	return m
}

func clientRequest() []byte {
	h := Header{Leap: LeapAlarm, Version: 4, Mode: ModeClient, Poll: 6, XmitTime: 0xeb0c4d7a12345678}
	return h.Marshal()
}

func TestSignVerifyRoundTrip(t *testing.T) {
	keys := testKeys(t)
	ext := ExtensionField{Type: 0x0104, Value: bytes.Repeat([]byte{0xab}, 28)}
	for id, k := range keys {
		for _, withExt := range []bool{false, true} {
			p := Packet{Header: Header{Version: 4, Mode: ModeClient}}
			if withExt {
				p.Extensions = []ExtensionField{ext}
			}
			body := p.Append(nil)
			pkt := AppendMAC(body, k)
			if len(pkt) != len(body)+4+k.Type.DigestLen() {
				t.Fatalf("%v: length %d", k, len(pkt))
			}
			got, err := Verify(pkt, keys)
			if err != nil || got != id {
				t.Fatalf("%v ext=%v: Verify = %d, %v", k, withExt, got, err)
			}
			parsed, err := Parse(pkt)
			if err != nil || parsed.MAC == nil || parsed.MAC.KeyID != id || len(parsed.Extensions) != len(p.Extensions) {
				t.Fatalf("%v: Parse = %+v, %v", k, parsed, err)
			}
			// Every single bit flip is detected.
			for i := range pkt {
				for bit := 0; bit < 8; bit++ {
					bad := bytes.Clone(pkt)
					bad[i] ^= 1 << bit
					if _, err := Verify(bad, keys); err == nil {
						t.Fatalf("%v: flip of octet %d bit %d verifies", k, i, bit)
					}
				}
			}
		}
	}
}

func TestVerifyErrors(t *testing.T) {
	keys := testKeys(t)
	md5k := keys[1]
	req := clientRequest()
	signed := AppendMAC(bytes.Clone(req), md5k)
	wrongSecret, _ := NewKey(1, MACMD5, []byte("another secret"))
	otherType := KeyMap{1: keys[2]} // id 1 is a SHA1 key here
	withID := func(b []byte, id uint32) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[HeaderLen:], id)
		return b
	}
	tests := []struct {
		name   string
		pkt    []byte
		keys   KeyLookup
		wantID uint32
		want   error
	}{
		{"no MAC", req, keys, 0, ErrNoMAC},
		{"crypto-NAK", AppendCryptoNAK(bytes.Clone(req)), keys, 0, ErrCryptoNAK},
		{"4-octet trailer with a key id", withID(AppendCryptoNAK(bytes.Clone(req)), 9), keys, 9, ErrBadMAC},
		{"unknown key", withID(signed, 99), keys, 99, ErrUnknownKey},
		{"key id 0 with digest", withID(signed, 0), keys, 0, ErrUnknownKey},
		{"nil lookup", signed, nil, 1, ErrUnknownKey},
		{"wrong secret", signed, KeyMap{1: wrongSecret}, 1, ErrBadMAC},
		{"length of another type", signed, otherType, 1, ErrBadMAC},
		{"short", req[:40], keys, 0, ErrShort},
		{"not a multiple of 4", append(bytes.Clone(req), 1, 2), keys, 0, ErrBadLength},
		{"bad trailer", append(bytes.Clone(req), make([]byte, 8)...), keys, 0, ErrTrailer},
	}
	for _, tc := range tests {
		id, err := Verify(tc.pkt, tc.keys)
		if id != tc.wantID || !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %d, %v; want %d, %v", tc.name, id, err, tc.wantID, tc.want)
		}
	}
	if !IsCryptoNAK(AppendCryptoNAK(bytes.Clone(req))) || IsCryptoNAK(req) || IsCryptoNAK(signed) {
		t.Error("IsCryptoNAK")
	}
}

func TestAppendMACNoAlloc(t *testing.T) {
	keys := testKeys(t)
	req := clientRequest()
	buf := make([]byte, 0, 128)
	for _, k := range keys {
		allocs := testing.AllocsPerRun(100, func() {
			out := AppendMAC(append(buf[:0], req...), k)
			if _, err := Verify(out, keys); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per sign+verify", k.Type, allocs)
		}
	}
}

func BenchmarkSignVerify(b *testing.B) {
	keys := testKeys(b)
	req := clientRequest()
	buf := make([]byte, 0, 128)
	for _, id := range []uint32{1, 2, 4, 7} {
		k := keys[id]
		b.Run(k.Type.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out := AppendMAC(append(buf[:0], req...), k)
				if _, err := Verify(out, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzVerify feeds arbitrary datagrams to the MAC code: it never panics,
// a packet it accepts was signed with the key it names, and re-signing the
// body with that key reproduces the packet.
func FuzzVerify(f *testing.F) {
	keys := testKeys(f)
	req := clientRequest()
	f.Add(req)
	f.Add(AppendCryptoNAK(bytes.Clone(req)))
	for _, k := range keys {
		f.Add(AppendMAC(bytes.Clone(req), k))
	}
	p := Packet{Header: Header{Version: 4, Mode: ModeServer}, Extensions: []ExtensionField{{Type: 0x0204, Value: make([]byte, 12)}}}
	f.Add(AppendMAC(p.Append(nil), keys[7]))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		IsCryptoNAK(pkt)
		body, sid, sdig, found, serr := SplitMAC(pkt)
		// SplitMAC and Parse agree on where the MAC is.
		if p, err := Parse(pkt); (err == nil) != (serr == nil) {
			t.Fatalf("Parse error %v, SplitMAC error %v", err, serr)
		} else if err == nil {
			if found != (p.MAC != nil) || found && (p.MAC.KeyID != sid || !bytes.Equal(p.MAC.Digest, sdig)) {
				t.Fatalf("Parse MAC %+v, SplitMAC %v %d %x", p.MAC, found, sid, sdig)
			}
			if found && len(body) != HeaderLen+extLen(p.Extensions) {
				t.Fatalf("body %d octets, %d extension fields", len(body), len(p.Extensions))
			}
		}
		id, err := Verify(pkt, keys)
		if serr != nil && (err == nil || err.Error() != serr.Error()) {
			t.Fatalf("SplitMAC error %v, Verify error %v", serr, err)
		}
		if err == nil {
			if !found {
				t.Fatal("verified without a MAC")
			}
			k, _ := keys.LookupKey(id)
			if again := AppendMAC(bytes.Clone(body), k); !bytes.Equal(again, pkt) {
				t.Fatalf("re-signing gives %x, packet %x", again, pkt)
			}
		}
	})
}

func extLen(efs []ExtensionField) int {
	n := 0
	for _, ef := range efs {
		n += 4 + len(ef.Value)
	}
	return n
}

func TestServerAuth(t *testing.T) {
	keys := testKeys(t)
	req := clientRequest()
	reply := (&Header{Version: 4, Mode: ModeServer, Stratum: 2}).Marshal()
	wrong, _ := NewKey(2, MACSHA1, []byte("not the server's secret"))
	tests := []struct {
		name string
		req  []byte
		want ServerAuth
		id   uint32
	}{
		{"unsigned", req, AuthNone, 0},
		{"signed MD5", AppendMAC(bytes.Clone(req), keys[1]), AuthOK, 1},
		{"signed CMAC", AppendMAC(bytes.Clone(req), keys[7]), AuthOK, 7},
		{"wrong secret", AppendMAC(bytes.Clone(req), wrong), AuthFailed, 0},
		{"crypto-NAK", AppendCryptoNAK(bytes.Clone(req)), AuthFailed, 0},
		{"malformed trailer", append(bytes.Clone(req), make([]byte, 8)...), AuthMalformed, 0},
		{"odd length", append(bytes.Clone(req), 1, 2, 3), AuthMalformed, 0},
		{"key id without digest", binary.BigEndian.AppendUint32(bytes.Clone(req), 5), AuthFailed, 0},
	}
	for _, tc := range tests {
		res, k, err := CheckRequest(tc.req, keys)
		if res != tc.want || (res == AuthOK) != (k != nil) || (res == AuthFailed || res == AuthMalformed) != (err != nil) {
			t.Fatalf("%s: %v %v %v", tc.name, res, k, err)
		}
		out := AppendReplyAuth(bytes.Clone(reply), res, k)
		switch res {
		case AuthNone, AuthMalformed:
			if len(out) != HeaderLen {
				t.Errorf("%s: %d octets", tc.name, len(out))
			}
		case AuthOK:
			if id, err := Verify(out, keys); err != nil || id != tc.id {
				t.Errorf("%s: reply Verify = %d, %v", tc.name, id, err)
			}
		case AuthFailed:
			if !IsCryptoNAK(out) {
				t.Errorf("%s: reply is not a crypto-NAK", tc.name)
			}
		}
		if len(out) > len(tc.req) && res != AuthMalformed {
			t.Errorf("%s: %d-octet reply to a %d-octet request", tc.name, len(out), len(tc.req))
		}
	}
	if res, _, _ := CheckRequest(AppendMAC(bytes.Clone(req), keys[1]), nil); res != AuthFailed {
		t.Errorf("no keys: %v", res)
	}
	buf := make([]byte, HeaderLen, HeaderLen+24)
	signed := AppendMAC(bytes.Clone(req), keys[2])
	if n := testing.AllocsPerRun(100, func() {
		res, k, _ := CheckRequest(signed, keys)
		AppendReplyAuth(buf[:HeaderLen], res, k)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
