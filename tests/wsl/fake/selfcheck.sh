#!/usr/bin/env bash
# Checks the stand-in wsl.exe and reg.exe against the outputs README.md promises.
# Usage: selfcheck.sh <fake-wsl> <fake-reg>. Needs iconv and sha256sum.
set -u
FAKE_WSL=$1
FAKE_REG=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export FAKE_WSL_STATE=$WORK/state FAKE_WSL_LOG=$WORK/log
unset WSL_UTF8 WSLENV FAKE_WSL_ENCODING FAKE_WSL_NEWLINE FAKE_WSL_LANG FAKE_WSL_INBOX \
  FAKE_WSL_SLOW_MS FAKE_WSL_DIE_AFTER FAKE_WSL_NAME_CHECK
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run ARGS...: runs the stand-in with UTF-8 output; sets OUT (CRs stripped) and RC.
run() {
  WSL_UTF8=1 "$FAKE_WSL" "$@" </dev/null >"$WORK/out"
  RC=$?
  OUT=$(tr -d '\r' <"$WORK/out")
}
expect_rc() { [[ $RC == "$1" ]] || fail "$2: exit $RC, expected $1 (output: $OUT)"; }
expect_out() { [[ $OUT == "$1" ]] || fail "$2: got [$OUT], expected [$1]"; }
expect_has() { [[ $OUT == *"$1"* ]] || fail "$2: [$OUT] lacks [$1]"; }

reset_state() {
  rm -rf "$WORK/state" "$WORK/disks"
  mkdir -p "$WORK/state" "$WORK/disks/ubuntu" "$WORK/disks/legacy" "$WORK/disks/odd"
  head -c 200000 /dev/urandom >"$WORK/disks/ubuntu/ext4.vhdx"
  printf 'wsl1-rootfs' >"$WORK/disks/legacy/rootfs.img"
  printf 'odd-disk' >"$WORK/disks/odd/ext4.vhdx"
  cat >"$WORK/state/state.json" <<EOF
{"distros":[
 {"name":"Ubuntu-22.04","guid":"{0b3a0000-0000-4000-8000-000000000001}","state":"Running","version":2,"default":false,"base_path":"$WORK/disks/ubuntu"},
 {"name":"old.distro-1","guid":"{0b3a0000-0000-4000-8000-000000000002}","state":"Stopped","version":1,"default":true,"base_path":"$WORK/disks/legacy"},
 {"name":"Dé bian & \"q\" %x% ^y","guid":"{0b3a0000-0000-4000-8000-000000000003}","state":"Stopped","version":2,"base_path":"$WORK/disks/odd"},
 {"name":"inst","guid":"{0b3a0000-0000-4000-8000-000000000004}","state":"Installing","version":2,"base_path":"$WORK/disks/i"},
 {"name":"conv","guid":"{0b3a0000-0000-4000-8000-000000000005}","state":"Converting","version":2,"base_path":"$WORK/disks/c"},
 {"name":"gone","guid":"{0b3a0000-0000-4000-8000-000000000006}","state":"Uninstalling","version":2,"base_path":"$WORK/disks/g"}]}
EOF
}

# --- without FAKE_WSL_STATE
env -u FAKE_WSL_STATE "$FAKE_WSL" -l -v >/dev/null 2>&1
[[ $? == 127 ]] || fail "missing FAKE_WSL_STATE must exit 127"

# --- encodings and line endings of -l -v
reset_state
header='  NAME                    STATE           VERSION'
listing="$header
* old.distro-1            Stopped         1
  Ubuntu-22.04            Running         2
  Dé bian & \"q\" %x% ^y    Stopped         2
  inst                    Installing      2
  conv                    Converting      2
  gone                    Uninstalling    2"
"$FAKE_WSL" -l -v >"$WORK/u16"
[[ $? == 0 ]] || fail "-l -v exit status"
[[ $(head -c 2 "$WORK/u16" | od -An -tx1 | tr -d ' ') == "2000" ]] || fail "UTF-16 must start without BOM"
OUT=$(iconv -f UTF-16LE -t UTF-8 "$WORK/u16" | tr -d '\r')
expect_out "$listing" "-l -v in UTF-16LE"
[[ $(iconv -f UTF-16LE -t UTF-8 "$WORK/u16" | head -1 | od -An -c | tr -s ' ') == *'\r \n'* ]] ||
  fail "lines end in CRLF"
