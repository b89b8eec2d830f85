package query

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ntpkit/ntpkit/mode6"
	"github.com/ntpkit/ntpkit/pkg/clock"
	"github.com/ntpkit/ntpkit/pkg/ntp"
)

// Style selects the output layout.
type Style int

const (
	StyleClassic Style = iota // ntpq-classic 4.2.8 (default)
	StyleNTPsec               // ntpq-sec 1.2.2
)

// ParseStyle parses "classic" or "ntpsec".
func ParseStyle(s string) (Style, error) {
	switch strings.ToLower(s) {
	case "", "classic":
		return StyleClassic, nil
	case "ntpsec", "sec":
		return StyleNTPsec, nil
	}
	return 0, fmt.Errorf("unknown style %q (want classic or ntpsec)", s)
}

// ClassicVersion and SecVersion are the texts of the version command in
// the two layouts (the programs ntpkit stands in for).
const (
	ClassicVersion = "ntpq 4.2.8p15@1.3728-o Wed Sep 23 11:46:38 UTC 2020 (1)"
	SecVersion     = "ntpsec-1.2.2"
)

// Config configures an Interp.
type Config struct {
	Style   Style
	JSON    bool
	Numeric bool   // -n
	Wide    bool   // -w
	Width   int    // -W or terminal width (0: 80-column layout)
	Units   bool   // -u: ntpq-sec peers numbers with units
	Network string // "udp" (default), "udp4" (-4), "udp6" (-6)
	Client  ClientOptions
	// Resolver does reverse DNS (nil: none, numeric output);
	// ResolveBudget bounds all lookups of one command (0: 2 s).
	Resolver      Resolver
	ResolveBudget time.Duration
	Clock         clock.Clock    // current time for `when` (nil: system clock)
	Location      *time.Location // time zone of classic dates (nil: local)
	Argv0         string         // program name as invoked, for classic errors
	Stdout        io.Writer
	Stderr        io.Writer
	// PeersRenderer, when set, replaces the text peers tables (the CLI's
	// --pretty view). hostw and label describe multi-host output.
	PeersRenderer func(w io.Writer, m *PeersModel, kind PeersKind, o RenderOptions)
	// PeersFallback, when set, is asked for the peers model when the local
	// host does not answer mode 6 at all (refused or silent): the CLI
	// reads chronyd's sources there.
	PeersFallback func(ctx context.Context) (*PeersModel, error)
	// Keys is the key file of -k (nil: none): passwd without an argument
	// and authenticated requests take the secret of the current keyid
	// from it. KeyID is the initial keyid (-a; 0: none).
	Keys  ntp.KeyLookup
	KeyID uint32
}

// Interp runs ntpq commands against one current host at a time.
type Interp struct {
	cfg    Config
	hosts  []string // hosts of the batch run (multi-host columns)
	host   string
	sess   *Session
	raw    bool
	assocs []mode6.AssocStatus // association cache for &N and passociations
	sys    uint16
	quit   bool
	json   *json.Encoder
	auth   authState // keyid, keytype, password (auth.go)
}

