#!/usr/bin/env bash
# Configures and builds hyperctl in BUILD_DIR (default: build/).
#   scripts/build.sh              everything, test suites included
#   scripts/build.sh --no-tests   what a user runs: library, CLI, plugins
# HYPERCTL_SANITIZE=address,undefined (or thread) builds with sanitizers
# (cmake/Sanitizers.cmake): scripts/test.sh and scripts/sanitize.sh set it.
# It configures every time (a second or two): packages installed since the
# last run (Go for the vSphere simulator, say) are found, and a tree set up
# without tests gets them.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
tests=ON
[ "${1:-}" = "--no-tests" ] && tests=OFF
generator=()
[ -f "$build/CMakeCache.txt" ] || generator=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
sanitize=()
[ -n "${HYPERCTL_SANITIZE:-}" ] && sanitize=(-DHYPERCTL_SANITIZE="$HYPERCTL_SANITIZE")
cmake -S . -B "$build" "${generator[@]}" "${sanitize[@]}" -DHYPERCTL_BUILD_TESTS="$tests" >/dev/null
cmake --build "$build" -j "$jobs"
