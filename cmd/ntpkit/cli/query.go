package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newQueryCmd builds the ntpq personality. Not built yet: it says so.
func newQueryCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:                "query",
		Short:              "ntpq (not built yet)",
		DisableFlagParsing: true,
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(*cobra.Command, []string) error {
			return &ExitError{Code: 1, Err: errors.New("ntpq is not built yet")}
		},
	}
}