// New returns an interpreter.
func New(cfg Config) *Interp {
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.Network == "" {
		cfg.Network = "udp"
	}
	if cfg.Argv0 == "" {
		cfg.Argv0 = "ntpq"
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.Style == StyleNTPsec {
		cfg.Client.LeapBits = 3
	}
	in := &Interp{cfg: cfg}
	in.auth = authState{keyID: cfg.KeyID, keyType: ntp.MACMD5}
	in.json = json.NewEncoder(cfg.Stdout)
	in.json.SetEscapeHTML(false)
	return in
}

// Close releases the current session.
func (in *Interp) Close() {
	if in.sess != nil {
		in.sess.Close()
		in.sess = nil
	}
}

// DefaultHost is the host ntpq talks to without arguments.
const DefaultHost = "localhost"

func (in *Interp) dialAddr(host string) string {
	if host == DefaultHost {
		if in.cfg.Network == "udp6" {
			return "::1"
		}
		return "127.0.0.1"
	}
	return host
}

// Open makes host the current host.
func (in *Interp) Open(ctx context.Context, host string) error {
	in.Close()
	in.assocs = nil
	s, err := Dial(ctx, in.cfg.Network, in.dialAddr(host), in.cfg.Client)
	if err != nil {
		fmt.Fprintf(in.cfg.Stderr, "***Can't find host %s\n", host)
		return err
	}
	s.Host = host
	in.sess, in.host = s, host
	return nil
}

// Batch runs the commands against every host in turn, as `ntpq -c ... h1 h2`.
func (in *Interp) Batch(ctx context.Context, hosts, cmds []string) {
	if len(hosts) == 0 {
		hosts = []string{DefaultHost}
	}
	in.hosts = hosts
	classicText := in.cfg.Style == StyleClassic && !in.cfg.JSON
	for ih, h := range hosts {
		if in.Open(ctx, h) != nil {
			continue
		}
		if ih > 0 && classicText {
			io.WriteString(in.cfg.Stdout, "\n")
		}
		for ic, c := range cmds {
			if ic > 0 && classicText {
				io.WriteString(in.cfg.Stdout, "\n")
			}
			in.Exec(ctx, c)
			if in.quit {
				return
			}
		}
	}
	in.Close()
}

// Interactive reads commands line by line from r against host, printing
// the "ntpq> " prompt when prompt is set, until EOF or quit.
func (in *Interp) Interactive(ctx context.Context, host string, r io.Reader, prompt bool) {
	if host == "" {
		host = DefaultHost
	}
	in.hosts = []string{host}
	_ = in.Open(ctx, host) // on failure keep going: "host" may open another one
	sc := bufio.NewScanner(r)
	for {
		if prompt {
			io.WriteString(in.cfg.Stdout, "ntpq> ")
		}
		if !sc.Scan() {
			break
		}
		in.Exec(ctx, sc.Text())
		if in.quit {
			break
		}
	}
	in.Close()
}

type command struct {
	name string
	run  func(in *Interp, ctx context.Context, name string, args []string)
	help string
}

var commands []command

func init() {
	commands = []command{
		{"?", (*Interp).cmdHelp, "tell the use and syntax of commands"},
		{"apeers", (*Interp).cmdPeers, "print peer summary with association ids"},
		{"associations", (*Interp).cmdAssociations, "print list of association ids and statuses for connected peers"},
		{"clockvar", (*Interp).cmdReadvar, "print variables associated with a clock"},
		{"cooked", (*Interp).cmdCooked, "print values cooked"},
		{"cv", (*Interp).cmdReadvar, "print variables associated with a clock"},
		{"exit", (*Interp).cmdQuit, "exit ntpq"},
		{"help", (*Interp).cmdHelp, "tell the use and syntax of commands"},
		{"host", (*Interp).cmdHost, "specify the host whose NTP server we talk to"},
		{"hostnames", (*Interp).cmdHostnames, "specify whether hostnames or net numbers are printed"},
		{"keyid", (*Interp).cmdKeyid, "set keyid to use for authenticated requests"},
		{"keytype", (*Interp).cmdKeytype, "set key type to use for authenticated requests"},
		{"lassociations", (*Interp).cmdAssociations, "print list of association ids and statuses for all peers"},
		{"lopeers", (*Interp).cmdPeers, "print peer summary with local addresses, including all associations"},
		{"lpassociations", (*Interp).cmdAssociations, "print last obtained list of all associations"},
		{"lpeers", (*Interp).cmdPeers, "print peer summary, including all associations"},
		{"mrulist", (*Interp).cmdMRUList, "display the list of most recently seen source addresses, tags mincount=... resall=0x... resany=0x..."},
		{"opeers", (*Interp).cmdPeers, "print peer summary with local addresses"},
		{"passociations", (*Interp).cmdAssociations, "print last obtained list of associations"},
		{"passwd", (*Interp).cmdPasswd, "set password for authenticated requests"},
		{"peers", (*Interp).cmdPeers, "obtain and print a list of the server's peers [IP version]"},
		{"quit", (*Interp).cmdQuit, "exit ntpq"},
		{"raw", (*Interp).cmdRaw, "do raw mode variable output"},
		{"readvar", (*Interp).cmdReadvar, "read system or peer variables"},
		{"rv", (*Interp).cmdReadvar, "read system or peer variables"},
		{"sysinfo", (*Interp).cmdSysinfo, "display system summary"},
		{"timeout", (*Interp).cmdTimeout, "set the primary receive time out"},
		{"version", (*Interp).cmdVersion, "print version number"},
		{"writevar", (*Interp).cmdWritevar, "write system or peer variables"},
	}
	// The table is built here, in one place, rather than by several init
	// functions whose order would depend on file names. It is sorted, as
	// help lists it and prefix matching reports ambiguities in this order.
	commands = append(commands, statsCommands()...)
	slices.SortStableFunc(commands, func(a, b command) int { return strings.Compare(a.name, b.name) })
}

func findCommand(name string) (*command, []string) {
	var matches []*command
	for i := range commands {
		c := &commands[i]
		if c.name == name {
			return c, nil
		}
		if strings.HasPrefix(c.name, name) {
			matches = append(matches, c)
		}
	}
	if len(matches) == 1 {
		return matches[0], nil
	}
	var names []string
	for _, m := range matches {
		names = append(names, m.name)
	}
	return nil, names
}

// Exec runs one command line.
func (in *Interp) Exec(ctx context.Context, line string) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return
	}
	c, amb := findCommand(f[0])
	if c == nil {
		if len(amb) > 1 {
			fmt.Fprintf(in.cfg.Stderr, "***Command `%s' ambiguous\n", f[0])
		} else {
			fmt.Fprintf(in.cfg.Stderr, "***Command `%s' unknown\n", f[0])
		}
		return
	}
	c.run(in, ctx, c.name, f[1:])
}

