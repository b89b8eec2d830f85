package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLiveSyncAuth: ntpkit's daemon as an authenticated client ("server
// ADDR key 1") of NTPsec ntpd, which has the key in its keys file and
// trusts it (so it answers signed requests with signed replies). With the
// right secret the association becomes reachable and NTPsec is selected;
// with a wrong secret under the same key id NTPsec's replies (unsigned
// or crypto-NAKs) never authenticate and the association stays
// unreachable.
func TestLiveSyncAuth(t *testing.T) {
	t.Parallel()
	s := newSyncNet(t, 3*time.Minute)
	s.startChrony("chrony.conf", s.vars.Chrony)
	write := func(name, text string) string {
		p := filepath.Join(s.dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.keys", "1 SHA1 488f1730e4c6c61d1af96b8cb073d148158b9fee\n")
	bad := write("bad.keys", "1 SHA1 0123456789abcdef0123456789abcdef01234567\n")
	write("ntpsec-auth.conf", fmt.Sprintf(`interface ignore wildcard
interface ignore all
interface listen %s
disable kernel
server %s iburst minpoll 3 maxpoll 4
tos minsane 1 minclock 1
driftfile %s/ntpsec.drift
keys %s
trustedkey 1
restrict default kod nomodify limited
restrict 198.18.0.0 mask 255.255.0.0 nomodify
`, s.vars.NTPsec, s.vars.Chrony, s.dir, good))
	n := s.pair.B.Start("/usr/sbin/ntpd", "-n", "-c", filepath.Join(s.dir, "ntpsec-auth.conf"), "-l", filepath.Join(s.dir, "ntpsec.log"))
	s.waitUDP(s.pair.B, s.vars.NTPsec, n)

	ntpkitConf := func(name, keys string) string {
		return write(name, fmt.Sprintf(`server %s iburst minpoll 3 maxpoll 4 key 1
keys %s
trustedkey 1
restrict default kod nomodify nopeer noquery limited
restrict 127.0.0.1
`, s.vars.NTPsec, keys))
	}
	row := func() peerRow {
		out, _ := s.run(s.pair.A, false, "ntpq", "-n", "-p")
		return peerRows(out)[s.vars.NTPsec]
	}

	// Wrong secret first: after iburst (6 packets 2 s apart) and more, no
	// reply has authenticated.
	d := s.pair.A.Start(s.bin, "daemon", "-n", "-d", "--no-adjust", "-c", ntpkitConf("ntpkit-bad.conf", bad))
	s.waitUDP(s.pair.A, "127.0.0.1", d)
	time.Sleep(16 * time.Second)
	if r := row(); r.remote == "" || r.reachable() {
		t.Errorf("wrong key: NTPsec association %+v, want configured and unreachable\n%s", r, d.Output())
	}
	d.Stop()

	d = s.pair.A.Start(s.bin, "daemon", "-n", "-d", "--no-adjust", "-c", ntpkitConf("ntpkit-good.conf", good))
	s.waitUDP(s.pair.A, "127.0.0.1", d)
	why := poll(t, s.ctx, 90*time.Second, func() string {
		if r := row(); r.tally != "*" || !r.reachable() {
			return fmt.Sprintf("right key: NTPsec association %+v, want reachable system peer", r)
		}
		return ""
	})
	if why != "" {
		t.Fatalf("%s\nntpkit:\n%s", why, d.Output())
	}
}
