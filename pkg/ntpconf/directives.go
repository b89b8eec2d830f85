package ntpconf

import (
	"fmt"
	"math/bits"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// handler parses the arguments of one directive. It returns the line's
// (first) error; nothing of a bad line is applied to the Config.
type handler func(p *parser, pos Pos, c *cursor) error

var directives map[string]handler

func init() {
	directives = map[string]handler{
		"server":      assocHandler(KindServer),
		"peer":        assocHandler(KindPeer),
		"pool":        assocHandler(KindPool),
		"refclock":    parseRefclock,
		"fudge":       parseFudge,
		"restrict":    parseRestrict,
		"discard":     parseDiscard,
		"driftfile":   parseDriftFile,
		"logfile":     pathHandler(func(c *Config) *string { return &c.LogFile }),
		"leapfile":    pathHandler(func(c *Config) *string { return &c.LeapFile }),
		"keys":        pathHandler(func(c *Config) *string { return &c.Keys }),
		"statsdir":    pathHandler(func(c *Config) *string { return &c.StatsDir }),
		"enable":      flagsHandler(true),
		"disable":     flagsHandler(false),
		"trustedkey":  parseTrustedKey,
		"controlkey":  keyHandler(func(c *Config) *int { return &c.ControlKey }),
		"requestkey":  keyHandler(func(c *Config) *int { return &c.RequestKey }),
		"includefile": parseInclude,
		"interface":   parseInterface,
		"nic":         parseInterface,
		"tos":         parseTos,
		"filegen":     parseFileGen,
		"statistics":  parseStatistics,
	}
}

const maxKeyID = 65535

// family parses an optional "-4" or "-6".
func family(c *cursor) Family {
	switch k, _ := c.keyword(); k {
	case "-4":
		c.next()
		return FamilyV4
	case "-6":
		c.next()
		return FamilyV6
	}
	return FamilyAny
}

func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return FamilyV4
	}
	return FamilyV6
}

// checkHost validates an address or host name as written.
func checkHost(dir, s string) error {
	bad := fmt.Errorf("%s: expected an IP address or host name, got %q", dir, s)
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if s == "" || len(s) > 253 || s[0] == '-' || s[0] == '.' || strings.Contains(s, "..") {
		return bad
	}
	digitsDots := true
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= '0' && ch <= '9', ch == '.':
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch == '-', ch == '_':
			digitsDots = false
		default:
			return bad // includes ':' of a malformed IPv6 address
		}
	}
	if digitsDots {
		return bad // a malformed IPv4 address, not a name
	}
	return nil
}

func assocHandler(kind Kind) handler {
	return func(p *parser, pos Pos, c *cursor) error {
		a := Association{Kind: kind, MinPoll: DefaultMinPoll, MaxPoll: DefaultMaxPoll, Version: 4, Pos: pos}
		a.Family = family(c)
		addr, err := c.strArg(c.dir, "an IP address or host name")
		if err != nil {
			return err
		}
		if err := checkHost(c.dir, addr); err != nil {
			return err
		}
		a.Address = addr
		if ip, err := netip.ParseAddr(addr); err == nil && a.Family != FamilyAny && familyOf(ip) != a.Family {
			return fmt.Errorf("%s: address %s is not %s as required by -%d", c.dir, addr, a.Family, a.Family)
		}
		if typ, unit, ok := refclockAddr(addr); ok {
			if kind != KindServer {
				return fmt.Errorf("%s: refclock address %s: expected a server line", c.dir, addr)
			}
			a.IsRefclock, a.RefclockType, a.RefclockUnit = true, typ, unit
		}
		var minSet, maxSet bool
		for c.more() {
			k, ok := c.keyword()
			t := c.next()
			if !ok {
				return fmt.Errorf("%s: unknown option %s, expected iburst, burst, prefer, noselect, minpoll N, maxpoll N, key N or version N", c.dir, got(t))
			}
			switch k {
			case "iburst":
				a.Iburst = true
			case "burst":
				a.Burst = true
			case "prefer":
				a.Prefer = true
			case "noselect":
				a.NoSelect = true
			case "minpoll":
				if a.MinPoll, err = c.intArg(k, MinPollLimit, MaxPollLimit); err != nil {
					return err
				}
				minSet = true
			case "maxpoll":
				if a.MaxPoll, err = c.intArg(k, MinPollLimit, MaxPollLimit); err != nil {
					return err
				}
				maxSet = true
			case "key":
				if a.Key, err = c.intArg(k, 1, maxKeyID); err != nil {
					return err
				}
			case "version":
				if a.Version, err = c.intArg(k, 1, 4); err != nil {
					return err
				}
			case "true", "xleave", "preempt", "autokey", "nts":
				a.Ignored = append(a.Ignored, k)
				p.warnf(pos, "%s: option %q accepted but ignored", c.dir, k)
			case "ttl", "mode":
				n, err := c.intArg(k, 0, 255)
				if err != nil {
					return err
				}
				a.Ignored = append(a.Ignored, k+" "+strconv.Itoa(n))
				p.warnf(pos, "%s: option %q accepted but ignored", c.dir, k)
			default:
				return fmt.Errorf("%s: unknown option %s, expected iburst, burst, prefer, noselect, minpoll N, maxpoll N, key N or version N", c.dir, got(t))
			}
		}
		if err := fixPoll(&a.MinPoll, &a.MaxPoll, minSet, maxSet); err != nil {
			return err
		}
		key := a.Kind.String() + " " + a.Address
		if old, dup := p.seen[key]; dup {
			p.warnf(pos, "%s: duplicate of %s at %s", c.dir, a.Address, old)
		} else {
			p.seen[key] = pos
		}
		p.cfg.Servers = append(p.cfg.Servers, a)
		return nil
	}
}

