package query

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strconv"

	"github.com/ntpkit/ntpkit/mode6"
)

// Texts of the mrulist command.
const (
	MRUCtrlC        = "Ctrl-C will stop MRU retrieval and display partial results.\n"
	mruClassicHead  = "lstint avgint rstr r m v  count rport remote address\n"
	mruSecHead      = " lstint avgint rstr r m v  count    score   drop rport remote address"
	mruClassicRule  = 78
	mruSecRuleWidth = len(mruSecHead)
)

// MRUStats are the figures of ntpq-sec's three trailing comment lines.
type MRUStats struct {
	Collected float64 // seconds until the list was complete
	Processed float64 // seconds until it was printed
	MemoryMB  int64   // maximum resident memory in megabytes
}

// mruHost is the remote column: the reverse DNS name when there is one
// (and names are wanted), else the numeric address.
func mruHost(a netip.Addr, o RenderOptions) string {
	s := a.Unmap().String()
	if !o.Numeric {
		if n, ok := o.Names[s]; ok {
			return n
		}
	}
	return s
}

// mruAddrKey is ntpq-sec's sort key for addresses: IPv4 after 16 zero
// octets, so IPv4 sorts before IPv6.
func mruAddrKey(a netip.Addr) []byte {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return append(make([]byte, 16), b[:]...)
	}
	b := a.As16()
	return b[:]
}

// classicAddrLess orders addresses as ntpq-classic's addr sort: IPv4 before
// IPv6, then by octets, then by port.
func classicAddrLess(x, y netip.AddrPort) bool {
	a, b := x.Addr().Unmap(), y.Addr().Unmap()
	if a.Is4() != b.Is4() {
		return a.Is4()
	}
	if c := a.Compare(b); c != 0 {
		return c < 0
	}
	return x.Port() < y.Port()
}

// mruAvgInt is an entry's average interval between packets, in seconds (the
// avgint column and sort key of both front ends).
func mruAvgInt(e *mode6.MRUEntry) float64 {
	if e.Count == 0 {
		return 0
	}
	return tsDiff(e.Last, e.First) / float64(e.Count)
}

// MRUOrder returns the entries in display order for the selected front end
// and sort key ("" or "lstint": most recently seen first).
func MRUOrder(l *MRUList, style Style, key string) []mode6.MRUEntry {
	n := len(l.Entries)
	out := make([]mode6.MRUEntry, n)
	if style == StyleNTPsec {
		// ntpq-sec sorts the list (oldest first) with a key chosen so that
		// printing it backwards gives the wanted order.
		copy(out, l.Entries)
		var less func(a, b *mode6.MRUEntry) bool
		switch key {
		case "-lstint":
			less = func(a, b *mode6.MRUEntry) bool { return ntpFloat(a.Last) > ntpFloat(b.Last) }
		case "avgint":
			less = func(a, b *mode6.MRUEntry) bool { return mruAvgInt(a) > mruAvgInt(b) }
		case "-avgint":
			less = func(a, b *mode6.MRUEntry) bool { return mruAvgInt(a) < mruAvgInt(b) }
		case "addr", "-addr":
			less = func(a, b *mode6.MRUEntry) bool {
				return bytes.Compare(mruAddrKey(a.Addr.Addr()), mruAddrKey(b.Addr.Addr())) < 0
			}
		case "count":
			less = func(a, b *mode6.MRUEntry) bool { return a.Count > b.Count }
		case "-count":
			less = func(a, b *mode6.MRUEntry) bool { return a.Count < b.Count }
		case "score":
			less = func(a, b *mode6.MRUEntry) bool { return a.Score > b.Score }
		case "-score":
			less = func(a, b *mode6.MRUEntry) bool { return a.Score < b.Score }
		case "drop":
			less = func(a, b *mode6.MRUEntry) bool { return a.Drop > b.Drop }
		case "-drop":
			less = func(a, b *mode6.MRUEntry) bool { return a.Drop < b.Drop }
		}
		if less != nil {
			sort.SliceStable(out, func(i, j int) bool { return less(&out[i], &out[j]) })
			if key == "addr" {
				reverseMRU(out)
			}
		}
		reverseMRU(out)
		return out
	}
	// ntpq-classic: most recent first by default; a sort key orders that
	// list with a stable sort (equal keys stay most recent first, as
	// observed for count).
	copy(out, l.Entries)
	reverseMRU(out)
	var less func(a, b *mode6.MRUEntry) bool
	switch key {
	case "-lstint":
		less = func(a, b *mode6.MRUEntry) bool { return a.Last < b.Last }
	case "avgint":
		less = func(a, b *mode6.MRUEntry) bool { return mruAvgInt(a) < mruAvgInt(b) }
	case "-avgint":
		less = func(a, b *mode6.MRUEntry) bool { return mruAvgInt(a) > mruAvgInt(b) }
	case "addr":
		less = func(a, b *mode6.MRUEntry) bool { return classicAddrLess(a.Addr, b.Addr) }
	case "-addr":
		less = func(a, b *mode6.MRUEntry) bool { return classicAddrLess(b.Addr, a.Addr) }
	case "count":
		less = func(a, b *mode6.MRUEntry) bool { return a.Count < b.Count }
	case "-count":
		less = func(a, b *mode6.MRUEntry) bool { return a.Count > b.Count }
	}
	if less != nil {
		sort.SliceStable(out, func(i, j int) bool { return less(&out[i], &out[j]) })
	}
	return out
}

