package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	"github.com/ntpkit/ntpkit/pkg/ntpconf"
	"github.com/ntpkit/ntpkit/query"
)

// queryDeps are the injectable dependencies of the ntpq and ntpstat
// commands (tests replace them; defaults talk to the real network).
type queryDeps struct {
	Dialer       query.Dialer
	Resolver     query.Resolver
	Clock        clock.Clock
	Location     *time.Location
	FirstTimeout time.Duration // 0: ntpq default (5 s)
	FragTimeout  time.Duration // 0: ntpq default (3 s)
	// IsTerminal reports whether a stream is a terminal (prompt, --pretty
	// and colour decisions).
	IsTerminal func(any) bool
	// StatAddr is where ntpstat sends its query ("127.0.0.1:123").
	StatAddr    string
	StatTimeout time.Duration
	// Chrony fetches chronyd's status for ntpstat when no mode 6 daemon
	// answers (nil: none).
	Chrony func(ctx context.Context) (query.ChronyStat, error)
	// ChronyPeers fetches chronyd's sources for the peers views when the
	// local host does not answer mode 6 (nil: none).
	ChronyPeers func(ctx context.Context) (*query.PeersModel, error)
}

func defaultQueryDeps() queryDeps {
	return queryDeps{
		Dialer:      &net.Dialer{},
		Resolver:    net.DefaultResolver,
		Clock:       clock.System{},
		IsTerminal:  isTerminal,
		StatAddr:    "127.0.0.1:123",
		Chrony:      chronyStatus,
		ChronyPeers: chronyPeers(clock.System{}),
	}
}

// isTerminal reports whether f is an *os.File on a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(file.Fd()), unix.TCGETS)
	return err == nil
}

// cmdList collects -c and -p in command-line order (-c "rv 0 a,b" is one
// command: no comma splitting).
type cmdList struct {
	cmds *[]string
	add  string // fixed command for -p ("peers"); "" for -c
}

func (c cmdList) String() string { return strings.Join(*c.cmds, "; ") }
func (c cmdList) Type() string {
	if c.add != "" {
		return "bool"
	}
	return "command"
}
func (c cmdList) Set(v string) error {
	if c.add != "" {
		if v == "false" {
			return nil
		}
		*c.cmds = append(*c.cmds, c.add)
		return nil
	}
	*c.cmds = append(*c.cmds, v)
	return nil
}

// newQueryCmd builds the ntpq personality.
func newQueryCmd(env *Env) *cobra.Command {
	return newQueryCmdWith(env, defaultQueryDeps())
}

type queryFlags struct {
	ipv4, ipv6   bool
	cmds         []string
	debug        int
	interactive  bool
	numeric      bool
	wide         bool
	units        bool
	width        int
	keyfile      string
	keyid        uint32
	style        string
	json         bool
	pretty       bool
	color        string
	timeoutMS    int
	resolveLimit time.Duration
	noChrony     bool
}

