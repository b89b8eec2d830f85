package daemon

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// The statistics variables of ntpq's sysstats, kerninfo, iostats,
// monstats, authinfo, timerstats (system variables) and pstats (peer
// variables). The daemon knows every name either ntpq asks for, so that
// neither front end meets UNKNOWNVAR, and answers with what it really
// measures; the others are left out of the answer (ntpq then skips the
// line). Values use classic ntpd's units (milliseconds for the kernel
// times). Counters are never reset: the "time since reset" variables are
// the uptime and NTPsec's "_r" twins equal the totals.
//
// What each answer means:
//
//	ss_uptime, ss_reset, iostats_reset, authreset, timerstats_reset: seconds since start
//	ss_received, io_received: datagrams received on the serving sockets
//	ss_thisver, ss_oldver, ss_ver1: of those, the NTP packets (not modes 6
//	and 7, as ntpd counts) of version 4, versions 1-3, version 1
//	ss_badformat: dropped as too short, bad version or malformed mode 6
//	ss_badauth: dropped for a bad MAC (or notrust without one)
//	ss_declined: dropped because the mode is not served
//	ss_restricted: dropped by restrict ignore, noserve or noquery
//	ss_limited, ss_kodsent: over the rate limit; KoD replies sent
//	ss_processed: server replies handed to the synchronisation engine
//	ss_numctlreq: mode 6 requests received
//	io_sendfailed: replies the kernel refused
//	k*: the kernel clock state (adjtimex read, never written)
//	mru_enabled: 0x1 monitoring on, 0x2 table used by limited/kod
//	mru_depth, mru_maxdepth: sources in the MRU table, its fixed capacity
//	mru_mem, mru_maxmem: KiB used by those sources, KiB of the table
//	authkeys: keys loaded from the keys file
//	pstats: srcadr, srcport, dstadr, dstport, timerec (seconds since the last packet)
//
// Left out (not measured): ss_ver1client, ss_ver1zero, ss_ver1symm,
// total_rbuf, free_rbuf, used_rbuf, rbuf_lowater, io_dropped, io_ignored,
// io_sent, io_wakeups, io_goodwakeups, mru_deepest, mru_mindepth,
// mru_maxage, mru_minage, mru_hashslots, mru_exists, mru_new,
// mru_recycleold, mru_recyclefull, mru_none, mru_oldest_age, authfreek,
// authklookups, authknotfound, authkuncached, authkexpired, auth*crypts,
// auth*fails, timer_overruns, timer_xmts, and for pstats timer, timereach,
// sent, received, badauth, bogusorg, oldpkt, seldisp, selbroken,
// candidate, ntscookies.

// statsTable is a variable table with the statistics names it also
// accepts.
type statsTable struct {
	main  []string
	extra []string
}

var statsSysNames = &statsTable{main: sysVarNames[:], extra: []string{
	"ss_uptime", "ss_reset", "ss_received", "ss_thisver", "ss_oldver", "ss_ver1", "ss_ver1client",
	"ss_ver1zero", "ss_ver1symm", "ss_badformat", "ss_badauth", "ss_declined", "ss_restricted",
	"ss_limited", "ss_kodsent", "ss_processed", "ss_numctlreq",
	"ss_reset_r", "ss_received_r", "ss_thisver_r", "ss_oldver_r", "ss_ver1_r", "ss_ver1client_r",
	"ss_ver1zero_r", "ss_ver1symm_r", "ss_badformat_r", "ss_badauth_r", "ss_declined_r",
	"ss_restricted_r", "ss_limited_r", "ss_kodsent_r", "ss_processed_r",
	"koffset", "kfreq", "kmaxerr", "kesterr", "kstflags", "ktimeconst", "kprecis", "kfreqtol",
	"kppsfreq", "kppsstab", "kppsjitter", "kppscalibdur", "kppscalibs", "kppsjitexc", "kppsstbexc",
	"kppscaliberrs",
	"iostats_reset", "total_rbuf", "free_rbuf", "used_rbuf", "rbuf_lowater", "io_dropped",
	"io_ignored", "io_received", "io_sent", "io_sendfailed", "io_wakeups", "io_goodwakeups",
	"mru_enabled", "mru_hashslots", "mru_depth", "mru_deepest", "mru_maxdepth", "mru_mindepth",
	"mru_maxage", "mru_minage", "mru_mem", "mru_maxmem", "mru_exists", "mru_new", "mru_recycleold",
	"mru_recyclefull", "mru_none", "mru_oldest_age",
	"authreset", "authkeys", "authfreek", "authklookups", "authknotfound", "authkuncached",
	"authkexpired", "authencrypts", "authdecrypts", "authdigestencrypts", "authcmacencrypts",
	"authdigestdecrypts", "authdigestfails", "authcmacdecrypts", "authcmacfails",
	"timerstats_reset", "timer_overruns", "timer_xmts",
}}

