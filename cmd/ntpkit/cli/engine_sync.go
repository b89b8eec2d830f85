package cli

import "github.com/ntpkit/ntpkit/daemon"

// The daemon synchronises to its configured servers, peers and pools with
// the sync engine (LOCAL refclocks stay with the built-in local driver).
func init() { daemonEngine = daemon.NewSyncEngine }
