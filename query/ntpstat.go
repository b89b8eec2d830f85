package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
)

// ntpstat (Debian 0.0.0.1, SPEC §6.1) as pure functions: StatRequest
// builds the datagram, ParseStat turns the first answer datagram into a
// StatReport, and StatReport.Render prints it with the exit status.

// StatRequestLen is the size of ntpstat's request datagram.
const StatRequestLen = 576

// StatTimeout is how long ntpstat waits for the answer.
const StatTimeout = time.Second

// StatRequest returns ntpstat's 576-octet READVAR request (VN 2, seq 1,
// assoc 0, no variable list, zero filled).
func StatRequest() []byte {
	b := make([]byte, StatRequestLen)
	copy(b, mode6.NewRequest(mode6.OpReadVar, 1, 0).Append(nil))
	return b
}

// statSources are ntpstat's names of the system clock source codes.
var statSources = [...]string{"unspecified", "atomic clock", "VLF radio", "HF radio", "UHF radio",
	"local net", "NTP server", "UDP/TIME", "wristwatch", "modem"}

// StatSourceName is ntpstat's name of a clock source code.
func StatSourceName(code uint8) string {
	if int(code) < len(statSources) {
		return statSources[code]
	}
	return "unknown source"
}

// Field states of a StatReport.
const (
	FieldOK         = iota
	FieldMissing    // "unknown", exit 1
	FieldUnreadable // "unreadable"
)

// StatReport is what ntpstat learned from the answer.
type StatReport struct {
	Error      string // non-empty: stderr text (exit 2)
	Synced     bool
	Leap       uint8
	SourceCode uint8
	Event      uint8
	// Address is shown for source 6 (NTP server): the refid text.
	RefID         string
	RefIDState    int
	Stratum       string
	StratumState  int
	AccuracyMS    float64
	AccuracyState int
	Poll          int64 // seconds
	PollState     int
	// Chrony is set when the answer came from chronyd (ntpstat 0.6 output:
	// no trailing space on the first line).
	Chrony bool
}

// ParseStat decodes the first answer datagram like ntpstat 0.0.0.1: header
// validation, then strstr-style searches for refid=, stratum=, rootdisp=,
// rootdelay= and tc= in the (at most 468 octet) data; state comes from the
// status word in the header.
func ParseStat(pkt []byte) StatReport {
	if len(pkt) < mode6.HeaderLen || pkt[0]&0x3f != 0x16 || pkt[1]&^0x20 != 0x82 {
		var b0, b1 byte
		if len(pkt) > 1 {
			b0, b1 = pkt[0], pkt[1]
		}
		return StatReport{Error: fmt.Sprintf("status word is 0x%02x%02x\nreturn data appears to be invalid based on status word\n", b0, b1)}
	}
	data := pkt[mode6.HeaderLen:]
	if len(data) > mode6.MaxFragData {
		data = data[:mode6.MaxFragData]
	}
	if i := strings.IndexByte(string(data), 0); i >= 0 {
		data = data[:i]
	}
	text := string(data)
	r := StatReport{Leap: pkt[4] >> 6, SourceCode: pkt[4] & 0x3f, Event: pkt[5] & 0x0f}
	r.Synced = r.Leap != 3
	field := func(name string) (string, bool) {
		i := strings.Index(text, name)
		if i < 0 {
			return "", false
		}
		v := text[i+len(name):]
		if j := strings.IndexByte(v, ','); j >= 0 {
			v = v[:j]
		}
		return v, true
	}
	if v, ok := field("refid="); !ok {
		r.RefIDState = FieldMissing
	} else if v == "" || len(v) > 16 {
		r.RefIDState = FieldUnreadable
	} else {
		r.RefID = v
	}
	if v, ok := field("stratum="); !ok {
		r.StratumState = FieldMissing
	} else if v == "" || len(v) > 2 {
		r.StratumState = FieldUnreadable
	} else {
		r.Stratum = v
	}
	disp, ok1 := field("rootdisp=")
	delay, ok2 := field("rootdelay=")
	switch {
	case !ok1 || !ok2:
		r.AccuracyState = FieldMissing
	case disp == "" || delay == "" || len(disp) > 10 || len(delay) > 10:
		r.AccuracyState = FieldUnreadable
	default:
		r.AccuracyMS = atof(disp) + atof(delay)/2
	}
	if v, ok := field("tc="); !ok {
		r.PollState = FieldMissing
	} else if len(v) > 2 {
		r.PollState = FieldUnreadable
	} else {
		r.Poll = int64(1) << (uint(atoi(v)) & 63)
	}
	return r
}

