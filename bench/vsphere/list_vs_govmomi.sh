#!/bin/sh
# Lists the VMs of a simulated vCenter with hyperctl and with a govmomi
# program listing the same shown fields (name, instance UUID, power state,
# vCPUs, memory, host), in the same hyperfine run, for 100, 1,000 and 10,000
# VMs; prints both mean times and their ratio, both peak RSS, the SOAP bytes
# per VM hyperctl received, and its HTTP requests (HYPERCTL_TRACE=1): only
# the pages (ContinueRetrievePropertiesEx, one per 1,000 objects) may grow
# with the VM count.
#
#   bench/vsphere/list_vs_govmomi.sh BUILD_DIR
#
# Needs, from BUILD_DIR: bin/hyperctl, plugins/libhyperctl-vsphere.so,
# tests/vsphere/hyperctl-vcsim and bench/vsphere/list-govmomi
#   cmake --build BUILD_DIR -j2 --target hyperctl-cli hyperctl-vsphere vsphere-vcsim vsphere-list-govmomi
# hyperfine and GNU time (/usr/bin/time). Exits non-zero on errors (a
# missing part, a listing that fails or misses VMs), never because of a figure.
# HYPERCTL_BENCH_VMS: the sizes ("100 1000 10000"; multiples of 4: the simulated
# vCenter has 4 hosts, each with a quarter of the VMs); HYPERCTL_BENCH_RUNS:
# timed runs per program and size (10).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
sizes=${HYPERCTL_BENCH_VMS:-100 1000 10000}
runs=${HYPERCTL_BENCH_RUNS:-10}