FAKE_WSL_ENCODING=utf16bom "$FAKE_WSL" --list --verbose >"$WORK/bom"
[[ $(head -c 2 "$WORK/bom" | od -An -tx1 | tr -d ' ') == "fffe" ]] || fail "utf16bom starts with FF FE"
WSL_UTF8=1 FAKE_WSL_ENCODING=utf16 "$FAKE_WSL" -l -v >"$WORK/forced"
cmp -s "$WORK/forced" "$WORK/u16" || fail "FAKE_WSL_ENCODING=utf16 ignores WSL_UTF8"
WSL_UTF8=1 FAKE_WSL_NEWLINE=crcrlf "$FAKE_WSL" -l -v >"$WORK/crcr"
[[ $(head -1 "$WORK/crcr" | od -An -c | tr -s ' ') == *'\r \r \n'* ]] || fail "crcrlf line ending"
run -l -v
expect_out "$listing" "-l -v with WSL_UTF8=1"
OUT=$(WSL_UTF8=1 FAKE_WSL_LANG=fr "$FAKE_WSL" -l -v | head -1 | tr -d '\r')
expect_out '  NOM                     ÉTAT            VERSION' "French header"

# --- plain list, inbox list, failures
run -l
expect_out $'Windows Subsystem for Linux Distributions:\nold.distro-1 (Default)\nUbuntu-22.04\nDé bian & "q" %x% ^y' "-l"
run -l --all -q
expect_out $'old.distro-1\nUbuntu-22.04\nDé bian & "q" %x% ^y\ninst\nconv\ngone' "-l --all -q"
run -l --running
expect_out $'Windows Subsystem for Linux Distributions:\nUbuntu-22.04' "-l --running"
OUT=$(WSL_UTF8=1 FAKE_WSL_INBOX=1 "$FAKE_WSL" -l | tr -d '\r')
expect_out $'Windows Subsystem for Linux Distributions:\nold.distro-1 (Default)\nUbuntu-22.04\nDé bian & "q" %x% ^y' "inbox -l"
for args in "-l -v" "--list --verbose" "--set-version x 2" "--shutdown" "--manage x --resize 1GB" \
  "--import-in-place x y.vhdx" "--export x f --format tar" "--status" "--version" "-d Ubuntu-22.04 --exec ls"; do
  FAKE_WSL_INBOX=1 run $args
  expect_rc 255 "inbox $args"
  expect_has "Invalid command line option: -" "inbox $args"
  expect_has "Usage: wsl.exe" "inbox $args"
done
run -d nope -- true
expect_rc 255 "unknown distro"
expect_out $'There is no distribution with the supplied name.\nError code: Wsl/Service/WSL_E_DISTRO_NOT_FOUND' "unknown distro"
OUT=$(FAKE_WSL_LANG=fr "$FAKE_WSL" -t nope | iconv -f UTF-16LE -t UTF-8 | tr -d '\r')
expect_out $'Il n’existe aucune distribution avec le nom fourni.\nCode d\'erreur\u00a0: Wsl/Service/WSL_E_DISTRO_NOT_FOUND' "French failure"
run --bogus
expect_rc 255 "bad argument"
expect_out $'Invalid command line argument: --bogus\nPlease use \'wsl.exe --help\' to get a list of supported arguments.' "bad argument"
run -l --bogus
expect_has $'\nError code: Wsl/E_INVALIDARG' "bad list option"
run -t
expect_out "Argument --terminate is missing a required parameter." "missing parameter"
expect_rc 255 "missing parameter"

# --- launch, terminate, shutdown, default
run -d inst -- true
expect_rc 255 "launching an installing distro"
expect_has "Error code: Wsl/Service/CreateInstance/E_ILLEGAL_STATE_CHANGE" "launching an installing distro"
run -d 'Dé bian & "q" %x% ^y' -u root --exec /bin/true
expect_rc 0 "exec in a hostile name"
run -t 'Ubuntu-22.04'
expect_out "The operation completed successfully." "terminate"
run -l --running
expect_has "Dé bian" "exec starts the distro"
[[ $OUT != *Ubuntu* ]] || fail "terminate stops the distro"
run --shutdown --force
expect_rc 0 "shutdown"
expect_out "" "shutdown prints nothing"
run -l --running
expect_rc 255 "no running distros after shutdown"
expect_out "There are no running distributions." "no running distros"
run -s Ubuntu-22.04
run --status
expect_out $'Default Distribution: Ubuntu-22.04\nDefault Version: 2' "--status"
run --version
expect_has $'WSL version: 2.3.24.0\nKernel version: 5.15.153.1-2\nWSLg version: ' "--version"
expect_has "Windows version: 10.0.22631.4460" "--version"
run -d conv
expect_rc 255 "launching a converting distro"