// Quit reports whether a quit command ended the session.
func (in *Interp) Quit() bool { return in.quit }

func (in *Interp) renderOpts() RenderOptions {
	return RenderOptions{Numeric: in.cfg.Numeric, Wide: in.cfg.Wide, Width: in.cfg.Width, Units: in.cfg.Units,
		Now: in.cfg.Clock.Now(), Location: in.cfg.Location}
}

func (in *Interp) resolve(ctx context.Context, addrs []string) Names {
	if in.cfg.Numeric || in.cfg.Resolver == nil || len(addrs) == 0 {
		return Names{}
	}
	return ResolveAll(ctx, in.cfg.Resolver, addrs, in.cfg.ResolveBudget)
}

// report prints the error of a request the way the selected ntpq does.
func (in *Interp) report(view string, err error, assoc uint16) {
	var msg string
	var te *TimeoutError
	var se *mode6.ServerError
	sec := in.cfg.Style == StyleNTPsec
	switch {
	case errors.Is(err, ErrRefused):
		if sec {
			msg = "***Socket error; probably ntpd is not running\n\n"
		} else {
			msg = in.cfg.Argv0 + ": read: Connection refused\n"
		}
	case errors.As(err, &te):
		switch {
		case sec:
			msg = "***Request timed out\n\n"
		case te.Nothing:
			msg = in.host + ": timed out, nothing received\n***Request timed out\n"
		default:
			msg = in.host + ": timed out with incomplete data\n***Request timed out\n"
		}
	case errors.As(err, &se):
		if sec {
			msg = se.Code.SecMessage() + "\n"
		} else {
			msg = se.Code.ClassicMessage(assoc) + "\n"
		}
	default:
		msg = "***" + err.Error() + "\n"
	}
	if in.cfg.JSON {
		_ = in.json.Encode(JSONError{View: view, Host: in.host, Error: err.Error(), Message: strings.TrimSpace(msg)})
		return
	}
	io.WriteString(in.cfg.Stderr, msg)
}

func (in *Interp) needSession() bool {
	if in.sess == nil {
		fmt.Fprintln(in.cfg.Stderr, "***No host open, use `host' command")
		return false
	}
	return true
}

