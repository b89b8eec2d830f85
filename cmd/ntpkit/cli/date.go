package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
	ntpsync "github.com/ntpkit/ntpkit/sync"
	"github.com/ntpkit/ntpkit/sync/oneshot"
)

type dateSocket = ntpsync.Socket

// dateUsage is classic ntpdate 4.2.8's usage line after "usage: <argv0> ".
const dateUsage = "[-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] [-o version#] [-t timeo] server ..."

// dateDeps is what the date command takes from the world, injected so tests
// run it against fake servers with a fixed time, PID and a fake clock.
type dateDeps struct {
	Clock    clock.Clock                    // reads time (T1/T4, -d dates)
	Stamp    func() time.Time               // message stamps; nil: Clock.Now
	Adjuster func() (clock.Adjuster, error) // opened only when the clock must change
	PID      int                            // shown as ntpdate[PID]
	Location *time.Location                 // for message stamps and -d dates
	Resolver interface {                    // forward and reverse lookups
		oneshot.Resolver
		LookupAddr(ctx context.Context, addr string) ([]string, error)
	}
	ServerPort uint16                                        // port polled on every server (123)
	Reachable  func(netip.Addr) bool                         // route check per resolved address
	Listen     func(string, uint16) (dateSocket, error)      // nil: real sockets
	Syslog     func() (io.Writer, func(string) error, error) // -s: notice writer, err func
	Version    string
}

func defaultDateDeps() dateDeps {
	v, _, _ := Version()
	return dateDeps{
		Clock:      clock.System{},
		Adjuster:   func() (clock.Adjuster, error) { return clock.NewLinux(), nil },
		PID:        os.Getpid(),
		Location:   time.Local,
		Resolver:   net.DefaultResolver,
		ServerPort: oneshot.NTPPort,
		Reachable:  oneshot.Reachable,
		Syslog:     dateDialSyslog,
		Version:    v,
	}
}

// newDateCmd builds the ntpdate personality.
func newDateCmd(env *Env) *cobra.Command { return newDateCmdWith(env, defaultDateDeps()) }

// dateOpts holds the parsed command line.
type dateOpts struct {
	v4, v6, step, slew, debug, query, syslog, unpriv, verbose, json bool
	key, delay, keyfile, version, samples, timeout                  string
	help                                                            bool
	port                                                            uint16
}

func newDateCmdWith(env *Env, deps dateDeps) *cobra.Command {
	var o dateOpts
	cmd := &cobra.Command{
		Use:   "date [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] [-o version#] [-t timeo] server ...",
		Short: "set or query the date and time from NTP servers (ntpdate)",
		Long: `Poll one or more NTP servers and set the clock from the best of them, like
classic ntpdate 4.2.8: step when the offset is 0.5 s or more, else slew.
With -q only print what would be done; the clock is never touched.

Output lines, messages and exit status (0 set, 1 no server, 2 usage) match
classic ntpdate.`,
		SilenceUsage:          true,
		SilenceErrors:         true,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.help {
				return cmd.Help()
			}
			return runDate(cmd, env, deps, &o, args)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // like classic getopt: options stop at the first server
	f.BoolVarP(&o.v4, "ipv4", "4", false, "resolve names to IPv4 addresses only")
	f.BoolVarP(&o.v6, "ipv6", "6", false, "resolve names to IPv6 addresses only")
	f.StringVarP(&o.key, "keyid", "a", "", "authenticate requests with key `key#` of the key file; only signed replies are trusted")
	f.BoolVarP(&o.step, "step", "b", false, "always step the clock (settimeofday)")
	f.BoolVarP(&o.slew, "slew", "B", false, "always slew the clock (adjtime)")
	f.BoolVarP(&o.debug, "debug", "d", false, "debug: trace the exchange, never set the clock")
	f.StringVarP(&o.delay, "auth-delay", "e", "", "authentication `delay` in seconds (< 1)")
	f.StringVarP(&o.keyfile, "keyfile", "k", "", "key `file` for -a (default /etc/ntp.keys)")
	f.StringVarP(&o.version, "ntp-version", "o", "", "NTP `version#` of the requests (default 4)")
	f.StringVarP(&o.samples, "samples", "p", "", "`samples` per server, 1-8 (default 4, or 1 with -q)")
	f.BoolVarP(&o.query, "query", "q", false, "query only: print offsets, do not set the clock")
	f.BoolVarP(&o.syslog, "syslog", "s", false, "log to syslog instead of the terminal")
	f.StringVarP(&o.timeout, "timeout", "t", "", "seconds to wait for a reply (`timeo`, default 2, min 1)")
	f.BoolVarP(&o.unpriv, "unprivileged", "u", false, "use an unprivileged source port")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print the version first")
	f.BoolVar(&o.json, "json", false, "print the per-server results and the decision as JSON")
	f.Uint16Var(&o.port, "port", oneshot.NTPPort, "UDP port of the servers (ntpkit extension, for tests)")
	f.BoolVar(&o.help, "help", false, "show this help") // no -h: classic rejects it
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return dateUsageError(c, env, dateFlagError(err))
	})
	return cmd
}

