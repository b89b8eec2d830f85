package chrony

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Wire constants of the command and monitoring protocol, version 6.
const (
	// ProtocolVersion is the only cmdmon version this package speaks.
	ProtocolVersion = 6

	pktTypeRequest = 1
	pktTypeReply   = 2

	// RequestHeaderLen is the length of the request header: version, packet
	// type, two reserved octets, command, attempt, sequence and two
	// 32-bit pads.
	RequestHeaderLen = 20
	// ReplyHeaderLen is the length of the reply header: version, packet
	// type, two reserved octets, command, reply type, status, three 16-bit
	// pads, sequence and two 32-bit pads.
	ReplyHeaderLen = 28

	// MaxPacketLen bounds what the client reads and what the decoders accept.
	MaxPacketLen = 1024

	ipAddrLen   = 20 // 16 octets of address, family, pad
	timespecLen = 12 // seconds high, seconds low, nanoseconds
	noHighSec   = 0x7fffffff
)

// Command is a request code.
type Command uint16

// The request codes this package sends.
const (
	CmdNSources    Command = 14 // REQ_N_SOURCES
	CmdSourceData  Command = 15 // REQ_SOURCE_DATA
	CmdTracking    Command = 33 // REQ_TRACKING
	CmdSourceStats Command = 34 // REQ_SOURCESTATS
	CmdNTPData     Command = 57 // REQ_NTP_DATA
)

func (c Command) String() string {
	switch c {
	case CmdNSources:
		return "N_SOURCES"
	case CmdSourceData:
		return "SOURCE_DATA"
	case CmdTracking:
		return "TRACKING"
	case CmdSourceStats:
		return "SOURCESTATS"
	case CmdNTPData:
		return "NTP_DATA"
	}
	return fmt.Sprintf("command %d", uint16(c))
}

// ReplyType identifies the layout of a reply's data.
type ReplyType uint16

// Reply types this package decodes.
const (
	RpyNull        ReplyType = 1  // RPY_NULL (errors carry no data)
	RpyNSources    ReplyType = 2  // RPY_N_SOURCES
	RpySourceData  ReplyType = 3  // RPY_SOURCE_DATA
	RpyTracking    ReplyType = 5  // RPY_TRACKING
	RpySourceStats ReplyType = 6  // RPY_SOURCESTATS
	RpyNTPData     ReplyType = 16 // RPY_NTP_DATA
	RpyNTPData2    ReplyType = 26 // RPY_NTP_DATA2 (newer chronyd, same prefix)
)

// Data lengths (after the reply header) of each reply type.
const (
	nSourcesLen    = 4
	sourceDataLen  = ipAddrLen + 6*2 + 4 + 3*4                 // 48
	trackingLen    = 4 + ipAddrLen + 2 + 2 + timespecLen + 9*4 // 76
	sourceStatsLen = 4 + ipAddrLen + 3*4 + 5*4                 // 56
	// ntpDataMinLen is the part of NTP_DATA this package decodes (up to
	// the total good count); it is common to both reply layouts.
	ntpDataMinLen = 2*ipAddrLen + 2 + 6 + 2*4 + 4 + timespecLen + 5*4 + 4 + 4*4 // 112
	// ntpDataLen is RPY_NTP_DATA as chrony 4.3 sends it (three reserved
	// words follow the counters); requests for it are 152 octets.
	ntpDataLen = ntpDataMinLen + 3*4 // 124
	// ntpData2Len is RPY_NTP_DATA2 of newer chronyd (four more timestamp
	// counters and four reserved words). Requests for NTP data are padded
	// to this longer reply, which chronyd 4.3 accepts too (it only
	// refuses requests that are too short).
	ntpData2Len = ntpDataMinLen + 4*4 + 4*4 // 144
)

// Status is the status code of a reply.
type Status uint16

