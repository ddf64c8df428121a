#!/bin/sh
# Live migration of the same guest by `hyperctl migrate --live` and by
# `virsh migrate --live`, in one run, between the two test-bed hosts, and the
# ratio of their mean wall times (target <= 1.05: hyperctl adds nothing to
# libvirt's own cost).
#
#   bench/migrate_vs_virsh.sh BUILD_DIR        (as root)
#
# Starts (or joins) the main test-bed libvirtd (tests/testbed/libvirtd.sh)
# and the peer (tests/testbed/peer.sh, qemu+tcp://127.0.0.1:16510/system),
# with their state in BUILD_DIR/bench/migrate-state, and stops both on the
# way out (they stay up when another run still uses them). Boots the counter
# guest (tests/testbed/guests/counter.S, TCG, 64 MiB) as
# hyperctl-test-bench-migrate-PID on the main host, then HYPERCTL_BENCH_RUNS
# times (5) alternately:
#   hyperctl -c qemu:///system migrate VM --to qemu+tcp://127.0.0.1:16510/system --live
#   virsh    -c qemu:///system migrate --live --persistent VM qemu+tcp://127.0.0.1:16510/system
# (--persistent: hyperctl defines the VM on the target by default, virsh
# does not; both keep the source definition)
# each timed from the main host to the peer; between two timed moves the guest
# is brought back, untimed, with
#   virsh -c qemu+tcp://127.0.0.1:16510/system migrate --live VM qemu:///system
# Every timed move must leave the guest running on the peer and shut off on
# the source, and its counter must keep going, or the figure means nothing.
#
# Exit status: 0 measured (whatever the ratio); 1 error; 77 skipped: hyperctl
# has no `migrate` command yet, or a test bed is unavailable (not root,
# packages missing).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
testbed=$here/../tests/testbed
runs=${HYPERCTL_BENCH_RUNS:-5}
main=qemu:///system
peer=qemu+tcp://127.0.0.1:16510/system
vm=hyperctl-test-bench-migrate-$$

fail() {
  echo "migrate_vs_virsh.sh: $*" >&2
  exit 1
}
skip() {
  echo "migrate_vs_virsh.sh: skipped: $*" >&2
  exit 77
}

[ $# -eq 1 ] || fail "usage: migrate_vs_virsh.sh BUILD_DIR"
case "$runs" in '' | *[!0-9]*) fail "HYPERCTL_BENCH_RUNS must be a number" ;; esac
[ "$runs" -ge 1 ] || fail "HYPERCTL_BENCH_RUNS must be at least 1"
build=$(cd "$1" 2>/dev/null && pwd) || fail "no build folder '$1'"
hyperctl=$build/bin/hyperctl
[ -x "$hyperctl" ] || fail "$hyperctl not built (cmake --build $1 --target hyperctl-cli)"
[ -e "$build/plugins/libhyperctl-libvirt.so" ] ||
  fail "$build/plugins/libhyperctl-libvirt.so not built (cmake --build $1 --target hyperctl-libvirt)"
HYPERCTL_PLUGIN_PATH=$build/plugins
export HYPERCTL_PLUGIN_PATH
# (An older CLI answers `migrate --help` with its general help.)
if ! "$hyperctl" migrate --help 2>/dev/null | grep -q -- '--to'; then
  skip "$hyperctl has no 'migrate' command yet"
fi
command -v virsh >/dev/null || fail "virsh not found (apt-get install libvirt-clients)"

state=$build/bench/migrate-state
mkdir -p "$state" || fail "cannot create $state"
work=$(mktemp -d) || fail "mktemp failed"
started_main=
started_peer=

