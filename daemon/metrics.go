package daemon

import (
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
)

// Outcomes of a received packet (label outcome of ntpkit_packets_total).
const (
	outServed  = iota // answered normally
	outKoD            // answered with a kiss-o'-death
	outError          // answered with a mode 6 error response
	outDropped        // not answered
	outCount
)

var outcomeNames = [outCount]string{"served", "kod", "error", "dropped"}

// Reasons for not answering (label reason of ntpkit_dropped_total).
const (
	dropShort       = iota // too short / malformed header
	dropVersion            // version outside 1..4 (or "restrict version")
	dropMode               // mode not served (1, 2, 4, 5, 7, 0)
	dropIgnore             // restrict ignore
	dropNoServe            // restrict noserve (mode 3)
	dropNoQuery            // restrict noquery (mode 6)
	dropRateLimited        // restrict limited, over the rate
	dropMalformed          // mode 6 request dropped by validation
	dropSendError          // the reply could not be sent
	dropAuth               // malformed trailer, or notrust without a valid MAC (mode 3)
	dropCount
)

var dropNames = [dropCount]string{"short", "version", "mode", "ignore", "noserve", "noquery",
	"rate_limited", "malformed", "send_error", "auth"}

// Metrics holds the daemon's counters. All methods are safe for concurrent
// use and do not allocate on the packet path.
type Metrics struct {
	packets     [8][outCount]atomic.Uint64
	dropped     [dropCount]atomic.Uint64
	kodSent     atomic.Uint64
	rateLimited atomic.Uint64
	// received by mode and version field (vars_stats.go: ss_received,
	// ss_thisver, ss_oldver, ss_ver1) and packets handed to the sync engine
	// (ss_processed).
	rx        [8][8]atomic.Uint64
	processed atomic.Uint64
}

// received counts one datagram by mode and version (vars_stats.go).
func (m *Metrics) received(pkt []byte) {
	b := byte(0)
	if len(pkt) > 0 {
		b = pkt[0]
	}
	m.rx[b&7][b>>3&7].Add(1)
}

func (m *Metrics) packet(mode byte, outcome int) { m.packets[mode&7][outcome].Add(1) }

func (m *Metrics) drop(mode byte, reason int) {
	m.packets[mode&7][outDropped].Add(1)
	m.dropped[reason].Add(1)
}

// Packets returns the count for a mode and outcome name (tests).
func (m *Metrics) Packets(mode int, outcome string) uint64 {
	for i, n := range outcomeNames {
		if n == outcome {
			return m.packets[mode&7][i].Load()
		}
	}
	return 0
}

// KoDSent is the number of kiss-o'-death replies sent.
func (m *Metrics) KoDSent() uint64 { return m.kodSent.Load() }

// RateLimited is the number of packets over a source's rate limit.
func (m *Metrics) RateLimited() uint64 { return m.rateLimited.Load() }

// Dropped returns the drop count for a reason name (tests).
func (m *Metrics) Dropped(reason string) uint64 {
	for i, n := range dropNames {
		if n == reason {
			return m.dropped[i].Load()
		}
	}
	return 0
}

// writeProm writes the Prometheus text exposition (docs/metrics.md).
func (d *Daemon) writeProm(w io.Writer) {
	m := d.metrics
	fmt.Fprintln(w, "# HELP ntpkit_packets_total NTP packets received, by mode and outcome.")
	fmt.Fprintln(w, "# TYPE ntpkit_packets_total counter")
	for mode := 0; mode < 8; mode++ {
		for o := 0; o < outCount; o++ {
			if v := m.packets[mode][o].Load(); v != 0 || mode == 3 || mode == 6 {
				fmt.Fprintf(w, "ntpkit_packets_total{mode=\"%d\",outcome=%q} %d\n", mode, outcomeNames[o], v)
			}
		}
	}
	fmt.Fprintln(w, "# HELP ntpkit_dropped_total Packets not answered, by reason.")
	fmt.Fprintln(w, "# TYPE ntpkit_dropped_total counter")
	for r := 0; r < dropCount; r++ {
		fmt.Fprintf(w, "ntpkit_dropped_total{reason=%q} %d\n", dropNames[r], m.dropped[r].Load())
	}
	fmt.Fprintln(w, "# HELP ntpkit_kod_sent_total Kiss-o'-death (RATE) replies sent.")
	fmt.Fprintln(w, "# TYPE ntpkit_kod_sent_total counter")
	fmt.Fprintf(w, "ntpkit_kod_sent_total %d\n", m.kodSent.Load())
	fmt.Fprintln(w, "# HELP ntpkit_rate_limited_total Packets over their source's rate limit (dropped or answered with KoD).")
	fmt.Fprintln(w, "# TYPE ntpkit_rate_limited_total counter")
	fmt.Fprintf(w, "ntpkit_rate_limited_total %d\n", m.rateLimited.Load())

	sys := d.engine.System()
	leap, stratum := sysLeapStratum(sys)
	gauge := func(name, help, val string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, val)
	}
	synced := "0"
	if sys.Synchronized() {
		synced = "1"
	}
	gauge("ntpkit_system_synchronized", "1 when the system clock is synchronised, else 0.", synced)
	gauge("ntpkit_system_leap", "System leap indicator (3 = unsynchronised).", strconv.Itoa(int(leap)))
	gauge("ntpkit_system_stratum", "System stratum (16 = unsynchronised).", strconv.Itoa(int(stratum)))
	gauge("ntpkit_system_offset_seconds", "Last combined offset of the system clock.", strconv.FormatFloat(sys.Offset.Seconds(), 'g', -1, 64))
	gauge("ntpkit_system_frequency_ppm", "Frequency correction of the system clock.", strconv.FormatFloat(sys.FrequencyPPM, 'g', -1, 64))
	gauge("ntpkit_system_root_dispersion_seconds", "Root dispersion served to clients.", strconv.FormatFloat(sys.RootDispersion.Seconds(), 'g', -1, 64))
	peers := d.engine.Peers()
	reach := 0
	for i := range peers {
		if peers[i].Reachable() {
			reach++
		}
	}
	gauge("ntpkit_peers", "Configured and mobilised associations.", strconv.Itoa(len(peers)))
	gauge("ntpkit_peers_reachable", "Associations with a non-zero reach register.", strconv.Itoa(reach))
	if d.mru != nil {
		gauge("ntpkit_mru_entries", "Sources in the MRU (rate limiting) table.", strconv.Itoa(d.mru.Len()))
		gauge("ntpkit_mru_capacity", "Fixed capacity of the MRU table.", strconv.Itoa(d.mru.Cap()))
	}
}
