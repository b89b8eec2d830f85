package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/daemon"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// dateAuthServer answers mode 3 requests on 127.0.0.1 like ntpd with the
// given trusted keys: signed replies for good MACs, crypto-NAKs for bad ones.
func dateAuthServer(t *testing.T, keys ntp.KeyMap) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sys := &ntpsync.SystemState{Leap: 0, Stratum: 2, Precision: -20, RefID: ntp.RefID{127, 0, 0, 1},
		RefTime: ntp.TimestampFromTime(time.Now()), RootDelay: time.Millisecond, RootDispersion: time.Millisecond}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			rx := ntp.TimestampFromTime(time.Now())
			res, key, _ := ntp.CheckRequest(buf[:n], keys)
			var out [ntp.HeaderLen + 24]byte
			m, ok := daemon.Respond(buf[:n], rx, ntp.TimestampFromTime(time.Now()), sys, out[:])
			if !ok || res == ntp.AuthMalformed {
				continue
			}
			c.WriteToUDPAddrPort(ntp.AppendReplyAuth(out[:m], res, key), from)
		}
	}()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func TestDateAuth(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "ntp.keys")
	os.WriteFile(kf, []byte("1 MD5 secret1\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n3 MD5 serverdoesnotknow\n"), 0o600)
	k1, _ := ntp.NewKey(1, ntp.MACMD5, []byte("secret1"))
	k2, _ := ntp.NewKey(2, ntp.MACSHA1, []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67})
	port := dateAuthServer(t, ntp.KeyMap{1: k1, 2: k2})
	deps, _ := dateTestDeps(port, dateFakeResolver{})

	for _, tc := range []struct {
		args       []string
		code       int
		out, errIn string
	}{
		{[]string{"-a", "1", "-k", kf}, 0, "server 127.0.0.1, stratum 2, ", ""},
		{[]string{"-a", "2", "-k", kf}, 0, "server 127.0.0.1, stratum 2, ", ""},
		// A crypto-NAK: the server line is printed, the server dropped.
		{[]string{"-a", "3", "-k", kf}, 1, "server 127.0.0.1, stratum 2, ", "no server suitable for synchronization found"},
		{[]string{"-a", "7", "-k", kf}, 1, "", "authentication key 7 unknown"},
		{[]string{"-a", "x", "-k", kf}, 1, "", "ntpdate[27893]: authentication key 0 unknown\n"},
		{[]string{"-a", "1", "-k", filepath.Join(dir, "nosuch")}, 1, "",
			"authreadkeys: file '" + filepath.Join(dir, "nosuch") + "': No such file or directory\n22 Nov 02:19:37 ntpdate[27893]: no key file <" + filepath.Join(dir, "nosuch") + ">, exiting\n"},
	} {
		args := append(append([]string{"-q", "-t", "1"}, tc.args...), "127.0.0.1")
		r := runDateWith(t, deps, "ntpdate", args...)
		if r.code != tc.code || !strings.HasPrefix(r.stdout, tc.out) || (tc.out == "" && r.stdout != "") || !strings.Contains(r.stderr, tc.errIn) {
			t.Errorf("ntpdate %s: exit %d\nstdout %q\nstderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
}
