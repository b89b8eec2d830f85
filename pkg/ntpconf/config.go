// Package ntpconf parses ntp.conf, the configuration file of the NTP daemon.
//
// It understands the syntax of the classic and NTPsec ntpd configuration
// file (comments, blank lines, whitespace separated tokens, double quoted
// strings) and the directives listed in DIRECTIVES.md. The result is a
// typed Config. Unknown directives are collected as warnings; malformed
// lines are errors that name the file and line. Parse collects every error
// instead of stopping at the first one and never panics.
//
// Restriction lookups for incoming packets are done with a compiled
// Restrictor (see Config.Restrictor), which does not allocate.
package ntpconf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultConfig is the configuration the daemon uses when no configuration
// file exists. It serves the undisciplined local clock (refclock type 1,
// LOCAL) at stratum 10 + 1 and answers control (mode 6, ntpq) queries on
// loopback only: every other client may get time but may not query, modify
// or peer, and is rate limited with kiss-o'-death packets.
const DefaultConfig = `# ntpkit built-in configuration (used when no ntp.conf exists)
# serve the local clock; it is not disciplined by any upstream server
server 127.127.1.0
fudge 127.127.1.0 stratum 10

# time for everyone, control queries (ntpq, ntpstat) from loopback only
restrict default kod limited nomodify notrap nopeer noquery
restrict 127.0.0.1
restrict ::1

# no drift file: the local clock is not disciplined
# driftfile /var/lib/ntpkit/ntp.drift
`

// Poll interval limits (log2 seconds) and defaults, as in classic ntpd.
const (
	MinPollLimit   = 3
	MaxPollLimit   = 17
	DefaultMinPoll = 6
	DefaultMaxPoll = 10
)

// Pos is a position in a configuration file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p Pos) String() string { return p.File + ":" + strconv.Itoa(p.Line) }

// MarshalText renders "file:line" (compact JSON dumps).
func (p Pos) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Diag is one diagnostic (warning or error) tied to a source position.
// Its text is "file:line: message".
type Diag struct {
	Pos Pos    `json:"pos"`
	Msg string `json:"msg"`
}

func (d Diag) String() string { return d.Pos.String() + ": " + d.Msg }

// Error makes a Diag usable as an error.
func (d Diag) Error() string { return d.String() }

// ErrorList is the error returned by Parse when one or more lines are bad.
// It holds every error found, in file order.
type ErrorList []Diag

// Error returns the errors one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, d := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// Unwrap returns each error, so errors.As(err, &Diag{}) finds the first.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, d := range l {
		errs[i] = d
	}
	return errs
}

// Kind is the association kind of a server, peer or pool line.
type Kind uint8

// Association kinds.
const (
	KindServer Kind = iota // server: client mode association
	KindPeer               // peer: symmetric active association
	KindPool               // pool: a server name that expands to several associations
)

