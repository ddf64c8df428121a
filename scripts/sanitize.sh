#!/usr/bin/env bash
# The sanitizer stage: builds the tree with sanitizers and runs tests there.
#   scripts/sanitize.sh          both builds below, one after the other
#   scripts/sanitize.sh asan     ASan + UBSan (leaks included) in build-asan/:
#                                every test of the suite; the same as
#                                SANITIZE=address,undefined scripts/test.sh
#   scripts/sanitize.sh tsan     TSan in build-tsan/: only what the fleet,
#                                process-runner and vSphere-session suites
#                                need, and those suites
# Extra arguments after the stage name go to ctest (e.g. -R, -L, -E).
# Any sanitizer report fails the test it happens in (-fno-sanitize-recover,
# halt_on_error). tests/sanitizers/*.supp hold the few reports that come from
# third-party code built without the sanitizer; each entry says why.
# The real-libvirtd test beds start their own daemons: nothing here preloads
# a sanitizer runtime into them (cmake/Sanitizers.cmake links libtirpc into
# our executables instead), and the *SAN_OPTIONS they inherit do nothing in an
# uninstrumented program.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-$(nproc)}
supp="$root/tests/sanitizers"

stage=${1:-all}
[ $# -gt 0 ] && shift
case $stage in
  all | asan | tsan) ;;
  *) echo "usage: $0 [all|asan|tsan] [ctest arguments...]" >&2; exit 2 ;;
esac

# The suites need the test packages (libvirtd, QEMU, sshd, Go...) as in
# scripts/test.sh; the sanitizer runtimes come with g++.
scripts/deps.sh

configure() { # DIR SANITIZERS
  local generator=()
  [ -f "$1/CMakeCache.txt" ] || generator=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  cmake -S . -B "$1" "${generator[@]}" -DHYPERCTL_SANITIZE="$2" -DHYPERCTL_BUILD_TESTS=ON >/dev/null
}

# The fleet runner, the process runner (core_tests holds its tests, the SSH
# transport has its own binary) and the vSphere session, with the programs
# and plugins they start.
# fleet_hostile_tests runs a Hyper-V, a WSL and a vSphere host beside libvirt
# ones in one fleet run: it needs all four plugins.
tsan_targets=(core_tests process_ssh_tests fleet_core_tests fleet_libvirt_tests fleet_cli_tests
  fleet_testbed_tests fleet_hostile_tests fleet-slow-plugin hyperctl-cli hyperctl-libvirt
  hyperctl-vsphere hyperctl-hyperv hyperctl-wsl hyperctl-vsphere-session-tests)
tsan_tests='^(core\.|fleet\.|vsphere\.(SessionTest|TaskWaitTest)\.|vsphere\.hyperctl-vsphere-session-tests\.listing)'

run_asan() {
  echo "sanitize: ASan+UBSan build in build-asan/, every test (scripts/test.sh)"
  SANITIZE=address,undefined BUILD_DIR=build-asan scripts/test.sh "$@"
}

run_tsan() {
  echo "sanitize: TSan build in build-tsan/ (fleet, process runner, vSphere session)"
  configure build-tsan thread
  cmake --build build-tsan -j "$jobs" --target "${tsan_targets[@]}"
  # The simulator the vSphere session suite talks to (Go; absent without Go,
  # and the suite then says so).
  if ninja -C build-tsan -t targets all | grep -q '^vsphere-vcsim:'; then
    cmake --build build-tsan -j "$jobs" --target vsphere-vcsim
  fi
  echo "sanitize: TSan: fleet, process runner, vSphere session"
  (cd build-tsan &&
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp" \
    ctest --output-on-failure -j "$jobs" --timeout 900 -R "$tsan_tests" "$@")
}

case $stage in
  asan) run_asan "$@" ;;
  tsan) run_tsan "$@" ;;
  all) # Both run even when the first fails: one CI run shows every report.
    status=0
    run_asan "$@" || status=$?
    run_tsan "$@" || status=$?
    exit "$status" ;;
esac
