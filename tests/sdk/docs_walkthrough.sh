#!/usr/bin/env bash
# sdk.docs_walkthrough: follows docs/plugins.md literally.
#   tests/sdk/docs_walkthrough.sh BUILD_DIR SOURCE_DIR
# Every fenced ```sh block directly preceded by the line <!-- sdk-test --> is
# extracted, in document order, and the blocks run as one bash script (so a
# variable exported in one block is seen by the next) with -e, -u and
# pipefail, in an empty folder, with the variables the document introduces:
#   HYPERCTL_SRC    the hyperctl source tree (SOURCE_DIR)
#   HYPERCTL_BUILD  a configured and built hyperctl build folder (BUILD_DIR)
#   PREFIX          an empty install prefix
# A marker not followed by a ```sh block, or a document without any marked
# block, fails the test.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
doc=$source_dir/docs/plugins.md
[ -f "$doc" ] || {
  echo "docs_walkthrough: no $doc" >&2
  exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hyperctl-docs-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The marked blocks, in order. awk exits 3 on a marker without a block.
script=$tmp/walkthrough.sh
awk '
  state == 0 && $0 == "<!-- sdk-test -->" { state = 1; marker = NR; next }
  state == 1 {
    if ($0 != "```sh") { printf "docs/plugins.md:%d: <!-- sdk-test --> is not followed by a ```sh block\n", marker > "/dev/stderr"; exit 3 }
    state = 2; blocks++; printf "\n# --- docs/plugins.md:%d\n", NR + 1; next
  }
  state == 2 && $0 == "```" { state = 0; next }
  state == 2 { print; next }
  END {
    if (state == 2) { print "docs/plugins.md: unterminated sdk-test block" > "/dev/stderr"; exit 3 }
    if (blocks == 0) { print "docs/plugins.md: no <!-- sdk-test --> block" > "/dev/stderr"; exit 3 }
  }
' "$doc" >"$script"

echo "== the commands docs/plugins.md gives, as run:"
cat "$script"
echo "=="

work=$tmp/work
mkdir -p "$work" "$tmp/prefix"
cd "$work"
env -u HYPERCTL_URI -u HYPERCTL_PLUGIN_PATH -u CMAKE_PREFIX_PATH -u hyperctl_DIR \
  HYPERCTL_SRC="$source_dir" HYPERCTL_BUILD="$build" PREFIX="$tmp/prefix" \
  bash -euo pipefail -x "$script"
echo
echo "sdk.docs_walkthrough: OK"
