package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
	ntpsync "github.com/ntpkit/ntpkit/sync"
)

// Engine owns synchronisation: it polls the configured sources, disciplines
// the clock (through EngineParams.Adjuster, when not nil) and publishes the
// system and peer state. See the package documentation for the contract.
type Engine interface {
	// Run works until ctx is cancelled; it returns nil then, or an error
	// when it cannot continue.
	Run(ctx context.Context) error
	// System returns the current system state snapshot. It is never nil
	// and must not be modified; it is called for every served packet.
	System() *ntpsync.SystemState
	// Peers returns the current associations, ascending association id.
	// The slice and its elements must not be modified.
	Peers() []ntpsync.PeerState
}

// EngineParams is what the daemon hands to an engine constructor.
type EngineParams struct {
	Config *ntpconf.Config
	Clock  clock.Clock
	// Adjuster is nil when the daemon must not touch the clock
	// (--no-adjust); otherwise the only way to change it.
	Adjuster clock.Adjuster
	Logger   *slog.Logger
	// Frequency from the drift file, in ppm; FrequencyValid is false when
	// there was none.
	FrequencyPPM   float64
	FrequencyValid bool
	// Precision is the measured clock precision (log2 seconds).
	Precision int8
	// FirstAssocID is the association id of the first association; the
	// following ones count up from it.
	FirstAssocID uint16
	// AllowBigStep is -g, SlewOnly is -x, Once is -q.
	AllowBigStep, SlewOnly, Once bool
	// LocalSyncDelay is how long the local clock driver waits after start
	// before it declares itself synchronised (a few samples).
	LocalSyncDelay time.Duration
	// OnUpdate, if set, is called after every published state change.
	OnUpdate func()
	// Keys is the trusted view of the keys file ("keys", "trustedkey";
	// nil: none), for associations configured with "key N".
	Keys ntp.KeyLookup
}

// NewEngineFunc builds an engine; see Options.NewEngine.
type NewEngineFunc func(EngineParams) (Engine, error)
