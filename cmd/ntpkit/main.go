// Command ntpkit is a multi-call binary: ntpq, ntpstat, ntpdate and ntpd in
// one program. Its personality comes from the name it was invoked by.
package main

import (
	"os"

	"github.com/ntpkit/ntpkit/cmd/ntpkit/cli"
)

func main() {
	os.Exit(cli.Main(cli.OSEnv()))
}