func (in *Interp) cmdPeers(ctx context.Context, name string, args []string) {
	if !in.needSession() {
		return
	}
	kind := KindPeers
	switch strings.TrimPrefix(name, "l") {
	case "opeers":
		kind = KindOpeers
	case "apeers":
		kind = KindApeers
	}
	all := strings.HasPrefix(name, "l")
	m, err := FetchPeers(ctx, in.sess, all)
	if m == nil && in.cfg.PeersFallback != nil && isLocalHost(in.host) && noAnswer(err) {
		if fm, ferr := in.cfg.PeersFallback(ctx); ferr == nil && fm != nil {
			fm.Host = in.host
			m, err = fm, nil
		}
	}
	if m != nil {
		in.assocs, in.sys = m.Assocs, m.SysStatus
	}
	if m == nil {
		in.report(name, err, 0)
		return
	}
	if len(m.Assocs) == 0 && !in.cfg.JSON {
		in.noAssociations()
		return
	}
	o := in.renderOpts()
	multi := len(in.hosts) > 1
	var hostAddrs []string
	if multi && in.cfg.Style == StyleClassic {
		for _, h := range in.hosts {
			if a, e := netip.ParseAddr(trimBrackets(h)); e == nil {
				hostAddrs = append(hostAddrs, a.String())
			}
		}
	}
	o.Names = in.resolve(ctx, append(m.peerAddrs(multi), hostAddrs...))
	w := in.cfg.Stdout
	switch {
	case in.cfg.JSON:
		_ = in.json.Encode(PeersJSON(name, m, o))
	case in.cfg.PeersRenderer != nil:
		in.cfg.PeersRenderer(w, m, kind, o)
	case in.cfg.Style == StyleNTPsec:
		hostw := 0
		if multi {
			for _, h := range in.hosts {
				hostw = max(hostw, len(h))
			}
		}
		SecPeers(w, m, kind, o, hostw, in.host)
	default:
		hostw := 0
		if multi {
			for _, h := range in.hosts {
				n := h
				if a, e := netip.ParseAddr(trimBrackets(h)); e == nil {
					n = o.addrName(a.String())
				}
				hostw = max(hostw, len(n))
			}
		}
		ClassicPeers(w, m, kind, o, hostw)
	}
	if err != nil {
		in.report(name, err, 0)
	}
}

func (in *Interp) cmdAssociations(ctx context.Context, name string, args []string) {
	all := strings.HasPrefix(name, "l")
	if !strings.Contains(name, "passoc") {
		if !in.needSession() {
			return
		}
		sys, list, err := in.sess.ReadStat(ctx)
		if err != nil {
			in.report(name, err, 0)
			return
		}
		in.assocs, in.sys = list, sys
		if len(list) == 0 && !in.cfg.JSON {
			in.noAssociations()
			return
		}
	}
	rows := AssocRows(in.assocs, all)
	switch {
	case in.cfg.JSON:
		_ = in.json.Encode(AssociationsJSON(name, in.host, in.sys, rows))
	case in.cfg.Style == StyleNTPsec:
		SecAssociations(in.cfg.Stdout, rows)
	default:
		ClassicAssociations(in.cfg.Stdout, rows)
	}
}

// noAssociations reports an empty association list (on stderr, as both
// ntpq front ends do).
func (in *Interp) noAssociations() {
	if in.cfg.Style == StyleNTPsec {
		io.WriteString(in.cfg.Stderr, "No association IDs returned\n")
		return
	}
	if len(in.hosts) > 1 {
		fmt.Fprintf(in.cfg.Stderr, "server=%s ", in.host)
	}
	io.WriteString(in.cfg.Stderr, "No association ID's returned\n")
}

// assocArg parses an association argument: a number or &N (index into
// the last association list).
func (in *Interp) assocArg(ctx context.Context, s string) (uint16, bool) {
	if strings.HasPrefix(s, "&") {
		n, err := strconv.Atoi(s[1:])
		if err != nil {
			fmt.Fprintf(in.cfg.Stderr, "***Illegal index `%s'\n", s)
			return 0, false
		}
		if len(in.assocs) == 0 && in.sess != nil {
			if sys, list, err := in.sess.ReadStat(ctx); err == nil {
				in.assocs, in.sys = list, sys
			}
		}
		if n < 1 || n > len(in.assocs) {
			if len(in.assocs) == 0 {
				fmt.Fprintln(in.cfg.Stderr, "***No associations found, `associations' command required")
			} else {
				fmt.Fprintf(in.cfg.Stderr, "***Association index %d not found\n", n)
			}
			return 0, false
		}
		return in.assocs[n-1].AssocID, true
	}
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		fmt.Fprintf(in.cfg.Stderr, "***Illegal unsigned value %s\n", s)
		return 0, false
	}
	return uint16(v), true
}

