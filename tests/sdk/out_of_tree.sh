#!/usr/bin/env bash
# sdk.out_of_tree: the SDK as a backend author outside this repository uses it.
#   tests/sdk/out_of_tree.sh BUILD_DIR SOURCE_DIR
# 1. installs BUILD_DIR into a temporary prefix P;
# 2. copies examples/backend-skeleton out of the tree and configures it with
#    only P visible (CMAKE_PREFIX_PATH=P), checking that nothing of the source
#    or build tree leaks into its compile commands;
# 3. checks the plugin it built (entry points exported, no RUNPATH);
# 4. drives it through P/bin/hyperctl with HYPERCTL_PLUGIN_PATH: list, create,
#    start, list -o json, a hostile name, backends;
# 5. checks the pkg-config file by compiling a tiny program against it;
# 6. runs the skeleton's conformance test when the installed package has
#    hyperctl::conformance (required when CI=true).
# Temporary folders are removed on exit.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hyperctl-sdk-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
src=$tmp/skeleton-src
skb=$tmp/skeleton-build
vms=$tmp/vms
mkdir -p "$vms"

# Nothing from the caller's environment may steer the run.
unset HYPERCTL_URI HYPERCTL_PLUGIN_PATH CMAKE_PREFIX_PATH PKG_CONFIG_PATH hyperctl_DIR || true

step() { printf '\n== %s\n' "$*"; }
fail() {
  echo "sdk.out_of_tree: FAIL: $*" >&2
  exit 1
}

step "install $build into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log"
  fail "cmake --install failed"
}
lib=$(find "$prefix" -name libhyperctl.so -print -quit)
[ -n "$lib" ] || fail "no libhyperctl.so under $prefix"
libdir=${lib#"$prefix"/}
libdir=${libdir%/libhyperctl.so}
for f in bin/hyperctl include/hyperctl/plugin.hpp include/hyperctl/connection.hpp \
  "$libdir/hyperctl/plugins/libhyperctl-libvirt.so" \
  "$libdir/cmake/hyperctl/hyperctlConfig.cmake" \
  "$libdir/cmake/hyperctl/hyperctlConfigVersion.cmake" \
  "$libdir/cmake/hyperctl/hyperctlTargets.cmake" \
  "$libdir/cmake/hyperctl/HyperctlBackend.cmake" \
  "$libdir/pkgconfig/hyperctl.pc"; do
  [ -e "$prefix/$f" ] || fail "the install lacks $f"
done
ls "$prefix/$libdir"/libhyperctl.so.* >/dev/null 2>&1 || fail "libhyperctl has no SOVERSION file"

step "configure the skeleton against $prefix only"
cp -r "$source_dir/examples/backend-skeleton" "$src"
cmake -S "$src" -B "$skb" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$tmp/configure.log" 2>&1 || {
  cat "$tmp/configure.log"
  fail "configuring the skeleton failed"
}
found=$(sed -n 's/^hyperctl_DIR:PATH=//p' "$skb/CMakeCache.txt")
[ "$(cd "$found" && pwd -P)" = "$(cd "$prefix/$libdir/cmake/hyperctl" && pwd -P)" ] ||
  fail "find_package(hyperctl) used $found, not the temporary prefix"
if grep -q -e "$source_dir" -e "$build" "$skb/compile_commands.json"; then
  grep -o -e "[^ \"]*$source_dir[^ \"]*" -e "[^ \"]*$build[^ \"]*" "$skb/compile_commands.json" | sort -u
  fail "the skeleton build refers to the hyperctl source or build tree"
fi

step "build the skeleton"
cmake --build "$skb" -j 2 >"$tmp/build.log" 2>&1 || {
  cat "$tmp/build.log"
  fail "building the skeleton failed"
}
plugin=$skb/libhyperctl-skeleton.so
[ -f "$plugin" ] || fail "no $plugin"
# Hidden visibility: the entry points are exported, none of the plugin's own
# code nor a copy of the core's classes is. (Weak instantiations of library
# templates, e.g. Boost.System's, stay visible; the loader opens plugins with
# RTLD_LOCAL, so they bind nothing outside the plugin.)
symbols=$(nm -D --defined-only -C "$plugin")
for entry in hyperctl_plugin_abi hyperctl_plugin_factory; do
  echo "$symbols" | grep -q " $entry\$" || fail "the plugin does not export $entry"
