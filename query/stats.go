package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ntpkit/ntpkit/mode6"
)

// The statistics commands of both ntpq front ends: sysstats, kerninfo,
// iostats, monstats, authinfo, timerstats and pstats. Each is one READVAR
// for a fixed list of variable names, printed as labelled lines. The
// names, labels and layouts below were taken from runs of classic ntpq
// 4.2.8p15 and NTPsec ntpq 1.2.2 against both daemons
// (testdata/stats/README.md).

// statKind says how NTPsec's ntpq shows a variable (classic prints the
// value text as sent, strings unquoted, addresses with their port).
type statKind uint8

const (
	statInt     statKind = iota // number as Python prints it
	statStr                     // string, skipped when empty
	statUptime                  // seconds as [ND ]HH:MM:SS
	statPackets                 // count with a rate against the last uptime
	statAddr                    // address (name unless -n)
	statPort                    // classic: the port of the address before it, not shown
)

type statVar struct {
	name  string
	label string
	kind  statKind
}

// statsCmd describes one statistics command.
type statsCmd struct {
	name string
	help string
	peer bool // pstats: variables of one association
	// classic: request and display order and labels; classic prints
	// each label left-aligned in classicWidth columns and the value with
	// no separator.
	classic       []statVar
	classicWidth  int
	classicHeader bool // "associd=N status=..." line first
	// sec: NTPsec's request and display order; legends as NTPsec pads them.
	sec       []statVar
	secHeader bool
	// sec2 is NTPsec sysstats' second table: each variable and its
	// "_r" twin (since the last reset) in two columns.
	sec2 []statVar
}

