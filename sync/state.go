// Package sync measures remote clocks and decides what the local clock
// should follow: the on-wire exchange (T1..T4), reply validation, the clock
// filter, selection (intersection and clustering) and combining. The date
// command uses it for one-shot measurements, the daemon for continuous
// synchronisation. Import it as ntpsync where the standard library's sync is
// also needed.
package sync

import (
	"net/netip"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// SystemState is the daemon's system variables at one instant: what it
// serves to clients in mode 4 replies and reports over mode 6. It is built by
// whoever owns synchronisation and published as an immutable snapshot, so
// readers never lock.
type SystemState struct {
	Leap           ntp.Leap
	Stratum        uint8 // 16 when unsynchronised
	Precision      int8
	RootDelay      time.Duration
	RootDispersion time.Duration
	RefID          ntp.RefID
	RefTime        ntp.Timestamp
	Poll           int8   // current poll exponent (tc)
	MinPoll        int8   // mintc
	SysPeer        uint16 // association id of the system peer, 0 if none
	// ClockSource is the system status word's source field: 0 unspecified,
	// 5 local (LOCAL refclock), 6 NTP server.
	ClockSource  uint8
	Offset       time.Duration // last combined offset
	FrequencyPPM float64
	SysJitter    time.Duration
	ClockJitter  time.Duration
	ClockWander  float64 // ppm
	EventCount   uint8
	LastEvent    uint8 // system event code (SPEC §2.1)
}

// Synchronized reports whether the state describes a synchronised clock.
func (s *SystemState) Synchronized() bool {
	return s.Leap != ntp.LeapAlarm && s.Stratum < ntp.MaxStratum
}

// SelectCode is a peer's fate in the last selection (SPEC §2.2), shown by
// ntpq as a tally character.
type SelectCode uint8

const (
	SelReject    SelectCode = 0 // ' '
	SelFalsetick SelectCode = 1 // 'x'
	SelExcess    SelectCode = 2 // '.'
	SelOutlier   SelectCode = 3 // '-'
	SelCandidate SelectCode = 4 // '+'
	SelBackup    SelectCode = 5 // '#'
	SelSysPeer   SelectCode = 6 // '*'
	SelPPSPeer   SelectCode = 7 // 'o'
)

// PeerState is one association as mode 6 reports it.
type PeerState struct {
	AssocID    uint16
	Name       string         // host as configured (srchost) when configured by name, pool prototypes, refclocks
	Addr       netip.AddrPort // srcadr/srcport; 127.127.t.u:123 for refclocks, 0.0.0.0 for a pool prototype
	LocalAddr  netip.AddrPort // dstadr/dstport
	HostMode   ntp.Mode       // hmode
	PeerMode   ntp.Mode       // pmode
	Configured bool           // conf bit: configured (persistent) association
	Bcast      bool           // bcast bit: pool prototype or pool member
	Auth       bool           // authentic
	AuthEnable bool
	Select     SelectCode
	EventCount uint8
	LastEvent  uint8

	Leap           ntp.Leap
	Stratum        uint8
	Precision      int8
	RootDelay      time.Duration
	RootDispersion time.Duration
	RefID          ntp.RefID
	RefTime        ntp.Timestamp
	Rec            ntp.Timestamp // time the last packet was received (zero: never)
	Xmt            ntp.Timestamp
	Reach          uint8
	Unreach        int
	HostPoll       int8 // hpoll
	PeerPoll       int8 // ppoll
	Headway        int
	Flash          uint16
	KeyID          uint32
	Offset         time.Duration
	Delay          time.Duration
	Dispersion     time.Duration
	Jitter         time.Duration
	// The clock filter's 8 stages, most recent first.
	FiltDelay  [8]time.Duration
	FiltOffset [8]time.Duration
	FiltDisp   [8]time.Duration
}

// Reachable reports whether any of the last 8 polls was answered.
func (p *PeerState) Reachable() bool { return p.Reach != 0 }
