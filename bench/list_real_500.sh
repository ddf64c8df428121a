#!/bin/sh
# Lists 500 defined (inactive) domains on a real system-mode libvirtd with
# hyperctl, against `virsh domstats` (the same bulk API) in the same hyperfine
# run, then against one `virsh dominfo` per domain; prints both ratios.
#
#   bench/list_real_500.sh BUILD_DIR
#
# Starts (or joins) the test-bed daemon through tests/testbed/libvirtd.sh
# (TESTBEDS.md §2; needs root), defines the domains hyperctl-bench-NNNN
# (type='qemu', 64 MiB, one qcow2 disk shared by all of them, so libvirt reads
# a real image header for each), and always undefines them and calls
# `libvirtd.sh stop` on the way out, failure and Ctrl-C included.
#
# Exits non-zero on errors (missing tools, a daemon that does not start, a
# listing that misses domains), never because of a ratio; 77 when the test bed
# is unavailable here (not root, packages missing).
# HYPERCTL_BENCH_DOMAINS overrides the number of domains (500),
# HYPERCTL_BENCH_RUNS the number of timed runs of the two bulk listings (10),
# HYPERCTL_BENCH_DOMINFO_RUNS those of the per-domain dominfo loop (3; one run
# takes about 10 s).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
testbed=$here/../tests/testbed/libvirtd.sh
n=${HYPERCTL_BENCH_DOMAINS:-500}
runs=${HYPERCTL_BENCH_RUNS:-10}
dominfo_runs=${HYPERCTL_BENCH_DOMINFO_RUNS:-3}
uri=qemu:///system
prefix='hyperctl-bench-'

fail() {
  echo "list_real_500.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] || fail "usage: list_real_500.sh BUILD_DIR"
case "$n$runs$dominfo_runs" in
  *[!0-9]*) fail "HYPERCTL_BENCH_DOMAINS, _RUNS and _DOMINFO_RUNS must be numbers" ;;
esac
if [ "$n" -lt 1 ] || [ "$n" -gt 9999 ]; then fail "HYPERCTL_BENCH_DOMAINS must be 1..9999, got $n"; fi
build=$(cd "$1" 2>/dev/null && pwd) || fail "no build folder '$1'"
hyperctl=$build/bin/hyperctl
[ -x "$hyperctl" ] || fail "$hyperctl not built (cmake --build $1 --target hyperctl-cli)"
[ -e "$build/plugins/libhyperctl-libvirt.so" ] ||
  fail "$build/plugins/libhyperctl-libvirt.so not built (cmake --build $1 --target hyperctl-libvirt)"
for prog in virsh hyperfine qemu-img; do
  command -v "$prog" >/dev/null || fail "$prog not found (apt-get install libvirt-clients hyperfine qemu-utils)"
done
[ -x "$testbed" ] || fail "$testbed not found"

work=$(mktemp -d) || fail "mktemp failed"
state=$work/libvirtd-state
started=

# Names of our domains on the daemon, one a line.
bench_domains() {
  virsh -q -c "$uri" list --all --name 2>/dev/null | grep "^$prefix" || true
}

# Undefines every hyperctl-bench-* domain in one virsh session.
undefine_all() {
  bench_domains | sed 's/^/undefine /' >"$work/undefine.cmds"
  [ -s "$work/undefine.cmds" ] || return 0
  virsh -q -c "$uri" <"$work/undefine.cmds" >/dev/null 2>"$work/undefine.err" || true
  left=$(bench_domains | wc -l | tr -d ' ')
  [ "$left" = 0 ] || echo "list_real_500.sh: $left $prefix* domains could not be undefined: $(head -n 1 "$work/undefine.err")" >&2
}

cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ -n "$started" ]; then
    undefine_all
    "$testbed" stop "$state" >"$work/stop.out" 2>&1 ||
      { cat "$work/stop.out" >&2; [ "$status" != 0 ] || status=1; }
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The run registered with the test bed is this script (not a subshell).
HYPERCTL_TESTBED_OWNER_PID=$$
export HYPERCTL_TESTBED_OWNER_PID
started=yes
rc=0
"$testbed" start "$state" >&2 || rc=$?
if [ "$rc" = 77 ]; then
  echo "list_real_500.sh: skipped, the libvirtd test bed is unavailable here" >&2
  exit 77
fi
[ "$rc" = 0 ] || fail "tests/testbed/libvirtd.sh start failed"

# Left over by a run that was killed before its clean-up.
if [ -n "$(bench_domains)" ]; then
  echo "list_real_500.sh: removing $(bench_domains | wc -l | tr -d ' ') leftover $prefix* domains" >&2
  undefine_all
fi