func (in *Interp) cmdReadvar(ctx context.Context, name string, args []string) {
	if !in.needSession() {
		return
	}
	var assoc uint16
	if len(args) > 0 {
		a, ok := in.assocArg(ctx, args[0])
		if !ok {
			return
		}
		assoc = a
	}
	if (name == "clockvar" || name == "cv") && in.cfg.Style == StyleNTPsec && assoc == 0 {
		fmt.Fprintln(in.cfg.Stderr, "This command requires the association ID of a clock.")
		return
	}
	var list []string
	if len(args) > 1 {
		for _, p := range strings.Split(strings.Join(args[1:], " "), ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
	}
	varlist := strings.Join(list, ",")
	kind := VarsSystem
	if assoc != 0 {
		kind = VarsPeer
	}
	clockOp := name == "clockvar" || name == "cv"
	if clockOp {
		kind = VarsClock
	}
	if in.cfg.Style == StyleNTPsec && len(args) > 0 {
		// ntpq-sec validates an explicit association id with READSTAT first.
		sys, l, err := in.sess.ReadStat(ctx)
		if err != nil {
			in.report(name, err, assoc)
			return
		}
		in.assocs, in.sys = l, sys
		found := assoc == 0
		for _, a := range l {
			found = found || a.AssocID == assoc
		}
		if !found {
			io.WriteString(in.cfg.Stderr, "Unknown associd.\n")
			return
		}
	}
	var r Response
	var err error
	if clockOp {
		r, err = in.sess.ReadClock(ctx, assoc, varlist)
	} else {
		r, err = in.sess.ReadVar(ctx, assoc, varlist)
	}
	if err != nil {
		in.report(name, err, assoc)
		return
	}
	o := in.renderOpts()
	if !in.raw && kind == VarsPeer && !in.cfg.Numeric && in.cfg.Style == StyleClassic {
		vars := classicVars(r.Data)
		var addrs []string
		for _, v := range vars {
			if v.Name == "srcadr" || v.Name == "peeradr" {
				addrs = append(addrs, v.Value)
			}
		}
		o.Names = in.resolve(ctx, addrs)
	}
	switch {
	case in.cfg.JSON:
		view := map[string]string{"rv": "readvar", "cv": "clockvar"}[name]
		if view == "" {
			view = name
		}
		_ = in.json.Encode(ReadvarJSON(view, in.host, kind, assoc, r.Status, r.Data, o))
	case in.cfg.Style == StyleNTPsec:
		SecReadvar(in.cfg.Stdout, kind, assoc, r.Status, r.Data, varlist != "", in.raw, o)
	default:
		ClassicReadvar(in.cfg.Stdout, kind, assoc, r.Status, r.Data, varlist != "", in.raw, o)
	}
}

func (in *Interp) cmdRaw(ctx context.Context, name string, args []string) {
	in.raw = true
	if !in.cfg.JSON {
		io.WriteString(in.cfg.Stdout, "Output set to raw\n")
	}
}

func (in *Interp) cmdCooked(ctx context.Context, name string, args []string) {
	in.raw = false
	if !in.cfg.JSON {
		io.WriteString(in.cfg.Stdout, "Output set to cooked\n")
	}
}

func (in *Interp) cmdQuit(ctx context.Context, name string, args []string) { in.quit = true }

func (in *Interp) cmdVersion(ctx context.Context, name string, args []string) {
	switch {
	case in.cfg.JSON:
		_ = in.json.Encode(map[string]string{"view": "version", "version": ClassicVersion, "ntpsec_version": SecVersion})
	case in.cfg.Style == StyleNTPsec:
		fmt.Fprintln(in.cfg.Stdout, SecVersion)
	default:
		fmt.Fprintln(in.cfg.Stdout, ClassicVersion)
	}
}

func (in *Interp) cmdHost(ctx context.Context, name string, args []string) {
	if len(args) == 0 {
		if in.sess == nil {
			fmt.Fprintln(in.cfg.Stdout, "no current host")
		} else {
			fmt.Fprintf(in.cfg.Stdout, "current host is %s\n", in.host)
		}
		return
	}
	h := args[len(args)-1]
	for _, a := range args[:len(args)-1] {
		switch a {
		case "-4":
			in.cfg.Network = "udp4"
		case "-6":
			in.cfg.Network = "udp6"
		}
	}
	if in.Open(ctx, h) == nil {
		fmt.Fprintf(in.cfg.Stdout, "current host set to %s\n", h)
	} else if in.host != "" {
		fmt.Fprintf(in.cfg.Stdout, "current host remains %s\n", in.host)
	}
}

func (in *Interp) cmdHostnames(ctx context.Context, name string, args []string) {
	if in.cfg.Style == StyleNTPsec {
		if len(args) > 0 {
			switch args[0] {
			case "yes":
				in.cfg.Numeric = false
			case "no":
				in.cfg.Numeric = true
			}
		}
		not := ""
		if in.cfg.Numeric {
			not = "not "
		}
		fmt.Fprintf(in.cfg.Stdout, "resolved hostnames %sbeing shown\nsupplied hostnames not being shown\n", not)
		return
	}
	if len(args) == 0 {
		if in.cfg.Numeric {
			fmt.Fprintln(in.cfg.Stdout, "hostnames not being shown")
		} else {
			fmt.Fprintln(in.cfg.Stdout, "hostnames being shown")
		}
		return
	}
	switch args[0] {
	case "yes":
		in.cfg.Numeric = false
	case "no":
		in.cfg.Numeric = true
	default:
		fmt.Fprintln(in.cfg.Stderr, "What?")
	}
}

func (in *Interp) cmdTimeout(ctx context.Context, name string, args []string) {
	if len(args) == 0 {
		t := in.cfg.Client.FirstTimeout
		if in.sess != nil {
			t = in.sess.Timeout()
		}
		if t == 0 {
			t = DefaultFirstTimeout
		}
		fmt.Fprintf(in.cfg.Stdout, "primary timeout %d ms\n", t.Milliseconds())
		return
	}
	ms, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		fmt.Fprintf(in.cfg.Stderr, "***Illegal unsigned value %s\n", args[0])
		return
	}
	d := time.Duration(ms) * time.Millisecond
	in.cfg.Client.FirstTimeout = d
	if in.sess != nil {
		in.sess.SetTimeouts(d, 0)
	}
}

