package ntpqtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
)

// ParseScenarioFile reads a scenario file (see ParseScenario).
func ParseScenarioFile(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := &Scenario{Meta: map[string][]string{}}
	if err := sc.parse(f, filepath.Dir(path), 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario reads the text form of a Scenario, one directive per line:
//
//	# comment
//	now 2026-11-22T02:31:32Z     the capture time (Meta, NowSeconds)
//	sysstatus 0615               system status word (hex)
//	sys leap=0, stratum=3, ...   system variables in daemon text (appended)
//	assoc 2208 941a              a new association: id, peer status (hex)
//	var srcadr=198.18.123.2, ... its variables (appended)
//	clock name=value, ...        its clock variables (appended)
//	drop                         answer nothing (noquery)
//	include FILE                 read FILE (relative to this file) here
//	                             (ParseScenarioFile only)
//	sysreset                     forget the system variables read so far
//	delassoc ID                  forget an association read so far
//	<other> args...              kept in Meta[other] for the test
//
// Values may contain \xNN escapes (raw octets) and the special values
// now-N / now+N, replaced by the NTP timestamp N seconds before/after now
// (fraction 0x80000000).
func ParseScenario(r io.Reader) (*Scenario, error) {
	sc := &Scenario{Meta: map[string][]string{}}
	if err := sc.parse(r, "", 0); err != nil {
		return nil, err
	}
	return sc, nil
}

func (sc *Scenario) parse(r io.Reader, dir string, depth int) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	ln := 0
	var cur *Assoc
	for s.Scan() {
		ln++
		line := strings.TrimRight(s.Text(), " \t\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		bad := func(f string, a ...any) error { return fmt.Errorf("line %d: %s", ln, fmt.Sprintf(f, a...)) }
		switch kw {
		case "now":
			t, err := time.Parse(time.RFC3339Nano, rest)
			if err != nil {
				return bad("now: %v", err)
			}
			sc.NowSeconds = uint32(t.Unix() + 2208988800)
			sc.Meta[kw] = append(sc.Meta[kw], rest)
		case "sysstatus":
			v, err := strconv.ParseUint(rest, 16, 16)
			if err != nil {
				return bad("sysstatus: %v", err)
			}
			sc.SysStatus = uint16(v)
		case "sys", "var", "clock":
			vars, err := sc.items(rest)
			if err != nil {
				return bad("%v", err)
			}
			switch kw {
			case "sys":
				sc.SysVars = append(sc.SysVars, vars...)
			case "var", "clock":
				if cur == nil {
					return bad("%s before assoc", kw)
				}
				if kw == "var" {
					cur.Vars = append(cur.Vars, vars...)
				} else {
					cur.ClockVars = append(cur.ClockVars, vars...)
				}
			}
		case "assoc":
			f := strings.Fields(rest)
			if len(f) != 2 {
				return bad("assoc wants ID STATUS")
			}
			id, err1 := strconv.ParseUint(f[0], 10, 16)
			st, err2 := strconv.ParseUint(f[1], 16, 16)
			if err1 != nil || err2 != nil {
				return bad("assoc %q", rest)
			}
			sc.Assocs = append(sc.Assocs, Assoc{ID: uint16(id), Status: uint16(st)})
			cur = &sc.Assocs[len(sc.Assocs)-1]
		case "drop":
			sc.Drop = true
		case "sysreset":
			sc.SysVars = nil
		case "delassoc":
			id, err := strconv.ParseUint(rest, 10, 16)
			if err != nil {
				return bad("delassoc %q", rest)
			}
			for i := range sc.Assocs {
				if sc.Assocs[i].ID == uint16(id) {
					sc.Assocs = append(sc.Assocs[:i], sc.Assocs[i+1:]...)
					break
				}
			}
			cur = nil
		case "include":
			if dir == "" {
				return bad("include needs a scenario file (ParseScenarioFile)")
			}
			if depth > 8 {
				return bad("include nesting too deep")
			}
			p := rest
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			f, err := os.Open(p)
			if err != nil {
				return bad("include: %v", err)
			}
			err = sc.parse(f, filepath.Dir(p), depth+1)
			f.Close()
			if err != nil {
				return bad("include %s: %v", rest, err)
			}
			cur = nil
			if n := len(sc.Assocs); n > 0 {
				cur = &sc.Assocs[n-1]
			}
		default:
			sc.Meta[kw] = append(sc.Meta[kw], rest)
		}
	}
	return s.Err()
}

func (sc *Scenario) items(text string) ([]mode6.Var, error) {
	vars, err := mode6.Tokenize([]byte(text))
	if err != nil {
		return nil, err
	}
	for i := range vars {
		v := vars[i].Value
		if strings.HasPrefix(v, "now-") || strings.HasPrefix(v, "now+") {
			n, err := strconv.ParseInt(v[4:], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: %v", vars[i].Name, v, err)
			}
			if v[3] == '-' {
				n = -n
			}
			sec := uint32(int64(sc.NowSeconds) + n)
			vars[i].Value = fmt.Sprintf("0x%08x.80000000", sec)
			continue
		}
		vars[i].Value = unescape(v)
	}
	return vars, nil
}

func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
