#!/bin/sh
# A real libvirtd + virtlogd in system mode, without systemd (TESTBEDS.md §2).
#
#   libvirtd.sh start  STATE_DIR   start (or reuse) the daemons; pids go to STATE_DIR
#   libvirtd.sh stop   STATE_DIR   remove hyperctl-test-* domains, stop what start started
#   libvirtd.sh status STATE_DIR   one line: what runs and whose it is
#
# Daemons are stopped by the pid recorded when they were started, never by
# name. A libvirtd that was already running before `start` (and not started by
# this script) is reused and left alone.
#
# Several runs on one machine (two build trees running ctest at once) share
# one test-bed daemon: start and stop hold a machine-wide lock, every run that
# uses the daemon registers itself under /run/hyperctl-testbed/users, and only
# the last one to stop removes the test domains and stops the daemons. A run is
# registered with the pid and start time of the script's parent (ctest), or of
# HYPERCTL_TESTBED_OWNER_PID when set, so a run that died without stopping
# does not keep the daemon alive.
#
# Exit status: 0 fine; 1 failed; 77 the test bed is unavailable here (not
# root, packages missing, the daemon would not start) and this is not CI, so
# the suites that need it should skip. With CI=true (or
# HYPERCTL_TESTBED_REQUIRED=1) unavailability is a failure (1). The reason is
# always printed on one line and kept in STATE_DIR/unavailable.
set -u

SOCK=/var/run/libvirt/libvirt-sock
VIRTLOGD_SOCK=/var/run/libvirt/virtlogd-sock
URI=qemu:///system
QEMU_CONF=/etc/libvirt/qemu.conf
IMAGES=/var/lib/libvirt/images
TEST_PREFIX=hyperctl-test-
WAIT_SECONDS=20
# Machine-wide: which daemons this script started, who uses them, the lock.
SHARED=/run/hyperctl-testbed

me=$(basename "$0")
BED_NAME="libvirtd test bed"
USERS_DIR=$SHARED/users
LOCK_FILE=$SHARED/start-stop.lock

# Shared helpers: required, unavailable, fail, pid_is, read_pid, stop_pid,
# take_lock, start_time, user_file, register_user, live_users.
. "$(dirname "$0")/common.sh"

usage() {
  echo "usage: $me start|stop|status STATE_DIR" >&2
  exit 1
}

