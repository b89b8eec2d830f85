package chrony

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// ---- requests -----------------------------------------------------------

// Request is one cmdmon request.
type Request struct {
	Command  Command
	Attempt  uint16 // resend count for the same sequence number
	Sequence uint32
	// Index selects the source for CmdSourceData and CmdSourceStats
	// (0 .. n_sources-1, in the order chronyd lists them).
	Index uint32
	// Addr selects the NTP source for CmdNTPData.
	Addr netip.Addr
}

// requestLayout gives, per command, the length of the request data and the
// length of the whole reply. chronyd (protocol 6) drops or refuses requests
// shorter than the reply they ask for, so that it can never be used to
// amplify traffic: the request is zero-padded up to the reply length.
func requestLayout(c Command) (dataLen, replyLen int, ok bool) {
	switch c {
	case CmdNSources:
		return 0, ReplyHeaderLen + nSourcesLen, true
	case CmdTracking:
		return 0, ReplyHeaderLen + trackingLen, true
	case CmdSourceData:
		return 4, ReplyHeaderLen + sourceDataLen, true
	case CmdSourceStats:
		return 4, ReplyHeaderLen + sourceStatsLen, true
	case CmdNTPData:
		return ipAddrLen, ReplyHeaderLen + ntpData2Len, true
	}
	return 0, 0, false
}

// RequestLen is the padded length of a request for command c (0 for a
// command this package does not know).
func RequestLen(c Command) int {
	d, r, ok := requestLayout(c)
	if !ok {
		return 0
	}
	return max(RequestHeaderLen+d, r)
}

// Marshal encodes the request, padded to the length of its reply.
func (r Request) Marshal() ([]byte, error) {
	dataLen, _, ok := requestLayout(r.Command)
	if !ok {
		return nil, fmt.Errorf("chrony: cannot encode %v", r.Command)
	}
	b := make([]byte, RequestLen(r.Command))
	b[0] = ProtocolVersion
	b[1] = pktTypeRequest
	binary.BigEndian.PutUint16(b[4:], uint16(r.Command))
	binary.BigEndian.PutUint16(b[6:], r.Attempt)
	binary.BigEndian.PutUint32(b[8:], r.Sequence)
	d := b[RequestHeaderLen : RequestHeaderLen+dataLen]
	switch r.Command {
	case CmdSourceData, CmdSourceStats:
		binary.BigEndian.PutUint32(d, r.Index)
	case CmdNTPData:
		if !r.Addr.IsValid() {
			return nil, fmt.Errorf("chrony: %v needs an address", r.Command)
		}
		EncodeAddress(d, r.Addr)
	}
	return b, nil
}

// ParseRequest decodes a request (the counterpart of Marshal, for fake
// servers and tests). It checks the header and that the command's data is
// present; whether the padding is long enough is the server's policy
// (compare with RequestLen).
func ParseRequest(b []byte) (Request, error) {
	if len(b) < RequestHeaderLen {
		return Request{}, fmt.Errorf("chrony: request of %d octets is shorter than its header", len(b))
	}
	if b[0] != ProtocolVersion || b[1] != pktTypeRequest {
		return Request{}, fmt.Errorf("chrony: not a version %d request (version %d, type %d)", ProtocolVersion, b[0], b[1])
	}
	r := Request{
		Command:  Command(binary.BigEndian.Uint16(b[4:])),
		Attempt:  binary.BigEndian.Uint16(b[6:]),
		Sequence: binary.BigEndian.Uint32(b[8:]),
	}
	dataLen, _, ok := requestLayout(r.Command)
	if !ok {
		return r, fmt.Errorf("chrony: unsupported %v", r.Command)
	}
	if len(b) < RequestHeaderLen+dataLen {
		return r, fmt.Errorf("chrony: %v request of %d octets, want at least %d", r.Command, len(b), RequestHeaderLen+dataLen)
	}
	d := b[RequestHeaderLen:]
	switch r.Command {
	case CmdSourceData, CmdSourceStats:
		r.Index = binary.BigEndian.Uint32(d)
	case CmdNTPData:
		a, _, err := decodeAddress(d)
		if err != nil {
			return r, err
		}
		if !a.IP.IsValid() {
			return r, fmt.Errorf("chrony: %v request without an IP address", r.Command)
		}
		r.Addr = a.IP
	}
	return r, nil
}

