package ntp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Symmetric-key authentication (RFC 5905 section 7.3, RFC 8573).
//
// The MAC trailer of an NTP packet is a 4-octet key id followed by a
// digest. The digest covers every octet before the key id (header and
// extension fields). For the hash types it is H(key || packet), as classic
// ntpd and NTPsec compute it, truncated to 20 octets when the hash is
// longer; for AES-CMAC it is the RFC 4493 CMAC of the packet under the key
// (16 octets). A trailer holding only a key id of zero is a crypto-NAK.

// MACType is the algorithm of a symmetric key.
type MACType uint8

// Supported key types. Digests longer than 20 octets are truncated to 20,
// as in ntpd.
const (
	MACNone       MACType = iota
	MACMD5                // 16 octets
	MACSHA1               // 20 octets
	MACSHA224             // truncated to 20
	MACSHA256             // truncated to 20
	MACSHA384             // truncated to 20
	MACSHA512             // truncated to 20
	MACAESCMAC128         // AES-128-CMAC (RFC 4493, RFC 8573), 16 octets
	MACAESCMAC192         // AES-192-CMAC (NTPsec "aes-192"), 16 octets
	MACAESCMAC256         // AES-256-CMAC (NTPsec "aes-256"), 16 octets
)

// Lengths of the MAC trailer parts.
const (
	KeyIDLen     = 4  // the key id before the digest
	MaxDigestLen = 20 // longest digest carried on the wire
	CryptoNAKLen = 4  // a lone key id of zero
	// MaxKeyLen is the longest secret ntpd accepts (32 octets).
	MaxKeyLen = 32
)

var macNames = [...]string{"none", "MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "AES128CMAC", "AES192CMAC", "AES256CMAC"}

func (t MACType) String() string {
	if int(t) < len(macNames) {
		return macNames[t]
	}
	return fmt.Sprintf("MACType(%d)", uint8(t))
}

// DigestLen is the number of digest octets on the wire (after the key id):
// 16 for MD5 and the CMACs, 20 for the SHA family, 0 for MACNone.
func (t MACType) DigestLen() int {
	switch t {
	case MACMD5, MACAESCMAC128, MACAESCMAC192, MACAESCMAC256:
		return 16
	case MACSHA1, MACSHA224, MACSHA256, MACSHA384, MACSHA512:
		return 20
	}
	return 0
}

// IsCMAC reports whether the type is an AES-CMAC.
func (t MACType) IsCMAC() bool { return t >= MACAESCMAC128 && t <= MACAESCMAC256 }

func (t MACType) aesKeyLen() int {
	switch t {
	case MACAESCMAC128:
		return 16
	case MACAESCMAC192:
		return 24
	case MACAESCMAC256:
		return 32
	}
	return 0
}

// ParseMACType maps a key type as written in an ntp.keys file (case does
// not matter) to a MACType. It accepts the names classic ntp-keygen writes
// (M, MD5, SHA1, AES128CMAC, AES), the OpenSSL digest names ntpd passes to
// OpenSSL (SHA-1, SHA224, SHA256, SHA384, SHA512 with or without a dash),
// and NTPsec's cipher names (aes, aes-128, aes-192, aes-256, with or
// without a "-cmac"/"cmac" suffix). Everything else is an error, among
// them SHA (SHA-0) and RIPEMD160, which Go does not provide.
func ParseMACType(name string) (MACType, error) {
	n := strings.ToLower(name)
	switch n {
	case "m", "md5":
		return MACMD5, nil
	case "sha1", "sha-1":
		return MACSHA1, nil
	case "sha224", "sha-224", "sha2-224":
		return MACSHA224, nil
	case "sha256", "sha-256", "sha2-256":
		return MACSHA256, nil
	case "sha384", "sha-384", "sha2-384":
		return MACSHA384, nil
	case "sha512", "sha-512", "sha2-512":
		return MACSHA512, nil
	case "aes", "aes128", "aes-128", "aes128cmac", "aes-128-cmac", "aes128-cmac", "cmac":
		return MACAESCMAC128, nil
	case "aes192", "aes-192", "aes192cmac", "aes-192-cmac", "aes192-cmac":
		return MACAESCMAC192, nil
	case "aes256", "aes-256", "aes256cmac", "aes-256-cmac", "aes256-cmac":
		return MACAESCMAC256, nil
	case "sha", "sha0", "sha-0":
		return MACNone, fmt.Errorf("key type %q (SHA-0) is not supported, use SHA1", name)
	}
	return MACNone, fmt.Errorf("unsupported key type %q (want MD5, SHA1, SHA224, SHA256, SHA384, SHA512, AES128CMAC, AES-192 or AES-256)", name)
}

// Key is a symmetric key: its id, algorithm and secret. Build it with
// NewKey, which validates it and prepares the AES state of a CMAC key, so
// that signing and verifying do not allocate. A Key is immutable and safe
// for concurrent use.
type Key struct {
	ID     uint32
	Type   MACType
	Secret []byte
	cmac   *cmacKey
}

// NewKey validates and prepares a key. The id must be 1..65535 (key 0 is
// reserved), the secret 1..32 octets. A CMAC secret shorter than the AES
// key is padded with zeros and a longer one truncated, as ntpd does.
func NewKey(id uint32, typ MACType, secret []byte) (*Key, error) {
	if id == 0 || id > 65535 {
		return nil, fmt.Errorf("key id %d out of range 1..65535", id)
	}
	if typ.DigestLen() == 0 {
		return nil, fmt.Errorf("key %d: invalid key type %v", id, typ)
	}
	if len(secret) == 0 || len(secret) > MaxKeyLen {
		return nil, fmt.Errorf("key %d: secret of %d octets, want 1..%d", id, len(secret), MaxKeyLen)
	}
	k := &Key{ID: id, Type: typ, Secret: append([]byte(nil), secret...)}
	if typ.IsCMAC() {
		c, err := newCMAC(secret, typ.aesKeyLen())
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", id, err)
		}
		k.cmac = c
	}
	return k, nil
}

