#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test. The real-libvirtd
# suites start their own daemon (tests/testbed) and stop it by pid.
#   scripts/test.sh                        the release build in build/
#   SANITIZE=address,undefined scripts/test.sh
#                                          the same suite built with ASan +
#                                          UBSan (leaks included) in
#                                          build-asan/: what .ci/run runs
# Extra arguments go to ctest (e.g. -R, -L, -E). BUILD_DIR and JOBS as in
# scripts/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/deps.sh
sanitize=${SANITIZE:-}
case $sanitize in
  "" | address,undefined) ;;
  *) echo "test.sh: SANITIZE is empty or address,undefined (TSan: scripts/sanitize.sh tsan)" >&2
     exit 2 ;;
esac
if [ -n "$sanitize" ]; then
  export BUILD_DIR=${BUILD_DIR:-build-asan}
  # Any report fails the test it happens in (-fno-sanitize-recover, and
  # halt_on_error for UBSan). tests/sanitizers/*.supp hold the few reports
  # from third-party code built without the sanitizer, each explained.
  # intercept_tls_get_addr=0: GCC 12's LeakSanitizer otherwise scans the
  # dynamic TLS blocks it recorded, and after a plugin's libraries are
  # unloaded one of them can be stale: its tracer then dies with SIGSEGV
  # ("Tracer caught signal 11", "DTLS 12 at 0x1b2-...") after every test of
  # the binary has passed. Leaks are still searched for, from every other
  # root. The real-libvirtd test beds start their own daemons: nothing here
  # preloads a sanitizer runtime into them, and these variables do nothing
  # in an uninstrumented program.
  supp=$root/tests/sanitizers
  export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_init_order=1:intercept_tls_get_addr=0"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
  HYPERCTL_SANITIZE=$sanitize scripts/build.sh
else
  scripts/build.sh
fi
build=${BUILD_DIR:-build}
clang-format --dry-run -Werror $(git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null || true)
cd "$build"
# Sanitized programs run slower: the per-test limits stay, the run's own
# limit is raised.
timeout=600
[ -n "$sanitize" ] && timeout=900
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout "$timeout" "$@"