# Inactive domains accept a missing disk file, but then libvirt reports no
# capacity or allocation and skips the work of opening the image: give them
# all one real (empty) qcow2 instead.
disk=$work/disk.qcow2
qemu-img create -q -f qcow2 "$disk" 64M || fail "qemu-img create $disk failed"
mkdir "$work/xml"
awk -v n="$n" -v prefix="$prefix" -v dir="$work/xml" -v disk="$disk" 'BEGIN {
  for (i = 1; i <= n; i++) {
    name = sprintf("%s%04d", prefix, i)
    f = dir "/" name ".xml"
    printf "<domain type=\"qemu\">\n" >f
    printf "  <name>%s</name>\n", name >f
    printf "  <uuid>68797065-7263-4000-8000-%012x</uuid>\n", i >f
    printf "  <memory unit=\"MiB\">64</memory>\n" >f
    printf "  <vcpu>1</vcpu>\n" >f
    printf "  <os><type arch=\"x86_64\">hvm</type></os>\n" >f
    printf "  <devices>\n" >f
    printf "    <disk type=\"file\" device=\"disk\"><driver name=\"qemu\" type=\"qcow2\"/><source file=\"%s\"/><target dev=\"vda\" bus=\"virtio\"/></disk>\n", disk >f
    printf "  </devices>\n" >f
    printf "</domain>\n" >f
    close(f)
    print "define " f
  }
}' >"$work/define.cmds"
# One virsh session for all of them: ~1 ms a domain here, against ~12 ms for a
# virsh process per domain.
virsh -q -c "$uri" <"$work/define.cmds" >/dev/null 2>"$work/define.err" || true
defined=$(bench_domains | wc -l | tr -d ' ')
[ "$defined" = "$n" ] ||
  fail "defined $defined of $n domains: $(head -n 1 "$work/define.err")"
total=$(virsh -q -c "$uri" list --all --name | grep -c . || true)
[ "$total" = "$n" ] ||
  echo "list_real_500.sh: note: the daemon holds $total domains ($n ours); both sides list them all" >&2

HYPERCTL_PLUGIN_PATH=$build/plugins
export HYPERCTL_PLUGIN_PATH

# Both must see every domain, or the timing means nothing.
count() { grep -o "\"${prefix}[0-9]*\"" "$1" | sort -u | wc -l | tr -d ' '; }
"$hyperctl" -c "$uri" list -o json >"$work/hyperctl.out" 2>"$work/hyperctl.err" ||
  fail "hyperctl -c $uri list -o json failed: $(head -n 1 "$work/hyperctl.err")"
[ "$(count "$work/hyperctl.out")" = "$n" ] ||
  fail "hyperctl listed $(count "$work/hyperctl.out") of $n domains"
grep -q '"capacity_bytes": *67108864' "$work/hyperctl.out" ||
  fail "hyperctl's listing has no disk capacity (block statistics missing?)"
domstats="virsh -c $uri domstats --state --balloon --vcpu --block"
$domstats >"$work/virsh.out" 2>"$work/virsh.err" ||
  fail "$domstats failed: $(head -n 1 "$work/virsh.err")"
[ "$(grep -c "^Domain: '$prefix" "$work/virsh.out")" = "$n" ] ||
  fail "virsh domstats listed $(grep -c "^Domain: '$prefix" "$work/virsh.out") of $n domains"

# The peer without a bulk API: one process and one virDomainGetInfo per domain.
bench_domains >"$work/names"
# shellcheck disable=SC2016 # $d is expanded by the loop, not here
{
  echo 'while read -r d; do virsh -c '"$uri"' dominfo "$d" >/dev/null || exit 1; done <'"$work/names"
} >"$work/dominfo.sh"
sh "$work/dominfo.sh" || fail "virsh dominfo failed for some domain"

hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/times.json" \
  -n hyperctl "$hyperctl -c $uri list -o json" \
  -n domstats "$domstats" >&2 ||
  fail "hyperfine failed"
hyperfine -N --warmup 0 --runs "$dominfo_runs" --export-json "$work/dominfo.json" \
  -n dominfo "sh $work/dominfo.sh" >&2 ||
  fail "hyperfine failed (dominfo loop)"

h=$(awk -v want=hyperctl -f "$here/hyperfine-mean.awk" "$work/times.json") ||
  fail "no mean for hyperctl in hyperfine's output"
v=$(awk -v want=domstats -f "$here/hyperfine-mean.awk" "$work/times.json") ||
  fail "no mean for virsh domstats in hyperfine's output"
d=$(awk -v want=dominfo -f "$here/hyperfine-mean.awk" "$work/dominfo.json") ||
  fail "no mean for the dominfo loop in hyperfine's output"
awk -v n="$n" -v h="$h" -v v="$v" -v d="$d" 'BEGIN {
  printf "list %d defined domains (real libvirtd): hyperctl %.4f s, virsh domstats %.4f s, ratio X/Y = %.2f (target <= 1.5); per-domain virsh dominfo %.2f s, hyperctl is %.0f x faster (target >= 10)\n", n, h, v, h / v, d, d / h
}'
