package daemon

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// enableRxTimestamps asks the kernel for SO_TIMESTAMPNS receive timestamps
// (best effort).
func enableRxTimestamps(fd uintptr) {
	_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
}

// kernelRxTime extracts an SCM_TIMESTAMPNS control message without
// allocating.
func kernelRxTime(oob []byte) (ntp.Timestamp, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		// struct cmsghdr: size_t len, int level, int type.
		var l int
		var level, typ int32
		if unix.SizeofCmsghdr == 16 {
			l = int(binary.NativeEndian.Uint64(oob[0:8]))
			level = int32(binary.NativeEndian.Uint32(oob[8:12]))
			typ = int32(binary.NativeEndian.Uint32(oob[12:16]))
		} else {
			l = int(binary.NativeEndian.Uint32(oob[0:4]))
			level = int32(binary.NativeEndian.Uint32(oob[4:8]))
			typ = int32(binary.NativeEndian.Uint32(oob[8:12]))
		}
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && l >= unix.SizeofCmsghdr+16 {
			data := oob[unix.SizeofCmsghdr:]
			var sec, nsec int64
			if unix.SizeofCmsghdr == 16 {
				sec = int64(binary.NativeEndian.Uint64(data[0:8]))
				nsec = int64(binary.NativeEndian.Uint64(data[8:16]))
			} else {
				sec = int64(int32(binary.NativeEndian.Uint32(data[0:4])))
				nsec = int64(int32(binary.NativeEndian.Uint32(data[4:8])))
			}
			return ntp.TimestampFromTime(time.Unix(sec, nsec)), true
		}
		sp := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if sp > len(oob) {
			return 0, false
		}
		oob = oob[sp:]
	}
	return 0, false
}