var statsPeerNames = &statsTable{main: peerVarNames[:], extra: []string{
	"timerec", "timer", "timereach", "sent", "received", "badauth", "bogusorg", "oldpkt",
	"seldisp", "selbroken", "candidate", "ntscookies",
}}

// hasStatsNames reports whether a variable list names only variables of
// t and at least one statistics variable.
func (c *Control) hasStatsNames(data []byte, t *statsTable) bool {
	extra := false
	for len(data) > 0 {
		var item []byte
		item, data = nextListName(data)
		if len(item) == 0 {
			continue
		}
		if lookupName(t.main, item) >= 0 {
			continue
		}
		if lookupName(t.extra, item) < 0 {
			return false
		}
		extra = true
	}
	return extra
}

// listed marks the requested names of a list that passed hasStatsNames:
// want[i] for t.main[i], wantExtra[j] for t.extra[j].
func listed(data []byte, t *statsTable) (want []bool, wantExtra []bool) {
	want, wantExtra = make([]bool, len(t.main)), make([]bool, len(t.extra))
	for len(data) > 0 {
		var item []byte
		item, data = nextListName(data)
		if i := lookupName(t.main, item); i >= 0 {
			want[i] = true
		} else if j := lookupName(t.extra, item); j >= 0 {
			wantExtra[j] = true
		}
	}
	return want, wantExtra
}

// readSysStats answers a READVAR of system variables that names
// statistics variables: the ordinary ones requested, in table order, then
// the statistics ones the daemon measures.
func (c *Control) readSysStats(h mode6.Header, data []byte, sys *ntpsync.SystemState, now ntp.Timestamp, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	leap, _ := sysLeapStratum(sys)
	want, wantExtra := listed(data, statsSysNames)
	e := &c.enc
	e.Reset(c.text[:0])
	for id, w := range want {
		if w {
			c.putSys(e, id, sys, now)
		}
	}
	x := statsCtx{d: c.stats}
	for j, w := range wantExtra {
		if w {
			x.putSys(e, statsSysNames.extra[j])
		}
	}
	return c.finishVars(mode6.ReplyHeader(h, uint8(leap), SysStatusWord(sys)), send)
}

// readPeerStats is readSysStats for an association (pstats). The peer
// variables the engine does not count (timer, sent, received) are left
// out here rather than sent as zero.
func (c *Control) readPeerStats(h mode6.Header, data []byte, leap uint8, p *ntpsync.PeerState, send func([]byte) error) (ControlOutcome, mode6.ErrorCode) {
	want, wantExtra := listed(data, statsPeerNames)
	e := &c.enc
	e.Reset(c.text[:0])
	for id, w := range want {
		switch {
		case !w:
		case id == pvTimer || id == pvSent || id == pvReceived:
		default:
			c.putPeer(e, id, p)
		}
	}
	for j, w := range wantExtra {
		if w && statsPeerNames.extra[j] == "timerec" && p.Rec != 0 && c.stats != nil {
			now := ntp.TimestampFromTime(c.stats.clock.Now())
			if d := now.Sub(p.Rec); d >= 0 {
				e.Int("timerec", int64(d/time.Second))
			}
		}
	}
	return c.finishVars(mode6.ReplyHeader(h, leap, PeerStatusWord(p)), send)
}

