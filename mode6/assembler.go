package mode6

import (
	"fmt"
	"sort"
)

// Assembler reassembles the fragments of one response on the client side.
// Create it with NewAssembler, or Reset a zero value (the zero value itself
// matches a request with opcode 0, sequence 0 and association 0).
// The caller owns the socket and the deadlines: it feeds every received
// datagram to Add until Add reports done, or gives up on timeout and calls
// Err for the reason (ErrIncomplete with the holes).
//
// Datagrams that are not a response to the request (wrong mode, R bit
// clear, other opcode, sequence or association id, unparseable) are
// ignored and counted in Ignored. Duplicate and overlapping fragments, and
// fragments inconsistent with the last fragment, are ignored too.
type Assembler struct {
	req     Header
	maxSize int

	buf      []byte
	frags    []span // accepted fragments, sorted by offset
	total    int    // sum of accepted counts
	haveLast bool
	end      int // end offset of the M=0 fragment
	first    Header
	haveHdr  bool
	done     bool
	err      error

	// Ignored counts datagrams dropped as stray, duplicate or overlapping.
	Ignored int
}

type span struct{ off, n int }

// NewAssembler prepares reassembly of the response to the request req
// (its Op, Sequence and AssocID are matched). maxSize caps the reassembled
// size; 0 means MaxResponse.
func NewAssembler(req Header, maxSize int) *Assembler {
	a := &Assembler{}
	a.Reset(req, maxSize)
	return a
}

// Reset reuses the Assembler for a new request, keeping its buffers.
func (a *Assembler) Reset(req Header, maxSize int) {
	if maxSize <= 0 {
		maxSize = MaxResponse
	}
	*a = Assembler{req: req, maxSize: maxSize, buf: a.buf[:0], frags: a.frags[:0]}
}

// AddBytes parses b and calls Add; unparseable datagrams are ignored.
func (a *Assembler) AddBytes(b []byte) (done bool, err error) {
	p, perr := Parse(b)
	if perr != nil {
		if a.done {
			return true, a.err
		}
		a.Ignored++
		return false, nil
	}
	return a.Add(p)
}

// Add feeds one received datagram. It returns done=true when the response is
// complete (err nil; Data holds it) or failed for good (err is a
// *ServerError, ErrTooMany or ErrTooLarge). done=false, err=nil means keep
// reading. The packet's data is copied.
func (a *Assembler) Add(p Packet) (done bool, err error) {
	if a.done {
		return true, a.err
	}
	h := p.Header
	if h.Mode != Mode || !h.Response || h.Op != a.req.Op || h.Sequence != a.req.Sequence || h.AssocID != a.req.AssocID {
		a.Ignored++
		return false, nil
	}
	if int(h.Count) != len(p.Data) {
		a.Ignored++ // hand-built Packet inconsistent with its header
		return false, nil
	}
	if h.Error {
		a.first, a.haveHdr = h, true
		return a.finish(&ServerError{Code: ErrorCode(h.Status >> 8), AssocID: a.req.AssocID})
	}
	off, n := int(h.Offset), int(h.Count)
	end := off + n
	limit := a.maxSize
	if limit <= 0 { // zero Assembler
		limit = MaxResponse
	}
	if end > limit {
		return a.finish(fmt.Errorf("%w: fragment ends at %d, limit %d", ErrTooLarge, end, limit))
	}
	if n == 0 && h.More {
		a.Ignored++ // an empty non-final fragment carries nothing
		return false, nil
	}
	if a.haveLast && (end > a.end || (!h.More && end != a.end)) {
		a.Ignored++ // inconsistent with the final fragment
		return false, nil
	}
	if !h.More && end < a.lastAccepted() {
		a.Ignored++ // final fragment ends before data already received
		return false, nil
	}
	// Find the insertion point and reject duplicates/overlaps.
	i := sort.Search(len(a.frags), func(k int) bool { return a.frags[k].off >= off })
	if i < len(a.frags) && (a.frags[i].off < end || (n == 0 && a.frags[i].off == off)) {
		a.Ignored++
		return false, nil
	}
	if i > 0 && a.frags[i-1].off+a.frags[i-1].n > off {
		a.Ignored++
		return false, nil
	}
	if i > 0 && n == 0 && a.frags[i-1].off == off {
		a.Ignored++
		return false, nil
	}
	if len(a.frags) >= MaxFrags {
		return a.finish(fmt.Errorf("%w: more than %d", ErrTooMany, MaxFrags))
	}
	a.frags = append(a.frags, span{})
	copy(a.frags[i+1:], a.frags[i:])
	a.frags[i] = span{off, n}
	if len(a.buf) < end {
		if cap(a.buf) >= end {
			a.buf = a.buf[:end]
		} else {
			nb := make([]byte, end, max(end, 2*cap(a.buf)))
			copy(nb, a.buf)
			a.buf = nb
		}
	}
	copy(a.buf[off:end], p.Data)
	a.total += n
	if !a.haveHdr || off == 0 {
		a.first, a.haveHdr = h, true
	}
	if !h.More {
		a.haveLast, a.end = true, end
	}
	if a.haveLast && a.total == a.end {
		return a.finish(nil)
	}
	return false, nil
}

func (a *Assembler) lastAccepted() int {
	if len(a.frags) == 0 {
		return 0
	}
	f := a.frags[len(a.frags)-1]
	return f.off + f.n
}

func (a *Assembler) finish(err error) (bool, error) {
	a.done, a.err = true, err
	return true, err
}

// Done reports whether the response is complete or failed for good.
func (a *Assembler) Done() bool { return a.done }

// Data returns the reassembled data once Add reported success; it aliases
// the Assembler's buffer (valid until Reset).
func (a *Assembler) Data() []byte {
	if !a.done || a.err != nil {
		return nil
	}
	return a.buf[:a.end]
}

// Header returns the header of the first fragment (offset 0), which holds
// the status word, and whether any matching response was received.
func (a *Assembler) Header() (Header, bool) { return a.first, a.haveHdr }

// Status is the status word of the response (system, peer or clock status
// depending on the request; the error code for error responses).
func (a *Assembler) Status() uint16 { return a.first.Status }

// Fragments is the number of accepted fragments.
func (a *Assembler) Fragments() int { return len(a.frags) }

// Err explains the state: nil when complete, the final error when failed,
// otherwise an ErrIncomplete error naming what is missing (for use after a
// timeout).
func (a *Assembler) Err() error {
	if a.done {
		return a.err
	}
	if len(a.frags) == 0 {
		return fmt.Errorf("%w: nothing received", ErrIncomplete)
	}
	if !a.haveLast {
		return fmt.Errorf("%w: last fragment missing (%d fragments, %d octets)", ErrIncomplete, len(a.frags), a.total)
	}
	pos := 0
	for _, f := range a.frags {
		if f.off > pos {
			return fmt.Errorf("%w: hole at octets %d-%d", ErrIncomplete, pos, f.off)
		}
		pos = f.off + f.n
	}
	return fmt.Errorf("%w: hole at octets %d-%d", ErrIncomplete, pos, a.end)
}