// dateProg is the program name classic prints in usage and error lines.
func dateProg(cmd *cobra.Command, env *Env) string {
	if cmd.HasParent() {
		return env.Argv0() + " " + cmd.Name()
	}
	return env.Argv0()
}

// dateUsageError prints "<prog>: msg" (if any) and the usage line to
// stderr and returns exit status 2.
func dateUsageError(cmd *cobra.Command, env *Env, msg string) error {
	prog := dateProg(cmd, env)
	w := cmd.ErrOrStderr()
	if msg != "" {
		fmt.Fprintf(w, "%s: %s\n", prog, msg)
	}
	fmt.Fprintf(w, "usage: %s %s\n", prog, dateUsage)
	return exit(2)
}

// dateFlagError turns a pflag error into classic getopt wording.
func dateFlagError(err error) string {
	s := err.Error()
	switch {
	case s == "pflag: help requested": // -h: classic has no such option
		return "unknown option -h"
	case strings.HasPrefix(s, "unknown shorthand flag: "):
		// unknown shorthand flag: 'X' in -X
		if i := strings.Index(s, "'"); i >= 0 && len(s) > i+1 {
			return "unknown option -" + string(s[i+1])
		}
	case strings.HasPrefix(s, "unknown flag: "):
		return "unknown option " + strings.TrimPrefix(s, "unknown flag: ")
	case strings.HasPrefix(s, "flag needs an argument: "):
		// flag needs an argument: 'p' in -p   |   flag needs an argument: --samples
		if i := strings.Index(s, "'"); i >= 0 && len(s) > i+1 {
			return "option requires argument -" + string(s[i+1])
		}
		return "option requires argument " + strings.TrimPrefix(s, "flag needs an argument: ")
	}
	return s
}

// dateAtoi is C's dateAtoi: optional dateSign and leading digits, 0 if none.
func dateAtoi(s string) int {
	s = strings.TrimLeft(s, " \t\n")
	var n int64
	i, neg := 0, false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	// Saturate like a C int (also where Go's int is 32 bits).
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
		if n > math.MaxInt32 {
			n = math.MaxInt32
		}
	}
	if neg {
		n = -n
	}
	return int(n)
}