// statsCmds are the commands, in the order of the command table.
var statsCmds = []*statsCmd{
	{
		name: "sysstats", help: "display system uptime and packet counts",
		classicWidth: 24,
		classic: []statVar{
			{"ss_uptime", "uptime:", statInt},
			{"ss_reset", "sysstats reset:", statInt},
			{"ss_received", "packets received:", statInt},
			{"ss_thisver", "current version:", statInt},
			{"ss_oldver", "older version:", statInt},
			{"ss_badformat", "bad length or format:", statInt},
			{"ss_badauth", "authentication failed:", statInt},
			{"ss_declined", "declined:", statInt},
			{"ss_restricted", "restricted:", statInt},
			{"ss_limited", "rate limited:", statInt},
			{"ss_kodsent", "KoD responses:", statInt},
			{"ss_processed", "processed for time:", statInt},
		},
		sec: []statVar{
			{"ss_uptime", "uptime:               ", statUptime},
			{"ss_numctlreq", "control requests:     ", statInt},
		},
		sec2: []statVar{
			{"ss_reset", "sysstats reset:       ", statUptime},
			{"ss_received", "packets received:     ", statPackets},
			{"ss_thisver", "current version:      ", statPackets},
			{"ss_oldver", "older version:        ", statPackets},
			{"ss_ver1", "NTPv1 total:          ", statPackets},
			{"ss_ver1client", "NTPv1 clients:        ", statPackets},
			{"ss_ver1zero", "NTPv1 mode0:          ", statPackets},
			{"ss_ver1symm", "NTPv1 symm act:       ", statPackets},
			{"ss_badformat", "bad length or format: ", statPackets},
			{"ss_badauth", "authentication failed:", statPackets},
			{"ss_declined", "declined:             ", statPackets},
			{"ss_restricted", "restricted:           ", statPackets},
			{"ss_limited", "rate limited:         ", statPackets},
			{"ss_kodsent", "KoD responses:        ", statPackets},
			{"ss_processed", "processed for time:   ", statPackets},
		},
	},
	{
		name: "kerninfo", help: "display kernel loop and PPS statistics",
		classicWidth: 23,
		classic: []statVar{
			{"koffset", "pll offset:", statInt},
			{"kfreq", "pll frequency:", statInt},
			{"kmaxerr", "maximum error:", statInt},
			{"kesterr", "estimated error:", statInt},
			{"kstflags", "kernel status:", statStr},
			{"ktimeconst", "pll time constant:", statInt},
			{"kprecis", "precision:", statInt},
			{"kfreqtol", "frequency tolerance:", statInt},
			{"kppsfreq", "pps frequency:", statInt},
			{"kppsstab", "pps stability:", statInt},
			{"kppsjitter", "pps jitter:", statInt},
			{"kppscalibdur", "calibration interval", statInt},
			{"kppscalibs", "calibration cycles:", statInt},
			{"kppsjitexc", "jitter exceeded:", statInt},
			{"kppsstbexc", "stability exceeded:", statInt},
			{"kppscaliberrs", "calibration errors:", statInt},
		},
		classicHeader: true,
		sec: []statVar{
			{"koffset", "pll offset:          ", statInt},
			{"kfreq", "pll frequency:       ", statInt},
			{"kmaxerr", "maximum error:       ", statInt},
			{"kesterr", "estimated error:     ", statInt},
			{"kstflags", "kernel status:       ", statStr},
			{"ktimeconst", "pll time constant:   ", statInt},
			{"kprecis", "precision:           ", statInt},
			{"kfreqtol", "frequency tolerance: ", statInt},
			{"kppsfreq", "pps frequency:       ", statInt},
			{"kppsstab", "pps stability:       ", statInt},
			{"kppsjitter", "pps jitter:          ", statInt},
			{"kppscalibdur", "calibration interval ", statInt},
			{"kppscalibs", "calibration cycles:  ", statInt},
			{"kppsjitexc", "jitter exceeded:     ", statInt},
			{"kppsstbexc", "stability exceeded:  ", statInt},
			{"kppscaliberrs", "calibration errors:  ", statInt},
		},
		secHeader: true,
	},
	{
		name: "iostats", help: "display network input and output counters",
		classicWidth: 24,
		classic: []statVar{
			{"iostats_reset", "time since reset:", statInt},
			{"total_rbuf", "receive buffers:", statInt},
			{"free_rbuf", "free receive buffers:", statInt},
			{"used_rbuf", "used receive buffers:", statInt},
			{"rbuf_lowater", "low water refills:", statInt},
			{"io_dropped", "dropped packets:", statInt},
			{"io_ignored", "ignored packets:", statInt},
			{"io_received", "received packets:", statInt},
			{"io_sent", "packets sent:", statInt},
			{"io_sendfailed", "packet send failures:", statInt},
			{"io_wakeups", "input wakeups:", statInt},
			{"io_goodwakeups", "useful input wakeups:", statInt},
		},
		sec: []statVar{
			{"iostats_reset", "time since reset:     ", statUptime},
			{"total_rbuf", "receive buffers:      ", statInt},
			{"free_rbuf", "free receive buffers: ", statInt},
			{"used_rbuf", "used receive buffers: ", statInt},
			{"rbuf_lowater", "low water refills:    ", statInt},
			{"io_dropped", "dropped packets:      ", statPackets},
			{"io_ignored", "ignored packets:      ", statPackets},
			{"io_received", "received packets:     ", statPackets},
			{"io_sent", "packets sent:         ", statPackets},
			{"io_sendfailed", "packet send failures: ", statPackets},
			{"io_wakeups", "input wakeups:        ", statInt},
			{"io_goodwakeups", "useful input wakeups: ", statInt},
		},
	},
	{
		name: "monstats", help: "display monitor (mrulist) counters and limits",
		classicWidth: 22,
		classic: []statVar{
			{"mru_enabled", "enabled:", statInt},
			{"mru_depth", "addresses:", statInt},
			{"mru_deepest", "peak addresses:", statInt},
			{"mru_maxdepth", "maximum addresses:", statInt},
			{"mru_mindepth", "reclaim above count:", statInt},
			{"mru_maxage", "reclaim older than:", statInt},
			{"mru_mem", "kilobytes:", statInt},
			{"mru_maxmem", "maximum kilobytes:", statInt},
		},
		sec: []statVar{
			{"mru_enabled", "enabled:              ", statInt},
			{"mru_hashslots", "hash slots in use:    ", statInt},
			{"mru_depth", "addresses in use:     ", statInt},
			{"mru_deepest", "peak addresses:       ", statInt},
			{"mru_maxdepth", "maximum addresses:    ", statInt},
			{"mru_mindepth", "reclaim above count:  ", statInt},
			{"mru_maxage", "reclaim maxage:       ", statUptime},
			{"mru_minage", "reclaim minage:       ", statUptime},
			{"mru_mem", "kilobytes:            ", statInt},
			{"mru_maxmem", "maximum kilobytes:    ", statInt},
			{"mru_exists", "alloc: exists:        ", statInt},
			{"mru_new", "alloc: new:           ", statInt},
			{"mru_recycleold", "alloc: recycle old:   ", statInt},
			{"mru_recyclefull", "alloc: recycle full:  ", statInt},
			{"mru_none", "alloc: none:          ", statInt},
			{"mru_oldest_age", "age of oldest slot:   ", statUptime},
		},
	},
	{
		name: "authinfo", help: "display symmetric authentication counters",
		classicWidth: 19,
		classic: []statVar{
			{"authreset", "time since reset:", statInt},
			{"authkeys", "stored keys:", statInt},
			{"authfreek", "free keys:", statInt},
			{"authklookups", "key lookups:", statInt},
			{"authknotfound", "keys not found:", statInt},
			{"authkuncached", "uncached keys:", statInt},
			{"authkexpired", "expired keys:", statInt},
			{"authencrypts", "encryptions:", statInt},
			{"authdecrypts", "decryptions:", statInt},
		},
		sec: []statVar{
			{"authreset", "time since reset:    ", statUptime},
			{"authkeys", "stored keys:         ", statInt},
			{"authfreek", "free keys:           ", statInt},
			{"authklookups", "key lookups:         ", statInt},
			{"authknotfound", "keys not found:      ", statInt},
			{"authencrypts", "encryptions:         ", statPackets},
			{"authdigestencrypts", "digest encryptions:  ", statPackets},
			{"authcmacencrypts", "CMAC encryptions:    ", statPackets},
			{"authdecrypts", "decryptions:         ", statPackets},
			{"authdigestdecrypts", "digest decryptions:  ", statPackets},
			{"authdigestfails", "digest failures:     ", statPackets},
			{"authcmacdecrypts", "CMAC decryptions:    ", statPackets},
			{"authcmacfails", "CMAC failures:       ", statPackets},
			{"authkuncached", "uncached keys:       ", statInt},
			{"authkexpired", "expired keys:        ", statInt},
		},
	},
	{
		name: "timerstats", help: "display interval timer counters",
		classicWidth: 21,
		classic: []statVar{
			{"timerstats_reset", "time since reset:", statInt},
			{"timer_overruns", "timer overruns:", statInt},
			{"timer_xmts", "calls to transmit:", statInt},
		},
		sec: []statVar{
			{"timerstats_reset", "time since reset:  ", statUptime},
			{"timer_overruns", "timer overruns:    ", statInt},
			{"timer_xmts", "calls to transmit: ", statInt},
		},
	},
	{
		name: "pstats", help: "show statistics for a peer", peer: true,
		classicWidth: 23,
		classic: []statVar{
			{"srcadr", "remote host:", statAddr},
			{"srcport", "", statPort},
			{"dstadr", "local address:", statAddr},
			{"dstport", "", statPort},
			{"timerec", "time last received:", statInt},
			{"timer", "time until next send:", statInt},
			{"timereach", "reachability change:", statInt},
			{"sent", "packets sent:", statInt},
			{"received", "packets received:", statInt},
			{"badauth", "bad authentication:", statInt},
			{"bogusorg", "bogus origin:", statInt},
			{"oldpkt", "duplicate:", statInt},
			{"seldisp", "bad dispersion:", statInt},
			{"selbroken", "bad reference time:", statInt},
			{"candidate", "candidate order:", statInt},
		},
		classicHeader: true,
		sec: []statVar{
			{"srcadr", "remote host:          ", statAddr},
			{"dstadr", "local address:        ", statAddr},
			{"timerec", "time last received:   ", statUptime},
			{"timer", "time until next send: ", statUptime},
			{"timereach", "reachability change:  ", statInt},
			{"sent", "packets sent:         ", statInt},
			{"received", "packets received:     ", statInt},
			{"badauth", "bad authentication:   ", statInt},
			{"bogusorg", "bogus origin:         ", statInt},
			{"oldpkt", "duplicate:            ", statInt},
			{"seldisp", "bad dispersion:       ", statInt},
			{"selbroken", "bad reference time:   ", statInt},
			{"candidate", "candidate order:      ", statInt},
			{"ntscookies", "count of nts cookies: ", statInt},
		},
		secHeader: true,
	},
}

