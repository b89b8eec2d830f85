#!/usr/bin/env bash
# ntpq-walltime.sh: times `ntpq -p` for ntpkit, classic ntpq 4.2.8 and
# NTPsec's ntpq against one local NTPsec ntpd (LOCAL clock), inside a private
# network namespace, and prints medians with the start-up floor beside them:
# /bin/true (process creation) and an empty Go program (the Go runtime's own
# start-up on this machine). The ntpd runs without CAP_SYS_TIME and with
# "disable kernel": the host clock is never touched.
#
#   make build && sudo scripts/ntpq-walltime.sh [runs]
set -euo pipefail
RUNS=${1:-41}
BIN=${BIN:-bin}
NTPKIT=$(cd "$BIN" && pwd)/ntpkit
CLASSIC=${CLASSIC_NTPQ:-/opt/classic/usr/bin/ntpq}
CLASSIC_LIB=${CLASSIC_LIB:-/opt/classic/usr/lib/x86_64-linux-gnu}
SECQ=${NTPSEC_NTPQ:-/usr/bin/ntpq}
SECD=${NTPSEC_NTPD:-/usr/sbin/ntpd}
if [ "$(id -u)" -ne 0 ]; then
	exec sudo BIN="$BIN" "$0" "$@"
fi
if [ -z "${NTPKIT_WALLTIME_NETNS:-}" ]; then
	NTPKIT_WALLTIME_NETNS=1 exec unshare --net -- "$0" "$@"
fi
ip link set lo up
tmp=$(mktemp -d)
dpid=
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null; rm -rf "$tmp"' EXIT

# The Go start-up floor: a program that prints one line and exits.
mkdir -p "$tmp/hello"
printf 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("hello\\n") }\n' >"$tmp/hello/main.go"
(cd "$tmp/hello" && printf 'module hello\n\ngo 1.22\n' >go.mod && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o hello .)

cat >"$tmp/ntp.conf" <<EOF
disable kernel
server 127.127.1.0
fudge 127.127.1.0 stratum 10
restrict default
restrict 127.0.0.1
driftfile $tmp/drift
EOF
setpriv --inh-caps=-sys_time --bounding-set=-sys_time -- "$SECD" -n -c "$tmp/ntp.conf" >"$tmp/ntpd.log" 2>&1 &
dpid=$!
sleep 3

# The timer is a small Go program: it starts each command with vfork-style
# process creation, so less of its own cost lands in the numbers than with a
# bash loop. Rounds interleave the commands, so that load from elsewhere on
# the machine falls on all of them alike; the median per command is reported.
mkdir -p "$tmp/timer"
cat >"$tmp/timer/main.go" <<'GO'
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// usage: timer RUNS < lines of "name|ENV=v ...|argv ..."
func main() {
	runs, _ := strconv.Atoi(os.Args[1])
	type cmd struct {
		name      string
		env, argv []string
		ts        []time.Duration
	}
	var cmds []*cmd
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		cmds = append(cmds, &cmd{name: f[0], env: strings.Fields(f[1]), argv: strings.Fields(f[2])})
	}
	for range runs {
		for _, c := range cmds {
			x := exec.Command(c.argv[0], c.argv[1:]...)
			x.Env = append(os.Environ(), c.env...)
			t0 := time.Now()
			_ = x.Run()
			c.ts = append(c.ts, time.Since(t0))
		}
	}
	for _, c := range cmds {
		slices.Sort(c.ts)
		fmt.Printf("%s\t%d\n", c.name, c.ts[len(c.ts)/2].Microseconds())
	}
}
GO
(cd "$tmp/timer" && printf 'module timer\n\ngo 1.22\n' >go.mod && CGO_ENABLED=0 go build -o timer .)
"$tmp/timer/timer" "$RUNS" >"$tmp/times" <<EOF
/bin/true||/bin/true
empty Go program||$tmp/hello/hello
ntpkit version||$NTPKIT version
ntpkit query -p||$NTPKIT query -p 127.0.0.1
classic ntpq -p|LD_LIBRARY_PATH=$CLASSIC_LIB|$CLASSIC -p 127.0.0.1
NTPsec ntpq -p||$SECQ -p 127.0.0.1
EOF

awk -F'\t' -v runs="$RUNS" '
	{ name[NR] = $1; us[NR] = $2; if ($1 == "ntpkit query -p") k = $2 }
	END {
		printf "median of %d runs each, load %s\n\n", runs, load
		printf "| command | wall time | ntpkit query -p / this |\n|---|---|---|\n"
		for (i = 1; i <= NR; i++)
			printf "| %s | %.2f ms | %.2fx |\n", name[i], us[i] / 1000, k / us[i]
	}' load="$(cut -d' ' -f1-3 /proc/loadavg)" "$tmp/times"