// ---- reply header ---------------------------------------------------------

// ReplyHeader is the fixed part of every reply.
type ReplyHeader struct {
	Version  uint8
	Command  Command   // echo of the request's command
	Reply    ReplyType // layout of the data that follows
	Status   Status
	Sequence uint32 // echo of the request's sequence number
}

// ParseReplyHeader decodes and checks the reply header: protocol version 6,
// packet type reply, reserved octets zero.
func ParseReplyHeader(b []byte) (ReplyHeader, error) {
	if len(b) < ReplyHeaderLen {
		return ReplyHeader{}, malformed("%d octets, shorter than the %d-octet header", len(b), ReplyHeaderLen)
	}
	if len(b) > MaxPacketLen {
		return ReplyHeader{}, malformed("%d octets, longer than %d", len(b), MaxPacketLen)
	}
	h := ReplyHeader{
		Version:  b[0],
		Command:  Command(binary.BigEndian.Uint16(b[4:])),
		Reply:    ReplyType(binary.BigEndian.Uint16(b[6:])),
		Status:   Status(binary.BigEndian.Uint16(b[8:])),
		Sequence: binary.BigEndian.Uint32(b[16:]),
	}
	if b[1] != pktTypeReply {
		return h, malformed("packet type %d, not a reply", b[1])
	}
	if h.Version != ProtocolVersion {
		return h, malformed("protocol version %d, want %d", h.Version, ProtocolVersion)
	}
	return h, nil
}

// replyData checks a reply to cmd and returns its data part, which holds
// at least n octets of one of the wanted reply types. A non-success status
// becomes a *StatusError.
func replyData(b []byte, cmd Command, n int, want ...ReplyType) (ReplyHeader, []byte, error) {
	h, err := ParseReplyHeader(b)
	if err != nil {
		return h, nil, err
	}
	if h.Command != cmd {
		return h, nil, malformed("reply to %v, want %v", h.Command, cmd)
	}
	if h.Status != StatusSuccess {
		return h, nil, &StatusError{Command: cmd, Status: h.Status}
	}
	ok := false
	for _, w := range want {
		ok = ok || h.Reply == w
	}
	if !ok {
		return h, nil, malformed("%v answered with reply type %d", cmd, h.Reply)
	}
	d := b[ReplyHeaderLen:]
	if len(d) < n {
		return h, nil, malformed("%v reply data of %d octets, want %d", cmd, len(d), n)
	}
	return h, d, nil
}

func be16(b []byte, off int) uint16     { return binary.BigEndian.Uint16(b[off:]) }
func be32(b []byte, off int) uint32     { return binary.BigEndian.Uint32(b[off:]) }
func flt(b []byte, off int) float64     { return DecodeFloat(be32(b, off)) }
func refID(b []byte, off int) ntp.RefID { return ntp.RefID(b[off : off+4]) }

// ---- N_SOURCES ------------------------------------------------------------

// DecodeNSources decodes the reply to CmdNSources: the number of sources.
func DecodeNSources(pkt []byte) (int, error) {
	_, d, err := replyData(pkt, CmdNSources, nSourcesLen, RpyNSources)
	if err != nil {
		return 0, err
	}
	n := be32(d, 0)
	if n > MaxSources {
		return 0, malformed("%d sources, more than %d", n, MaxSources)
	}
	return int(n), nil
}

// MaxSources bounds the number of sources the client asks about.
const MaxSources = 1024

// ---- TRACKING -------------------------------------------------------------

// Tracking is chronyd's view of the system clock (chronyc tracking).
type Tracking struct {
	// RefID is the reference id chronyd puts in its own NTP replies: the
	// IPv4 address of the selected server, a hash for IPv6, the refclock's
	// refid, 0x7F7F0101 (127.127.1.1) for "local", or 0 when unsynchronised.
	RefID ntp.RefID
	// RefAddr is the address of the selected NTP source (unspecified for
	// a refclock, local reference or no reference).
	RefAddr Address
	Stratum int
	Leap    ntp.Leap  // 3 (LeapAlarm): not synchronised
	RefTime time.Time // time of the last clock update (zero if never)
	// CurrentCorrection is how far the system clock is behind true time
	// in seconds (chronyc: "System time: x seconds slow of NTP time" for
	// positive values, "fast" for negative; verified live).
	CurrentCorrection float64
	LastOffset        float64 // seconds, of the last clock update
	RMSOffset         float64 // seconds, long-term average offset
	// FreqPPM is the rate at which the system clock would drift without
	// correction: negative means slow (chronyc: "x ppm slow"), positive
	// fast. Verified against chronyc's text output.
	FreqPPM        float64
	ResidFreqPPM   float64
	SkewPPM        float64
	RootDelay      float64 // seconds
	RootDispersion float64 // seconds
	UpdateInterval float64 // seconds between the last two clock updates
}