// dateParseSeconds parses a decimal number of seconds like classic atolfp
// (optional dateSign, digits, optional fraction); ok false if undecodeable.
func dateParseSeconds(s string) (float64, bool) {
	t := strings.TrimSpace(s)
	if t == "" || strings.ContainsAny(t, "eEinxXpP_") {
		return 0, false
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v >= 1<<31 || v <= -(1<<31) {
		return 0, false
	}
	return v, true
}

// dateConfig is the validated command line.
type dateConfig struct {
	family  int
	samples int
	timeout time.Duration
	version uint8
	servers []string
}

func validateDate(cmd *cobra.Command, env *Env, o *dateOpts, args []string) (dateConfig, error) {
	c := dateConfig{version: oneshot.DefaultVersion, timeout: oneshot.DefaultTimeout}
	var errs []string
	f := cmd.Flags()
	if o.v6 && (!o.v4 || dateLastOf(env.Args, "-4", "-6") == "-6") {
		c.family = 6
	} else if o.v4 {
		c.family = 4
	}
	if f.Changed("auth-delay") {
		if v, ok := dateParseSeconds(o.delay); !ok || v >= 1 || v < 0 {
			errs = append(errs, fmt.Sprintf("encryption delay %s is unlikely", o.delay))
		}
	}
	if f.Changed("ntp-version") {
		c.version = uint8(dateAtoi(o.version))
	}
	if f.Changed("samples") {
		n := dateAtoi(o.samples)
		if n <= 0 || n > oneshot.FilterSize {
			errs = append(errs, fmt.Sprintf("number of samples (%d) is invalid", n))
		} else {
			c.samples = n
		}
	}
	if f.Changed("timeout") {
		v, ok := dateParseSeconds(o.timeout)
		if !ok {
			errs = append(errs, fmt.Sprintf("timeout %s is undecodeable", o.timeout))
		} else {
			// Classic counts in ticks of 0.2 s, rounded, at least 1 s.
			ticks := int64(v*5 + 0.5)
			c.timeout = max(time.Duration(ticks)*oneshot.TimeoutGranularity, oneshot.MinTimeout)
		}
	}
	if c.samples == 0 {
		c.samples = oneshot.DefaultSamples
		if o.query {
			c.samples = 1
		}
	}
	c.servers = args
	prog := dateProg(cmd, env)
	if len(errs) > 0 || len(args) == 0 {
		w := cmd.ErrOrStderr()
		for _, e := range errs {
			fmt.Fprintf(w, "%s: %s\n", prog, e)
		}
		return c, dateUsageError(cmd, env, "")
	}
	return c, nil
}

// dateLastOf returns whichever of a and b occurs last in args as a separate
// word or inside a cluster of short options (best effort).
func dateLastOf(args []string, a, b string) string {
	last := ""
	for _, arg := range args {
		if !strings.HasPrefix(arg, "-") || strings.HasPrefix(arg, "--") {
			continue
		}
		for _, ch := range arg[1:] {
			switch string(ch) {
			case a[1:]:
				last = a
			case b[1:]:
				last = b
			}
		}
	}
	return last
}

// dateLogger writes classic msyslog lines: "DD Mon HH:MM:SS ntpdate[PID]: msg",
// errors to stderr, notices to stdout; with -s to syslog instead.
type dateLogger struct {
	stdout, stderr io.Writer
	now            func() time.Time
	loc            *time.Location
	pid            int
	sysNotice      io.Writer
	sysErr         func(string) error
}

func (l *dateLogger) stamp() string {
	t := l.now().In(l.loc)
	return fmt.Sprintf("%2d %s %02d:%02d:%02d ntpdate[%d]: ", t.Day(), t.Format("Jan"), t.Hour(), t.Minute(), t.Second(), l.pid)
}

func (l *dateLogger) notice(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.sysNotice != nil {
		fmt.Fprint(l.sysNotice, msg)
		return
	}
	fmt.Fprint(l.stdout, l.stamp()+msg+"\n")
}

func (l *dateLogger) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.sysErr != nil {
		_ = l.sysErr(msg)
		return
	}
	fmt.Fprint(l.stderr, l.stamp()+msg+"\n")
}

// dateDialSyslog connects to the local syslog socket as "ntpdate" (daemon
// facility, with the PID).
func dateDialSyslog() (io.Writer, func(string) error, error) {
	w, err := syslog.New(syslog.LOG_NOTICE|syslog.LOG_DAEMON, "ntpdate")
	if err != nil {
		return nil, nil, err
	}
	return w, w.Err, nil
}