// StatsCommands lists the statistics commands (for help and completion).
func StatsCommands() []string {
	out := make([]string, len(statsCmds))
	for i, c := range statsCmds {
		out[i] = c.name
	}
	return out
}

// StatsVarNames lists every variable name the statistics commands of
// either front end ask for (with NTPsec's "_r" twins): what a daemon that
// serves them should know.
func StatsVarNames() []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, c := range statsCmds {
		for _, v := range c.classic {
			add(v.name)
		}
		for _, v := range c.sec {
			add(v.name)
		}
		for _, v := range c.sec2 {
			add(v.name)
			add(v.name + "_r")
		}
	}
	return out
}

func findStatsCmd(name string) *statsCmd {
	for _, c := range statsCmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

// statsCommands are the statistics commands' entries in the interpreter's
// command table (see interp.go's init).
func statsCommands() []command {
	out := make([]command, 0, len(statsCmds))
	for _, c := range statsCmds {
		out = append(out, command{c.name, (*Interp).cmdStats, c.help})
	}
	return out
}

func names(vs []statVar) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.name)
	}
	return out
}

// StatsValues is what a statistics request returned: the status word of
// the (last) response and the variables by name. Missing holds the names
// the daemon said it does not know (UNKNOWNVAR) when they were asked one
// at a time.
type StatsValues struct {
	Status  uint16
	Vars    map[string]string // raw value text as sent
	Order   []string          // names in the daemon's order
	Missing map[string]bool
	// OneByOne is set when the list was refused and the names were asked
	// one at a time.
	OneByOne bool
	// Last is the data of the last response as sent (empty after an
	// error response): what NTPsec's ntpq prints in raw mode.
	Last []byte
}

