package ntp_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// The keys both sides load. Types and encodings cover what ntp-keygen and
// ntpkeygen write plus the corner cases of the format: a 20-character
// ASCII key, hex keys, a short CMAC key (zero padded), a SHA-2 digest
// truncated to 20 octets.
const interopKeys = `# written by TestMACInterop
1 MD5 Wgimok6H_N}=Rm+*pxNd
2 SHA1 488f1730e4c6c61d1af96b8cb073d148158b9fee
3 AES128CMAC 000102030405060708090a0b0c0d0e0f
4 SHA256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
5 AES128CMAC abc
6 SHA512 kkkkk
7 M k
8 AES w]zxIz66I::f3vbt
`

// The same ids with other secrets: a client holding these must not
// accept the server's MACs, and the server must not accept the client's.
const interopWrongKeys = `1 MD5 Wgimok6H_N}=Rm+*pxNe
2 SHA1 488f1730e4c6c61d1af96b8cb073d148158b9fef
3 AES128CMAC 000102030405060708090a0b0c0d0e0e
4 SHA256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdee
5 AES128CMAC abd
6 SHA512 kkkkj
7 M j
8 AES w]zxIz66I::f3vbu
`

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
		// Leave the thread locked: it dies with this goroutine's end
		// instead of serving other goroutines in the wrong namespace.
		t.Fatalf("setns back: %v", err)
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		t.Fatal(lerr)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// seen is what the in-test server observed for one request.
type seen struct {
	keyID uint32
	err   error
	mode  ntp.Mode
}