func (in *Interp) cmdHelp(ctx context.Context, name string, args []string) {
	w := in.cfg.Stdout
	if len(args) > 0 {
		c, _ := findCommand(args[0])
		if c == nil {
			fmt.Fprintf(w, "Command `%s' is unknown\n", args[0])
			return
		}
		fmt.Fprintf(w, "function: %s\n", c.help)
		return
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "ntpq commands:")
	for i := 0; i < len(names); i += 5 {
		row := names[i:min(i+5, len(names))]
		for _, n := range row {
			fmt.Fprintf(w, "%-16s", n)
		}
		fmt.Fprintln(w)
	}
}

// sysinfoVars are the variables ntpq-classic's sysinfo asks for, with
// their labels, in display order.
var sysinfoVars = []struct{ name, label string }{
	{"peeradr", "system peer:"}, {"peermode", "system peer mode:"}, {"leap", "leap indicator:"},
	{"stratum", "stratum:"}, {"precision", "log2 precision:"}, {"rootdelay", "root delay:"},
	{"rootdisp", "root dispersion:"}, {"refid", "reference ID:"}, {"reftime", "reference time:"},
	{"sys_jitter", "system jitter:"}, {"clk_jitter", "clock jitter:"}, {"clk_wander", "clock wander:"},
	{"bcastdelay", "broadcast delay:"}, {"authdelay", "symm. auth. delay:"},
}

