package mode6_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/internal/netns"
	"github.com/ntpkit/ntpkit/internal/testenv"
	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// listenUDPIn binds a UDP socket inside the namespace: the calling thread
// enters it, binds, and goes back.
func listenUDPIn(t *testing.T, ns *netns.NS, addr string) *net.UDPConn {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", ns.Name))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("setns: %v", err)
	}
	c, lerr := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("setns back: %v", err) // the thread stays locked and dies
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		t.Fatal(lerr)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type ctlSeen struct {
	op    mode6.Opcode
	keyID uint32
	err   error
}

// ctlServer verifies every control request with VerifyMAC and answers
// like a daemon that accepted it: an empty (writevar) or text (:config)
// response, each fragment signed with the request's key when the server
// has that key.
func ctlServer(c *net.UDPConn, keys *ntpconf.Keys, log chan<- ctlSeen) {
	buf := make([]byte, 2048)
	out := make([]byte, 0, 600)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		d := mode6.ValidateRequest(buf[:n])
		if d.Verdict != mode6.Accept {
			continue
		}
		id, verr := mode6.VerifyPacket(buf[:n], &d.Request, keys.Trusted())
		select {
		case log <- ctlSeen{op: d.Request.Op, keyID: id, err: verr}:
		default:
		}
		var data []byte
		if d.Request.Op == mode6.OpConfigure {
			data = []byte("Config Succeeded\r\n")
		}
		k, _ := keys.Lookup(id)
		send := mode6.SignFragments(k, func(pkt []byte) error {
			_, err := c.WriteToUDPAddrPort(pkt, from)
			return err
		})
		_ = mode6.EachFragment(out, mode6.ReplyHeader(d.Request.Header, 0, 0x0618), data, send)
	}
}

// TestControlMACInterop captures authenticated control requests of the
// real ntpq programs (classic: keyid/keytype/passwd then writevar; NTPsec:
// -a/-k then :config) in a private namespace and checks that VerifyMAC
// accepts them with the same key and rejects them (ErrBadMAC) when the
// server holds another secret under the same id.
func TestControlMACInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("live test")
	}
	testenv.NeedRoot(t)
	const secret1 = "Wgimok6H_N}=Rm+*pxNd"
	// ASCII secrets: classic ntpq's "passwd" uses its argument as typed
	// (no hex decoding), so hex keys cannot be entered there.
	const secret2 = "Tn2[?&vyc~5`J-J(w2v2"
	const secret3 = "w]zxIz66I::f3vbt"
	good := "1 MD5 " + secret1 + "\n2 SHA1 " + secret2 + "\n3 AES128CMAC " + secret3 + "\n"
	wrong := "1 MD5 Wgimok6H_N}=Rm+*pxNe\n2 SHA1 Tn2[?&vyc~5`J-J(w2v3\n3 AES128CMAC w]zxIz66I::f3vbu\n"
	dir := t.TempDir()
	// NTPsec's ntpq reads its own key file spelling of the types.
	secFile := filepath.Join(dir, "ntpsec.keys")
	if err := os.WriteFile(secFile, []byte("1 md5 "+secret1+"\n2 sha1 "+secret2+"\n3 aes-128 "+secret3+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type client struct {
		name string
		tool string
		env  []string
		argv func(id string) []string
		ids  []string
	}
	clients := []client{
		{
			name: "classic_ntpq", tool: testenv.ClassicBin("ntpq"), env: testenv.ClassicEnv(),
			argv: func(id string) []string {
				typ, pw := map[string]string{"1": "md5", "2": "sha1", "3": "AES128CMAC"}[id], map[string]string{"1": secret1, "2": secret2, "3": secret3}[id]
				return []string{testenv.ClassicBin("ntpq"), "-c", "keyid " + id, "-c", "keytype " + typ, "-c", "passwd " + pw, "-c", "writevar 0 foo=1", "127.0.0.1"}
			},
			ids: []string{"1", "2", "3"},
		},
		{
			name: "NTPsec_ntpq", tool: "ntpq", env: os.Environ(),
			argv: func(id string) []string {
				return []string{"ntpq", "-a", id, "-k", secFile, "-c", ":config restrict 10.0.0.1", "127.0.0.1"}
			},
			ids: []string{"1", "2", "3"},
		},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			testenv.Need(t, cl.tool)
			for _, variant := range []struct {
				name, keys string
				want       error
			}{{"same key", good, nil}, {"other secret", wrong, ntp.ErrBadMAC}} {
				keys, err := ntpconf.ParseKeys("server.keys", strings.NewReader(variant.keys))
				if err != nil {
					t.Fatal(err)
				}
				keys.Trust(1, 2, 3)
				ns := netns.New(t)
				conn := listenUDPIn(t, ns, "127.0.0.1:123")
				log := make(chan ctlSeen, 64)
				var wg sync.WaitGroup
				wg.Add(1)
				go func() { defer wg.Done(); ctlServer(conn, keys, log) }()
				for _, id := range cl.ids {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					cmd := ns.Command(ctx, cl.argv(id)...)
					cmd.Env = cl.env
					cmd.Stdin = strings.NewReader("")
					res := ns.RunCmd(cmd)
					cancel()
					var got []ctlSeen
					for len(log) > 0 {
						got = append(got, <-log)
					}
					var signed int
					for _, s := range got {
						if s.op != mode6.OpWriteVar && s.op != mode6.OpConfigure {
							continue
						}
						signed++
						if s.keyID == 0 || (variant.want == nil) != (s.err == nil) || variant.want != nil && !errors.Is(s.err, variant.want) {
							t.Errorf("%s, key %s: %v request: key %d, %v; want %v", variant.name, id, s.op, s.keyID, s.err, variant.want)
						}
					}
					if signed == 0 {
						t.Errorf("%s, key %s: no signed request captured (saw %v); output:\n%s%s", variant.name, id, got, res.Stdout, res.Stderr)
					} else {
						t.Logf("%s, key %s: %d signed request(s) checked; ntpq said %q", variant.name, id, signed, strings.TrimSpace(res.Stdout+res.Stderr))
					}
				}
				conn.Close()
				wg.Wait()
			}
		})
	}
}