cleanup() {
  status=$?
  trap - EXIT INT TERM
  for uri in "$peer" "$main"; do
    virsh -q -c "$uri" destroy "$vm" >/dev/null 2>&1 || true
    virsh -q -c "$uri" undefine "$vm" >/dev/null 2>&1 || true
  done
  if [ -n "$started_peer" ]; then
    "$testbed/peer.sh" stop "$state/peer" >"$work/stop.out" 2>&1 ||
      { cat "$work/stop.out" >&2; [ "$status" != 0 ] || status=1; }
  fi
  if [ -n "$started_main" ]; then
    "$testbed/libvirtd.sh" stop "$state/main" >"$work/stop.out" 2>&1 ||
      { cat "$work/stop.out" >&2; [ "$status" != 0 ] || status=1; }
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The run registered with the test beds is this script.
HYPERCTL_TESTBED_OWNER_PID=$$
export HYPERCTL_TESTBED_OWNER_PID
started_main=yes
rc=0
"$testbed/libvirtd.sh" start "$state/main" >&2 || rc=$?
[ "$rc" = 77 ] && skip "the libvirtd test bed is unavailable: $(cat "$state/main/unavailable" 2>/dev/null)"
[ "$rc" = 0 ] || fail "tests/testbed/libvirtd.sh start failed"
started_peer=yes
rc=0
"$testbed/peer.sh" start "$state/peer" >&2 || rc=$?
[ "$rc" = 77 ] && skip "the peer test bed is unavailable: $(cat "$state/peer/unavailable" 2>/dev/null)"
[ "$rc" = 0 ] || fail "tests/testbed/peer.sh start failed"

# The guest: its disk in a folder both hosts see (not under /var/lib/libvirt).
"$testbed/guests/build.sh" "$testbed/guests/counter.S" "$work/counter.img" ||
  fail "cannot assemble the counter guest"
"$testbed/guests/guest_xml.sh" "$vm" "$work/counter.img" >"$work/vm.xml"
virsh -q -c "$main" define "$work/vm.xml" >/dev/null || fail "cannot define $vm"
virsh -q -c "$main" start "$vm" >/dev/null || fail "cannot start $vm"
sleep 1

state_of() { virsh -q -c "$1" domstate "$vm" 2>/dev/null | head -n 1; }
now_ns() { date +%s%N; }
peer_serial=$state/peer/tree/log/qemu/$vm.serial

back_to_main() {
  virsh -q -c "$peer" migrate --live "$vm" "$main" >"$work/back.out" 2>&1 ||
    fail "moving $vm back to the main host failed: $(head -n 1 "$work/back.out")"
  [ "$(state_of "$main")" = running ] || fail "$vm is not running on the main host after moving it back"
}

# Checks that a timed move landed: running on the peer, shut off here, counting.
check_moved() {
  [ "$(state_of "$peer")" = running ] || fail "$1: $vm is not running on the peer"
  [ "$(state_of "$main")" = "shut off" ] || fail "$1: $vm is '$(state_of "$main")' on the source, not shut off"
  sleep 0.3
  c=$(tail -n 2 "$peer_serial" 2>/dev/null | head -n 1)
  [ -n "$c" ] || fail "$1: nothing on the peer's serial file $peer_serial"
  [ $((0x$c)) -gt 0 ] || fail "$1: the guest's counter does not continue on the peer"
}

timed() {
  label=$1
  shift
  t0=$(now_ns)
  "$@" >"$work/$label.out" 2>&1 || fail "$label failed: $(head -n 3 "$work/$label.out")"
  t1=$(now_ns)
  check_moved "$label"
  echo "$label $(((t1 - t0) / 1000))" >>"$work/times"
  echo "  $label: $(((t1 - t0) / 1000000)) ms" >&2
}

: >"$work/times"
i=1
while [ $i -le "$runs" ]; do
  echo "round $i of $runs" >&2
  # Alternate which tool goes first, so neither always gets the warm cache.
  if [ $((i % 2)) = 1 ]; then order="hyperctl virsh"; else order="virsh hyperctl"; fi
  for tool in $order; do
    [ "$(state_of "$main")" = running ] || back_to_main
    case "$tool" in
      hyperctl) timed hyperctl "$hyperctl" -c "$main" migrate "$vm" --to "$peer" --live ;;
      virsh) timed virsh virsh -q -c "$main" migrate --live --persistent "$vm" "$peer" ;;
    esac
  done
  i=$((i + 1))
done

h=$(awk '$1 == "hyperctl" { s += $2; n++ } END { if (n) printf "%.3f", s / n / 1e6 }' "$work/times")
v=$(awk '$1 == "virsh" { s += $2; n++ } END { if (n) printf "%.3f", s / n / 1e6 }' "$work/times")
[ -n "$h" ] && [ -n "$v" ] || fail "no timings"
ratio=$(awk -v h="$h" -v v="$v" 'BEGIN { printf "%.2f", h / v }')
echo "live migration of a 64 MiB TCG guest to the peer, mean of $runs: hyperctl $h s, virsh $v s, ratio X/Y = $ratio (target <= 1.05)"
