#!/bin/sh
# Proves the libvirtd test bed can run a guest: creates a 64 MiB qcow2 volume
# in the pool "default", defines a TCG domain (type='qemu', runs without
# /dev/kvm) named hyperctl-test-smoke-<pid>, starts it, checks that it is
# running, then destroys and removes both. SeaBIOS finds nothing to boot on
# the empty disk and the guest stays running, which is all this needs.
#
#   smoke.sh STATE_DIR     (the folder given to libvirtd.sh start)
#
# Exit status: 0 passed; 1 failed; 77 the test bed is unavailable (skip).
set -u

URI=${HYPERCTL_TEST_QEMU_URI:-qemu:///system}
state=${1:?usage: smoke.sh STATE_DIR}
name=hyperctl-test-smoke-$$
vol=$name.qcow2

if [ -r "$state/unavailable" ]; then
  echo "skipped: libvirtd test bed unavailable: $(cat "$state/unavailable")"
  exit 77
fi
if ! virsh -q -c "$URI" uri >/dev/null 2>&1; then
  echo "skipped: $URI does not answer (run tests/testbed/libvirtd.sh start first)"
  exit 77
fi

cleanup() {
  virsh -q -c "$URI" destroy "$name" >/dev/null 2>&1
  virsh -q -c "$URI" undefine "$name" >/dev/null 2>&1
  virsh -q -c "$URI" vol-delete --pool default "$vol" >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "smoke.sh: $*" >&2
  exit 1
}

virsh -q -c "$URI" vol-create-as default "$vol" 64M --format qcow2 >/dev/null ||
  fail "cannot create a 64 MiB qcow2 volume in pool 'default'"
disk=$(virsh -q -c "$URI" vol-path --pool default "$vol") || fail "no path for volume $vol"

xml=$(mktemp) || fail "mktemp failed"
cat >"$xml" <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$disk'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='null'/>
    <graphics type='vnc' port='-1' listen='127.0.0.1'/>
  </devices>
</domain>
EOF
virsh -q -c "$URI" define "$xml" >/dev/null || {
  rm -f "$xml"
  fail "virsh define failed"
}
rm -f "$xml"
virsh -q -c "$URI" start "$name" >/dev/null || fail "virsh start $name failed"
sleep 1
st=$(virsh -q -c "$URI" domstate "$name" 2>/dev/null)
[ "$st" = running ] || fail "$name is '$st' one second after start, expected 'running'"
echo "ok: $name (TCG, 64 MiB qcow2 disk) is running on $URI"
