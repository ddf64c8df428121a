#!/usr/bin/env bash
# Checks the stand-in PowerShell against what README.md promises, with the real scripts.
# Usage: selfcheck.sh <fake-pwsh> <scripts/bootstrap.ps1>. Needs iconv, base64 and jq.
set -u
FAKE=$1
SCRIPTS=$(dirname "$2")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export FAKE_HYPERV_STATE=$WORK/hv01 FAKE_PWSH_LOG=$WORK/log
unset FAKE_PWSH_STATE_AS FAKE_PWSH_WARNING FAKE_PWSH_DEPTH_TRUNCATE FAKE_PWSH_CRASH FAKE_PWSH_FAIL \
  FAKE_PWSH_SLOW_MS FAKE_PWSH_SCRIPTS_DIR SSH_ORIGINAL_COMMAND
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

B64=$(iconv -f UTF-8 -t UTF-16LE "$SCRIPTS/bootstrap.ps1" | base64 -w0)
ARGS=(-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "$B64")

# request OP DATA [SCRIPT_FILE]: the standard-input line for OP.
request() {
  jq -cn --arg op "$1" --argjson data "$2" --rawfile script "${3:-$SCRIPTS/$1.ps1}" \
    '{op: $op, script: $script, data: $data}' | base64 -w0
}

# run OP DATA: runs the stand-in; sets RC, OUT (raw stdout), ERR, DOC (the decoded frame).
run() {
  request "$1" "$2" | "$FAKE" "${ARGS[@]}" >"$WORK/out" 2>"$WORK/err"
  RC=$?
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
  DOC=$(tr -d '\r' <"$WORK/out" | sed -n '/^#hyperctl-result-begin$/,/^#hyperctl-result-end$/p' |
    sed '1d;$d' | base64 -d 2>/dev/null)
}
q() { jq -r "$1" <<<"$DOC"; }
expect() { [[ $2 == "$3" ]] || fail "$1: got [$2], expected [$3] (stderr: $ERR)"; }

ID1=11111111-1111-4111-8111-111111111111
ID2=22222222-2222-4222-8222-222222222222
ID3=33333333-3333-4333-8333-333333333333
reset_state() {
  rm -rf "$WORK/hv01" "$WORK/hv02" "$WORK/log" "$WORK/export"
  mkdir -p "$WORK/hv01" "$WORK/hv02" "$WORK/export"
  cat >"$WORK/hv01/state.json" <<EOF
{"host": {"ComputerName": "HV01", "LogicalProcessorCount": 8, "MemoryCapacity": 34359738368,
          "ProcessorManufacturer": "GenuineIntel", "VirtualHardDiskPath": "C:\\\\VHDs",
          "VirtualMachinePath": "C:\\\\VMs"},
 "vms": [
  {"Id": "$ID1", "Name": "web", "State": 3, "ProcessorCount": 2, "MemoryStartup": 2147483648,
   "Generation": 2, "Path": "C:\\\\VMs\\\\web", "ComputerName": "HV01", "CheckpointType": 5,
   "HardDrives": [{"Path": "C:\\\\VHDs\\\\web.vhdx", "ControllerType": 1, "ControllerNumber": 0,
                   "ControllerLocation": 0}],
   "NetworkAdapters": [{"Name": "Network Adapter", "MacAddress": "00155D000001",
                        "SwitchName": "LAN"}],
   "Snapshots": []},
  {"Id": "$ID2", "Name": "legacy", "State": "Running", "ProcessorCount": 1,
   "MemoryStartup": 1073741824, "Generation": 1, "NoIntegrationServices": true,
   "HardDrives": [], "NetworkAdapters": []},
  {"Id": "$ID3", "Name": "web", "State": 3, "ProcessorCount": 1, "MemoryStartup": 1073741824,
   "Generation": 2, "HardDrives": [], "NetworkAdapters": []}],
 "switches": [{"Id": "aaaaaaaa-0000-4000-8000-000000000001", "Name": "LAN", "SwitchType": 2,
               "NetAdapterInterfaceDescription": "Intel(R) Ethernet"}],
 "vhds": [{"Path": "C:\\\\VHDs\\\\web.vhdx", "VhdFormat": 3, "VhdType": 3, "Size": 10737418240,
           "FileSize": 2147483648, "ParentPath": null}],
 "peers": {"HV02": "$WORK/hv02", "AMD01": "$WORK/amd01"}}
EOF
  cat >"$WORK/hv02/state.json" <<EOF
{"host": {"ComputerName": "HV02", "ProcessorManufacturer": "GenuineIntel"},
 "vms": [], "switches": [], "vhds": [], "peers": {}}
EOF
  mkdir -p "$WORK/amd01"
  cat >"$WORK/amd01/state.json" <<EOF
{"host": {"ComputerName": "AMD01", "ProcessorManufacturer": "AuthenticAMD"},
 "vms": [], "switches": [{"Name": "LAN", "SwitchType": 2}], "vhds": [], "peers": {}}
EOF
}

