package mode6

import (
	"encoding/binary"
	"fmt"
)

// AssocStatus is one entry of a READSTAT response: an association id and
// its peer status word.
type AssocStatus struct {
	AssocID uint16
	Status  uint16
}

// AppendAssocList appends the READSTAT payload for list (4 octets per
// entry, in the order given; both reference daemons send descending
// association ids).
func AppendAssocList(dst []byte, list []AssocStatus) []byte {
	for _, a := range list {
		dst = append(dst, byte(a.AssocID>>8), byte(a.AssocID), byte(a.Status>>8), byte(a.Status))
	}
	return dst
}

// ParseAssocList decodes a READSTAT payload, in wire order. The length must
// be a multiple of 4 (ErrBadLength).
func ParseAssocList(data []byte) ([]AssocStatus, error) {
	if len(data)%4 != 0 {
		return nil, fmt.Errorf("%w: %d octets", ErrBadLength, len(data))
	}
	out := make([]AssocStatus, 0, len(data)/4)
	for i := 0; i+4 <= len(data); i += 4 {
		out = append(out, AssocStatus{
			AssocID: binary.BigEndian.Uint16(data[i:]),
			Status:  binary.BigEndian.Uint16(data[i+2:]),
		})
	}
	return out, nil
}