// LocalRefID is the refid chronyd reports when it serves its own clock
// (the "local" directive): 127.127.1.1.
var LocalRefID = ntp.RefID{127, 127, 1, 1}

// DecodeTracking decodes the reply to CmdTracking.
func DecodeTracking(pkt []byte) (Tracking, error) {
	_, d, err := replyData(pkt, CmdTracking, trackingLen, RpyTracking)
	if err != nil {
		return Tracking{}, err
	}
	var t Tracking
	t.RefID = refID(d, 0)
	if t.RefAddr, _, err = decodeAddress(d[4:]); err != nil {
		return Tracking{}, err
	}
	o := 4 + ipAddrLen
	t.Stratum = int(be16(d, o))
	leap := be16(d, o+2)
	if leap > 3 {
		return Tracking{}, malformed("leap status %d", leap)
	}
	t.Leap = ntp.Leap(leap)
	if t.RefTime, err = decodeTimespec(d[o+4:]); err != nil {
		return Tracking{}, err
	}
	o += 4 + timespecLen
	for i, p := range []*float64{&t.CurrentCorrection, &t.LastOffset, &t.RMSOffset,
		&t.FreqPPM, &t.ResidFreqPPM, &t.SkewPPM, &t.RootDelay, &t.RootDispersion, &t.UpdateInterval} {
		*p = flt(d, o+4*i)
	}
	return t, nil
}

// Synchronised reports whether chronyd considers the clock synchronised
// (its leap status is not "Not synchronised").
func (t Tracking) Synchronised() bool { return t.Leap != ntp.LeapAlarm }

// RefName is the name chronyc -n prints after the reference id: the
// source's address, or for refclocks and the local reference the refid
// as text (chronyc prints "()" for the local reference; this returns "").
func (t Tracking) RefName() string {
	if s := t.RefAddr.String(); s != "" {
		return s
	}
	if t.RefID == LocalRefID || t.RefID.IsZero() {
		return ""
	}
	return t.RefID.Text()
}

// ---- SOURCE_DATA ----------------------------------------------------------

// SourceMode is how chronyd talks to a source.
type SourceMode uint16

// Source modes; the comment gives the chronyc sources column M.
const (
	ModeClient   SourceMode = 0 // '^' an NTP server
	ModePeer     SourceMode = 1 // '=' a symmetric peer
	ModeRefclock SourceMode = 2 // '#' a local reference clock
)

// Char is the chronyc sources "M" column.
func (m SourceMode) Char() byte {
	switch m {
	case ModeClient:
		return '^'
	case ModePeer:
		return '='
	case ModeRefclock:
		return '#'
	}
	return ' '
}

func (m SourceMode) String() string {
	switch m {
	case ModeClient:
		return "server"
	case ModePeer:
		return "peer"
	case ModeRefclock:
		return "refclock"
	}
	return fmt.Sprintf("mode %d", uint16(m))
}

// SourceState is the result of chronyd's source selection for one source.
type SourceState uint16

// Source states; the comment gives the chronyc sources column S. The
// protocol names (RPY_SD_ST_*) are in brackets: note that "unselected"
// means combined and "selectable" means not combined.
const (
	StateSelected      SourceState = 0 // '*' synchronised to this source [SELECTED]
	StateNonselectable SourceState = 1 // '?' unusable: unreachable, too few samples... [NONSELECTABLE]
	StateFalseticker   SourceState = 2 // 'x' disagrees with the majority [FALSETICKER]
	StateJittery       SourceState = 3 // '~' too variable [JITTERY]
	StateCombined      SourceState = 4 // '+' combined with the selected source [UNSELECTED]
	StateNotCombined   SourceState = 5 // '-' acceptable, not combined [SELECTABLE]
)