func runDate(cmd *cobra.Command, env *Env, deps dateDeps, o *dateOpts, args []string) error {
	cfg, err := validateDate(cmd, env, o, args)
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if cmd.Flags().Changed("port") {
		deps.ServerPort = o.port
	}
	stamp := deps.Stamp
	if stamp == nil {
		stamp = deps.Clock.Now
	}
	log := &dateLogger{stdout: stdout, stderr: stderr, now: stamp, loc: deps.Location, pid: deps.PID}
	if o.syslog {
		// Without a syslog socket the messages stay on the terminal.
		if w, errf, err := deps.Syslog(); err == nil {
			log.sysNotice, log.sysErr = w, errf
		}
	}
	var debug io.Writer
	if o.debug {
		debug = stdout
	}
	if o.debug || o.verbose {
		log.notice("ntpdate ntpkit %s", deps.Version)
	}
	var key *ntp.Key
	if cmd.Flags().Changed("keyid") {
		k, ok := dateKey(o, log)
		if !ok {
			return exit(1)
		}
		key = k
	}

	// One deadline covers name resolution and every exchange: all samples
	// of a server at one timeout each, plus slack for resolution.
	budget := time.Duration(cfg.samples)*(cfg.timeout+time.Second) + 5*time.Second
	ctx, cancel := context.WithTimeout(cmd.Context(), budget)
	defer cancel()

	var servers []*oneshot.Server
	for _, host := range cfg.servers {
		if debug != nil {
			fmt.Fprintf(debug, "Looking for host %s and service ntp\n", host)
		}
		addrs, err := oneshot.Resolve(ctx, deps.Resolver, host, cfg.family)
		if err != nil {
			var re *oneshot.ResolveError
			if !errors.As(err, &re) {
				re = &oneshot.ResolveError{Host: host, Code: oneshot.EAIAgain}
			}
			if re.Fatal() {
				fmt.Fprintf(stderr, "Exiting, name server cannot be used: %s (%d)", re.Text(), re.Code)
				log.errorf("name server cannot be used: %s (%d)", re.Text(), re.Code)
				return exit(1)
			}
			fmt.Fprintf(stderr, "Error resolving %s: %s (%d)\n", host, re.Text(), re.Code)
			log.errorf("Can't find host %s: %s (%d)", host, re.Text(), re.Code)
			continue
		}
		if debug != nil {
			name := addrs[0].String()
			if names, err := deps.Resolver.LookupAddr(ctx, name); err == nil && len(names) > 0 {
				name = strings.TrimSuffix(names[0], ".")
				fmt.Fprintf(debug, "%s reversed to %s\n", addrs[0], name)
			}
			fmt.Fprintf(stderr, "host found : %s\n", name)
		}
		for _, a := range addrs {
			if deps.Reachable(a) {
				servers = append(servers, oneshot.NewServer(host, netip.AddrPortFrom(a, deps.ServerPort)))
			}
		}
	}
	if len(servers) == 0 {
		log.errorf("no servers can be used, exiting")
		return exit(1)
	}

	var localPort uint16
	if !o.debug && !o.query && !o.unpriv {
		localPort = oneshot.NTPPort
	}
	popts := oneshot.Options{
		Samples:   cfg.samples,
		Timeout:   cfg.timeout,
		Version:   cfg.version,
		LocalPort: localPort,
		Clock:     deps.Clock,
		Debug:     debug,
		Key:       key,
		OnRateKiss: func(s *oneshot.Server) {
			log.errorf("%s rate limit response from server.", s.Addr.Addr())
		},
	}
	if deps.Listen != nil {
		popts.Listen = deps.Listen
	}
	if err := oneshot.Poll(ctx, servers, popts); err != nil {
		var be *oneshot.BindError
		if errors.As(err, &be) && be.InUse {
			log.errorf("the NTP socket is in use, exiting")
		} else {
			log.errorf("%v", err)
		}
		return exit(1)
	}
	chosen := oneshot.Select(servers, cfg.samples, debug)

	res := dateResult{Servers: servers, Chosen: chosen}
	if !o.json && (o.debug || o.query) {
		if o.debug {
			fmt.Fprintln(stdout)
		}
		pivot := deps.Clock.Now()
		for _, s := range servers {
			if o.debug {
				dateWriteServerDebug(stdout, s, cfg.samples, pivot, deps.Location)
			} else {
				dateWriteServerLine(stdout, s)
			}
		}
	}
	if chosen == nil {
		if o.json {
			writeDateJSON(stdout, res)
		}
		log.errorf("no server suitable for synchronization found")
		return exit(1)
	}

	step := chosen.NeedsStep()
	switch {
	case o.step:
		step = true
	case o.slew:
		step = false
	}
	res.Action = "adjust"
	if step {
		res.Action = "step"
	}
	if !o.query && !o.debug {
		adj, err := deps.Adjuster()
		if err == nil {
			if step {
				err = adj.Step(chosen.Offset.Duration())
				if err != nil {
					log.errorf("Can't set time of day: %v", err)
				}
			} else {
				err = adj.Slew(dateSlewAmount(chosen.Offset))
				if err != nil {
					log.errorf("Can't adjust the time of day: %v", err)
				}
			}
		} else {
			log.errorf("Can't open the clock: %v", err)
		}
		if err != nil {
			if o.json {
				writeDateJSON(stdout, res)
			}
			return exit(1)
		}
		res.Adjusted = true
	}
	if o.json {
		writeDateJSON(stdout, res)
		if log.sysNotice == nil {
			return nil
		}
	}
	log.notice("%s time server %s offset %s sec", res.Action, chosen.Addr.Addr(), chosen.Offset.Format(6))
	return nil
}

