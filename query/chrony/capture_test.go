package chrony

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// A capture is one chronyc invocation recorded live by TestLive (-update):
// every request chronyc sent and every reply chronyd gave, through a relay
// in the test's network namespace, plus chronyc's -c (CSV) output. Because
// chronyc printed exactly these replies, decoding them must reproduce its
// output byte for byte.
type capture struct {
	Name      string     `json:"name"`
	Chronyc   []string   `json:"chronyc"` // arguments after chronyc
	Exchanges []exchange `json:"exchanges"`
	Output    string     `json:"output"`
}

type exchange struct {
	Request string `json:"request"` // hex
	Reply   string `json:"reply"`   // hex
}

func (e exchange) bytes(t testing.TB) (req, rpy []byte) {
	t.Helper()
	req, err := hex.DecodeString(e.Request)
	if err != nil {
		t.Fatal(err)
	}
	rpy, err = hex.DecodeString(e.Reply)
	if err != nil {
		t.Fatal(err)
	}
	return req, rpy
}

const captureDir = "testdata/capture"

func loadCaptures(t testing.TB) []capture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(captureDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no captures in %s (run the live test with -update as root)", captureDir)
	}
	var out []capture
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c capture
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, c)
	}
	return out
}

func writeCapture(t testing.TB, c capture) {
	t.Helper()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(captureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(captureDir, c.Name+".json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The formatters below print decoded reports the way chronyc -c (CSV,
// with -n) does, so tests can compare with chronyc's own output.

func leapText(l ntp.Leap) string {
	switch l {
	case ntp.LeapNone:
		return "Normal"
	case ntp.LeapInsert:
		return "Insert second"
	case ntp.LeapDelete:
		return "Delete second"
	}
	return "Not synchronised"
}

func csvTracking(t Tracking) string {
	name := t.RefName()
	var ref string
	if !t.RefTime.IsZero() {
		ref = fmt.Sprintf("%d.%09d", t.RefTime.Unix(), t.RefTime.Nanosecond())
	} else {
		ref = "0.000000000"
	}
	return fmt.Sprintf("%08X,%s,%d,%s,%.9f,%.9f,%.9f,%.3f,%.3f,%.3f,%.9f,%.9f,%.1f,%s\n",
		t.RefID.Uint32(), name, t.Stratum, ref,
		t.CurrentCorrection, t.LastOffset, t.RMSOffset,
		t.FreqPPM, t.ResidFreqPPM, t.SkewPPM,
		t.RootDelay, t.RootDispersion, t.UpdateInterval, leapText(t.Leap))
}

func csvSource(s Source) string {
	return fmt.Sprintf("%c,%c,%s,%d,%d,%o,%d,%.9f,%.9f,%.9f\n",
		s.Mode.Char(), s.State.Char(), s.Name(), s.Stratum, s.Poll, s.Reach, s.LastRx,
		s.Offset, s.OrigOffset, s.Error)
}

func csvSourceStats(s SourceStats, name string) string {
	return fmt.Sprintf("%s,%d,%d,%d,%.3f,%.3f,%.9f,%.9f\n",
		name, s.Samples, s.Runs, s.Span, s.ResidFreqPPM, s.SkewPPM, s.Offset, s.StdDev)
}

// sourceStatsName is the name chronyc gives a sourcestats line: the
// address, or the refid text for refclocks.
func sourceStatsName(s SourceStats) string {
	if a := s.Addr.String(); a != "" {
		return a
	}
	return s.RefID.Text()
}

// replay decodes every reply of a capture and renders it like chronyc -c.
func replay(t testing.TB, c capture) string {
	t.Helper()
	var sb strings.Builder
	for i, e := range c.Exchanges {
		_, rpy := e.bytes(t)
		h, err := ParseReplyHeader(rpy)
		if err != nil {
			t.Fatalf("%s exchange %d: %v", c.Name, i, err)
		}
		switch h.Command {
		case CmdNSources:
			if _, err := DecodeNSources(rpy); err != nil {
				t.Fatalf("%s exchange %d: %v", c.Name, i, err)
			}
		case CmdTracking:
			tr, err := DecodeTracking(rpy)
			if err != nil {
				t.Fatalf("%s exchange %d: %v", c.Name, i, err)
			}
			sb.WriteString(csvTracking(tr))
		case CmdSourceData:
			s, err := DecodeSourceData(rpy)
			if err != nil {
				t.Fatalf("%s exchange %d: %v", c.Name, i, err)
			}
			sb.WriteString(csvSource(s))
		case CmdSourceStats:
			s, err := DecodeSourceStats(rpy)
			if err != nil {
				t.Fatalf("%s exchange %d: %v", c.Name, i, err)
			}
			sb.WriteString(csvSourceStats(s, sourceStatsName(s)))
		case CmdNTPData:
			n, err := DecodeNTPData(rpy)
			if err != nil {
				t.Fatalf("%s exchange %d: %v", c.Name, i, err)
			}
			sb.WriteString(csvNTPData(n))
		default:
			t.Fatalf("%s exchange %d: unexpected %v", c.Name, i, h.Command)
		}
	}
	return sb.String()
}

func tssName(c byte) string {
	switch c {
	case 'D':
		return "Daemon"
	case 'K':
		return "Kernel"
	case 'H':
		return "Hardware"
	}
	return "Invalid"
}

func ntpModeName(m ntp.Mode) string {
	switch m {
	case 1:
		return "Symmetric active"
	case 2:
		return "Symmetric passive"
	case 4:
		return "Server"
	}
	return "Invalid"
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// csvNTPData prints a decoded NTP_DATA reply like chronyc -n -c ntpdata.
func csvNTPData(n NTPData) string {
	bit := func(i uint) byte { return '0' + byte(n.Flags>>i&1) }
	tests := string([]byte{bit(9), bit(8), bit(7), ',', bit(6), bit(5), bit(4), ',', bit(3), bit(2), bit(1), bit(0)})
	name := ""
	if n.Stratum <= 1 {
		name = n.RefID.Text()
	}
	ref := "0.000000000"
	if !n.RefTime.IsZero() {
		ref = fmt.Sprintf("%d.%09d", n.RefTime.Unix(), n.RefTime.Nanosecond())
	}
	return fmt.Sprintf("%s,%08X,%d,%s,%08X,%s,%d,%s,%d,%d,%.0f,%d,%.9f,%.6f,%.6f,%08X,%s,%s,%.9f,%.9f,%.9f,%.9f,%.2f,%s,%s,%s,%s,%s,%d,%d,%d,%d\n",
		csvAddr(n.RemoteAddr), csvAddrID(n.RemoteAddr), n.RemotePort,
		csvAddr(n.LocalAddr), csvAddrID(n.LocalAddr),
		leapText(n.Leap), n.Version, ntpModeName(n.Mode), n.Stratum, n.Poll,
		math.Ldexp(1, n.Poll), n.Precision, math.Ldexp(1, n.Precision),
		n.RootDelay, n.RootDispersion, n.RefID.Uint32(), name, ref,
		n.Offset, n.PeerDelay, n.PeerDispersion, n.ResponseTime, n.JitterAsym,
		tests, yesNo(n.Flags&0x4000 != 0), yesNo(n.Flags&0x8000 != 0),
		tssName(n.TxTimestamping), tssName(n.RxTimestamping),
		n.TotalTx, n.TotalRx, n.TotalValid, n.TotalGood)
}

func replayNTPDataCSV(t testing.TB, c capture) string {
	t.Helper()
	var sb strings.Builder
	for i, e := range c.Exchanges {
		_, rpy := e.bytes(t)
		n, err := DecodeNTPData(rpy)
		if err != nil {
			t.Fatalf("%s exchange %d: %v", c.Name, i, err)
		}
		sb.WriteString(csvNTPData(n))
	}
	return sb.String()
}

// writeFuzzSeeds stores every captured reply as a seed of FuzzDecodeReply.
func writeFuzzSeeds(t testing.TB, caps []capture) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeReply")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		for i, e := range c.Exchanges {
			_, rpy := e.bytes(t)
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", rpy)
			name := filepath.Join(dir, fmt.Sprintf("%s-%d", c.Name, i))
			if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func csvAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "[UNSPEC]"
	}
	return a.String()
}

func csvAddrID(a netip.Addr) uint32 {
	if !a.IsValid() {
		return 0
	}
	return ntp.RefIDFromAddr(a).Uint32()
}

// replayAny renders a capture in the format its chronyc command printed.
func replayAny(t testing.TB, c capture) string {
	t.Helper()
	switch {
	case strings.HasPrefix(c.Name, "ntpdata"):
		return replayNTPDataCSV(t, c)
	case c.Name == "tracking-text":
		_, rpy := c.Exchanges[0].bytes(t)
		tr, err := DecodeTracking(rpy)
		if err != nil {
			t.Fatal(err)
		}
		return textTracking(tr)
	}
	return replay(t, c)
}

// textTracking prints a tracking report like chronyc -n tracking.
func textTracking(t Tracking) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Reference ID    : %08X (%s)\n", t.RefID.Uint32(), t.RefName())
	fmt.Fprintf(&b, "Stratum         : %d\n", t.Stratum)
	fmt.Fprintf(&b, "Ref time (UTC)  : %s\n", t.RefTime.UTC().Format("Mon Jan 02 15:04:05 2006"))
	slow := "fast"
	if t.CurrentCorrection > 0 {
		slow = "slow"
	}
	fmt.Fprintf(&b, "System time     : %.9f seconds %s of NTP time\n", math.Abs(t.CurrentCorrection), slow)
	fmt.Fprintf(&b, "Last offset     : %+.9f seconds\n", t.LastOffset)
	fmt.Fprintf(&b, "RMS offset      : %.9f seconds\n", t.RMSOffset)
	slow = "fast"
	if t.FreqPPM < 0 {
		slow = "slow"
	}
	fmt.Fprintf(&b, "Frequency       : %.3f ppm %s\n", math.Abs(t.FreqPPM), slow)
	fmt.Fprintf(&b, "Residual freq   : %+.3f ppm\n", t.ResidFreqPPM)
	fmt.Fprintf(&b, "Skew            : %.3f ppm\n", t.SkewPPM)
	fmt.Fprintf(&b, "Root delay      : %.9f seconds\n", t.RootDelay)
	fmt.Fprintf(&b, "Root dispersion : %.9f seconds\n", t.RootDispersion)
	fmt.Fprintf(&b, "Update interval : %.1f seconds\n", t.UpdateInterval)
	fmt.Fprintf(&b, "Leap status     : %s\n", leapText(t.Leap))
	return b.String()
}
