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
// splitting at every 468 octets (see AppendFragmentRange). It panics if i
// is out of range (see NumFragments).
func AppendFragment(dst []byte, tmpl Header, data []byte, i int) []byte {
	n := NumFragments(len(data))
	if i < 0 || i >= n {
		panic("mode6: fragment index out of range")
	}
	off := min(i*MaxFragData, len(data))
	end := min(off+MaxFragData, len(data))
	return AppendFragmentRange(dst, tmpl, data[off:end], off, i < n-1)
}

// AppendFragmentRange appends one response datagram to dst carrying chunk
// (at most 468 octets) at offset off of the whole response, using tmpl for
// LI, VN, opcode, sequence, status and association id; R is set, E
// cleared, M = more. The datagram is zero-padded to a multiple of 4.
func AppendFragmentRange(dst []byte, tmpl Header, chunk []byte, off int, more bool) []byte {
	h := tmpl
	h.Mode = Mode
	h.Response = true
	h.Error = false
	h.More = more
	h.Offset = uint16(off)
	h.Count = uint16(len(chunk))
	dst = h.Append(dst)
	dst = append(dst, chunk...)
	for k := pad4(len(chunk)) - len(chunk); k > 0; k-- {
		dst = append(dst, 0)
	}
	return dst
}

// checkCuts validates fragment end offsets: ascending, each fragment
// 1..468 octets, the last one ending at len(data) within 468 octets.
func checkCuts(n int, cuts []uint16) error {
	if cuts == nil {
		if n > MaxResponse {
			return fmt.Errorf("%w: %d octets", ErrTooLarge, n)
		}
		return nil
	}
	if len(cuts) >= MaxFrags || n > 0xffff {
		return fmt.Errorf("%w: %d octets in %d fragments", ErrTooLarge, n, len(cuts)+1)
	}
	prev := 0
	for _, c := range cuts {
		if int(c) <= prev || int(c)-prev > MaxFragData || int(c) > n {
			return fmt.Errorf("mode6: bad fragment cut %d (previous %d, length %d)", c, prev, n)
		}
		prev = int(c)
	}
	if n-prev > MaxFragData {
		return fmt.Errorf("mode6: last fragment %d octets", n-prev)
	}
	return nil
}

func fragBounds(n int, cuts []uint16, i int) (off, end int, more bool) {
	if cuts == nil {
		k := NumFragments(n)
		off = min(i*MaxFragData, n)
		return off, min(off+MaxFragData, n), i < k-1
	}
	if i > 0 {
		off = int(cuts[i-1])
	}
	if i < len(cuts) {
		return off, int(cuts[i]), true
	}
	return off, n, false
}

func fragCount(n int, cuts []uint16) int {
	if cuts == nil {
		return NumFragments(n)
	}
	return len(cuts) + 1
}

// EachFragmentAt calls send with each datagram of the response in order,
// building every datagram in buf (grown if needed and reused, so send must
// not keep the slice). cuts are the text offsets where fragments end
// (VarEncoder.Cuts); nil splits at every 468 octets (binary data such as
// READSTAT). It returns the first error from send, ErrTooLarge when more
// than MaxFrags fragments are needed, or an error for inconsistent cuts.
func EachFragmentAt(buf []byte, tmpl Header, data []byte, cuts []uint16, send func(pkt []byte) error) error {
	if err := checkCuts(len(data), cuts); err != nil {
		return err
	}
	for i, k := 0, fragCount(len(data), cuts); i < k; i++ {
		off, end, more := fragBounds(len(data), cuts, i)
		buf = AppendFragmentRange(buf[:0], tmpl, data[off:end], off, more)
		if err := send(buf); err != nil {
			return err
		}
	}
	return nil
}

// EachFragment is EachFragmentAt with 468-octet splits.
func EachFragment(buf []byte, tmpl Header, data []byte, send func(pkt []byte) error) error {
	return EachFragmentAt(buf, tmpl, data, nil, send)
}

// FragmentAt returns the datagrams of a response (see EachFragmentAt),
// sharing one backing array.
func FragmentAt(tmpl Header, data []byte, cuts []uint16) ([][]byte, error) {
	if err := checkCuts(len(data), cuts); err != nil {
		return nil, err
	}
	k := fragCount(len(data), cuts)
	backing := make([]byte, 0, k*(HeaderLen+MaxFragData))
	out := make([][]byte, 0, k)
	for i := 0; i < k; i++ {
		off, end, more := fragBounds(len(data), cuts, i)
		start := len(backing)
		backing = AppendFragmentRange(backing, tmpl, data[off:end], off, more)
		out = append(out, backing[start:len(backing):len(backing)])
	}
	return out, nil
}

// Fragment splits a response into datagrams of exactly 468 data octets
// (the last one shorter), M set on all but the last, zero-padded to 4.
// For READVAR text use FragmentAt with VarEncoder.Cuts to split exactly
// where the reference daemons do.
func Fragment(tmpl Header, data []byte) ([][]byte, error) {
	return FragmentAt(tmpl, data, nil)
}
