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

type rentry struct {
	p     netip.Prefix
	flags RestrictFlags
}

// Restrictor answers "which restriction flags apply to this address" with
// ntpd's semantics: the most specific (longest prefix) matching entry wins;
// "default" is the /0 entry of its family (of both without -4/-6); a later
// entry for the same address and mask replaces an earlier one. An address
// that matches nothing gets no flags. Lookups do not allocate and are safe
// for concurrent use.
type Restrictor struct {
	v4, v6 []rentry // most specific first
}

// NewRestrictor compiles restrict entries. Entries with a host name or
// "source" are skipped: the daemon resolves them and passes numeric
// entries (Prefix set) instead.
func NewRestrictor(rs []Restrict) *Restrictor {
	r := &Restrictor{}
	add := func(list *[]rentry, p netip.Prefix, f RestrictFlags) {
		for i := range *list {
			if (*list)[i].p == p {
				(*list)[i].flags = f
				return
			}
		}
		*list = append(*list, rentry{p, f})
	}
	for _, e := range rs {
		switch {
		case e.Default:
			if e.Family != FamilyV6 {
				add(&r.v4, netip.PrefixFrom(netip.IPv4Unspecified(), 0), e.Flags)
			}
			if e.Family != FamilyV4 {
				add(&r.v6, netip.PrefixFrom(netip.IPv6Unspecified(), 0), e.Flags)
			}
		case e.Prefix.IsValid():
			p := e.Prefix.Masked()
			if p.Addr().Is4() {
				add(&r.v4, p, e.Flags)
			} else {
				add(&r.v6, p, e.Flags)
			}
		}
	}
	byBits := func(a, b rentry) int { return b.p.Bits() - a.p.Bits() }
	slices.SortStableFunc(r.v4, byBits)
	slices.SortStableFunc(r.v6, byBits)
	return r
}

// Flags returns the restriction flags for addr. IPv4-mapped IPv6 addresses
// are treated as IPv4; zones are ignored.
func (r *Restrictor) Flags(addr netip.Addr) RestrictFlags {
	addr = addr.Unmap().WithZone("")
	list := r.v6
	if addr.Is4() {
		list = r.v4
	}
	for i := range list {
		if list[i].p.Contains(addr) {
			return list[i].flags
		}
	}
	return 0
}

// Restrictor compiles c.Restrictions (numeric and default entries only).
func (c *Config) Restrictor() *Restrictor { return NewRestrictor(c.Restrictions) }

// RestrictFor returns the restriction flags for addr, scanning the entries
// without allocating. Per-packet code should prefer a compiled Restrictor.
func (c *Config) RestrictFor(addr netip.Addr) RestrictFlags {
	addr = addr.Unmap().WithZone("")
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
