#!/bin/sh
# A second libvirtd that looks like another host, for migration tests
# (TESTBEDS.md section 3). See README.md, "A second host: peer.sh".
#
#   peer.sh start   STATE_DIR [N]   start (or join) the peer; URI qemu+tcp://127.0.0.1:16510/system
#   peer.sh stop    STATE_DIR [N]   remove hyperctl-test-* domains there, stop the peer and its QEMUs
#   peer.sh status  STATE_DIR [N]   one line
#   peer.sh kill    STATE_DIR [N]   SIGKILL the peer libvirtd only (its QEMUs keep running)
#   peer.sh restart STATE_DIR [N]   stop the peer libvirtd (TERM) if alive and start it again
#
# N (0 to 9, default 0) picks one of several peers, for fleet tests that need
# many hosts: peer 0 is the one described below (port 16510, hostname
# hyperctl-peer); peer N >= 1 listens on 16510+N, is named hyperctl-peerN,
# has its own host UUID, lock, users and tree files (/run/hyperctl-testbed/
# peerN.*) and the incoming-migration ports 49300+64N to 49363+64N. Each peer
# is independent: start and stop each one with its own STATE_DIR and N.
# Each peer resolves its own hostname through a private /etc/hosts.
#
# The peer runs in its own UTS and mount namespace (unshare) with private
# folders bind-mounted over /var/run/libvirt, /var/lib/libvirt, /etc/libvirt
# and /var/log/libvirt, its own hostname and host UUID, and listens on TCP
# 127.0.0.1:16510 without authentication (loopback, test only). Its folders
# are STATE_DIR/tree/{run,lib,etc,log} (for a run that joined a peer started
# by another run, STATE_DIR/tree is a symbolic link to that run's tree).
#
# Several runs share one peer like libvirtd.sh shares the main daemon: a
# machine-wide lock, users registered in /run/hyperctl-testbed/peer-users,
# and only the last run to stop stops the peer. Processes are stopped by the
# pids recorded (the peer's pid file, the QEMU pid files libvirt writes in the
# peer's run folder), never by name.
#
# Exit status: 0 fine; 1 failed; 77 the peer cannot run here and this is not
# CI (CI=true or HYPERCTL_TESTBED_REQUIRED=1: 1 instead); 3 (status) not running.
set -u

usage() {
  echo "usage: $(basename "$0") start|stop|status|kill|restart STATE_DIR [N]" >&2
  exit 1
}

[ $# -eq 2 ] || [ $# -eq 3 ] || usage
INDEX=${3:-0}
case "$INDEX" in [0-9]) ;; *) usage ;; esac

TEST_PREFIX=hyperctl-test-
WAIT_SECONDS=20
SHARED=/run/hyperctl-testbed
me=$(basename "$0")
if [ "$INDEX" = 0 ]; then
  PORT=16510
  PEER_HOSTNAME=hyperctl-peer
  MIGRATION_PORTS="49300 49363"
  BED_NAME="libvirt peer test bed"
  KEY=peer
else
  PORT=$((16510 + INDEX))
  PEER_HOSTNAME=hyperctl-peer$INDEX
  MIGRATION_PORTS="$((49300 + 64 * INDEX)) $((49363 + 64 * INDEX))"
  BED_NAME="libvirt peer $INDEX test bed"
  KEY=peer$INDEX
  me="$me (peer $INDEX)"
fi
URI=qemu+tcp://127.0.0.1:$PORT/system
USERS_DIR=$SHARED/$KEY-users
LOCK_FILE=$SHARED/$KEY.lock
TREE_FILE=$SHARED/$KEY.tree

# Shared helpers: required, unavailable, fail, pid_is, read_pid, stop_pid,
# take_lock, start_time, user_file, register_user, live_users.
. "$(dirname "$0")/common.sh"

