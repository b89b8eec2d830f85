package mode6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Wire constants.
const (
	// HeaderLen is the size of the fixed mode 6 header.
	HeaderLen = 12
	// Mode is the NTP association mode of control messages.
	Mode = 6
	// MaxFragData is the largest number of data octets a server puts into
	// one response fragment (both reference daemons fill fragments to exactly
	// this size).
	MaxFragData = 468
	// MaxFrags is the largest number of fragments a client accepts for one
	// response (MAXFRAGS of both ntpq front ends).
	MaxFrags = 32
	// MaxResponse is the largest reassembled response a client accepts by
	// default (MaxFrags full fragments).
	MaxResponse = MaxFrags * MaxFragData
	// DefaultVersion is the version number ntpq and ntpstat put in requests.
	DefaultVersion = 2
)

// Bits of octet 1.
const (
	flagResponse = 0x80
	flagError    = 0x40
	flagMore     = 0x20
	opMask       = 0x1f
)

// Opcode is the 5-bit operation code of a control message.
type Opcode uint8

// Opcodes (ntp_control.h of the classic and NTPsec daemons).
const (
	OpUnspec       Opcode = 0
	OpReadStat     Opcode = 1
	OpReadVar      Opcode = 2
	OpWriteVar     Opcode = 3
	OpReadClock    Opcode = 4
	OpWriteClock   Opcode = 5
	OpSetTrap      Opcode = 6
	OpAsyncMsg     Opcode = 7
	OpConfigure    Opcode = 8
	OpSaveConfig   Opcode = 9
	OpReadMRU      Opcode = 10
	OpReadOrdlistA Opcode = 11
	OpReqNonce     Opcode = 12
	OpUnsetTrap    Opcode = 31
)

var opNames = map[Opcode]string{
	OpUnspec:       "UNSPEC",
	OpReadStat:     "READSTAT",
	OpReadVar:      "READVAR",
	OpWriteVar:     "WRITEVAR",
	OpReadClock:    "READCLOCK",
	OpWriteClock:   "WRITECLOCK",
	OpSetTrap:      "SETTRAP",
	OpAsyncMsg:     "ASYNCMSG",
	OpConfigure:    "CONFIGURE",
	OpSaveConfig:   "SAVECONFIG",
	OpReadMRU:      "READ_MRU",
	OpReadOrdlistA: "READ_ORDLIST_A",
	OpReqNonce:     "REQ_NONCE",
	OpUnsetTrap:    "UNSETTRAP",
}

// String returns the upper-case opcode name (READVAR) or OP_<n> when unknown.
func (o Opcode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return "OP_" + strconv.Itoa(int(o))
}

// Known reports whether o is one of the defined opcodes.
func (o Opcode) Known() bool { _, ok := opNames[o]; return ok }

// Header is the 12-octet mode 6 header. Mode is implied (always 6 on
// encode); Version is VN, LI the leap indicator.
type Header struct {
	LI       uint8 // 0..3
	Version  uint8 // 0..7
	Mode     uint8 // 0..7, filled by ParseHeader; Append always writes 6
	Response bool  // R bit
	Error    bool  // E bit
	More     bool  // M bit
	Op       Opcode
	Sequence uint16
	Status   uint16
	AssocID  uint16
	Offset   uint16
	Count    uint16
}

// Errors returned by the decoders.
var (
	ErrShort      = errors.New("mode6: packet shorter than header")
	ErrNotMode6   = errors.New("mode6: not a mode 6 packet")
	ErrCount      = errors.New("mode6: count exceeds packet length")
	ErrTooLarge   = errors.New("mode6: response too large")
	ErrIncomplete = errors.New("mode6: response incomplete")
	ErrTooMany    = errors.New("mode6: too many fragments")
	ErrBadLength  = errors.New("mode6: data length not a multiple of 4")
	ErrTooManyVar = errors.New("mode6: too many variables")
	ErrSyntax     = errors.New("mode6: invalid value syntax")
)

// ParseHeader decodes the first 12 octets of b. It checks only the length;
// the mode is reported in h.Mode and not validated.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w (%d octets)", ErrShort, len(b))
	}
	return Header{
		LI:       b[0] >> 6,
		Version:  (b[0] >> 3) & 7,
		Mode:     b[0] & 7,
		Response: b[1]&flagResponse != 0,
		Error:    b[1]&flagError != 0,
		More:     b[1]&flagMore != 0,
		Op:       Opcode(b[1] & opMask),
		Sequence: binary.BigEndian.Uint16(b[2:]),
		Status:   binary.BigEndian.Uint16(b[4:]),
		AssocID:  binary.BigEndian.Uint16(b[6:]),
		Offset:   binary.BigEndian.Uint16(b[8:]),
		Count:    binary.BigEndian.Uint16(b[10:]),
	}, nil
}

