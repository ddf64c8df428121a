#!/bin/sh
# Assembles boot-sector guests into raw disk images.
#
#   build.sh SOURCE.S OUTPUT.img [SOURCE.S OUTPUT.img ...]
#
# GNU as (32-bit object, the source switches to .code16 itself), ld linked at
# 0x7c00 straight to a flat binary, which must be exactly 512 bytes (ending in
# 0x55AA); the image is that sector padded with zeros to 1 MiB, so that a disk
# with cache='none' (O_DIRECT) reads whole aligned blocks. An image newer than
# its source (and this script) is left alone.
set -eu
[ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || {
  echo "usage: build.sh SOURCE.S OUTPUT.img [SOURCE.S OUTPUT.img ...]" >&2
  exit 1
}
while [ $# -ge 2 ]; do
  src=$1
  out=$2
  shift 2
  if [ -e "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then
    continue
  fi
  tmp=$out.tmp
  mkdir -p "$(dirname "$out")"
  as --32 -o "$tmp.o" "$src"
  ld -m elf_i386 -Ttext 0x7c00 -e _start --oformat binary -o "$tmp.bin" "$tmp.o"
  size=$(wc -c <"$tmp.bin")
  [ "$size" -eq 512 ] || {
    echo "build.sh: $src assembled to $size bytes, not 512" >&2
    exit 1
  }
  cp "$tmp.bin" "$tmp"
  truncate -s 1M "$tmp"
  rm -f "$tmp.o" "$tmp.bin"
  mv "$tmp" "$out"
done
