package ntpconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// The symmetric key file (ntp.keys, written by ntp-keygen and read by ntpd
// through "keys FILE" or -k, and by ntpdate -k):
//
//	# comment
//	keyno type key [addr[,addr...]]
//
// keyno is 1..65535. type is a key type of ntp.ParseMACType (MD5 or M,
// SHA1, SHA224, SHA256, SHA384, SHA512, AES128CMAC or AES, aes-128,
// aes-192, aes-256; case does not matter). key is up to 20 printable ASCII
// characters used as they are, or, when longer than 20 characters, an even
// number of hex digits (at most 64) giving up to 32 octets: ntp-keygen
// writes 20-character ASCII MD5 keys, 40-digit SHA1 keys and 16-character
// or 32-digit AES keys. The optional fourth field restricts the key to
// sources in a comma-separated list of addresses or prefixes (classic ntpd
// 4.2.8p7 and later). "#" starts a comment anywhere, so it cannot be part
// of an ASCII key.

// KeyEntry is one key of a keys file.
type KeyEntry struct {
	Key *ntp.Key
	// Allowed, when not empty, lists the source addresses that may use
	// the key (the optional fourth field).
	Allowed []netip.Prefix
	Pos     Pos
}

// Keys is a parsed keys file plus the set of trusted key ids. The zero
// value and a nil *Keys hold no keys. Lookups are safe for concurrent use;
// Trust is not (call it before sharing the Keys).
type Keys struct {
	File    string
	entries map[uint32]*KeyEntry
	trusted map[uint32]bool
}

// Maximum number of errors ParseKeys collects before it stops.
const maxKeyErrors = 100

// ParseKeys parses a keys file read from r; name is used in messages. On
// bad lines it returns the Keys built from the good lines together with an
// ErrorList ("name:line: message"); messages never contain key material.
// No key is trusted until Trust is called.
func ParseKeys(name string, r io.Reader) (*Keys, error) {
	k := &Keys{File: name, entries: map[uint32]*KeyEntry{}, trusted: map[uint32]bool{}}
	var errs ErrorList
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineLength)
	line := 0
	for sc.Scan() {
		line++
		pos := Pos{File: name, Line: line}
		if err := k.parseLine(pos, sc.Bytes()); err != nil {
			errs = append(errs, Diag{Pos: pos, Msg: err.Error()})
			if len(errs) >= maxKeyErrors {
				errs = append(errs, Diag{Pos: pos, Msg: "too many errors"})
				return k, errs
			}
		}
	}
	if err := sc.Err(); err != nil {
		msg := err.Error()
		if errors.Is(err, bufio.ErrTooLong) {
			msg = fmt.Sprintf("line longer than %d octets", MaxLineLength)
		}
		errs = append(errs, Diag{Pos: Pos{File: name, Line: line + 1}, Msg: msg})
	}
	if len(errs) > 0 {
		return k, errs
	}
	return k, nil
}

// ReadKeys opens and parses the keys file at path. A missing file is
// reported with an error that matches errors.Is(err, fs.ErrNotExist).
func ReadKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ntpconf: keys file: %w", err)
	}
	defer f.Close()
	return ParseKeys(path, f)
}

func (k *Keys) parseLine(pos Pos, b []byte) error {
	if i := bytes.IndexByte(b, '#'); i >= 0 {
		b = b[:i]
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return nil
	}
	if len(f) < 3 {
		return fmt.Errorf("expected \"keyno type key\", got %d field(s)", len(f))
	}
	if len(f) > 4 {
		return fmt.Errorf("key %s: unexpected %q after the address list", f[0], f[4])
	}
	id, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil || id < 1 || id > 65535 {
		return fmt.Errorf("key number %q: want 1..65535", f[0])
	}
	typ, err := ntp.ParseMACType(f[1])
	if err != nil {
		return fmt.Errorf("key %d: %w", id, err)
	}
	secret, err := decodeSecret(f[2])
	if err != nil {
		return fmt.Errorf("key %d: %w", id, err)
	}
	key, err := ntp.NewKey(uint32(id), typ, secret)
	if err != nil {
		return err
	}
	e := &KeyEntry{Key: key, Pos: pos}
	if len(f) == 4 {
		for _, s := range strings.Split(f[3], ",") {
			p, err := parseKeyAddr(s)
			if err != nil {
				return fmt.Errorf("key %d: address %q: %w", id, s, err)
			}
			e.Allowed = append(e.Allowed, p)
		}
	}
	if old, dup := k.entries[uint32(id)]; dup {
		return fmt.Errorf("key %d: already defined at %s", id, old.Pos)
	}
	k.entries[uint32(id)] = e
	return nil
}

// decodeSecret applies ntpd's rule: up to 20 characters are the key
// itself, longer strings are hex.
func decodeSecret(s string) ([]byte, error) {
	if len(s) <= 20 {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] > 0x7e {
				return nil, fmt.Errorf("ASCII key: character %d is not printable ASCII", i+1)
			}
		}
		return []byte(s), nil
	}
	if len(s) > 2*ntp.MaxKeyLen {
		return nil, fmt.Errorf("hex key of %d digits, at most %d (%d octets)", len(s), 2*ntp.MaxKeyLen, ntp.MaxKeyLen)
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("hex key of %d digits: want an even number (keys over 20 characters are hex)", len(s))
	}
	out := make([]byte, len(s)/2)
	for i := 0; i < len(s); i++ {
		v := unhexDigit(s[i])
		if v > 15 {
			return nil, fmt.Errorf("hex key: character %d is not a hex digit (keys over 20 characters are hex)", i+1)
		}
		out[i/2] |= v << (4 * (1 - i%2))
	}
	return out, nil
}