// fixPoll checks minpoll <= maxpoll. When only one was given and it
// conflicts with the other's default, the default follows it.
func fixPoll(minp, maxp *int, minSet, maxSet bool) error {
	if *minp <= *maxp {
		return nil
	}
	switch {
	case minSet && maxSet:
		return fmt.Errorf("maxpoll: expected at least minpoll %d, got %d", *minp, *maxp)
	case minSet:
		*maxp = *minp
	default:
		*minp = *maxp
	}
	return nil
}

// refclockTypes maps NTPsec refclock driver names to classic type numbers.
var refclockTypes = map[string]int{
	"local": 1, "spectracom": 4, "truetime": 5, "generic": 8, "arbiter": 11,
	"modem": 18, "nmea": 20, "pps": 22, "hpgps": 26, "shm": 28, "trimble": 29,
	"oncore": 30, "jjy": 40, "zyfer": 42, "neoclock": 44, "gpsd": 46,
}

// parseRefclock handles NTPsec's "refclock NAME [unit N] [options]".
func parseRefclock(p *parser, pos Pos, c *cursor) error {
	t := c.next()
	typ, ok := 0, false
	if t != nil && !t.quoted {
		typ, ok = refclockTypes[t.s]
	}
	if !ok {
		names := make([]string, 0, len(refclockTypes))
		for n := range refclockTypes {
			names = append(names, n)
		}
		slices.Sort(names)
		return fmt.Errorf("refclock: expected a driver name (%s), got %s", strings.Join(names, ", "), got(t))
	}
	a := Association{Kind: KindServer, IsRefclock: true, RefclockType: typ,
		MinPoll: DefaultMinPoll, MaxPoll: DefaultMaxPoll, Version: 4, Pos: pos}
	f := Fudge{Type: typ, Pos: pos}
	hasFudge := false
	var err error
	var minSet, maxSet bool
	for c.more() {
		k, ok := c.keyword()
		t := c.next()
		if !ok {
			return fmt.Errorf("refclock: unknown option %s", got(t))
		}
		switch k {
		case "unit":
			if a.RefclockUnit, err = c.intArg(k, 0, 255); err != nil {
				return err
			}
		case "prefer":
			a.Prefer = true
		case "noselect":
			a.NoSelect = true
		case "iburst":
			a.Iburst = true
		case "burst":
			a.Burst = true
		case "minpoll":
			if a.MinPoll, err = c.intArg(k, MinPollLimit, MaxPollLimit); err != nil {
				return err
			}
			minSet = true
		case "maxpoll":
			if a.MaxPoll, err = c.intArg(k, MinPollLimit, MaxPollLimit); err != nil {
				return err
			}
			maxSet = true
		case "subtype", "mode", "baud":
			n, err := c.intArg(k, 0, 1<<30)
			if err != nil {
				return err
			}
			a.Ignored = append(a.Ignored, k+" "+strconv.Itoa(n))
			p.warnf(pos, "refclock: option %q accepted but ignored", k)
		case "path", "ppspath":
			s, err := c.strArg(k, "a device path")
			if err != nil {
				return err
			}
			a.Ignored = append(a.Ignored, k+" "+s)
			p.warnf(pos, "refclock: option %q accepted but ignored", k)
		default:
			c.i-- // back to the option name
			handled, err := fudgeOption(&f, c)
			if err != nil {
				return fmt.Errorf("refclock: %w", err)
			}
			if !handled {
				return fmt.Errorf("refclock: unknown option %s, expected unit N, prefer, noselect, minpoll N, maxpoll N, stratum N, refid ID, time1 X, time2 X or flag1..flag4 0|1", got(t))
			}
			hasFudge = true
		}
	}
	if err := fixPoll(&a.MinPoll, &a.MaxPoll, minSet, maxSet); err != nil {
		return err
	}
	a.Address = RefclockAddress(typ, a.RefclockUnit)
	p.cfg.Servers = append(p.cfg.Servers, a)
	if hasFudge {
		f.Address, f.Unit = a.Address, a.RefclockUnit
		p.mergeFudge(f)
	}
	return nil
}