done
if echo "$symbols" | grep -E "skeleton::|hyperctl::"; then
  fail "the plugin exports its own or the core's symbols (above)"
fi
if readelf -d "$plugin" | grep -q -e RUNPATH -e RPATH; then
  fail "the plugin has a RUNPATH: $(readelf -d "$plugin" | grep -e RUNPATH -e RPATH)"
fi

hyperctl=$prefix/bin/hyperctl
export HYPERCTL_PLUGIN_PATH=$skb
uri="skeleton://$vms"
run() {
  echo "\$ hyperctl $*"
  "$hyperctl" "$@"
}

step "drive the skeleton through the installed hyperctl"
run -c "$uri" list
run -c "$uri" create --name web1 --vcpus 2 --memory 256M
[ -f "$vms/web1.json" ] || fail "create did not write $vms/web1.json"
run -c "$uri" start web1
json=$(run -c "$uri" list -o json)
echo "$json"
compact=$(printf '%s' "$json" | tr -d ' \n')
printf '%s' "$compact" | grep -q '"name":"web1"' || fail "list -o json does not show web1"
printf '%s' "$compact" | grep -q '"state":"running"' || fail "web1 is not running in list -o json"
status=0
"$hyperctl" -c "$uri" create --name ../escape 2>"$tmp/err" || status=$?
cat "$tmp/err"
[ "$status" -eq 2 ] || fail "create --name ../escape exited with $status, not 2 (invalid argument)"
[ ! -e "$tmp/escape.json" ] || fail "a hostile name wrote outside the VM folder"
status=0
"$hyperctl" -c "$uri" start web1 2>"$tmp/err" || status=$?
cat "$tmp/err"
[ "$status" -eq 5 ] || fail "starting a running VM exited with $status, not 5 (conflict)"

backends=$(run backends)
echo "$backends"
echo "$backends" | grep -q "skeleton" || fail "hyperctl backends does not list skeleton"
echo "$backends" | grep -q "$plugin" || fail "hyperctl backends does not show $plugin"
echo "$backends" | grep -q "libvirt" || fail "hyperctl backends does not list libvirt"
echo "$backends" | grep -q "$prefix/$libdir/hyperctl/plugins/libhyperctl-libvirt.so" ||
  fail "libvirt was not loaded from the installed plugin folder"

step "pkg-config"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
pluginsdir=$(pkg-config --variable=pluginsdir hyperctl)
[ "$(cd "$pluginsdir" && pwd -P)" = "$(cd "$prefix/$libdir/hyperctl/plugins" && pwd -P)" ] ||
  fail "pkg-config pluginsdir is $pluginsdir"
cat >"$tmp/version.cpp" <<'EOF'
#include <hyperctl/version.hpp>
#include <iostream>
int main() { std::cout << hyperctl::version() << "\n"; }
EOF
# shellcheck disable=SC2046
c++ "$tmp/version.cpp" -o "$tmp/version" $(pkg-config --cflags --libs hyperctl)
echo "pkg-config consumer: libhyperctl $(LD_LIBRARY_PATH=$prefix/$libdir "$tmp/version")"

step "conformance"
if grep -q "hyperctl::conformance" "$prefix/$libdir/cmake/hyperctl/hyperctlTargets.cmake"; then
  [ -x "$skb/skeleton-conformance" ] || fail "hyperctl::conformance is installed but skeleton-conformance was not built"
  ctest --test-dir "$skb" --output-on-failure --no-tests=error
else
  why="the installed package has no hyperctl::conformance target (the build did not install it)"
  if [ "${CI:-}" = "true" ]; then
    fail "$why; CI requires it"
  fi
  echo "SKIPPED the skeleton's conformance test: $why"
fi

echo
echo "sdk.out_of_tree: OK"