[ $# -eq 2 ] || usage
cmd=$1
state=$2

daemon_answers() {
  [ -S "$SOCK" ] && virsh -q -c "$URI" uri >/dev/null 2>&1
}

ensure_group() {
  getent group "$1" >/dev/null 2>&1 && return 0
  groupadd --system "$1" 2>/dev/null || addgroup --system "$1" >/dev/null 2>&1
}

ensure_accounts() {
  ensure_group kvm || return 1
  ensure_group libvirt || return 1
  ensure_group libvirt-qemu || return 1
  getent passwd libvirt-qemu >/dev/null 2>&1 && return 0
  useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin \
    --gid libvirt-qemu --groups kvm libvirt-qemu 2>/dev/null
}

# Sets user/group root and security_driver none in qemu.conf, once: a marked
# block replaces any earlier uncommented setting of the same keys.
configure_qemu() {
  mkdir -p "$(dirname "$QEMU_CONF")" || return 1
  [ -e "$QEMU_CONF" ] || : >"$QEMU_CONF" || return 1
  [ -e "$QEMU_CONF.hyperctl-orig" ] || cp -p "$QEMU_CONF" "$QEMU_CONF.hyperctl-orig" || return 1
  tmp="$QEMU_CONF.hyperctl-tmp"
  awk '
    /^# BEGIN hyperctl testbed/ { skip = 1; next }
    /^# END hyperctl testbed/ { skip = 0; next }
    skip { next }
    /^[ \t]*(user|group|security_driver)[ \t]*=/ { next }
    { print }
  ' "$QEMU_CONF" >"$tmp" || return 1
  cat >>"$tmp" <<'EOF'
# BEGIN hyperctl testbed (tests/testbed/libvirtd.sh)
user = "root"
group = "root"
security_driver = "none"
# END hyperctl testbed
EOF
  if cmp -s "$tmp" "$QEMU_CONF"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$QEMU_CONF"
  fi
}

ensure_default_pool() {
  if ! virsh -q -c "$URI" pool-info default >/dev/null 2>&1; then
    virsh -q -c "$URI" pool-define-as default dir --target "$IMAGES" >/dev/null ||
      return 1
  fi
  state_line=$(virsh -q -c "$URI" pool-info default 2>/dev/null | awk -F: '$1 == "State" { gsub(/ /, "", $2); print $2 }')
  if [ "$state_line" != "running" ]; then
    virsh -q -c "$URI" pool-start default >/dev/null || return 1
  fi
  virsh -q -c "$URI" pool-autostart default >/dev/null
}

kvm_note() {
  if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
    qemu-system-x86_64 -accel help 2>/dev/null | grep -qx kvm; then
    echo "usable"
  else
    echo "not usable (use domain type='qemu', TCG)"
  fi
}

start() {
  mkdir -p "$state" || fail "cannot create state folder $state"
  rm -f "$state/unavailable"
  [ "$(id -u)" = 0 ] || unavailable "needs root (system-mode libvirtd), running as uid $(id -u)"
  for prog in libvirtd virtlogd virsh qemu-system-x86_64 qemu-img; do
    command -v "$prog" >/dev/null 2>&1 ||
      PATH="$PATH:/usr/sbin:/sbin" command -v "$prog" >/dev/null 2>&1 ||
      unavailable "$prog not found (apt-get install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils)"
  done
  PATH="$PATH:/usr/sbin:/sbin"
  [ -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] ||
    ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so >/dev/null 2>&1 ||
    unavailable "libvirt's QEMU driver is not installed (apt-get install libvirt-daemon-driver-qemu)"

  command -v flock >/dev/null 2>&1 || unavailable "flock not found (apt-get install util-linux)"
  take_lock

  # Started by this script, for this run or another one: use it too.
  lpid=$(read_pid "$SHARED/libvirtd.pid")
  if pid_is "$lpid" libvirtd && daemon_answers; then
    cp "$SHARED/libvirtd.pid" "$state/libvirtd.pid"
    if [ -e "$SHARED/virtlogd.pid" ]; then
      cp "$SHARED/virtlogd.pid" "$state/virtlogd.pid"
    else
      rm -f "$state/virtlogd.pid"
    fi
    echo shared >"$state/owner"
    register_user
    echo "using the test-bed libvirtd already running (pid $lpid, $(live_users) run(s)), $URI answers"
    return 0
  fi
  rm -f "$SHARED/libvirtd.pid" "$SHARED/virtlogd.pid"

  # Started by someone else: reuse, never stop it.
  if [ -S "$SOCK" ]; then
    if daemon_answers; then
      rm -f "$state/libvirtd.pid" "$state/virtlogd.pid" "$(user_file)"
      echo reused >"$state/owner"
      echo "reusing the libvirtd already running (not ours; stop will leave it alone), $URI answers; /dev/kvm $(kvm_note)"
      return 0
    fi
    # A stale socket from a daemon that died: libvirtd removes and recreates it.
  fi

  ensure_accounts || unavailable "cannot create the groups kvm, libvirt, libvirt-qemu or the user libvirt-qemu"
  mkdir -p /var/log/libvirt /var/run/libvirt "$IMAGES" || unavailable "cannot create libvirt folders"
  configure_qemu || unavailable "cannot write $QEMU_CONF"
  echo ours >"$state/owner"

  # virtlogd: reuse one that already serves its socket, else start ours.
  vpid=$(read_pid "$state/virtlogd.pid")
  if ! pid_is "$vpid" virtlogd; then
    if [ -S "$VIRTLOGD_SOCK" ] && pid_is "$(read_pid /var/run/virtlogd.pid)" virtlogd; then
      rm -f "$state/virtlogd.pid"
    else
      rm -f "$state/virtlogd.pid"
      LIBVIRT_LOG_OUTPUTS="3:file:$state/virtlogd.log" \
        virtlogd -d -p "$state/virtlogd.pid" 2>>"$state/virtlogd.log" 9>&- ||
        unavailable "virtlogd -d failed (see $state/virtlogd.log)"
      i=0
      while [ ! -S "$VIRTLOGD_SOCK" ] && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
      done
    fi
  fi

  rm -f "$state/libvirtd.pid"
  LIBVIRT_LOG_OUTPUTS="3:file:$state/libvirtd.log" \
    libvirtd -d -p "$state/libvirtd.pid" 2>>"$state/libvirtd.log" 9>&- ||
    unavailable "libvirtd -d failed: $(tail -n 1 "$state/libvirtd.log" 2>/dev/null)"

  i=0
  while ! daemon_answers && [ $i -lt $((WAIT_SECONDS * 10)) ]; do
    lpid=$(read_pid "$state/libvirtd.pid")
    if [ $i -gt 20 ] && ! pid_is "$lpid" libvirtd; then
      unavailable "libvirtd exited during start-up: $(grep -i error "$state/libvirtd.log" 2>/dev/null | tail -n 1)"
    fi
    sleep 0.1
    i=$((i + 1))
  done
  if ! daemon_answers; then
    reason=$(grep -i error "$state/libvirtd.log" 2>/dev/null | tail -n 1)
    stop_daemons
    unavailable "$SOCK did not answer within ${WAIT_SECONDS} s${reason:+: $reason}"
  fi
  if ! ensure_default_pool; then
    stop_daemons
    unavailable "cannot define or start the storage pool 'default' at $IMAGES"
  fi
  cp "$state/libvirtd.pid" "$SHARED/libvirtd.pid"
  if [ -e "$state/virtlogd.pid" ]; then cp "$state/virtlogd.pid" "$SHARED/virtlogd.pid"; fi
  register_user
  echo "libvirtd started (pid $(read_pid "$state/libvirtd.pid")), $URI answers; /dev/kvm $(kvm_note)"
}

# Destroys and undefines every domain whose name starts with hyperctl-test-,
# deletes such volumes from the pool "default", and stops and undefines such
# pools (their folders stay: tests make them under temporary folders).
remove_test_domains() {
  daemon_answers || return 0
  virsh -q -c "$URI" list --all --name 2>/dev/null | while read -r dom; do
    case "$dom" in
      "$TEST_PREFIX"*)
        qpid=$(read_pid "/var/run/libvirt/qemu/$dom.pid")
        virsh -q -c "$URI" destroy "$dom" >/dev/null 2>&1
        virsh -q -c "$URI" undefine "$dom" --managed-save --snapshots-metadata --nvram \
          >/dev/null 2>&1 || virsh -q -c "$URI" undefine "$dom" >/dev/null 2>&1
        # The QEMU libvirt recorded must be gone too; kill it by that pid.
        [ -n "$qpid" ] && stop_pid "$qpid" qemu-system-x86
        echo "removed leftover test domain $dom"
        ;;
    esac
  done
  virsh -q -c "$URI" vol-list --pool default 2>/dev/null | awk '{ print $1 }' | while read -r vol; do
    case "$vol" in
      "$TEST_PREFIX"*)
        virsh -q -c "$URI" vol-delete --pool default "$vol" >/dev/null 2>&1 &&
          echo "removed leftover test volume $vol"
        ;;
    esac
  done
  virsh -q -c "$URI" pool-list --all --name 2>/dev/null | while read -r pool; do
    case "$pool" in
      "$TEST_PREFIX"*)
        virsh -q -c "$URI" pool-destroy "$pool" >/dev/null 2>&1
        virsh -q -c "$URI" pool-undefine "$pool" >/dev/null 2>&1 &&
          echo "removed leftover test pool $pool"
        ;;
    esac
  done
}