// Status codes.
const (
	StatusSuccess       Status = 0
	StatusFailed        Status = 1
	StatusUnauth        Status = 2
	StatusInvalid       Status = 3
	StatusNoSuchSource  Status = 4
	StatusInvalidTS     Status = 5
	StatusNotEnabled    Status = 6
	StatusBadSubnet     Status = 7
	StatusAccessAllowed Status = 8
	StatusAccessDenied  Status = 9
	StatusNoHostAccess  Status = 10
	StatusSourceKnown   Status = 11
	StatusTooManySrcs   Status = 12
	StatusNoRTC         Status = 13
	StatusBadRTCFile    Status = 14
	StatusInactive      Status = 15
	StatusBadSample     Status = 16
	StatusInvalidAF     Status = 17
	StatusBadPktVersion Status = 18
	StatusBadPktLength  Status = 19
	StatusInvalidName   Status = 21
)

var statusText = map[Status]string{
	StatusSuccess:       "success",
	StatusFailed:        "failed",
	StatusUnauth:        "not authorised",
	StatusInvalid:       "invalid command",
	StatusNoSuchSource:  "no such source",
	StatusInvalidTS:     "invalid timestamp",
	StatusNotEnabled:    "facility not enabled",
	StatusBadSubnet:     "bad subnet",
	StatusAccessAllowed: "access allowed",
	StatusAccessDenied:  "access denied",
	StatusNoHostAccess:  "no host access",
	StatusSourceKnown:   "source already known",
	StatusTooManySrcs:   "too many sources",
	StatusNoRTC:         "no RTC driver",
	StatusBadRTCFile:    "bad RTC file",
	StatusInactive:      "inactive",
	StatusBadSample:     "bad sample",
	StatusInvalidAF:     "invalid address family",
	StatusBadPktVersion: "protocol version mismatch",
	StatusBadPktLength:  "bad packet length",
	StatusInvalidName:   "invalid name",
}

func (s Status) String() string {
	if t, ok := statusText[s]; ok {
		return t
	}
	return fmt.Sprintf("status %d", uint16(s))
}

// StatusError is returned when chronyd answers a request with a status other
// than success.
type StatusError struct {
	Command Command
	Status  Status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("chronyd: %v: %v", e.Command, e.Status)
}

// ErrNoSuchSource matches (with errors.Is) a StatusError carrying
// StatusNoSuchSource.
var ErrNoSuchSource = errors.New("chronyd: no such source")

