#!/bin/sh
# Fails unless every ELF file named has the release hardening of
# cmake/Hardening.cmake:
#   --exe FILE  an executable: PIE (type DYN, FLAGS_1 PIE)
#   --lib FILE  a shared library or plugin: type DYN
# and, for both: full RELRO (a GNU_RELRO segment and BIND_NOW), the stack
# protector (__stack_chk_fail referenced) and _FORTIFY_SOURCE (some
# __*_chk function referenced). One line per missing property.
set -eu
missing=0
miss() { echo "$1: $2" >&2; missing=$((missing + 1)); }

check() {
  kind=$1 file=$2
  [ -f "$file" ] || { miss "$file" "no such file"; return; }
  header=$(readelf -hW "$file")
  dynamic=$(readelf -dW "$file")
  segments=$(readelf -lW "$file")
  symbols=$(readelf --dyn-syms -W "$file")
  echo "$header" | grep -Eq 'Type:[[:space:]]+DYN' || miss "$file" "not position-independent (ELF type is not DYN)"
  if [ "$kind" = exe ]; then
    echo "$dynamic" | grep -Eq 'FLAGS_1.*PIE' || miss "$file" "executable not linked as PIE (no FLAGS_1 PIE)"
  fi
  echo "$segments" | grep -q 'GNU_RELRO' || miss "$file" "no RELRO (no GNU_RELRO segment)"
  echo "$dynamic" | grep -Eq 'BIND_NOW|\(FLAGS(_1)?\).*NOW' || miss "$file" "partial RELRO only (no BIND_NOW)"
  echo "$symbols" | grep -q ' __stack_chk_fail' || miss "$file" "no stack protector (__stack_chk_fail not referenced)"
  echo "$symbols" | grep -Eq ' __[a-z0-9_]+_chk(@|$| )' || miss "$file" "not fortified (no __*_chk function referenced)"
}

[ $# -gt 0 ] || { echo "usage: $0 (--exe FILE | --lib FILE)..." >&2; exit 2; }
count=0
while [ $# -gt 0 ]; do
  case $1 in
    --exe) check exe "$2" ;;
    --lib) check lib "$2" ;;
    *) echo "usage: $0 (--exe FILE | --lib FILE)..." >&2; exit 2 ;;
  esac
  count=$((count + 1))
  shift 2
done
[ "$missing" -eq 0 ] || { echo "$missing hardening properties missing" >&2; exit 1; }
echo "$count files: PIE, full RELRO, stack protector, fortified"
