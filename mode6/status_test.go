package mode6

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestSysStatusTable(t *testing.T) {
	for _, tc := range []struct {
		w    uint16
		want string
	}{
		{0x0014, "leap_none, sync_unspec, 1 event, freq_mode"},
		{0x0015, "leap_none, sync_unspec, 1 event, clock_sync"},
		{0x0514, "leap_none, sync_local, 1 event, freq_mode"},
		{0x0614, "leap_none, sync_ntp, 1 event, freq_mode"},
		{0x0615, "leap_none, sync_ntp, 1 event, clock_sync"},
		{0xc016, "leap_alarm, sync_unspec, 1 event, restart"},
		{0x0000, "leap_none, sync_unspec, no events, unspecified"},
		{0x4a2c, "leap_add_sec, sync_10, 2 events, clock_step"},
		{0x89ff, "leap_del_sec, sync_telephone, 15 events, stale_leapsecond_values"},
	} {
		s := DecodeSysStatus(tc.w)
		if got := s.String(); got != tc.want {
			t.Errorf("%04x: got %q want %q", tc.w, got, tc.want)
		}
		if s.Word() != tc.w {
			t.Errorf("%04x: round trip %04x", tc.w, s.Word())
		}
	}
}

func TestPeerStatusTable(t *testing.T) {
	for _, tc := range []struct {
		w     uint16
		want  string
		tally byte
	}{
		{0x961a, "conf, reach, sel_sys.peer, 1 event, sys_peer", '*'},
		{0x9414, "conf, reach, sel_candidate, 1 event, reachable", '+'},
		{0x9314, "conf, reach, sel_outlier, 1 event, reachable", '-'},
		{0x9014, "conf, reach, sel_reject, 1 event, reachable", ' '},
		{0x8011, "conf, sel_reject, 1 event, mobilize", ' '},
		{0x8811, "conf, bcast, sel_reject, 1 event, mobilize", ' '},
		{0x801b, "conf, sel_reject, 1 event, clock_event", ' '},
		{0xb41a, "conf, auth, reach, sel_candidate, 1 event, sys_peer", '+'},
		{0x361a, "auth, reach, sel_sys.peer, 1 event, sys_peer", '*'},
		{0xb114, "conf, auth, reach, sel_falsetick, 1 event, reachable", 'x'},
		{0xb514, "conf, auth, reach, sel_backup, 1 event, reachable", '#'},
		{0x0200, "sel_excess, no events", '.'},
		{0x4730, "authenb, sel_pps.peer, 3 events", 'o'},
	} {
		p := DecodePeerStatus(tc.w)
		if got := p.String(); got != tc.want {
			t.Errorf("%04x: got %q want %q", tc.w, got, tc.want)
		}
		if p.Tally() != tc.tally {
			t.Errorf("%04x: tally %q want %q", tc.w, p.Tally(), tc.tally)
		}
		if p.Word() != tc.w {
			t.Errorf("%04x: round trip %04x", tc.w, p.Word())
		}
	}
	if got := PeerEventListName(11); got != "clock_alarm" {
		t.Errorf("as name of 11: %q", got)
	}
	for _, ev := range []uint8{0, 12, 13, 14, 15} {
		if got := PeerEventListName(ev); got != "" {
			t.Errorf("as name of %d: %q", ev, got)
		}
	}
	if PeerEventName(12) != "bad_auth" || PeerEventName(15) != "interleave_error" || PeerEventName(0) != "" {
		t.Error("peer event names")
	}
}

func TestClockStatus(t *testing.T) {
	c := DecodeClockStatus(0x0301)
	if c.Status != 3 || c.Event != 1 || c.Word() != 0x0301 {
		t.Errorf("%+v", c)
	}
	if ClockName(6) != "clk_bad_time" || ClockName(9) != "clk_9" {
		t.Error("clock names")
	}
}

// Every "status=XXXX text," line of the rv goldens (testdata/golden, copied
// from /work/shared/compat/golden) decodes to the same text.
func TestStatusGoldenRV(t *testing.T) {
	re := regexp.MustCompile(`^associd=(\d+) status=([0-9a-f]{4}) (.*),$`)
	files, _ := filepath.Glob("testdata/golden/*.txt")
	n := 0
	for _, fn := range files {
		eachLine(t, fn, func(line string) {
			m := re.FindStringSubmatch(line)
			if m == nil {
				return
			}
			w, _ := strconv.ParseUint(m[2], 16, 16)
			var got string
			if m[1] == "0" {
				got = DecodeSysStatus(uint16(w)).String()
			} else {
				got = DecodePeerStatus(uint16(w)).String()
			}
			if got != m[3] {
				t.Errorf("%s: status %s: got %q want %q", filepath.Base(fn), m[2], got, m[3])
			}
			n++
		})
	}
	if n < 10 {
		t.Errorf("only %d status lines checked", n)
	}
}

// Every row of the associations goldens: condition, last_event, count and the
// conf/reach columns follow from the status word.
func TestStatusGoldenAssociations(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*ntpq-c-*as*.txt")
	n := 0
	for _, fn := range files {
		eachLine(t, fn, func(line string) {
			f := strings.Fields(line)
			if len(f) < 8 || f[0] == "ind" {
				return
			}
			if _, err := strconv.Atoi(f[0]); err != nil {
				return
			}
			w, err := strconv.ParseUint(f[2], 16, 16)
			if err != nil {
				return
			}
			p := DecodePeerStatus(uint16(w))
			conf, reach := "no", "no"
			if p.Has(PeerConf) {
				conf = "yes"
			}
			if p.Has(PeerReach) {
				reach = "yes"
			}
			if p.Has(PeerBcast) {
				reach = "none"
			}
			// columns: ind assid status conf reach auth condition [last_event] cnt
			ev := ""
			if len(f) == 9 {
				ev = f[7]
			}
			got := []string{conf, reach, Condition(p.Select), PeerEventListName(p.Event), strconv.Itoa(int(p.Count))}
			want := []string{f[3], f[4], f[6], ev, f[len(f)-1]}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s: %q: got %v want %v", filepath.Base(fn), line, got, want)
			}
			n++
		})
	}
	if n < 30 {
		t.Errorf("only %d association rows checked", n)
	}
}

func eachLine(t *testing.T, fn string, f func(string)) {
	t.Helper()
	fh, err := os.Open(fn)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f(sc.Text())
	}
}