// String describes the key without revealing the secret.
func (k *Key) String() string {
	return fmt.Sprintf("key %d %v (%d octets)", k.ID, k.Type, len(k.Secret))
}

// KeyLookup finds the key for a key id. An implementation that also
// applies a trusted-key policy returns false for untrusted keys.
type KeyLookup interface {
	LookupKey(id uint32) (*Key, bool)
}

// KeyMap is a KeyLookup over a map, handy for tests and small tools.
type KeyMap map[uint32]*Key

// LookupKey implements KeyLookup.
func (m KeyMap) LookupKey(id uint32) (*Key, bool) { k, ok := m[id]; return k, ok && k != nil }

// Errors returned by Verify.
var (
	ErrNoMAC      = errors.New("ntp: no MAC")
	ErrCryptoNAK  = errors.New("ntp: crypto-NAK")
	ErrUnknownKey = errors.New("ntp: unknown or untrusted key")
	ErrBadMAC     = errors.New("ntp: MAC does not verify")
)

// AppendDigest appends the digest of msg under key (DigestLen octets) to
// dst. It does not allocate when dst has room and, for the hash types, msg
// plus the secret fit in 2 KiB.
func (k *Key) AppendDigest(dst, msg []byte) []byte {
	n := k.Type.DigestLen()
	dst = grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	k.digest(out, msg)
	return dst[:len(dst)+n]
}

// digest writes the digest of msg into out (DigestLen octets, which must
// not overlap msg).
func (k *Key) digest(out, msg []byte) {
	if k.Type.IsCMAC() {
		k.cmac.sum(out, msg)
		return
	}
	var buf [2048]byte
	if len(k.Secret)+len(msg) <= len(buf) {
		m := buf[:copy(buf[:], k.Secret)]
		m = append(m, msg...)
		hashSum(k.Type, out, m)
		return
	}
	h := newHash(k.Type)
	h.Write(k.Secret)
	h.Write(msg)
	var sum [64]byte
	copy(out, h.Sum(sum[:0]))
}

func hashSum(t MACType, out, m []byte) {
	switch t {
	case MACMD5:
		s := md5.Sum(m)
		copy(out, s[:])
	case MACSHA1:
		s := sha1.Sum(m)
		copy(out, s[:])
	case MACSHA224:
		s := sha256.Sum224(m)
		copy(out, s[:])
	case MACSHA256:
		s := sha256.Sum256(m)
		copy(out, s[:])
	case MACSHA384:
		s := sha512.Sum384(m)
		copy(out, s[:])
	case MACSHA512:
		s := sha512.Sum512(m)
		copy(out, s[:])
	}
}

type hasher interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

func newHash(t MACType) hasher {
	switch t {
	case MACMD5:
		return md5.New()
	case MACSHA1:
		return sha1.New()
	case MACSHA224:
		return sha256.New224()
	case MACSHA256:
		return sha256.New()
	case MACSHA384:
		return sha512.New384()
	}
	return sha512.New()
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n+max(len(b), 64))
	copy(nb, b)
	return nb
}