// Append appends the 12-octet encoding of h to dst (mode is always 6).
func (h Header) Append(dst []byte) []byte {
	b1 := byte(h.Op) & opMask
	if h.Response {
		b1 |= flagResponse
	}
	if h.Error {
		b1 |= flagError
	}
	if h.More {
		b1 |= flagMore
	}
	return append(dst,
		(h.LI&3)<<6|(h.Version&7)<<3|Mode, b1,
		byte(h.Sequence>>8), byte(h.Sequence),
		byte(h.Status>>8), byte(h.Status),
		byte(h.AssocID>>8), byte(h.AssocID),
		byte(h.Offset>>8), byte(h.Offset),
		byte(h.Count>>8), byte(h.Count))
}

// String is a one-line debug form similar to golden/pcaps-decoded.txt.
func (h Header) String() string {
	r, e, m := 0, 0, 0
	if h.Response {
		r = 1
	}
	if h.Error {
		e = 1
	}
	if h.More {
		m = 1
	}
	return fmt.Sprintf("LI=%d VN=%d M=%d R=%d E=%d M=%d op=%d %s seq=%d status=0x%04x assoc=%d offset=%d count=%d",
		h.LI, h.Version, h.Mode, r, e, m, int(h.Op), h.Op, h.Sequence, h.Status, h.AssocID, h.Offset, h.Count)
}

// ErrorCode is the error code a server puts in the high octet of the status
// word of an error response.
type ErrorCode uint8

// Error codes.
const (
	ErrCodeUnspec     ErrorCode = 0
	ErrCodePermission ErrorCode = 1
	ErrCodeBadFmt     ErrorCode = 2
	ErrCodeBadOp      ErrorCode = 3
	ErrCodeBadAssoc   ErrorCode = 4
	ErrCodeUnknownVar ErrorCode = 5
	ErrCodeBadValue   ErrorCode = 6
	ErrCodeRestrict   ErrorCode = 7
)

var errCodeNames = [...]string{"UNSPEC", "PERMISSION", "BADFMT", "BADOP", "BADASSOC", "UNKNOWNVAR", "BADVALUE", "RESTRICT"}

// String returns the NTPsec name (UNKNOWNVAR) or ERR_<n> when unknown.
func (c ErrorCode) String() string {
	if int(c) < len(errCodeNames) {
		return errCodeNames[c]
	}
	return "ERR_" + strconv.Itoa(int(c))
}

// Status returns the status word of an error response with this code.
func (c ErrorCode) Status() uint16 { return uint16(c) << 8 }

// ClassicMessage is the stderr line (without newline) ntpq-classic 4.2.8
// prints for this server error; assoc is the association id of the request
// (used by BADASSOC).
func (c ErrorCode) ClassicMessage(assoc uint16) string {
	switch c {
	case ErrCodeUnspec:
		return "***Server returned an unspecified error"
	case ErrCodePermission:
		return "***Server disallowed request (authentication?)"
	case ErrCodeBadFmt:
		return "***Server reports a bad format request packet"
	case ErrCodeBadOp:
		return "***Server reports a bad opcode in request"
	case ErrCodeBadAssoc:
		return "***Association ID " + strconv.Itoa(int(assoc)) + " unknown to server"
	case ErrCodeUnknownVar:
		return "***A request variable unknown to the server"
	case ErrCodeBadValue:
		return "***Server indicates a request variable was bad"
	}
	return "***Server returns unknown error code " + strconv.Itoa(int(c))
}

// SecMessage is the stderr line (without newline) ntpq-sec 1.2.2 prints for
// this server error: "***Server error code UNKNOWNVAR".
func (c ErrorCode) SecMessage() string {
	if int(c) < len(errCodeNames) {
		return "***Server error code " + errCodeNames[c]
	}
	return "***Server error code " + strconv.Itoa(int(c))
}

// ServerError is returned by the Assembler when the server answered with an
// error response (E bit set).
type ServerError struct {
	Code    ErrorCode
	AssocID uint16 // association id of the request
}

func (e *ServerError) Error() string {
	return "mode6: server error " + e.Code.String()
}
