package ntpconf

import (
	"net/netip"
	"slices"
	"strings"
)

// RestrictFlags is the set of access restriction flags of a restrict line.
type RestrictFlags uint32

// Restriction flags, in ntpd's meaning.
const (
	RestrictIgnore      RestrictFlags = 1 << iota // ignore: drop every packet
	RestrictKOD                                   // kod: send kiss-o'-death when rate limited
	RestrictLimited                               // limited: enforce the discard rate limits
	RestrictLowPrioTrap                           // lowpriotrap: traps set are low priority
	RestrictNoModify                              // nomodify: no mode 6/7 writes
	RestrictNoQuery                               // noquery: drop mode 6/7 queries
	RestrictNoPeer                                // nopeer: no ephemeral peer associations
	RestrictNoServe                               // noserve: no time service (mode 3)
	RestrictNoTrap                                // notrap: no mode 6 trap service
	RestrictNoTrust                               // notrust: unauthenticated packets are not trusted
	RestrictVersion                               // version: drop packets of other NTP versions
	RestrictNoMRUList                             // nomrulist: no mrulist queries
)

var restrictNames = []struct {
	f    RestrictFlags
	name string
}{
	{RestrictIgnore, "ignore"},
	{RestrictKOD, "kod"},
	{RestrictLimited, "limited"},
	{RestrictLowPrioTrap, "lowpriotrap"},
	{RestrictNoModify, "nomodify"},
	{RestrictNoQuery, "noquery"},
	{RestrictNoPeer, "nopeer"},
	{RestrictNoServe, "noserve"},
	{RestrictNoTrap, "notrap"},
	{RestrictNoTrust, "notrust"},
	{RestrictVersion, "version"},
	{RestrictNoMRUList, "nomrulist"},
}

func restrictFlagByName(s string) (RestrictFlags, bool) {
	for _, n := range restrictNames {
		if n.name == s {
			return n.f, true
		}
	}
	return 0, false
}

// Has reports whether all flags in g are set.
func (f RestrictFlags) Has(g RestrictFlags) bool { return f&g == g }

// String returns the flag names separated by spaces in a fixed order,
// or "none" for the empty set.
func (f RestrictFlags) String() string {
	if f == 0 {
		return "none"
	}
	var b strings.Builder
	for _, n := range restrictNames {
		if f&n.f != 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("unknown")
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler.
func (f RestrictFlags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Restrict is one restrict line.
type Restrict struct {
	// Default is "restrict default": every address of Family (both
	// families when Family is FamilyAny).
	Default bool `json:"default,omitempty"`
	// Source is "restrict source": a template the daemon applies to the
	// addresses of its own associations (pool servers in particular).
	Source bool `json:"source,omitempty"`
	// Family is FamilyV4 or FamilyV6 after "-4" / "-6".
	Family Family `json:"family"`
	// Prefix is the numeric address with its mask (a host prefix without
	// "mask"). Zero for default, source and host name entries.
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Host is a host name as written; the daemon resolves it (with the
	// mask bits of Mask applied). Empty for numeric entries.
	Host string `json:"host,omitempty"`
	// Mask is the mask as written, if any.
	Mask  string        `json:"mask,omitempty"`
	Flags RestrictFlags `json:"flags"`
	// Ignored lists options accepted but not acted on (ippeerlimit, ntpport).
	Ignored []string `json:"ignored,omitempty"`
	Pos     Pos      `json:"pos"`
}

// rtable holds the entries of one address family: a map from masked
// prefix to flags, and the distinct prefix lengths in use, longest first.
type rtable struct {
	bits []int
	m    map[netip.Prefix]RestrictFlags
}

func (t *rtable) add(p netip.Prefix, f RestrictFlags) {
	if t.m == nil {
		t.m = map[netip.Prefix]RestrictFlags{}
	}
	if _, ok := t.m[p]; !ok && !slices.Contains(t.bits, p.Bits()) {
		t.bits = append(t.bits, p.Bits())
	}
	t.m[p] = f // a later identical entry replaces an earlier one
}

func (t *rtable) lookup(a netip.Addr) RestrictFlags {
	for _, b := range t.bits {
		p, _ := a.Prefix(b)
		if f, ok := t.m[p]; ok {
			return f
		}
	}
	return 0
}

// Restrictor answers "which restriction flags apply to this address" with
// ntpd's semantics: the most specific (longest prefix) matching entry wins;
// "default" is the /0 entry of its family (of both without -4/-6); a later
// entry for the same address and mask replaces an earlier one. An address
// that matches nothing gets no flags. A lookup costs one map probe per
// distinct prefix length in use, does not allocate, and is safe for
// concurrent use.
type Restrictor struct {
	v4, v6 rtable
}

// NewRestrictor compiles restrict entries. Entries with a host name or
// "source" are skipped: the daemon resolves them and passes numeric
// entries (Prefix set) instead.
func NewRestrictor(rs []Restrict) *Restrictor {
	r := &Restrictor{}
	for _, e := range rs {
		switch {
		case e.Default:
			if e.Family != FamilyV6 {
				r.v4.add(netip.PrefixFrom(netip.IPv4Unspecified(), 0), e.Flags)
			}
			if e.Family != FamilyV4 {
				r.v6.add(netip.PrefixFrom(netip.IPv6Unspecified(), 0), e.Flags)
			}
		case e.Prefix.IsValid():
			p := e.Prefix.Masked()
			if p.Addr().Is4() {
				r.v4.add(p, e.Flags)
			} else {
				r.v6.add(p, e.Flags)
			}
		}
	}
	desc := func(a, b int) int { return b - a }
	slices.SortFunc(r.v4.bits, desc)
	slices.SortFunc(r.v6.bits, desc)
	return r
}

// Flags returns the restriction flags for addr. IPv4-mapped IPv6 addresses
// are treated as IPv4; zones are ignored. The zero (invalid) Addr matches
// no entry.
func (r *Restrictor) Flags(addr netip.Addr) RestrictFlags {
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return r.v4.lookup(addr)
	}
	return r.v6.lookup(addr)
}

// Restrictor compiles c.Restrictions (numeric and default entries only).
func (c *Config) Restrictor() *Restrictor { return NewRestrictor(c.Restrictions) }

// RestrictFor returns the restriction flags for addr, scanning the entries
// without allocating; it agrees with Restrictor.Flags. Per-packet code
// should prefer a compiled Restrictor.
func (c *Config) RestrictFor(addr netip.Addr) RestrictFlags {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return 0
	}
	best, flags := -1, RestrictFlags(0)
	for i := range c.Restrictions {
		e := &c.Restrictions[i]
		bits := -1
		switch {
		case e.Default:
			if e.Family == FamilyAny || (e.Family == FamilyV4) == addr.Is4() {
				bits = 0
			}
		case e.Prefix.IsValid():
			if e.Prefix.Masked().Contains(addr) {
				bits = e.Prefix.Bits()
			}
		}
		// >=: a later entry with the same prefix replaces an earlier one;
		// two different prefixes of equal length cannot both contain addr.
		if bits >= 0 && bits >= best {
			best, flags = bits, e.Flags
		}
	}
	return flags
}

// SourceFlags returns the flags of the last "restrict source" line.
func (c *Config) SourceFlags() (RestrictFlags, bool) {
	for i := len(c.Restrictions) - 1; i >= 0; i-- {
		if c.Restrictions[i].Source {
			return c.Restrictions[i].Flags, true
		}
	}
	return 0, false
}
