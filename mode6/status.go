package mode6

import "strconv"

// Leap indicator values (system status word and packet LI field).
const (
	LeapNone   uint8 = 0
	LeapAddSec uint8 = 1
	LeapDelSec uint8 = 2
	LeapAlarm  uint8 = 3 // unsynchronised
)

const (
	maxNibble   = 15
	peerFlagMsk = 0xf8
)

var leapNames = [4]string{"leap_none", "leap_add_sec", "leap_del_sec", "leap_alarm"}

// LeapName returns leap_none, leap_add_sec, leap_del_sec or leap_alarm.
func LeapName(li uint8) string { return leapNames[li&3] }

// Clock source codes of the system status word.
const (
	SyncUnspec     uint8 = 0
	SyncPPS        uint8 = 1
	SyncLFRadio    uint8 = 2
	SyncHFRadio    uint8 = 3
	SyncUHFRadio   uint8 = 4
	SyncLocal      uint8 = 5
	SyncNTP        uint8 = 6
	SyncOther      uint8 = 7
	SyncWristwatch uint8 = 8
	SyncTelephone  uint8 = 9
)

var syncNames = [...]string{"sync_unspec", "sync_pps", "sync_lf_radio", "sync_hf_radio", "sync_uhf_radio",
	"sync_local", "sync_ntp", "sync_other", "sync_wristwatch", "sync_telephone"}

// SyncName returns the name of a clock source code (sync_ntp), or sync_<n>.
func SyncName(src uint8) string {
	if int(src) < len(syncNames) {
		return syncNames[src]
	}
	return "sync_" + strconv.Itoa(int(src))
}

// System event codes.
const (
	SysEvUnspecified uint8 = iota
	SysEvFreqNotSet
	SysEvFreqSet
	SysEvSpikeDetect
	SysEvFreqMode
	SysEvClockSync
	SysEvRestart
	SysEvPanicStop
	SysEvNoSysPeer
	SysEvLeapArmed
	SysEvLeapDisarmed
	SysEvLeapEvent
	SysEvClockStep
	SysEvKern
	SysEvTAI
	SysEvStaleLeap
)

var sysEventNames = [16]string{"unspecified", "freq_not_set", "freq_set", "spike_detect", "freq_mode",
	"clock_sync", "restart", "panic_stop", "no_sys_peer", "leap_armed", "leap_disarmed", "leap_event",
	"clock_step", "kern", "TAI", "stale_leapsecond_values"}

// SysEventName returns the name of a system event code (clock_sync).
func SysEventName(ev uint8) string { return sysEventNames[ev&15] }

// EventCountText is how ntpq prints an event count: "no events", "1 event",
// "N events".
func EventCountText(n uint8) string {
	switch n {
	case 0:
		return "no events"
	case 1:
		return "1 event"
	}
	return strconv.Itoa(int(n)) + " events"
}

// SysStatus is the decoded system status word:
// LI(2) | clock source(6) | event count(4) | event code(4).
type SysStatus struct {
	Leap   uint8 // 0..3
	Source uint8 // 0..63
	Count  uint8 // 0..15
	Event  uint8 // 0..15
}

// DecodeSysStatus splits a system status word.
func DecodeSysStatus(w uint16) SysStatus {
	return SysStatus{Leap: uint8(w >> 14), Source: uint8(w>>8) & 0x3f, Count: uint8(w>>4) & 15, Event: uint8(w) & 15}
}

// Word encodes s (fields are masked to their widths).
func (s SysStatus) Word() uint16 {
	return uint16(s.Leap&3)<<14 | uint16(s.Source&0x3f)<<8 | uint16(min(s.Count, maxNibble))<<4 | uint16(s.Event&15)
}

// String is the text ntpq-classic prints after status=XXXX in rv:
// "leap_none, sync_ntp, 1 event, clock_sync".
func (s SysStatus) String() string {
	return LeapName(s.Leap) + ", " + SyncName(s.Source) + ", " + EventCountText(s.Count) + ", " + SysEventName(s.Event)
}

// Peer status flag bits (high octet of the peer status word).
const (
	PeerConf    uint8 = 0x80 // configured (persistent)
	PeerAuthEnb uint8 = 0x40 // authentication enabled
	PeerAuth    uint8 = 0x20 // authentic
	PeerReach   uint8 = 0x10 // reach register non-zero
	PeerBcast   uint8 = 0x08 // broadcast/multicast/manycast/pool
)

var peerFlagNames = [...]struct {
	bit  uint8
	name string
}{{PeerConf, "conf"}, {PeerAuthEnb, "authenb"}, {PeerAuth, "auth"}, {PeerReach, "reach"}, {PeerBcast, "bcast"}}

// Peer select codes (bits 2..0 of the high octet).
const (
	SelReject    uint8 = 0
	SelFalsetick uint8 = 1
	SelExcess    uint8 = 2
	SelOutlier   uint8 = 3
	SelCandidate uint8 = 4
	SelBackup    uint8 = 5
	SelSysPeer   uint8 = 6
	SelPPSPeer   uint8 = 7
)

const tallyChars = " x.-+#*o"