// fudgeOption parses one fudge option at the cursor. It reports false,
// consuming nothing, if the next token is not a fudge option.
func fudgeOption(f *Fudge, c *cursor) (bool, error) {
	k, ok := c.keyword()
	if !ok {
		return false, nil
	}
	switch k {
	case "stratum":
		c.next()
		n, err := c.intArg(k, 0, 15)
		if err != nil {
			return true, err
		}
		f.Stratum = &n
	case "refid":
		c.next()
		t := c.next()
		if t == nil || len(t.s) < 1 || len(t.s) > 4 {
			return true, fmt.Errorf("refid: expected 1 to 4 characters, got %s", got(t))
		}
		f.RefID = t.s
	case "time1", "time2":
		c.next()
		x, err := c.floatArg(k, -86400, 86400)
		if err != nil {
			return true, err
		}
		if k == "time1" {
			f.Time1 = &x
		} else {
			f.Time2 = &x
		}
	case "flag1", "flag2", "flag3", "flag4":
		c.next()
		b, err := c.boolArg(k)
		if err != nil {
			return true, err
		}
		f.Flags[k[4]-'1'] = &b
	default:
		return false, nil
	}
	return true, nil
}

// mergeFudge adds f, or merges it into the earlier entry for its clock.
func (p *parser) mergeFudge(f Fudge) {
	i, ok := p.fudgeIdx[f.Address]
	if !ok {
		p.fudgeIdx[f.Address] = len(p.cfg.Fudges)
		p.cfg.Fudges = append(p.cfg.Fudges, f)
		return
	}
	old := &p.cfg.Fudges[i]
	if f.Stratum != nil {
		old.Stratum = f.Stratum
	}
	if f.RefID != "" {
		old.RefID = f.RefID
	}
	if f.Time1 != nil {
		old.Time1 = f.Time1
	}
	if f.Time2 != nil {
		old.Time2 = f.Time2
	}
	for i, b := range f.Flags {
		if b != nil {
			old.Flags[i] = b
		}
	}
}

func parseFudge(p *parser, pos Pos, c *cursor) error {
	t := c.next()
	if t == nil {
		return fmt.Errorf("fudge: expected a refclock address 127.127.t.u, got end of line")
	}
	typ, unit, ok := refclockAddr(t.s)
	if !ok {
		return fmt.Errorf("fudge: expected a refclock address 127.127.t.u, got %q", t.s)
	}
	f := Fudge{Address: RefclockAddress(typ, unit), Type: typ, Unit: unit, Pos: pos}
	if !c.more() {
		return fmt.Errorf("fudge: expected an option (stratum N, refid ID, time1 X, time2 X, flag1..flag4 0|1), got end of line")
	}
	for c.more() {
		handled, err := fudgeOption(&f, c)
		if err != nil {
			return err
		}
		if !handled {
			return fmt.Errorf("fudge: unknown option %s, expected stratum N, refid ID, time1 X, time2 X or flag1..flag4 0|1", got(c.peek()))
		}
	}
	p.mergeFudge(f)
	return nil
}

