package mode6

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

func authKeys(t testing.TB) ntp.KeyMap {
	t.Helper()
	m := ntp.KeyMap{}
	for id, typ := range map[uint32]ntp.MACType{1: ntp.MACMD5, 2: ntp.MACSHA1, 3: ntp.MACAESCMAC128, 4: ntp.MACSHA256} {
		k, err := ntp.NewKey(id, typ, []byte("control-secret"))
		if err != nil {
			t.Fatal(err)
		}
		m[id] = k
	}
	return m
}

// Every data length 0..40 (all paddings) signs, parses and verifies with
// every key type; the MAC starts at the 8-aligned end of the data.
func TestSignVerifyRequest(t *testing.T) {
	keys := authKeys(t)
	for id, k := range keys {
		for n := 0; n <= 40; n++ {
			data := []byte(strings.Repeat("x", n))
			pkt := AppendSignedRequest([]byte("prefix"), NewRequest(OpWriteVar, 7, 0), data, k)[6:]
			if want := SignedLen(HeaderLen+pad4(n), k.Type); len(pkt) != want || len(pkt)%4 != 0 {
				t.Fatalf("%v n=%d: length %d, want %d", k.Type, n, len(pkt), want)
			}
			if !bytes.Equal(pkt, AppendMAC(MarshalRequest(NewRequest(OpWriteVar, 7, 0), data), k)) {
				t.Fatalf("%v n=%d: AppendSignedRequest and AppendMAC differ", k.Type, n)
			}
			d := ValidateRequest(pkt)
			if d.Verdict != Accept || !bytes.Equal(d.Request.Data, data) || d.Request.KeyID() != id {
				t.Fatalf("%v n=%d: %v, key %d", k.Type, n, d.Verdict, d.Request.KeyID())
			}
			if macAt := len(pkt) - len(d.Request.MAC); macAt != pad8(HeaderLen+n) {
				t.Fatalf("%v n=%d: MAC at %d", k.Type, n, macAt)
			}
			got, err := VerifyMAC(pkt, keys)
			if err != nil || got != id {
				t.Fatalf("%v n=%d: VerifyMAC = %d, %v", k.Type, n, got, err)
			}
			if got, err := Authorize(pkt, &d.Request, keys, id); err != nil || got != id {
				t.Fatalf("Authorize = %d, %v", got, err)
			}
			for i := range pkt {
				bad := bytes.Clone(pkt)
				bad[i] ^= 0x10
				if _, err := VerifyMAC(bad, keys); err == nil {
					t.Fatalf("%v n=%d: flipped octet %d verifies", k.Type, n, i)
				}
			}
		}
	}
}

func TestSignedFragments(t *testing.T) {
	keys := authKeys(t)
	k := keys[2]
	req := NewRequest(OpReadVar, 3, 0)
	data := []byte(strings.Repeat("abcdefgh=1, ", 100))
	var got []byte
	var frags int
	err := EachFragment(nil, ReplyHeader(req, 0, 0x0618), data, SignFragments(k, func(pkt []byte) error {
		frags++
		if id, err := VerifyMAC(pkt, keys); err != nil || id != 2 {
			t.Fatalf("fragment %d: %d, %v", frags, id, err)
		}
		if len(pkt) > HeaderLen+MaxFragData+ntp.KeyIDLen+ntp.MaxDigestLen {
			t.Fatalf("fragment of %d octets", len(pkt))
		}
		p, err := Parse(pkt)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Data...)
		return nil
	}))
	if err != nil || !bytes.Equal(got, data) || frags != NumFragments(len(data)) {
		t.Fatalf("%d fragments, %v, data equal %v", frags, err, bytes.Equal(got, data))
	}
	// The assembler accepts signed fragments as well.
	fr, _ := Fragment(ReplyHeader(req, 0, 0), data)
	a := NewAssembler(req, MaxResponse)
	for _, f := range fr {
		if _, err := a.AddBytes(AppendMAC(bytes.Clone(f), k)); err != nil {
			t.Fatal(err)
		}
	}
	if !a.Done() || !bytes.Equal(a.Data(), data) {
		t.Fatal("assembler")
	}
	if SignFragments(nil, nil) != nil {
		t.Error("nil key wraps")
	}
}