# --- the process checks
reset_state
request vm.list '{}' | env -u FAKE_HYPERV_STATE "$FAKE" "${ARGS[@]}" >/dev/null 2>&1
expect "no FAKE_HYPERV_STATE" $? 127
request vm.list '{}' | "$FAKE" -NoLogo -NoProfile -ExecutionPolicy Bypass -EncodedCommand "$B64" \
  >/dev/null 2>"$WORK/err"
expect "a missing flag" $? 98
WRONG=$( (cat "$SCRIPTS/bootstrap.ps1"; printf ' ') | iconv -f UTF-8 -t UTF-16LE | base64 -w0)
request vm.list '{}' | "$FAKE" "${ARGS[@]:0:6}" "$WRONG" >/dev/null 2>&1
expect "a bootstrap one byte longer" $? 98
(cat "$SCRIPTS/vm.start.ps1"; echo '# Invoke-Expression $d.id') >"$WORK/evil.ps1"
request vm.start "{\"id\": \"$ID1\"}" "$WORK/evil.ps1" | "$FAKE" "${ARGS[@]}" >/dev/null \
  2>"$WORK/err"
expect "a script that is not scripts/vm.start.ps1" $? 99
expect "its message" "$(cat "$WORK/err")" "fake-pwsh: script mismatch for vm.start"
expect "its log line" "$(tail -n1 "$WORK/log" | jq -c '[.op, .script_ok]')" '["vm.start",false]'
request vm.get "{\"id\": \"$ID1\"}" "$SCRIPTS/vm.list.ps1" | "$FAKE" "${ARGS[@]}" >/dev/null 2>&1
expect "another op's script" $? 99

# --- lifecycle
run vm.list '{}'
expect "vm.list exit" "$RC" 0
expect "vm.list states as numbers" "$(q '[.result.vms[].State] | join(",")')" "3,2,3"
expect "duplicate names are listed" "$(q '[.result.vms[].Name] | join(",")')" "web,legacy,web"
[[ $(head -n1 "$WORK/out") == $'#hyperctl-result-begin\r' ]] || fail "the frame's lines end in CR LF"
FAKE_PWSH_STATE_AS=string run vm.list '{}'
expect "states as strings" "$(q '[.result.vms[].State] | join(",")')" "Off,Running,Off"
expect "checkpoint type as string" "$(q '.result.vms[0].CheckpointType')" "Standard"
run vm.start "{\"id\": \"$ID1\"}"
expect "vm.start" "$(q '.ok, .result.vm.State, .result.vm.MemoryAssigned')" $'true\n2\n2147483648'
run vm.start "{\"id\": \"${ID1^^}\"}"
expect "vm.start of a running VM" "$(q '.ok, .error.category')" $'false\nInvalidOperation'
run vm.suspend "{\"id\": \"$ID3\"}"
expect "vm.suspend of an off VM" "$(q '.error.category')" "InvalidOperation"
run vm.get '{"id": "44444444-4444-4444-8444-444444444444"}'
expect "vm.get of a missing id" "$(q '.error.category, .error.message')" \
  $'ObjectNotFound\nHyper-V was unable to find a virtual machine with id "44444444-4444-4444-8444-444444444444".'
run vm.get '{"id": "web"}'
expect "vm.get of a name" "$(q '.error.category')" "InvalidArgument"
run vm.shutdown "{\"id\": \"$ID2\"}"
expect "graceful stop without integration services" "$(q '.error.message')" \
  "The virtual machine 'legacy' is not running the shutdown integration service."
