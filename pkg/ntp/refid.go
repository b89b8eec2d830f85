package ntp

import (
	"crypto/md5"
	"net/netip"
	"strconv"
)

// RefID is the 32-bit reference identifier. For stratum 0 and 1 it holds
// four ASCII characters (a kiss code or a reference source such as GPS); for
// higher strata the IPv4 address of the upstream, or the first four octets of
// the MD5 hash of an IPv6 upstream's address.
type RefID [4]byte

// RefIDFromString builds a code refid ("GPS", "RATE", "LOCL"); longer
// strings are cut at four characters.
func RefIDFromString(code string) RefID {
	var r RefID
	copy(r[:], code)
	return r
}

// RefIDFromAddr builds the refid a server announces when synchronised to
// addr: the IPv4 address itself, or the MD5 hash prefix for IPv6.
func RefIDFromAddr(addr netip.Addr) RefID {
	addr = addr.Unmap()
	if addr.Is4() {
		return RefID(addr.As4())
	}
	a16 := addr.As16()
	sum := md5.Sum(a16[:])
	return RefID{sum[0], sum[1], sum[2], sum[3]}
}

// Uint32 returns the refid as a big-endian integer.
func (r RefID) Uint32() uint32 {
	return uint32(r[0])<<24 | uint32(r[1])<<16 | uint32(r[2])<<8 | uint32(r[3])
}

// IsZero reports whether all four octets are zero.
func (r RefID) IsZero() bool { return r == RefID{} }

// IsCode reports whether a refid at this stratum is a text code rather than
// an address: stratum 0 (kiss codes), 1 (reference sources) and 16
// (unsynchronised, INIT/STEP).
func IsCode(stratum uint8) bool { return stratum <= 1 || stratum >= MaxStratum }

// Text renders the refid as its four-character code: trailing NULs dropped,
// unprintable characters, spaces and commas shown as '.', as ntpd's mode 6
// text does.
func (r RefID) Text() string {
	n := 4
	for n > 0 && r[n-1] == 0 {
		n--
	}
	b := make([]byte, n)
	for i := 0; i < n; i++ {
		c := r[i]
		if c <= ' ' || c >= 0x7f || c == ',' {
			c = '.'
		}
		b[i] = c
	}
	return string(b)
}

// Dotted renders the refid as a dotted quad.
func (r RefID) Dotted() string {
	b := make([]byte, 0, 15)
	for i, o := range r {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(o), 10)
	}
	return string(b)
}

// Render renders the refid for a packet of the given stratum: a code for
// strata 0, 1 and 16, a dotted quad otherwise.
func (r RefID) Render(stratum uint8) string {
	if IsCode(stratum) {
		return r.Text()
	}
	return r.Dotted()
}

// Kiss codes (RFC 5905 figure 13) carried in the refid of a kiss-o'-death
// packet (LI 3, stratum 0).
var (
	KissDeny   = RefIDFromString("DENY") // access denied: stop sending
	KissRstr   = RefIDFromString("RSTR") // access restricted: stop sending
	KissRate   = RefIDFromString("RATE") // rate exceeded: reduce polling
	KissInit   = RefIDFromString("INIT") // association initialised
	KissStep   = RefIDFromString("STEP") // step change in system time
	KissAuth   = RefIDFromString("AUTH") // authentication failed
	KissCrypto = RefIDFromString("CRYP")
)

// IsKissOfDeath reports whether a header is a kiss-o'-death packet.
func (h *Header) IsKissOfDeath() bool { return h.Stratum == StratumKiss && h.Leap == LeapAlarm }

// Refclock pseudo-addresses: 127.127.t.u names reference clock driver type t,
// unit u.

// IsRefclockAddr reports whether addr is a 127.127.t.u refclock pseudo-address.
func IsRefclockAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.Is4() {
		return false
	}
	a := addr.As4()
	return a[0] == 127 && a[1] == 127
}
