package mode6

import "fmt"

// Verdict is what a server should do with a received datagram.
type Verdict uint8

const (
	// Accept: a well-formed request; answer it.
	Accept Verdict = iota
	// Drop: send nothing (too short, not mode 6, bad version, a response
	// or fragment, non-zero offset).
	Drop
	// Reject: answer with an error response carrying Decision.Code
	// (BADFMT for bad lengths).
	Reject
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Decision is the result of ValidateRequest.
type Decision struct {
	Verdict Verdict
	Code    ErrorCode // for Reject
	Reason  string    // short human-readable reason for Drop/Reject (for logs)
	// Request is the decoded request. For Reject only Header is valid;
	// for Drop it may be zero.
	Request Packet
}

// ValidateRequest applies the acceptance rules of the reference daemons to
// a received datagram (SPEC §1.2):
//   - shorter than 12 octets, mode != 6, VN outside 1..4: Drop;
//   - R, E or M bit set, or Offset != 0: Drop;
//   - length not a multiple of 4, or Count larger than the octets after the
//     header: Reject with BADFMT;
//   - anything else (any LI, trailing octets, an optional MAC): Accept.
//
// The opcode is not checked here (answer unknown opcodes with BADOP).
func ValidateRequest(b []byte) Decision {
	h, err := ParseHeader(b)
	if err != nil {
		return Decision{Verdict: Drop, Reason: "short packet"}
	}
	switch {
	case h.Mode != Mode:
		return Decision{Verdict: Drop, Reason: "not mode 6"}
	case h.Version < 1 || h.Version > 4:
		return Decision{Verdict: Drop, Reason: fmt.Sprintf("version %d", h.Version)}
	case h.Response || h.Error || h.More:
		return Decision{Verdict: Drop, Reason: "response/error/more bit set"}
	case h.Offset != 0:
		return Decision{Verdict: Drop, Reason: "non-zero offset"}
	}
	if len(b)%4 != 0 || int(h.Count) > len(b)-HeaderLen {
		return Decision{Verdict: Reject, Code: ErrCodeBadFmt, Reason: fmt.Sprintf("bad length %d (count %d)", len(b), h.Count),
			Request: Packet{Header: h}}
	}
	p, err := Parse(b)
	if err != nil { // cannot happen after the checks above; be safe
		return Decision{Verdict: Reject, Code: ErrCodeBadFmt, Reason: err.Error(), Request: Packet{Header: h}}
	}
	return Decision{Verdict: Accept, Request: p}
}

// ReplyHeader returns the header template of a response to req: VN,
// opcode, sequence and association id echoed, R set, LI = the system leap
// indicator, Status as given. Offset, Count and More are set by the
// fragmenter.
func ReplyHeader(req Header, sysLeap uint8, status uint16) Header {
	return Header{
		LI:       sysLeap & 3,
		Version:  req.Version,
		Mode:     Mode,
		Response: true,
		Op:       req.Op,
		Sequence: req.Sequence,
		Status:   status,
		AssocID:  req.AssocID,
	}
}

// AppendError appends an error response to req to dst: E and R set, error
// code in the high octet of the status word, Count 0.
func AppendError(dst []byte, req Header, sysLeap uint8, code ErrorCode) []byte {
	h := ReplyHeader(req, sysLeap, code.Status())
	h.Error = true
	return h.Append(dst)
}

// NumFragments is the number of datagrams a response of n data octets takes.
func NumFragments(n int) int {
	if n <= 0 {
		return 1
	}
	return (n + MaxFragData - 1) / MaxFragData
}

// AppendFragment appends fragment i (0-based) of the response data to dst,
// using tmpl for LI, VN, opcode, sequence, status and association id. The
// fragment holds data[i*468 : min((i+1)*468, len(data))], More is set on all
// but the last fragment, and the datagram is zero-padded to 4 octets.
// It panics if i is out of range (see NumFragments).
func AppendFragment(dst []byte, tmpl Header, data []byte, i int) []byte {
	n := NumFragments(len(data))
	if i < 0 || i >= n {
		panic("mode6: fragment index out of range")
	}
	off := i * MaxFragData
	end := min(off+MaxFragData, len(data))
	if off > end {
		off = end
	}
	h := tmpl
	h.Mode = Mode
	h.Response = true
	h.Error = false
	h.More = i < n-1
	h.Offset = uint16(off)
	h.Count = uint16(end - off)
	dst = h.Append(dst)
	dst = append(dst, data[off:end]...)
	for k := pad4(end-off) - (end - off); k > 0; k-- {
		dst = append(dst, 0)
	}
	return dst
}

// EachFragment calls send with each datagram of the response in order,
// building every datagram in buf (grown if needed, reused between calls,
// so send must not keep the slice). It returns the first error from send,
// or ErrTooLarge when the data needs more than MaxFrags fragments or does
// not fit the 16-bit offset field.
func EachFragment(buf []byte, tmpl Header, data []byte, send func(pkt []byte) error) error {
	if len(data) > MaxResponse {
		return fmt.Errorf("%w: %d octets", ErrTooLarge, len(data))
	}
	n := NumFragments(len(data))
	for i := 0; i < n; i++ {
		buf = AppendFragment(buf[:0], tmpl, data, i)
		if err := send(buf); err != nil {
			return err
		}
	}
	return nil
}

// Fragment splits a response into datagrams of at most 468 data octets
// (see AppendFragment); it allocates one backing array for all of them.
func Fragment(tmpl Header, data []byte) ([][]byte, error) {
	if len(data) > MaxResponse {
		return nil, fmt.Errorf("%w: %d octets", ErrTooLarge, len(data))
	}
	n := NumFragments(len(data))
	backing := make([]byte, 0, n*(HeaderLen+MaxFragData))
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		start := len(backing)
		backing = AppendFragment(backing, tmpl, data, i)
		out = append(out, backing[start:len(backing):len(backing)])
	}
	return out, nil
}