// AppendMAC signs pkt, the complete packet without a MAC (header and
// extension fields), and returns pkt with the MAC trailer appended: the
// key id and the digest of pkt. It does not allocate when pkt has room
// for KeyIDLen+DigestLen more octets.
func AppendMAC(pkt []byte, key *Key) []byte {
	n := len(pkt)
	pkt = grow(pkt, KeyIDLen+key.Type.DigestLen())
	pkt = binary.BigEndian.AppendUint32(pkt, key.ID)
	return key.AppendDigest(pkt, pkt[:n])
}

// AppendCryptoNAK appends a crypto-NAK (a key id of zero, no digest) to
// pkt, the answer of a server to a request whose MAC did not verify.
func AppendCryptoNAK(pkt []byte) []byte { return append(pkt, 0, 0, 0, 0) }

// SplitMAC locates the MAC trailer of an NTP packet with the rules of
// Parse: after the 48-octet header come extension fields (at least 16
// octets each) until a trailer of 4, 20 or 24 octets remains. It returns
// the signed part (everything before the key id), the key id and the
// digest (empty for a 4-octet trailer). found is false when the packet
// has no trailer; err is set when the packet is malformed. It does not
// allocate.
func SplitMAC(pkt []byte) (body []byte, keyID uint32, digest []byte, found bool, err error) {
	if len(pkt) < HeaderLen {
		return nil, 0, nil, false, ErrShort
	}
	if len(pkt)%4 != 0 {
		return nil, 0, nil, false, ErrBadLength
	}
	off := HeaderLen
	for off < len(pkt) {
		rest := len(pkt) - off
		if isMACLen(rest) {
			return pkt[:off], binary.BigEndian.Uint32(pkt[off:]), pkt[off+KeyIDLen:], true, nil
		}
		if rest < 16 {
			return nil, 0, nil, false, fmt.Errorf("%w: %d trailing octets", ErrTrailer, rest)
		}
		n := int(binary.BigEndian.Uint16(pkt[off+2:]))
		if n < 16 || n%4 != 0 || n > rest {
			return nil, 0, nil, false, fmt.Errorf("%w: extension field length %d", ErrTrailer, n)
		}
		off += n
	}
	return pkt, 0, nil, false, nil
}

// IsCryptoNAK reports whether pkt is a well-formed NTP packet ending in a
// crypto-NAK: a 4-octet trailer holding key id 0.
func IsCryptoNAK(pkt []byte) bool {
	_, id, d, found, err := SplitMAC(pkt)
	return err == nil && found && id == 0 && len(d) == 0
}

// Verify checks the MAC of an NTP packet against keys. It returns the key
// id of the trailer (0 when there is none) and:
//
//   - nil when the digest verifies under the key keys returns for the id;
//   - ErrNoMAC when the packet carries no MAC;
//   - ErrCryptoNAK for a crypto-NAK (4-octet trailer with key id 0);
//   - ErrUnknownKey when keys has no (trusted) key for the id, or the id
//     is 0 with a digest;
//   - ErrBadMAC when the digest length does not match the key type or the
//     digest differs (compared in constant time), and for a 4-octet trailer
//     with a non-zero key id;
//   - a wrapped ErrShort, ErrBadLength or ErrTrailer for a malformed packet.
//
// Verify does not allocate for packets up to 2 KiB.
func Verify(pkt []byte, keys KeyLookup) (keyID uint32, err error) {
	body, id, dig, found, err := SplitMAC(pkt)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, ErrNoMAC
	}
	return id, VerifyDigest(body, id, dig, keys)
}

// VerifyDigest checks that digest is the MAC of body under key id. It is
// Verify for callers that have located the trailer themselves (mode 6).
func VerifyDigest(body []byte, id uint32, digest []byte, keys KeyLookup) error {
	if len(digest) == 0 {
		if id == 0 {
			return ErrCryptoNAK
		}
		return fmt.Errorf("%w: key id %d without a digest", ErrBadMAC, id)
	}
	if id == 0 || keys == nil {
		return ErrUnknownKey
	}
	k, ok := keys.LookupKey(id)
	if !ok {
		return ErrUnknownKey
	}
	n := k.Type.DigestLen()
	if len(digest) != n {
		return fmt.Errorf("%w: %d-octet digest for a %v key", ErrBadMAC, len(digest), k.Type)
	}
	var want [MaxDigestLen]byte
	k.digest(want[:n], body)
	if subtle.ConstantTimeCompare(want[:n], digest) != 1 {
		return ErrBadMAC
	}
	return nil
}

