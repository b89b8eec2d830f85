package daemon

import (
	"encoding/binary"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// Request classification for mode 3 processing.
const (
	replyLen = ntp.HeaderLen
)

// ClassifyNTP returns the version and mode of an NTP datagram and whether it
// is long enough to be one (48 octets). Mode 6 datagrams are shorter; check
// the mode with PacketMode first.
func ClassifyNTP(req []byte) (version uint8, mode ntp.Mode, ok bool) {
	if len(req) < ntp.HeaderLen {
		return 0, 0, false
	}
	return (req[0] >> 3) & 7, ntp.Mode(req[0] & 7), true
}

// PacketMode returns the mode field of any datagram (0 for an empty one).
func PacketMode(b []byte) ntp.Mode {
	if len(b) == 0 {
		return 0
	}
	return ntp.Mode(b[0] & 7)
}

// Respond builds the mode 4 reply to a mode 3 request (RFC 5905) in out,
// which must hold 48 octets, and returns its length. ok is false when the
// request must be dropped: shorter than 48 octets, version outside 1..4, or
// not mode 3 (symmetric, broadcast, mode 7 and unknown modes get no answer).
//
// rx is the time the request arrived (ideally the kernel's receive
// timestamp), tx the transmit time, read as late as possible by the caller.
// The version is echoed, origin = the client's transmit timestamp, poll =
// the client's poll clamped to 3..17, and leap, stratum, precision, root
// delay, root dispersion, refid and reference time come from sys. An
// unsynchronised system (leap 3 or stratum >= 16) answers LI 3, stratum 0.
// Extension fields and MACs in the request are ignored; the reply is always
// 48 octets. Respond does not allocate.
func Respond(req []byte, rx, tx ntp.Timestamp, sys *ntpsync.SystemState, out []byte) (n int, ok bool) {
	vn, mode, ok := ClassifyNTP(req)
	if !ok || vn < ntp.VersionMin || vn > ntp.VersionMax || mode != ntp.ModeClient || len(out) < replyLen {
		return 0, false
	}
	leap, stratum := sys.Leap&3, sys.Stratum
	if !sys.Synchronized() {
		leap, stratum = ntp.LeapAlarm, ntp.StratumKiss
	}
	h := ntp.Header{
		Leap:           leap,
		Version:        vn,
		Mode:           ntp.ModeServer,
		Stratum:        stratum,
		Poll:           clampPoll(int8(req[2])),
		Precision:      sys.Precision,
		RootDelay:      ntp.ShortFromDuration(sys.RootDelay),
		RootDispersion: ntp.ShortFromDuration(sys.RootDispersion),
		RefID:          sys.RefID,
		RefTime:        sys.RefTime,
		OrigTime:       ntp.Timestamp(binary.BigEndian.Uint64(req[40:48])),
		RecvTime:       rx,
		XmitTime:       tx,
	}
	h.MarshalTo(out[:replyLen])
	return replyLen, true
}

// RespondKiss builds a kiss-o'-death reply (LI 3, stratum 0, refid = code,
// e.g. ntp.KissRate) to a mode 3 request, with the same validity rules as
// Respond. Origin is the client's transmit timestamp, so that the client
// accepts it as the answer to its request; the poll field carries at least
// the client's poll, raised to minPoll (the interval the server wants).
func RespondKiss(req []byte, rx, tx ntp.Timestamp, code ntp.RefID, minPoll int8, sys *ntpsync.SystemState, out []byte) (n int, ok bool) {
	vn, mode, ok := ClassifyNTP(req)
	if !ok || vn < ntp.VersionMin || vn > ntp.VersionMax || mode != ntp.ModeClient || len(out) < replyLen {
		return 0, false
	}
	poll := max(clampPoll(int8(req[2])), minPoll)
	h := ntp.Header{
		Leap:      ntp.LeapAlarm,
		Version:   vn,
		Mode:      ntp.ModeServer,
		Stratum:   ntp.StratumKiss,
		Poll:      clampPoll(poll),
		Precision: sys.Precision,
		RefID:     code,
		OrigTime:  ntp.Timestamp(binary.BigEndian.Uint64(req[40:48])),
		RecvTime:  rx,
		XmitTime:  tx,
	}
	h.MarshalTo(out[:replyLen])
	return replyLen, true
}

func clampPoll(p int8) int8 {
	switch {
	case p < ntp.MinPoll:
		return ntp.MinPoll
	case p > ntp.MaxPoll:
		return ntp.MaxPoll
	}
	return p
}