// statsCtx computes the statistics values of one request.
type statsCtx struct {
	d       *Daemon
	now     time.Time
	haveNow bool
	kern    clock.KernelState
	kernOK  int8 // 0 not read, 1 read, -1 unavailable
}

func (x *statsCtx) uptime() int64 {
	if !x.haveNow {
		x.now, x.haveNow = x.d.clock.Now(), true
	}
	return int64(x.now.Sub(x.d.start) / time.Second)
}

func (x *statsCtx) kernel() (*clock.KernelState, bool) {
	if x.kernOK == 0 {
		x.kernOK = -1
		if read := x.d.kernelReader(); read != nil {
			if k, err := read(); err == nil {
				x.kern, x.kernOK = k, 1
			}
		}
	}
	return &x.kern, x.kernOK == 1
}

// kernelReader is how the kernel state is read: from the adjuster or
// clock when it can report it (the Linux clock, the simulated clock of
// tests), else from the kernel when the daemon runs on the system clock
// (also under --no-adjust: reading changes nothing); nil otherwise.
func (d *Daemon) kernelReader() func() (clock.KernelState, error) {
	if kr, ok := d.opts.Adjuster.(clock.KernelReader); ok {
		return kr.KernelState
	}
	if kr, ok := d.clock.(clock.KernelReader); ok {
		return kr.KernelState
	}
	if _, ok := d.clock.(clock.System); ok {
		return clock.ReadKernel
	}
	return nil
}

type atomicCounter = atomic.Uint64

func sum(cs ...*atomicCounter) uint64 {
	var n uint64
	for _, c := range cs {
		n += c.Load()
	}
	return n
}

// putSys appends one statistics variable, or nothing when the daemon does
// not measure it.
func (x *statsCtx) putSys(e *mode6.VarEncoder, name string) {
	d := x.d
	if d == nil {
		return
	}
	m := d.metrics
	u := func(v uint64) { e.Int(name, int64(v)) }
	// rxv counts the datagrams of a version, all modes or (ntp) those
	// other than the control modes 6 and 7, as ntpd counts versions.
	rxv := func(v int, ntpOnly bool) uint64 {
		var n uint64
		for mode := range m.rx {
			if !ntpOnly || mode < 6 {
				n += m.rx[mode][v].Load()
			}
		}
		return n
	}
	switch strings.TrimSuffix(name, "_r") {
	case "ss_uptime", "ss_reset", "iostats_reset", "authreset", "timerstats_reset":
		e.Int(name, x.uptime())
	case "ss_received", "io_received":
		var n uint64
		for v := range 8 {
			n += rxv(v, false)
		}
		u(n)
	case "ss_thisver":
		u(rxv(ntp.VersionCurrent, true))
	case "ss_oldver":
		u(rxv(1, true) + rxv(2, true) + rxv(3, true))
	case "ss_ver1":
		u(rxv(1, true))
	case "ss_badformat":
		u(sum(&m.dropped[dropShort], &m.dropped[dropVersion], &m.dropped[dropMalformed]))
	case "ss_badauth":
		u(m.dropped[dropAuth].Load())
	case "ss_declined":
		u(m.dropped[dropMode].Load())
	case "ss_restricted":
		u(sum(&m.dropped[dropIgnore], &m.dropped[dropNoServe], &m.dropped[dropNoQuery]))
	case "ss_limited":
		u(m.rateLimited.Load())
	case "ss_kodsent":
		u(m.kodSent.Load())
	case "ss_processed":
		u(m.processed.Load())
	case "ss_numctlreq":
		var n uint64
		for o := range m.packets[ntp.ModeControl] {
			n += m.packets[ntp.ModeControl][o].Load()
		}
		u(n)
	case "io_sendfailed":
		u(m.dropped[dropSendError].Load())
	case "authkeys":
		if d.auth != nil {
			e.Int(name, int64(d.auth.keys.Len()))
		}
	case "mru_enabled":
		e.Hex(name, uint64(d.mruEnabled()))
	case "mru_depth":
		if d.mru != nil {
			e.Int(name, int64(d.mru.Len()))
		} else {
			e.Int(name, 0)
		}
	case "mru_maxdepth":
		if d.mru != nil {
			e.Int(name, int64(d.mru.Cap()))
		}
	case "mru_mem":
		if d.mru != nil {
			e.Int(name, int64(d.mru.Len())*int64(unsafe.Sizeof(mruEntry{}))/1024)
		}
	case "mru_maxmem":
		if d.mru != nil {
			e.Int(name, int64(d.mru.Cap())*int64(unsafe.Sizeof(mruEntry{})+4)/1024)
		}
	default:
		if strings.HasPrefix(name, "k") {
			x.putKernel(e, name)
		}
	}
}

