#!/bin/bash
# How the fixtures in this directory were made (as root; nothing leaves the
# private network namespaces; the daemons run without CAP_SYS_TIME and with
# "disable kernel", so the host clock is never touched).
#
#   ip netns add mrucap;  ip -n mrucap  link set lo up   # NTPsec ntpd 1.2.2
#   ip netns add mrucap2; ip -n mrucap2 link set lo up   # classic ntpd 4.2.8p15
#   ip netns add mrucap3; ip -n mrucap3 link set lo up   # nothing (refused)
#   NOCLOCK="setpriv --inh-caps=-sys_time --bounding-set=-sys_time --"
#   ip netns exec mrucap  $NOCLOCK /usr/sbin/ntpd -n -c sec.conf
#   ip netns exec mrucap2 $NOCLOCK /opt/classic/usr/sbin/ntpd -n -c classic.conf
# both configurations:
#   disable kernel
#   restrict default kod limited nomodify nopeer
#   restrict 127.0.0.1
#   restrict ::1
#   server 127.127.1.0
#   fudge 127.127.1.0 stratum 10
# clients: mode 3 packets from 127.0.0.2 (1 packet, port 40000), 127.0.0.3
# (3, port 40001), 127.0.0.4 (5 back to back: rate limited, port 40004),
# [::1]:40002 (2, NTPv3), 127.0.0.5 (4, 2.5 s apart), 127.0.0.6 (2, 7 s
# apart), and for the *.many fixtures one packet from each of 150 addresses
# 127.1.0.2 ... 127.1.0.151.
#
# usage: capture.sh NETNS NAME classic|ntpsec DAEMON ntpq-args...
# writes NAME.txt: "# command:" header, the mode 6 datagrams of the run
# ("> hex" to the daemon, "< hex" answers), then the verbatim stdout and
# stderr of the real ntpq.
set -u
ns=$1 name=$2 client=$3 daemon=$4; shift 4
here=$(cd "$(dirname "$0")" && pwd)
if [ "$client" = classic ]; then
  BIN="env LD_LIBRARY_PATH=/opt/classic/usr/lib/x86_64-linux-gnu /opt/classic/usr/bin/ntpq"
else
  BIN=/usr/bin/ntpq
fi
tmp=$(mktemp -d)
# --immediate-mode and a large buffer: without them tcpdump loses fragments
# of the 32-fragment answers.
ip netns exec "$ns" tcpdump --immediate-mode -B 16384 -Z root -i lo -w "$tmp/cap.pcap" -U udp port 123 >/dev/null 2>&1 &
tp=$!
sleep 1
ip netns exec "$ns" $BIN "$@" >"$tmp/out" 2>"$tmp/err"
rc=$?
sleep 0.5
kill $tp
wait $tp 2>/dev/null
sleep 1
{
  echo "# command: ntpq $*"
  echo "# client: $client ntpq, daemon: $daemon ntpd, exit status: $rc"
  echo "# captured $(date -u +%Y-%m-%dT%H:%M:%SZ) in a private network namespace (query/testdata/mru/capture.sh)"
  python3 "$here/pcap2fix.py" "$tmp/cap.pcap"
  echo "# ---- stdout (verbatim) ----"
  cat "$tmp/out"
  echo "# ---- stderr (verbatim) ----"
  cat "$tmp/err"
} >"$here/$name.txt"
rm -rf "$tmp"