// cmdSysinfo is ntpq-classic's sysinfo: one READVAR for its variable list
// (a daemon that lacks one answers UNKNOWNVAR, as NTPsec's does), then a
// labelled line per variable.
func (in *Interp) cmdSysinfo(ctx context.Context, name string, args []string) {
	if !in.needSession() {
		return
	}
	if in.cfg.Style == StyleNTPsec && !in.cfg.JSON {
		in.secSysinfo(ctx)
		return
	}
	names := make([]string, len(sysinfoVars))
	for i, v := range sysinfoVars {
		names[i] = v.name
	}
	r, err := in.sess.ReadVar(ctx, 0, strings.Join(names, ","))
	if err != nil {
		in.report(name, err, 0)
		return
	}
	o := in.renderOpts()
	if in.cfg.JSON {
		_ = in.json.Encode(ReadvarJSON(name, in.host, VarsSystem, 0, r.Status, r.Data, o))
		return
	}
	vars, _ := mode6.Tokenize(r.Data)
	if pa, ok := mode6.Lookup(vars, "peeradr"); ok {
		if h, _, err := net.SplitHostPort(pa); err == nil {
			o.Names = in.resolve(ctx, []string{h})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "associd=0 status=%04x %s,\n", r.Status, StatusText(VarsSystem, r.Status))
	for _, sv := range sysinfoVars {
		v, ok := mode6.Lookup(vars, sv.name)
		if !ok {
			continue
		}
		switch sv.name {
		case "peeradr":
			if h, p, err := net.SplitHostPort(v); err == nil {
				v = net.JoinHostPort(o.addrName(h), p)
				v = strings.Trim(v, "[]")
			}
		case "peermode":
			v = modeName(v)
		case "leap", "reftime":
			if c, ok := CookClassic(sv.name, v, o); ok {
				v = c
			}
		case "refid":
			if c, ok := CookClassic(sv.name, v, o); ok {
				v = c
			}
		}
		fmt.Fprintf(&b, "%-20s%s\n", sv.label, v)
	}
	io.WriteString(in.cfg.Stdout, b.String())
}

// secSysinfoVars are ntpq-sec's sysinfo variables and labels.
var secSysinfoVars = []struct{ name, label string }{
	{"peeradr", "system peer:"}, {"peermode", "system peer mode:"}, {"leap", "leap indicator:"},
	{"stratum", "stratum:"}, {"precision", "log2 precision:"}, {"rootdelay", "root delay:"},
	{"rootdisp", "root dispersion:"}, {"rootdist", "root distance"}, {"refid", "reference ID:"},
	{"reftime", "reference time:"}, {"sys_jitter", "system jitter:"}, {"clk_jitter", "clock jitter:"},
	{"clk_wander", "clock wander:"}, {"authdelay", "symm. auth. delay:"},
}

// secSysinfo is ntpq-sec's sysinfo: its variable list in one READVAR, or
// one variable at a time when the daemon lacks some ("?" for those),
// values right-aligned in 13 columns after a 19-column label.
func (in *Interp) secSysinfo(ctx context.Context) {
	names := make([]string, len(secSysinfoVars))
	for i, v := range secSysinfoVars {
		names[i] = v.name
	}
	r, err := in.sess.ReadVar(ctx, 0, strings.Join(names, ","))
	var se *mode6.ServerError
	var vars []mode6.Var
	status := r.Status
	switch {
	case err == nil:
		vars, _ = mode6.Tokenize(r.Data)
	case errors.As(err, &se) && se.Code == mode6.ErrCodeUnknownVar:
		io.WriteString(in.cfg.Stderr, "Unknown variable.  Trying one at a time.\n")
		for _, n := range names {
			one, err := in.sess.ReadVar(ctx, 0, n)
			if err != nil {
				if !errors.As(err, &se) {
					in.report("sysinfo", err, 0)
					return
				}
				continue
			}
			status = one.Status
			v, _ := mode6.Tokenize(one.Data)
			vars = append(vars, v...)
		}
	default:
		in.report("sysinfo", err, 0)
		return
	}
	o := in.renderOpts()
	var b strings.Builder
	fmt.Fprintf(&b, "associd=0 status=%04x %s,\n", status, StatusText(VarsSystem, status))
	for _, sv := range secSysinfoVars {
		v, ok := mode6.Lookup(vars, sv.name)
		switch {
		case !ok:
			v = "?"
		case sv.name == "peermode":
			fmt.Fprintf(&b, "%-20s%s\n", sv.label, modeName(v))
			continue
		case sv.name == "peeradr" || sv.name == "refid":
		default:
			v = CookSec(sv.name, v, o)
		}
		fmt.Fprintf(&b, "%-19s%13s\n", sv.label, v)
	}
	io.WriteString(in.cfg.Stdout, b.String())
}

func modeName(s string) string {
	names := []string{"unspec", "sym_active", "sym_passive", "client", "server", "broadcast", "control", "private", "bclient"}
	if v, err := strconv.Atoi(s); err == nil && v >= 0 && v < len(names) {
		return names[v]
	}
	return s
}

// isLocalHost reports whether host names this machine's loopback.
func isLocalHost(host string) bool {
	switch trimBrackets(host) {
	case DefaultHost, "127.0.0.1", "::1", "ip6-localhost":
		return true
	}
	return false
}

// noAnswer reports whether err means that no mode 6 daemon answered.
func noAnswer(err error) bool {
	var te *TimeoutError
	return errors.Is(err, ErrRefused) || (errors.As(err, &te) && te.Nothing)
}
