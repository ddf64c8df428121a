#!/bin/sh
# Writes a libvirt test-driver host description with N domains to FILE, for
# `test:///FILE` URIs (TESTBEDS.md §1). States cycle through a fixed mix:
# 50 % running, 35 % shut off, 10 % paused, 5 % crashed; every domain has a
# disk, a NIC and a stable UUID, so runs are comparable.
#
#   gen-test-node.sh N FILE
set -eu
[ $# -eq 2 ] || {
  echo "usage: gen-test-node.sh N FILE" >&2
  exit 1
}
case "$1" in
  '' | *[!0-9]*)
    echo "gen-test-node.sh: N must be a number, got '$1'" >&2
    exit 1
    ;;
esac

awk -v n="$1" 'BEGIN {
  print "<node>"
  for (i = 1; i <= n; i++) {
    k = i % 20
    # libvirt virDomainState numbers: 1 running, 3 paused, 5 shut off, 6 crashed
    if (k < 10) state = 1; else if (k < 17) state = 5; else if (k < 19) state = 3; else state = 6
    mem = (1 + i % 4) * 262144
    printf "  <domain type=\"test\" xmlns:test=\"http://libvirt.org/schemas/domain/test/1.0\">\n"
    printf "    <name>bench-vm-%05d</name>\n", i
    printf "    <uuid>%08x-0000-4000-8000-%012x</uuid>\n", i, i
    printf "    <memory unit=\"KiB\">%d</memory>\n", mem
    printf "    <currentMemory unit=\"KiB\">%d</currentMemory>\n", mem
    printf "    <vcpu>%d</vcpu>\n", 1 + i % 4
    printf "    <os><type arch=\"x86_64\">hvm</type></os>\n"
    printf "    <devices>\n"
    printf "      <disk type=\"file\" device=\"disk\"><source file=\"/var/lib/libvirt/images/bench-vm-%05d.qcow2\"/><target dev=\"vda\" bus=\"virtio\"/></disk>\n", i
    printf "      <interface type=\"network\"><mac address=\"52:54:00:%02x:%02x:%02x\"/><source network=\"default\"/></interface>\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256
    printf "    </devices>\n"
    printf "    <test:runstate>%d</test:runstate>\n", state
    printf "  </domain>\n"
  }
  print "</node>"
}' >"$2"
