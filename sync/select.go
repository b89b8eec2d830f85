package sync

import (
	"math"
	"sort"
	"time"
)

// Candidate is one fit association offered to selection: its offset
// (projected to a common instant), root distance (lambda, the half-width of
// its correctness interval), jitter and stratum.
type Candidate struct {
	Offset   time.Duration
	RootDist time.Duration
	Jitter   time.Duration
	Stratum  uint8
	Prefer   bool
}

// SelectOptions are the tos parameters used by selection.
type SelectOptions struct {
	MinSane  int // minimum survivors of intersection to synchronise (default 1)
	MinClock int // the cluster algorithm stops at this many survivors (default 3)
	MaxClock int // survivors beyond this are marked backup (default 10)
}

func (o SelectOptions) norm() SelectOptions {
	if o.MinSane <= 0 {
		o.MinSane = 1
	}
	if o.MinClock <= 0 {
		o.MinClock = 3
	}
	if o.MaxClock <= 0 {
		o.MaxClock = 10
	}
	return o
}

// Selection is the outcome of selection, clustering and combining.
type Selection struct {
	Codes     []SelectCode // per candidate
	Survivors []int        // candidate indices, best first
	SysPeer   int          // candidate index of the system peer, -1 if none
	Offset    time.Duration
	Jitter    time.Duration // system jitter
	Low, High time.Duration // the intersection interval
}

// OK reports whether a system peer was chosen.
func (s Selection) OK() bool { return s.SysPeer >= 0 }

// Select runs the RFC 5905 intersection (Marzullo) and cluster algorithms and
// combines the survivors. prev is the candidate index of the current system
// peer (-1 if none): it is kept while it survives and is as good a stratum
// as the best, avoiding needless clock hopping.
func Select(cands []Candidate, o SelectOptions, prev int) Selection {
	o = o.norm()
	n := len(cands)
	res := Selection{Codes: make([]SelectCode, n), SysPeer: -1}
	if n == 0 {
		return res
	}
	for i := range res.Codes {
		res.Codes[i] = SelFalsetick
	}

	// Intersection.
	type edge struct {
		v   time.Duration
		typ int // -1 low end, 0 midpoint, +1 high end
	}
	edges := make([]edge, 0, 3*n)
	for _, c := range cands {
		edges = append(edges,
			edge{c.Offset - c.RootDist, -1},
			edge{c.Offset, 0},
			edge{c.Offset + c.RootDist, +1})
	}
	sort.Slice(edges, func(a, b int) bool {
		if edges[a].v != edges[b].v {
			return edges[a].v < edges[b].v
		}
		return edges[a].typ < edges[b].typ
	})
	var low, high time.Duration
	ok := false
	for allow := 0; 2*allow < n; allow++ {
		found, chime := 0, 0
		low, high = math.MaxInt64, math.MinInt64
		for _, e := range edges {
			chime -= e.typ
			if chime >= n-allow {
				low = e.v
				break
			}
			if e.typ == 0 {
				found++
			}
		}
		chime = 0
		for i := len(edges) - 1; i >= 0; i-- {
			e := edges[i]
			chime += e.typ
			if chime >= n-allow {
				high = e.v
				break
			}
			if e.typ == 0 {
				found++
			}
		}
		if found > allow {
			continue
		}
		if low <= high {
			ok = true
			break
		}
	}
	if !ok {
		return res
	}
	res.Low, res.High = low, high

	var surv []int
	for i, c := range cands {
		if c.Offset+c.RootDist < low || c.Offset-c.RootDist > high {
			continue
		}
		surv = append(surv, i)
	}
	if len(surv) < o.MinSane {
		return res
	}

	// Clustering: order by merit (stratum, then root distance).
	merit := func(i int) float64 {
		return float64(cands[i].Stratum)*MaxDist.Seconds() + cands[i].RootDist.Seconds()
	}
	sort.SliceStable(surv, func(a, b int) bool { return merit(surv[a]) < merit(surv[b]) })
	for _, i := range surv {
		res.Codes[i] = SelOutlier
	}
	for {
		m := len(surv)
		if m <= 1 {
			break
		}
		maxJ, k := -1.0, -1
		minPeerJ := math.Inf(1)
		for a, i := range surv {
			var s float64
			for _, j := range surv {
				d := (cands[i].Offset - cands[j].Offset).Seconds()
				s += d * d
			}
			sj := math.Sqrt(s / float64(m-1))
			if sj > maxJ && !cands[i].Prefer {
				maxJ, k = sj, a
			}
			minPeerJ = math.Min(minPeerJ, cands[i].Jitter.Seconds())
		}
		if k < 0 {
			break
		}
		if m <= o.MaxClock && (m <= o.MinClock || maxJ <= minPeerJ) {
			break
		}
		if m > o.MaxClock {
			res.Codes[surv[k]] = SelBackup
		}
		surv = append(surv[:k], surv[k+1:]...)
	}
	for _, i := range surv {
		res.Codes[i] = SelCandidate
	}
	res.Survivors = surv

	// System peer: a surviving prefer peer, else the previous system peer if
	// it survived at the best stratum, else the first survivor.
	sys := surv[0]
	for _, i := range surv {
		if cands[i].Prefer {
			sys = i
			break
		}
	}
	if !cands[sys].Prefer && prev >= 0 && prev < n {
		for _, i := range surv {
			if i == prev && cands[i].Stratum <= cands[surv[0]].Stratum {
				sys = prev
			}
		}
	}
	res.SysPeer = sys
	res.Codes[sys] = SelSysPeer

	// Combine: weight by the reciprocal root distance.
	var ws, wo, wj float64
	for _, i := range surv {
		w := 1 / math.Max(cands[i].RootDist.Seconds(), 1e-6)
		ws += w
		wo += w * cands[i].Offset.Seconds()
	}
	off := wo / ws
	for _, i := range surv {
		w := 1 / math.Max(cands[i].RootDist.Seconds(), 1e-6)
		d := (cands[i].Offset - cands[sys].Offset).Seconds()
		wj += w * d * d
	}
	sj := math.Sqrt(wj / ws)
	pj := cands[sys].Jitter.Seconds()
	if cands[sys].Prefer {
		off = cands[sys].Offset.Seconds()
	}
	res.Offset = time.Duration(off * 1e9)
	res.Jitter = time.Duration(math.Sqrt(sj*sj+pj*pj) * 1e9)
	return res
}