var selConditions = [8]string{"reject", "falsetick", "excess", "outlier", "candidate", "backup", "sys.peer", "pps.peer"}
var selNames = [8]string{"sel_reject", "sel_falsetick", "sel_excess", "sel_outlier", "sel_candidate", "sel_backup", "sel_sys.peer", "sel_pps.peer"}

// Tally returns the peers-listing tally character of a select code (" x.-+#*o").
func Tally(sel uint8) byte { return tallyChars[sel&7] }

// Condition returns the condition column text of the associations listing (sys.peer).
func Condition(sel uint8) string { return selConditions[sel&7] }

// SelName returns the rv text of a select code (sel_sys.peer).
func SelName(sel uint8) string { return selNames[sel&7] }

// Peer event codes.
const (
	PeerEvMobilize      uint8 = 1
	PeerEvDemobilize    uint8 = 2
	PeerEvUnreachable   uint8 = 3
	PeerEvReachable     uint8 = 4
	PeerEvRestart       uint8 = 5
	PeerEvNoReply       uint8 = 6
	PeerEvRateExceeded  uint8 = 7
	PeerEvAccessDenied  uint8 = 8
	PeerEvLeapArmed     uint8 = 9
	PeerEvSysPeer       uint8 = 10
	PeerEvClockEvent    uint8 = 11
	PeerEvBadAuth       uint8 = 12
	PeerEvPopcorn       uint8 = 13
	PeerEvInterleave    uint8 = 14
	PeerEvInterleaveErr uint8 = 15
)

var peerEventNames = [16]string{"", "mobilize", "demobilize", "unreachable", "reachable", "restart", "no_reply",
	"rate_exceeded", "access_denied", "leap_armed", "sys_peer", "clock_event", "bad_auth", "popcorn",
	"interleave_mode", "interleave_error"}

// PeerEventName returns the rv text of a peer event code (sys_peer); "" for 0.
func PeerEventName(ev uint8) string { return peerEventNames[ev&15] }

// PeerEventListName returns the last_event text of the associations listing:
// like PeerEventName for 1..10, "clock_alarm" for 11 and "" for 0 and >11.
func PeerEventListName(ev uint8) string {
	switch {
	case ev == PeerEvClockEvent:
		return "clock_alarm"
	case ev >= 1 && ev <= 10:
		return peerEventNames[ev]
	}
	return ""
}

// PeerStatus is the decoded peer status word:
// flags(5) | select(3) | event count(4) | event code(4).
type PeerStatus struct {
	Flags  uint8 // PeerConf|PeerAuthEnb|PeerAuth|PeerReach|PeerBcast
	Select uint8 // 0..7
	Count  uint8 // 0..15
	Event  uint8 // 0..15
}

// DecodePeerStatus splits a peer status word.
func DecodePeerStatus(w uint16) PeerStatus {
	hi := uint8(w >> 8)
	return PeerStatus{Flags: hi & peerFlagMsk, Select: hi & 7, Count: uint8(w>>4) & 15, Event: uint8(w) & 15}
}

// Word encodes p (fields are masked to their widths).
func (p PeerStatus) Word() uint16 {
	return uint16(p.Flags&peerFlagMsk|p.Select&7)<<8 | uint16(min(p.Count, maxNibble))<<4 | uint16(p.Event&15)
}

// Has reports whether all bits in flag are set.
func (p PeerStatus) Has(flag uint8) bool { return p.Flags&flag == flag }

// Tally is the tally character of the select code.
func (p PeerStatus) Tally() byte { return Tally(p.Select) }

// String is the text ntpq-classic prints after status=XXXX in rv:
// "conf, reach, sel_sys.peer, 1 event, sys_peer" (event omitted when 0).
func (p PeerStatus) String() string {
	b := make([]byte, 0, 64)
	for _, f := range peerFlagNames {
		if p.Flags&f.bit != 0 {
			b = append(b, f.name...)
			b = append(b, ", "...)
		}
	}
	b = append(b, SelName(p.Select)...)
	b = append(b, ", "...)
	b = append(b, EventCountText(p.Count)...)
	if p.Event != 0 {
		b = append(b, ", "...)
		b = append(b, PeerEventName(p.Event)...)
	}
	return string(b)
}

var clockNames = [...]string{"clk_unspec", "clk_no_reply", "clk_bad_format", "clk_fault", "clk_bad_signal",
	"clk_bad_date", "clk_bad_time"}

// ClockName returns the name of a clock status/event code (clk_no_reply),
// or clk_<n> when unknown.
func ClockName(c uint8) string {
	if int(c) < len(clockNames) {
		return clockNames[c]
	}
	return "clk_" + strconv.Itoa(int(c))
}

// ClockStatus is the decoded clock status word: status(8) | last event(8).
type ClockStatus struct {
	Status uint8
	Event  uint8
}

// DecodeClockStatus splits a clock status word.
func DecodeClockStatus(w uint16) ClockStatus {
	return ClockStatus{Status: uint8(w >> 8), Event: uint8(w)}
}

// Word encodes c.
func (c ClockStatus) Word() uint16 { return uint16(c.Status)<<8 | uint16(c.Event) }

// String is "<status>, last_<event>", e.g. "clk_unspec, last_clk_unspec"
// (format not verified against a live ntpq).
func (c ClockStatus) String() string { return ClockName(c.Status) + ", last_" + ClockName(c.Event) }
