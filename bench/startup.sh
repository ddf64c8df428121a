#!/bin/sh
# Start-up cost of the CLI: the mean time of `hyperctl version` over many
# runs (no shell in between), with `virsh --version` timed in the same run for
# reference.
#
#   bench/startup.sh BUILD_DIR
#
# Exits non-zero on errors, never because of the figure.
# HYPERCTL_BENCH_RUNS sets the number of timed runs (200).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
runs=${HYPERCTL_BENCH_RUNS:-200}

fail() {
  echo "startup.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] || fail "usage: startup.sh BUILD_DIR"
build=$(cd "$1" 2>/dev/null && pwd) || fail "no build folder '$1'"
hyperctl=$build/bin/hyperctl
[ -x "$hyperctl" ] || fail "$hyperctl not built (cmake --build $1 --target hyperctl-cli)"
command -v virsh >/dev/null || fail "virsh not found (apt-get install libvirt-clients)"
command -v hyperfine >/dev/null || fail "hyperfine not found (apt-get install hyperfine)"
"$hyperctl" version >/dev/null 2>&1 || fail "$hyperctl version failed"

work=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$work"' EXIT INT TERM

hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/times.json" \
  -n hyperctl "$hyperctl version" \
  -n virsh "virsh --version" \
  -n true "true" >&2 ||
  fail "hyperfine failed"

mean_ms() {
  m=$(awk -v want="$1" -f "$here/hyperfine-mean.awk" "$work/times.json") ||
    fail "no mean for $1 in hyperfine's output"
  awk -v m="$m" 'BEGIN { printf "%.2f", m * 1000 }'
}
h=$(mean_ms hyperctl)
v=$(mean_ms virsh)
t=$(mean_ms true)
echo "hyperctl version: $h ms (target < 10 ms)"
echo "virsh --version: $v ms (reference; starting /bin/true costs $t ms here)"