// maskBits returns the prefix length of a contiguous netmask.
func maskBits(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	n := 0
	for i, x := range b {
		if x == 0xff {
			n += 8
			continue
		}
		ones := bits.LeadingZeros8(^x)
		if x != byte(0xff<<(8-ones)) {
			return 0, false
		}
		n += ones
		for _, y := range b[i+1:] {
			if y != 0 {
				return 0, false
			}
		}
		break
	}
	return n, true
}

func parseRestrict(p *parser, pos Pos, c *cursor) error {
	r := Restrict{Pos: pos, Family: family(c)}
	t := c.next()
	if t == nil {
		return fmt.Errorf("restrict: expected default, source, an address or a host name, got end of line")
	}
	var addr netip.Addr
	switch {
	case !t.quoted && t.s == "default":
		r.Default = true
	case !t.quoted && t.s == "source":
		r.Source = true
	case strings.Contains(t.s, "/"):
		pfx, err := netip.ParsePrefix(t.s)
		if err != nil {
			return fmt.Errorf("restrict: expected an address/prefix like 192.0.2.0/24, got %q", t.s)
		}
		r.Prefix = pfx.Masked()
	default:
		if err := checkHost("restrict", t.s); err != nil {
			return err
		}
		if a, err := netip.ParseAddr(t.s); err == nil {
			addr = a.WithZone("")
			r.Prefix = netip.PrefixFrom(addr, addr.BitLen())
		} else {
			r.Host = t.s
		}
	}
	if r.Prefix.IsValid() && r.Prefix.Addr().Is4In6() && r.Prefix.Bits() >= 96 {
		// lookups unmap IPv4-mapped addresses, so store these as IPv4
		r.Prefix = netip.PrefixFrom(r.Prefix.Addr().Unmap(), r.Prefix.Bits()-96)
	}
	if r.Prefix.IsValid() {
		addr = r.Prefix.Addr()
		if r.Family != FamilyAny && familyOf(addr) != r.Family {
			return fmt.Errorf("restrict: address %s is not %s as required by -%d", t.s, r.Family, r.Family)
		}
	}
	for c.more() {
		k, ok := c.keyword()
		t := c.next()
		if !ok {
			return fmt.Errorf("restrict: unknown flag %s", got(t))
		}
		if f, ok := restrictFlagByName(k); ok {
			r.Flags |= f
			continue
		}
		switch k {
		case "mask":
			mt := c.next()
			if r.Default || r.Source {
				return fmt.Errorf("mask: not allowed with restrict %s", map[bool]string{true: "default", false: "source"}[r.Default])
			}
			if mt == nil {
				return fmt.Errorf("mask: expected a netmask like 255.255.255.0, got end of line")
			}
			m, err := netip.ParseAddr(mt.s)
			n, contiguous := 0, false
			if err == nil && m.Zone() == "" {
				n, contiguous = maskBits(m)
			}
			if !contiguous {
				return fmt.Errorf("mask: expected a contiguous netmask like 255.255.255.0 or ffff:ffff::, got %q", mt.s)
			}
			if r.Prefix.IsValid() {
				if m.Is4() != addr.Is4() {
					return fmt.Errorf("mask: expected an %s netmask for %s, got %q", familyOf(addr), addr, mt.s)
				}
				r.Prefix = netip.PrefixFrom(addr, n).Masked()
			}
			r.Mask = mt.s
		case "ippeerlimit":
			n, err := c.intArg(k, -1, 1<<30)
			if err != nil {
				return err
			}
			r.Ignored = append(r.Ignored, k+" "+strconv.Itoa(n))
			p.warnf(pos, "restrict: flag %q accepted but ignored", k)
		case "ntpport", "interface", "mssntp", "epeer", "serverresponse":
			if k == "serverresponse" {
				if ft, ok := c.keyword(); !ok || ft != "fuzz" {
					return fmt.Errorf("serverresponse: expected fuzz, got %s", got(c.peek()))
				}
				c.next()
			}
			r.Ignored = append(r.Ignored, k)
			p.warnf(pos, "restrict: flag %q accepted but ignored", k)
		default:
			return fmt.Errorf("restrict: unknown flag %s, expected mask M or one of ignore, kod, limited, lowpriotrap, nomodify, noquery, nopeer, noserve, notrap, notrust, version, nomrulist", got(t))
		}
	}
	key := fmt.Sprintf("restrict %t %t %d %s %q %q", r.Default, r.Source, r.Family, r.Prefix, r.Host, r.Mask)
	if old, dup := p.seen[key]; dup {
		p.warnf(pos, "restrict: replaces the identical entry at %s", old)
	}
	p.seen[key] = pos
	p.cfg.Restrictions = append(p.cfg.Restrictions, r)
	return nil
}

