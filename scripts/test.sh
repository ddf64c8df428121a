#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test. The real-libvirtd
# suites start their own daemon (tests/testbed) and stop it by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
build=${BUILD_DIR:-build}
clang-format --dry-run -Werror $(git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null || true)
cd "$build"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 600 "$@"