func unhexDigit(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

func parseKeyAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an address or prefix")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("not an address or prefix")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Len returns the number of keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entries)
}

// IDs returns the key ids in increasing order.
func (k *Keys) IDs() []uint32 {
	if k == nil {
		return nil
	}
	ids := make([]uint32, 0, len(k.entries))
	for id := range k.entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Entry returns the key with the given id, trusted or not.
func (k *Keys) Entry(id uint32) (*KeyEntry, bool) {
	if k == nil {
		return nil, false
	}
	e, ok := k.entries[id]
	return e, ok
}

// Lookup returns the key with the given id, trusted or not.
func (k *Keys) Lookup(id uint32) (*ntp.Key, bool) {
	e, ok := k.Entry(id)
	if !ok {
		return nil, false
	}
	return e.Key, true
}

// LookupKey implements ntp.KeyLookup over every key of the file. To
// accept only trusted keys (what ntpd does), use Trusted.
func (k *Keys) LookupKey(id uint32) (*ntp.Key, bool) { return k.Lookup(id) }

// Trust marks keys as trusted ("trustedkey"). It returns the ids that are
// not in the file (they stay untrusted). Ids outside 1..65535 are
// returned too.
func (k *Keys) Trust(ids ...int) (missing []int) {
	for _, id := range ids {
		if id < 1 || id > 65535 || k.Len() == 0 {
			missing = append(missing, id)
			continue
		}
		if _, ok := k.entries[uint32(id)]; !ok {
			missing = append(missing, id)
			continue
		}
		if k.trusted == nil {
			k.trusted = map[uint32]bool{}
		}
		k.trusted[uint32(id)] = true
	}
	return missing
}

// IsTrusted reports whether the key exists and is trusted.
func (k *Keys) IsTrusted(id uint32) bool {
	if k == nil {
		return false
	}
	_, ok := k.entries[id]
	return ok && k.trusted[id]
}

// AllowedFrom reports whether a source address may use the key: the key
// exists and has no address list, or the list contains addr.
func (k *Keys) AllowedFrom(id uint32, addr netip.Addr) bool {
	e, ok := k.Entry(id)
	if !ok {
		return false
	}
	if len(e.Allowed) == 0 {
		return true
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range e.Allowed {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Trusted returns the ntp.KeyLookup that finds only trusted keys: what a
// server or client verifies incoming MACs with.
func (k *Keys) Trusted() ntp.KeyLookup { return trustedKeys{k} }

type trustedKeys struct{ k *Keys }

func (t trustedKeys) LookupKey(id uint32) (*ntp.Key, bool) {
	if !t.k.IsTrusted(id) {
		return nil, false
	}
	return t.k.Lookup(id)
}

// LoadKeys reads the keys file named by the configuration ("keys") and
// trusts the "trustedkey" ids. With no keys directive it returns an empty
// Keys and no error. The Keys is never nil: when the file cannot be read
// it is empty, when some lines are bad it holds the good ones (trusted as
// configured) and err is the ErrorList, so a daemon can log and go on as
// ntpd does. The warnings name trusted, control and request keys
// that are missing from the file or not trusted (ntpd then refuses
// authenticated requests for them).
func LoadKeys(c *Config) (*Keys, []string, error) {
	if c == nil || c.Keys == "" {
		return &Keys{}, nil, nil
	}
	k, err := ReadKeys(c.Keys)
	if k == nil { // the file could not be opened
		return &Keys{}, nil, err
	}
	var warn []string
	for _, id := range k.Trust(c.TrustedKeys...) {
		warn = append(warn, fmt.Sprintf("trustedkey %d: no such key in %s", id, c.Keys))
	}
	for _, ck := range []struct {
		name string
		id   int
	}{{"controlkey", c.ControlKey}, {"requestkey", c.RequestKey}} {
		if ck.id != 0 && !k.IsTrusted(uint32(ck.id)) {
			warn = append(warn, fmt.Sprintf("%s %d: key is not trusted (add it to trustedkey)", ck.name, ck.id))
		}
	}
	for _, a := range c.Servers {
		if a.Key != 0 && !k.IsTrusted(uint32(a.Key)) {
			warn = append(warn, fmt.Sprintf("%s: %s key %d: key is not trusted (add it to trustedkey)", a.Pos, a.Address, a.Key))
		}
	}
	return k, warn, err
}

// AppendText writes the keys in keys-file format, in id order, one per
// line; secrets that are printable ASCII without "#" and at most 20
// characters are written as they are, others in hex. Parsing the result
// gives the same keys (the trusted set is not part of the file).
func (k *Keys) AppendText(dst []byte) []byte {
	for _, id := range k.IDs() {
		e := k.entries[id]
		dst = strconv.AppendUint(dst, uint64(id), 10)
		dst = append(dst, ' ')
		dst = append(dst, e.Key.Type.String()...)
		dst = append(dst, ' ')
		if s := e.Key.Secret; len(s) <= 20 && isPlainASCII(s) {
			dst = append(dst, s...)
		} else {
			const digits = "0123456789abcdef"
			for _, c := range s {
				dst = append(dst, digits[c>>4], digits[c&15])
			}
		}
		for i, p := range e.Allowed {
			if i == 0 {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, ',')
			}
			if p.IsSingleIP() {
				dst = p.Addr().AppendTo(dst)
			} else {
				dst = append(dst, p.String()...)
			}
		}
		dst = append(dst, '\n')
	}
	return dst
}

func isPlainASCII(s []byte) bool {
	for _, c := range s {
		if c < 0x21 || c > 0x7e || c == '#' {
			return false
		}
	}
	return true
}