# Stops the daemons this script started, by the pids it recorded.
stop_daemons() {
  ok=0
  for prog in libvirtd virtlogd; do
    pid=$(read_pid "$SHARED/$prog.pid")
    [ -n "$pid" ] || pid=$(read_pid "$state/$prog.pid")
    if [ -n "$pid" ]; then
      stop_pid "$pid" "$prog" || ok=1
    fi
    rm -f "$SHARED/$prog.pid" "$state/$prog.pid"
  done
  return $ok
}

stop() {
  [ -d "$state" ] || {
    echo "nothing to stop ($state does not exist)"
    return 0
  }
  PATH="$PATH:/usr/sbin:/sbin"
  owner=$(cat "$state/owner" 2>/dev/null)
  case "$owner" in
    reused)
      left=$(virsh -q -c "$URI" list --all --name 2>/dev/null | grep "^$TEST_PREFIX" | tr '\n' ' ')
      [ -n "$left" ] && echo "$me: leaving test domains on the reused libvirtd: $left" >&2
      rm -f "$state/owner"
      echo "libvirtd was not started by this test bed; left running"
      return 0
      ;;
    ours | shared) ;;
    *)
      echo "nothing to stop (start did not run or found the test bed unavailable)"
      return 0
      ;;
  esac
  take_lock
  rm -f "$(user_file)" "$state/owner"
  others=$(live_users)
  if [ "$others" -gt 0 ]; then
    rm -f "$state/libvirtd.pid" "$state/virtlogd.pid"
    echo "left libvirtd running for $others other run(s) using it"
    return 0
  fi
  lpid=$(read_pid "$SHARED/libvirtd.pid")
  [ -n "$lpid" ] || lpid=$(read_pid "$state/libvirtd.pid")
  if pid_is "$lpid" libvirtd; then
    remove_test_domains
    running=$(virsh -q -c "$URI" list --name 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')
    [ -n "$running" ] &&
      echo "$me: domains still running (their QEMU outlives libvirtd): $running" >&2
  fi
  stop_daemons || fail "could not stop the daemons started by this test bed"
  echo "stopped"
}

status() {
  lpid=$(read_pid "$SHARED/libvirtd.pid")
  vpid=$(read_pid "$SHARED/virtlogd.pid")
  owner=$(cat "$state/owner" 2>/dev/null)
  if pid_is "$lpid" libvirtd; then
    if pid_is "$vpid" virtlogd; then vlog="pid $vpid"; else vlog="not ours"; fi
    echo "libvirtd running (test bed, pid $lpid, this run: ${owner:-not using it}); virtlogd $vlog"
  elif [ -S "$SOCK" ] && daemon_answers; then
    echo "libvirtd running (not started by the test bed)"
  elif [ -r "$state/unavailable" ]; then
    echo "unavailable: $(cat "$state/unavailable")"
    return 3
  else
    echo "libvirtd not running"
    return 3
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
