// Command privdrop (a test helper of TestFaultPrivilegesKeepOnlySysTime)
// drops to the user in argv[1] with daemon.DropPrivileges, keeping
// CAP_SYS_TIME when argv[2] is "keep", and prints /proc/self/status. It
// never touches the clock.
package main

import (
	"fmt"
	"os"

	"github.com/ntpkit/ntpkit/daemon"
)

func main() {
	if err := daemon.DropPrivileges(os.Args[1], os.Args[2] == "keep"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(b)
}
