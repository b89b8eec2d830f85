package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// virtioModules are the modules virtio-net needs, in load order (each
// depends only on earlier ones).
var virtioModules = []string{
	"drivers/virtio/virtio_ring.ko",
	"drivers/virtio/virtio.ko",
	"drivers/virtio/virtio_pci_modern_dev.ko",
	"drivers/virtio/virtio_pci_legacy_dev.ko",
	"drivers/virtio/virtio_pci.ko",
	"net/core/failover.ko",
	"drivers/net/net_failover.ko",
	"drivers/net/virtio_net.ko",
}

// Kernel is an extracted kernel image and the virtio-net modules.
type Kernel struct {
	Image   string
	Modules []string
}

// FetchKernel downloads Debian's cloud kernel package into dir (cached
// across runs) without installing it, and extracts the image and the
// virtio-net modules.
func FetchKernel(dir string) (*Kernel, error) {
	x := filepath.Join(dir, "x")
	k := &Kernel{Image: filepath.Join(dir, "vmlinuz")}
	if _, err := os.Stat(k.Image); err != nil {
		if err := os.MkdirAll(x, 0o755); err != nil {
			return nil, err
		}
		pkg, err := kernelPackage()
		if err != nil {
			return nil, err
		}
		dl := exec.Command("apt-get", "download", "-o", "APT::Sandbox::User=root", pkg)
		dl.Dir = dir
		if out, err := dl.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("apt-get download %s: %v\n%s", pkg, err, out)
		}
		debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
		if len(debs) == 0 {
			return nil, fmt.Errorf("no .deb for %s in %s", pkg, dir)
		}
		pats := []string{"./boot/vmlinuz-*"}
		for _, m := range virtioModules {
			pats = append(pats, "./lib/modules/*/kernel/"+m)
		}
		script := fmt.Sprintf("dpkg-deb --fsys-tarfile %q | tar -x -C %q --wildcards %s", debs[0], x, quoteAll(pats))
		if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("extract kernel: %v\n%s", err, out)
		}
		imgs, _ := filepath.Glob(filepath.Join(x, "boot", "vmlinuz-*"))
		if len(imgs) == 0 {
			return nil, fmt.Errorf("no vmlinuz in %s", debs[0])
		}
		if err := os.Rename(imgs[0], k.Image); err != nil {
			return nil, err
		}
	}
	for _, m := range virtioModules {
		found, _ := filepath.Glob(filepath.Join(x, "lib", "modules", "*", "kernel", m))
		if len(found) == 0 {
			return nil, fmt.Errorf("module %s missing from the kernel package", m)
		}
		k.Modules = append(k.Modules, found[0])
	}
	return k, nil
}

// kernelPackage asks apt which versioned image the cloud kernel metapackage
// depends on, refreshing the package lists once if it does not know.
func kernelPackage() (string, error) {
	for attempt := 0; attempt < 2; attempt++ {
		out, _ := exec.Command("apt-cache", "depends", "linux-image-cloud-amd64").Output()
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
				return f[1], nil
			}
		}
		if attempt == 0 {
			if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
				return "", fmt.Errorf("apt-get update: %v\n%s", err, out)
			}
		}
	}
	return "", fmt.Errorf("cannot find the package behind linux-image-cloud-amd64")
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "'" + v + "'"
	}
	return strings.Join(q, " ")
}
