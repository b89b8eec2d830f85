package cli

import (
	"context"
	"io"
	"net/netip"
	stdsync "sync"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
)

type ioWriter = io.Writer

// recordingAdjuster records what the command asked of the clock; it never
// touches a real one.
type recordingAdjuster struct {
	mu    stdsync.Mutex
	Steps []time.Duration
	Slews []time.Duration
}

func (a *recordingAdjuster) Now() time.Time { return time.Now() }
func (a *recordingAdjuster) Step(d time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Steps = append(a.Steps, d)
	return nil
}
func (a *recordingAdjuster) Slew(d time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Slews = append(a.Slews, d)
	return nil
}
func (a *recordingAdjuster) SetFrequency(float64) error   { return nil }
func (a *recordingAdjuster) Frequency() (float64, error)  { return 0, nil }
func (a *recordingAdjuster) SetStatus(clock.Status) error { return nil }

// blockingResolver answers only when the context ends.
type blockingResolver struct{ fakeResolver }

func (blockingResolver) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
