#!/bin/sh
# Prints the XML of a TCG test domain that boots a raw boot-sector image.
#
#   guest_xml.sh NAME IMAGE [MEMORY_MIB]     (MEMORY_MIB: 64 unless given)
#
# - type='qemu' (TCG: runs without /dev/kvm), 1 vCPU, machine 'pc';
# - IMAGE (counter.img or dirty.img, built by CMake) as a read-only
#   virtio disk, raw, cache='none'. Keep the image in a folder both hosts
#   see, outside the peer's bind-mounted trees (the build tree is fine).
#   Read-only is what makes libvirt 9.0 call the migration safe: it calls a
#   writable disk on a local file system unsafe whatever its cache mode, so
#   no --unsafe is needed (the boot sector never writes its disk);
# - COM1 to the file /var/log/libvirt/qemu/NAME.serial. The path is the same
#   in the XML on both hosts but /var/log/libvirt is private to each: on the
#   main host it is /var/log/libvirt/qemu/NAME.serial, on the peer
#   PEER_STATE/tree/log/qemu/NAME.serial. After a migration the peer's file
#   continues the count; the main host's file stops where the guest left.
#   libvirt truncates the file when QEMU starts.
# - no graphics, no network, on_poweroff/on_crash destroy.
#
# Name test domains hyperctl-test-* so that the test beds' stop removes
# leftovers.
set -eu
name=${1:?usage: guest_xml.sh NAME IMAGE [MEMORY_MIB]}
image=${2:?usage: guest_xml.sh NAME IMAGE [MEMORY_MIB]}
mem=${3:-64}
case "$image" in /*) ;; *) image=$(pwd)/$image ;; esac
cat <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>$mem</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='$image'/>
      <target dev='vda' bus='virtio'/>
      <readonly/>
    </disk>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$name.serial'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
XML
