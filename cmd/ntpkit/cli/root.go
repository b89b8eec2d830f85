// Package cli builds ntpkit's command tree. Every command comes from a
// constructor (newQueryCmd, newStatCmd, ...), so the tree behind the ntpq
// symlink and behind `ntpkit query` is the same object with the same flags.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// Env is everything a command needs from the process, injected so that tests
// run the CLI in-process.
type Env struct {
	Args   []string // os.Args: Args[0] selects the personality
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// OSEnv returns the process's real environment.
func OSEnv() *Env {
	return &Env{Args: os.Args, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// docsEnv is a neutral environment (empty stdin, discarded output, no
// environment variables), so generated documentation and command-tree
// comparisons never depend on the caller's environment.
func docsEnv(argv0 string) *Env {
	return &Env{
		Args: []string{argv0}, Stdin: strings.NewReader(""),
		Stdout: io.Discard, Stderr: io.Discard,
		Getenv: func(string) string { return "" },
	}
}

// Argv0 is the name the program was invoked by, as classic tools print it.
func (e *Env) Argv0() string {
	if len(e.Args) == 0 {
		return "ntpkit"
	}
	return e.Args[0]
}

// ExitError ends the program with a given status after the command has
// printed whatever it had to say.
type ExitError struct {
	Code int
	Err  error // optional; printed to stderr when set
}

func (e *ExitError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func (e *ExitError) Unwrap() error { return e.Err }

// exit returns an ExitError with no message.
func exit(code int) error { return &ExitError{Code: code} }

// applet is one personality of the multi-call binary.
type applet struct {
	name    string // symlink name
	command string // ntpkit subcommand
	summary string
	build   func(*Env) *cobra.Command
}

func applets() []applet {
	return []applet{
		{"ntpq", "query", "query NTP servers over the mode 6 control protocol", newQueryCmd},
		{"ntpstat", "stat", "show the synchronisation status of the local daemon", newStatCmd},
		{"ntpdate", "date", "set or query the date and time from NTP servers", newDateCmd},
		{"ntpd", "daemon", "NTP daemon: serve time and discipline the clock", newDaemonCmd},
	}
}

// Personality override for tests and for running a symlink-less binary.
const personalityEnv = "NTPKIT_APPLET"

// Main runs ntpkit and returns the process exit status.
func Main(env *Env) int {
	name := strings.TrimSuffix(filepath.Base(env.Argv0()), ".exe")
	if p := env.Getenv(personalityEnv); p != "" {
		name = p
	}
	var cmd *cobra.Command
	switch {
	case name == "ntpkit" || strings.HasPrefix(name, "ntpkit"):
		cmd = newRootCmd(env)
	default:
		a, ok := findApplet(name)
		if !ok {
			fmt.Fprintf(env.Stderr, "ntpkit: applet not found: %q (known: %s)\n", name, appletNames())
			return 127
		}
		cmd = a.root(env)
	}
	args := env.Args
	if len(args) > 0 {
		args = args[1:]
	}
	cmd.SetArgs(args)
	cmd.SetIn(env.Stdin)
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	return exitStatus(env, cmd.Execute())
}

func exitStatus(env *Env, err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", filepath.Base(env.Argv0()), ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(env.Stderr, "%s: %v\n", filepath.Base(env.Argv0()), err)
	return 1
}

// root builds the applet as the root command it is when invoked by its
// symlink name: the same tree as `ntpkit <command>`, named after the link.
func (a applet) root(env *Env) *cobra.Command {
	cmd := a.build(env)
	cmd.Use = a.name + strings.TrimPrefix(cmd.Use, a.command)
	return cmd
}

// appletRoot is a.root in a neutral environment, for documentation and
// for comparing command trees.
func appletRoot(a applet) *cobra.Command { return a.root(docsEnv(a.name)) }

func findApplet(name string) (applet, bool) {
	for _, a := range applets() {
		if a.name == name || a.command == name {
			return a, true
		}
	}
	return applet{}, false
}

func appletNames() string {
	var n []string
	for _, a := range applets() {
		n = append(n, a.name)
	}
	return strings.Join(n, ", ")
}

func newRootCmd(env *Env) *cobra.Command {
	var list bool
	root := &cobra.Command{
		Use:   "ntpkit",
		Short: "ntpkit: ntpq, ntpstat, ntpdate and ntpd in one binary",
		Long: `ntpkit replaces the classic NTP command-line tools and runs a lightweight NTP daemon.

Invoke it as ntpq, ntpstat, ntpdate or ntpd (symlinks, see "ntpkit install-links")
or as "ntpkit query|stat|date|daemon".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if list {
				for _, a := range applets() {
					fmt.Fprintln(cmd.OutOrStdout(), a.name)
				}
				return nil
			}
			return cmd.Help()
		},
	}
	root.Flags().BoolVar(&list, "list", false, "list the applets (symlink names) and exit")
	for _, a := range applets() {
		c := a.build(env)
		c.Aliases = append(c.Aliases, a.name)
		root.AddCommand(c)
	}
	root.AddCommand(newVersionCmd(), newInstallLinksCmd(env))
	for _, extra := range extraCommands {
		root.AddCommand(extra(env))
	}
	return root
}

// extraCommands lets further files add top-level commands (bench, gendocs)
// without editing this one.
var extraCommands []func(*Env) *cobra.Command

// Set by the linker: -X github.com/ntpkit/ntpkit/cmd/ntpkit/cli.version=...
var (
	version = ""
	commit  = ""
)

// Version returns the version, commit and Go version, from ldflags or, for a
// plain `go build`, from the embedded build information.
func Version() (ver, rev, goVersion string) {
	ver, rev = version, commit
	bi, ok := debug.ReadBuildInfo()
	if ok {
		goVersion = bi.GoVersion
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && rev == "" {
				rev = s.Value
			}
		}
	}
	if ver == "" {
		ver = "devel"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev, goVersion
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c, g := Version()
			fmt.Fprintf(cmd.OutOrStdout(), "ntpkit %s\ncommit %s\n%s\n", v, c, g)
			return nil
		},
	}
}

func newInstallLinksCmd(env *Env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "install-links DIR",
		Short: "create ntpq, ntpstat, ntpdate and ntpd symlinks to this binary in DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find own executable: %w", err)
			}
			var names []string
			for _, a := range applets() {
				names = append(names, a.name)
			}
			sort.Strings(names)
			for _, n := range names {
				link := filepath.Join(args[0], n)
				if force {
					_ = os.Remove(link)
				}
				if err := os.Symlink(self, link); err != nil {
					return fmt.Errorf("install %s: %w", n, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s -> %s\n", link, self)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "replace existing files")
	return cmd
}
