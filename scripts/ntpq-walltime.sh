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

# median NAME CMD...: the median wall time of RUNS runs, in microseconds
# (EPOCHREALTIME: no extra process is timed).
median() {
	local name=$1
	shift
	local ts=()
	for _ in $(seq "$RUNS"); do
		local t0=${EPOCHREALTIME/./}
		"$@" >/dev/null 2>&1 || true
		local t1=${EPOCHREALTIME/./}
		ts+=($((t1 - t0)))
	done
	local m
	m=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
	printf '%s\t%s\n' "$name" "$m"
}

{
	median "/bin/true" /bin/true
	median "empty Go program" "$tmp/hello/hello"
	median "ntpkit version" "$NTPKIT" version
	median "ntpkit query -p" "$NTPKIT" query -p 127.0.0.1
	(
		export LD_LIBRARY_PATH="$CLASSIC_LIB"
		median "classic ntpq -p" "$CLASSIC" -p 127.0.0.1
	)
	median "NTPsec ntpq -p" "$SECQ" -p 127.0.0.1
} >"$tmp/times"

awk -F'\t' -v runs="$RUNS" '
	{ name[NR] = $1; us[NR] = $2; if ($1 == "ntpkit query -p") k = $2 }
	END {
		printf "median of %d runs each, load %s\n\n", runs, load
		printf "| command | wall time | ntpkit query -p / this |\n|---|---|---|\n"
		for (i = 1; i <= NR; i++)
			printf "| %s | %.2f ms | %.2fx |\n", name[i], us[i] / 1000, k / us[i]
	}' load="$(cut -d' ' -f1-3 /proc/loadavg)" "$tmp/times"
