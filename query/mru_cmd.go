package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// mruMaxArgs is how many arguments ntpq-classic's mrulist takes.
const mruMaxArgs = 4

// maxRSSMB is the process's peak resident memory in megabytes (ntpq-sec's
// "# Used N megabytes of memory").
func maxRSSMB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) / 1024
}

// cmdMRUList is the mrulist command: the daemon's list of recently seen
// sources (REQ_NONCE + READ_MRU), printed as the selected ntpq does.
func (in *Interp) cmdMRUList(ctx context.Context, name string, args []string) {
	if !in.needSession() {
		return
	}
	sec := in.cfg.Style == StyleNTPsec
	errw, outw := in.cfg.Stderr, in.cfg.Stdout
	if !sec && len(args) > mruMaxArgs {
		for _, a := range args[mruMaxArgs:] {
			fmt.Fprintf(errw, "***Extra arg `%s' ignored\n", a)
		}
		args = args[:mruMaxArgs]
	}
	if !in.cfg.JSON {
		if sec {
			io.WriteString(outw, MRUCtrlC)
		} else {
			io.WriteString(errw, MRUCtrlC)
		}
	}
	style := in.cfg.Style
	margs, err := ParseMRUArgs(args, style)
	if err != nil {
		if in.cfg.JSON {
			_ = in.json.Encode(JSONError{View: name, Host: in.host, Error: err.Error(), Message: err.Error()})
			return
		}
		fmt.Fprintln(errw, err.Error())
		return
	}
	if !in.cfg.JSON {
		for _, a := range margs.Ignored {
			fmt.Fprintf(errw, "ignoring unrecognized mrulist parameter: %s\n", a)
		}
	}
	start := in.cfg.Clock.Now()
	l, err := in.sess.FetchMRU(ctx, MRUFetch{Args: margs, Now: in.cfg.Clock.Now})
	if err != nil {
		var ne *NonceError
		if errors.As(err, &ne) {
			in.report(name, ne.Err, 0)
			if !sec && !in.cfg.JSON {
				io.WriteString(errw, "nonce request failed\n")
			}
			return
		}
		if len(l.Entries) == 0 || in.cfg.JSON {
			in.report(name, err, 0)
			if in.cfg.JSON {
				return
			}
		} else {
			fmt.Fprintf(errw, "***%v\n", err)
		}
	}
	o := in.renderOpts()
	if !in.cfg.Numeric {
		addrs := make([]string, 0, len(l.Entries))
		for _, e := range l.Entries {
			addrs = append(addrs, e.Addr.Addr().Unmap().String())
		}
		o.Names = in.resolve(ctx, addrs)
	}
	switch {
	case in.cfg.JSON:
		_ = in.json.Encode(MRUJSON(l, margs.Sort, o))
	case sec:
		st := MRUStats{Collected: in.cfg.Clock.Now().Sub(start).Seconds()}
		RenderMRUSec(outw, l, margs.Sort, o, st)
		st.Processed = in.cfg.Clock.Now().Sub(start).Seconds()
		st.MemoryMB = maxRSSMB()
		io.WriteString(outw, MRUSecTrailer(l, st))
	default:
		io.WriteString(errw, MRUClassicSummary(l))
		RenderMRUClassic(outw, l, margs.Sort, o)
	}
}
