#!/bin/sh
# Lists 2,000 domains of a libvirt test-driver host with hyperctl and with
# virsh, in the same run, and prints the ratio of their mean times.
#
#   bench/list_vs_virsh.sh BUILD_DIR
#
# Needs BUILD_DIR/bin/hyperctl and the libvirt plugin in BUILD_DIR/plugins,
# virsh and hyperfine. Exits non-zero on errors (missing tools, a listing that
# fails or misses domains), never because of the ratio.
# HYPERCTL_BENCH_DOMAINS overrides the number of domains; HYPERCTL_BENCH_RUNS
# the number of timed runs (10).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
n=${HYPERCTL_BENCH_DOMAINS:-2000}
runs=${HYPERCTL_BENCH_RUNS:-10}

fail() {
  echo "list_vs_virsh.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] || fail "usage: list_vs_virsh.sh BUILD_DIR"
build=$(cd "$1" 2>/dev/null && pwd) || fail "no build folder '$1'"
hyperctl=$build/bin/hyperctl
[ -x "$hyperctl" ] || fail "$hyperctl not built (cmake --build $1 --target hyperctl-cli)"
[ -e "$build/plugins/libhyperctl-libvirt.so" ] ||
  fail "$build/plugins/libhyperctl-libvirt.so not built (cmake --build $1 --target hyperctl-libvirt)"
command -v virsh >/dev/null || fail "virsh not found (apt-get install libvirt-clients)"
command -v hyperfine >/dev/null || fail "hyperfine not found (apt-get install hyperfine)"

work=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$work"' EXIT INT TERM
node=$work/node.xml
"$here/gen-test-node.sh" "$n" "$node"
uri="test://$node"

# The plugin of this build, whatever folder the binary was configured for.
HYPERCTL_PLUGIN_PATH=$build/plugins
export HYPERCTL_PLUGIN_PATH

# Both must list every domain, or the timing means nothing.
count() { grep -o 'bench-vm-[0-9]*' "$1" | sort -u | wc -l | tr -d ' '; }
"$hyperctl" -c "$uri" list -o json >"$work/hyperctl.out" 2>"$work/hyperctl.err" ||
  fail "hyperctl -c $uri list -o json failed: $(head -n 1 "$work/hyperctl.err")"
virsh -c "$uri" list --all >"$work/virsh.out" 2>"$work/virsh.err" ||
  fail "virsh -c $uri list --all failed: $(head -n 1 "$work/virsh.err")"
[ "$(count "$work/hyperctl.out")" = "$n" ] ||
  fail "hyperctl listed $(count "$work/hyperctl.out") of $n domains"
[ "$(count "$work/virsh.out")" = "$n" ] || fail "virsh listed $(count "$work/virsh.out") of $n domains"

hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/times.json" \
  -n hyperctl "$hyperctl -c $uri list -o json" \
  -n virsh "virsh -c $uri list --all" >&2 ||
  fail "hyperfine failed"

h=$(awk -v want=hyperctl -f "$here/hyperfine-mean.awk" "$work/times.json") ||
  fail "no mean for hyperctl in hyperfine's output"
v=$(awk -v want=virsh -f "$here/hyperfine-mean.awk" "$work/times.json") ||
  fail "no mean for virsh in hyperfine's output"
awk -v n="$n" -v h="$h" -v v="$v" 'BEGIN {
  printf "list %d domains: hyperctl %.3f s, virsh %.3f s, ratio %.2f (target <= 1.1)\n", n, h, v, h / v
}'