// dateSlewAmount is what classic ntpdate hands to adjtime: the offset plus an
// overshoot of half of it, at most 1/16 s, so the clock settles faster.
func dateSlewAmount(off oneshot.LFP) time.Duration {
	d := off.Duration()
	over := d / 2
	if over < 0 {
		over = -over
	}
	over = min(over, time.Second/16)
	if d < 0 {
		return d - over
	}
	return d + over
}

// dateWriteServerLine prints classic's -q line for a server that answered.
func dateWriteServerLine(w io.Writer, s *oneshot.Server) {
	if !s.Answered() {
		return
	}
	fmt.Fprintf(w, "server %s, stratum %d, offset %s, delay %s\n",
		s.Addr.Addr(), s.Stratum, s.Offset.Format(6), s.Delay.Format(5))
}

// dateWriteServerDebug prints classic's -d block for a server that answered.
func dateWriteServerDebug(w io.Writer, s *oneshot.Server, samples int, pivot time.Time, loc *time.Location) {
	if !s.Answered() {
		return
	}
	b := func(bit ntp.Leap) byte {
		if s.Leap&bit != 0 {
			return '1'
		}
		return '0'
	}
	fmt.Fprintf(w, "server %s, port %d\n", s.Addr.Addr(), s.Addr.Port())
	fmt.Fprintf(w, "stratum %d, precision %d, leap %c%c, trust %03o\n", s.Stratum, s.Precision, b(2), b(1), s.Trust)
	refid := s.RefID.Dotted()
	if s.Stratum <= 1 || s.Stratum >= 16 {
		r := []byte{}
		for _, c := range s.RefID {
			if c == 0 {
				break
			}
			if c < ' ' || c > '~' {
				c = '.'
			}
			r = append(r, c)
		}
		refid = string(r)
	}
	fmt.Fprintf(w, "refid [%s], root delay %s, root dispersion %s\n", refid,
		oneshot.SFP(int32(s.RootDelay)).Format(6), oneshot.UFP(s.RootDisp).Format(6))
	if s.Xmits != s.NextPt {
		fmt.Fprintf(w, "transmitted %d, in filter %d\n", s.Xmits, s.NextPt)
	}
	fmt.Fprintf(w, "reference time:      %s\n", oneshot.PrettyDate(s.RefTime, pivot, loc))
	fmt.Fprintf(w, "originate timestamp: %s\n", oneshot.PrettyDate(s.Org, pivot, loc))
	fmt.Fprintf(w, "transmit timestamp:  %s\n", oneshot.PrettyDate(s.Xmt, pivot, loc))
	if samples > 1 {
		row := func(label string, cell func(i int) string) {
			fmt.Fprint(w, label)
			for i := range oneshot.FilterSize {
				if i == oneshot.FilterSize/2 {
					fmt.Fprint(w, "\n              ")
				}
				v := "----"
				if i < samples {
					v = cell(i)
				}
				fmt.Fprintf(w, " %-10.10s", v)
			}
			fmt.Fprintln(w)
		}
		row("filter delay: ", func(i int) string { return s.FilterDelay[i].Format(5) })
		row("filter offset:", func(i int) string { return s.FilterOffset[i].Format(6) })
	}
	fmt.Fprintf(w, "delay %s, dispersion %s, offset %s\n\n", s.Delay.Format(5), s.Dispersion.Format(5), s.Offset.Format(6))
}

