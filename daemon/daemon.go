package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// Restrictions answers which restrict flags apply to a source address.
// *ntpconf.Restrictor implements it.
type Restrictions interface {
	Flags(addr netip.Addr) ntpconf.RestrictFlags
}

// Options configure a Daemon.
type Options struct {
	// Config is the parsed ntp.conf (required).
	Config *ntpconf.Config
	// Listen, when not empty, are the exact addresses to serve on
	// (--listen). Otherwise the daemon binds port Port (default 123) on
	// every local address allowed by the interface rules, -4/-6 and -I.
	Listen     []netip.AddrPort
	Port       int
	IPv4Only   bool
	IPv6Only   bool
	Interfaces []string // -I: interface names or addresses
	// Clock reads the time (default the system clock). Adjuster, when
	// not nil, is handed to the engine; nil means never touch the clock.
	Clock    clock.Clock
	Adjuster clock.Adjuster
	Logger   *slog.Logger
	// NewEngine builds the synchronisation engine (default NewLocalEngine).
	NewEngine NewEngineFunc
	// DriftFile overrides the config's driftfile (-f); DriftInterval is the
	// period of drift file updates (default 1 hour).
	DriftFile     string
	DriftInterval time.Duration
	// MetricsAddr, when set, serves Prometheus metrics on /metrics.
	MetricsAddr string
	// LocalSyncDelay: see EngineParams.
	LocalSyncDelay time.Duration
	// MRUCapacity is the fixed size of the source table (default 4096).
	MRUCapacity int
	// FirstAssocID of the first association (default: random, like ntpd).
	FirstAssocID uint16
	// Engine switches: -g, -x, -q.
	AllowBigStep, SlewOnly, Once bool
	// Info is the text of the version/processor/system variables.
	Info SystemInfo
	// KernelTimestamps enables SO_TIMESTAMPNS receive timestamps. They
	// are in the kernel's real-time clock, so only use them with the
	// system clock (the default when Clock is nil).
	KernelTimestamps *bool
}

// Daemon is a running NTP server. Build it with New, run it with Run.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	clock    clock.Clock
	cfg      *ntpconf.Config
	restrict Restrictions
	monitor  bool
	mru      *MRU
	engine   Engine
	metrics  *Metrics
	conns    []*net.UDPConn
	addrs    []netip.AddrPort
	// siblings[i] are the extra SO_REUSEPORT sockets sharing addrs[i]
	// (hotpath_linux.go); nil where one socket serves the address.
	siblings [][]*net.UDPConn
	metricLn net.Listener
	kernelTS bool
	start    time.Time
	drift    string
	minPoll  int8
	auth     *authState // keys, trusted set, control key (auth.go)
}