func (sv *StatsValues) add(vars []mode6.Var) {
	for _, v := range vars {
		if _, ok := sv.Vars[v.Name]; !ok {
			sv.Order = append(sv.Order, v.Name)
		}
		sv.Vars[v.Name] = v.Value
	}
}

// FetchStats asks for the variables in one READVAR. When the daemon
// refuses the list with UNKNOWNVAR and oneByOne is set, it asks for each
// name on its own, as NTPsec's ntpq does, and records the unknown ones in
// Missing; warn (if not nil) is called once before. Other errors end the
// fetch.
func FetchStats(ctx context.Context, s *Session, assoc uint16, list []string, oneByOne bool, warn func()) (*StatsValues, error) {
	sv := &StatsValues{Vars: map[string]string{}, Missing: map[string]bool{}}
	r, err := s.ReadVar(ctx, assoc, strings.Join(list, ","))
	var se *mode6.ServerError
	switch {
	case err == nil:
		sv.Status, sv.Last = r.Status, r.Data
		vars, _ := mode6.Tokenize(r.Data)
		sv.add(vars)
		return sv, nil
	case !oneByOne || !errors.As(err, &se) || se.Code != mode6.ErrCodeUnknownVar:
		return nil, err
	}
	if warn != nil {
		warn()
	}
	sv.OneByOne = true
	for _, n := range list {
		one, err := s.ReadVar(ctx, assoc, n)
		if err != nil {
			if errors.As(err, &se) && se.Code == mode6.ErrCodeUnknownVar {
				sv.Missing[n] = true
				sv.Last = nil
				continue
			}
			return nil, err
		}
		sv.Status, sv.Last = one.Status, one.Data
		vars, _ := mode6.Tokenize(one.Data)
		sv.add(vars)
	}
	return sv, nil
}

// cmdStats runs one statistics command.
func (in *Interp) cmdStats(ctx context.Context, name string, args []string) {
	sc := findStatsCmd(name)
	if sc == nil || !in.needSession() {
		return
	}
	sec := in.cfg.Style == StyleNTPsec
	var assoc uint16
	if sc.peer {
		if len(args) == 0 {
			io.WriteString(in.cfg.Stderr, "usage: pstats assocID\n")
			return
		}
		var ok bool
		if sec && !in.cfg.JSON {
			assoc, ok = in.secAssocArg(ctx, name, args[0])
		} else {
			assoc, ok = in.assocArg(ctx, args[0])
		}
		if !ok {
			return
		}
	}
	switch {
	case in.cfg.JSON:
		in.statsJSON(ctx, sc, assoc)
	case sec:
		in.secStats(ctx, sc, assoc)
	default:
		sv, err := FetchStats(ctx, in.sess, assoc, names(sc.classic), false, nil)
		if err != nil {
			in.report(name, err, assoc)
			return
		}
		o := in.renderOpts()
		if sc.peer && !in.cfg.Numeric {
			var addrs []string
			for _, n := range []string{"srcadr", "dstadr"} {
				if v, ok := sv.Vars[n]; ok {
					addrs = append(addrs, v)
				}
			}
			o.Names = in.resolve(ctx, addrs)
		}
		io.WriteString(in.cfg.Stdout, ClassicStats(sc.name, assoc, sv, o))
	}
}