// TestControlMACDaemonInterop sends control requests signed with
// AppendSignedRequest to the real daemons (classic ntpd 4.2.8, NTPsec
// ntpd) in a private namespace and checks both directions:
//   - READVAR signed with each key type: the daemon signs its response
//     with the same key, and VerifyMAC accepts every fragment (and
//     rejects it with another secret under the same id);
//   - WRITEVAR signed with the control key: the daemon accepts the MAC
//     (the answer is not PERMISSION); signed with another secret, or
//     unsigned, it answers PERMISSION.
func TestControlMACDaemonInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("live test")
	}
	testenv.NeedRoot(t)
	const (
		s1 = "Wgimok6H_N}=Rm+*pxNd"                     // ASCII
		s2 = "488f1730e4c6c61d1af96b8cb073d148158b9fee" // hex, 20 octets
		s3 = "w]zxIz66I::f3vbt"                         // ASCII, 16 octets
	)
	ours, err := ntpconf.ParseKeys("ours", strings.NewReader("1 MD5 "+s1+"\n2 SHA1 "+s2+"\n3 AES128CMAC "+s3+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ours.Trust(1, 2, 3)
	other, _ := ntpconf.ParseKeys("other", strings.NewReader("1 MD5 x"+s1[1:]+"\n2 SHA1 0"+s2[1:]+"\n3 AES128CMAC x"+s3[1:]+"\n"))
	other.Trust(1, 2, 3)

	daemons := []struct {
		name, bin string
		env       []string
		keys      string
	}{
		{"classic_ntpd", testenv.ClassicBin("ntpd"), testenv.ClassicEnv(), "1 MD5 " + s1 + "\n2 SHA1 " + s2 + "\n3 AES128CMAC " + s3 + "\n"},
		{"NTPsec_ntpd", "/usr/sbin/ntpd", os.Environ(), "1 md5 " + s1 + "\n2 sha1 " + s2 + "\n3 aes-128 " + s3 + "\n"},
	}
	for _, dm := range daemons {
		t.Run(dm.name, func(t *testing.T) {
			testenv.Need(t, dm.bin)
			dir := t.TempDir()
			kf := filepath.Join(dir, "ntp.keys")
			conf := filepath.Join(dir, "ntp.conf")
			if err := os.WriteFile(kf, []byte(dm.keys), 0o600); err != nil {
				t.Fatal(err)
			}
			text := "disable kernel\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\n" +
				"keys " + kf + "\ntrustedkey 1 2 3\ncontrolkey 1\nrequestkey 1\n" +
				"restrict default kod nomodify nopeer noquery limited\nrestrict 127.0.0.1\n"
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			ns := netns.New(t)
			cmd := ns.Command(context.Background(), dm.bin, "-n", "-c", conf, "-l", filepath.Join(dir, "ntpd.log"))
			cmd.Env = dm.env
			ns.StartCmd(cmd)
			if err := ns.WaitUDP("127.0.0.1:123", 15*time.Second); err != nil {
				t.Fatalf("%s did not bind: %v", dm.name, err)
			}
			c := listenUDPIn(t, ns, "127.0.0.1:0")
			srv := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:123"))
			seq := uint16(100)
			// exchange sends one request and returns the response datagrams.
			exchange := func(req []byte, mayDrop bool) [][]byte {
				t.Helper()
				var out [][]byte
				tries := 3
				if mayDrop {
					tries = 1
				}
				for try := 0; try < tries && len(out) == 0; try++ {
					if _, err := c.WriteToUDP(req, srv); err != nil {
						t.Fatal(err)
					}
					buf := make([]byte, 2048)
					for {
						c.SetReadDeadline(time.Now().Add(2 * time.Second))
						n, err := c.Read(buf)
						if err != nil {
							break
						}
						out = append(out, append([]byte(nil), buf[:n]...))
						if p, err := mode6.Parse(buf[:n]); err != nil || !p.More {
							break
						}
					}
				}
				if len(out) == 0 && !mayDrop {
					t.Fatalf("no answer from %s", dm.name)
				}
				return out
			}
			for _, id := range []uint32{1, 2, 3} {
				k, _ := ours.Lookup(id)
				seq++
				resp := exchange(mode6.AppendSignedRequest(nil, mode6.NewRequest(mode6.OpReadVar, seq, 0), []byte("version,stratum,refid"), k), false)
				for i, r := range resp {
					p, err := mode6.Parse(r)
					if err != nil || p.Error || p.Sequence != seq {
						t.Fatalf("key %d: fragment %d: %v %v", id, i, p.Header, err)
					}
					if got, err := mode6.VerifyMAC(r, ours.Trusted()); err != nil || got != id {
						t.Errorf("key %d (%v): response fragment %d: VerifyMAC = %d, %v", id, k.Type, i, got, err)
					}
					if _, err := mode6.VerifyMAC(r, other.Trusted()); !errors.Is(err, ntp.ErrBadMAC) {
						t.Errorf("key %d: response verifies under another secret: %v", id, err)
					}
				}
				t.Logf("key %d (%v): %d signed response fragment(s) verified: %q", id, k.Type, len(resp), resp[0][mode6.HeaderLen:min(len(resp[0]), mode6.HeaderLen+40)])
			}
			// The same daemon as an NTP server: a mode 3 request signed with
			// ntp.AppendMAC gets a mode 4 reply signed with the same key
			// that ntp.Verify accepts; a wrong secret gets a crypto-NAK
			// (classic) or nothing (NTPsec).
			for _, id := range []uint32{1, 2, 3} {
				k, _ := ours.Lookup(id)
				req := (&ntp.Header{Version: 4, Mode: ntp.ModeClient, XmitTime: ntp.TimestampFromTime(time.Now())}).Marshal()
				reply := exchange(ntp.AppendMAC(req, k), false)[0]
				if got, err := ntp.Verify(reply, ours.Trusted()); err != nil || got != id || ntp.Mode(reply[0]&7) != ntp.ModeServer {
					t.Errorf("mode 3, key %d (%v): reply Verify = %d, %v", id, k.Type, got, err)
				}
				bk, _ := other.Lookup(id)
				req = (&ntp.Header{Version: 4, Mode: ntp.ModeClient, XmitTime: ntp.TimestampFromTime(time.Now())}).Marshal()
				// classic answers a crypto-NAK, NTPsec drops the request.
				if r := exchange(ntp.AppendMAC(req, bk), true); len(r) > 0 && !ntp.IsCryptoNAK(r[0]) {
					t.Errorf("mode 3, key %d, other secret: reply is not a crypto-NAK (%d octets)", id, len(r[0]))
				} else if id == 1 {
					t.Logf("mode 3 with another secret: %d answer(s) (a crypto-NAK if any)", len(r))
				}
			}
			// Authorization of a write: control key 1.
			ctl, _ := ours.Lookup(1)
			bad, _ := other.Lookup(1)
			for _, tc := range []struct {
				name string
				key  *ntp.Key
				perm bool
			}{{"control key", ctl, false}, {"other secret", bad, true}, {"unsigned", nil, true}} {
				seq++
				h := mode6.NewRequest(mode6.OpWriteVar, seq, 0)
				req := mode6.MarshalRequest(h, []byte("nosuchvariable=1"))
				if tc.key != nil {
					req = mode6.AppendSignedRequest(nil, h, []byte("nosuchvariable=1"), tc.key)
				}
				resp := exchange(req, false)
				p, err := mode6.Parse(resp[0])
				if err != nil {
					t.Fatal(err)
				}
				code := mode6.ErrorCode(p.Status >> 8)
				if gotPerm := p.Error && code == mode6.ErrCodePermission; gotPerm != tc.perm {
					t.Errorf("WRITEVAR %s: error=%v code %v; want PERMISSION=%v", tc.name, p.Error, code, tc.perm)
				} else {
					t.Logf("WRITEVAR %s: error=%v code %v", tc.name, p.Error, code)
				}
			}
		})
	}
}