// Char is the chronyc sources "S" column.
func (s SourceState) Char() byte {
	switch s {
	case StateSelected:
		return '*'
	case StateNonselectable:
		return '?'
	case StateFalseticker:
		return 'x'
	case StateJittery:
		return '~'
	case StateCombined:
		return '+'
	case StateNotCombined:
		return '-'
	}
	return ' '
}

func (s SourceState) String() string {
	switch s {
	case StateSelected:
		return "selected"
	case StateNonselectable:
		return "unusable"
	case StateFalseticker:
		return "falseticker"
	case StateJittery:
		return "jittery"
	case StateCombined:
		return "combined"
	case StateNotCombined:
		return "not combined"
	}
	return fmt.Sprintf("state %d", uint16(s))
}

// NeverSampled is the LastRx value of a source with no sample yet.
const NeverSampled = ^uint32(0)

// Source is one line of chronyc sources.
type Source struct {
	// Addr is the NTP source's address (an ID for unresolved names);
	// empty for refclocks.
	Addr Address
	// RefID is the refclock's refid (e.g. "GPS0", "PPS"); zero for NTP
	// sources.
	RefID   ntp.RefID
	Mode    SourceMode
	State   SourceState
	Flags   uint16 // selection options, as sent by chronyd
	Poll    int    // log2 seconds; may be negative
	Stratum int
	// Reach is the 8-bit reachability shift register, newest poll in the
	// lowest bit; shown in octal, exactly as ntpq's reach column.
	Reach uint8
	// LastRx is the number of seconds since the last good sample, or
	// NeverSampled.
	LastRx uint32
	// Offset is the last sample's offset in seconds, adjusted for clock
	// corrections made since; chrony's sign: positive means the local
	// clock is ahead of the source (ntpq's offset is the negative).
	Offset float64
	// OrigOffset is the offset as measured (chronyc's [bracketed] value).
	OrigOffset float64
	// Error is the estimated error bound of the sample in seconds
	// (chronyc's "+/-" value).
	Error float64
}

// Name is the source as chronyc -n names it: the address, or the refid
// of a refclock.
func (s Source) Name() string {
	if s.Mode == ModeRefclock {
		return s.RefID.Text()
	}
	return s.Addr.String()
}

// DecodeSourceData decodes the reply to CmdSourceData.
func DecodeSourceData(pkt []byte) (Source, error) {
	_, d, err := replyData(pkt, CmdSourceData, sourceDataLen, RpySourceData)
	if err != nil {
		return Source{}, err
	}
	var s Source
	addr, in4, err := decodeAddress(d)
	if err != nil {
		return Source{}, err
	}
	o := ipAddrLen
	s.Poll = int(int16(be16(d, o)))
	s.Stratum = int(be16(d, o+2))
	s.State = SourceState(be16(d, o+4))
	s.Mode = SourceMode(be16(d, o+6))
	s.Flags = be16(d, o+8)
	reach := be16(d, o+10)
	if reach > 0xff {
		return Source{}, malformed("reachability %#o wider than 8 bits", reach)
	}
	s.Reach = uint8(reach)
	s.LastRx = be32(d, o+12)
	s.OrigOffset = flt(d, o+16)
	s.Offset = flt(d, o+20)
	s.Error = flt(d, o+24)
	if s.Mode == ModeRefclock {
		// chronyd carries a refclock's refid in the IPv4 address field.
		binary.BigEndian.PutUint32(s.RefID[:], in4)
	} else {
		s.Addr = addr
	}
	return s, nil
}

// ---- SOURCESTATS ----------------------------------------------------------

// SourceStats is one line of chronyc sourcestats: the regression over a
// source's recent samples.
type SourceStats struct {
	RefID        ntp.RefID // the source's refid (chronyd's id for NTP sources)
	Addr         Address   // unspecified for refclocks
	Samples      int       // NP: samples kept
	Runs         int       // NR: runs of residuals with the same sign
	Span         uint32    // seconds between the oldest and newest sample
	StdDev       float64   // seconds: estimated sample standard deviation
	ResidFreqPPM float64
	SkewPPM      float64
	Offset       float64 // seconds: estimated offset (chrony's sign)
	OffsetErr    float64 // seconds
}

