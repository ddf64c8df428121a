#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with clang-14 (ASan + UBSan) in
# build-fuzz/ and runs them (fuzz/README.md).
#   scripts/fuzz.sh                   every harness, 60 s each, one after the other
#   scripts/fuzz.sh uri 600           one harness for 600 s
#   scripts/fuzz.sh --build-only      build, run nothing
# New interesting inputs go to a working copy of the corpus
# (build-fuzz/corpus/NAME, seeded from fuzz/corpus/NAME); with MERGE=1 they
# are merged (minimised) into the committed fuzz/corpus/NAME afterwards.
# Crashes land in build-fuzz/findings/NAME/ (crash-*, leak-*, timeout-*).
# Environment: BUILD_DIR (build-fuzz), JOBS (2), CC/CXX (clang-14), NICE (10),
# NO_BUILD=1 (run what BUILD_DIR holds, e.g. while the tree is rebuilt).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD_DIR:-build-fuzz}
case "$build" in /*) ;; *) build=$root/$build ;; esac
jobs=${JOBS:-2}
export CC=${CC:-clang-14} CXX=${CXX:-clang++-14}

# Per harness: the largest input worth trying (text files and wsl.exe
# outputs are small; XML, SOAP and JSON answers are larger documents) and
# the time one input may take: every parser answers in well under a
# millisecond, so 10 s is a hang, not a slow input.
max_len() {
  case "$1" in
    uri | size) echo 512 ;;
    config | credentials | trust | wsl) echo 8192 ;;
    *) echo 65536 ;;
  esac
}
timeout_of() { echo 10; }

harnesses() { sed -n 's/^ *hyperctl_add_fuzzer(\([a-z0-9_]*\).*/\1/p' fuzz/CMakeLists.txt; }

build_all() {
  generator=()
  [ -f "$build/CMakeCache.txt" ] || generator=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  cmake -S . -B "$build" "${generator[@]}" -DHYPERCTL_FUZZ=ON >/dev/null
  cmake --build "$build" -j "$jobs" --target fuzz-all
}

run_one() {
  local name=$1 seconds=$2
  local bin="$build/fuzz/fuzz-$name"
  local work="$build/corpus/$name" findings="$build/findings/$name"
  [ -x "$bin" ] || { echo "fuzz.sh: no harness '$name' (have: $(harnesses | xargs))" >&2; exit 2; }
  mkdir -p "$work" "$findings"
  cp -n fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  echo "== $name: ${seconds}s, -max_len=$(max_len "$name") -timeout=$(timeout_of "$name")"
  # -jobs=1/-workers=1 and nice: other builds on the machine keep their CPU.
  # The regression inputs are read too (not written): they seed mutation.
  # -jobs writes fuzz-0.log into the current folder: the findings folder.
  # Only a harness that found something has regression inputs; libFuzzer
  # refuses to start on a corpus folder that does not exist.
  local seeds=("$work")
  [ -d "$root/fuzz/regressions/$name" ] && seeds+=("$root/fuzz/regressions/$name")
  (cd "$findings" && nice -n "${NICE:-10}" "$bin" -max_total_time="$seconds" \
    -max_len="$(max_len "$name")" -timeout="$(timeout_of "$name")" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$findings/" -jobs=1 -workers=1 \
    "${seeds[@]}") || true
  tail -n 12 "$findings/fuzz-0.log" || true
  if [ "${MERGE:-0}" = 1 ]; then
    "$bin" -merge=1 -max_len="$(max_len "$name")" fuzz/corpus/"$name" "$work"
  fi
  ls "$findings"
}

[ "${NO_BUILD:-0}" = 1 ] || build_all
[ "${1:-}" = "--build-only" ] && exit 0
if [ $# -ge 1 ]; then
  run_one "$1" "${2:-60}"
else
  for name in $(harnesses); do run_one "$name" "${2:-60}"; done
fi