// secAssocArg is NTPsec's check of an association argument: a number or
// &N, which must be in the daemon's association list (READSTAT).
func (in *Interp) secAssocArg(ctx context.Context, view, s string) (uint16, bool) {
	sys, l, err := in.sess.ReadStat(ctx)
	if err != nil {
		in.report(view, err, 0)
		return 0, false
	}
	in.assocs, in.sys = l, sys
	if idx, ok := strings.CutPrefix(s, "&"); ok {
		f := strings.Fields(idx)
		n, err := strconv.Atoi(firstOr(f))
		switch {
		case err != nil:
			io.WriteString(in.cfg.Stderr, "Invalid index literal.\n")
			return 0, false
		case n < 0 || n >= 1<<16-1:
			fmt.Fprintf(in.cfg.Stderr, "%d is not a valid association number.\n", n)
			return 0, false
		case n < 1 || n > len(l):
			fmt.Fprintf(in.cfg.Stderr, "No such association as %d.\n", n)
			return 0, false
		}
		return l[n-1].AssocID, true
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		io.WriteString(in.cfg.Stderr, "Invalid associd literal.\n")
		return 0, false
	}
	for _, a := range l {
		if int(a.AssocID) == v {
			return a.AssocID, true
		}
	}
	io.WriteString(in.cfg.Stderr, "Unknown associd.\n")
	return 0, false
}