// mruEnabled is ntpd's mon_enabled bits: 0x1 monitoring, 0x2 the table
// serves limited/kod restrictions.
func (d *Daemon) mruEnabled() int {
	if d.mru == nil {
		return 0
	}
	v := 0
	if d.monitor {
		v |= 1
	}
	for _, r := range d.cfg.Restrictions {
		if r.Flags.Has(ntpconf.RestrictLimited) || r.Flags.Has(ntpconf.RestrictKOD) {
			v |= 2
			break
		}
	}
	return v
}

func msG(d time.Duration) string { return gfmt(float64(d) / 1e6) }

// gfmt is C's "%g" (6 significant digits), as ntpd prints these values.
func gfmt(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

func (x *statsCtx) putKernel(e *mode6.VarEncoder, name string) {
	k, ok := x.kernel()
	if !ok {
		return
	}
	if strings.HasPrefix(name, "kpps") && k.PPSShift == 0 {
		// no PPS discipline (shift 0): ntpd reports every PPS value as 0
		e.Int(name, 0)
		return
	}
	switch name {
	case "koffset":
		e.Raw(name, msG(k.Offset))
	case "kfreq":
		e.Raw(name, gfmt(k.FrequencyPPM))
	case "kmaxerr":
		e.Raw(name, msG(k.MaxError))
	case "kesterr":
		e.Raw(name, msG(k.EstError))
	case "kstflags":
		e.Quoted(name, KernelStatusText(k.Status))
	case "ktimeconst":
		e.Int(name, k.TimeConstant)
	case "kprecis":
		e.Raw(name, msG(k.Precision))
	case "kfreqtol":
		e.Raw(name, gfmt(k.TolerancePPM))
	case "kppsfreq":
		e.Raw(name, gfmt(k.PPSFreqPPM))
	case "kppsstab":
		e.Raw(name, gfmt(k.PPSStability))
	case "kppsjitter":
		e.Raw(name, msG(k.PPSJitter))
	case "kppscalibdur":
		if k.PPSShift > 0 && k.PPSShift < 62 {
			e.Int(name, int64(1)<<k.PPSShift)
		}
	case "kppscalibs":
		e.Int(name, k.PPSCalCount)
	case "kppsjitexc":
		e.Int(name, k.PPSJitCount)
	case "kppsstbexc":
		e.Int(name, k.PPSStbCount)
	case "kppscaliberrs":
		e.Int(name, k.PPSErrCount)
	}
}

// kernelStatusNames are ntpd's words for the kernel status bits, lowest
// bit first.
var kernelStatusNames = [16]string{"pll", "ppsfreq", "ppstime", "fll", "ins", "del", "unsync", "freqhold",
	"ppssignal", "ppsjitter", "ppswander", "ppserror", "clockerr", "nano", "mode=fll", "src=B"}

// KernelStatusText is the kstflags text: the names of the set bits,
// separated by spaces.
func KernelStatusText(st uint32) string {
	var b strings.Builder
	for i, n := range kernelStatusNames {
		if st&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}