run vm.poweroff "{\"id\": \"$ID2\"}"
expect "vm.poweroff" "$(q '.result.vm.State')" "3"
run vm.set "{\"id\": \"$ID1\", \"vcpus\": 4}"
expect "vm.set of a running VM" "$(q '.error.category')" "InvalidOperation"
run vm.set "{\"id\": \"$ID3\", \"vcpus\": 4, \"memory_bytes\": 4294967296}"
expect "vm.set" "$(q '.result.vm.ProcessorCount, .result.vm.MemoryStartup')" $'4\n4294967296'

# --- hostile names arrive and come back byte for byte
HOSTILE=$(printf '%s' "a'b\"c \$(whoami); x | y & z \` ‘q’ é 日本 %PATH%")$'\n'"line2"
DATA=$(jq -cn --arg n "$HOSTILE" '{name: $n, generation: 2, memory_bytes: 1073741824, vcpus: 2,
  new_vhd_path: "C:\\VHDs\\h.vhdx", new_vhd_bytes: 1073741824, switch: "LAN"}')
run vm.create "$DATA"
expect "vm.create of a hostile name" "$(q '.result.vm.Name')" "$HOSTILE"
expect "logged data" "$(tail -n1 "$WORK/log" | jq -r '.data.name')" "$HOSTILE"
expect "the bytes on the wire escape ' (5.1's ConvertTo-Json)" \
  "$(tr -d '\r' <"$WORK/out" | sed -n 2p | base64 -d | grep -c 'a\\u0027b')" 1
NEWID=$(q '.result.vm.Id')
run vm.get "{\"id\": \"$NEWID\"}"
expect "the stored name" "$(q '.result.vm.Name')" "$HOSTILE"
expect "new VM's disk" "$(q '.result.vm.HardDrives[0].Path, .result.vm.HardDrives[0].ControllerType')" \
  $'C:\\VHDs\\h.vhdx\n1'
run migrate.export "{\"id\": \"$NEWID\", \"path\": \"$WORK/export\"}"
expect "export of a name Windows cannot use as a folder" "$(q '.error.category')" "InvalidArgument"

# --- snapshots
for s in s1 s2 s3; do run snapshot.create "{\"id\": \"$ID1\", \"name\": \"$s\"}"; done
expect "snapshot.create" "$(q '.result.snapshot.Name, .result.snapshot.ParentSnapshotName')" $'s3\ns2'
run snapshot.delete "{\"id\": \"$ID1\", \"name\": \"s2\", \"with_children\": false}"
run snapshot.list "{\"id\": \"$ID1\"}"
expect "children re-parented" "$(q '[.result.snapshots[] | .Name + "<" + (.ParentSnapshotName // "-")] | join(",")')" \
  "s1<-,s3<s1"
expect "current" "$(q '.result.current')" "s3"
run snapshot.delete "{\"id\": \"$ID1\", \"name\": \"S1\", \"with_children\": true}"
expect "names compare with case (-ceq)" "$(q '.error.category')" "ObjectNotFound"
run snapshot.delete "{\"id\": \"$ID1\", \"name\": \"s1\", \"with_children\": true}"
run snapshot.list "{\"id\": \"$ID1\"}"
expect "with children" "$(q '(.result.snapshots | length), .result.current')" \
  $'0\nnull'
run snapshot.create "{\"id\": \"$ID1\", \"name\": \"r1\"}"
run snapshot.create "{\"id\": \"$ID1\", \"name\": \"R1\"}"
run vm.poweroff "{\"id\": \"$ID1\"}"
run snapshot.create "{\"id\": \"$ID1\", \"name\": \"r1\"}"
run snapshot.revert "{\"id\": \"$ID1\", \"name\": \"r1\"}"
expect "two names equal to -ceq" "$(q '.error.message')" "no single checkpoint of that name"
run snapshot.delete "{\"id\": \"$ID1\", \"name\": \"R1\", \"with_children\": false}"
expect "a name differing in case only is its own" "$(q '.error // "none"')" "none"
run snapshot.create "{\"id\": \"$ID1\", \"name\": \"o1\"}"
run snapshot.revert "{\"id\": \"$ID1\", \"name\": \"o1\"}"
run vm.get "{\"id\": \"$ID1\"}"
expect "a Standard checkpoint of an off VM reverts to Off" "$(q '.result.vm.State')" "3"
run vm.start "{\"id\": \"$ID1\"}"
run snapshot.create "{\"id\": \"$ID1\", \"name\": \"o2\"}"
run snapshot.revert "{\"id\": \"$ID1\", \"name\": \"o2\"}"
run vm.get "{\"id\": \"$ID1\"}"
expect "a Standard checkpoint of a running VM reverts to Saved" "$(q '.result.vm.State')" "6"
run snapshot.revert "{\"id\": \"$ID1\", \"name\": \"gone\"}"
expect "revert to a missing checkpoint" "$(q '.error.category')" "ObjectNotFound"

