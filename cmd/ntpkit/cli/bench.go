package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ntpkit/ntpkit/internal/loadgen"
)

func init() { extraCommands = append(extraCommands, newBenchCmd) }

// newBenchCmd builds `ntpkit bench`, an NTP server load generator in the
// spirit of ntpperf, for operators sizing a server and for `make bench`.
func newBenchCmd(env *Env) *cobra.Command {
	var (
		rates       []int
		duration    time.Duration
		sources     int
		localAddrs  []string
		mode6       bool
		allowRemote bool
		maxLoss     float64
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "bench [flags] SERVER[:PORT]",
		Short: "load-test an NTP server: rate, loss, round trip and timestamp quality",
		Long: `Sends NTP client requests (or, with --mode6, mode 6 READVAR requests) to a server
at fixed rates from many source sockets, validates every reply and reports the offered
rate, replies, loss, round-trip p50/p99, the server's receive-to-transmit time (T3-T2)
and the age of its transmit timestamp on arrival (T4-T3; meaningful on loopback).
With several --rate values it steps through them and reports the highest rate with
loss under --max-loss. Every run is bounded by --duration; only loopback targets are
accepted unless --allow-remote is given.`,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			server, err := parseServer(args[0])
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			cfg := loadgen.Config{Server: server, Duration: duration, Sources: sources, Mode6: mode6, AllowRemote: allowRemote}
			for _, a := range localAddrs {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					return &ExitError{Code: 2, Err: fmt.Errorf("--local-addr %q: %w", a, err)}
				}
				cfg.LocalAddrs = append(cfg.LocalAddrs, ip)
			}
			best, steps, err := loadgen.MaxRate(cmd.Context(), cfg, rates, maxLoss)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				_ = enc.Encode(struct {
					Server  string           `json:"server"`
					MaxRate int              `json:"max_rate_under_loss"`
					MaxLoss float64          `json:"max_loss"`
					Steps   []loadgen.Result `json:"steps"`
				}{server.String(), best, maxLoss, steps})
			} else {
				fmt.Fprintf(out, "%10s %10s %9s %7s %9s %9s %9s %9s %9s %9s\n", "offered/s", "replies", "invalid", "loss%", "rtt50", "rtt99", "proc50", "proc99", "age50", "age99")
				for _, r := range steps {
					fmt.Fprintf(out, "%10.0f %10d %9d %7.2f %9s %9s %9s %9s %9s %9s\n", r.Offered, r.Replies, r.Invalid, 100*r.Loss,
						us(r.RTT50), us(r.RTT99), us(r.ServerProc50), us(r.ServerProc99), us(r.XmtAge50), us(r.XmtAge99))
				}
				fmt.Fprintf(out, "max rate with loss < %.1f%%: %d/s\n", 100*maxLoss, best)
			}
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&rates, "rate", []int{10000}, "requests per second; several values step through them")
	f.DurationVar(&duration, "duration", 2*time.Second, "sending time per rate")
	f.IntVar(&sources, "sources", 64, "number of source sockets")
	f.StringArrayVar(&localAddrs, "local-addr", nil, "source address (repeatable, used round robin)")
	f.BoolVar(&mode6, "mode6", false, "send mode 6 READVAR requests instead of client requests")
	f.BoolVar(&allowRemote, "allow-remote", false, "allow a target outside loopback (only servers you own)")
	f.Float64Var(&maxLoss, "max-loss", 0.01, "loss fraction that ends a stepped run")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func parseServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	host, port := s, "123"
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("server %q: want an IP address", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("server %q: bad port", s)
	}
	return netip.AddrPortFrom(ip, uint16(n)), nil
}

func us(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + "us"
}
