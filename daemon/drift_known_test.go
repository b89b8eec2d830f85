package daemon

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The drift file holds only a frequency the daemon knows: read from the
// file at start or measured since. A daemon whose only server never
// answered writes nothing, so an unmeasured 0 ppm cannot later pass for a
// good value. (127.0.0.77:123 has no listener: requests go unanswered.)
func TestDriftWrittenOnlyWhenKnown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial string // drift file content at start; "" = no file
		want    string // after shutdown; "" = no file
	}{
		{"never measured, no file", "", ""},
		{"from the drift file", "-7.125\n", "-7.125"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drift := filepath.Join(t.TempDir(), "ntp.drift")
			if tc.initial != "" {
				os.WriteFile(drift, []byte(tc.initial), 0o644)
			}
			d, err := New(Options{Config: parseConf(t, "server 127.0.0.77 iburst\ndriftfile "+drift+"\n"),
				Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, NewEngine: NewSyncEngine})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := d.Engine().(*SyncEngine); !ok {
				t.Fatalf("engine %T, want the sync engine", d.Engine())
			}
			os.Remove(drift)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- d.Run(ctx) }()
			time.Sleep(100 * time.Millisecond)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(drift)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("drift file written with an unmeasured frequency: %q", b)
			case tc.want != "" && err != nil:
				t.Errorf("drift file not written: %v", err)
			case tc.want != "":
				if v, err := ReadDrift(drift); err != nil || v != -7.125 {
					t.Errorf("drift after shutdown: %v %v (file %q)", v, err, b)
				}
			}
		})
	}
}