// atof and atoi parse the longest numeric prefix like the C functions.
func atof(s string) float64 {
	s = strings.TrimLeft(s, " \t\r\n")
	end := 0
	for end < len(s) && strings.IndexByte("+-0123456789.eE", s[end]) >= 0 {
		end++
	}
	for ; end > 0; end-- {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return f
		}
	}
	return 0
}

func atoi(s string) int64 {
	s = strings.TrimLeft(s, " \t\r\n")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	v, _ := strconv.ParseInt(s[:end], 10, 64)
	return v
}

// StatOptions are the ntpstat 0.6 additions.
type StatOptions struct {
	MaxErrorMS float64 // -m: > 0 checks the accuracy against it
}

// Render returns ntpstat's stdout, stderr and exit status.
func (r StatReport) Render(o StatOptions) (stdout, stderr string, exit int) {
	if r.Error != "" {
		return "", r.Error, 2
	}
	var b strings.Builder
	exit = 0
	poll := func() {
		switch r.PollState {
		case FieldMissing:
			b.WriteString("   poll interval unknown\n")
			exit = 1
		case FieldUnreadable:
			b.WriteString("   poll interval unreadable\n")
		default:
			fmt.Fprintf(&b, "   polling server every %d s\n", r.Poll)
		}
	}
	if !r.Synced {
		b.WriteString("unsynchronised\n")
		if r.Event == 1 && !r.Chrony {
			b.WriteString("  time server re-starting\n")
		}
		poll()
		return b.String(), "", 1
	}
	b.WriteString("synchronised to ")
	b.WriteString(StatSourceName(r.SourceCode))
	if r.SourceCode == 6 {
		switch r.RefIDState {
		case FieldMissing:
			b.WriteString(" <IP unknown>")
			exit = 1
		case FieldUnreadable:
			b.WriteString(" <IP unreadable>")
		default:
			b.WriteString(" (" + r.RefID + ")")
		}
	}
	trail := " "
	if r.Chrony {
		trail = ""
	}
	switch r.StratumState {
	case FieldMissing:
		b.WriteString(", stratum unknown\n")
		exit = 1
	case FieldUnreadable:
		b.WriteString(", stratum unreadable\n")
	default:
		b.WriteString(" at stratum " + r.Stratum + trail + "\n")
	}
	switch r.AccuracyState {
	case FieldMissing:
		b.WriteString("   accuracy unknown\n")
		exit = 1
	case FieldUnreadable:
		b.WriteString("   accuracy unreadable\n")
	default:
		fmt.Fprintf(&b, "   time correct to within %.0f ms", r.AccuracyMS)
		if o.MaxErrorMS > 0 && r.AccuracyMS > o.MaxErrorMS {
			fmt.Fprintf(&b, " (exceeded maximum of %s ms)", strconv.FormatFloat(o.MaxErrorMS, 'f', -1, 64))
			exit = 1
		}
		b.WriteString("\n")
	}
	poll()
	return b.String(), "", exit
}

// StatJSON is the --json document of ntpstat.
type StatJSON struct {
	Synchronised bool     `json:"synchronised"`
	Source       string   `json:"source,omitempty"`
	SourceCode   *uint8   `json:"source_code,omitempty"`
	Address      string   `json:"address,omitempty"`
	Stratum      *int64   `json:"stratum,omitempty"`
	AccuracyMS   *float64 `json:"accuracy_ms,omitempty"`
	PollSeconds  *int64   `json:"poll_s,omitempty"`
	Leap         *uint8   `json:"leap,omitempty"`
	Daemon       string   `json:"daemon,omitempty"` // "ntpd" (mode 6) or "chronyd"
	Exceeded     bool     `json:"exceeded_max_error,omitempty"`
	ExitStatus   int      `json:"exit_status"`
	Error        string   `json:"error,omitempty"`
}