# --- storage
run volume.create '{"path": "C:\\VHDs\\web.vhdx", "size_bytes": 1073741824, "dynamic": true}'
expect "volume.create of an existing path" "$(q '.error.category')" "ResourceExists"
run volume.create '{"path": "C:\\VHDs\\d.vhd", "size_bytes": 1073741824, "dynamic": false}'
expect "volume.create" "$(q '.result.volume.VhdFormat, .result.volume.VhdType')" $'2\n2'
run volume.resize '{"path": "C:\\VHDs\\web.vhdx", "size_bytes": 1073741824}'
expect "shrinking below the data" "$(q '.error.category')" "InvalidArgument"
run volume.delete '{"path": "C:\\VHDs\\web.vhdx"}'
expect "deleting an attached disk" "$(q '.error.category, .error.message')" \
  $'InvalidOperation\nThe virtual hard disk C:\\VHDs\\web.vhdx is in use by web.'
run volume.list '{"path": "C:\\VHDs"}'
expect "volume.list" "$(q '[.result.volumes[].Path] | join(",")')" \
  'C:\VHDs\web.vhdx,C:\VHDs\h.vhdx,C:\VHDs\d.vhd'
run volume.list '{"path": "C:\\Nowhere"}'
expect "volume.list of a missing folder" "$(q '.error.category')" "ObjectNotFound"

# --- migration
run migrate.check "{\"id\": \"$ID1\", \"destination\": \"HV02\", \"include_storage\": false}"
expect "a switch missing on the peer" "$(q '[.result.incompatibilities[].MessageId] | join(",")')" "33012"
run migrate.check "{\"id\": \"$ID1\", \"destination\": \"AMD01\", \"include_storage\": false}"
expect "another processor maker" "$(q '[.result.incompatibilities[].MessageId] | join(",")')" "24004"
run migrate.check "{\"id\": \"$ID1\", \"destination\": \"HV03\", \"include_storage\": false}"
expect "an unknown peer" "$(q '.error.category')" "ConnectionError"
run migrate.live "{\"id\": \"$ID3\", \"destination\": \"HV02\", \"include_storage\": true,
  \"destination_path\": \"D:\\\\Moved\"}"
expect "migrate.live" "$(q '.ok')" "true"
expect "the VM is on the peer" "$(jq -r '.vms[0].Id + " " + .vms[0].ComputerName' "$WORK/hv02/state.json")" \
  "$ID3 HV02"
