#!/bin/sh
# Inventory of 8 real libvirt hosts at once against each host alone, in the
# same run, then the same 8 hosts plus one that accepts connections and never
# answers, against its deadline.
#
#   bench/inventory_fleet.sh BUILD_DIR      (as root: it starts libvirt daemons)
#
# The hosts are peers of the test bed (tests/testbed/peer.sh STATE_DIR N,
# N = 1..8: libvirtd in their own namespaces, qemu+tcp://127.0.0.1:1651N/system)
# with 250 defined (inactive) QEMU domains each, 2,000 in all; peer 9 is
# started, then stopped with SIGSTOP: the kernel still completes TCP
# handshakes on its port, the daemon never answers. Everything is stopped on
# the way out (trap), by the pids peer.sh and libvirtd.sh recorded.
#
# Prints each host's single-host time, the 8-host time, its ratio to the sum
# and to the slowest single host (target <= 1.3), the same 8 hosts one at a
# time, the CPU an 8-host inventory costs (client and daemons: all on this
# machine's cores, a floor for the 8-host time), and the time with the
# stalled host against its deadline (target <= deadline + 10 %). Exits
# non-zero when something is broken (a tool missing, a listing missing
# domains, a command failing), 77 when the test bed cannot run here; never
# because of a figure.
#
# Then the same 8 hosts as if they were HYPERCTL_BENCH_RTT_MS (20) away: each
# daemon behind bench/latency_proxy.cpp, which delays every byte by half the
# round trip each way; single hosts against all 8 at once (target <= 1.3).
#
# HYPERCTL_BENCH_PER_HOST (250), HYPERCTL_BENCH_RUNS (10),
# HYPERCTL_BENCH_DEADLINE (2s; a number of seconds or NNNms) and
# HYPERCTL_BENCH_RTT_MS (20; 0 skips the round-trip part) override.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
testbed=$here/../tests/testbed
per_host=${HYPERCTL_BENCH_PER_HOST:-250}
runs=${HYPERCTL_BENCH_RUNS:-10}
deadline=${HYPERCTL_BENCH_DEADLINE:-2s}
rtt=${HYPERCTL_BENCH_RTT_MS:-20}
hosts="1 2 3 4 5 6 7 8"
stalled_index=9
prefix='hyperctl-test-bench-fleet-'

fail() {
  echo "inventory_fleet.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] || fail "usage: inventory_fleet.sh BUILD_DIR"
case "$per_host$runs$rtt" in *[!0-9]*) fail "HYPERCTL_BENCH_PER_HOST, _RUNS and _RTT_MS must be numbers" ;; esac
case "$deadline" in
  *ms) deadline_ms=${deadline%ms} ;;
  *s) deadline_ms=$((${deadline%s} * 1000)) ;;
  *) deadline_ms=$((deadline * 1000)) ;;
esac
build=$(cd "$1" 2>/dev/null && pwd) || fail "no build folder '$1'"
hyperctl=$build/bin/hyperctl
[ -x "$hyperctl" ] || fail "$hyperctl not built (cmake --build $1 --target hyperctl-cli)"
proxy=$build/bin/hyperctl-latency-proxy
[ "$rtt" = 0 ] || [ -x "$proxy" ] ||
  fail "$proxy not built (cmake --build $1 --target hyperctl-latency-proxy), or set HYPERCTL_BENCH_RTT_MS=0"
[ -e "$build/plugins/libhyperctl-libvirt.so" ] ||
  fail "$build/plugins/libhyperctl-libvirt.so not built (cmake --build $1 --target hyperctl-libvirt)"
for prog in virsh hyperfine qemu-img; do
  command -v "$prog" >/dev/null || fail "$prog not found (apt-get install libvirt-clients hyperfine qemu-utils)"
done
"$hyperctl" inventory --help >/dev/null 2>&1 || {
  echo "inventory_fleet.sh: $hyperctl has no inventory command" >&2
  exit 77
}

work=$(mktemp -d) || fail "mktemp failed"
chmod 755 "$work" # the peers' QEMU driver reads the shared disk image here
state=$build/bench/fleet-state
mkdir -p "$state"
started_main=
started_peers=
stopped_pid=
proxy_pids=

uri_of() { echo "qemu+tcp://127.0.0.1:$((16510 + $1))/system"; }

bench_domains() {
  virsh -q -c "$1" list --all --name 2>/dev/null | grep "^$prefix" || true
}