// JSON converts the report (and the exit status Render computed).
func (r StatReport) JSON(o StatOptions) StatJSON {
	_, _, exit := r.Render(o)
	j := StatJSON{Synchronised: r.Synced && r.Error == "", ExitStatus: exit, Daemon: "ntpd"}
	if r.Chrony {
		j.Daemon = "chronyd"
	}
	if r.Error != "" {
		j.Error = strings.ReplaceAll(strings.TrimSpace(r.Error), "\n", "; ")
		j.Daemon = ""
		return j
	}
	code, leap := r.SourceCode, r.Leap
	j.Leap = &leap
	if r.Synced {
		j.Source, j.SourceCode = StatSourceName(code), &code
		if code == 6 && r.RefIDState == FieldOK {
			j.Address = r.RefID
		}
		if r.StratumState == FieldOK {
			if v, err := strconv.ParseInt(r.Stratum, 10, 64); err == nil {
				j.Stratum = &v
			}
		}
		if r.AccuracyState == FieldOK {
			a := math.Round(r.AccuracyMS*1e6) / 1e6
			j.AccuracyMS = &a
			j.Exceeded = o.MaxErrorMS > 0 && a > o.MaxErrorMS
		}
	}
	if r.PollState == FieldOK {
		p := r.Poll
		j.PollSeconds = &p
	}
	return j
}

// Stat errors: texts ntpstat prints to stderr (exit 2).
const (
	StatErrTimeout = "timeout\n"
	StatErrTalk    = "Unable to talk to NTP daemon. Is it running?\n"
	StatErrSocket  = "unable to open socket\n"
	StatErrConnect = "unable to connect to socket\n"
	StatErrSend    = "unable to send command to NTP port\n"
)

// ErrStatNoAnswer marks failures where another daemon (chronyd) may be
// asked instead: nothing answered on the mode 6 port.
var ErrStatNoAnswer = errors.New("no mode 6 answer")

// FetchStat performs ntpstat's exchange with addr (host:port) through d
// (nil: net.Dialer): one datagram, one answer within timeout. It returns
// the report; err wraps ErrStatNoAnswer when the daemon did not answer
// (refused or timeout) so that callers can fall back to chronyd.
func FetchStat(ctx context.Context, d Dialer, addr string, timeout time.Duration) (StatReport, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	if timeout <= 0 {
		timeout = StatTimeout
	}
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return StatReport{Error: StatErrConnect}, err
	}
	defer c.Close()
	if _, err := c.Write(StatRequest()); err != nil {
		if isRefused(err) {
			return StatReport{Error: StatErrTalk}, fmt.Errorf("%w: %v", ErrStatNoAnswer, err)
		}
		return StatReport{Error: StatErrSend}, err
	}
	dl := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	_ = c.SetReadDeadline(dl)
	buf := make([]byte, StatRequestLen)
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			return StatReport{Error: StatErrTimeout}, fmt.Errorf("%w: %v", ErrStatNoAnswer, err)
		}
		return StatReport{Error: StatErrTalk}, fmt.Errorf("%w: %v", ErrStatNoAnswer, err)
	}
	return ParseStat(buf[:n]), nil
}

// ChronyStat is the chronyd view ntpstat 0.6 prints (see
// chrony.SyncStatus); kept here as plain values so the rendering stays
// a pure function of this package.
type ChronyStat struct {
	Synchronised bool
	SourceKind   string // "NTP server", "reference clock", "local net"
	Address      string // shown for NTP servers
	Stratum      int
	AccuracyMS   float64
	PollLog2     int
}

// StatFromChrony converts a chronyd status into a report rendered in the
// ntpstat 0.6 layout.
func StatFromChrony(c ChronyStat) StatReport {
	r := StatReport{Synced: c.Synchronised, Chrony: true, Stratum: strconv.Itoa(c.Stratum),
		AccuracyMS: c.AccuracyMS, Poll: int64(math.Pow(2, float64(c.PollLog2)))}
	if c.PollLog2 < 0 {
		r.Poll = 1
	}
	switch c.SourceKind {
	case "NTP server":
		r.SourceCode = 6
		r.RefID = c.Address
		if r.RefID == "" {
			r.RefIDState = FieldUnreadable
		}
	case "local net":
		r.SourceCode = 5
	case "reference clock":
		r.SourceCode = 1
	default:
		r.SourceCode = 0
	}
	if !c.Synchronised {
		r.Leap = 3
	}
	return r
}