// DecodeSourceStats decodes the reply to CmdSourceStats.
func DecodeSourceStats(pkt []byte) (SourceStats, error) {
	_, d, err := replyData(pkt, CmdSourceStats, sourceStatsLen, RpySourceStats)
	if err != nil {
		return SourceStats{}, err
	}
	var s SourceStats
	s.RefID = refID(d, 0)
	if s.Addr, _, err = decodeAddress(d[4:]); err != nil {
		return SourceStats{}, err
	}
	o := 4 + ipAddrLen
	s.Samples = int(be32(d, o))
	s.Runs = int(be32(d, o+4))
	s.Span = be32(d, o+8)
	s.StdDev = flt(d, o+12)
	s.ResidFreqPPM = flt(d, o+16)
	s.SkewPPM = flt(d, o+20)
	s.Offset = flt(d, o+24)
	s.OffsetErr = flt(d, o+28)
	return s, nil
}

// ---- NTP_DATA ---------------------------------------------------------------

// NTPData is the NTP-level detail of one NTP source (chronyc ntpdata): the
// fields of its last reply and of the last measurement.
type NTPData struct {
	RemoteAddr netip.Addr
	LocalAddr  netip.Addr
	RemotePort uint16
	Leap       ntp.Leap
	Version    int
	Mode       ntp.Mode
	Stratum    int // as the server sent it (0 for unsynchronised/KoD)
	Poll       int // log2 seconds
	Precision  int // log2 seconds
	// RootDelay and RootDispersion are the server's, in seconds.
	RootDelay      float64
	RootDispersion float64
	RefID          ntp.RefID // the server's refid: ntpq's refid column
	RefTime        time.Time
	// Offset is the last measured offset in seconds with NTP's sign
	// (remote minus local; note Source.Offset has the opposite sign).
	Offset         float64
	PeerDelay      float64 // seconds: round-trip delay of the last sample
	PeerDispersion float64 // seconds
	ResponseTime   float64 // seconds the server took to answer
	JitterAsym     float64
	Flags          uint16 // test bits (0x3ff), interleaved, authenticated
	TxTimestamping byte   // 'D' daemon, 'K' kernel, 'H' hardware
	RxTimestamping byte
	TotalTx        uint32
	TotalRx        uint32
	TotalValid     uint32
	TotalGood      uint32 // valid replies that also passed the sample tests
}

// DecodeNTPData decodes the reply to CmdNTPData.
func DecodeNTPData(pkt []byte) (NTPData, error) {
	_, d, err := replyData(pkt, CmdNTPData, ntpDataMinLen, RpyNTPData, RpyNTPData2)
	if err != nil {
		return NTPData{}, err
	}
	var n NTPData
	ra, _, err := decodeAddress(d)
	if err != nil {
		return NTPData{}, err
	}
	la, _, err := decodeAddress(d[ipAddrLen:])
	if err != nil {
		return NTPData{}, err
	}
	n.RemoteAddr, n.LocalAddr = ra.IP, la.IP
	o := 2 * ipAddrLen
	n.RemotePort = be16(d, o)
	n.Leap = ntp.Leap(d[o+2] & 3)
	n.Version = int(d[o+3])
	n.Mode = ntp.Mode(d[o+4] & 7)
	n.Stratum = int(d[o+5])
	n.Poll = int(int8(d[o+6]))
	n.Precision = int(int8(d[o+7]))
	o += 8
	n.RootDelay = flt(d, o)
	n.RootDispersion = flt(d, o+4)
	n.RefID = refID(d, o+8)
	if n.RefTime, err = decodeTimespec(d[o+12:]); err != nil {
		return NTPData{}, err
	}
	o += 12 + timespecLen
	n.Offset = flt(d, o)
	n.PeerDelay = flt(d, o+4)
	n.PeerDispersion = flt(d, o+8)
	n.ResponseTime = flt(d, o+12)
	n.JitterAsym = flt(d, o+16)
	o += 20
	n.Flags = be16(d, o)
	n.TxTimestamping = d[o+2]
	n.RxTimestamping = d[o+3]
	n.TotalTx = be32(d, o+4)
	n.TotalRx = be32(d, o+8)
	n.TotalValid = be32(d, o+12)
	n.TotalGood = be32(d, o+16)
	return n, nil
}
