package daemon

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DropPrivileges switches the process to spec ("user" or "user:group", names
// or numeric ids) after the sockets are bound, keeping only CAP_SYS_TIME
// (when keepSysTime) so the engine can still discipline the clock.
//
// Linux capabilities and the keep-caps flag are per thread, so every step
// runs on all of the process's threads (syscall.AllThreadsSyscall). That
// requires a binary built with CGO_ENABLED=0 (as `make build` does); with cgo
// the drop fails with a clear error rather than leaving threads with
// different credentials.
func DropPrivileges(spec string, keepSysTime bool) error {
	name, group, _ := strings.Cut(spec, ":")
	uid, gid, err := lookupIDs(name, group)
	if err != nil {
		return err
	}
	if keepSysTime {
		if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
			return fmt.Errorf("drop privileges: prctl(PR_SET_KEEPCAPS): %w", e)
		}
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("drop privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("drop privileges: setuid %d: %w", uid, err)
	}
	if !keepSysTime {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	bit := uint32(1) << (unix.CAP_SYS_TIME % 32)
	data[unix.CAP_SYS_TIME/32].Effective = bit
	data[unix.CAP_SYS_TIME/32].Permitted = bit
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("drop privileges: capset(CAP_SYS_TIME): %w", e)
	}
	return nil
}

func lookupIDs(name, group string) (uid, gid int, err error) {
	if n, err := strconv.Atoi(name); err == nil {
		uid, gid = n, n
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, 0, fmt.Errorf("drop privileges: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if group != "" {
		if n, err := strconv.Atoi(group); err == nil {
			gid = n
		} else {
			g, err := user.LookupGroup(group)
			if err != nil {
				return 0, 0, fmt.Errorf("drop privileges: %w", err)
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	return uid, gid, nil
}
