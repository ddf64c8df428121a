#!/bin/sh
# hyperctl_discover_tests (cmake/HyperctlDiscoverTests.cmake): in a scratch
# project (project/), a binary that fails to list and one never built are one
# failing ".listing" test each, with the reason, and the good binary's tests
# still run. Usage: check.sh SOURCE_DIR WORK_DIR
set -eu
src=$1
work=$2
rm -rf "$work"
cmake -S "$src/tests/discovery/project" -B "$work" -G Ninja \
  -DHYPERCTL_SOURCE_DIR="$src" >/dev/null
cmake --build "$work" >/dev/null
status=0
(cd "$work" && ctest --output-on-failure) >"$work/ctest.out" 2>&1 || status=$?
cat "$work/ctest.out"
fail() { echo "check.sh: $*" >&2; exit 1; }
[ "$status" -ne 0 ] || fail "ctest passed although two binaries cannot be listed"
grep -q 'd\.Good\.Adds .*Passed' "$work/ctest.out" || fail "d.Good.Adds did not run and pass"
grep -q 'd\.Good\.Compares .*Passed' "$work/ctest.out" || fail "d.Good.Compares did not run and pass"
grep -q 'd\.broken\.listing .*Failed' "$work/ctest.out" || fail "no failing d.broken.listing"
grep -q 'the simulator is not usable: not built here' "$work/ctest.out" ||
  fail "d.broken.listing does not give the binary's reason"
grep -q 'd\.never\.listing .*Failed' "$work/ctest.out" || fail "no failing d.never.listing"
grep -q 'the test binary was not built' "$work/ctest.out" ||
  fail "d.never.listing does not say the binary was not built"
grep -q '2 tests failed out of 4' "$work/ctest.out" || fail "not exactly 2 of 4 failed"
echo "check.sh: listing failures are failing tests; the rest ran"
