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

# Rounds interleave the commands, so that load from elsewhere on the machine
# falls on all of them alike; each run is timed with EPOCHREALTIME (no extra
# process is timed) and the median per command is reported.
names=("/bin/true" "empty Go program" "ntpkit version" "ntpkit query -p" "classic ntpq -p" "NTPsec ntpq -p")
run() {
	case $1 in
	0) /bin/true ;;
	1) "$tmp/hello/hello" ;;
	2) "$NTPKIT" version ;;
	3) "$NTPKIT" query -p 127.0.0.1 ;;
	4) LD_LIBRARY_PATH="$CLASSIC_LIB" "$CLASSIC" -p 127.0.0.1 ;;
	5) "$SECQ" -p 127.0.0.1 ;;
	esac
}
for _ in $(seq "$RUNS"); do
	for i in "${!names[@]}"; do
		t0=${EPOCHREALTIME/./}
		run "$i" >/dev/null 2>&1 || true
		t1=${EPOCHREALTIME/./}
		echo "$((t1 - t0))" >>"$tmp/t$i"
	done
done
for i in "${!names[@]}"; do
	printf '%s\t%s\n' "${names[$i]}" "$(sort -n "$tmp/t$i" | sed -n "$(((RUNS + 1) / 2))p")"
done >"$tmp/times"

awk -F'\t' -v runs="$RUNS" '
	{ name[NR] = $1; us[NR] = $2; if ($1 == "ntpkit query -p") k = $2 }
	END {
		printf "median of %d runs each, load %s\n\n", runs, load
		printf "| command | wall time | ntpkit query -p / this |\n|---|---|---|\n"
		for (i = 1; i <= NR; i++)
			printf "| %s | %.2f ms | %.2fx |\n", name[i], us[i] / 1000, k / us[i]
	}' load="$(cut -d' ' -f1-3 /proc/loadavg)" "$tmp/times"
