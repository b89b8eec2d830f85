package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDateCmd builds the ntpdate personality. Not built yet: it says so.
func newDateCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:                "date",
		Short:              "ntpdate (not built yet)",
		DisableFlagParsing: true,
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(*cobra.Command, []string) error {
			return &ExitError{Code: 1, Err: errors.New("ntpdate is not built yet")}
		},
	}
}