// Is lets errors.Is(err, ErrNoSuchSource) work.
func (e *StatusError) Is(target error) bool {
	return target == ErrNoSuchSource && e.Status == StatusNoSuchSource
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed chronyd reply")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ---- the chrony float --------------------------------------------------

// Float format: a 32-bit big-endian word holding a 7-bit signed exponent in
// the top bits and a 25-bit signed coefficient (no hidden bit) below it.
// The value is coef * 2^(exp-25).
const (
	floatExpBits  = 7
	floatCoefBits = 32 - floatExpBits
	floatExpMin   = -(1 << (floatExpBits - 1))
	floatExpMax   = 1<<(floatExpBits-1) - 1
	floatCoefMin  = -(1 << (floatCoefBits - 1))
	floatCoefMax  = 1<<(floatCoefBits-1) - 1
)

// DecodeFloat converts a chrony wire float to a float64.
func DecodeFloat(w uint32) float64 {
	exp := int32(w) >> floatCoefBits               // arithmetic shift keeps the sign
	coef := int32(w<<floatExpBits) >> floatExpBits // sign-extend 25 bits
	return math.Ldexp(float64(coef), int(exp)-floatCoefBits)
}

// EncodeFloat converts x to the chrony wire float, keeping as many
// coefficient bits as fit. Values too large saturate; NaN encodes as zero.
func EncodeFloat(x float64) uint32 {
	if x == 0 || math.IsNaN(x) {
		return 0
	}
	if math.IsInf(x, 0) {
		x = math.Copysign(math.MaxFloat64, x)
	}
	// x = frac * 2^e with 0.5 <= |frac| < 1; a coefficient of 24 magnitude
	// bits puts the value at coef * 2^(e-24), i.e. exp = e - 24 + 25 = e + 1.
	_, e := math.Frexp(x)
	exp := e + 1
	if exp > floatExpMax {
		exp = floatExpMax
	}
	if exp < floatExpMin {
		exp = floatExpMin
	}
	c := math.Round(math.Ldexp(x, floatCoefBits-exp))
	if c > floatCoefMax || c < floatCoefMin {
		// rounding carried into the 25th bit, or the value saturates
		if exp < floatExpMax {
			exp++
			c = math.Round(math.Ldexp(x, floatCoefBits-exp))
		}
		c = math.Max(floatCoefMin, math.Min(floatCoefMax, c))
	}
	return uint32(int32(exp))<<floatCoefBits | uint32(int32(c))&(1<<floatCoefBits-1)
}

// ---- addresses and timestamps -------------------------------------------

// Address family codes in the IPAddr structure.
const (
	famUnspec = 0
	famInet4  = 1
	famInet6  = 2
	famID     = 3 // an unresolved source, identified by a number
)

// Address is an address as chronyd reports it: an IP address, nothing, or
// the numeric id of a source whose name is not resolved yet.
type Address struct {
	IP netip.Addr // valid for IPv4 and IPv6
	// ID is set for unresolved sources (IP invalid); chronyc shows them as
	// ID#0000000001.
	ID uint32
	// Unresolved marks an ID address.
	Unresolved bool
}

// String renders the address as chronyc -n does; an empty address is "".
func (a Address) String() string {
	switch {
	case a.IP.IsValid():
		return a.IP.String()
	case a.Unresolved:
		return fmt.Sprintf("ID#%010d", a.ID)
	}
	return ""
}

func decodeAddress(b []byte) (Address, uint32, error) {
	fam := binary.BigEndian.Uint16(b[16:])
	in4 := binary.BigEndian.Uint32(b[0:])
	switch fam {
	case famUnspec:
		return Address{}, in4, nil
	case famInet4:
		return Address{IP: netip.AddrFrom4([4]byte(b[0:4]))}, in4, nil
	case famInet6:
		return Address{IP: netip.AddrFrom16([16]byte(b[0:16]))}, in4, nil
	case famID:
		return Address{ID: in4, Unresolved: true}, in4, nil
	}
	return Address{}, in4, malformed("unknown address family %d", fam)
}

// EncodeAddress writes ip in chrony's 20-octet IPAddr layout (an invalid
// ip encodes as the unspecified family).
func EncodeAddress(b []byte, ip netip.Addr) {
	clear(b[:ipAddrLen])
	ip = ip.Unmap()
	switch {
	case ip.Is4():
		a := ip.As4()
		copy(b, a[:])
		binary.BigEndian.PutUint16(b[16:], famInet4)
	case ip.Is6():
		a := ip.As16()
		copy(b, a[:])
		binary.BigEndian.PutUint16(b[16:], famInet6)
	}
}

// decodeTimespec reads chrony's timespec: high and low 32 bits of the
// seconds since the Unix epoch (high = 0x7fffffff: a 32-bit value) and
// nanoseconds. The zero timespec decodes to the zero time.Time.
func decodeTimespec(b []byte) (time.Time, error) {
	hi := binary.BigEndian.Uint32(b[0:])
	lo := binary.BigEndian.Uint32(b[4:])
	ns := binary.BigEndian.Uint32(b[8:])
	if ns >= 1e9 {
		return time.Time{}, malformed("timespec nanoseconds %d", ns)
	}
	sec := int64(lo)
	if hi != noHighSec {
		sec |= int64(hi) << 32
		if hi >= 1<<31 { // negative or absurd; keep it representable
			return time.Time{}, malformed("timespec seconds high word %#x", hi)
		}
	}
	if sec == 0 && ns == 0 {
		return time.Time{}, nil
	}
	return time.Unix(sec, int64(ns)).UTC(), nil
}

// EncodeTimespec writes t in chrony's 12-octet timespec layout (the zero
// time encodes as zeros).
func EncodeTimespec(b []byte, t time.Time) {
	if t.IsZero() {
		clear(b[:timespecLen])
		return
	}
	sec := t.Unix()
	binary.BigEndian.PutUint32(b[0:], uint32(uint64(sec)>>32))
	binary.BigEndian.PutUint32(b[4:], uint32(sec))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}
