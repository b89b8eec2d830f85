package query_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/query"
)

func runInterp(t *testing.T, scenario string, style query.Style, hosts []string, cmds ...string) (string, string) {
	t.Helper()
	fx := startFixture(t, scenario)
	var out, errb bytes.Buffer
	in := query.New(query.Config{Style: style, Client: query.ClientOptions{Dialer: fx.Dialer, FirstTimeout: 2 * time.Second},
		Resolver: query.StaticResolver(fx.Names), Clock: clock.Fixed(fx.Now), Location: time.UTC,
		Stdout: &out, Stderr: &errb, Argv0: "ntpq"})
	in.Batch(context.Background(), hosts, cmds)
	return out.String(), errb.String()
}

func TestInterpCommands(t *testing.T) {
	tests := []struct {
		name      string
		scenario  string
		style     query.Style
		hosts     []string
		cmds      []string
		out, errs string
	}{
		{"empty peers classic", "empty", query.StyleClassic, nil, []string{"peers"}, "", "No association ID's returned\n"},
		{"empty as ntpsec", "empty", query.StyleNTPsec, nil, []string{"as"}, "", "No association IDs returned\n"},
		{"empty two hosts", "empty", query.StyleClassic, []string{"127.0.0.1", "::1"}, []string{"peers"}, "\n",
			"server=127.0.0.1 No association ID's returned\nserver=::1 No association ID's returned\n"},
		{"&N after as", "classic-main-0231", query.StyleClassic, nil, []string{"as", "rv &10 srcadr,stratum"}, "", ""},
		{"&N without list", "classic-main-0231", query.StyleClassic, nil, []string{"rv &7 srcadr"}, "srcadr=v6server.ref.test\n", ""},
		{"&N out of range", "classic-main-0231", query.StyleClassic, nil, []string{"rv &11"}, "", "***Association index 11 not found\n"},
		{"bad index", "classic-main-0231", query.StyleClassic, nil, []string{"rv &x"}, "", "***Illegal index `&x'\n"},
		{"ambiguous", "classic-main-0231", query.StyleClassic, nil, []string{"l"}, "", "***Command `l' ambiguous\n"},
		{"pstatus is not a command", "classic-main-0231", query.StyleClassic, nil, []string{"pstatus 2216"}, "", "***Command `pstatus' unknown\n"},
		{"cv needs id ntpsec", "classic-main-0231", query.StyleNTPsec, nil, []string{"cv"}, "", "This command requires the association ID of a clock.\n"},
		{"cv", "classic-sysinfo", query.StyleClassic, nil, []string{"cv 0"},
			"associd=0 status=0000 no events, clk_unspec,\ndevice=\"Undisciplined local clock\", timecode=\"\", poll=1, noreply=0,\nbadformat=0, baddata=0, stratum=12, refid=LOCL, flags=0\n", ""},
		{"cv bad assoc", "classic-sysinfo", query.StyleClassic, nil, []string{"cv 5"}, "", "***Association ID 5 unknown to server\n"},
		{"sysinfo", "classic-sysinfo", query.StyleClassic, nil, []string{"sysinfo"},
			"associd=0 status=c016 leap_alarm, sync_unspec, 1 event, restart,\nsystem peer:        0.0.0.0:0\nsystem peer mode:   unspec\n" +
				"leap indicator:     11\nstratum:            16\nlog2 precision:     -24\nroot delay:         0.000\nroot dispersion:    0.660\n" +
				"reference ID:       INIT\nreference time:     (no time)\nsystem jitter:      0.000000\nclock jitter:       0.000\n" +
				"clock wander:       0.000\nbroadcast delay:    -50.000\nsymm. auth. delay:  0.000\n", ""},
		{"sysinfo ntpsec style", "ntpsec-sysinfo", query.StyleNTPsec, nil, []string{"sysinfo"},
			"associd=0 status=c016 leap_alarm, sync_unspec, 1 event, restart,\n" +
				"system peer:           0.0.0.0:0\nsystem peer mode:   unspec\nleap indicator:               11\n" +
				"stratum:                      16\nlog2 precision:              -24\nroot delay:                  0.0\n" +
				"root dispersion:            0.48\nroot distance                0.0\nreference ID:               INIT\n" +
				"reference time:    00000000.00000000 2036-02-07T06:28:16.000Z\nsystem jitter:               0.0\n" +
				"clock jitter:              6e-05\nclock wander:                0.0\nsymm. auth. delay:           0.0\n", ""},
		{"sysinfo ntpsec style, classic daemon", "classic-sysinfo", query.StyleNTPsec, nil, []string{"sysinfo"},
			"associd=0 status=c016 leap_alarm, sync_unspec, 1 event, restart,\n" +
				"system peer:           0.0.0.0:0\nsystem peer mode:   unspec\nleap indicator:               11\n" +
				"stratum:                      16\nlog2 precision:              -24\nroot delay:                  0.0\n" +
				"root dispersion:            0.66\nroot distance                  ?\nreference ID:               INIT\n" +
				"reference time:    00000000.00000000 2036-02-07T06:28:16.000Z\nsystem jitter:               0.0\n" +
				"clock jitter:                0.0\nclock wander:                0.0\nsymm. auth. delay:           0.0\n",
			"Unknown variable.  Trying one at a time.\n"},
		{"sysinfo ntpsec daemon", "ntpsec-main-0217", query.StyleClassic, nil, []string{"sysinfo"}, "", "***A request variable unknown to the server\n"},
		{"hostnames ntpsec", "classic-main-0231", query.StyleNTPsec, nil, []string{"hostnames no"},
			"resolved hostnames not being shown\nsupplied hostnames not being shown\n", ""},
		{"cooked again", "classic-main-0231", query.StyleClassic, nil, []string{"raw", "cooked", "rv 0 leap"},
			"Output set to raw\n\nOutput set to cooked\n\nleap=00\n", ""},
		{"hostnames", "classic-main-0231", query.StyleClassic, nil, []string{"hostnames", "hostnames no", "hostnames", "rv 2214 srcadr"},
			"hostnames being shown\n\n\nhostnames not being shown\n\nsrcadr=fd7e:5ee0:123::5\n", ""},
		{"timeout", "classic-main-0231", query.StyleClassic, nil, []string{"timeout", "timeout 1500", "timeout"},
			"primary timeout 2000 ms\n\n\nprimary timeout 1500 ms\n", ""},
		{"host", "classic-main-0231", query.StyleClassic, nil, []string{"host", "host 127.0.0.1", "host"},
			"current host is localhost\n\ncurrent host set to 127.0.0.1\n\ncurrent host is 127.0.0.1\n", ""},
		{"quit stops", "classic-main-0231", query.StyleClassic, nil, []string{"quit", "rv"}, "", ""},
		{"sec rv 0 unknown", "classic-main-0231", query.StyleNTPsec, nil, []string{"rv 0 nosuchvar"}, "", "***Server error code UNKNOWNVAR\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs := runInterp(t, tc.scenario, tc.style, tc.hosts, tc.cmds...)
			if tc.name == "&N after as" {
				// the listing, a blank line, then the variables of the 10th association
				if !bytes.HasSuffix([]byte(out), []byte("\nsrcadr=SHM(0), stratum=0\n")) || errs != "" {
					t.Errorf("got %q %q", out, errs)
				}
				return
			}
			if out != tc.out || errs != tc.errs {
				t.Errorf("got stdout %q stderr %q\nwant stdout %q stderr %q", out, errs, tc.out, tc.errs)
			}
		})
	}
}