# --- export and import round trip
sum=$(sha256sum <"$WORK/disks/ubuntu/ext4.vhdx" | cut -d' ' -f1)
run --export Ubuntu-22.04 "$WORK/u.tar"
expect_out "The operation completed successfully." "export to a file"
[[ $(head -1 "$WORK/u.tar") == "FAKEWSL-EXPORT tar" ]] || fail "export header"
[[ $(tail -c +20 "$WORK/u.tar" | sha256sum | cut -d' ' -f1) == "$sum" ]] || fail "export bytes"
"$FAKE_WSL" --export Ubuntu-22.04 - --format tar.gz >"$WORK/u.tgz" </dev/null
[[ $? == 0 ]] || fail "export to stdout"
[[ $(head -1 "$WORK/u.tgz") == "FAKEWSL-EXPORT tar.gz" ]] || fail "stdout export header"
run --import Copy "$WORK/copy" "$WORK/u.tar"
expect_rc 0 "import from a file"
[[ $(sha256sum <"$WORK/copy/ext4.vhdx" | cut -d' ' -f1) == "$sum" ]] || fail "import bytes"
OUT=$(WSL_UTF8=1 "$FAKE_WSL" --import Piped "$WORK/piped" - --version 2 <"$WORK/u.tgz" | tr -d '\r')
expect_out "The operation completed successfully." "import from stdin"
[[ $(sha256sum <"$WORK/piped/ext4.vhdx" | cut -d' ' -f1) == "$sum" ]] || fail "stdin import bytes"
[[ $(tail -1 "$FAKE_WSL_LOG") == "{\"stdin_bytes\":$(stat -c %s "$WORK/u.tgz")}" ]] || fail "stdin_bytes log"
run --import Copy "$WORK/copy2" "$WORK/u.tar"
expect_out $'A distribution with the supplied name already exists.\nError code: Wsl/Service/RegisterDistro/ERROR_ALREADY_EXISTS' "import onto an existing name"
[[ ! -e $WORK/copy2 ]] || fail "failed import leaves the folder it created"
run --import Bad "$WORK/bad" "$WORK/u.tar" --vhd
expect_has "Error code: Wsl/Service/RegisterDistro/WSL_E_NOT_A_LINUX_DISTRO" "tar imported as a vhd"
run --import 'a b' "$WORK/ab" "$WORK/u.tar"
expect_has "Invalid distribution name" "import of a name wsl.exe refuses"
OUT=$(WSL_UTF8=1 FAKE_WSL_NAME_CHECK=0 "$FAKE_WSL" --import 'a b' "$WORK/ab" "$WORK/u.tar" | tr -d '\r')
expect_out "The operation completed successfully." "FAKE_WSL_NAME_CHECK=0"
run -l -v
expect_has "  Copy                    Stopped         2" "imported distro is listed"
run --import Old "$WORK/old" "$WORK/u.tar" --version 1
[[ -f $WORK/old/rootfs.img ]] || fail "version 1 import writes rootfs.img"
run --export Ubuntu-22.04 "$WORK/u.vhdx" --format vhd
expect_rc 0 "vhd export of a stopped distro"
run --import-in-place InPlace "$WORK/u.vhdx"
expect_rc 0 "import in place"
run --import-in-place InPlace2 "$WORK/u.tar"
expect_has "must have the .vhdx file extension" "import in place of a tar"
run -d Ubuntu-22.04 -- true
run --export Ubuntu-22.04 "$WORK/r.vhdx" --format vhd
expect_has "Error code: Wsl/Service/ExportDistro/WSL_E_DISTRO_NOT_STOPPED" "vhd export of a running distro"
[[ ! -e $WORK/r.vhdx ]] || fail "failed export removes its file"
run --export old.distro-1 "$WORK/o.vhdx" --format vhd
expect_has "Error code: Wsl/Service/ExportDistro/WSL_E_WSL2_NEEDED" "vhd export of WSL1"

# --- interrupted and slow exports
run -t Ubuntu-22.04
{ FAKE_WSL_DIE_AFTER=100000 "$FAKE_WSL" --export Ubuntu-22.04 "$WORK/partial.tar" >/dev/null; } 2>/dev/null
[[ $? == 137 ]] || fail "FAKE_WSL_DIE_AFTER kills the process"
[[ $(stat -c %s "$WORK/partial.tar") == 100000 ]] || fail "interrupted export leaves a partial file"
start=$(date +%s%N)
FAKE_WSL_SLOW_MS=100 "$FAKE_WSL" --export Ubuntu-22.04 - >/dev/null
[[ $((($(date +%s%N) - start) / 1000000)) -ge 300 ]] || fail "FAKE_WSL_SLOW_MS slows the export"

