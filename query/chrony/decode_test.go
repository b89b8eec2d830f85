package chrony

import (
	"testing"
)

// FuzzDecodeReply feeds arbitrary datagrams to every reply decoder: they
// must return an error or a value, never panic.
func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseReplyHeader(b)
		_, _ = DecodeNSources(b)
		_, _ = DecodeTracking(b)
		_, _ = DecodeSourceData(b)
		_, _ = DecodeSourceStats(b)
		_, _ = DecodeNTPData(b)
		_, _ = ParseRequest(b)
	})
}
