#!/usr/bin/env bash
# demo.sh: the README's one-command tour. Builds nothing itself (make demo
# builds first); starts ntpkit's daemon with its built-in configuration (the
# local clock at stratum 10) inside a private network namespace, so port 123
# is free and nothing leaves the machine, then shows ntpq, ntpstat and
# ntpdate against it. The daemon runs with --no-adjust and without
# CAP_SYS_TIME: the host clock is never touched.
set -euo pipefail
BIN=${BIN:-bin}
NTPKIT=$(cd "$BIN" && pwd)/ntpkit
if [ "$(id -u)" -ne 0 ]; then
	exec sudo BIN="$BIN" "$0" "$@"
fi
if [ -z "${NTPKIT_DEMO_NETNS:-}" ]; then
	NTPKIT_DEMO_NETNS=1 exec unshare --net -- "$0" "$@"
fi
ip link set lo up
tmp=$(mktemp -d)
trap 'kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; rm -rf "$tmp"' EXIT
setpriv --inh-caps=-sys_time --bounding-set=-sys_time -- \
	"$NTPKIT" daemon -n --no-adjust -f "$tmp/drift" >"$tmp/daemon.log" 2>&1 &
dpid=$!
run() { printf '\n$ %s\n' "$*"; "$@" || true; }
# ntpstat exits 0 once the daemon has synchronised to its local clock.
for _ in $(seq 50); do
	"$NTPKIT" stat >/dev/null 2>&1 && break
	sleep 0.2
done
echo "ntpkit daemon (built-in configuration) running in a private network namespace; its log:"
sed 's/^/  /' "$tmp/daemon.log"
ln -sf "$NTPKIT" "$tmp/ntpq"; ln -sf "$NTPKIT" "$tmp/ntpstat"; ln -sf "$NTPKIT" "$tmp/ntpdate"
export PATH="$tmp:$PATH"
run ntpq -p
run ntpq -c as
run ntpq -c rv
run ntpstat
run ntpdate -q 127.0.0.1
run ntpq --json -p
