#!/bin/sh
# CTest testbed.peer.migrates_counter_guest: proves the two-host test bed.
#
#   migrate_test.sh MAIN_STATE PEER_STATE COUNTER_IMG DIRTY_IMG
#
# 1. The counter guest, started on the main daemon (qemu:///system), is
#    live-migrated with `virsh migrate --live` to the peer
#    (qemu+tcp://127.0.0.1:16510/system; no migration URI: the peer
#    advertises 127.0.0.2 for the memory stream, see peer.sh). It must
#    be running on the peer, shut off on the source, and the count on the
#    peer's serial file must continue from where the source's stopped.
# 2. The dirty guest, migrated at --bandwidth 1 (MiB/s), must still have data
#    remaining after 2 s (a "middle"); `virsh domjobabort` must leave it
#    running on the source and absent on the peer.
#
# Exit status: 0 passed; 1 failed; 77 a test bed is unavailable (skip).
set -u

MAIN=${HYPERCTL_TEST_QEMU_URI:-qemu:///system}
PEER=${HYPERCTL_TEST_PEER_URI:-qemu+tcp://127.0.0.1:16510/system}
main_state=$1
peer_state=$2
counter_img=$3
dirty_img=$4
here=$(dirname "$0")
counter=hyperctl-test-counter-$$
dirty=hyperctl-test-dirty-$$

for f in "$main_state/unavailable" "$peer_state/unavailable"; do
  if [ -r "$f" ]; then
    echo "skipped: test bed unavailable: $(cat "$f")"
    exit 77
  fi
done
for uri in "$MAIN" "$PEER"; do
  virsh -q -c "$uri" uri >/dev/null 2>&1 || {
    echo "skipped: $uri does not answer (start tests/testbed/libvirtd.sh and peer.sh)"
    exit 77
  }
done
peer_log=$peer_state/tree/log/qemu

remove() {
  for uri in "$PEER" "$MAIN"; do
    virsh -q -c "$uri" destroy "$1" >/dev/null 2>&1
    virsh -q -c "$uri" undefine "$1" >/dev/null 2>&1
  done
}
cleanup() {
  remove "$counter"
  remove "$dirty"
  rm -f "/var/log/libvirt/qemu/$counter.serial" "/var/log/libvirt/qemu/$dirty.serial" \
    "$peer_log/$counter.serial" "$peer_log/$dirty.serial"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAILED: $*" >&2
  exit 1
}

# Last complete line of file $1 (the last one may be half written).
last_line() {
  tail -n 2 "$1" 2>/dev/null | head -n 1
}

state_of() {
  virsh -q -c "$1" domstate "$2" 2>/dev/null | head -n 1
}

start_guest() {
  xml=$(mktemp) || fail "mktemp"
  "$here/guest_xml.sh" "$1" "$2" >"$xml" || fail "guest_xml.sh $1"
  virsh -q -c "$MAIN" define "$xml" >/dev/null || fail "cannot define $1"
  rm -f "$xml"
  virsh -q -c "$MAIN" start "$1" >/dev/null || fail "cannot start $1"
}

# --- 1. counter guest: live migration keeps its state ---------------------
start_guest "$counter" "$counter_img"
src_serial=/var/log/libvirt/qemu/$counter.serial
i=0
while [ "$(wc -l <"$src_serial" 2>/dev/null || echo 0)" -lt 200 ] && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
before=$(last_line "$src_serial")
[ -n "$before" ] || fail "the counter guest wrote nothing to $src_serial"
echo "counter on the source before migrating: 0x$before"

t0=$(date +%s%N)
virsh -q -c "$MAIN" migrate --live "$counter" "$PEER" || fail "virsh migrate --live failed"
t1=$(date +%s%N)
echo "virsh migrate --live took $(((t1 - t0) / 1000000)) ms"

s=$(state_of "$PEER" "$counter")
[ "$s" = running ] || fail "on the peer the guest is '$s', not running"
s=$(state_of "$MAIN" "$counter")
[ "$s" = "shut off" ] || fail "on the source the guest is '$s', not shut off"
echo "after migrating: running on the peer, shut off on the source"

sleep 1
[ -r "$peer_log/$counter.serial" ] || fail "no serial file on the peer at $peer_log/$counter.serial"
# The guest may have been paused mid-line: then the source's log ends with
# part of a line and the peer's starts with the rest. Compare whole lines.
if [ -n "$(tail -c 1 "$src_serial")" ]; then
  src_last=$(tail -n 2 "$src_serial" | head -n 1)
  peer_first=$(sed -n 2p "$peer_log/$counter.serial")
else
  src_last=$(tail -n 1 "$src_serial")   # final: the source QEMU is gone
  peer_first=$(head -n 1 "$peer_log/$counter.serial")
fi
peer_last=$(last_line "$peer_log/$counter.serial")
echo "source serial ends at 0x$src_last; peer serial $peer_log/$counter.serial goes 0x$peer_first .. 0x$peer_last"
[ -n "$peer_first" ] && [ -n "$peer_last" ] || fail "the peer's serial file is empty"
[ $((0x$peer_first)) -gt 0 ] || fail "the count restarted from zero on the peer"
[ $((0x$peer_first)) -ge $((0x$before)) ] || fail "the peer's count (0x$peer_first) is below the source's (0x$before)"
[ $((0x$peer_first)) -le $((0x$src_last + 2)) ] || fail "the peer's count (0x$peer_first) skipped ahead of the source's last (0x$src_last)"
[ $((0x$peer_last)) -gt $((0x$peer_first)) ] || fail "the count does not advance on the peer"
remove "$counter"

# --- 2. dirty guest: a migration with a middle, aborted -------------------
start_guest "$dirty" "$dirty_img"
i=0
until grep -q "protected mode" "/var/log/libvirt/qemu/$dirty.serial" 2>/dev/null || [ $i -ge 50 ]; do
  sleep 0.1
  i=$((i + 1))
done
grep -q "protected mode" "/var/log/libvirt/qemu/$dirty.serial" || fail "the dirty guest did not reach protected mode"
out=$(mktemp) || fail "mktemp"
virsh -q -c "$MAIN" migrate --live --bandwidth 1 "$dirty" "$PEER" >"$out" 2>&1 &
mig=$!
sleep 2
info=$(virsh -q -c "$MAIN" domjobinfo "$dirty" 2>&1)
remaining=$(printf '%s\n' "$info" | awk -F: '$1 == "Data remaining" { gsub(/^ +/, "", $2); print $2 }')
echo "after 2 s at --bandwidth 1: data remaining $remaining"
case "$remaining" in
  "" | "0 B" | 0*) kill "$mig" 2>/dev/null; fail "no data remaining after 2 s: $info" ;;
esac
virsh -q -c "$MAIN" domjobabort "$dirty" || fail "virsh domjobabort failed"
wait "$mig"
rc=$?
echo "virsh migrate after the abort: exit $rc, $(cat "$out")"
rm -f "$out"
[ $rc -ne 0 ] || fail "the aborted migration reported success"
s=$(state_of "$MAIN" "$dirty")
[ "$s" = running ] || fail "after the abort the guest is '$s' on the source, not running"
virsh -q -c "$PEER" dominfo "$dirty" >/dev/null 2>&1 && fail "after the abort the guest exists on the peer"
echo "after the abort: running on the source, absent on the peer"
echo PASSED