func reverseMRU(s []mode6.MRUEntry) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// RenderMRUClassic prints the table of ntpq-classic 4.2.8 (stdout part;
// the "Ctrl-C" and "Retrieved" lines go to stderr, see MRUClassicSummary):
//
//	lstint avgint rstr r m v  count rport remote address
//	==============================================================================
//	     0      0    0 . 3 3      2 40002 ::1
//
// lstint and avgint are whole seconds (now - last; (last - first) / count),
// rstr the restriction bits in hex, r K (kod) or L (limited) or '.', then
// mode, version, packets, source port and address or name.
func RenderMRUClassic(w io.Writer, l *MRUList, key string, o RenderOptions) {
	var b []byte
	b = append(b, mruClassicHead...)
	b = append(b, bytes.Repeat([]byte{'='}, mruClassicRule)...)
	b = append(b, '\n')
	for _, e := range MRUOrder(l, StyleClassic, key) {
		// Both rounded to the nearest second: lstint in 32.32 fixed point
		// (now - last + 0.5), avgint as a double.
		lstint := int32((int64(l.Now-e.Last) + 0x80000000) >> 32)
		avgint := int64(mruAvgInt(&e) + 0.5)
		r := byte('.')
		switch {
		case e.RS&classicResKoD != 0:
			r = 'K'
		case e.RS&classicResLimited != 0:
			r = 'L'
		}
		b = fmt.Appendf(b, "%6d %6d %4x %c %d %d %6d %5d %s\n", lstint, avgint, uint16(e.RS), r,
			e.Mode(), e.Version(), e.Count, e.Addr.Port(), mruHost(e.Addr.Addr(), o))
	}
	_, _ = w.Write(b)
}

// MRUClassicSummary is ntpq-classic's stderr line after the collection.
func MRUClassicSummary(l *MRUList) string {
	return fmt.Sprintf("\rRetrieved %d unique MRU entries and %d updates.\n", len(l.Entries), l.Updates)
}

// RenderMRUSec prints ntpq-sec 1.2.2's table after its "Ctrl-C" line
// (which the caller prints before collecting), with its three trailing
// comment lines:
//
//	 lstint avgint rstr r m v  count    score   drop rport remote address
//	=====================================================================
//	      0  0.050    0 . 3 3      2    0.100      0 40002 ::1
//	# Collected 7 slots in 0.008 seconds
//	# Processed 7 slots in 0.009 seconds
//	# Used 20 megabytes of memory
//
// lstint is now - last rounded, avgint (last - first) / (count - 1) with
// 3 or 2 decimals below 1 and 5 s, score and drop as sent by NTPsec ("-"
// from classic ntpd).
func RenderMRUSec(w io.Writer, l *MRUList, key string, o RenderOptions, st MRUStats) {
	var b []byte
	b = append(b, mruSecHead...)
	b = append(b, '\n')
	b = append(b, bytes.Repeat([]byte{'='}, mruSecRuleWidth)...)
	b = append(b, '\n')
	now := ntpFloat(l.Now)
	for _, e := range MRUOrder(l, StyleNTPsec, key) {
		b = appendSecMRURow(b, &e, now, o)
	}
	b = fmt.Appendf(b, "# Collected %d slots in %.3f seconds\n", l.Slots, st.Collected)
	_, _ = w.Write(b)
}

