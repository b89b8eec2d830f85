package cli

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/daemon"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// ntpq's authentication commands against ntpkit's daemon (controlkey 1):
// what classic ntpq 4.2.8 printed for the same commands against it (run by
// hand in a private namespace; daemon/auth_live_test.go checks the writes
// live), blank lines between -c commands included.
func TestQueryAuth(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "ntp.keys")
	os.WriteFile(kf, []byte("1 MD5 Wgimok6H_N}=Rm+*pxNd\n2 SHA1 488f1730e4c6c61d1af96b8cb073d148158b9fee\n"), 0o600)
	cfg, err := ntpconf.Parse("ntp.conf", strings.NewReader("server 127.127.1.0\nrestrict 127.0.0.1\nkeys "+kf+"\ntrustedkey 1 2\ncontrolkey 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{Config: cfg, Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	host := d.Addrs()[0].String()
	deps := defaultQueryDeps()
	deps.IsTerminal = func(any) bool { return false }
	deps.FirstTimeout, deps.FragTimeout = time.Second, time.Second

	const (
		unknown = "***A request variable unknown to the server\n"
		denied  = "***Server disallowed request (authentication?)\n"
	)
	for _, tc := range []struct {
		args           []string
		stdout, stderr string
	}{
		{[]string{"-c", "keyid", "-c", "keytype"}, "no keyid defined\n\nkeytype is MD5 with 16 octet digests\n", ""},
		{[]string{"-c", "keyid 1", "-c", "keyid", "-c", "keytype sha1", "-c", "keytype", "-c", "keytype bogus"},
			"\nkeyid is 1\n\n\nkeytype is SHA1 with 20 octet digests\n\nkeytype is not valid. Type \"help keytype\" for the available digest types.\n", ""},
		{[]string{"-c", "keyid x"}, "", "***Illegal unsigned value x\n"},
		{[]string{"-c", "passwd abc"}, "Keyid must be defined\n", "Keyid: "},
		{[]string{"-c", "writevar 0"}, "", "usage: writevar assocID name=value,[...]\n"},
		{[]string{"-c", "writevar 0 nosuchvar=1"}, "", "Keyid: Invalid key identifier\n"},
		{[]string{"-c", "keyid 1", "-c", "writevar 0 nosuchvar=1"}, "\n", "MD5 Password: Invalid password\n"},
		{[]string{"-c", "keyid 1", "-c", "passwd Wgimok6H_N}=Rm+*pxNd", "-c", "writevar 0 nosuchvar=1"}, "\n\n", unknown},
		{[]string{"-c", "keyid 1", "-c", "passwd Wgimok6H_N}=Rm+*pxNd", "-c", "writevar 0 stratum=3"}, "\n\n", denied},
		{[]string{"-c", "keyid 1", "-c", "passwd wrong", "-c", "writevar 0 nosuchvar=1"}, "\n\n", denied},
		{[]string{"-c", "keyid 2", "-c", "keytype sha1", "-c", "passwd 488f1730e4c6c61d1af96b8cb073d148158b9fee", "-c", "writevar 0 nosuchvar=1"}, "\n\n\n", denied},
		// -k: the secret (and type) of the keyid come from the file.
		{[]string{"-k", kf, "-c", "keyid 1", "-c", "writevar 0 nosuchvar=1"}, "\n", unknown},
		{[]string{"-k", kf, "-a", "1", "-c", "passwd", "-c", "writevar 0 nosuchvar=1"}, "\n", unknown},
		{[]string{"-k", kf, "-a", "2", "-c", "writevar 0 nosuchvar=1"}, "", denied},
	} {
		argv := append(append([]string{"ntpq"}, tc.args...), host)
		r := runCmd(t, buildQuery, deps, argv, "")
		if r.stdout != tc.stdout || r.stderr != tc.stderr {
			t.Errorf("%v:\nstdout %q, want %q\nstderr %q, want %q", argv, r.stdout, tc.stdout, r.stderr, tc.stderr)
		}
	}
}
