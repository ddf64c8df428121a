#!/usr/bin/env bash
# First contact: install what is missing, build, and list the VMs of libvirt's
# embedded test host (no daemon needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --build
scripts/build.sh --no-tests
echo
echo "\$ build/bin/hyperctl -c test:///default list"
build/bin/hyperctl -c test:///default list
