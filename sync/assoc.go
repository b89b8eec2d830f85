package sync

import (
	"cmp"
	"math"
	"net/netip"
	"time"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// AssocKind is the kind of a configured association.
type AssocKind uint8

const (
	KindServer AssocKind = iota // client mode (3) to a server
	KindPeer                    // symmetric active (1)
	KindPool                    // a name resolving to several servers
)

// ServerConfig is one configured source.
type ServerConfig struct {
	Kind     AssocKind
	Address  string // host name or IP literal (may include a port)
	Iburst   bool
	Burst    bool
	Prefer   bool
	NoSelect bool
	MinPoll  int8 // 0: 6
	MaxPoll  int8 // 0: 10
	Version  uint8
	// Key is the id of the symmetric key ("key N") that signs our packets
	// to this source; its replies must then carry a MAC made with that
	// key (see Options.Keys). 0: no authentication.
	Key uint32
	// Network is the resolver network for a host name: "ip4" (server -4),
	// "ip6" (-6), or "" for both.
	Network string
}

// Peer event codes (SPEC §2.2).
const (
	evMobilize    = 1
	evDemobilize  = 2
	evUnreachable = 3
	evReachable   = 4
	evRestart     = 5
	evRate        = 7
	evDenied      = 8
	evSysPeer     = 10
)

// Peer flash bits (ntpd's TEST1..TEST13 subset) reported as flash.
const (
	flashDup     = 0x0001
	flashBogus   = 0x0002
	flashAuth    = 0x0010 // TEST5: MAC missing or does not verify
	flashUnsync  = 0x0020 // (TEST6 in ntpd: 0x0020 is header bad)
	flashStratum = 0x0080
	flashDist    = 0x0100
	flashLoop    = 0x0200
	flashUnreach = 0x0400
)

// assoc is one association; the engine's loop owns it.
type assoc struct {
	id       uint16
	cfg      ServerConfig
	name     string
	addr     netip.AddrPort
	hmode    ntp.Mode
	pmode    ntp.Mode
	proto    bool   // pool prototype: never polled itself
	member   bool   // pool member (ephemeral)
	pool     *assoc // the prototype of a member
	minPoll  int8
	maxPoll  int8
	hpoll    int8
	ppoll    int8
	reach    uint8
	unreach  int
	polls    int // polls since the last reply
	nextPoll time.Duration
	burst    int // packets left in the current burst
	denied   bool
	kissed   bool // got a RATE kiss: no more bursts
	gone     bool // demobilised
	flash    uint16

	// on-wire state
	xmt     ntp.Timestamp   // transmit timestamp of the last request
	recent  []ntp.Timestamp // symmetric: our recent transmit timestamps
	org     ntp.Timestamp   // symmetric: the peer's last transmit timestamp
	rec     ntp.Timestamp   // symmetric: when we received it
	lastXmt ntp.Timestamp   // the last accepted packet's transmit timestamp
	sentXmt ntp.Timestamp   // our last packet's xmt (for mode 6 xmt)

	// peer variables from the last packet
	leap      ntp.Leap
	stratum   uint8
	precision int8
	rootDelay time.Duration
	rootDisp  time.Duration
	refID     ntp.RefID
	refTime   ntp.Timestamp
	recTime   ntp.Timestamp

	filter     Filter
	sel        SelectCode
	falseCount int
	events     uint8
	lastEvent  uint8
	newSample  bool

	resolving    bool
	resolveFails int
	reresolveAt  int // unreach count of the next lookup of a server name (resolve.go)
}

func (a *assoc) event(code uint8) {
	if a.events < 15 {
		a.events++
	}
	a.lastEvent = code
}

// pollInterval is the current interval between packets, log2 s.
func (a *assoc) pollExp() int8 {
	p := a.hpoll
	if a.hmode == ntp.ModeSymmetricActive && a.ppoll != 0 {
		p = min(p, max(a.ppoll, a.minPoll))
	}
	return max(a.minPoll, min(a.maxPoll, p))
}

// rootDist is RFC 5905's root distance lambda at now.
func (a *assoc) rootDist(now time.Time) time.Duration {
	d := max(a.rootDelay+a.filter.Delay, MinDisp)
	age := now.Sub(a.filter.Time)
	if age < 0 {
		age = 0
	}
	lam := d/2 + a.rootDisp + a.filter.Dispersion + time.Duration(PHI*float64(age)) + a.filter.Jitter
	return lam
}

// fit reports why an association cannot be selected (0 when fit).
func (a *assoc) unfit(now time.Time, sysStratum uint8, self ntp.RefID, maxDist time.Duration) uint16 {
	switch {
	case a.reach == 0 || !a.filter.HasOutput:
		return flashUnreach
	case a.leap == ntp.LeapAlarm || a.stratum == 0 || a.stratum >= ntp.MaxStratum:
		return flashStratum
	case a.rootDist(now) > maxDist:
		return flashDist
	case self != (ntp.RefID{}) && a.refID == self && a.stratum > 1:
		return flashLoop
	}
	return 0
}

func (a *assoc) state(now time.Time) PeerState {
	p := PeerState{
		AssocID:        a.id,
		Name:           a.name,
		Addr:           a.addr,
		HostMode:       a.hmode,
		PeerMode:       a.pmode,
		Configured:     !a.member,
		Bcast:          a.member || a.proto,
		Select:         a.sel,
		EventCount:     a.events,
		LastEvent:      a.lastEvent,
		Leap:           a.leap,
		Stratum:        a.stratum,
		Precision:      a.precision,
		RootDelay:      a.rootDelay,
		RootDispersion: a.rootDisp,
		RefID:          a.refID,
		RefTime:        a.refTime,
		Rec:            a.recTime,
		Xmt:            a.sentXmt,
		Reach:          a.reach,
		Unreach:        a.unreach,
		HostPoll:       a.pollExp(),
		PeerPoll:       cmp.Or(a.ppoll, a.maxPoll), // like ntpd: maxpoll until the peer's first packet
		Flash:          a.flash,
	}
	if a.proto {
		p.HostPoll = a.hpoll
	}
	if a.stratum == 0 || a.stratum > ntp.MaxStratum {
		p.Stratum = ntp.MaxStratum
	}
	if a.filter.HasOutput {
		p.Offset, p.Delay, p.Jitter = a.filter.Offset, a.filter.Delay, a.filter.Jitter
	}
	p.Dispersion = a.filter.Dispersion
	if !a.filter.HasOutput {
		p.Dispersion = MaxDisp
	}
	p.FiltDelay, p.FiltOffset, p.FiltDisp = a.filter.Stages(now)
	return p
}

// nextPollDelay is the time to the next packet after one was sent.
func (a *assoc) nextPollDelay() time.Duration {
	if a.burst > 0 {
		return 2 * time.Second
	}
	return time.Duration(math.Exp2(float64(a.pollExp()))) * time.Second
}
