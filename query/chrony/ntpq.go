package chrony

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// This file maps chronyd's reports onto the concepts of ntpq's peers table
// and ntpstat, so that ntpkit can show a chronyd host like an ntpd one.
//
//	ntpq column  chrony source
//	tally        Source.State via NtpqTally
//	remote       Source.Name(): the address, or the refclock's refid
//	refid        NTPData.RefID (the server's own refid; refclocks: their refid)
//	st           Source.Stratum (0 for an unreached NTP source -> 16)
//	t            'u' server, 's' peer, 'l' refclock (NtpqType)
//	when         Source.LastRx seconds ('-' when never sampled)
//	poll         2^Source.Poll seconds
//	reach        Source.Reach: the same 8-bit register, printed in octal
//	delay        NTPData.PeerDelay (unix socket only; 0 for refclocks)
//	offset       -Source.Offset: chrony's offset is local minus source
//	jitter       SourceStats.StdDev

// NtpqTally maps a chrony selection state to ntpq's tally character:
//
//	chrony '*' selected      -> '*' system peer
//	chrony '+' combined      -> '+' candidate
//	chrony '-' not combined  -> '-' outlier
//	chrony 'x' falseticker   -> 'x' falseticker
//	chrony '~' jittery       -> '-' outlier (ntpq has no jitter state;
//	                                          ntpd's clustering would drop it)
//	chrony '?' unusable      -> ' ' rejected
func NtpqTally(s SourceState) byte {
	switch s {
	case StateSelected:
		return '*'
	case StateCombined:
		return '+'
	case StateNotCombined, StateJittery:
		return '-'
	case StateFalseticker:
		return 'x'
	}
	return ' '
}

// NtpqType maps a source mode to ntpq's "t" column: 'u' (unicast server),
// 's' (symmetric peer) or 'l' (local reference clock).
func NtpqType(m SourceMode) byte {
	switch m {
	case ModePeer:
		return 's'
	case ModeRefclock:
		return 'l'
	}
	return 'u'
}

// PollInterval converts a log2 poll exponent to a duration (chrony allows
// negative exponents: sub-second polling).
func PollInterval(log2 int) time.Duration {
	if log2 < -30 {
		log2 = -30
	}
	if log2 > 30 {
		log2 = 30
	}
	return time.Duration(math.Ldexp(float64(time.Second), log2))
}

// Peer is one row of ntpq's peers table built from chronyd's reports.
type Peer struct {
	Source Source
	Stats  *SourceStats // nil when chronyd gave none
	NTP    *NTPData     // nil for refclocks, or when chronyd refused
}

// Tally is ntpq's tally character (see NtpqTally).
func (p Peer) Tally() byte { return NtpqTally(p.Source.State) }

// Remote is the remote column: the address, or the refclock's refid.
func (p Peer) Remote() string { return p.Source.Name() }

// Type is ntpq's t column (see NtpqType).
func (p Peer) Type() byte { return NtpqType(p.Source.Mode) }

// Stratum is ntpq's st column: chronyd reports 0 for an NTP source it has
// not heard from, which ntpq shows as 16.
func (p Peer) Stratum() int {
	if p.Source.Mode != ModeRefclock && p.Source.Stratum == 0 {
		return ntp.MaxStratum
	}
	return p.Source.Stratum
}

// RefID is the refid of the row as ntpd's mode 6 "refid" variable would
// hold it (ntpq adds the dots around codes): for a refclock its own refid
// (e.g. "GPS0"); for an NTP source the refid in its last reply, as text
// for strata 0, 1 and 16 and as a dotted quad otherwise; "INIT" for a
// source never heard from.
func (p Peer) RefID() string {
	if p.Source.Mode == ModeRefclock {
		return p.Source.RefID.Text()
	}
	if p.NTP == nil || p.NTP.TotalValid == 0 || p.Source.Stratum == 0 {
		return "INIT"
	}
	st := p.NTP.Stratum
	if st == 0 {
		st = ntp.MaxStratum
	}
	return p.NTP.RefID.Render(uint8(min(st, 255)))
}

// When is the time since the last sample; ok is false when there has been
// none (ntpq prints "-").
func (p Peer) When() (d time.Duration, ok bool) {
	if p.Source.LastRx == NeverSampled {
		return 0, false
	}
	return time.Duration(p.Source.LastRx) * time.Second, true
}

// Poll is the polling interval.
func (p Peer) Poll() time.Duration { return PollInterval(p.Source.Poll) }

// Reach is the reachability register (ntpq prints it in octal).
func (p Peer) Reach() uint8 { return p.Source.Reach }

// Delay is the round-trip delay of the last sample in seconds: 0 for
// refclocks, and 0 when NTP data is missing (chronyd answers ntpdata only
// on its unix socket, so a client over UDP has no delays).
func (p Peer) Delay() float64 {
	if p.NTP == nil {
		return 0
	}
	return p.NTP.PeerDelay
}