// authServer answers mode 3 requests on c until it is closed: the request
// is verified with keys (trusted view); the reply is a plausible stratum 2
// answer signed with the key the request named (when the server has it),
// so the client's acceptance shows that our MAC equals its own.
func authServer(c *net.UDPConn, keys *ntpconf.Keys, log chan<- seen) {
	buf := make([]byte, 2048)
	out := make([]byte, 0, 128)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		rx := ntp.TimestampFromTime(time.Now())
		req := buf[:n]
		h, err := ntp.ParseHeader(req)
		if err != nil {
			continue
		}
		id, verr := ntp.Verify(req, keys.Trusted())
		select {
		case log <- seen{keyID: id, err: verr, mode: h.Mode}:
		default:
		}
		if h.Mode != ntp.ModeClient {
			continue
		}
		now := time.Now()
		reply := ntp.Header{
			Version: h.Version, Mode: ntp.ModeServer, Stratum: 2, Poll: h.Poll, Precision: -20,
			RootDelay: ntp.ShortFromDuration(2 * time.Millisecond), RootDispersion: ntp.ShortFromDuration(5 * time.Millisecond),
			RefID: ntp.RefID{127, 127, 1, 0}, RefTime: ntp.TimestampFromTime(now.Add(-10 * time.Second)),
			OrigTime: h.XmitTime, RecvTime: rx, XmitTime: ntp.TimestampFromTime(time.Now()),
		}
		out = out[:ntp.HeaderLen]
		reply.MarshalTo(out)
		switch k, ok := keys.Lookup(id); {
		case id == 0:
		case ok:
			out = ntp.AppendMAC(out, k)
		default:
			out = ntp.AppendCryptoNAK(out)
		}
		c.WriteToUDPAddrPort(out, from)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMACInterop runs the real clients (classic ntpdate, NTPsec ntpdig)
// with -a KEY -k FILE against an in-test server in a private network
// namespace. The server verifies every request with Verify and signs its
// reply with AppendMAC:
//   - same keys: Verify accepts the client's MAC and the client accepts
//     ours (it prints the server's offset and exits 0);
//   - the client has other secrets under the same ids: Verify rejects its
//     MAC with ErrBadMAC and the client rejects our reply.
func TestMACInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("live test")
	}
	type client struct {
		name  string
		tool  string
		env   []string
		argv  func(id uint32, keyfile string) []string
		types map[uint32]bool // key ids the tool supports
		ok    string          // in the output of a successful query
	}
	clients := []client{
		{
			name: "classic ntpdate", tool: testenv.ClassicBin("ntpdate"), env: testenv.ClassicEnv(),
			argv: func(id uint32, kf string) []string {
				return []string{testenv.ClassicBin("ntpdate"), "-q", "-p", "1", "-t", "1", "-a", fmt.Sprint(id), "-k", kf, "127.0.0.1"}
			},
			// classic does not know the type name "AES" (key 8)
			types: map[uint32]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true},
			ok:    "offset",
		},
		{
			name: "NTPsec ntpdig", tool: "ntpdig", env: os.Environ(),
			argv: func(id uint32, kf string) []string {
				return []string{"ntpdig", "-t", "1", "-c", "1", "-a", fmt.Sprint(id), "-k", kf, "127.0.0.1"}
			},
			// ntpdig 1.2.2 (Python) sends SHA256/SHA512 digests untruncated
			// (36/68-octet trailers that no daemon accepts), does not know
			// the type "M", and pads short AES keys differently from classic
			// (then crashes on the reply): keys 4, 5, 6 and 7 are checked
			// against classic ntpdate only.
			types: map[uint32]bool{1: true, 2: true, 3: true, 8: true},
			ok:    "127.0.0.1",
		},
	}
	testenv.NeedRoot(t)
	keys, err := ntpconf.ParseKeys("interop.keys", strings.NewReader(interopKeys))
	if err != nil {
		t.Fatal(err)
	}
	keys.Trust(1, 2, 3, 4, 5, 6, 7, 8)
	good := writeFile(t, "good.keys", interopKeys)
	wrong := writeFile(t, "wrong.keys", interopWrongKeys)

	for _, cl := range clients {
		t.Run(strings.ReplaceAll(cl.name, " ", "_"), func(t *testing.T) {
			testenv.Need(t, cl.tool)
			ns := netns.New(t)
			conn := listenUDPIn(t, ns, "127.0.0.1:123")
			log := make(chan seen, 64)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); authServer(conn, keys, log) }()
			t.Cleanup(func() { conn.Close(); wg.Wait() })

			run := func(id uint32, kf string) (netns.Result, []seen) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cmd := ns.Command(ctx, cl.argv(id, kf)...)
				cmd.Env = cl.env
				res := ns.RunCmd(cmd)
				var got []seen
				for len(log) > 0 {
					got = append(got, <-log)
				}
				return res, got
			}
			for _, id := range keys.IDs() {
				if !cl.types[id] {
					continue
				}
				k, _ := keys.Lookup(id)
				res, got := run(id, good)
				if len(got) == 0 {
					t.Fatalf("key %d (%v): server saw no request; exit %d\n%s%s", id, k.Type, res.ExitCode, res.Stdout, res.Stderr)
				}
				for _, s := range got {
					if s.err != nil || s.keyID != id {
						t.Errorf("key %d (%v): Verify of the client's request = %d, %v", id, k.Type, s.keyID, s.err)
					}
				}
				if res.ExitCode != 0 || !strings.Contains(res.Stdout+res.Stderr, cl.ok) {
					t.Errorf("key %d (%v): client rejected our signed reply: exit %d\n%s%s", id, k.Type, res.ExitCode, res.Stdout, res.Stderr)
				} else {
					t.Logf("key %d (%v): both directions verify", id, k.Type)
				}

				res, got = run(id, wrong)
				for _, s := range got {
					if !errors.Is(s.err, ntp.ErrBadMAC) || s.keyID != id {
						t.Errorf("key %d (%v), wrong secret: Verify = %d, %v; want ErrBadMAC", id, k.Type, s.keyID, s.err)
					}
				}
				if len(got) == 0 {
					t.Errorf("key %d (%v), wrong secret: server saw no request", id, k.Type)
				}
				if res.ExitCode == 0 {
					t.Errorf("key %d (%v), wrong secret: client accepted a reply signed with another secret:\n%s%s", id, k.Type, res.Stdout, res.Stderr)
				}
			}
			// Without -a the request carries no MAC.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			argv := cl.argv(1, good)
			var plain []string
			for i := 0; i < len(argv); i++ {
				if argv[i] == "-a" || argv[i] == "-k" {
					i++
					continue
				}
				plain = append(plain, argv[i])
			}
			cmd := ns.Command(ctx, plain...)
			cmd.Env = cl.env
			ns.RunCmd(cmd)
			if len(log) == 0 {
				t.Fatal("no unauthenticated request seen")
			}
			for len(log) > 0 {
				if s := <-log; !errors.Is(s.err, ntp.ErrNoMAC) {
					t.Errorf("unauthenticated request: %v", s.err)
				}
			}
		})
	}
}
