#!/bin/sh
# A simulated vCenter or ESXi host on 127.0.0.1 for trying hyperctl's vSphere
# backend by hand and for the benchmarks (bench/vsphere): tests/vsphere/sim
# (govmomi's simulator behind HTTPS with a fresh self-signed certificate).
# The C++ suites start their own simulator per suite (support.hpp).
#
#   vcsim.sh start  STATE_DIR [serve flags...]  start it, print its ready line
#   vcsim.sh stop   STATE_DIR                   stop it (by the pid start recorded)
#   vcsim.sh status STATE_DIR                   one line: running or not
#   vcsim.sh env    STATE_DIR                   HYPERCTL_TEST_VSPHERE_* and
#                                               HYPERCTL_PASSWORD for `eval`
#
# Serve flags (hyperctl-vcsim serve -h): -mode vpx|esx, -vms N (per resource
# pool), -hosts N, -clusters N, -cluster-hosts N, -datastores N,
# -autostart=false, -idle-timeout D, -inject METHOD=MODE[*N], -user U.
#
# The binary: $HYPERCTL_VCSIM, else build/tests/vsphere/hyperctl-vcsim in the
# source tree (cmake builds it when Go is installed: scripts/deps.sh).
# The password: $HYPERCTL_VCSIM_PASSWORD, else a random one kept in
# STATE_DIR/password (mode 0600); it never goes on a command line.
#
# STATE_DIR after start:
#   ready        the JSON line: url, host, port, thumbprint (SHA-256), pid,
#                mode, user, and the inventory's counts (vms, hosts...)
#   password     the password (0600)
#   vcsim.pid    the simulator's pid (stop kills by it); vcsim.log its output
#   tmp/         its datastores (removed by stop)
#   unavailable  one line, when the test bed cannot run here
#
# Exit status: 0 fine; 1 failed; 77 unavailable here (not built) outside CI;
# with CI=true (or HYPERCTL_TESTBED_REQUIRED=1) unavailability exits 1.
set -u

# HYPERCTL_VCSIM_WAIT: seconds to wait for the ready file (10; a simulator
# with 10,000 VMs takes about 30).
WAIT_SECONDS=${HYPERCTL_VCSIM_WAIT:-10}
PROG=hyperctl-vcsim

me=$(basename "$0")
BED_NAME="vSphere simulator"
here=$(cd "$(dirname "$0")" && pwd)

# Shared helpers: required, unavailable, fail, pid_is, read_pid, stop_pid.
. "$here/../testbed/common.sh"

usage() {
  echo "usage: $me start|stop|status|env STATE_DIR [serve flags...]" >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
state=$2
shift 2

json_field() { # FILE KEY: a string or number field of the one-line JSON
  sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$1"
}

running() {
  pid_is "$(read_pid "$state/vcsim.pid")" "$PROG"
}

start() {
  mkdir -p "$state" || fail "cannot create $state"
  state=$(cd "$state" && pwd)
  if running; then
    cat "$state/ready"
    return 0
  fi
  bin=${HYPERCTL_VCSIM:-$here/../../build/tests/vsphere/$PROG}
  [ -x "$bin" ] || unavailable "$bin is not built (go not installed? scripts/deps.sh installs golang-go and govmomi)"
  rm -f "$state/ready" "$state/unavailable" "$state/vcsim.pid"
  if [ -z "${HYPERCTL_VCSIM_PASSWORD:-}" ]; then
    if [ ! -s "$state/password" ]; then
      (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$state/password") ||
        fail "cannot write $state/password"
    fi
    HYPERCTL_VCSIM_PASSWORD=$(cat "$state/password")
  else
    (umask 077 && printf '%s' "$HYPERCTL_VCSIM_PASSWORD" >"$state/password")
  fi
  export HYPERCTL_VCSIM_PASSWORD
  mkdir -p "$state/tmp"
  TMPDIR="$state/tmp" "$bin" serve -ready "$state/ready" "$@" \
    </dev/null >"$state/vcsim.log" 2>&1 9>&- &
  pid=$!
  echo $pid >"$state/vcsim.pid"
  i=0
  while [ ! -s "$state/ready" ]; do
    # (not `running`: until its exec the child is still a shell)
    if ! kill -0 "$pid" 2>/dev/null; then
      fail "the simulator exited at start: $(tail -n 3 "$state/vcsim.log" | tr '\n' ' ')"
    fi
    [ $i -lt $((WAIT_SECONDS * 10)) ] || fail "no ready file after $WAIT_SECONDS s"
    sleep 0.1
    i=$((i + 1))
  done
  cat "$state/ready"
}

stop() {
  [ -d "$state" ] || return 0
  stop_pid "$(read_pid "$state/vcsim.pid")" "$PROG" || fail "could not stop the simulator"
  rm -rf "$state/tmp" "$state/ready" "$state/vcsim.pid"
}

case "$cmd" in
start) start "$@" ;;
stop) stop ;;
status)
  if running; then echo "running: $(cat "$state/ready")"; else echo "not running"; fi
  ;;
env)
  running || fail "not running (start it first)"
  port=$(json_field "$state/ready" port)
  tp=$(json_field "$state/ready" thumbprint)
  user=$(json_field "$state/ready" user)
  scheme=vsphere
  [ "$(json_field "$state/ready" mode)" = esx ] && scheme=esx
  echo "HYPERCTL_TEST_VSPHERE_URI='$scheme://$user@127.0.0.1:$port/?thumbprint=$tp'"
  echo "HYPERCTL_TEST_VSPHERE_SDK='$(json_field "$state/ready" url)'"
  echo "HYPERCTL_PASSWORD='$(cat "$state/password")'"
  ;;
*) usage ;;
esac