// dateResult is the --json document.
type dateResult struct {
	Servers  []*oneshot.Server
	Chosen   *oneshot.Server
	Action   string // "step", "adjust", or "" when no server was chosen
	Adjusted bool   // the clock was changed (never with -q or -d)
}

type dateJSONServer struct {
	Host       string   `json:"host"`
	Address    string   `json:"address"`
	Port       uint16   `json:"port"`
	Answered   bool     `json:"answered"`
	Stratum    uint8    `json:"stratum"`
	Leap       string   `json:"leap,omitempty"`
	RefID      string   `json:"refid,omitempty"`
	Precision  int8     `json:"precision,omitempty"`
	Offset     *float64 `json:"offset"`
	Delay      *float64 `json:"delay"`
	Dispersion *float64 `json:"dispersion"`
	Sent       int      `json:"sent"`
	Kiss       string   `json:"kiss,omitempty"`
	Chosen     bool     `json:"chosen"`
	Rejected   string   `json:"rejected,omitempty"`
}

func writeDateJSON(w io.Writer, r dateResult) {
	out := struct {
		Servers  []dateJSONServer `json:"servers"`
		Chosen   *string          `json:"chosen"`
		Action   string           `json:"action,omitempty"`
		Offset   *float64         `json:"offset"`
		Adjusted bool             `json:"adjusted"`
	}{Servers: []dateJSONServer{}, Action: r.Action, Adjusted: r.Adjusted}
	round := func(v float64, n int) *float64 {
		f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', n, 64), 64)
		return &f
	}
	for _, s := range r.Servers {
		js := dateJSONServer{
			Host: s.Name, Address: s.Addr.Addr().String(), Port: s.Addr.Port(),
			Answered: s.Answered(), Stratum: s.Stratum, Sent: s.Xmits,
			Chosen: s.Chosen, Rejected: s.Reject,
		}
		if s.Answered() {
			js.Leap = s.Leap.String()
			js.RefID = s.RefID.Render(s.Stratum)
			js.Precision = s.Precision
			js.Offset = round(s.Offset.Seconds(), 6)
			js.Delay = round(s.Delay.Seconds(), 5)
			js.Dispersion = round(s.Dispersion.Seconds(), 5)
		}
		if !s.Kiss.IsZero() {
			js.Kiss = s.Kiss.Text()
		}
		out.Servers = append(out.Servers, js)
	}
	if r.Chosen != nil {
		a := r.Chosen.Addr.Addr().String()
		out.Chosen = &a
		out.Offset = round(r.Chosen.Offset.Seconds(), 6)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
