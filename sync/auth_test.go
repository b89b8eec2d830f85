package sync_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// An association with "key 1" signs its requests and counts only replies
// signed with key 1: unsigned replies, crypto-NAKs, other keys and bad
// digests set TEST5 (flash 0x10) and leave it unreachable.
func TestAuthenticatedAssociation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k1, _ := ntp.NewKey(1, ntp.MACSHA1, []byte("0123456789abcdefghij"))
		k2, _ := ntp.NewKey(2, ntp.MACMD5, []byte("other"))
		wrong, _ := ntp.NewKey(1, ntp.MACSHA1, []byte("not the secret"))
		tr := make(chanTransport, 16)
		srv := netip.MustParseAddrPort("198.18.0.1:123")
		e, err := ntpsync.NewEngine(ntpsync.Options{Clock: clock.System{}, Transport: tr,
			Keys:    ntp.KeyMap{1: k1, 2: k2},
			Servers: []ntpsync.ServerConfig{{Address: srv.String(), MinPoll: 6, MaxPoll: 6, Key: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go e.Run(ctx)
		req := <-tr
		if id, err := ntp.Verify(req, ntp.KeyMap{1: k1}); err != nil || id != 1 {
			t.Fatalf("request of %d octets: key %d, %v", len(req), id, err)
		}
		good := engineReply(req, clock.System{})
		for name, b := range map[string][]byte{
			"unsigned":     good.Marshal(),
			"crypto-NAK":   ntp.AppendCryptoNAK(good.Marshal()),
			"other key":    ntp.AppendMAC(good.Marshal(), k2),
			"wrong secret": ntp.AppendMAC(good.Marshal(), wrong),
		} {
			e.Input(b, srv, time.Now())
			synctest.Wait()
			if p := e.Peers()[0]; p.Reach != 0 || p.Flash&0x10 == 0 {
				t.Fatalf("%s reply: reach %#x flash %#x", name, p.Reach, p.Flash)
			}
		}
		e.Input(ntp.AppendMAC(good.Marshal(), k1), srv, time.Now())
		synctest.Wait()
		if p := e.Peers()[0]; p.Reach != 1 {
			t.Fatalf("signed reply not accepted: reach %#x flash %#x", p.Reach, p.Flash)
		}
	})
}