# --- conversions and management
run --set-version Ubuntu-22.04 1
expect_has "The operation completed successfully." "set-version 1"
[[ -f $WORK/disks/ubuntu/rootfs.img && ! -e $WORK/disks/ubuntu/ext4.vhdx ]] || fail "set-version renames the disk"
run --set-version Ubuntu-22.04 1
expect_has "Error code: Wsl/Service/WSL_E_VM_MODE_INVALID_STATE" "set-version to the same version"
run --set-version Ubuntu-22.04 2
[[ $(sha256sum <"$WORK/disks/ubuntu/ext4.vhdx" | cut -d' ' -f1) == "$sum" ]] || fail "conversion keeps bytes"
run --set-version Ubuntu-22.04 3
expect_has "Error code: Wsl/ERROR_VERSION_PARSE_ERROR" "bad version"
run -d Ubuntu-22.04 -- true
for op in "--move $WORK/moved" "--resize 20GB" "--set-sparse true"; do
  run --manage Ubuntu-22.04 $op
  expect_has "WSL_E_DISTRO_NOT_STOPPED" "manage $op of a running distro"
done
run -t Ubuntu-22.04
run --manage Ubuntu-22.04 --move "$WORK/moved"
expect_rc 0 "move"
[[ -f $WORK/moved/ext4.vhdx && ! -e $WORK/disks/ubuntu/ext4.vhdx ]] || fail "move moves the disk"
run --manage Ubuntu-22.04 --resize 20XB
expect_out $'Invalid size: 20XB\nError code: Wsl/E_INVALIDARG' "bad size"
run --manage Ubuntu-22.04 --resize 512MB
expect_rc 0 "resize"
grep -q '"size_bytes": 536870912' "$WORK/state/state.json" || fail "resize stores the size"
run --manage Ubuntu-22.04 --set-sparse maybe
expect_has "maybe is not a valid boolean" "bad boolean"
run --set-default-version 1
expect_out "The operation completed successfully." "set-default-version"

# --- unregister
run --unregister Copy
expect_rc 255 "unregister without --force"
expect_out $'The operation was canceled by the user.\nError code: Wsl/ERROR_CANCELLED' "unregister without --force"
run --unregister Copy --force
expect_out "The operation completed successfully." "unregister --force"
[[ ! -e $WORK/copy ]] || fail "unregister removes the disk and the empty folder"
run -s Ubuntu-22.04
run --unregister Ubuntu-22.04 --force
run --status
expect_has "Default Distribution: old.distro-1" "the first remaining distro becomes the default"

# --- no distributions
echo '{"distros":[]}' >"$WORK/state/state.json"
run -l -v
expect_rc 255 "-l -v without distros"
expect_has $'Windows Subsystem for Linux has no installed distributions.\nYou can resolve this' "no distros"
expect_has $'\nError code: Wsl/WSL_E_DEFAULT_DISTRO_NOT_FOUND' "no distros"

# --- the log
reset_state
: >"$FAKE_WSL_LOG"
WSLENV=WSL_UTF8/u WSL_UTF8=1 "$FAKE_WSL" -d 'Dé bian & "q" %x% ^y' -- echo '$HOME' >/dev/null
line=$(head -1 "$FAKE_WSL_LOG")
[[ $line == *'"argv":["-d","Dé bian & \"q\" %x% ^y","--","echo","$HOME"]'* ]] || fail "log argv: $line"
[[ $line == *'"env":{"WSLENV":"WSL_UTF8/u","WSL_UTF8":"1"}'* ]] || fail "log env: $line"
[[ $line == *'"prog":"wsl"'* ]] || fail "log prog: $line"

# --- reg.exe
OUT=$("$FAKE_REG" query 'HKCU\Software\Microsoft\Windows\CurrentVersion\Lxss' /s)
RC=$?
expect_rc 0 "reg query"
expect_has $'\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Lxss\r\n    DefaultDistribution    REG_SZ    {0b3a0000-0000-4000-8000-000000000002}\r\n' "reg root key"
expect_has $'Lxss\\{0b3a0000-0000-4000-8000-000000000001}\r\n    State    REG_DWORD    0x1\r\n    DistributionName    REG_SZ    Ubuntu-22.04\r\n    Version    REG_DWORD    0x2\r\n    BasePath    REG_SZ    '"$WORK/disks/ubuntu"$'\r\n    Flags    REG_DWORD    0xf\r\n    DefaultUid    REG_DWORD    0x3e8\r\n' "reg distro key"
"$FAKE_REG" query 'HKCU\Software' >/dev/null 2>&1
[[ $? == 1 ]] || fail "reg with other arguments exits 1"
[[ $(tail -1 "$FAKE_WSL_LOG") == *'"prog":"reg"'* ]] || fail "reg logs"

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
