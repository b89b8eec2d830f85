// Package vmtest boots a throwaway qemu VM (software emulation) with a real
// Linux kernel whose /init is a Go test program from this repository, so that
// code which steps, slews and disciplines the clock is tested against a real
// kernel clock without ever touching the host's. The recipe follows
// ../shared/vmclock: Debian's cloud kernel, virtio-net through qemu user
// networking (the guest's 10.0.2.2 is the host's 127.0.0.1), and the whole
// run inside a fresh network namespace that has only loopback.
package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as initramfs.
// Writing it ourselves means no root (for mknod) and no cpio tool.
type cpioWriter struct {
	w   *bufio.Writer
	ino uint32
	n   int64
}

func (c *cpioWriter) align() {
	for c.n%4 != 0 {
		c.w.WriteByte(0)
		c.n++
	}
}

func (c *cpioWriter) add(name string, mode, major, minor uint32, data []byte) {
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(name)+1, 0)
	c.w.WriteString(hdr)
	c.w.WriteString(name)
	c.w.WriteByte(0)
	c.n += int64(len(hdr) + len(name) + 1)
	c.align()
	c.w.Write(data)
	c.n += int64(len(data))
	c.align()
}

const (
	modeDir = 0o040000
	modeChr = 0o020000
	modeReg = 0o100000
)

// WriteInitramfs writes an initramfs holding /init (the guest program),
// device nodes for the console, and the kernel modules to load in order as
// /modules/NN-name.ko.
func WriteInitramfs(w io.Writer, initPath string, modules []string) error {
	c := &cpioWriter{w: bufio.NewWriter(w)}
	c.add("dev", modeDir|0o755, 0, 0, nil)
	c.add("dev/console", modeChr|0o600, 5, 1, nil)
	c.add("dev/null", modeChr|0o666, 1, 3, nil)
	for _, d := range []string{"proc", "sys", "tmp", "etc"} {
		c.add(d, modeDir|0o1777, 0, 0, nil)
	}
	bin, err := os.ReadFile(initPath)
	if err != nil {
		return fmt.Errorf("read guest init: %w", err)
	}
	c.add("init", modeReg|0o755, 0, 0, bin)
	c.add("modules", modeDir|0o755, 0, 0, nil)
	for i, m := range modules {
		data, err := os.ReadFile(m)
		if err != nil {
			return fmt.Errorf("read module: %w", err)
		}
		c.add(fmt.Sprintf("modules/%02d-%s", i+1, filepath.Base(m)), modeReg|0o644, 0, 0, data)
	}
	c.add("TRAILER!!!", 0, 0, 0, nil)
	return c.w.Flush()
}
