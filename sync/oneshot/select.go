package oneshot

import (
	"fmt"
	"io"
)

// Filter sets a server's Delay, Offset and Dispersion from its first
// samples filter registers (classic clock_filter): the minimum-delay
// sample wins (the earliest of equal ones); dispersion sums the other
// samples' offset differences weighted 1/2, 1/4, ...; timed-out samples
// count as the maximum dispersion.
func Filter(s *Server, samples int) {
	samples = max(1, min(samples, FilterSize))
	var ord [FilterSize]int
	for i := range samples {
		ord[i] = i
	}
	for i := 0; i < samples-1; i++ {
		for j := i + 1; j < samples; j++ {
			if s.FilterDelay[ord[j]] == 0 {
				continue
			}
			if s.FilterDelay[ord[i]] == 0 || s.FilterDelay[ord[i]] > s.FilterDelay[ord[j]] {
				ord[i], ord[j] = ord[j], ord[i]
			}
		}
	}
	if s.FilterDelay[ord[0]] == 0 {
		s.Delay, s.Offset, s.SOffset, s.Dispersion = 0, 0, 0, UFP(maxDisp)
		return
	}
	s.Delay = s.FilterDelay[ord[0]]
	s.Offset = s.FilterOffset[ord[0]]
	s.SOffset = s.Offset.SFP()
	s.Dispersion = 0
	for i := 1; i < samples; i++ {
		var d SFP
		if s.FilterDelay[ord[i]] == 0 {
			d = maxDisp
		} else {
			d = s.FilterSOffset[ord[i]] - s.FilterSOffset[ord[0]]
			if d < 0 {
				d = -d
			}
			d = min(d, maxDisp)
		}
		s.Dispersion += UFP(d) >> i
	}
}

// Rejection reasons Select stores in Server.Reject.
const (
	RejectNoData    = "no data"
	RejectKiss      = "kiss-o'-death"
	RejectStratum   = "strata too high"
	RejectFar       = "server too far away"
	RejectUnsync    = "leap not in sync"
	RejectBroken    = "server is very broken"
	RejectStale     = "server has gone too long without sync"
	RejectUntrusted = "Server is untrusted"
	RejectList      = "not among the best servers of the two lowest strata"
	RejectFalse     = "falseticker"
	RejectNotBest   = "not the best of the survivors"
)

// Select runs Filter on every server and then classic ntpdate's
// clock_select: sanity checks, the five best of the two lowest strata,
// re-sorted by stratum and delay, falsetickers dropped by pairwise offset
// badness, first survivor chosen. It returns the chosen server (nil if none)
// after setting Chosen and Reject on every server. Debug lines like
// classic -d ("<addr>: Server dropped: ...") go to debug when not nil.
func Select(servers []*Server, samples int, debug io.Writer) *Server {
	for _, s := range servers {
		Filter(s, samples)
		s.Chosen, s.Reject = false, ""
	}
	drop := func(s *Server, why string) {
		s.Reject = why
		if debug != nil {
			fmt.Fprintf(debug, "%s: Server dropped: %s\n", s.Addr.Addr(), why)
		}
	}
	var list []*Server
	var badness []UFP
	for _, s := range servers {
		switch {
		case s.Stratum == 0:
			if !s.Kiss.IsZero() {
				s.Reject = RejectKiss
				if debug != nil {
					fmt.Fprintf(debug, "%s: Server dropped: no data\n", s.Addr.Addr())
				}
			} else {
				drop(s, RejectNoData)
			}
			continue
		case s.Stratum > maxStratum:
			drop(s, RejectStratum)
			continue
		case s.Delay > maxWeight:
			drop(s, RejectFar)
			continue
		case s.Leap == 3:
			drop(s, RejectUnsync)
			continue
		case s.Org < s.RefTime:
			drop(s, RejectBroken)
			continue
		case s.Org.Seconds()-s.RefTime.Seconds() >= refMaxAge:
			drop(s, RejectStale)
			continue
		case s.Trust != 0:
			drop(s, RejectUntrusted)
			continue
		}
		d := UFP(s.Dispersion + s.Dispersion)
		i := 0
		for i < len(list) && s.Stratum > list[i].Stratum {
			i++
		}
		for ; i < len(list); i++ {
			if s.Stratum < list[i].Stratum || SFP(d) < SFP(badness[i]) {
				break
			}
		}
		if i >= maxList {
			s.Reject = RejectList
			continue
		}
		list = append(list, nil)
		badness = append(badness, 0)
		copy(list[i+1:], list[i:])
		copy(badness[i+1:], badness[i:])
		list[i], badness[i] = s, d
		if len(list) > maxList {
			list[maxList].Reject = RejectList
			list, badness = list[:maxList], badness[:maxList]
		}
	}
	// Keep at most two strata.
	count := 0
	for i := 1; i < len(list); i++ {
		if list[i].Stratum > list[i-1].Stratum {
			count++
			if count == 2 {
				for _, s := range list[i:] {
					s.Reject = RejectList
				}
				list = list[:i]
				break
			}
		}
	}
	var chosen *Server
	switch len(list) {
	case 0:
	case 1:
		chosen = list[0]
	default:
		// Re-sort by stratum, then delay (classic's exchange sort).
		for i := 0; i < len(list)-1; i++ {
			for j := i + 1; j < len(list); j++ {
				if list[i].Stratum < list[j].Stratum {
					break
				}
				if list[i].Delay < list[j].Delay {
					continue
				}
				list[i], list[j] = list[j], list[i]
			}
		}
		local := shiftSecond(precisionSelf) + maxSkew
		bad := make([]UFP, len(list))
		for len(list) > 1 {
			for k := range list {
				bad[k] = 0
				for j := range list {
					if j == k {
						continue
					}
					d := list[j].SOffset - list[k].SOffset
					if d < 0 {
						d = -d
					}
					for range j {
						d = d>>1 + d>>2
					}
					bad[k] += UFP(d)
				}
			}
			i := 0
			n := list[0].Precision
			for j := 1; j < len(list); j++ {
				if bad[j] >= bad[i] {
					i = j
				}
				n = min(n, list[j].Precision)
			}
			if SFP(bad[i]) < local+shiftSecond(n) {
				break
			}
			list[i].Reject = RejectFalse
			list = append(list[:i], list[i+1:]...)
		}
		chosen = list[0]
		for _, s := range list[1:] {
			s.Reject = RejectNotBest
		}
	}
	if chosen != nil {
		chosen.Chosen = true
		chosen.Reject = ""
	}
	return chosen
}
