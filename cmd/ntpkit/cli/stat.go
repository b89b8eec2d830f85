package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newStatCmd builds the ntpstat personality. Not built yet: it says so.
func newStatCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:                "stat",
		Short:              "ntpstat (not built yet)",
		DisableFlagParsing: true,
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(*cobra.Command, []string) error {
			return &ExitError{Code: 1, Err: errors.New("ntpstat is not built yet")}
		},
	}
}