expect "and not here" "$(jq "[.vms[] | select(.Id == \"$ID3\")] | length" "$WORK/hv01/state.json")" 0
run migrate.export "{\"id\": \"$ID1\", \"path\": \"$WORK/export\"}"
VMCX=$(q '.result.vmcx')
expect "export writes the vmcx" "$VMCX" "$WORK/export/web/Virtual Machines/${ID1^^}.vmcx"
[[ -f "$WORK/export/web/Virtual Hard Disks/web.vhdx" ]] || fail "export copies the disk record"
FAKE_HYPERV_STATE=$WORK/hv02 run migrate.import "{\"vmcx\": \"$VMCX\",
  \"vhd_destination\": \"D:\\\\Imported\", \"vm_path\": \"D:\\\\VMs\"}"
expect "import needs the switch" "$(q '.error.message')" \
  "The virtual machine cannot be imported: Could not find Ethernet switch 'LAN'."
FAKE_HYPERV_STATE=$WORK/amd01 run migrate.import "{\"vmcx\": \"$VMCX\",
  \"vhd_destination\": \"D:\\\\Imported\", \"vm_path\": \"D:\\\\VMs\"}"
expect "import gives a new Id and a Saved VM (it ran when exported)" \
  "$(q '(.result.vm.Id != "'"$ID1"'"), .result.vm.State, (.result.vm.HardDrives[0].Path | test("^D:\\\\Imported\\\\web_.*[.]avhdx$"))')" \
  $'true\n6\ntrue'
# web has checkpoints: its drive is an .avhdx whose chain ends at web.vhdx, copied too.
expect "import copies the whole chain" \
  "$(jq -r '[.vhds[] | select(.Path == "D:\\Imported\\web.vhdx") | .ParentPath] | length' "$WORK/amd01/state.json")" "1"
mkdir -p "$WORK/hyperctl-j1/x"
run migrate.cleanup "{\"path\": \"$WORK/hyperctl-j1\"}"
[[ ! -e "$WORK/hyperctl-j1" ]] || fail "migrate.cleanup removes the folder"
run migrate.cleanup "{\"path\": \"$WORK/export\"}"
expect "migrate.cleanup refuses other folders" "$(q '.error.category')" "InvalidArgument"
run migrate.cleanup "{\"path\": \"$WORK/export/web\"}"
[[ ! -e "$WORK/export/web" ]] || fail "migrate.cleanup removes an export folder"
cp "$WORK/hv01/state.json" "$WORK/before.json"
run snapshot.list "{\"id\": \"$ID2\"}"
run vm.resume "{\"id\": \"$ID2\"}"
expect "vm.resume of an off VM" "$(q '.error.category')" "InvalidOperation"
cmp -s "$WORK/before.json" "$WORK/hv01/state.json" || fail "a run that changes nothing rewrites the state"

# --- knobs
FAKE_PWSH_FAIL='vm.start|PermissionDenied|You do not have the required permission to complete this task.' \
  run vm.start "{\"id\": \"$ID2\"}"
expect "FAKE_PWSH_FAIL" "$(q '.error.category, .error.message')" \
  $'PermissionDenied\nYou do not have the required permission to complete this task.'
FAKE_PWSH_WARNING=1 run vm.list '{}'
expect "FAKE_PWSH_WARNING" "$(head -n3 <<<"$OUT" | grep -c '^WARNING: ')" 1
expect "the frame after it" "$(q '.ok')" "true"
FAKE_PWSH_DEPTH_TRUNCATE=1 run vm.get "{\"id\": \"$ID1\"}"
expect "FAKE_PWSH_DEPTH_TRUNCATE" "$(q '.result.vm.HardDrives')" \
  "Microsoft.HyperV.PowerShell.HardDiskDrive"
FAKE_PWSH_CRASH=clixml run vm.list '{}'
expect "FAKE_PWSH_CRASH exit" "$RC" 1
expect "FAKE_PWSH_CRASH stdout" "$OUT" ""
expect "FAKE_PWSH_CRASH stderr" "$(head -n1 <<<"$ERR" | tr -d '\r')" "#< CLIXML"

# --- over ssh: argv from SSH_ORIGINAL_COMMAND; gone when its parent is
request vm.list '{}' | SSH_ORIGINAL_COMMAND="powershell.exe ${ARGS[*]}" "$FAKE" anything >"$WORK/out"
expect "SSH_ORIGINAL_COMMAND" "$?" 0
request vm.list '{}' | SSH_ORIGINAL_COMMAND="powershell.exe  ${ARGS[*]}" "$FAKE" >/dev/null 2>&1
expect "two spaces make an empty argument" "$?" 98
request vm.list '{}' >"$WORK/req"
PID=$(FAKE_PWSH_SLOW_MS=10000 SSH_ORIGINAL_COMMAND="pwsh ${ARGS[*]}" \
  sh -c '"$0" <"$1" >/dev/null 2>&1 & echo $!; sleep 0.3' "$FAKE" "$WORK/req")
sleep 1
# Gone, or a zombie its new parent has not reaped yet.
if [[ $(ps -o stat= -p "$PID" 2>/dev/null) == [^Z]* ]]; then
  fail "over ssh the stand-in outlives its parent"
  kill "$PID"
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "fake-pwsh selfcheck: all checks passed"
