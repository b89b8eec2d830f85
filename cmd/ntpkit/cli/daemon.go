package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/daemon"
	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
)

// daemonEngine, when set (by another file of this package, e.g. when the
// upstream synchronisation engine is wired in), builds the daemon's engine;
// nil keeps daemon.NewLocalEngine (LOCAL clock only). Set it from an init
// function; it is not changed afterwards.
var daemonEngine daemon.NewEngineFunc

// defaultConfigPath is where ntpd looks without -c.
const defaultConfigPath = "/etc/ntp.conf"

type daemonFlags struct {
	config      string
	debug       int
	debugLevel  int
	allowStep   bool
	noFork      bool
	highPrio    bool
	once        bool
	slewOnly    bool
	pidFile     string
	driftFile   string
	logFile     string
	ipv4, ipv6  bool
	ifaces      []string
	user        string
	listen      []string
	noAdjust    bool
	check       bool
	metrics     string
	syncDelay   time.Duration
	mruCapacity int
}

// newDaemonCmd builds the ntpd personality.
func newDaemonCmd(env *Env) *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "NTP daemon (ntpd): serve time, answer ntpq/ntpstat, discipline the clock",
		Long: `Run the NTP daemon. It reads ntp.conf (-c, default /etc/ntp.conf; without one the
built-in default configuration serves the local clock at stratum 11 and answers ntpq/ntpstat on
loopback only), serves time to clients (mode 3/4), answers control queries (mode 6), applies
the restrict rules with a bounded rate-limiting table, and keeps the drift file.

The clock is disciplined by ntpkit's own loop (a regression of the measured offsets, with
a start-up step), unlike ntpd, whose default is the kernel PLL. "enable kernel" in ntp.conf
hands the offsets to the kernel PLL instead (adjtimex STA_PLL), except under --no-adjust,
-x or -q, where the own loop runs. A leap second announced by the upstreams is served to
clients at once and armed in the kernel on the last day of the month.

ntpkit's daemon never forks: -n is accepted for compatibility. Run it under systemd
(contrib/systemd/ntpkit.service) or any supervisor.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), env, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "configfile", "c", "", "configuration file (default "+defaultConfigPath+", else the built-in default)")
	fl.CountVarP(&f.debug, "debug", "d", "increase debug level (log at debug level)")
	fl.IntVarP(&f.debugLevel, "set-debug-level", "D", 0, "set the debug level")
	fl.BoolVarP(&f.allowStep, "panicgate", "g", false, "allow the first clock adjustment to exceed the panic threshold")
	fl.BoolVarP(&f.noFork, "nofork", "n", false, "do not fork (always the case; accepted for compatibility)")
	fl.BoolVarP(&f.highPrio, "priority", "N", false, "run at high scheduling priority")
	fl.BoolVarP(&f.once, "quit", "q", false, "exit once the clock is synchronised (set once and quit)")
	fl.BoolVarP(&f.slewOnly, "slew", "x", false, "slew only: never step the clock")
	fl.StringVarP(&f.pidFile, "pidfile", "p", "", "write the process id to this file")
	fl.StringVarP(&f.driftFile, "driftfile", "f", "", "frequency drift file (overrides driftfile in the configuration)")
	fl.StringVarP(&f.logFile, "logfile", "l", "", "log to this file instead of stderr (reopened on SIGHUP)")
	fl.BoolVarP(&f.ipv4, "ipv4", "4", false, "IPv4 only")
	fl.BoolVarP(&f.ipv6, "ipv6", "6", false, "IPv6 only")
	fl.StringArrayVarP(&f.ifaces, "interface", "I", nil, "listen on this interface name or address only (repeatable)")
	fl.StringVarP(&f.user, "user", "u", "", "drop root to user[:group] after binding, keeping CAP_SYS_TIME")
	fl.StringArrayVar(&f.listen, "listen", nil, "serve on exactly this addr:port (repeatable; for unprivileged tests)")
	fl.BoolVar(&f.noAdjust, "no-adjust", false, "compute everything but never adjust the system clock")
	fl.BoolVar(&f.check, "check", false, "validate the configuration and exit")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on addr:port at /metrics")
	fl.DurationVar(&f.syncDelay, "local-sync-delay", 2*time.Second, "how long the local clock driver samples before it declares synchronisation")
	fl.IntVar(&f.mruCapacity, "mru-size", 4096, "capacity of the per-source rate limiting table (fixed memory)")
	return cmd
}

// loadDaemonConfig reads -c, or /etc/ntp.conf, or the built-in default.
func loadDaemonConfig(path string) (cfg *ntpconf.Config, source string, builtin bool, err error) {
	if path == "" {
		if _, serr := os.Stat(defaultConfigPath); serr == nil {
			path = defaultConfigPath
		} else {
			cfg, err = ntpconf.Parse("(built-in default)", strings.NewReader(ntpconf.DefaultConfig))
			return cfg, "built-in default configuration", true, err
		}
	}
	cfg, err = ntpconf.ParseFile(path)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		return nil, path, false, fmt.Errorf("configuration file %s does not exist", path)
	}
	return cfg, path, false, err
}

func runDaemon(ctx context.Context, env *Env, f *daemonFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if f.ipv4 && f.ipv6 {
		return &ExitError{Code: 2, Err: errors.New("-4 and -6 are mutually exclusive")}
	}
	cfg, source, builtin, err := loadDaemonConfig(f.config)
	if f.check {
		if cfg != nil {
			for _, w := range cfg.Warnings {
				fmt.Fprintf(env.Stderr, "warning: %s\n", w)
			}
		}
		if err != nil {
			var el ntpconf.ErrorList
			if errors.As(err, &el) {
				for _, e := range el {
					fmt.Fprintf(env.Stderr, "error: %s\n", e)
				}
				return exit(1)
			}
			return &ExitError{Code: 1, Err: err}
		}
		fmt.Fprintf(env.Stdout, "%s: configuration OK (%d associations, %d restrict lines)\n", source, len(cfg.Servers), len(cfg.Restrictions))
		return nil
	}
	if err != nil {
		var el ntpconf.ErrorList
		if errors.As(err, &el) {
			for _, e := range el {
				fmt.Fprintf(env.Stderr, "error: %s\n", e)
			}
			return &ExitError{Code: 1, Err: fmt.Errorf("%s: %d configuration error(s)", source, len(el))}
		}
		return &ExitError{Code: 1, Err: err}
	}

	level := slog.LevelInfo
	if f.debug > 0 || f.debugLevel > 0 {
		level = slog.LevelDebug
	}
	logPath := f.logFile
	if logPath == "" {
		logPath = cfg.LogFile
	}
	lw := &reopenWriter{path: logPath, fallback: env.Stderr}
	if err := lw.reopen(); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	defer lw.close()
	log := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: level}))
	ver, rev, _ := Version()
	log.Info("ntpkit daemon starting", "version", ver, "commit", rev, "config", source)
	if builtin {
		log.Warn("no configuration file (" + defaultConfigPath + " absent, -c not given): using the built-in default configuration: local clock at stratum 10, ntpq/ntpstat from loopback only")
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w.String())
	}
	for _, s := range cfg.Servers {
		if daemonEngine == nil && !(s.IsRefclock && s.RefclockType == 1) {
			log.Warn("association listed but not synchronised by this engine (only the LOCAL clock driver is built in)", "server", s.Address, "at", s.Pos.String())
		}
	}

	var listen []netip.AddrPort
	for _, l := range f.listen {
		ap, err := parseListen(l)
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		listen = append(listen, ap)
	}
	var adj clock.Adjuster
	if !f.noAdjust {
		adj = clock.NewLinux()
	} else {
		log.Info("--no-adjust: the system clock will not be touched")
	}
	if f.highPrio {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, -20); err != nil {
			log.Warn("cannot raise priority", "err", err)
		}
	}
	opts := daemon.Options{
		Config:         cfg,
		Listen:         listen,
		IPv4Only:       f.ipv4,
		IPv6Only:       f.ipv6,
		Interfaces:     f.ifaces,
		Adjuster:       adj,
		Logger:         log,
		DriftFile:      f.driftFile,
		MetricsAddr:    f.metrics,
		LocalSyncDelay: f.syncDelay,
		MRUCapacity:    f.mruCapacity,
		AllowBigStep:   f.allowStep,
		SlewOnly:       f.slewOnly,
		Once:           f.once,
		Info:           systemInfo(ver),
		NewEngine:      daemonEngine,
	}
	d, err := daemon.New(opts)
	if err != nil {
		log.Error("cannot start", "err", err)
		return &ExitError{Code: 1, Err: err}
	}
	if f.user != "" {
		if err := daemon.DropPrivileges(f.user, !f.noAdjust); err != nil {
			d.Close()
			log.Error("cannot drop privileges", "err", err)
			return &ExitError{Code: 1, Err: err}
		}
		log.Info("dropped privileges", "user", f.user, "keep_cap_sys_time", !f.noAdjust)
	}
	if f.pidFile != "" {
		if err := os.WriteFile(f.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Warn("cannot write pid file", "file", f.pidFile, "err", err)
		} else {
			defer os.Remove(f.pidFile)
		}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := lw.reopen(); err != nil {
					log.Error("cannot reopen log file", "err", err)
				} else {
					log.Info("log file reopened")
				}
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		log.Error("daemon stopped", "err", err)
		return &ExitError{Code: 1, Err: err}
	}
	return nil
}

// parseListen accepts addr:port, [v6]:port and :port (all IPv4 addresses).
func parseListen(s string) (netip.AddrPort, error) {
	if strings.HasPrefix(s, ":") {
		p, err := strconv.ParseUint(s[1:], 10, 16)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("--listen %q: bad port", s)
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p)), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--listen %q: want addr:port: %w", s, err)
	}
	return ap, nil
}

func systemInfo(ver string) daemon.SystemInfo {
	info := daemon.SystemInfo{Version: "ntpkit " + ver, Processor: runtime.GOARCH, System: runtime.GOOS}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		info.Processor = unix.ByteSliceToString(u.Machine[:])
		info.System = unix.ByteSliceToString(u.Sysname[:]) + "/" + unix.ByteSliceToString(u.Release[:])
	}
	return info
}

// reopenWriter writes log lines to a file that SIGHUP reopens (for log
// rotation), or to the fallback writer when no path is set.
type reopenWriter struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	fallback io.Writer
}

func (w *reopenWriter) reopen() error {
	if w.path == "" {
		return nil
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	w.mu.Lock()
	old := w.f
	w.f = f
	w.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (w *reopenWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		return w.f.Write(p)
	}
	return w.fallback.Write(p)
}

func (w *reopenWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}