undefine_ours() {
  u=$1
  bench_domains "$u" | sed 's/^/undefine /' >"$work/undefine.cmds"
  [ -s "$work/undefine.cmds" ] || return 0
  virsh -q -c "$u" <"$work/undefine.cmds" >/dev/null 2>&1 || true
}

cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ -n "$stopped_pid" ]; then kill -CONT "$stopped_pid" 2>/dev/null || true; fi
  for p in $proxy_pids; do kill "$p" 2>/dev/null || true; done
  for n in $started_peers; do
    [ "$n" = "$stalled_index" ] || undefine_ours "$(uri_of "$n")"
    "$testbed/peer.sh" stop "$state/peer$n" "$n" >"$work/stop.out" 2>&1 ||
      { cat "$work/stop.out" >&2; [ "$status" != 0 ] || status=1; }
  done
  if [ -n "$started_main" ]; then
    "$testbed/libvirtd.sh" stop "$state/main" >"$work/stop.out" 2>&1 ||
      { cat "$work/stop.out" >&2; [ "$status" != 0 ] || status=1; }
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The peers copy /etc/libvirt as the main test bed sets it up.
rc=0
"$testbed/libvirtd.sh" start "$state/main" >"$work/start.out" 2>&1 || rc=$?
[ $rc = 0 ] || { cat "$work/start.out" >&2; [ $rc = 77 ] && exit 77; fail "libvirtd.sh start failed"; }
started_main=1
for n in $hosts $stalled_index; do
  rc=0
  "$testbed/peer.sh" start "$state/peer$n" "$n" >"$work/start.out" 2>&1 || rc=$?
  [ $rc = 0 ] || { cat "$work/start.out" >&2; [ $rc = 77 ] && exit 77; fail "peer.sh start $n failed"; }
  started_peers="$started_peers $n"
done

# 250 inactive domains per host: type qemu, 64 MiB, one vCPU, one virtio
# disk. They share one real empty qcow2, so that each daemon opens an image
# and reports its capacity, as a real host would.
qemu-img create -q -f qcow2 "$work/disk.qcow2" 64M || fail "qemu-img create failed"
chmod 644 "$work/disk.qcow2"
t0=$(date +%s.%N)
for n in $hosts; do
  u=$(uri_of "$n")
  undefine_ours "$u" # leftovers of a killed run
  : >"$work/define.cmds"
  i=1
  while [ $i -le "$per_host" ]; do
    name=$(printf '%shost%d-%04d' "$prefix" "$n" "$i")
    cat >"$work/$name.xml" <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$work/disk.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
EOF
    echo "define $work/$name.xml" >>"$work/define.cmds"
    i=$((i + 1))
  done
  virsh -q -c "$u" <"$work/define.cmds" >/dev/null 2>"$work/define.err" ||
    fail "defining the domains on $u failed: $(head -n 1 "$work/define.err")"
  got=$(bench_domains "$u" | wc -l | tr -d ' ')
  [ "$got" = "$per_host" ] || fail "$u has $got of $per_host $prefix* domains"
  rm -f "$work"/"$prefix"*.xml
done
t1=$(date +%s.%N)
echo "defined $per_host domains on each of 8 peers in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s" >&2

# The stalled host: peer 9, frozen.
stopped_pid=$(tr -dc '0-9' <"$state/peer$stalled_index/tree/libvirtd.pid")
[ -n "$stopped_pid" ] || fail "no pid for peer $stalled_index"
kill -STOP "$stopped_pid"

# The config: one connection per host, a group of the 8, and one with the
# stalled host added.
XDG_CONFIG_HOME=$work/xdg
HYPERCTL_PLUGIN_PATH=$build/plugins
export XDG_CONFIG_HOME HYPERCTL_PLUGIN_PATH
mkdir -p "$XDG_CONFIG_HOME/hyperctl"
members=
for n in $hosts; do
  printf '[connection host%d]\nuri = %s\n\n' "$n" "$(uri_of "$n")"
  members="$members${members:+, }host$n"
done >"$XDG_CONFIG_HOME/hyperctl/config"
printf '[connection stalled]\nuri = %s\n\n[group eight]\nmembers = %s\n\n[group nine]\nmembers = %s, stalled\n' \
  "$(uri_of "$stalled_index")" "$members" "$members" >>"$XDG_CONFIG_HOME/hyperctl/config"