func TestVerifyMACErrors(t *testing.T) {
	keys := authKeys(t)
	plain := MarshalRequest(NewRequest(OpReadVar, 1, 0), []byte("stratum"))
	signed := AppendMAC(bytes.Clone(plain), keys[1])
	other, _ := ntp.NewKey(1, ntp.MACMD5, []byte("wrong"))
	ntpstat := append(MarshalRequest(NewRequest(OpReadVar, 1, 0), nil), make([]byte, 564)...)
	tests := []struct {
		name    string
		pkt     []byte
		keys    ntp.KeyLookup
		id      uint32
		want    error
		wantAny bool // also ErrAuth
	}{
		{"unsigned", plain, keys, 0, ntp.ErrNoMAC, false},
		{"ntpstat surplus is not a MAC", ntpstat, keys, 0, ntp.ErrNoMAC, false},
		{"wrong secret", signed, ntp.KeyMap{1: other}, 1, ntp.ErrBadMAC, true},
		{"unknown key", signed, ntp.KeyMap{}, 1, ntp.ErrUnknownKey, true},
		{"nil keys", signed, nil, 1, ntp.ErrUnknownKey, true},
		{"SHA1 length for an MD5 key", AppendMAC(bytes.Clone(plain), keys[2]), ntp.KeyMap{2: keys[1]}, 2, ntp.ErrBadMAC, true},
		{"short", plain[:8], keys, 0, ErrShort, false},
	}
	for _, tc := range tests {
		id, err := VerifyMAC(tc.pkt, tc.keys)
		if id != tc.id || !errors.Is(err, tc.want) || errors.Is(err, ErrAuth) != tc.wantAny {
			t.Errorf("%s: %d, %v; want %d, %v (ErrAuth %v)", tc.name, id, err, tc.id, tc.want, tc.wantAny)
		}
	}
	p, _ := Parse(signed)
	for _, tc := range []struct {
		ctl  uint32
		want error
	}{{0, ErrAuth}, {2, ErrAuth}, {1, nil}} {
		if _, err := Authorize(signed, &p, keys, tc.ctl); !errors.Is(err, tc.want) {
			t.Errorf("Authorize with control key %d: %v", tc.ctl, err)
		}
	}
	p, _ = Parse(plain)
	if _, err := Authorize(plain, &p, keys, 1); !errors.Is(err, ntp.ErrNoMAC) {
		t.Errorf("Authorize unsigned: %v", err)
	}
}

func TestAuthNoAlloc(t *testing.T) {
	keys := authKeys(t)
	buf := make([]byte, 0, 600)
	data := []byte("leap,stratum,refid")
	h := NewRequest(OpReadVar, 1, 0)
	for _, k := range keys {
		if n := testing.AllocsPerRun(50, func() {
			pkt := AppendSignedRequest(buf[:0], h, data, k)
			if _, err := VerifyMAC(pkt, keys); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%v: %v allocations", k.Type, n)
		}
	}
}

// FuzzVerifyMAC: arbitrary datagrams never panic VerifyMAC, and whatever
// verifies re-signs to the same bytes.
func FuzzVerifyMAC(f *testing.F) {
	keys := authKeys(f)
	for _, k := range keys {
		f.Add(AppendSignedRequest(nil, NewRequest(OpWriteVar, 1, 0), []byte("x=1"), k))
	}
	f.Add(MarshalRequest(NewRequest(OpReadStat, 1, 0), nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := VerifyMAC(b, keys)
		if err != nil {
			return
		}
		p, _ := Parse(b)
		body := b[:len(b)-len(p.MAC)]
		if again := AppendMAC(bytes.Clone(body), keys[id]); !bytes.Equal(again, b) {
			t.Fatalf("re-sign differs: %x vs %x", again, b)
		}
	})
}
