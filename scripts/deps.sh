#!/usr/bin/env bash
# Installs the Debian 12 packages hyperctl needs that are not there yet.
#   scripts/deps.sh           build + test packages
#   scripts/deps.sh --build   only what building needs
set -euo pipefail

build_pkgs=(cmake ninja-build g++ pkg-config clang-format
  libvirt-dev libxml2-dev libssl-dev libboost-dev libboost-filesystem-dev
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev
  libvirt-daemon libvirt-clients  # the daemon package carries the test driver
  libpugixml-dev)  # the vSphere backend: XML answers (HTTPS: Boost.Beast, in libboost-dev)
test_pkgs=(libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils hyperfine
  time  # bench/vsphere: peak memory (GNU time %M)
  openssh-server openssh-client  # tests/testbed/sshd.sh: the runner's SSH transport
  openssl  # tests/trust: a real TLS server (openssl s_server) with a self-signed certificate
  # tests/vsphere, bench/vsphere: a simulated vCenter/ESXi (tests/vsphere/sim) on
  # govmomi's simulator, built from Debian's Go sources in GOPATH mode (no download)
  golang-go golang-github-vmware-govmomi-dev
  curl)  # tests/vsphere: a third client's raw vim25 calls (templates, renames)

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--build" ] || pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} packages"
