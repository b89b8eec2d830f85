package cli

import (
	"context"
	"io"
	"net/netip"
	stdsync "sync"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
)

type dateIOWriter = io.Writer

// dateRecordingAdjuster records what the command asked of the clock; it never
// touches a real one.
type dateRecordingAdjuster struct {
	mu    stdsync.Mutex
	Steps []time.Duration
	Slews []time.Duration
}

func (a *dateRecordingAdjuster) Now() time.Time { return time.Now() }
func (a *dateRecordingAdjuster) Step(d time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Steps = append(a.Steps, d)
	return nil
}
func (a *dateRecordingAdjuster) Slew(d time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Slews = append(a.Slews, d)
	return nil
}
func (a *dateRecordingAdjuster) SetFrequency(float64) error   { return nil }
func (a *dateRecordingAdjuster) Frequency() (float64, error)  { return 0, nil }
func (a *dateRecordingAdjuster) SetStatus(clock.Status) error { return nil }

// dateBlockingResolver answers only when the context ends.
type dateBlockingResolver struct{ dateFakeResolver }

func (dateBlockingResolver) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