// Offset is the last sample's offset in seconds with ntpq's sign: positive
// when the source is ahead of the local clock.
func (p Peer) Offset() float64 { return 0 - p.Source.Offset }

// Jitter is the sample standard deviation in seconds (0 when unknown).
func (p Peer) Jitter() float64 {
	if p.Stats == nil {
		return 0
	}
	return p.Stats.StdDev
}

// Peers builds ntpq's peers table: every source with its statistics and,
// for NTP sources, its NTP data. Missing statistics or NTP data (chronyd
// too old, or a source that vanished meanwhile) leave the pointers nil.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	srcs, err := c.Sources(ctx)
	if err != nil {
		return nil, err
	}
	peers := make([]Peer, len(srcs))
	for i, s := range srcs {
		peers[i].Source = s
		st, err := c.SourceStat(ctx, i)
		switch {
		case err == nil:
			peers[i].Stats = &st
		case !isRefusal(err):
			return nil, err
		}
		if s.Mode == ModeRefclock || !s.Addr.IP.IsValid() {
			continue
		}
		nd, err := c.NTPData(ctx, s.Addr)
		switch {
		case err == nil:
			peers[i].NTP = &nd
		case !isRefusal(err):
			return nil, err
		}
	}
	return peers, nil
}

// isRefusal reports whether err is chronyd declining a request (as opposed
// to a transport failure).
func isRefusal(err error) bool {
	var se *StatusError
	return errors.As(err, &se)
}

// SourceKind classifies what chronyd is synchronised to, for ntpstat.
type SourceKind int

// Source kinds.
const (
	KindNone     SourceKind = iota // not synchronised
	KindNTP                        // an NTP server or peer
	KindRefclock                   // a local reference clock (GPS, PPS, ...)
	KindLocal                      // its own clock ("local" directive)
)

// String is the source wording ntpstat uses for ntpd's clock source codes:
// "NTP server", "local net"; a refclock is "reference clock".
func (k SourceKind) String() string {
	switch k {
	case KindNTP:
		return "NTP server"
	case KindRefclock:
		return "reference clock"
	case KindLocal:
		return "local net"
	}
	return "unspecified"
}

// SyncStatus is what ntpstat reports.
type SyncStatus struct {
	Synchronised bool
	Kind         SourceKind
	// Source is the NTP source's address (KindNTP) or the refclock's refid
	// (KindRefclock); "" otherwise.
	Source  string
	RefID   ntp.RefID
	Stratum int
	Leap    ntp.Leap
	// RootDelay, RootDispersion and Correction (chronyd's current offset
	// correction) are in seconds. ntpstat 0.6 prints "time correct to
	// within" rootdelay/2 + rootdisp + |correction|.
	RootDelay      float64
	RootDispersion float64
	Correction     float64
	// PollLog2 is the poll exponent of the selected source (of the first
	// reachable source when none is selected; 0 without sources).
	PollLog2 int
	Tracking Tracking
	Sources  []Source
}

// Accuracy is ntpstat's "time correct to within" bound in seconds.
func (s SyncStatus) Accuracy() float64 {
	return s.RootDelay/2 + s.RootDispersion + math.Abs(s.Correction)
}

// Status gathers ntpstat's view from the tracking report and the sources.
func (c *Client) Status(ctx context.Context) (SyncStatus, error) {
	t, err := c.Tracking(ctx)
	if err != nil {
		return SyncStatus{}, err
	}
	srcs, err := c.Sources(ctx)
	if err != nil {
		return SyncStatus{}, err
	}
	return StatusFrom(t, srcs), nil
}

// StatusFrom derives the ntpstat view from a tracking report and the
// source list (pure).
func StatusFrom(t Tracking, srcs []Source) SyncStatus {
	s := SyncStatus{
		Synchronised:   t.Synchronised(),
		RefID:          t.RefID,
		Stratum:        t.Stratum,
		Leap:           t.Leap,
		RootDelay:      t.RootDelay,
		RootDispersion: t.RootDispersion,
		Correction:     t.CurrentCorrection,
		Tracking:       t,
		Sources:        srcs,
	}
	if s.Synchronised {
		switch {
		case t.RefAddr.IP.IsValid():
			s.Kind, s.Source = KindNTP, t.RefAddr.String()
		case t.RefID == LocalRefID:
			s.Kind = KindLocal
		default:
			s.Kind, s.Source = KindRefclock, t.RefID.Text()
		}
	}
	poll, found := 0, false
	for _, src := range srcs {
		if src.State == StateSelected {
			poll, found = src.Poll, true
			break
		}
	}
	if !found {
		for _, src := range srcs {
			if src.Reach != 0 {
				poll = src.Poll
				break
			}
		}
	}
	s.PollLog2 = poll
	return s
}