func (k Kind) String() string {
	switch k {
	case KindServer:
		return "server"
	case KindPeer:
		return "peer"
	case KindPool:
		return "pool"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Family restricts a directive to an address family.
type Family uint8

// Address families. FamilyAny is the zero value.
const (
	FamilyAny Family = 0
	FamilyV4  Family = 4
	FamilyV6  Family = 6
)

func (f Family) String() string {
	switch f {
	case FamilyAny:
		return "any"
	case FamilyV4:
		return "ipv4"
	case FamilyV6:
		return "ipv6"
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Association is one server, peer or pool line, or an NTPsec refclock line.
type Association struct {
	Kind Kind `json:"kind"`
	// Address is the host as written: an IP address or a host name the
	// daemon resolves. For refclocks it is the pseudo-address 127.127.t.u.
	Address string `json:"address"`
	// Family is set by "-4" / "-6" before the address (name resolution filter).
	Family Family `json:"family"`

	IsRefclock   bool `json:"is_refclock,omitempty"`
	RefclockType int  `json:"refclock_type,omitempty"` // t of 127.127.t.u; 1 is LOCAL, 28 is SHM
	RefclockUnit int  `json:"refclock_unit,omitempty"` // u of 127.127.t.u

	Iburst   bool `json:"iburst,omitempty"`
	Burst    bool `json:"burst,omitempty"`
	Prefer   bool `json:"prefer,omitempty"`
	NoSelect bool `json:"noselect,omitempty"`
	MinPoll  int  `json:"minpoll"` // log2 seconds, 3..17, default 6
	MaxPoll  int  `json:"maxpoll"` // log2 seconds, 3..17, default 10
	Key      int  `json:"key,omitempty"`
	Version  int  `json:"version"` // 1..4, default 4

	// Ignored lists options that were accepted but are not acted on
	// (true, ttl, mode, xleave, preempt, ...), as written.
	Ignored []string `json:"ignored,omitempty"`
	Pos     Pos      `json:"pos"`
}

// Fudge holds the fudge options of one refclock. Nil pointers are options
// that were not given.
type Fudge struct {
	Address string   `json:"address"` // 127.127.t.u
	Type    int      `json:"type"`
	Unit    int      `json:"unit"`
	Stratum *int     `json:"stratum,omitempty"`
	RefID   string   `json:"refid,omitempty"`
	Time1   *float64 `json:"time1,omitempty"`
	Time2   *float64 `json:"time2,omitempty"`
	Flags   [4]*bool `json:"flags,omitzero"` // flag1..flag4
	Pos     Pos      `json:"pos"`            // first fudge line for this clock
}

// Discard holds the rate limiting parameters of "discard" (used by the
// "limited" and "kod" restrict flags).
type Discard struct {
	Average int `json:"average"` // log2 seconds minimum average interval, default 3
	Minimum int `json:"minimum"` // seconds minimum interval between packets, default 2
	Monitor int `json:"monitor"` // MRU list threshold, default 3000
}

// SystemFlags are the switches of enable/disable.
type SystemFlags struct {
	Auth      bool `json:"auth"`      // default on
	Calibrate bool `json:"calibrate"` // default off
	Kernel    bool `json:"kernel"`    // default on
	// KernelSet is true when an enable or disable line named "kernel".
	// ntpd's default is the kernel discipline; ntpkit's daemon uses its
	// own loop unless "enable kernel" is explicit, so it must know.
	KernelSet bool `json:"-"`
	Monitor   bool `json:"monitor"` // default on
	NTP       bool `json:"ntp"`     // default on
	PPS       bool `json:"pps"`     // default off
	Stats     bool `json:"stats"`   // default off
}

// InterfaceAction is the action of an interface (nic) rule.
type InterfaceAction uint8

// Interface actions.
const (
	InterfaceListen InterfaceAction = iota
	InterfaceIgnore
	InterfaceDrop
)

func (a InterfaceAction) String() string {
	switch a {
	case InterfaceListen:
		return "listen"
	case InterfaceIgnore:
		return "ignore"
	case InterfaceDrop:
		return "drop"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (a InterfaceAction) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// InterfaceMatch says what an interface rule applies to.
type InterfaceMatch uint8

// Interface matches.
const (
	MatchAll      InterfaceMatch = iota // all
	MatchIPv4                           // ipv4
	MatchIPv6                           // ipv6
	MatchWildcard                       // wildcard
	MatchName                           // an interface name (Name)
	MatchPrefix                         // an address or address/prefix (Prefix)
)

func (m InterfaceMatch) String() string {
	switch m {
	case MatchAll:
		return "all"
	case MatchIPv4:
		return "ipv4"
	case MatchIPv6:
		return "ipv6"
	case MatchWildcard:
		return "wildcard"
	case MatchName:
		return "name"
	case MatchPrefix:
		return "prefix"
	}
	return "match(" + strconv.Itoa(int(m)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (m InterfaceMatch) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// InterfaceRule is one "interface" (or "nic") line. As in ntpd, the last
// matching rule wins.
type InterfaceRule struct {
	Action InterfaceAction `json:"action"`
	Match  InterfaceMatch  `json:"match"`
	Name   string          `json:"name,omitempty"`
	Prefix netip.Prefix    `json:"prefix,omitzero"`
	Pos    Pos             `json:"pos"`
}

// Tos holds the "tos" selection parameters.
type Tos struct {
	MinClock   int     `json:"minclock"`   // default 3
	MinSane    int     `json:"minsane"`    // default 1
	MaxClock   int     `json:"maxclock"`   // default 10
	Orphan     int     `json:"orphan"`     // orphan stratum, 16 = off (default)
	OrphanWait int     `json:"orphanwait"` // seconds, default 300
	MinDist    float64 `json:"mindist"`    // seconds, default 0.001
	MaxDist    float64 `json:"maxdist"`    // seconds, default 1.5
	Floor      int     `json:"floor"`      // default 1
	Ceiling    int     `json:"ceiling"`    // default 15
	Cohort     bool    `json:"cohort"`     // default off
	Beacon     int     `json:"beacon"`     // seconds, default 3600
}

// FileGen is one "filegen" line. Recorded, not acted on.
type FileGen struct {
	Name   string `json:"name"`
	File   string `json:"file,omitempty"`
	Type   string `json:"type,omitempty"`
	Link   *bool  `json:"link,omitempty"`
	Enable *bool  `json:"enable,omitempty"`
	Pos    Pos    `json:"pos"`
}

// Config is a parsed ntp.conf. NewConfig returns one holding the defaults.
type Config struct {
	Servers      []Association   `json:"servers"`
	Fudges       []Fudge         `json:"fudges"`
	Restrictions []Restrict      `json:"restrictions"`
	Discard      Discard         `json:"discard"`
	DriftFile    string          `json:"driftfile,omitempty"`
	LogFile      string          `json:"logfile,omitempty"`
	LeapFile     string          `json:"leapfile,omitempty"`
	Keys         string          `json:"keys,omitempty"`
	TrustedKeys  []int           `json:"trustedkeys,omitempty"`
	ControlKey   int             `json:"controlkey,omitempty"`
	RequestKey   int             `json:"requestkey,omitempty"`
	Flags        SystemFlags     `json:"flags"`
	Interfaces   []InterfaceRule `json:"interfaces"`
	Tos          Tos             `json:"tos"`
	StatsDir     string          `json:"statsdir,omitempty"`
	FileGen      []FileGen       `json:"filegen,omitempty"`
	Statistics   []string        `json:"statistics,omitempty"`
	// Files lists every file read, the top level one first.
	Files []string `json:"files"`
	// Warnings are unknown directives, accepted-but-ignored options and
	// other suspicious but valid lines.
	Warnings []Diag `json:"warnings"`
}

// NewConfig returns a Config holding the built-in defaults and no
// associations or restrictions.
func NewConfig() *Config {
	return &Config{
		Servers:      []Association{},
		Fudges:       []Fudge{},
		Restrictions: []Restrict{},
		Interfaces:   []InterfaceRule{},
		Warnings:     []Diag{},
		Files:        []string{},
		Discard:      Discard{Average: 3, Minimum: 2, Monitor: 3000},
		Flags:        SystemFlags{Auth: true, Kernel: true, Monitor: true, NTP: true},
		Tos: Tos{MinClock: 3, MinSane: 1, MaxClock: 10, Orphan: 16, OrphanWait: 300,
			MinDist: 0.001, MaxDist: 1.5, Floor: 1, Ceiling: 15, Beacon: 3600},
	}
}

// FudgeFor returns the fudge options of the refclock with pseudo-address
// addr (127.127.t.u), or nil.
func (c *Config) FudgeFor(addr string) *Fudge {
	for i := range c.Fudges {
		if c.Fudges[i].Address == addr {
			return &c.Fudges[i]
		}
	}
	return nil
}

// refclockAddr reports whether s is a refclock pseudo-address 127.127.t.u.
func refclockAddr(s string) (typ, unit int, ok bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, 0, false
	}
	b := a.As4()
	if b[0] != 127 || b[1] != 127 {
		return 0, 0, false
	}
	return int(b[2]), int(b[3]), true
}

// RefclockAddress returns the pseudo-address 127.127.t.u of a refclock.
func RefclockAddress(typ, unit int) string {
	return fmt.Sprintf("127.127.%d.%d", typ, unit)
}
