package vmtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ntpkit/ntpkit/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// hostConfig is what the daemon on the host side serves: its own clock, as
// a stratum 11 server.
const hostConfig = `server 127.127.1.0
fudge 127.127.1.0 stratum 10
`

// TestRealKernelClock boots the VM once and runs the guest scenarios (all
// by default; NTPKIT_VM_SCENARIOS=a,b picks some): "date" (ntpdate steps,
// -b steps, -B slews the guest clock), "daemon" (ntpd's own loop
// disciplines a guest with a wrong phase and frequency to TIME_OK),
// "kernel" (the same with "enable kernel": the kernel PLL does it) and
// "leap" (a leap second announced upstream is served, armed in the kernel
// and inserted at midnight of 31 December, guest time). The host clock is
// never touched: the guest's is.
func TestRealKernelClock(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM for several minutes")
	}
	testenv.NeedRoot(t)
	testenv.Need(t, "qemu-system-x86_64", "unshare", "apt-get", "dpkg-deb", "tar")
	scenarios := os.Getenv("NTPKIT_VM_SCENARIOS")
	if scenarios == "" {
		scenarios = "date,daemon,kernel,leap"
	}
	cache := os.Getenv("NTPKIT_VM_CACHE")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "ntpkit-vmtest")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	k, err := FetchKernel(cache)
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("kernel: %v", err)
		}
		t.Skipf("kernel: %v", err)
	}
	work := t.TempDir()
	ntpkit := testenv.BuildNtpkit(t)
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	guest := filepath.Join(work, "guest")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", guest, "./internal/vmtest/guest")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build guest: %v\n%s", err, out)
	}
	initrd := filepath.Join(work, "initramfs.cpio")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteInitramfs(f, guest, k.Modules); err != nil {
		t.Fatal(err)
	}
	f.Close()
	conf := filepath.Join(work, "host.conf")
	if err := os.WriteFile(conf, []byte(hostConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(work, "console.log")
	vmTimeout := 480
	kargs := fmt.Sprintf("console=ttyS0 panic=-1 quiet tsc=reliable ntpkit.vmtest=1 ntpkit.scenario=%s", scenarios)
	// Everything runs in a new network namespace with only loopback: qemu's
	// user networking turns the guest's packets to 10.0.2.2 into packets
	// to this namespace's 127.0.0.1, where the host daemon listens, and
	// nothing can leave the machine.
	script := fmt.Sprintf(`set -u
ip link set lo up
%[1]q daemon -n --no-adjust -c %[2]q >%[3]q/host-daemon.log 2>&1 &
dpid=$!
trap 'kill $dpid 2>/dev/null' EXIT
ok=0
for i in $(seq 60); do
  if %[1]q date -q 127.0.0.1 >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.5
done
[ $ok = 1 ] || { echo "host daemon never synchronised" >&2; cat %[3]q/host-daemon.log >&2; exit 3; }
timeout %[4]d qemu-system-x86_64 -M pc -accel tcg -smp 1 -m 256 -nodefaults -no-user-config \
  -display none -no-reboot -serial file:%[5]q -kernel %[6]q -initrd %[7]q -append %[8]q \
  -netdev user,id=n0,ipv6=off,net=10.0.2.0/24,host=10.0.2.2 -device virtio-net-pci,netdev=n0,romfile=
`, ntpkit, conf, work, vmTimeout, console, k.Image, initrd, kargs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(vmTimeout+60)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--", "bash", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("vm run: %v\n%s", err, out)
	}
	results := parseConsole(t, console)
	if results.total == 0 {
		hostLog, _ := os.ReadFile(filepath.Join(work, "host-daemon.log"))
		t.Fatalf("guest printed no result (see console above); host daemon log:\n%s", hostLog)
	}
}

type consoleResult struct{ total, failed int }

// parseConsole turns each guest check into a subtest so failures are named.
func parseConsole(t *testing.T, path string) consoleResult {
	var r consoleResult
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("console: %v", err)
		return r
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "NTPKIT-VM ")
		if i < 0 {
			continue
		}
		msg := line[i+len("NTPKIT-VM "):]
		verdict, rest, _ := strings.Cut(msg, " ")
		name, detail, _ := strings.Cut(rest, ": ")
		switch verdict {
		case "PASS", "FAIL":
			r.total++
			pass := verdict == "PASS"
			if !pass {
				r.failed++
			}
			t.Run(name, func(t *testing.T) {
				if !pass {
					t.Error(detail)
				} else {
					t.Log(detail)
				}
			})
		default:
			t.Log(msg)
		}
	}
	return r
}
