package mode6

import (
	"encoding/binary"
	"errors"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Authentication of control messages (the MAC trailer of SPEC §1.1).
//
// A signed datagram is the header and data, padded with zeros to a
// multiple of 8 octets from the start of the datagram, then the 4-octet
// key id and the digest (16 or 20 octets) of everything before the key id,
// computed as for NTP packets (ntp.Key). ntpq signs requests that change
// state (writevar, :config, ...); a daemon that received a request with a
// MAC signs every fragment of its response with the same key. Both
// reference daemons look for the MAC at the 8-aligned end of the data only
// (Parse does the same), so ntpstat's 576-octet request is never taken for
// a signed one.

// SignedLen is the length of a datagram of n octets once signed with a key
// of the given type.
func SignedLen(n int, typ ntp.MACType) int { return pad8(n) + ntp.KeyIDLen + typ.DigestLen() }

// AppendMAC signs the mode 6 datagram in pkt (a request from
// AppendRequest or a response fragment): it pads pkt with zeros to a
// multiple of 8 octets and appends the key id and the digest. It does not
// allocate when pkt has room for SignedLen(len(pkt)) octets.
func AppendMAC(pkt []byte, key *ntp.Key) []byte {
	for n := pad8(len(pkt)) - len(pkt); n > 0; n-- {
		pkt = append(pkt, 0)
	}
	return ntp.AppendMAC(pkt, key)
}

// AppendSignedRequest is AppendRequest followed by AppendMAC: what ntpq
// sends for a command that needs authentication.
func AppendSignedRequest(dst []byte, h Header, data []byte, key *ntp.Key) []byte {
	start := len(dst)
	dst = AppendRequest(dst, h, data)
	for n := pad8(len(dst)-start) - (len(dst) - start); n > 0; n-- {
		dst = append(dst, 0)
	}
	end := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, key.ID)
	return key.AppendDigest(dst, dst[start:end])
}

// SignFragments wraps the send function of EachFragment/EachFragmentAt so
// that every fragment is signed with key before it is sent. With a nil key
// it returns send unchanged.
func SignFragments(key *ntp.Key, send func(pkt []byte) error) func(pkt []byte) error {
	if key == nil {
		return send
	}
	return func(pkt []byte) error { return send(AppendMAC(pkt, key)) }
}

// ErrAuth is matched (errors.Is) by every error of VerifyMAC other than
// ntp.ErrNoMAC and the parse errors: the datagram carries a MAC that does
// not authenticate it.
var ErrAuth = errors.New("mode6: authentication failed")

type authError struct{ err error }

func (e authError) Error() string        { return "mode6: " + e.err.Error() }
func (e authError) Unwrap() []error      { return []error{ErrAuth, e.err} }
func (e authError) Is(target error) bool { return target == ErrAuth }

// VerifyMAC checks the authenticator of a received mode 6 datagram. It
// returns the key id of the MAC (0 without one) and nil when the digest
// verifies under the key keys returns; ntp.ErrNoMAC when the datagram is
// not signed; an error matching ErrAuth and ntp.ErrUnknownKey or
// ntp.ErrBadMAC when it is signed but does not verify; the Parse error
// for a malformed datagram. Use the trusted view of the keys
// (ntpconf.Keys.Trusted) so that untrusted keys do not authenticate.
// Verify does not allocate for datagrams up to 2 KiB.
func VerifyMAC(b []byte, keys ntp.KeyLookup) (keyID uint32, err error) {
	p, err := Parse(b)
	if err != nil {
		return 0, err
	}
	return VerifyPacket(b, &p, keys)
}

// VerifyPacket is VerifyMAC for a datagram already decoded by Parse (or
// ValidateRequest): p must have been parsed from b.
func VerifyPacket(b []byte, p *Packet, keys ntp.KeyLookup) (keyID uint32, err error) {
	if len(p.MAC) < ntp.KeyIDLen {
		return 0, ntp.ErrNoMAC
	}
	id := p.KeyID()
	body := b[:len(b)-len(p.MAC)]
	if err := ntp.VerifyDigest(body, id, p.MAC[ntp.KeyIDLen:], keys); err != nil {
		return id, authError{err}
	}
	return id, nil
}

// Authorize decides whether a control request may perform an operation
// that needs authentication (write or configure), the way ntpd does: the
// request must carry a MAC made with the control key (controlKey, the
// "controlkey" of ntp.conf; 0 means none is configured and nothing is
// authorized), that key must be trusted (keys is the trusted view), and
// the digest must verify. The error is ntp.ErrNoMAC for an unsigned
// request, else it matches ErrAuth; the daemon answers both with the
// PERMISSION error code.
func Authorize(b []byte, p *Packet, keys ntp.KeyLookup, controlKey uint32) (keyID uint32, err error) {
	id, err := VerifyPacket(b, p, keys)
	if err != nil {
		return id, err
	}
	if controlKey == 0 || id != controlKey {
		return id, authError{errors.New("key is not the control key")}
	}
	return id, nil
}