fail() {
  echo "list_vs_govmomi.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] || fail "usage: list_vs_govmomi.sh BUILD_DIR"
build=$(cd "$1" 2>/dev/null && pwd) || fail "no build folder '$1'"
hyperctl=$build/bin/hyperctl
vcsim=$build/tests/vsphere/hyperctl-vcsim
govmomi=$build/bench/vsphere/list-govmomi
targets="hyperctl-cli hyperctl-vsphere vsphere-vcsim vsphere-list-govmomi"
for f in "$hyperctl" "$build/plugins/libhyperctl-vsphere.so" "$vcsim" "$govmomi"; do
  [ -e "$f" ] || fail "$f not built (cmake --build $1 -j2 --target $targets; Go: scripts/deps.sh)"
done
command -v hyperfine >/dev/null || fail "hyperfine not found (apt-get install hyperfine)"
[ -x /usr/bin/time ] || fail "/usr/bin/time not found (apt-get install time)"

# Peak resident set of a command, in MiB (GNU time's %M is in KiB).
peak_mib() {
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>"$work/rss.err" ||
    fail "$1 failed while measuring its memory: $(head -n 1 "$work/rss.err")"
  awk '{ printf "%.1f", $1 / 1024 }' "$work/rss"
}

work=$(mktemp -d) || fail "mktemp failed"
started=""
cleanup() {
  for s in $started; do HYPERCTL_VCSIM=$vcsim "$src/tests/vsphere/vcsim.sh" stop "$s" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

HYPERCTL_PLUGIN_PATH=$build/plugins
export HYPERCTL_PLUGIN_PATH

# Distinct simulator VM names (DC0_H<host>_VM<n>) in a file.
count() { grep -o 'DC0_H[0-9]*_VM[0-9]*' "$1" | sort -u | wc -l | tr -d ' '; }

summary=""
for n in $sizes; do
  if [ "$n" -le 0 ] || [ $((n % 4)) -ne 0 ]; then
    fail "HYPERCTL_BENCH_VMS: $n is not a positive multiple of 4"
  fi
  state=$work/sim-$n
  started="$started $state"
  HYPERCTL_VCSIM=$vcsim HYPERCTL_VCSIM_WAIT=$((10 + n / 100)) \
    "$src/tests/vsphere/vcsim.sh" start "$state" -mode vpx -hosts 4 \
    -clusters 0 -vms $((n / 4)) >/dev/null || fail "the simulator did not start ($state/vcsim.log)"
  # HYPERCTL_TEST_VSPHERE_URI (pinned thumbprint), _SDK, HYPERCTL_PASSWORD
  eval "$(HYPERCTL_VCSIM=$vcsim "$src/tests/vsphere/vcsim.sh" env "$state")"
  export HYPERCTL_PASSWORD
  uri=$HYPERCTL_TEST_VSPHERE_URI
  tp=${uri##*thumbprint=}

  "$hyperctl" -c "$uri" list -o json >"$work/hyperctl.out" 2>"$work/hyperctl.err" ||
    fail "hyperctl -c $uri list -o json failed: $(head -n 1 "$work/hyperctl.err")"
  "$govmomi" -url "$HYPERCTL_TEST_VSPHERE_SDK" -user hyper -thumbprint "$tp" \
    >"$work/govmomi.out" 2>"$work/govmomi.err" ||
    fail "list-govmomi failed: $(head -n 1 "$work/govmomi.err")"
  [ "$(count "$work/hyperctl.out")" = "$n" ] || fail "hyperctl listed $(count "$work/hyperctl.out") of $n VMs"
  [ "$(count "$work/govmomi.out")" = "$n" ] || fail "list-govmomi listed $(count "$work/govmomi.out") of $n VMs"

  HYPERCTL_TRACE=1 "$hyperctl" -c "$uri" list -o json >/dev/null 2>"$work/trace" ||
    fail "hyperctl list with HYPERCTL_TRACE=1 failed"
  requests=$(grep -c '^hyperctl: trace:' "$work/trace" || true)
  calls=$(sed -n 's/^hyperctl: trace: vsphere POST \/sdk \([A-Za-z_]*\) .*/\1/p' "$work/trace" | paste -sd' ' -)
  pages=$(grep -c ' ContinueRetrievePropertiesEx ' "$work/trace" || true)
  # The answers' bytes of RetrievePropertiesEx and its pages, per VM.
  per_vm=$(awk -v n="$n" '/ (Continue)?RetrievePropertiesEx 200 / {
      for (i = 1; i < NF; i++) if ($(i + 1) == "B") b += $i }
    END { printf "%.0f", b / n }' "$work/trace")
  grep -q "$HYPERCTL_PASSWORD" "$work/trace" && fail "the password appears in the trace"
  rss_h=$(peak_mib "$hyperctl" -c "$uri" list -o json)
  rss_g=$(peak_mib "$govmomi" -url "$HYPERCTL_TEST_VSPHERE_SDK" -user hyper -thumbprint "$tp")

  hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/times-$n.json" \
    -n hyperctl "$hyperctl -c $uri list -o json" \
    -n govmomi "$govmomi -url $HYPERCTL_TEST_VSPHERE_SDK -user hyper -thumbprint $tp" >&2 ||
    fail "hyperfine failed"
  h=$(awk -v want=hyperctl -f "$src/bench/hyperfine-mean.awk" "$work/times-$n.json") ||
    fail "no mean for hyperctl in hyperfine's output"
  g=$(awk -v want=govmomi -f "$src/bench/hyperfine-mean.awk" "$work/times-$n.json") ||
    fail "no mean for govmomi in hyperfine's output"
  line=$(awk -v n="$n" -v h="$h" -v g="$g" -v r="$requests" -v c="$calls" -v b="$per_vm" \
    -v mh="$rss_h" -v mg="$rss_g" 'BEGIN {
    printf "list %d VMs: hyperctl %.3f s, govmomi %.3f s, ratio %.2f (target <= 0.8); SOAP %d B per VM (target <= 1536); peak RSS hyperctl %s MiB, govmomi %s MiB; hyperctl HTTP requests: %d (%s)\n",
      n, h, g, h / g, b, mh, mg, r, c }')
  echo "$line"
  summary="$summary $((requests - pages))"
  HYPERCTL_VCSIM=$vcsim "$src/tests/vsphere/vcsim.sh" stop "$state" >/dev/null
done

first=${summary# }
first=${first%% *}
constant=yes
for r in $summary; do [ "$r" = "$first" ] || constant=no; done
echo "hyperctl's requests other than pages across sizes:$summary (constant: $constant)"
