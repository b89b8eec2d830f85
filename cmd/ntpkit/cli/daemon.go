package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDaemonCmd builds the ntpd personality. Not built yet: it says so.
func newDaemonCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:                "daemon",
		Short:              "ntpd (not built yet)",
		DisableFlagParsing: true,
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(*cobra.Command, []string) error {
			return &ExitError{Code: 1, Err: errors.New("ntpd is not built yet")}
		},
	}
}
