package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/internal/netns"
	"github.com/ntpkit/ntpkit/internal/testenv"
)

// Live interop of symmetric-key authentication (issue 7): ntpkit's daemon
// with a keys file, inside a private namespace, used by the real classic
// ntpdate (-a/-k) and NTPsec ntpq (-a/-k). A wrong secret under the same
// key id must be refused by both.

const authLiveKeys = "1 MD5 Wgimok6H_N}=Rm+*pxNd\n2 SHA1 488f1730e4c6c61d1af96b8cb073d148158b9fee\n"

// Same ids, other secrets.
const authLiveWrongKeys = "1 MD5 notthesecret\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n"

func TestLiveAuth(t *testing.T) {
	testenv.NeedRoot(t)
	cdate := testenv.ClassicBin("ntpdate")
	testenv.Need(t, "ntpq", cdate)
	bin := testenv.BuildNtpkit(t)
	ns := netns.New(t)
	dir := t.TempDir()
	keys, wrong := filepath.Join(dir, "ntp.keys"), filepath.Join(dir, "wrong.keys")
	os.WriteFile(keys, []byte(authLiveKeys), 0o600)
	os.WriteFile(wrong, []byte(authLiveWrongKeys), 0o600)
	conf := filepath.Join(dir, "ntp.conf")
	os.WriteFile(conf, []byte(liveConf+"keys "+keys+"\ntrustedkey 1 2\ncontrolkey 1\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &liveEnv{t: t, ns: ns, ctx: ctx}

	d := ns.Start(bin, "daemon", "--no-adjust", "-n", "-c", conf, "--local-sync-delay", "1s")
	if err := ns.WaitUDP("127.0.0.1:123", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, d.Output())
	}
	// Wait (bounded) until the daemon is synchronised to LOCAL.
	for i := 0; ; i++ {
		out, code := e.run(true, cdate, "-q", "127.0.0.1")
		if code == 0 {
			break
		}
		if i == 20 {
			t.Fatalf("daemon never synchronised: %s\n%s", out, d.Output())
		}
		time.Sleep(500 * time.Millisecond)
	}

	t.Run("classic ntpdate", func(t *testing.T) {
		for _, id := range []string{"1", "2"} {
			out, code := e.run(true, cdate, "-q", "-a", id, "-k", keys, "127.0.0.1")
			if code != 0 || !strings.HasPrefix(out, "server 127.0.0.1, stratum 11, ") {
				t.Errorf("ntpdate -a %s with the right key: exit %d\n%s", id, code, out)
			}
			// A crypto-NAK: classic still prints the server line but
			// drops the untrusted server ("no server suitable"), exit 1.
			out, code = e.run(true, cdate, "-q", "-a", id, "-k", wrong, "127.0.0.1")
			if code != 1 || !strings.HasPrefix(out, "server 127.0.0.1, stratum 11, ") {
				t.Errorf("ntpdate -a %s with a wrong key: exit %d\n%s", id, code, out)
			}
		}
	})

	// ntpkit's own ntpdate behaves the same.
	t.Run("ntpkit ntpdate", func(t *testing.T) {
		out, code := e.run(false, bin, "date", "-q", "-a", "2", "-k", keys, "127.0.0.1")
		if code != 0 || !strings.HasPrefix(out, "server 127.0.0.1, stratum 11, ") {
			t.Errorf("ntpkit date -a 2 with the right key: exit %d\n%s", code, out)
		}
		out, code = e.run(false, bin, "date", "-q", "-a", "2", "-k", wrong, "127.0.0.1")
		if code != 1 || !strings.HasPrefix(out, "server 127.0.0.1, stratum 11, ") {
			t.Errorf("ntpkit date -a 2 with a wrong key: exit %d\n%s", code, out)
		}
	})

	// runErr runs a tool and returns stdout and stderr.
	runErr := func(classic bool, argv ...string) (string, string) {
		t.Helper()
		cmd := ns.Command(ctx, argv...)
		if classic {
			cmd.Env = testenv.ClassicEnv()
		}
		r := ns.RunCmd(cmd)
		if r.ExitCode < 0 {
			t.Fatalf("%v: %v\n%s", argv, r.Err, r.Stderr)
		}
		return r.Stdout, r.Stderr
	}

	// NTPsec ntpq (-a/-k, "passwd" loads the key from the file) signs every
	// request after "authenticate yes" and checks
	// the MAC of the responses; its writevar does nothing, so writes are
	// checked with classic ntpq below.
	t.Run("ntpsec ntpq", func(t *testing.T) {
		for _, id := range []string{"1", "2"} {
			out, errs := runErr(false, "ntpq", "-a", id, "-k", keys, "-c", "passwd", "-c", "authenticate yes", "-c", "rv 0 stratum", "127.0.0.1")
			if !strings.Contains(out, "stratum=11") || strings.Contains(errs, "AUTH") {
				t.Errorf("ntpq -a %s, signed rv: %s%s", id, out, errs)
			}
			out, errs = runErr(false, "ntpq", "-a", id, "-k", wrong, "-c", "passwd", "-c", "authenticate yes", "-c", "rv 0 stratum", "127.0.0.1")
			if !strings.Contains(errs, "AUTH") {
				t.Errorf("ntpq -a %s with a wrong key: no authentication failure reported: %s%s", id, out, errs)
			}
		}
	})

	// Classic ntpq: writevar is signed with keyid/passwd; only the control
	// key (1) may write. ntpkit has no writable variable, so an authorized
	// write of an unknown name is UNKNOWNVAR, as with classic ntpd.
	t.Run("classic ntpq writevar", func(t *testing.T) {
		cq := testenv.ClassicBin("ntpq")
		testenv.Need(t, cq)
		for _, tc := range []struct{ id, passwd, want string }{
			{"1", "Wgimok6H_N}=Rm+*pxNd", "***A request variable unknown to the server\n"},
			{"2", "488f1730e4c6c61d1af96b8cb073d148158b9fee", "***Server disallowed request (authentication?)\n"},
			{"1", "notthesecret", "***Server disallowed request (authentication?)\n"},
		} {
			_, errs := runErr(true, cq, "-c", "keyid "+tc.id, "-c", "passwd "+tc.passwd, "-c", "writevar 0 nosuchvar=1", "127.0.0.1")
			if errs != tc.want {
				t.Errorf("classic ntpq keyid %s passwd %s writevar: %q, want %q", tc.id, tc.passwd, errs, tc.want)
			}
		}

	})
}