# Every domain must come back, from each host alone and from all at once.
count() { grep -o "\"${prefix}[a-z0-9-]*\"" "$1" | sort -u | wc -l | tr -d ' '; }
for n in $hosts; do
  "$hyperctl" inventory --hosts "host$n" -o json >"$work/one.json" 2>"$work/one.err" ||
    fail "inventory --hosts host$n failed: $(head -n 1 "$work/one.err")"
  [ "$(count "$work/one.json")" = "$per_host" ] ||
    fail "inventory --hosts host$n listed $(count "$work/one.json") of $per_host domains"
done
"$hyperctl" inventory --group eight -o json >"$work/all.json" 2>"$work/all.err" ||
  fail "inventory --group eight failed: $(head -n 1 "$work/all.err")"
total=$((per_host * 8))
[ "$(count "$work/all.json")" = "$total" ] ||
  fail "inventory --group eight listed $(count "$work/all.json") of $total domains"

set --
for n in $hosts; do set -- "$@" -n "host$n" "$hyperctl inventory --hosts host$n -o json"; done
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/times.json" "$@" \
  -n eight "$hyperctl inventory --group eight -o json" \
  -n serial "$hyperctl inventory --group eight --max-in-flight 1 -o json" >&2 ||
  fail "hyperfine failed"

# What the 8-host inventory costs in CPU, the client's (hyperfine's user +
# system) and the 8 daemons' (their /proc/PID/stat ticks over as many runs):
# on this machine every "host" shares the client's cores, so the CPU time
# over the number of cores is a floor no concurrency can go below.
field() { # NAME FIELD FILE: hyperfine's mean of FIELD (user, system) for NAME
  awk -v want="$1" -v f="\"$2\":" '
    /"command":/ { cmd = $0; sub(/^[^:]*: *"/, "", cmd); sub(/", *$/, "", cmd) }
    index($0, f) && cmd == want { v = $0; sub(/^[^:]*: */, "", v); sub(/,.*$/, "", v); print v + 0; exit }
  ' "$3"
}
daemon_ticks() {
  for n in $hosts; do
    p=$(tr -dc '0-9' <"$state/peer$n/tree/libvirtd.pid")
    awk '{ print $14 + $15 }' "/proc/$p/stat"
  done | awk '{ s += $1 } END { print s }'
}
before=$(daemon_ticks)
i=0
while [ $i -lt "$runs" ]; do
  "$hyperctl" inventory --group eight -o json >/dev/null || fail "inventory --group eight failed"
  i=$((i + 1))
done
after=$(daemon_ticks)
hz=$(getconf CLK_TCK)
cores=$(getconf _NPROCESSORS_ONLN)
daemon_cpu=$(awk -v a="$before" -v b="$after" -v hz="$hz" -v r="$runs" 'BEGIN { print (b - a) / hz / r }')
client_cpu=$(awk -v u="$(field eight user "$work/times.json")" -v s="$(field eight system "$work/times.json")" 'BEGIN { print u + s }')
serial=$(awk -v want=serial -f "$here/hyperfine-mean.awk" "$work/times.json") ||
  fail "no mean for serial in hyperfine's output"

sum=0
max=0
line=
for n in $hosts; do
  m=$(awk -v want="host$n" -f "$here/hyperfine-mean.awk" "$work/times.json") ||
    fail "no mean for host$n in hyperfine's output"
  sum=$(awk -v a="$sum" -v b="$m" 'BEGIN { print a + b }')
  max=$(awk -v a="$max" -v b="$m" 'BEGIN { print (b > a) ? b : a }')
  line="$line $(awk -v m="$m" 'BEGIN { printf "%.1f", m * 1000 }')"
done
eight=$(awk -v want=eight -f "$here/hyperfine-mean.awk" "$work/times.json") ||
  fail "no mean for eight in hyperfine's output"

# With the stalled host: it must not cost more than its deadline.
"$hyperctl" inventory --group nine --deadline "$deadline" -o json >"$work/nine.json" 2>"$work/nine.err" &&
  fail "inventory --group nine succeeded although a host is stalled"
grep -q '"status": "timeout"' "$work/nine.json" || fail "no timeout row for the stalled host"
[ "$(count "$work/nine.json")" = "$total" ] ||
  fail "with the stalled host, inventory listed $(count "$work/nine.json") of $total domains"
