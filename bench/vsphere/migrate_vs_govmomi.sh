#!/bin/sh
# Moves a VM whose disk is half zeros, half random bytes from the test bed's
# real libvirtd to a simulated vCenter with `hyperctl migrate --offline`, and
# the manual way (qemu-img convert to a streamOptimized VMDK, then govmomi's
# own import of it: bench/vsphere/import-govmomi), in the same hyperfine
# run; prints both mean times and their ratio (issue 15's target: <= 1.2),
# and hyperctl's peak RSS migrating a disk of HYPERCTL_BENCH_DISK_MIB and of
# a quarter of it (target: <= 64 MiB whatever the size: streamed, never the
# whole disk in memory).
#
#   bench/vsphere/migrate_vs_govmomi.sh BUILD_DIR
#
# Needs root (tests/testbed/libvirtd.sh starts the test bed's libvirtd), from
# BUILD_DIR bin/hyperctl, the libvirt and vSphere plugins,
# tests/vsphere/hyperctl-vcsim and bench/vsphere/import-govmomi
#   cmake --build BUILD_DIR -j2 --target hyperctl-cli hyperctl-libvirt hyperctl-vsphere vsphere-vcsim vsphere-import-govmomi
# qemu-img, hyperfine and GNU time. HYPERCTL_BENCH_DISK_MIB: the disk's size
# (2048); HYPERCTL_BENCH_RUNS: timed runs per side (3). Exits non-zero on
# errors, never because of a figure.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
mib=${HYPERCTL_BENCH_DISK_MIB:-2048}
runs=${HYPERCTL_BENCH_RUNS:-3}

