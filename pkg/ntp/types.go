package ntp

import "fmt"

// Mode is the association mode of an NTP packet (RFC 5905 figure 10).
type Mode uint8

const (
	ModeReserved         Mode = 0
	ModeSymmetricActive  Mode = 1
	ModeSymmetricPassive Mode = 2
	ModeClient           Mode = 3
	ModeServer           Mode = 4
	ModeBroadcast        Mode = 5
	ModeControl          Mode = 6
	ModePrivate          Mode = 7
)

var modeNames = [...]string{"reserved", "symmetric active", "symmetric passive", "client", "server", "broadcast", "control", "private"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Leap is the two-bit leap indicator.
type Leap uint8

const (
	LeapNone   Leap = 0 // no warning
	LeapInsert Leap = 1 // last minute of the day has 61 seconds
	LeapDelete Leap = 2 // last minute of the day has 59 seconds
	LeapAlarm  Leap = 3 // clock unsynchronised
)

func (l Leap) String() string {
	switch l & 3 {
	case LeapNone:
		return "no-leap"
	case LeapInsert:
		return "add-leap"
	case LeapDelete:
		return "del-leap"
	}
	return "unsync"
}

// Version numbers the codec accepts. NTPv1 had no mode field, so a server
// answers versions 1 to 4 and echoes the request's version.
const (
	VersionMin     = 1
	VersionCurrent = 4
	VersionMax     = 4
)

// Stratum values with special meaning.
const (
	StratumKiss           = 0  // kiss-o'-death (with LI 3) or unspecified on the wire
	StratumUnsynchronized = 16 // what tools print for a wire stratum of 0
	MaxStratum            = 16
)

// Poll interval bounds (log2 seconds) from RFC 5905.
const (
	MinPoll = 3
	MaxPoll = 17
)
