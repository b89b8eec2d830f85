package ntpconf

import (
	"bytes"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

func TestParseKeys(t *testing.T) {
	const file = `# a comment
 1 MD5 Wgimok6H_N}=Rm+*pxNd  # MD5 key
2 M short
11 SHA1 488f1730e4c6c61d1af96b8cb073d148158b9fee  # SHA1 key
	12	sha256	0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef
20 AES128CMAC 000102030405060708090a0b0c0d0e0f
21 AES w]zxIz66I::f3vbt
22 aes-256 k
30 SHA1 some"key\;x 192.0.2.1,2001:db8::/32,10.0.0.0/8
65535 md5 max-id` + "\r\n"
	k, err := ParseKeys("ntp.keys", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id     uint32
		typ    ntp.MACType
		secret string
		line   int
	}{
		{1, ntp.MACMD5, "Wgimok6H_N}=Rm+*pxNd", 2},
		{2, ntp.MACMD5, "short", 3},
		{11, ntp.MACSHA1, "\x48\x8f\x17\x30\xe4\xc6\xc6\x1d\x1a\xf9\x6b\x8c\xb0\x73\xd1\x48\x15\x8b\x9f\xee", 4},
		{12, ntp.MACSHA256, string(bytes.Repeat([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, 4)), 5},
		{20, ntp.MACAESCMAC128, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 6},
		{21, ntp.MACAESCMAC128, "w]zxIz66I::f3vbt", 7},
		{22, ntp.MACAESCMAC256, "k", 8},
		{30, ntp.MACSHA1, `some"key\;x`, 9},
		{65535, ntp.MACMD5, "max-id", 10},
	}
	var ids []uint32
	for _, w := range want {
		ids = append(ids, w.id)
		e, ok := k.Entry(w.id)
		if !ok {
			t.Fatalf("key %d missing", w.id)
		}
		if e.Key.ID != w.id || e.Key.Type != w.typ || string(e.Key.Secret) != w.secret || e.Pos.Line != w.line || e.Pos.File != "ntp.keys" {
			t.Errorf("key %d = %+v %v %q, want %v %q line %d", w.id, e.Pos, e.Key.Type, e.Key.Secret, w.typ, w.secret, w.line)
		}
	}
	if got := k.IDs(); !slices.Equal(got, ids) || k.Len() != len(ids) {
		t.Errorf("IDs = %v, want %v", got, ids)
	}
	e, _ := k.Entry(30)
	if got := len(e.Allowed); got != 3 {
		t.Fatalf("allowed = %v", e.Allowed)
	}
	for addr, want := range map[string]bool{"192.0.2.1": true, "::ffff:192.0.2.1": true, "192.0.2.2": false, "10.9.8.7": true, "2001:db8::5": true, "2001:db9::5": false} {
		if got := k.AllowedFrom(30, netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowedFrom(30, %s) = %v", addr, got)
		}
	}
	if !k.AllowedFrom(1, netip.MustParseAddr("198.51.100.1")) || k.AllowedFrom(99, netip.MustParseAddr("127.0.0.1")) {
		t.Error("AllowedFrom without a list / unknown key")
	}
}

func TestParseKeysErrors(t *testing.T) {
	tests := []struct {
		line string
		want string // substring of the message
	}{
		{"1 MD5", "expected \"keyno type key\", got 2 field(s)"},
		{"0 MD5 abc", `key number "0": want 1..65535`},
		{"65536 MD5 abc", `key number "65536"`},
		{"-1 MD5 abc", `key number "-1"`},
		{"x MD5 abc", `key number "x"`},
		{"1 SHA abc", "SHA-0"},
		{"1 RIPEMD160 abc", "unsupported key type"},
		{"1 MD5 0123456789abcdef0123456789abcdef0", "even number"},
		{"1 MD5 0123456789abcdefg123456789abcdef01", "character 17 is not a hex digit"},
		{"1 MD5 " + strings.Repeat("ab", 33), "at most 64"},
		{"1 MD5 ab\x01c", "not printable ASCII"},
		{"1 MD5 abc 192.0.2.1,nohost", `address "nohost"`},
		{"1 MD5 abc 192.0.2.1 extra", `unexpected "extra"`},
		{"1 MD5 abc fe80::1%eth0", "not an address"},
	}
	for _, tc := range tests {
		_, err := ParseKeys("k", strings.NewReader("# header\n"+tc.line+"\n"))
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Errorf("%q: error %v, want one diagnostic", tc.line, err)
			continue
		}
		if list[0].Pos != (Pos{"k", 2}) || !strings.Contains(list[0].Msg, tc.want) {
			t.Errorf("%q: %v, want k:2: ...%s...", tc.line, list[0], tc.want)
		}
	}
	// Secrets never appear in messages.
	_, err := ParseKeys("k", strings.NewReader("1 MD5 topsecretkeymaterialzz\n2 MD5 abc\n2 SHA1 topsecret\n"))
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(err.Error(), "k:3: key 2: already defined at k:2") {
		t.Errorf("duplicate: %v", err)
	}
	// Good lines are kept next to bad ones.
	k, err := ParseKeys("k", strings.NewReader("1 MD5 abc\nbad\n3 SHA1 def\n"))
	if err == nil || k.Len() != 2 {
		t.Errorf("partial: %d keys, %v", k.Len(), err)
	}
	// An overlong line is an error, not a hang or a panic.
	_, err = ParseKeys("k", strings.NewReader("1 MD5 abc\n"+strings.Repeat("x", MaxLineLength+10)+"\n"))
	if err == nil || !strings.Contains(err.Error(), "k:2: line longer than") {
		t.Errorf("long line: %v", err)
	}
}

// Files written by the real key generators parse completely.
func TestParseKeysFromGenerators(t *testing.T) {
	for _, tc := range []struct {
		file  string
		n     int
		types map[ntp.MACType]int
	}{
		{"ntp-keygen-M.keys", 20, map[ntp.MACType]int{ntp.MACMD5: 10, ntp.MACSHA1: 10}},
		{"ntpkeygen-ntpsec.keys", 20, map[ntp.MACType]int{ntp.MACAESCMAC128: 20}},
	} {
		k, err := ReadKeys(filepath.Join("testdata/keys", tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		got := map[ntp.MACType]int{}
		for _, id := range k.IDs() {
			key, _ := k.Lookup(id)
			got[key.Type]++
			if key.Type.IsCMAC() && len(key.Secret) != 16 || key.Type == ntp.MACSHA1 && len(key.Secret) != 20 {
				t.Errorf("%s: key %d has %d octets", tc.file, id, len(key.Secret))
			}
		}
		if k.Len() != tc.n || len(got) != len(tc.types) {
			t.Errorf("%s: %d keys, types %v", tc.file, k.Len(), got)
		}
		for typ, n := range tc.types {
			if got[typ] != n {
				t.Errorf("%s: %d %v keys, want %d", tc.file, got[typ], typ, n)
			}
		}
	}
	if _, err := ReadKeys("testdata/keys/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestKeysTrust(t *testing.T) {
	k, err := ParseKeys("k", strings.NewReader("1 MD5 one\n2 SHA1 two\n3 AES three\n"))
	if err != nil {
		t.Fatal(err)
	}
	if missing := k.Trust(1, 3, 7, 0, 70000); !slices.Equal(missing, []int{7, 0, 70000}) {
		t.Errorf("missing = %v", missing)
	}
	tr := k.Trusted()
	for id, want := range map[uint32]bool{1: true, 2: false, 3: true, 7: false, 0: false} {
		if _, ok := tr.LookupKey(id); ok != want || k.IsTrusted(id) != want {
			t.Errorf("trusted lookup %d = %v, want %v", id, ok, want)
		}
	}
	if _, ok := k.LookupKey(2); !ok {
		t.Error("LookupKey ignores trust")
	}
	// An untrusted key cannot verify.
	key2, _ := k.Lookup(2)
	pkt := ntp.AppendMAC(make([]byte, ntp.HeaderLen), key2)
	if _, err := ntp.Verify(pkt, tr); !errors.Is(err, ntp.ErrUnknownKey) {
		t.Errorf("untrusted key verifies: %v", err)
	}
	if _, err := ntp.Verify(pkt, k); err != nil {
		t.Errorf("all-keys lookup: %v", err)
	}
	// A nil *Keys is empty.
	var nk *Keys
	if nk.Len() != 0 || nk.IsTrusted(1) || nk.AllowedFrom(1, netip.IPv4Unspecified()) || len(nk.Trust(1)) != 1 {
		t.Error("nil Keys")
	}
	if _, ok := nk.Trusted().LookupKey(1); ok {
		t.Error("nil Keys lookup")
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "ntp.keys")
	if err := os.WriteFile(kf, []byte("1 MD5 one\n2 SHA1 two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := "keys " + kf + "\ntrustedkey 1 5\ncontrolkey 2\nrequestkey 1\nserver 127.0.0.1 key 2\n"
	c, err := Parse("ntp.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	k, warn, err := LoadKeys(c)
	if err != nil {
		t.Fatal(err)
	}
	if !k.IsTrusted(1) || k.IsTrusted(2) || k.Len() != 2 {
		t.Errorf("trust: %v %v", k.IsTrusted(1), k.IsTrusted(2))
	}
	w := strings.Join(warn, "\n")
	for _, s := range []string{"trustedkey 5: no such key", "controlkey 2: key is not trusted", "ntp.conf:5: 127.0.0.1 key 2: key is not trusted"} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings %q lack %q", w, s)
		}
	}
	if strings.Contains(w, "requestkey") {
		t.Errorf("requestkey 1 is trusted: %q", w)
	}
	// A bad line: the good keys are still loaded and trusted.
	if err := os.WriteFile(kf, []byte("1 MD5 one\n2 SHA1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, _, err = LoadKeys(c)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || !k.IsTrusted(1) {
		t.Errorf("bad line: %v, trusted(1) %v", err, k.IsTrusted(1))
	}
	// A missing file: an error and an empty, usable Keys.
	c.Keys = filepath.Join(dir, "missing.keys")
	k, _, err = LoadKeys(c)
	if !errors.Is(err, fs.ErrNotExist) || k == nil || k.Len() != 0 {
		t.Errorf("missing file: %v, %v", k, err)
	}
	if _, ok := k.Trusted().LookupKey(1); ok {
		t.Error("missing file: key found")
	}
	k, warn, err = LoadKeys(NewConfig())
	if err != nil || k.Len() != 0 || warn != nil {
		t.Errorf("no keys directive: %v %v %v", k.Len(), warn, err)
	}
}

func TestKeysAppendTextRoundTrip(t *testing.T) {
	for _, f := range []string{"ntp-keygen-M.keys", "ntpkeygen-ntpsec.keys"} {
		k, err := ReadKeys(filepath.Join("testdata/keys", f))
		if err != nil {
			t.Fatal(err)
		}
		assertRoundTrip(t, k)
	}
	k, err := ParseKeys("k", strings.NewReader("3 SHA512 0123456789abcdef0123456789 ::1,10.0.0.0/8\n4 aes-192 x\n"))
	if err != nil {
		t.Fatal(err)
	}
	assertRoundTrip(t, k)
}

func assertRoundTrip(t *testing.T, k *Keys) {
	t.Helper()
	text := k.AppendText(nil)
	k2, err := ParseKeys("again", bytes.NewReader(text))
	if err != nil {
		t.Fatalf("re-parse of %q: %v", text, err)
	}
	if !bytes.Equal(k2.AppendText(nil), text) || k2.Len() != k.Len() {
		t.Fatalf("round trip differs:\n%s\n%s", text, k2.AppendText(nil))
	}
	for _, id := range k.IDs() {
		a, _ := k.Lookup(id)
		b, _ := k2.Lookup(id)
		if a.Type != b.Type || !bytes.Equal(a.Secret, b.Secret) {
			t.Fatalf("key %d differs", id)
		}
	}
}

// FuzzParseKeys checks that ParseKeys never panics or hangs, reports
// positioned errors, yields only valid keys, and that writing the keys
// out and parsing them again gives the same keys.
func FuzzParseKeys(f *testing.F) {
	for _, name := range []string{"ntp-keygen-M.keys", "ntpkeygen-ntpsec.keys"} {
		b, err := os.ReadFile(filepath.Join("testdata/keys", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("1 M abc # x\n2 SHA256 00112233445566778899aabbccddeeff00112233 127.0.0.1,::1/128\n"))
	f.Add([]byte("1 MD5 abc\n1 MD5 abc\n0 x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		k, err := ParseKeys("fuzz.keys", bytes.NewReader(data))
		if k == nil {
			t.Fatal("nil Keys")
		}
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not a non-empty ErrorList: %v", err, err)
			}
			for _, d := range list {
				if d.Pos.File != "fuzz.keys" || d.Pos.Line < 1 || d.Msg == "" {
					t.Fatalf("bad diagnostic %+v", d)
				}
			}
		}
		for _, id := range k.IDs() {
			key, _ := k.Lookup(id)
			if key.ID != id || id == 0 || len(key.Secret) == 0 || len(key.Secret) > ntp.MaxKeyLen || key.Type.DigestLen() == 0 {
				t.Fatalf("bad key %v", key)
			}
		}
		assertRoundTrip(t, k)
	})
}