func firstOr(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// ClassicStats renders a statistics command as classic ntpq does: the
// status line for kerninfo and pstats, then one line per variable the
// daemon sent, label and value text (strings unquoted; addresses with the
// port of the following variable, names unless -n, refclocks by name).
func ClassicStats(cmd string, assoc uint16, sv *StatsValues, o RenderOptions) string {
	sc := findStatsCmd(cmd)
	if sc == nil {
		return ""
	}
	var b strings.Builder
	if sc.classicHeader {
		kind := VarsSystem
		if sc.peer {
			kind = VarsPeer
		}
		fmt.Fprintf(&b, "associd=%d status=%04x %s,\n", assoc, sv.Status, StatusText(kind, sv.Status))
	}
	for i, v := range sc.classic {
		if v.kind == statPort {
			continue
		}
		val, ok := sv.Vars[v.name]
		switch v.kind {
		case statAddr:
			port := ""
			if i+1 < len(sc.classic) && sc.classic[i+1].kind == statPort {
				port = sv.Vars[sc.classic[i+1].name]
			}
			val = classicAddrPort(val, ok, port, o)
		case statStr:
			if !ok {
				continue
			}
			val = mode6.Unquote(val)
		default:
			if !ok {
				continue
			}
		}
		fmt.Fprintf(&b, "%-*s%s\n", sc.classicWidth, v.label, val)
	}
	return b.String()
}

// classicAddrPort is classic ntpq's address with port: the port sent (123
// when the address came without one; an absent address is 0.0.0.0:0), the
// name of the address unless -n, a reference clock's name without port.
func classicAddrPort(addr string, have bool, port string, o RenderOptions) string {
	if !have || strings.TrimSpace(addr) == "" {
		return "0.0.0.0:0"
	}
	if port == "" {
		port = "123"
	}
	if !o.Numeric {
		if n, ok := refclockName(addr); ok {
			return n
		}
		if n, ok := o.Names[addr]; ok {
			return n + ":" + port
		}
	}
	return addr + ":" + port
}

// secStats renders a statistics command as NTPsec's ntpq does.
func (in *Interp) secStats(ctx context.Context, sc *statsCmd, assoc uint16) {
	o := in.renderOpts()
	var b strings.Builder
	ok := in.secCollect(ctx, &b, sc, sc.sec, assoc, sc.secHeader, o)
	if ok && sc.sec2 != nil {
		in.secCollect2(ctx, &b, sc, o)
	}
	io.WriteString(in.cfg.Stdout, b.String())
}

func (in *Interp) secWarn() {
	io.WriteString(in.cfg.Stderr, "Unknown variable.  Trying one at a time.\n")
}

// secCollect is NTPsec ntpq's collect_display: one READVAR for the list,
// or one name at a time after UNKNOWNVAR ("?" for those the daemon does
// not know); variables the daemon did not send are skipped.
func (in *Interp) secCollect(ctx context.Context, b *strings.Builder, sc *statsCmd, vars []statVar, assoc uint16, header bool, o RenderOptions) bool {
	sv, err := FetchStats(ctx, in.sess, assoc, names(vars), true, in.secWarn)
	if err != nil {
		io.WriteString(in.cfg.Stdout, b.String())
		b.Reset()
		in.report(sc.name, err, assoc)
		return false
	}
	if in.raw {
		b.Write(sv.Last) // raw mode: the response text as sent, nothing else
		return true
	}
	if header {
		kind := VarsSystem
		if assoc != 0 {
			kind = VarsPeer
		}
		fmt.Fprintf(b, "associd=%d status=%04x %s,\n", assoc, sv.Status, StatusText(kind, sv.Status))
	}
	if sc.peer && !in.cfg.Numeric {
		var addrs []string
		for _, v := range vars {
			if a, ok := sv.Vars[v.name]; ok && v.kind == statAddr {
				addrs = append(addrs, a)
			}
		}
		o.Names = in.resolve(ctx, addrs)
	}
	run := pyValue{kind: pyInt, i: 1}
	for _, v := range vars {
		raw, ok := sv.Vars[v.name]
		var val pyValue
		switch {
		case ok:
			val = pyParse(raw)
		case sv.Missing[v.name]:
			val = pyValue{kind: pyStr, s: "?"} // NTPsec keeps the first character of "???"
		default:
			continue
		}
		switch v.kind {
		case statAddr:
			s := val.String()
			if !in.cfg.Numeric {
				if n, ok := o.Names[s]; ok {
					s = n
				}
			}
			fmt.Fprintf(b, "%13s %13s\n", v.label, s)
		case statStr:
			if val.truthy() {
				fmt.Fprintf(b, "%13s %13s\n", v.label, val.String())
			}
		case statUptime:
			var disp string
			run, disp = periodize(val)
			fmt.Fprintf(b, "%-13s %13s\n", v.label, disp)
		case statPackets:
			p := packetize(val, run)
			fmt.Fprintf(b, "%-13s %13s %10s%-3s\n", v.label, p[0], p[1], p[2])
		default:
			s := val.String()
			if in.cfg.Units && ok {
				// -u: the value text as sent, with a unit for the
				// millisecond variables (NTPsec's unitifyvar)
				s = strings.TrimSpace(raw)
				if secMSVar(v.name) {
					s = secUnitify(s)
				}
			}
			fmt.Fprintf(b, "%13s %13s\n", v.label, s)
		}
	}
	return true
}

// secMSVar reports whether NTPsec's -u shows the statistics variable with a unit
// (its list of millisecond variables).
func secMSVar(name string) bool {
	switch name {
	case "koffset", "kmaxerr", "kesterr", "kprecis", "kppsjitter":
		return true
	}
	return false
}

// secCollect2 is NTPsec ntpq's collect_display2 (the second part of
// sysstats): every variable and its "_r" twin side by side, with rates.
func (in *Interp) secCollect2(ctx context.Context, b *strings.Builder, sc *statsCmd, o RenderOptions) {
	list := names(sc.sec2)
	for _, v := range sc.sec2 {
		list = append(list, v.name+"_r")
	}
	sv, err := FetchStats(ctx, in.sess, 0, list, true, in.secWarn)
	if err != nil {
		io.WriteString(in.cfg.Stdout, b.String())
		b.Reset()
		in.report(sc.name, err, 0)
		return
	}
	if in.raw {
		b.Write(sv.Last)
		return
	}
	missing := pyValue{kind: pyStr, s: "???"}
	get := func(n string) (pyValue, bool) {
		if raw, ok := sv.Vars[n]; ok {
			return pyParse(raw), true
		}
		if sv.Missing[n] {
			return missing, true
		}
		return pyValue{}, false
	}
	runs, runl := pyValue{}, pyValue{}
	for _, v := range sc.sec2 {
		val, ok := get(v.name)
		if !ok {
			continue
		}
		val2, ok := get(v.name + "_r")
		if !ok {
			// NTPsec's ntpq fails here (KeyError); show the twin as unknown.
			val2 = missing
		}
		switch v.kind {
		case statUptime:
			var d1, d2 string
			runs, d1 = periodize(val)
			runl, d2 = periodize(val2)
			fmt.Fprintf(b, "%-13s %13s %13s\n", v.label, d1, d2)
		case statPackets:
			p1, p2 := packetize(val, runs), packetize(val2, runl)
			fmt.Fprintf(b, "%-13s %13s %13s %10s%-3s %10s%-3s\n", v.label, p1[0], p2[0], p1[1], p1[2], p2[1], p2[2])
		default:
			fmt.Fprintf(b, "%-13s %13s %13s\n", v.label, val.String(), val2.String())
		}
	}
}
