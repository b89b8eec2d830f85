package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ntpkit/ntpkit/query"
	"github.com/ntpkit/ntpkit/query/chrony"
)

// newStatCmd builds the ntpstat personality.
func newStatCmd(env *Env) *cobra.Command {
	return newStatCmdWith(env, defaultQueryDeps())
}

const statUsage = `Usage: ntpstat [-h] [-m MAXERR] [--json] [HOST]

Report the synchronisation state of the local NTP daemon (ntpd over mode 6,
or chronyd). Exit status: 0 synchronised, 1 not synchronised (or the
maximum error is exceeded), 2 the state cannot be determined, 3 usage error.

  -h, --help        print this help and exit
  -m, --max-error   MAXERR in milliseconds: report " (exceeded maximum of
                    MAXERR ms)" and exit 1 when the error bound is larger
      --json        print a JSON document (docs/json.md)
      --no-chrony   do not ask chronyd when no ntpd answers
`

func newStatCmdWith(env *Env, deps queryDeps) *cobra.Command {
	var (
		maxErr   float64
		asJSON   bool
		timeout  time.Duration
		noChrony bool
	)
	cmd := &cobra.Command{
		Use:           "stat [flags] [host]",
		Short:         "show the synchronisation status of the local daemon (ntpstat)",
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			addr := deps.StatAddr
			if len(args) == 1 {
				addr = net.JoinHostPort(args[0], "123")
			}
			if timeout <= 0 {
				timeout = deps.StatTimeout
			}
			rep, err := query.FetchStat(ctx, deps.Dialer, addr, timeout)
			if errors.Is(err, query.ErrStatNoAnswer) && len(args) == 0 && deps.Chrony != nil && !noChrony {
				if cs, cerr := deps.Chrony(ctx); cerr == nil {
					rep = query.StatFromChrony(cs)
				}
			}
			o := query.StatOptions{MaxErrorMS: maxErr}
			if asJSON {
				j := rep.JSON(o)
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				_ = enc.Encode(j)
				return exit(j.ExitStatus)
			}
			out, errText, code := rep.Render(o)
			io.WriteString(env.Stdout, out)
			io.WriteString(env.Stderr, errText)
			return exit(code)
		},
	}
	cmd.SetHelpFunc(func(*cobra.Command, []string) { io.WriteString(env.Stdout, statUsage) })
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		fmt.Fprintf(env.Stderr, "%s: %v\n%s", env.Argv0(), err, statUsage)
		return exit(3)
	})
	fl := cmd.Flags()
	fl.BoolP("help", "h", false, "print usage and exit")
	fl.Float64VarP(&maxErr, "max-error", "m", 0, "maximum error in ms (exit 1 when exceeded)")
	fl.BoolVar(&asJSON, "json", false, "print a JSON document")
	fl.DurationVar(&timeout, "timeout", 0, "wait this long for the daemon (default 1s)")
	fl.BoolVar(&noChrony, "no-chrony", false, "do not ask chronyd when no mode 6 daemon answers")
	fl.VisitAll(func(f *pflag.Flag) { f.Hidden = f.Name == "timeout" })
	return cmd
}

// chronyStatus asks a local chronyd (cmdmon on 127.0.0.1:323 / ::1) for
// ntpstat's view.
func chronyStatus(ctx context.Context) (query.ChronyStat, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var lastErr error
	for _, a := range chrony.DefaultAddrs {
		c, err := chrony.Dial(ctx, chrony.Options{Addr: a, Timeout: 500 * time.Millisecond, Retries: 1})
		if err != nil {
			lastErr = err
			continue
		}
		st, err := c.Status(ctx)
		c.Close()
		if err != nil {
			lastErr = err
			continue
		}
		cs := query.ChronyStat{
			Synchronised: st.Synchronised,
			SourceKind:   st.Kind.String(),
			Address:      st.Source,
			Stratum:      st.Stratum,
			AccuracyMS:   st.Accuracy() * 1000,
			PollLog2:     st.PollLog2,
		}
		return cs, nil
	}
	if lastErr == nil {
		lastErr = errors.New("chronyd: no address")
	}
	return query.ChronyStat{}, lastErr
}
