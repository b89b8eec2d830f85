// Package oneshot is ntpdate's engine: poll several NTP servers a few times
// each, keep the minimum-delay sample per server, and pick the server to set
// the clock from, with the arithmetic and the selection rules of classic
// ntpdate 4.2.8 (SPEC §7.1) so that its output can be reproduced byte for
// byte. It never touches the clock; the caller decides what to do with the
// chosen offset.
//
// Use: Resolve each name, build a Server per address (NewServer), Poll them,
// then Select. Everything takes a context whose deadline bounds the run.
package oneshot

import (
	"net/netip"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// FilterSize is the number of filter registers (classic NTP_SHIFT); at most
// this many samples per server.
const FilterSize = 8

// Server is one address being polled and, after Poll and Select, the
// result for it. Fields mirror classic ntpdate's per-server state.
type Server struct {
	Name string         // host as given on the command line
	Addr netip.AddrPort // address polled

	// From the last reply that passed the basic checks.
	Leap      ntp.Leap
	Stratum   uint8 // as tools show it: 0 = no reply, wire 0 -> 16
	Precision int8
	RootDelay ntp.Short
	RootDisp  ntp.Short
	RefID     ntp.RefID
	RefTime   ntp.Timestamp
	Org       ntp.Timestamp // the server's transmit timestamp (T3)
	Xmt       ntp.Timestamp // our last transmit timestamp (T1)
	Trust     uint8         // shift register of authentication failures

	Xmits  int // requests sent
	NextPt int // filter registers filled (replies plus timeouts)

	FilterDelay   [FilterSize]SFP // 0 = timed out
	FilterOffset  [FilterSize]LFP
	FilterSOffset [FilterSize]SFP

	// Set by Select (clock filter).
	Delay      SFP // of the minimum-delay sample
	Dispersion UFP
	Offset     LFP
	SOffset    SFP

	Kiss   ntp.RefID // kiss code received (RATE, DENY, RSTR), zero if none
	Chosen bool      // picked by Select
	Reject string    // why Select did not pick it ("" for the chosen one)

	done bool
	next int64 // next event, in ns since poll start
}

// NewServer returns a server to poll.
func NewServer(name string, addr netip.AddrPort) *Server {
	return &Server{Name: name, Addr: netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())}
}

// Answered reports whether any reply was recorded (classic prints only
// these servers).
func (s *Server) Answered() bool { return s.Stratum != 0 }

// record shifts one sample into the filter (classic server_data).
func (s *Server) record(delay SFP, offset LFP) {
	if s.NextPt < FilterSize {
		s.FilterDelay[s.NextPt] = delay
		s.FilterOffset[s.NextPt] = offset
		s.FilterSOffset[s.NextPt] = offset.SFP()
		s.NextPt++
	}
}

// Constants of classic ntpdate, in SFP units.
const (
	maxSkew       SFP = 0x28f         // 0.01 s
	minDist       SFP = 0x51f         // 0.02 s
	maxDisp       SFP = 64 * FPSecond // PEER_MAXDISP
	maxWeight     SFP = 8 * FPSecond  // NTP_MAXWGT: largest usable delay
	threshold     SFP = FPSecond >> 1 // step when |offset| >= 0.5 s
	maxList           = 5             // NTP_MAXLIST
	maxStratum        = 15            // NTP_INFIN
	refMaxAge         = 86400         // NTP_MAXAGE, seconds
	precisionSelf     = -6            // NTPDATE_PRECISION
)

// NeedsStep reports whether the server's offset is large enough (0.5 s or
// more) for ntpdate to step rather than slew.
func (s *Server) NeedsStep() bool {
	abs := int64(s.SOffset)
	if abs < 0 {
		abs = -abs
	}
	return abs >= int64(threshold)
}

// shiftSecond returns FPSecond >> -prec (classic's precision term), with
// out-of-range shifts clamped.
func shiftSecond(prec int8) SFP {
	n := -int(prec)
	switch {
	case n <= 0:
		return FPSecond
	case n >= 31:
		return 0
	}
	return FPSecond >> n
}

// Sample computes the classic offset (l_fp) and delay (s_fp, including the
// precision and skew allowances and the 0.02 s floor) of a reply with
// receive timestamp t2, transmit timestamp t3, origin t1 and arrival t4.
func Sample(t1, t2, t3, t4 ntp.Timestamp, serverPrecision int8) (LFP, SFP) {
	t10 := int64(t3 - t4)
	t23 := int64(t2 - t1)
	ci := LFP(t10>>1 + t23>>1)
	di := int64(LFP(t23 - t10).SFP())
	di += int64(shiftSecond(precisionSelf)) + int64(shiftSecond(serverPrecision)) + int64(maxSkew)
	if di > 1<<31-1 {
		di = 1<<31 - 1
	}
	if di <= 0 {
		return 0, 0
	}
	return ci, max(SFP(di), minDist)
}
