//go:build !linux

package daemon

import "github.com/ntpkit/ntpkit/pkg/ntp"

// Kernel receive timestamps are only used on Linux.
func enableRxTimestamps(fd uintptr) {}

func kernelRxTime(oob []byte) (ntp.Timestamp, bool) { return 0, false }
