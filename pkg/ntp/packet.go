package ntp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the length of the fixed NTP header.
const HeaderLen = 48

// MAC lengths: a 4-octet key id followed by an MD5 (16) or SHA-1/AES-CMAC
// (20 or 16) digest. A lone key id of zero (4 octets) is a crypto-NAK.
const (
	macKeyIDLen = 4
	maxMACLen   = macKeyIDLen + 20
)

// Header is the fixed 48-octet part of an NTP packet.
type Header struct {
	Leap           Leap
	Version        uint8
	Mode           Mode
	Stratum        uint8
	Poll           int8
	Precision      int8
	RootDelay      Short
	RootDispersion Short
	RefID          RefID
	RefTime        Timestamp
	OrigTime       Timestamp
	RecvTime       Timestamp
	XmitTime       Timestamp
}

// ExtensionField is an RFC 7822 extension field, kept as raw bytes.
type ExtensionField struct {
	Type  uint16
	Value []byte // without the 4-octet type/length prefix, including padding
}

// MAC is the optional message authentication code trailer.
type MAC struct {
	KeyID  uint32
	Digest []byte // empty for a crypto-NAK
}

// Packet is a parsed NTP packet: header, extension fields and MAC. The
// slices alias the buffer given to Parse.
type Packet struct {
	Header
	Extensions []ExtensionField
	MAC        *MAC
}

// Errors returned by Parse.
var (
	ErrShort     = errors.New("ntp: packet shorter than 48 octets")
	ErrTrailer   = errors.New("ntp: malformed extension field or MAC")
	ErrBadLength = errors.New("ntp: packet length not a multiple of 4")
)

// MarshalTo writes the header into b, which must hold HeaderLen octets. It
// does not allocate, so the server's hot path can build replies in place.
func (h *Header) MarshalTo(b []byte) {
	_ = b[HeaderLen-1]
	b[0] = byte(h.Leap&3)<<6 | (h.Version&7)<<3 | byte(h.Mode&7)
	b[1] = h.Stratum
	b[2] = byte(h.Poll)
	b[3] = byte(h.Precision)
	binary.BigEndian.PutUint32(b[4:], uint32(h.RootDelay))
	binary.BigEndian.PutUint32(b[8:], uint32(h.RootDispersion))
	copy(b[12:16], h.RefID[:])
	binary.BigEndian.PutUint64(b[16:], uint64(h.RefTime))
	binary.BigEndian.PutUint64(b[24:], uint64(h.OrigTime))
	binary.BigEndian.PutUint64(b[32:], uint64(h.RecvTime))
	binary.BigEndian.PutUint64(b[40:], uint64(h.XmitTime))
}

// Marshal returns the header as a new 48-octet slice.
func (h *Header) Marshal() []byte {
	b := make([]byte, HeaderLen)
	h.MarshalTo(b)
	return b
}

// ParseHeader decodes the fixed header only; trailing octets are ignored.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, ErrShort
	}
	h.Leap = Leap(b[0] >> 6)
	h.Version = (b[0] >> 3) & 7
	h.Mode = Mode(b[0] & 7)
	h.Stratum = b[1]
	h.Poll = int8(b[2])
	h.Precision = int8(b[3])
	h.RootDelay = Short(binary.BigEndian.Uint32(b[4:]))
	h.RootDispersion = Short(binary.BigEndian.Uint32(b[8:]))
	copy(h.RefID[:], b[12:16])
	h.RefTime = Timestamp(binary.BigEndian.Uint64(b[16:]))
	h.OrigTime = Timestamp(binary.BigEndian.Uint64(b[24:]))
	h.RecvTime = Timestamp(binary.BigEndian.Uint64(b[32:]))
	h.XmitTime = Timestamp(binary.BigEndian.Uint64(b[40:]))
	return h, nil
}

// Parse decodes a whole packet. After the header come zero or more
// extension fields (RFC 7822) and an optional MAC. Following RFC 7822, a
// trailer of 4, 20 or 24 octets where no extension field fits is a MAC.
// Extension fields are at least 16 octets, a multiple of 4, and fit the
// packet; anything else is ErrTrailer. Parse never panics.
func Parse(b []byte) (Packet, error) {
	var p Packet
	h, err := ParseHeader(b)
	if err != nil {
		return p, err
	}
	p.Header = h
	rest := b[HeaderLen:]
	if len(rest)%4 != 0 {
		return p, ErrBadLength
	}
	for len(rest) > 0 {
		if isMACLen(len(rest)) {
			p.MAC = &MAC{KeyID: binary.BigEndian.Uint32(rest), Digest: rest[macKeyIDLen:]}
			return p, nil
		}
		if len(rest) < 16 {
			return p, fmt.Errorf("%w: %d trailing octets", ErrTrailer, len(rest))
		}
		typ := binary.BigEndian.Uint16(rest)
		n := int(binary.BigEndian.Uint16(rest[2:]))
		if n < 16 || n%4 != 0 || n > len(rest) {
			return p, fmt.Errorf("%w: extension field length %d", ErrTrailer, n)
		}
		p.Extensions = append(p.Extensions, ExtensionField{Type: typ, Value: rest[4:n]})
		rest = rest[n:]
	}
	return p, nil
}

func isMACLen(n int) bool { return n == macKeyIDLen || n == macKeyIDLen+16 || n == maxMACLen }

// Append encodes the whole packet (header, extension fields, MAC) onto b.
func (p *Packet) Append(b []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, HeaderLen)...)
	p.Header.MarshalTo(b[start:])
	for _, ef := range p.Extensions {
		n := 4 + len(ef.Value)
		pad := (4 - n%4) % 4
		if n+pad < 16 {
			pad = 16 - n
		}
		b = binary.BigEndian.AppendUint16(b, ef.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(n+pad))
		b = append(b, ef.Value...)
		b = append(b, make([]byte, pad)...)
	}
	if p.MAC != nil {
		b = binary.BigEndian.AppendUint32(b, p.MAC.KeyID)
		b = append(b, p.MAC.Digest...)
	}
	return b
}
