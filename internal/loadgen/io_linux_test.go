//go:build linux

package loadgen

import (
	"context"
	"encoding/binary"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestKernelTime(t *testing.T) {
	ts := make([]byte, 16)
	binary.NativeEndian.PutUint64(ts[0:], 1700000000)
	binary.NativeEndian.PutUint64(ts[8:], 123456789)
	want := time.Unix(1700000000, 123456789)
	other := cmsg(unix.SOL_IP, unix.IP_TTL, []byte{64, 0, 0, 0})
	tests := []struct {
		name string
		oob  []byte
		ok   bool
	}{
		{"timestamp", cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts), true},
		{"after another message", append(other, cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts)...), true},
		{"none", other, false},
		{"empty", nil, false},
		{"truncated", cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts)[:20], false},
	}
	for _, tt := range tests {
		got, ok := kernelTime(tt.oob)
		if ok != tt.ok || (ok && !got.Equal(want)) {
			t.Errorf("%s: %v %v", tt.name, got, ok)
		}
	}
}

// Replies carry kernel receive times: the round trip is positive and the
// transmit age small on loopback.
func TestRunUsesKernelTimestamps(t *testing.T) {
	srv := echoServer(t, 0)
	res, err := Run(context.Background(), Config{Server: srv, Rate: 1000, Duration: 200 * time.Millisecond, Sources: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replies == 0 || res.RTT50 <= 0 || res.XmtAge50 < 0 || res.XmtAge50 > time.Second {
		t.Fatalf("%+v", res)
	}
}
