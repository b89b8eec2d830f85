package mode6

import (
	"encoding/binary"
	"fmt"
)

// Packet is a decoded mode 6 datagram. Data and MAC alias the buffer given
// to Parse; copy them if the buffer is reused.
type Packet struct {
	Header
	Data []byte // Count octets of data
	// MAC is the authenticator (4-octet key id followed by a 16 or 20 octet
	// digest) when the datagram carries one, else nil. It is not verified.
	MAC []byte
	// Trailing is the number of octets after the data that are neither
	// padding to 4 nor a MAC (e.g. 564 for ntpstat's 576-octet request).
	Trailing int
}

// KeyID returns the key id of the MAC, or 0 when there is none.
func (p *Packet) KeyID() uint32 {
	if len(p.MAC) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(p.MAC)
}

func pad4(n int) int { return (n + 3) &^ 3 }
func pad8(n int) int { return (n + 7) &^ 7 }

// Parse decodes a mode 6 datagram: the header, Count octets of data, and an
// optional MAC (key id + 16 or 20 octets starting at the 8-aligned end of
// the data). Anything else after the data (padding, ntpstat's surplus
// zeros) is accepted and counted in Trailing. Errors: ErrShort, ErrNotMode6,
// ErrCount. It never panics.
func Parse(b []byte) (Packet, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Packet{}, err
	}
	if h.Mode != Mode {
		return Packet{}, fmt.Errorf("%w (mode %d)", ErrNotMode6, h.Mode)
	}
	end := HeaderLen + int(h.Count)
	if end > len(b) {
		return Packet{}, fmt.Errorf("%w (count %d, %d data octets)", ErrCount, h.Count, len(b)-HeaderLen)
	}
	p := Packet{Header: h, Data: b[HeaderLen:end:end]}
	rest := len(b) - end
	macAt := pad8(end)
	if n := len(b) - macAt; n == 4+16 || n == 4+20 {
		p.MAC = b[macAt:len(b):len(b)]
		rest = macAt - end
	}
	if rest > pad4(end)-end {
		p.Trailing = rest - (pad4(end) - end)
	}
	return p, nil
}

// AppendRequest appends a request datagram to dst: h with R/E/M cleared,
// Count = len(data), Offset 0, then data padded with NULs to a multiple of
// 4 octets. The leap and version fields are taken from h as given (ntpq
// classic sends LI 0, VN 2; ntpq-sec LI 3, VN 2). Data longer than 65535
// octets is truncated.
func AppendRequest(dst []byte, h Header, data []byte) []byte {
	if len(data) > 0xffff {
		data = data[:0xffff]
	}
	h.Response, h.Error, h.More = false, false, false
	h.Offset = 0
	h.Count = uint16(len(data))
	dst = h.Append(dst)
	dst = append(dst, data...)
	for n := pad4(len(data)) - len(data); n > 0; n-- {
		dst = append(dst, 0)
	}
	return dst
}

// MarshalRequest is AppendRequest into a new slice.
func MarshalRequest(h Header, data []byte) []byte {
	return AppendRequest(make([]byte, 0, HeaderLen+pad4(len(data))), h, data)
}

// NewRequest returns a request header the way ntpq-classic builds it (LI 0,
// VN 2).
func NewRequest(op Opcode, seq, assoc uint16) Header {
	return Header{Version: DefaultVersion, Op: op, Sequence: seq, AssocID: assoc}
}
