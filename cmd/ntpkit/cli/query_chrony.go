package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/chrony"
)

// chronyPeers reads chronyd's sources (cmdmon on 127.0.0.1:323 / ::1) for
// `ntpq -p` on a host whose daemon is chronyd, which has no mode 6.
func chronyPeers(clk clock.Clock) func(ctx context.Context) (*query.PeersModel, error) {
	return func(ctx context.Context) (*query.PeersModel, error) {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		var lastErr error
		// UDP first (it belongs to this network namespace); chronyd's unix
		// socket (root only) would add the NTP data (refid, delay).
		for _, a := range append(append([]string(nil), chrony.DefaultAddrs...), "/run/chrony/chronyd.sock") {
			c, err := chrony.Dial(ctx, chrony.Options{Addr: a, Timeout: 500 * time.Millisecond, Retries: 1})
			if err != nil {
				lastErr = err
				continue
			}
			peers, err := c.Peers(ctx)
			c.Close()
			if err != nil {
				lastErr = err
				continue
			}
			return peersModelFromChrony(peers, clk.Now()), nil
		}
		return nil, lastErr
	}
}

var tallySelect = map[byte]uint8{' ': mode6.SelReject, 'x': mode6.SelFalsetick, '.': mode6.SelExcess,
	'-': mode6.SelOutlier, '+': mode6.SelCandidate, '#': mode6.SelBackup, '*': mode6.SelSysPeer, 'o': mode6.SelPPSPeer}

var typeMode = map[byte]int{'u': 3, 'l': 3, 's': 1, 'S': 2, 'B': 5, 'M': 5, 'b': 6}

// peersModelFromChrony describes chronyd's sources with the variables an
// ntpd would send, so that every peers view renders them unchanged.
func peersModelFromChrony(peers []chrony.Peer, now time.Time) *query.PeersModel {
	m := &query.PeersModel{Host: query.DefaultHost}
	if len(peers) > 0 {
		m.SysStatus = mode6.SysStatus{Leap: mode6.LeapNone, Source: mode6.SyncNTP}.Word()
	}
	for i, p := range peers {
		id := uint16(i + 1)
		ps := mode6.PeerStatus{Flags: mode6.PeerConf, Select: tallySelect[p.Tally()]}
		if p.Reach() != 0 {
			ps.Flags |= mode6.PeerReach
		}
		src := p.Remote()
		var vars []mode6.Var
		add := func(n, v string) { vars = append(vars, mode6.Var{Name: n, Value: v, HasValue: true}) }
		if p.Type() == 'l' {
			add("srcadr", "127.127.0.0")
			add("srchost", `"`+src+`"`)
		} else {
			add("srcadr", src)
		}
		add("refid", p.RefID())
		add("stratum", fmt.Sprint(p.Stratum()))
		hmode, ok := typeMode[p.Type()]
		if !ok {
			hmode = 3
		}
		add("hmode", fmt.Sprint(hmode))
		poll := p.Source.Poll
		add("hpoll", fmt.Sprint(poll))
		add("ppoll", fmt.Sprint(poll))
		add("reach", fmt.Sprintf("0x%x", p.Reach()))
		if d, ok := p.When(); ok {
			add("rec", ntp.TimestampFromTime(now.Add(-d)).String())
		} else {
			add("rec", "0x00000000.00000000")
		}
		add("delay", fmt.Sprintf("%.6f", p.Delay()*1000))
		add("offset", fmt.Sprintf("%.6f", p.Offset()*1000))
		add("jitter", fmt.Sprintf("%.6f", p.Jitter()*1000))
		m.Assocs = append(m.Assocs, mode6.AssocStatus{AssocID: id, Status: ps.Word()})
		m.Peers = append(m.Peers, query.Peer{AssocID: id, Status: ps.Word(), Vars: vars})
	}
	return m
}