cmd=$1
state=$2
case "$state" in /*) ;; *) state=$(pwd)/$state ;; esac
PATH="$PATH:/usr/sbin:/sbin"

answers() {
  virsh -q -c "$URI" version >/dev/null 2>&1
}

# The tree of the running peer (shared) or of this run.
tree() {
  t=$(cat "$TREE_FILE" 2>/dev/null)
  [ -n "$t" ] && [ -d "$t" ] && {
    echo "$t"
    return
  }
  echo "$state/tree"
}

peer_pid() {
  read_pid "$(tree)/libvirtd.pid"
}

# Writes the private configuration, once per tree.
make_tree() {
  t=$1
  mkdir -p "$t/run" "$t/lib/images" "$t/etc" "$t/log/qemu" || return 1
  mkdir -p /var/run/libvirt /var/lib/libvirt /etc/libvirt /var/log/libvirt || return 1
  if [ ! -e "$t/host_uuid" ]; then
    # A copy of /etc/libvirt without the main host's domains, pools, networks.
    for f in /etc/libvirt/*; do
      case "$(basename "$f")" in
        qemu | storage | secrets | libvirtd.conf | qemu.conf* | *.hyperctl-*) ;;
        *) cp -a "$f" "$t/etc/" || return 1 ;;
      esac
    done
    mkdir -p "$t/etc/qemu" "$t/etc/storage" "$t/etc/secrets"
    cat /proc/sys/kernel/random/uuid >"$t/host_uuid" || return 1
  fi
  uuid=$(cat "$t/host_uuid")
  cat >"$t/etc/libvirtd.conf" <<EOF
# hyperctl test-bed peer (tests/testbed/peer.sh): another host on this machine.
listen_tls = 0
listen_tcp = 1
tcp_port = "$PORT"
listen_addr = "127.0.0.1"
# Loopback only, test only.
auth_tcp = "none"
auth_unix_rw = "none"
host_uuid = "$uuid"
EOF
  set -- $MIGRATION_PORTS
  cat >"$t/etc/qemu.conf" <<EOF
# hyperctl test-bed peer (tests/testbed/peer.sh)
user = "root"
group = "root"
security_driver = "none"
# No virtlogd inside the peer: QEMU's output goes to /var/log/libvirt/qemu/NAME.log.
stdio_handler = "file"
# Incoming migrations: listen on and advertise 127.0.0.2 (libvirt refuses
# 127.0.0.1 as migration_host; loopback all the same), as the hostname
# $PEER_HOSTNAME resolves nowhere: no migration URI is needed.
migration_address = "127.0.0.2"
migration_host = "127.0.0.2"
# Not the main daemon's range, so both can receive at the same time.
migration_port_min = $1
migration_port_max = $2
EOF
  # Every peer resolves its own hostname from a private /etc/hosts: the
  # daemon looks its hostname up for virConnectGetHostname (every listing),
  # and a name unknown to /etc/hosts goes to DNS, where concurrent queries
  # here sometimes wait out the resolver's 5 s timeout.
  { cat /etc/hosts && echo "127.0.0.1 $PEER_HOSTNAME"; } >"$t/hosts" || return 1
  hosts_mount="mount --bind \"$t/hosts\" /etc/hosts"
  # Run inside the new namespaces: private folders, own hostname, then libvirtd.
  cat >"$t/enter.sh" <<EOF
#!/bin/sh
set -e
mount --bind "$t/run" /var/run/libvirt
mount --bind "$t/lib" /var/lib/libvirt
mount --bind "$t/etc" /etc/libvirt
mount --bind "$t/log" /var/log/libvirt
$hosts_mount
hostname $PEER_HOSTNAME
export LIBVIRT_LOG_OUTPUTS="3:file:$t/libvirtd.log"
exec libvirtd --listen -p "$t/libvirtd.pid" -f /etc/libvirt/libvirtd.conf
EOF
  chmod +x "$t/enter.sh"
}

launch() {
  t=$1
  rm -f "$t/libvirtd.pid"
  setsid unshare --uts --mount --propagation private "$t/enter.sh" \
    </dev/null >>"$t/libvirtd.out" 2>&1 9>&- &
  bg=$!
  i=0
  while ! answers && [ $i -lt $((WAIT_SECONDS * 10)) ]; do
    if [ $i -gt 5 ] && ! kill -0 "$bg" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
    i=$((i + 1))
  done
  answers
}

ensure_pool() {
  if ! virsh -q -c "$URI" pool-info default >/dev/null 2>&1; then
    virsh -q -c "$URI" pool-define-as default dir --target /var/lib/libvirt/images >/dev/null || return 1
  fi
  st=$(virsh -q -c "$URI" pool-info default 2>/dev/null | awk -F: '$1 == "State" { gsub(/ /, "", $2); print $2 }')
  if [ "$st" != "running" ]; then
    virsh -q -c "$URI" pool-start default >/dev/null || return 1
  fi
  virsh -q -c "$URI" pool-autostart default >/dev/null
}

start() {
  mkdir -p "$state" || fail "cannot create state folder $state"
  rm -f "$state/unavailable"
  [ "$(id -u)" = 0 ] || unavailable "needs root (bind mounts, system-mode libvirtd), running as uid $(id -u)"
  for prog in libvirtd virsh unshare setsid flock mount hostname qemu-system-x86_64; do
    command -v "$prog" >/dev/null 2>&1 || unavailable "$prog not found"
  done
  take_lock

  pid=$(peer_pid)
  if [ -r "$TREE_FILE" ] && pid_is "$pid" libvirtd && answers; then
    t=$(tree)
    if [ "$t" != "$state/tree" ]; then
      rm -rf "$state/tree"
      ln -s "$t" "$state/tree"
    fi
    echo shared >"$state/owner"
    register_user
    echo "using the peer libvirtd already running (pid $pid, $(live_users) run(s)), $URI answers"
    return 0
  fi
  if answers; then
    unavailable "port $PORT already answers but is not a peer started by $me"
  fi

  t=$state/tree
  [ -L "$t" ] && rm -f "$t"
  make_tree "$t" || unavailable "cannot create the peer's folders under $t"
  if ! launch "$t"; then
    reason=$(grep -i error "$t/libvirtd.log" "$t/libvirtd.out" 2>/dev/null | tail -n 1)
    stop_pid "$(read_pid "$t/libvirtd.pid")" libvirtd
    unavailable "the peer libvirtd did not answer on $URI within ${WAIT_SECONDS} s${reason:+: $reason}"
  fi
  if ! ensure_pool; then
    stop_pid "$(read_pid "$t/libvirtd.pid")" libvirtd
    unavailable "cannot define or start the pool 'default' on the peer"
  fi
  echo "$t" >"$TREE_FILE"
  echo ours >"$state/owner"
  register_user
  echo "peer libvirtd started (pid $(read_pid "$t/libvirtd.pid"), hostname $PEER_HOSTNAME), $URI answers"
}

# Kills the QEMU processes the peer started, by the pids libvirt recorded in
# the peer's run folder.
kill_peer_qemus() {
  t=$1
  for f in "$t"/run/qemu/*.pid; do
    [ -e "$f" ] || continue
    qpid=$(read_pid "$f")
    if pid_is "$qpid" qemu-system-x86; then
      stop_pid "$qpid" qemu-system-x86 && echo "killed QEMU $qpid ($(basename "$f" .pid)) left by the peer"
    fi
  done
}

remove_test_domains() {
  answers || return 0
  virsh -q -c "$URI" list --all --name 2>/dev/null | while read -r dom; do
    case "$dom" in
      "$TEST_PREFIX"*)
        virsh -q -c "$URI" destroy "$dom" >/dev/null 2>&1
        virsh -q -c "$URI" undefine "$dom" >/dev/null 2>&1
        echo "removed leftover test domain $dom from the peer"
        ;;
    esac
  done
}

stop() {
  [ -d "$state" ] || {
    echo "nothing to stop ($state does not exist)"
    return 0
  }
  owner=$(cat "$state/owner" 2>/dev/null)
  case "$owner" in
    ours | shared) ;;
    *)
      echo "nothing to stop (start did not run or found the peer unavailable)"
      return 0
      ;;
  esac
  take_lock
  rm -f "$(user_file)" "$state/owner"
  others=$(live_users)
  if [ "$others" -gt 0 ]; then
    echo "left the peer running for $others other run(s) using it"
    return 0
  fi
  t=$(tree)
  pid=$(read_pid "$t/libvirtd.pid")
  pid_is "$pid" libvirtd && remove_test_domains
  running=$(answers && virsh -q -c "$URI" list --name 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')
  [ -n "$running" ] && echo "$me: domains still running on the peer, their QEMUs are killed: $running" >&2
  ok=0
  stop_pid "$pid" libvirtd || ok=1
  kill_peer_qemus "$t"
  rm -f "$TREE_FILE"
  [ $ok = 0 ] || fail "could not stop the peer libvirtd (pid $pid)"
  echo "peer stopped"
}

status() {
  pid=$(peer_pid)
  if pid_is "$pid" libvirtd && answers; then
    echo "peer libvirtd running (pid $pid, tree $(tree), this run: $(cat "$state/owner" 2>/dev/null || echo not using it)), $URI answers"
  elif [ -r "$state/unavailable" ]; then
    echo "unavailable: $(cat "$state/unavailable")"
    return 3
  else
    echo "peer libvirtd not running"
    return 3
  fi
}

# SIGKILL the peer libvirtd only: what a test does to "the target dies mid-migration".
kill_peer() {
  pid=$(peer_pid)
  pid_is "$pid" libvirtd || fail "the peer libvirtd is not running"
  kill -KILL "$pid"
  i=0
  while pid_is "$pid" libvirtd && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  pid_is "$pid" libvirtd && fail "the peer libvirtd (pid $pid) survived SIGKILL"
  echo "peer libvirtd (pid $pid) killed"
}

restart() {
  [ "$(id -u)" = 0 ] || unavailable "needs root"
  take_lock
  t=$(tree)
  [ -x "$t/enter.sh" ] || fail "no peer tree at $t (run start first)"
  stop_pid "$(read_pid "$t/libvirtd.pid")" libvirtd || fail "could not stop the peer libvirtd"
  launch "$t" || fail "the peer libvirtd did not answer on $URI within ${WAIT_SECONDS} s after restart"
  echo "$t" >"$TREE_FILE"
  echo "peer libvirtd restarted (pid $(read_pid "$t/libvirtd.pid")), $URI answers"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill) kill_peer ;;
  restart) restart ;;
  *) usage ;;
esac