// New validates the options, reads the drift file, builds the engine and
// binds the sockets (and the metrics listener). After New the process may
// drop privileges; Run then serves.
func New(opts Options) (*Daemon, error) {
	if opts.Config == nil {
		return nil, errors.New("daemon: no configuration")
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
		if opts.KernelTimestamps == nil {
			t := true
			opts.KernelTimestamps = &t
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.NewEngine == nil {
		opts.NewEngine = NewLocalEngine
	}
	if opts.Port == 0 {
		opts.Port = 123
	}
	if opts.DriftInterval <= 0 {
		opts.DriftInterval = time.Hour
	}
	if opts.FirstAssocID == 0 {
		opts.FirstAssocID = uint16(1 + rand.IntN(60000))
	}
	if opts.Info.Version == "" {
		opts.Info.Version = "ntpkit"
	}
	cfg := opts.Config
	d := &Daemon{
		opts:     opts,
		log:      opts.Logger,
		clock:    opts.Clock,
		cfg:      cfg,
		restrict: cfg.Restrictor(),
		metrics:  &Metrics{},
		kernelTS: opts.KernelTimestamps != nil && *opts.KernelTimestamps,
		start:    opts.Clock.Now(),
		drift:    cfg.DriftFile,
		minPoll:  int8(cfg.Discard.Average),
		auth:     newAuth(cfg, opts.Logger),
	}
	if opts.DriftFile != "" {
		d.drift = opts.DriftFile
	}
	limited := false
	for _, r := range cfg.Restrictions {
		if r.Flags.Has(ntpconf.RestrictLimited) || r.Flags.Has(ntpconf.RestrictKOD) {
			limited = true
		}
		if r.Host != "" {
			d.log.Warn("restrict by host name is not supported; entry ignored", "host", r.Host, "at", r.Pos.String())
		}
	}
	d.monitor = cfg.Flags.Monitor
	if d.monitor || limited {
		// Like ntpd, "limited" needs the MRU list even with monitoring disabled.
		d.mru = NewMRU(MRUOptions{Capacity: opts.MRUCapacity, Average: cfg.Discard.Average, Minimum: cfg.Discard.Minimum})
	}

	freq, freqOK := 0.0, false
	if d.drift != "" {
		v, err := ReadDrift(d.drift)
		if err != nil {
			d.log.Warn("cannot use drift file; starting with frequency 0", "err", err)
		} else {
			freq, freqOK = v, true
			d.log.Info("frequency from drift file", "file", d.drift, "ppm", v)
		}
	}
	eng, err := opts.NewEngine(EngineParams{
		Config: cfg, Clock: opts.Clock, Adjuster: opts.Adjuster, Logger: opts.Logger,
		FrequencyPPM: freq, FrequencyValid: freqOK, Precision: MeasurePrecision(opts.Clock),
		FirstAssocID: opts.FirstAssocID, AllowBigStep: opts.AllowBigStep, SlewOnly: opts.SlewOnly,
		Once: opts.Once, LocalSyncDelay: opts.LocalSyncDelay, Keys: d.auth.trusted,
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: engine: %w", err)
	}
	d.engine = eng
	if err := d.bind(); err != nil {
		d.Close()
		return nil, err
	}
	if s, ok := eng.(senderSetter); ok {
		s.SetSender(d.sendServing)
	}
	if opts.MetricsAddr != "" {
		ln, err := net.Listen("tcp", opts.MetricsAddr)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("daemon: metrics listener: %w", err)
		}
		d.metricLn = ln
	}
	return d, nil
}

// MeasurePrecision estimates the clock's reading precision as ntpd does:
// log2 of the smallest non-zero difference between consecutive readings,
// rounded up (at most -1, at least -30).
func MeasurePrecision(c clock.Clock) int8 {
	best := time.Duration(1 << 62)
	prev := c.Now()
	for i := 0; i < 64; i++ {
		t := c.Now()
		if d := t.Sub(prev); d > 0 && d < best {
			best = d
		}
		prev = t
	}
	if best == 1<<62 {
		return -20
	}
	// log2(best ns / 1e9) rounded up.
	p := bits.Len64(uint64(best)) - 30 // 2^30 ns ~ 1.07 s
	return int8(max(-30, min(-1, p)))
}

// Addrs returns the bound server addresses.
func (d *Daemon) Addrs() []netip.AddrPort { return d.addrs }

// MetricsAddr returns the metrics listener's address, if any.
func (d *Daemon) MetricsAddr() net.Addr {
	if d.metricLn == nil {
		return nil
	}
	return d.metricLn.Addr()
}

// Engine returns the synchronisation engine.
func (d *Daemon) Engine() Engine { return d.engine }

// Metrics returns the counters.
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// MRU returns the source table (nil when neither monitoring nor rate
// limiting is enabled).
func (d *Daemon) MRU() *MRU { return d.mru }

// Close releases the sockets without running (after a failed New or when
// Run is never called).
func (d *Daemon) Close() {
	d.closeConns()
	if d.metricLn != nil {
		d.metricLn.Close()
	}
}

// Run serves until ctx is cancelled, then closes the sockets, writes the
// drift file and returns. With Options.Once it returns after the engine
// first reports synchronisation.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	engErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		engErr <- d.engine.Run(ctx)
	}()
	d.serveAll(ctx, &wg)
	if d.metricLn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveMetrics(ctx, d.metricLn, d.writeProm, d.log)
		}()
		d.log.Info("serving metrics", "addr", d.metricLn.Addr().String())
	}
	d.log.Info("serving NTP", "addrs", fmt.Sprint(d.addrs))

	driftT := time.NewTicker(d.opts.DriftInterval)
	defer driftT.Stop()
	syncPoll := time.NewTicker(200 * time.Millisecond)
	defer syncPoll.Stop()
	wasSynced := false
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-engErr:
			if err != nil {
				err = fmt.Errorf("engine: %w", err)
			}
			break loop
		case <-driftT.C:
			d.writeDrift()
		case <-syncPoll.C:
			s := d.engine.System()
			if s.Synchronized() != wasSynced {
				wasSynced = s.Synchronized()
				if wasSynced {
					_, st := sysLeapStratum(s)
					d.log.Info("synchronised", "stratum", st, "refid", string(appendRefID(nil, s.RefID, ntp.IsCode(st))))
				} else {
					d.log.Warn("lost synchronisation")
				}
				if wasSynced && d.opts.Once {
					break loop
				}
			}
		}
	}
	cancel()
	d.closeConns()
	wg.Wait()
	d.writeDrift()
	d.log.Info("stopped")
	return err
}