hyperfine -N --runs 3 --export-json "$work/stalled.json" \
  -n nine "$hyperctl inventory --group nine --deadline $deadline --partial-ok -o json" >&2 ||
  fail "hyperfine failed"
nine=$(awk -v want=nine -f "$here/hyperfine-mean.awk" "$work/stalled.json") ||
  fail "no mean for nine in hyperfine's output"

# Hosts a round trip away: the same 8 daemons, each behind a proxy that
# delays every byte by half the round trip in each direction
# (bench/latency_proxy.cpp), as hosts in another room or site would be. Here
# the waiting, not this machine's 2 cores, dominates a host's time, which is
# what concurrency is for.
far_line=
if [ "$rtt" -gt 0 ]; then
  for n in $hosts; do
    "$proxy" $((16510 + n)) $((rtt / 2)) >"$work/proxy$n.port" &
    proxy_pids="$proxy_pids $!"
  done
  far=
  for n in $hosts; do
    i=0
    while [ ! -s "$work/proxy$n.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    port=$(tr -dc '0-9' <"$work/proxy$n.port")
    [ -n "$port" ] || fail "the latency proxy for host $n printed no port"
    printf '[connection far%d]\nuri = qemu+tcp://127.0.0.1:%s/system\n\n' "$n" "$port"
    far="$far${far:+, }far$n"
  done >>"$XDG_CONFIG_HOME/hyperctl/config"
  printf '[group far]\nmembers = %s\n' "$far" >>"$XDG_CONFIG_HOME/hyperctl/config"
  "$hyperctl" inventory --group far -o json >"$work/far.json" 2>"$work/far.err" ||
    fail "inventory --group far failed: $(head -n 1 "$work/far.err")"
  [ "$(count "$work/far.json")" = "$total" ] ||
    fail "inventory --group far listed $(count "$work/far.json") of $total domains"
  set --
  for n in $hosts; do set -- "$@" -n "far$n" "$hyperctl inventory --hosts far$n -o json"; done
  hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/far.times.json" "$@" \
    -n farall "$hyperctl inventory --group far -o json" >&2 || fail "hyperfine failed"
  far_max=0
  for n in $hosts; do
    m=$(awk -v want="far$n" -f "$here/hyperfine-mean.awk" "$work/far.times.json") ||
      fail "no mean for far$n in hyperfine's output"
    far_max=$(awk -v a="$far_max" -v b="$m" 'BEGIN { print (b > a) ? b : a }')
    far_line="$far_line $(awk -v m="$m" 'BEGIN { printf "%.1f", m * 1000 }')"
  done
  far_all=$(awk -v want=farall -f "$here/hyperfine-mean.awk" "$work/far.times.json") ||
    fail "no mean for farall in hyperfine's output"
fi

awk -v line="$line" -v sum="$sum" -v max="$max" -v eight="$eight" -v nine="$nine" \
  -v d="$deadline_ms" -v total="$total" -v serial="$serial" -v dc="$daemon_cpu" \
  -v cc="$client_cpu" -v cores="$cores" 'BEGIN {
  printf "single hosts (ms):%s\n", line
  printf "inventory of 8 hosts, %d VMs: %.1f ms; sum of single hosts %.1f ms (ratio %.2f), slowest single host %.1f ms (ratio %.2f, target <= 1.3)\n", total, eight * 1000, sum * 1000, eight / sum, max * 1000, eight / max
  printf "one host at a time (--max-in-flight 1): %.1f ms; CPU per 8-host inventory: client %.1f ms + daemons %.1f ms, over %d cores a floor of %.1f ms (8-host time / floor %.2f)\n", serial * 1000, cc * 1000, dc * 1000, cores, (cc + dc) * 1000 / cores, eight / ((cc + dc) / cores)
  printf "with one stalled host, deadline %d ms: %.0f ms (%.2f x the deadline, target <= 1.10)\n", d, nine * 1000, nine * 1000 / d
}'
if [ -n "$far_line" ]; then
  awk -v rtt="$rtt" -v line="$far_line" -v max="$far_max" -v all="$far_all" 'BEGIN {
    printf "hosts %d ms away (a delaying proxy in front of each daemon): single hosts (ms):%s; 8 hosts at once %.1f ms, slowest single host %.1f ms (ratio %.2f, target <= 1.3)\n", rtt, line, all * 1000, max * 1000, all / max
  }'
else
  echo "hosts a round trip away: skipped (HYPERCTL_BENCH_RTT_MS=0)"
fi
