package query

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
)

// Peer is one association with the variables the daemon sent for it.
type Peer struct {
	AssocID uint16
	Status  uint16 // peer status word of the READVAR answer
	Vars    []mode6.Var
	// Raw is the daemon's text (nil when the peer was built otherwise);
	// the classic layout re-reads it with ntpq-classic's parser.
	Raw []byte
}

// PeersModel is what the peers family of views needs from one host.
type PeersModel struct {
	Host      string
	SysStatus uint16
	Assocs    []mode6.AssocStatus // every association, ascending id
	Peers     []Peer              // the fetched ones, ascending id
}

// ShownInPeers reports whether `peers` (as opposed to `lpeers`) lists an
// association: its status has the conf or the reach bit.
func ShownInPeers(status uint16) bool {
	ps := mode6.DecodePeerStatus(status)
	return ps.Flags&(mode6.PeerConf|mode6.PeerReach) != 0
}

// FetchPeers reads the association list and then the default variables of
// every association (all) or only those `peers` shows.
func FetchPeers(ctx context.Context, s *Session, all bool) (*PeersModel, error) {
	sys, list, err := s.ReadStat(ctx)
	if err != nil {
		return nil, err
	}
	m := &PeersModel{Host: s.Host, SysStatus: sys, Assocs: list}
	for _, a := range list {
		if !all && !ShownInPeers(a.Status) {
			continue
		}
		r, err := s.ReadVar(ctx, a.AssocID, "")
		if err != nil {
			return m, err
		}
		vars, _ := mode6.Tokenize(r.Data)
		m.Peers = append(m.Peers, Peer{AssocID: a.AssocID, Status: r.Status, Vars: vars, Raw: r.Data})
	}
	return m, nil
}

// Resolver does reverse DNS. *net.Resolver satisfies it.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Names maps numeric addresses to host names (absent: show numeric).
type Names map[string]string

// ResolveAll looks up every address in parallel, all under one time
// budget; addresses without an answer in time stay numeric. Unspecified
// addresses and refclock pseudo-addresses are never looked up.
func ResolveAll(ctx context.Context, r Resolver, addrs []string, budget time.Duration) Names {
	out := Names{}
	if r == nil {
		return out
	}
	if budget <= 0 {
		budget = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || seen[a] || ip.IsUnspecified() || isRefclock(a) {
			continue
		}
		seen[a] = true
		wg.Add(1)
		go func(a string) {
			defer wg.Done()
			names, err := r.LookupAddr(ctx, a)
			if err != nil || len(names) == 0 {
				return
			}
			n := strings.TrimSuffix(names[0], ".")
			if n == "" {
				return
			}
			mu.Lock()
			out[a] = n
			mu.Unlock()
		}(a)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	res := make(Names, len(out))
	for k, v := range out {
		res[k] = v
	}
	mu.Unlock()
	return res
}

// StaticResolver answers reverse lookups from a fixed table (tests,
// --json reproducibility).
type StaticResolver map[string]string

// LookupAddr implements Resolver.
func (s StaticResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if n, ok := s[addr]; ok {
		return []string{n}, nil
	}
	return nil, fmt.Errorf("no name for %s", addr)
}

// peerAddrs lists the addresses a peers view may want names for.
func (m *PeersModel) peerAddrs(local bool) []string {
	var out []string
	for _, p := range m.Peers {
		if v, ok := mode6.Lookup(p.Vars, "srcadr"); ok {
			out = append(out, v)
		} else if v, ok := mode6.Lookup(p.Vars, "peeradr"); ok {
			out = append(out, v)
		}
		if local {
			if v, ok := mode6.Lookup(p.Vars, "dstadr"); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// peerInfo is the part of a peer's variables the peers views use.
type peerInfo struct {
	srcadr, srchost, dstadr, refid string
	haveSrchost                    bool
	stratum                        int64
	hmode                          int64
	haveHmode                      bool
	hpoll, ppoll                   int64
	reach                          uint64
	delay, offset, jitter, disp    string
	haveJitter, haveDisp           bool
	rec, reftime                   uint64
	recLast                        bool // rec appears after reftime (ntpq-sec picks the last)
	flash                          uint64
	ntscookies                     int64
	haveNTS                        bool
	delayDecimals                  int
}

func newPeerInfo(vars []mode6.Var) peerInfo {
	pi := peerInfo{delay: "0", offset: "0", jitter: "0", disp: "0", delayDecimals: 3, ntscookies: -1}
	for _, v := range vars {
		val := v.Value
		switch v.Name {
		case "srcadr", "peeradr":
			pi.srcadr = val
		case "srchost":
			pi.srchost, pi.haveSrchost = mode6.Unquote(val), true
		case "dstadr":
			pi.dstadr = val
		case "refid":
			pi.refid = val
		case "stratum":
			pi.stratum, _ = parseIntText(val)
		case "hmode":
			pi.hmode, pi.haveHmode = parseIntText(val)
		case "hpoll":
			pi.hpoll, _ = parseIntText(val)
		case "ppoll":
			pi.ppoll, _ = parseIntText(val)
		case "reach":
			pi.reach, _ = parseUintAuto(val)
		case "delay":
			pi.delay = val
			if _, f, ok := strings.Cut(val, "."); ok {
				pi.delayDecimals = len(f)
			}
		case "offset":
			pi.offset = val
		case "jitter":
			pi.jitter, pi.haveJitter = val, true
		case "dispersion", "rootdisp":
			if v.Name == "dispersion" || !pi.haveDisp {
				pi.disp = val
			}
			if v.Name == "dispersion" {
				pi.haveDisp = true
			}
		case "rec":
			if ts, ok := parseTS(val); ok {
				pi.rec = uint64(ts)
			}
			pi.recLast = true
		case "reftime":
			if ts, ok := parseTS(val); ok {
				pi.reftime = uint64(ts)
			}
			pi.recLast = false
		case "flash":
			pi.flash, _ = parseUintAuto(val)
		case "ntscookies":
			pi.ntscookies, pi.haveNTS = parseIntText(val)
		}
	}
	if !pi.haveJitter {
		pi.jitter = pi.disp
	}
	return pi
}