func (d *Daemon) writeDrift() {
	if d.drift == "" {
		return
	}
	// Like ntpd, write only a measured frequency: a drift file holding an
	// unmeasured 0 would later be trusted as a good prior.
	if k, ok := d.engine.(interface{ FrequencyKnown() bool }); ok && !k.FrequencyKnown() {
		return
	}
	f := d.engine.System().FrequencyPPM
	if err := WriteDrift(d.drift, f); err != nil {
		d.log.Error("cannot write drift file", "err", err)
	}
}

// bind opens the server sockets.
func (d *Daemon) bind() error {
	addrs := d.opts.Listen
	explicit := len(addrs) > 0
	if !explicit {
		var err error
		addrs, err = d.localAddrs()
		if err != nil {
			return err
		}
	}
	var firstErr error
	for _, a := range addrs {
		c, err := d.listen(a)
		if err != nil {
			if explicit {
				return fmt.Errorf("daemon: listen %s: %w", a, err)
			}
			d.log.Warn("cannot listen", "addr", a.String(), "err", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		d.conns = append(d.conns, c)
		d.addrs = append(d.addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	if len(d.conns) == 0 {
		if firstErr != nil {
			return fmt.Errorf("daemon: cannot listen on any address: %w (port %d needs root or CAP_NET_BIND_SERVICE; tests use --listen 127.0.0.1:PORT)", firstErr, d.opts.Port)
		}
		return errors.New("daemon: no address to listen on (check -4/-6, -I and the interface lines)")
	}
	return nil
}

// localAddrs lists the interface addresses to serve on: every address of
// every up interface, filtered by -4/-6, -I and the config's interface
// rules (last matching rule wins; the wildcard is never bound).
func (d *Daemon) localAddrs() ([]netip.AddrPort, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("daemon: list interfaces: %w", err)
	}
	var out []netip.AddrPort
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range as {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr()
			if (d.opts.IPv4Only && !ip.Is4()) || (d.opts.IPv6Only && ip.Is4()) {
				continue
			}
			if len(d.opts.Interfaces) > 0 && !matchIface(d.opts.Interfaces, ifc.Name, ip) {
				continue
			}
			if !d.ifaceAllowed(ifc.Name, ip) {
				continue
			}
			if ip.Is6() && ip.IsLinkLocalUnicast() {
				ip = ip.WithZone(ifc.Name)
			}
			out = append(out, netip.AddrPortFrom(ip, uint16(d.opts.Port)))
		}
	}
	return out, nil
}

func matchIface(list []string, name string, ip netip.Addr) bool {
	for _, s := range list {
		if s == name {
			return true
		}
		if a, err := netip.ParseAddr(s); err == nil && a == ip.WithZone("") {
			return true
		}
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip.WithZone("")) {
			return true
		}
	}
	return false
}

func (d *Daemon) ifaceAllowed(name string, ip netip.Addr) bool {
	allow := true
	for _, r := range d.cfg.Interfaces {
		m := false
		switch r.Match {
		case ntpconf.MatchAll:
			m = true
		case ntpconf.MatchIPv4:
			m = ip.Is4()
		case ntpconf.MatchIPv6:
			m = ip.Is6()
		case ntpconf.MatchName:
			m = strings.EqualFold(r.Name, name)
		case ntpconf.MatchPrefix:
			m = r.Prefix.Contains(ip.WithZone(""))
		}
		if m {
			allow = r.Action == ntpconf.InterfaceListen
		}
	}
	return allow
}
