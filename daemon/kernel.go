package daemon

import (
	"log/slog"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/discipline"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// Which loop disciplines the clock.
//
// ntpd uses the kernel PLL by default ("enable kernel" is its default) and
// its own loop only after "disable kernel". ntpkit's daemon does the
// opposite: its own loop (pkg/discipline's regression loop) is the default,
// and the kernel PLL is used only when the configuration says "enable
// kernel" explicitly. The reasons: the own loop is the one measured in the
// simulation suite and the VM (it steps at start, settles the frequency in
// about a minute and polls adaptively), it runs identically on the
// simulated clock of --no-adjust (so the interop tests exercise the loop
// that runs in production), and a configuration that never mentions the
// flag keeps the behaviour it had. With "enable kernel" the daemon first
// measures the frequency with its own loop, writing the kernel's frequency
// register directly (as ntpd's FREQ state does), and then hands the
// offsets to the kernel (adjtimex ADJ_OFFSET, STA_PLL, STA_NANO, time
// constant the poll exponent, as ntpd), passing on only a sample that is
// the best of the last eight; it reports the kernel's frequency in mode 6
// and the drift file (pkg/discipline's kernel.go has the details).
//
// The kernel discipline is not used, even when enabled, under --no-adjust
// (nothing may touch the clock: the own loop runs on a simulated copy of
// it), with -x (the kernel PLL clamps offsets to 0.5 s, which is why ntpd
// also leaves it off when the step threshold is raised above 0.5 s), with
// -q (the clock is set once), or when the clock has no kernel PLL.
func kernelDiscipline(p EngineParams, cfg *ntpconf.Config, adj clock.Adjuster, log *slog.Logger) bool {
	if !cfg.Flags.Kernel || !cfg.Flags.KernelSet {
		return false
	}
	why := ""
	switch {
	case p.Adjuster == nil:
		why = "--no-adjust: the clock is never touched; the daemon's own loop runs on a simulated clock"
	case p.SlewOnly:
		why = "-x: the kernel PLL takes offsets up to 0.5 s only"
	case p.Once:
		why = "-q sets the clock once"
	default:
		if _, ok := adj.(discipline.KernelPLL); !ok {
			why = "this clock has no kernel PLL"
		}
	}
	if why != "" {
		log.Info("enable kernel: kernel discipline not used, own loop instead", "reason", why)
		return false
	}
	return true
}

// leapGate is the adjuster handed to the discipline. It passes everything
// through, except that a leap warning reaches the kernel (STA_INS or
// STA_DEL) only on the last day of a month (UTC). Upstream servers announce
// a leap second for up to a month ahead, but the kernel inserts or deletes
// it at the next midnight UTC once armed: armed earlier, it would do so on
// the wrong day. The leap bits served to clients are not affected.
type leapGate struct {
	clock.Adjuster
	log   *slog.Logger
	armed ntp.Leap // the engine's goroutine alone calls SetStatus
}

// kernelLeapGate adds the kernel PLL of the wrapped adjuster.
type kernelLeapGate struct {
	*leapGate
	k discipline.KernelPLL
}

func (g kernelLeapGate) KernelPLL(offset time.Duration, timeConstant int) error {
	return g.k.KernelPLL(offset, timeConstant)
}

// gateLeap wraps adj; the result implements discipline.KernelPLL when adj
// does.
func gateLeap(adj clock.Adjuster, log *slog.Logger) clock.Adjuster {
	g := &leapGate{Adjuster: adj, log: log}
	if k, ok := adj.(discipline.KernelPLL); ok {
		return kernelLeapGate{leapGate: g, k: k}
	}
	return g
}

// lastDayOfMonth reports whether t is in the last day of its month, UTC:
// the day that ends with a leap second.
func lastDayOfMonth(t time.Time) bool {
	t = t.UTC()
	return t.AddDate(0, 0, 1).Month() != t.Month()
}

// SetStatus implements clock.Adjuster.
func (g *leapGate) SetStatus(s clock.Status) error {
	if (s.Leap == ntp.LeapInsert || s.Leap == ntp.LeapDelete) && !lastDayOfMonth(g.Now()) {
		s.Leap = ntp.LeapNone
	}
	if !s.Synchronized {
		s.Leap = ntp.LeapNone
	}
	err := g.Adjuster.SetStatus(s)
	if err == nil && s.Leap != g.armed {
		switch s.Leap {
		case ntp.LeapInsert:
			g.log.Warn("leap second insertion armed in the kernel for midnight UTC")
		case ntp.LeapDelete:
			g.log.Warn("leap second deletion armed in the kernel for midnight UTC")
		default:
			g.log.Info("leap second warning cleared in the kernel")
		}
		g.armed = s.Leap
	}
	return err
}
