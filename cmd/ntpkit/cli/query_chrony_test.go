package cli

import (
	"context"
	"net/netip"
	"testing"

	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/chrony"
)

func TestQueryChronyFallback(t *testing.T) {
	deps, fx := fixtureDeps(t, "nodaemon")
	peers := []chrony.Peer{
		{Source: chrony.Source{Addr: chrony.Address{IP: netip.MustParseAddr("192.0.2.1")}, Mode: chrony.ModeClient,
			State: chrony.StateSelected, Poll: 6, Stratum: 2, Reach: 0xff, LastRx: 12, Offset: -0.000123},
			NTP:   &chrony.NTPData{Stratum: 1, RefID: ntp.RefIDFromString("GPS"), TotalValid: 5, PeerDelay: 0.000456},
			Stats: &chrony.SourceStats{StdDev: 0.000021}},
		{Source: chrony.Source{RefID: ntp.RefIDFromString("PPS"), Mode: chrony.ModeRefclock, State: chrony.StateNonselectable, Poll: 4, Reach: 0x0f, LastRx: chrony.NeverSampled}},
	}
	deps.ChronyPeers = func(context.Context) (*query.PeersModel, error) {
		return peersModelFromChrony(peers, fx.Now), nil
	}
	r := runCmd(t, buildQuery, deps, []string{"ntpq", "-n", "-p"}, "")
	want := "     remote           refid      st t when poll reach   delay   offset  jitter\n" +
		"==============================================================================\n" +
		"*192.0.2.1       .GPS.            2 u   12   64  377    0.456   +0.123   0.021\n" +
		" PPS             .PPS.            0 l    -   16   17    0.000   +0.000   0.000\n"
	if r.stdout != want || r.stderr != "" {
		t.Errorf("got:\n%s%s\nwant:\n%s", r.stdout, r.stderr, want)
	}
	// Another host never falls back.
	r = runCmd(t, buildQuery, deps, []string{"ntpq", "-p", "192.0.2.7"}, "")
	if r.stdout != "" || r.stderr != "ntpq: read: Connection refused\n" {
		t.Errorf("remote host: %q %q", r.stdout, r.stderr)
	}
}