// MRUSecTrailer is the last two comment lines of ntpq-sec's mrulist.
func MRUSecTrailer(l *MRUList, st MRUStats) string {
	return fmt.Sprintf("# Processed %d slots in %.3f seconds\n# Used %d megabytes of memory\n", l.Slots, st.Processed, st.MemoryMB)
}

func appendSecMRURow(b []byte, e *mode6.MRUEntry, now float64, o RenderOptions) []byte {
	last, first := ntpFloat(e.Last), ntpFloat(e.First)
	active := last - first
	lstint := int64(now - last + 0.5)
	b = fmt.Appendf(b, "%7d", lstint)
	favg := 0.0
	if e.Count != 1 && e.Count != 0 {
		favg = active / float64(e.Count-1)
	} else if e.Count == 0 {
		favg = active / -1
	}
	switch {
	case favg > 5.0 || e.Count == 1:
		b = fmt.Appendf(b, " %6d", int64(favg+0.5))
	case favg >= 1.0:
		b = fmt.Appendf(b, " %6.2f", favg)
	default:
		b = fmt.Appendf(b, " %6.3f", favg)
	}
	r := byte('.')
	switch {
	case e.RS&secResKoD != 0:
		r = 'K'
	case e.RS&secResLimited != 0:
		r = 'L'
	}
	score := "-"
	if e.HasScore && e.Score != 0 {
		switch {
		case e.Score > 100000.0:
			score = fmt.Sprintf("%8.1f", e.Score)
		case e.Score > 10000.0:
			score = fmt.Sprintf("%8.2f", e.Score)
		default:
			score = fmt.Sprintf("%8.3f", e.Score)
		}
	}
	drop := "-"
	if e.HasDrop {
		drop = fmt.Sprintf("%4d", e.Drop)
	}
	return fmt.Appendf(b, " %4x %c %d %d %6d %8s %6s %5d %s\n", e.RS, r, e.Mode(), e.Version(),
		e.Count, score, drop, e.Addr.Port(), mruHost(e.Addr.Addr(), o))
}

// JSONMRUEntry is one row of the mrulist document.
type JSONMRUEntry struct {
	Remote      string   `json:"remote"`
	Addr        string   `json:"addr"`
	Port        uint16   `json:"port"`
	LastSeconds float64  `json:"lstint_s"`
	AvgSeconds  float64  `json:"avgint_s"`
	Count       uint64   `json:"count"`
	Restrict    string   `json:"restrict"`
	Mode        uint8    `json:"mode"`
	Version     uint8    `json:"version"`
	First       string   `json:"first"`
	Last        string   `json:"last"`
	Score       *float64 `json:"score,omitempty"`
	Drop        *int64   `json:"drop,omitempty"`
}

// JSONMRU is the document of mrulist.
type JSONMRU struct {
	View     string         `json:"view"`
	Host     string         `json:"host"`
	Now      string         `json:"now"`
	Complete bool           `json:"complete"`
	Sort     string         `json:"sort"`
	Updates  int            `json:"updates"`
	Slots    int            `json:"slots"`
	Entries  []JSONMRUEntry `json:"entries"`
}

// MRUJSON builds the mrulist document (entries in display order of the
// classic layout, or of the selected sort key).
func MRUJSON(l *MRUList, key string, o RenderOptions) JSONMRU {
	doc := JSONMRU{View: "mrulist", Host: l.Host, Now: tsText(l.Now), Complete: l.Complete,
		Sort: key, Updates: l.Updates, Slots: l.Slots, Entries: []JSONMRUEntry{}}
	if doc.Sort == "" {
		doc.Sort = "lstint"
	}
	for _, e := range MRUOrder(l, StyleClassic, key) {
		je := JSONMRUEntry{
			Remote:      mruHost(e.Addr.Addr(), o),
			Addr:        e.Addr.Addr().Unmap().String(),
			Port:        e.Addr.Port(),
			LastSeconds: round6(tsDiff(l.Now, e.Last)),
			AvgSeconds:  round6(mruAvgInt(&e)),
			Count:       e.Count,
			Restrict:    "0x" + strconv.FormatUint(uint64(e.RS), 16),
			Mode:        e.Mode(),
			Version:     e.Version(),
			First:       tsText(e.First),
			Last:        tsText(e.Last),
		}
		if e.HasScore {
			s := e.Score
			je.Score = &s
		}
		if e.HasDrop {
			d := e.Drop
			je.Drop = &d
		}
		doc.Entries = append(doc.Entries, je)
	}
	return doc
}

func tsText(ts uint64) string { return string(mode6.AppendTimestamp(nil, ts)) }

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
