package daemon

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// System variables, in the classic daemon's internal table order: the
// order of a READVAR answer to an explicit variable list (SPEC §3.3).
const (
	svLeap = iota
	svStratum
	svPrecision
	svRootDelay
	svRootDisp
	svRefID
	svRefTime
	svTC
	svPeer
	svOffset
	svFrequency
	svSysJitter
	svClkJitter
	svClock
	svProcessor
	svSystem
	svVersion
	svClkWander
	svTAI
	svMinTC
	svCount
)

var sysVarNames = [svCount]string{
	"leap", "stratum", "precision", "rootdelay", "rootdisp", "refid", "reftime", "tc", "peer",
	"offset", "frequency", "sys_jitter", "clk_jitter", "clock", "processor", "system", "version",
	"clk_wander", "tai", "mintc",
}

// sysDefault is the classic daemon's default list (no variable list in the
// request): version first, tc before mintc, everything ntpstat reads in the
// first 468 octets (SPEC §3.1, golden classic-localonly.ntpq-c-rv.txt).
var sysDefault = []int{
	svVersion, svProcessor, svSystem, svLeap, svStratum, svPrecision, svRootDelay, svRootDisp,
	svRefID, svRefTime, svClock, svPeer, svTC, svMinTC, svOffset, svFrequency, svSysJitter,
	svClkJitter, svClkWander,
}

// Peer variables in table order (SPEC §3.3).
const (
	pvConfig = iota
	pvAuthEnable
	pvAuthentic
	pvSrcAdr
	pvSrcPort
	pvDstAdr
	pvDstPort
	pvLeap
	pvHMode
	pvStratum
	pvPPoll
	pvHPoll
	pvPrecision
	pvRootDelay
	pvRootDisp
	pvRefID
	pvRefTime
	pvOrg
	pvRec
	pvXmt
	pvXleave
	pvReach
	pvUnreach
	pvTimer
	pvDelay
	pvOffset
	pvJitter
	pvDispersion
	pvKeyID
	pvFiltDelay
	pvFiltOffset
	pvPMode
	pvReceived
	pvSent
	pvFiltDisp
	pvFlash
	pvTTL
	pvHeadway
	pvSrcHost
	pvCount
)

var peerVarNames = [pvCount]string{
	"config", "authenable", "authentic", "srcadr", "srcport", "dstadr", "dstport", "leap", "hmode",
	"stratum", "ppoll", "hpoll", "precision", "rootdelay", "rootdisp", "refid", "reftime", "org",
	"rec", "xmt", "xleave", "reach", "unreach", "timer", "delay", "offset", "jitter", "dispersion",
	"keyid", "filtdelay", "filtoffset", "pmode", "received", "sent", "filtdisp", "flash", "ttl",
	"headway", "srchost",
}

// Default peer lists of the classic daemon (observed, golden pcaps): for
// network associations and for reference clocks (ttl instead of xleave,
// never srchost).
var (
	peerDefaultHead = []int{pvSrcAdr, pvSrcPort}
	peerDefaultTail = []int{
		pvDstAdr, pvDstPort, pvLeap, pvStratum, pvPrecision, pvRootDelay, pvRootDisp, pvRefID,
		pvRefTime, pvRec, pvReach, pvUnreach, pvHMode, pvPMode, pvHPoll, pvPPoll, pvHeadway,
		pvFlash, pvKeyID,
	}
	peerDefaultNet      = []int{pvOffset, pvDelay, pvDispersion, pvJitter, pvXleave, pvFiltDelay, pvFiltOffset, pvFiltDisp}
	peerDefaultRefclock = []int{pvTTL, pvOffset, pvDelay, pvDispersion, pvJitter, pvFiltDelay, pvFiltOffset, pvFiltDisp}
)