// cmacKey is the prepared state of an AES-CMAC key (RFC 4493): the block
// cipher and the subkeys K1 and K2.
type cmacKey struct {
	block  cipher.Block
	k1, k2 [16]byte
}

func newCMAC(secret []byte, keyLen int) (*cmacKey, error) {
	key := make([]byte, keyLen)
	copy(key, secret) // pad with zeros or truncate, as ntpd does
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	c := &cmacKey{block: b}
	var l [16]byte
	b.Encrypt(l[:], l[:])
	c.k1 = dbl(l)
	c.k2 = dbl(c.k1)
	return c, nil
}

// dbl is the doubling in GF(2^128) of RFC 4493 section 2.3.
func dbl(in [16]byte) [16]byte {
	var out [16]byte
	carry := in[0] >> 7
	for i := 0; i < 15; i++ {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[15] = in[15]<<1 ^ (0x87 & -carry)
	return out
}

var blockPool = sync.Pool{New: func() any { return new([16]byte) }}

// sum writes the 16-octet CMAC of msg into out (RFC 4493 section 2.4).
func (c *cmacKey) sum(out, msg []byte) {
	x := blockPool.Get().(*[16]byte)
	*x = [16]byte{}
	n := len(msg)
	full := n > 0 && n%16 == 0
	last := n - n%16 // start of the final (partial) block
	if full {
		last = n - 16
	}
	for i := 0; i < last; i += 16 {
		subtle.XORBytes(x[:], x[:], msg[i:i+16])
		c.block.Encrypt(x[:], x[:])
	}
	if full {
		for i := 0; i < 16; i++ {
			x[i] ^= msg[last+i] ^ c.k1[i]
		}
	} else {
		r := n - last
		for i := 0; i < 16; i++ {
			var m byte
			switch {
			case i < r:
				m = msg[last+i]
			case i == r:
				m = 0x80
			}
			x[i] ^= m ^ c.k2[i]
		}
	}
	c.block.Encrypt(x[:], x[:])
	copy(out, x[:])
	blockPool.Put(x)
}

// ServerAuth is what a server does about the MAC of a request (RFC 5905
// section 7.3 and what classic ntpd does for mode 3).
type ServerAuth uint8

const (
	// AuthNone: the request has no MAC; answer unsigned.
	AuthNone ServerAuth = iota
	// AuthOK: the MAC verifies with a trusted key; sign the reply with it.
	AuthOK
	// AuthFailed: the request has a MAC that does not verify (unknown or
	// untrusted key, wrong digest, a crypto-NAK); answer with a crypto-NAK
	// (classic ntpd) or drop it (NTPsec).
	AuthFailed
	// AuthMalformed: the octets after the header are neither extension
	// fields nor a MAC (or the length is not a multiple of 4): drop the
	// request, as ntpd does. (Answering it, even with a crypto-NAK, could
	// send more octets than were received.)
	AuthMalformed
)

func (a ServerAuth) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthOK:
		return "ok"
	case AuthFailed:
		return "failed"
	case AuthMalformed:
		return "malformed"
	}
	return fmt.Sprintf("ServerAuth(%d)", uint8(a))
}

// CheckRequest classifies the MAC of a client request for a server: keys
// should be the trusted view of the server's keys (nil: no keys, so every
// MAC fails). key is the key to sign the reply with when the result is
// AuthOK; err says why for AuthFailed and AuthMalformed. It does not
// allocate.
func CheckRequest(req []byte, keys KeyLookup) (res ServerAuth, key *Key, err error) {
	body, id, dig, found, err := SplitMAC(req)
	if err != nil {
		return AuthMalformed, nil, err
	}
	if !found {
		return AuthNone, nil, nil
	}
	if err := VerifyDigest(body, id, dig, keys); err != nil {
		return AuthFailed, nil, err
	}
	k, _ := keys.LookupKey(id)
	return AuthOK, k, nil
}

// AppendReplyAuth finishes a server reply (header and extension fields in
// reply) according to CheckRequest: unchanged for AuthNone (and
// AuthMalformed, which the caller should have dropped), signed with key
// for AuthOK, a crypto-NAK appended for AuthFailed. A 48-octet reply is
// then never longer than the request that produced the result. It does
// not allocate when reply has room for 24 more octets.
func AppendReplyAuth(reply []byte, res ServerAuth, key *Key) []byte {
	switch {
	case res == AuthOK && key != nil:
		return AppendMAC(reply, key)
	case res == AuthFailed:
		return AppendCryptoNAK(reply)
	}
	return reply
}