// pairs parses "name value" pairs; set parses the value of one name and
// reports false for an unknown name.
func pairs(c *cursor, expected string, set func(k string) (bool, error)) error {
	if !c.more() {
		return fmt.Errorf("%s: expected %s, got end of line", c.dir, expected)
	}
	for c.more() {
		k, ok := c.keyword()
		t := c.next()
		if !ok {
			return fmt.Errorf("%s: unknown option %s, expected %s", c.dir, got(t), expected)
		}
		known, err := set(k)
		if err != nil {
			return err
		}
		if !known {
			return fmt.Errorf("%s: unknown option %s, expected %s", c.dir, got(t), expected)
		}
	}
	return nil
}

func parseDiscard(p *parser, pos Pos, c *cursor) error {
	d := p.cfg.Discard
	err := pairs(c, "average N, minimum N or monitor N", func(k string) (bool, error) {
		var err error
		switch k {
		case "average":
			d.Average, err = c.intArg(k, 0, 16)
		case "minimum":
			d.Minimum, err = c.intArg(k, 0, 65535)
		case "monitor":
			d.Monitor, err = c.intArg(k, 0, 1<<30)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return err
	}
	p.cfg.Discard = d
	return nil
}

func parseDriftFile(p *parser, pos Pos, c *cursor) error {
	s, err := c.strArg("driftfile", "a file name")
	if err != nil {
		return err
	}
	if c.more() {
		// classic ntpd: optional wander threshold
		if _, err := c.floatArg("driftfile wander threshold", 0, 1); err != nil {
			return err
		}
		p.warnf(pos, "driftfile: wander threshold accepted but ignored")
	}
	if err := c.end(); err != nil {
		return err
	}
	p.cfg.DriftFile = s
	return nil
}

func pathHandler(field func(*Config) *string) handler {
	return func(p *parser, pos Pos, c *cursor) error {
		s, err := c.strArg(c.dir, "a file name")
		if err != nil {
			return err
		}
		if err := c.end(); err != nil {
			return err
		}
		*field(p.cfg) = s
		return nil
	}
}

func keyHandler(field func(*Config) *int) handler {
	return func(p *parser, pos Pos, c *cursor) error {
		n, err := c.intArg(c.dir, 1, maxKeyID)
		if err != nil {
			return err
		}
		if err := c.end(); err != nil {
			return err
		}
		*field(p.cfg) = n
		return nil
	}
}

func flagsHandler(on bool) handler {
	return func(p *parser, pos Pos, c *cursor) error {
		const expected = "auth, calibrate, kernel, monitor, ntp, pps or stats"
		if !c.more() {
			return fmt.Errorf("%s: expected %s, got end of line", c.dir, expected)
		}
		f := p.cfg.Flags
		for c.more() {
			k, ok := c.keyword()
			t := c.next()
			if !ok {
				return fmt.Errorf("%s: unknown flag %s, expected %s", c.dir, got(t), expected)
			}
			switch k {
			case "auth":
				f.Auth = on
			case "calibrate":
				f.Calibrate = on
			case "kernel":
				f.Kernel, f.KernelSet = on, true
			case "monitor":
				f.Monitor = on
			case "ntp":
				f.NTP = on
			case "pps":
				f.PPS = on
			case "stats":
				f.Stats = on
			case "bclient", "mode7":
				p.warnf(pos, "%s: flag %q accepted but ignored", c.dir, k)
			default:
				return fmt.Errorf("%s: unknown flag %s, expected %s", c.dir, got(t), expected)
			}
		}
		p.cfg.Flags = f
		return nil
	}
}

// parseTrustedKey handles "trustedkey 1 2 (5 ... 8)".
func parseTrustedKey(p *parser, pos Pos, c *cursor) error {
	var words []string
	for _, t := range c.args {
		if t.quoted {
			return fmt.Errorf("trustedkey: expected a key number, got %q", t.s)
		}
		s := strings.NewReplacer("(", " ( ", ")", " ) ", "...", " ... ").Replace(t.s)
		words = append(words, strings.Fields(s)...)
	}
	if len(words) == 0 {
		return fmt.Errorf("trustedkey: expected a key number 1..%d, got end of line", maxKeyID)
	}
	num := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxKeyID {
			return 0, fmt.Errorf("trustedkey: expected a key number 1..%d, got %q", maxKeyID, s)
		}
		return n, nil
	}
	var keys []int
	for i := 0; i < len(words); i++ {
		if words[i] != "(" {
			n, err := num(words[i])
			if err != nil {
				return err
			}
			keys = append(keys, n)
			continue
		}
		if i+4 >= len(words) || words[i+2] != "..." || words[i+4] != ")" {
			return fmt.Errorf("trustedkey: expected a range (FIRST ... LAST), got %q", strings.Join(words[i:min(i+5, len(words))], " "))
		}
		lo, err := num(words[i+1])
		if err != nil {
			return err
		}
		hi, err := num(words[i+3])
		if err != nil {
			return err
		}
		if lo > hi {
			return fmt.Errorf("trustedkey: expected a range with FIRST <= LAST, got (%d ... %d)", lo, hi)
		}
		for k := lo; k <= hi; k++ {
			keys = append(keys, k)
		}
		i += 4
	}
	for _, k := range keys {
		key := "trustedkey " + strconv.Itoa(k)
		if _, dup := p.seen[key]; !dup {
			p.seen[key] = pos
			p.cfg.TrustedKeys = append(p.cfg.TrustedKeys, k)
		}
	}
	return nil
}

func parseInclude(p *parser, pos Pos, c *cursor) error {
	name, err := c.strArg("includefile", "a file name")
	if err != nil {
		return err
	}
	if err := c.end(); err != nil {
		return err
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(filepath.Dir(pos.File), name)
	}
	name = filepath.Clean(name)
	for i, f := range p.stack {
		if filepath.Clean(f) == name {
			chain := append(slices.Clone(p.stack[i:]), name)
			return fmt.Errorf("includefile: expected no include cycle, got %s", strings.Join(chain, " -> "))
		}
	}
	if len(p.stack) > p.opts.MaxIncludeDepth {
		return fmt.Errorf("includefile: %s: expected at most %d nested include levels", name, p.opts.MaxIncludeDepth)
	}
	if p.includes >= p.opts.MaxIncludes {
		return fmt.Errorf("includefile: %s: expected at most %d includes in total", name, p.opts.MaxIncludes)
	}
	p.includes++
	rc, err := p.opts.open(name)
	if err != nil {
		return fmt.Errorf("includefile: cannot open %s: %v", name, err)
	}
	defer rc.Close()
	p.file(name, rc)
	return nil
}

func parseInterface(p *parser, pos Pos, c *cursor) error {
	r := InterfaceRule{Pos: pos}
	k, ok := c.keyword()
	t := c.next()
	switch {
	case ok && k == "listen":
		r.Action = InterfaceListen
	case ok && k == "ignore":
		r.Action = InterfaceIgnore
	case ok && k == "drop":
		r.Action = InterfaceDrop
	default:
		return fmt.Errorf("%s: expected listen, ignore or drop, got %s", c.dir, got(t))
	}
	k, ok = c.keyword()
	t = c.next()
	if t == nil || t.s == "" {
		return fmt.Errorf("%s: expected all, ipv4, ipv6, wildcard, an interface name or an address[/prefix], got %s", c.dir, got(t))
	}
	switch {
	case ok && k == "all":
		r.Match = MatchAll
	case ok && k == "ipv4":
		r.Match = MatchIPv4
	case ok && k == "ipv6":
		r.Match = MatchIPv6
	case ok && k == "wildcard":
		r.Match = MatchWildcard
	case strings.Contains(t.s, "/"):
		pfx, err := netip.ParsePrefix(t.s)
		if err != nil {
			return fmt.Errorf("%s: expected an address/prefix like 192.0.2.0/24, got %q", c.dir, t.s)
		}
		r.Match, r.Prefix = MatchPrefix, pfx.Masked()
	default:
		if a, err := netip.ParseAddr(t.s); err == nil {
			a = a.WithZone("")
			r.Match, r.Prefix = MatchPrefix, netip.PrefixFrom(a, a.BitLen())
		} else if strings.ContainsAny(t.s, ": \t") || len(t.s) > 64 {
			return fmt.Errorf("%s: expected an interface name or an address, got %q", c.dir, t.s)
		} else {
			r.Match, r.Name = MatchName, t.s
		}
	}
	if err := c.end(); err != nil {
		return err
	}
	p.cfg.Interfaces = append(p.cfg.Interfaces, r)
	return nil
}

func parseTos(p *parser, pos Pos, c *cursor) error {
	t := p.cfg.Tos
	err := pairs(c, "minclock N, minsane N, maxclock N, orphan N, orphanwait N, mindist X, maxdist X, floor N, ceiling N, cohort 0|1 or beacon N",
		func(k string) (bool, error) {
			var err error
			switch k {
			case "minclock":
				t.MinClock, err = c.intArg(k, 1, 100)
			case "minsane":
				t.MinSane, err = c.intArg(k, 1, 100)
			case "maxclock":
				t.MaxClock, err = c.intArg(k, 1, 100)
			case "orphan":
				t.Orphan, err = c.intArg(k, 1, 16)
			case "orphanwait":
				t.OrphanWait, err = c.intArg(k, 0, 86400)
			case "mindist":
				t.MinDist, err = c.floatArg(k, 0, 16)
			case "maxdist":
				t.MaxDist, err = c.floatArg(k, 0.001, 16)
			case "floor":
				t.Floor, err = c.intArg(k, 0, 16)
			case "ceiling":
				t.Ceiling, err = c.intArg(k, 1, 16)
			case "cohort":
				t.Cohort, err = c.boolArg(k)
			case "beacon":
				t.Beacon, err = c.intArg(k, 1, 1<<20)
			default:
				return false, nil
			}
			return true, err
		})
	if err != nil {
		return err
	}
	if t.MinClock > t.MaxClock {
		return fmt.Errorf("tos: expected minclock <= maxclock, got minclock %d maxclock %d", t.MinClock, t.MaxClock)
	}
	p.cfg.Tos = t
	return nil
}

var statsNames = []string{"clockstats", "cryptostats", "loopstats", "peerstats", "protostats",
	"rawstats", "sysstats", "timingstats", "usestats"}

func statsName(c *cursor, dir string) (string, error) {
	k, ok := c.keyword()
	t := c.next()
	if !ok || !slices.Contains(statsNames, k) {
		return "", fmt.Errorf("%s: expected a statistics name (%s), got %s", dir, strings.Join(statsNames, ", "), got(t))
	}
	return k, nil
}

func parseFileGen(p *parser, pos Pos, c *cursor) error {
	name, err := statsName(c, "filegen")
	if err != nil {
		return err
	}
	fg := FileGen{Name: name, Pos: pos}
	types := []string{"none", "pid", "day", "week", "month", "year", "age"}
	for c.more() {
		k, ok := c.keyword()
		t := c.next()
		yes, no := true, false
		switch {
		case ok && k == "file":
			if fg.File, err = c.strArg(k, "a file name"); err != nil {
				return err
			}
		case ok && k == "type":
			tt := c.next()
			if tt == nil || tt.quoted || !slices.Contains(types, tt.s) {
				return fmt.Errorf("type: expected one of %s, got %s", strings.Join(types, ", "), got(tt))
			}
			fg.Type = tt.s
		case ok && k == "link":
			fg.Link = &yes
		case ok && k == "nolink":
			fg.Link = &no
		case ok && k == "enable":
			fg.Enable = &yes
		case ok && k == "disable":
			fg.Enable = &no
		default:
			return fmt.Errorf("filegen: unknown option %s, expected file F, type T, link, nolink, enable or disable", got(t))
		}
	}
	p.cfg.FileGen = append(p.cfg.FileGen, fg)
	return nil
}

func parseStatistics(p *parser, pos Pos, c *cursor) error {
	var names []string
	for c.more() {
		n, err := statsName(c, "statistics")
		if err != nil {
			return err
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		_, err := statsName(c, "statistics")
		return err
	}
	for _, n := range names {
		if !slices.Contains(p.cfg.Statistics, n) {
			p.cfg.Statistics = append(p.cfg.Statistics, n)
		}
	}
	return nil
}