func newQueryCmdWith(env *Env, deps queryDeps) *cobra.Command {
	var f queryFlags
	cmd := &cobra.Command{
		Use:   "query [flags] [host ...]",
		Short: "query NTP servers over the mode 6 control protocol (ntpq)",
		Long: `Query NTP daemons with the mode 6 control protocol, like ntpq.

Output is byte-compatible with ntpq of NTP 4.2.8 by default; --style ntpsec
gives the NTPsec 1.2.2 layout, --json machine-readable documents
(docs/json.md) and --pretty a coloured table for terminals.

Without -c or -p (or with -i), commands are read from standard input, with
an "ntpq> " prompt when it is a terminal.`,
		Example: `  ntpq -p
  ntpq -n -c peers -c "rv 0 leap,stratum,refid" ntp1 ntp2
  ntpq --json -c as`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuery(cmd.Context(), env, deps, &f, args)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.BoolVarP(&f.ipv4, "ipv4", "4", false, "use IPv4 only")
	fl.BoolVarP(&f.ipv6, "ipv6", "6", false, "use IPv6 only")
	fl.VarP(cmdList{cmds: &f.cmds}, "command", "c", "run this ntpq command (repeatable, in order)")
	pf := fl.VarPF(cmdList{cmds: &f.cmds, add: "peers"}, "peers", "p", "print the peers table (same as -c peers)")
	pf.NoOptDefVal = "true"
	fl.CountVarP(&f.debug, "debug", "d", "debug output on stderr (repeat for more)")
	fl.BoolVarP(&f.interactive, "interactive", "i", false, "interactive mode: read commands from stdin (prompt on a terminal)")
	fl.BoolVarP(&f.numeric, "numeric", "n", false, "print addresses numerically, no reverse DNS")
	fl.BoolVarP(&f.wide, "wide", "w", false, "show full host names on a line of their own")
	fl.BoolVarP(&f.units, "units", "u", false, "ntpsec style: delay, offset and jitter with units (14us, 2.302ms)")
	fl.IntVarP(&f.width, "width", "W", 0, "layout width (ntpsec style; default 80, or the terminal width)")
	fl.Uint32VarP(&f.keyid, "authentication", "a", 0, "keyid of authenticated requests (as the keyid command)")
	fl.StringVarP(&f.keyfile, "keyfile", "k", "", "key `file`: passwd and writevar take the secret of the keyid from it")
	fl.StringVar(&f.style, "style", "classic", "output layout: classic (ntpq 4.2.8) or ntpsec (NTPsec 1.2.2)")
	fl.BoolVar(&f.json, "json", false, "print JSON documents (one per command and host, see docs/json.md)")
	fl.BoolVar(&f.pretty, "pretty", false, "print the peers table as a coloured table (terminal view)")
	fl.StringVar(&f.color, "color", "auto", "colour for --pretty: auto, always or never (NO_COLOR honoured)")
	fl.IntVar(&f.timeoutMS, "timeout", 0, "primary receive timeout in ms (default 5000)")
	fl.DurationVar(&f.resolveLimit, "resolve-timeout", 2*time.Second, "time budget for all reverse DNS lookups of one command")
	fl.BoolVar(&f.noChrony, "no-chrony", false, "do not ask chronyd (cmdmon) for the peers when localhost has no mode 6 daemon")
	return cmd
}

func runQuery(ctx context.Context, env *Env, deps queryDeps, f *queryFlags, hosts []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	style, err := query.ParseStyle(f.style)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	switch f.color {
	case "auto", "always", "never":
	default:
		return &ExitError{Code: 1, Err: fmt.Errorf("--color: want auto, always or never, not %q", f.color)}
	}
	var keys ntp.KeyLookup
	if f.keyfile != "" {
		k, err := ntpconf.ReadKeys(f.keyfile)
		if k == nil {
			// NTPsec ntpq's message and status for a file it cannot read.
			fmt.Fprintf(env.Stderr, "%s: %s nonexistent or unreadable\n", env.Argv0(), f.keyfile)
			return &ExitError{Code: 1}
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", env.Argv0(), err)
		}
		keys = k
	}
	cfg := query.Config{
		Style:         style,
		JSON:          f.json,
		Numeric:       f.numeric,
		Wide:          f.wide,
		Units:         f.units,
		Width:         f.width,
		Resolver:      deps.Resolver,
		ResolveBudget: f.resolveLimit,
		Clock:         deps.Clock,
		Location:      deps.Location,
		Argv0:         env.Argv0(),
		Keys:          keys,
		KeyID:         f.keyid,
		Stdout:        env.Stdout,
		Stderr:        env.Stderr,
		Client: query.ClientOptions{
			Dialer:       deps.Dialer,
			FirstTimeout: deps.FirstTimeout,
			FragTimeout:  deps.FragTimeout,
		},
	}
	if f.debug > 0 {
		cfg.Client.Debug = env.Stderr
	}
	if !f.noChrony {
		cfg.PeersFallback = deps.ChronyPeers
	}
	if f.timeoutMS > 0 {
		cfg.Client.FirstTimeout = time.Duration(f.timeoutMS) * time.Millisecond
	}
	switch {
	case f.ipv4 && !f.ipv6:
		cfg.Network = "udp4"
	case f.ipv6 && !f.ipv4:
		cfg.Network = "udp6"
	}
	stdoutTTY := deps.IsTerminal != nil && deps.IsTerminal(env.Stdout)
	if style == query.StyleNTPsec && cfg.Width == 0 && stdoutTTY {
		cfg.Width = terminalWidth(env)
	}
	if f.pretty && !f.json {
		cfg.PeersRenderer = prettyPeers(env, f.color, stdoutTTY)
	}
	in := query.New(cfg)
	if len(f.cmds) == 0 || f.interactive {
		host := query.DefaultHost
		if len(hosts) > 0 {
			host = hosts[0]
		}
		// The prompt appears only when stdin is a terminal, also with -i
		// (as ntpq 4.2.8 does); -i forces reading commands from stdin.
		prompt := deps.IsTerminal != nil && deps.IsTerminal(env.Stdin)
		if len(f.cmds) > 0 {
			in.Batch(ctx, []string{host}, f.cmds)
			if in.Quit() {
				return nil
			}
		}
		in.Interactive(ctx, host, env.Stdin, prompt)
		return nil
	}
	in.Batch(ctx, hosts, f.cmds)
	return nil
}

// terminalWidth is COLUMNS or the width of the terminal on stdout.
func terminalWidth(env *Env) int {
	if c := env.Getenv("COLUMNS"); c != "" {
		var n int
		if _, err := fmt.Sscanf(c, "%d", &n); err == nil && n > 0 {
			return n
		}
	}
	if file, ok := env.Stdout.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(file.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}