func lookupName(names []string, name []byte) int {
	for i, n := range names {
		if n == string(name) {
			return i
		}
	}
	return -1
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// appendRefID renders a refid: a text code when isCode, a dotted quad
// otherwise (SPEC §1.4).
func appendRefID(dst []byte, r ntp.RefID, isCode bool) []byte {
	if !isCode {
		for i, o := range r {
			if i > 0 {
				dst = append(dst, '.')
			}
			dst = strconv.AppendUint(dst, uint64(o), 10)
		}
		return dst
	}
	n := 4
	for n > 0 && r[n-1] == 0 {
		n--
	}
	for i := 0; i < n; i++ {
		c := r[i]
		if c <= ' ' || c >= 0x7f || c == ',' {
			c = '.'
		}
		dst = append(dst, c)
	}
	return dst
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(dst, "0.0.0.0"...)
	}
	return a.Unmap().WithZone("").AppendTo(dst)
}

// sysLeapStratum is what the system variables report: leap 3 and stratum
// 16 when unsynchronised.
func sysLeapStratum(s *ntpsync.SystemState) (ntp.Leap, uint8) {
	if !s.Synchronized() {
		return ntp.LeapAlarm, ntp.MaxStratum
	}
	return s.Leap & 3, s.Stratum
}

func (c *Control) putSys(e *mode6.VarEncoder, id int, s *ntpsync.SystemState, now ntp.Timestamp) {
	leap, stratum := sysLeapStratum(s)
	name := sysVarNames[id]
	switch id {
	case svLeap:
		e.Int(name, int64(leap))
	case svStratum:
		e.Int(name, int64(stratum))
	case svPrecision:
		e.Int(name, int64(s.Precision))
	case svRootDelay:
		e.Fixed(name, ms(s.RootDelay), 3)
	case svRootDisp:
		e.Fixed(name, ms(s.RootDispersion), 3)
	case svRefID:
		e.Begin(name)
		c.tmp = appendRefID(c.tmp[:0], s.RefID, ntp.IsCode(stratum))
		e.Append(c.tmp...)
		e.End()
	case svRefTime:
		e.Timestamp(name, uint64(s.RefTime))
	case svTC:
		e.Int(name, int64(s.Poll))
	case svPeer:
		e.Int(name, int64(s.SysPeer))
	case svOffset:
		e.Fixed(name, ms(s.Offset), 6)
	case svFrequency:
		e.Fixed(name, s.FrequencyPPM, 3)
	case svSysJitter:
		e.Fixed(name, ms(s.SysJitter), 6)
	case svClkJitter:
		e.Fixed(name, ms(s.ClockJitter), 3)
	case svClock:
		e.Timestamp(name, uint64(now))
	case svProcessor:
		e.Quoted(name, c.Info.Processor)
	case svSystem:
		e.Quoted(name, c.Info.System)
	case svVersion:
		e.Quoted(name, c.Info.Version)
	case svClkWander:
		e.Fixed(name, s.ClockWander, 3)
	case svTAI:
		e.Int(name, 0)
	case svMinTC:
		e.Int(name, int64(s.MinPoll))
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (c *Control) putPeer(e *mode6.VarEncoder, id int, p *ntpsync.PeerState) {
	name := peerVarNames[id]
	refclock := ntp.IsRefclockAddr(p.Addr.Addr())
	switch id {
	case pvConfig:
		e.Int(name, boolInt(p.Configured))
	case pvAuthEnable:
		e.Int(name, boolInt(p.AuthEnable))
	case pvAuthentic:
		e.Int(name, boolInt(p.Auth))
	case pvSrcAdr:
		e.Begin(name)
		c.tmp = appendAddr(c.tmp[:0], p.Addr.Addr())
		e.Append(c.tmp...)
		e.End()
	case pvSrcPort:
		e.Int(name, int64(p.Addr.Port()))
	case pvDstAdr:
		e.Begin(name)
		c.tmp = appendAddr(c.tmp[:0], p.LocalAddr.Addr())
		e.Append(c.tmp...)
		e.End()
	case pvDstPort:
		e.Int(name, int64(p.LocalAddr.Port()))
	case pvLeap:
		e.Int(name, int64(p.Leap&3))
	case pvHMode:
		e.Int(name, int64(p.HostMode))
	case pvStratum:
		e.Int(name, int64(p.Stratum))
	case pvPPoll:
		e.Int(name, int64(p.PeerPoll))
	case pvHPoll:
		e.Int(name, int64(p.HostPoll))
	case pvPrecision:
		e.Int(name, int64(p.Precision))
	case pvRootDelay:
		e.Fixed(name, ms(p.RootDelay), 3)
	case pvRootDisp:
		e.Fixed(name, ms(p.RootDispersion), 3)
	case pvRefID:
		e.Begin(name)
		c.tmp = appendRefID(c.tmp[:0], p.RefID, refclock || ntp.IsCode(p.Stratum))
		e.Append(c.tmp...)
		e.End()
	case pvRefTime:
		e.Timestamp(name, uint64(p.RefTime))
	case pvOrg:
		e.Timestamp(name, 0)
	case pvRec:
		e.Timestamp(name, uint64(p.Rec))
	case pvXmt:
		e.Timestamp(name, uint64(p.Xmt))
	case pvXleave:
		e.Fixed(name, 0, 3)
	case pvReach:
		e.Hex(name, uint64(p.Reach))
	case pvUnreach:
		e.Int(name, int64(p.Unreach))
	case pvTimer, pvReceived, pvSent, pvTTL:
		e.Int(name, 0)
	case pvDelay:
		e.Fixed(name, ms(p.Delay), 3)
	case pvOffset:
		e.Fixed(name, ms(p.Offset), 3)
	case pvJitter:
		e.Fixed(name, ms(p.Jitter), 3)
	case pvDispersion:
		e.Fixed(name, ms(p.Dispersion), 3)
	case pvKeyID:
		e.Int(name, int64(p.KeyID))
	case pvFiltDelay, pvFiltOffset, pvFiltDisp:
		v := &p.FiltDelay
		switch id {
		case pvFiltOffset:
			v = &p.FiltOffset
		case pvFiltDisp:
			v = &p.FiltDisp
		}
		e.Begin(name)
		for _, d := range v {
			c.tmp = append(c.tmp[:0], ' ')
			c.tmp = mode6.AppendFixed(c.tmp, ms(d), 2)
			e.Append(c.tmp...)
		}
		e.End()
	case pvPMode:
		e.Int(name, int64(p.PeerMode))
	case pvFlash:
		e.Hex(name, uint64(p.Flash))
	case pvHeadway:
		e.Int(name, int64(p.Headway))
	case pvSrcHost:
		if p.Name != "" && !refclock {
			e.Quoted(name, p.Name)
		}
	}
}

// SysStatusWord is the system status word of a state (SPEC §2.1).
func SysStatusWord(s *ntpsync.SystemState) uint16 {
	leap, _ := sysLeapStratum(s)
	return mode6.SysStatus{Leap: uint8(leap), Source: s.ClockSource, Count: s.EventCount, Event: s.LastEvent}.Word()
}

// PeerStatusWord is the peer status word of an association (SPEC §2.2).
func PeerStatusWord(p *ntpsync.PeerState) uint16 {
	var f uint8
	if p.Configured {
		f |= mode6.PeerConf
	}
	if p.AuthEnable {
		f |= mode6.PeerAuthEnb
	}
	if p.Auth {
		f |= mode6.PeerAuth
	}
	if p.Reach != 0 {
		f |= mode6.PeerReach
	}
	if p.Bcast {
		f |= mode6.PeerBcast
	}
	return mode6.PeerStatus{Flags: f, Select: uint8(p.Select), Count: p.EventCount, Event: p.LastEvent}.Word()
}