fail() {
  echo "migrate_vs_govmomi.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] || fail "usage: migrate_vs_govmomi.sh BUILD_DIR"
build=$(cd "$1" 2>/dev/null && pwd) || fail "no build folder '$1'"
hyperctl=$build/bin/hyperctl
vcsim=$build/tests/vsphere/hyperctl-vcsim
govmomi=$build/bench/vsphere/import-govmomi
targets="hyperctl-cli hyperctl-libvirt hyperctl-vsphere vsphere-vcsim vsphere-import-govmomi"
for f in "$hyperctl" "$build/plugins/libhyperctl-libvirt.so" "$build/plugins/libhyperctl-vsphere.so" \
  "$vcsim" "$govmomi"; do
  [ -e "$f" ] || fail "$f not built (cmake --build $1 -j2 --target $targets)"
done
for p in qemu-img hyperfine; do
  command -v "$p" >/dev/null || fail "$p not found (scripts/deps.sh)"
done
[ -x /usr/bin/time ] || fail "/usr/bin/time not found (apt-get install time)"
[ "$mib" -ge 16 ] && [ $((mib % 8)) -eq 0 ] || fail "HYPERCTL_BENCH_DISK_MIB: $mib is not a multiple of 8 >= 16"

work=$(mktemp -d) || fail "mktemp failed"
vm=hyperctl-test-bench-xf-$$
cleanup() {
  "$hyperctl" -c qemu:///system delete "$vm" --with-storage --force >/dev/null 2>&1 || true
  "$hyperctl" -c qemu:///system delete "$vm-small" --with-storage --force >/dev/null 2>&1 || true
  HYPERCTL_VCSIM=$vcsim "$src/tests/vsphere/vcsim.sh" stop "$work/sim" >/dev/null 2>&1 || true
  "$src/tests/testbed/libvirtd.sh" stop "$work/lv" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

HYPERCTL_PLUGIN_PATH=$build/plugins
HYPERCTL_STATE_DIR=$work/state
HYPERCTL_TESTBED_OWNER_PID=$$
export HYPERCTL_PLUGIN_PATH HYPERCTL_STATE_DIR HYPERCTL_TESTBED_OWNER_PID

"$src/tests/testbed/libvirtd.sh" start "$work/lv" >&2 || fail "the test bed's libvirtd did not start"
HYPERCTL_VCSIM=$vcsim "$src/tests/vsphere/vcsim.sh" start "$work/sim" -mode vpx -hosts 1 \
  -clusters 0 -vms 0 >/dev/null || fail "the simulator did not start"
eval "$(HYPERCTL_VCSIM=$vcsim "$src/tests/vsphere/vcsim.sh" env "$work/sim")"
export HYPERCTL_PASSWORD
uri=$HYPERCTL_TEST_VSPHERE_URI
tp=${uri##*thumbprint=}
sdk=$HYPERCTL_TEST_VSPHERE_SDK

# A VM on libvirt whose raw disk is N MiB: random bytes, then zeros (sparse).
make_vm() { # NAME MIB
  head -c $(($2 / 2))M /dev/urandom >"$work/$1.raw"
  truncate -s "$2M" "$work/$1.raw"
  "$hyperctl" -c qemu:///system volume upload "default/$1.img" "$work/$1.raw" >/dev/null ||
    fail "cannot upload the disk of $1"
  rm -f "$work/$1.raw"
  "$hyperctl" -c qemu:///system create --name "$1" --vcpus 2 --memory 512MiB \
    --disk "vol:default/$1.img" >/dev/null || fail "cannot create $1"
}
make_vm "$vm" "$mib"
make_vm "$vm-small" $((mib / 4))
img=/var/lib/libvirt/images/$vm.img
[ -r "$img" ] || fail "$img is not readable here (the manual way reads the volume's file)"

ours="$hyperctl -c qemu:///system migrate $vm --to $uri --offline --target-pool LocalDS_0"
ours_reset="$hyperctl -c $uri delete $vm --with-storage --force"
manual="sh -c 'qemu-img convert -f raw -O vmdk -o subformat=streamOptimized $img $work/d.vmdk && \
$govmomi -url $sdk -user hyper -thumbprint $tp -datastore LocalDS_0 $work/d.vmdk'"
# import-govmomi's VM (and, on the simulator, its disk: see its main.go) is
# gone when it returns; only the local VMDK is left to remove.
manual_reset="rm -f $work/d.vmdk"

# Once each, checked, before the timing.
$ours >/dev/null 2>"$work/err" || fail "hyperctl migrate failed: $(head -n 1 "$work/err")"
sim_flat=$(ls "$work"/sim/tmp/govcsim-*/"$vm-disk0-flat.vmdk" 2>/dev/null | head -n 1)
[ -n "$sim_flat" ] && cmp -s "$sim_flat" "$img" || fail "the migrated disk differs from the source"
$ours_reset >/dev/null
eval "$manual" >/dev/null 2>"$work/err" || fail "the manual way failed: $(head -n 1 "$work/err")"
$manual_reset

hyperfine -N --runs "$runs" --export-json "$work/times.json" \
  --prepare "$manual_reset" -n manual "$manual" \
  --prepare "sh -c '$ours_reset >/dev/null 2>&1; true'" -n hyperctl "$ours" >&2 ||
  fail "hyperfine failed"
h=$(awk -v want=hyperctl -f "$src/bench/hyperfine-mean.awk" "$work/times.json") ||
  fail "no mean for hyperctl in hyperfine's output"
m=$(awk -v want=manual -f "$src/bench/hyperfine-mean.awk" "$work/times.json") ||
  fail "no mean for the manual way in hyperfine's output"

# Peak memory of hyperctl for the disk and for a quarter of it.
peak_mib() {
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>"$work/rss.err" ||
    fail "$1 failed while measuring its memory: $(head -n 1 "$work/rss.err")"
  awk '{ printf "%.1f", $1 / 1024 }' "$work/rss"
}
$ours_reset >/dev/null 2>&1 || true
rss=$(peak_mib $ours)
rss_small=$(peak_mib "$hyperctl" -c qemu:///system migrate "$vm-small" --to "$uri" --offline \
  --target-pool LocalDS_0)
awk -v n="$mib" -v h="$h" -v m="$m" -v r="$rss" -v rs="$rss_small" -v q=$((mib / 4)) 'BEGIN {
  printf "migrate a %d MiB disk KVM -> vSphere simulator: hyperctl %.2f s, qemu-img + govmomi import %.2f s, ratio %.2f (target <= 1.2); peak RSS hyperctl %s MiB (%d MiB disk: %s MiB; target <= 64)\n",
    n, h, m, h / m, r, q, rs }'
