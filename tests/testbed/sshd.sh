#!/bin/sh
# An unprivileged OpenSSH server on 127.0.0.1 for the process runner's SSH
# transport (TESTBEDS.md §5): its own host key, client key, config and
# known_hosts in STATE_DIR; it runs as the current user (root or not) and
# lets only that user in, by key.
#
#   sshd.sh start  STATE_DIR   start sshd on 127.0.0.1:<free port>, check a login
#   sshd.sh stop   STATE_DIR   stop it (by the pid start recorded) and its sessions
#   sshd.sh status STATE_DIR   one line: running or not
#   sshd.sh env    STATE_DIR   HYPERCTL_TEST_SSH_* assignments for `eval`
#
# STATE_DIR after start:
#   host, port, user   where to connect (127.0.0.1, the port, `id -un`)
#   id_ed25519         the client's private key (authorized), .pub next to it
#   other_ed25519      a client key that is NOT authorized (negative tests)
#   forced_ed25519     only when HYPERCTL_SSHD_FORCED_COMMAND is set at start:
#                      a client key authorized as
#                      command="<that value>",no-pty (sshd runs the value
#                      whatever the client asks, the request in
#                      SSH_ORIGINAL_COMMAND; the value is kept in
#                      forced_command)
#   known_hosts        "[127.0.0.1]:PORT ssh-ed25519 ..." for the host key
#   sshd.pid           the listening sshd (stop kills by it), sshd.log its log
#   sshd_config, host_ed25519_key, authorized_keys
#   unavailable        one line, when the test bed cannot run here
#
# Each STATE_DIR has its own daemon on its own port: several runs at once do
# not share anything, so there is no lock.
#
# HYPERCTL_SSHD_FORCED_COMMAND: see forced_ed25519 above. It may not hold a
# double quote, a backslash or a line break (authorized_keys quoting); start
# fails on one. A start that reuses a running daemon rewrites authorized_keys
# for the value it is given now.
#
# Exit status: 0 fine; 1 failed; 77 the test bed is unavailable here (sshd
# not installed, the user cannot log in) and this is not CI. With CI=true (or
# HYPERCTL_TESTBED_REQUIRED=1) unavailability exits 1. The reason is printed
# on one line and kept in STATE_DIR/unavailable.
set -u

SSHD=/usr/sbin/sshd
HOST=127.0.0.1
# Below Linux's ephemeral range (32768-60999), so an outgoing connection's
# port is never what we pick.
PORT_MIN=20000
PORT_SPAN=12000
TRIES=10
WAIT_SECONDS=10
# Root's sshd chroots its pre-authentication child here (Debian's
# _PATH_PRIVSEP_CHROOT_DIR); the package's init script makes it, a container
# without init has none. Unprivileged sshd does not use it.
PRIVSEP_DIR=/run/sshd

me=$(basename "$0")
BED_NAME="sshd test bed"

# Shared helpers: required, unavailable, fail, pid_is, read_pid, stop_pid.
. "$(dirname "$0")/common.sh"

usage() {
  echo "usage: $me start|stop|status|env STATE_DIR" >&2
  exit 1
}

[ $# -eq 2 ] || usage
cmd=$1
state=$2

random_port() {
  n=$(od -An -N2 -tu2 /dev/urandom | tr -dc '0-9')
  echo $((PORT_MIN + n % PORT_SPAN))
}

# Pids of the sshd processes descended from $1 (its per-connection children
# and their unprivileged children), read from /proc.
sshd_descendants() {
  top=$1
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    # comm (field 2) may hold spaces: the parent pid is the second word after ')'.
    rest=${line##*) }
    ppid=${rest#* }
    ppid=${ppid%% *}
    if [ "$ppid" = "$top" ]; then
      p=${f#/proc/}
      p=${p%/stat}
      if pid_is "$p" sshd; then
        echo "$p"
        (sshd_descendants "$p")
      fi
    fi
  done
}

# One login with the client key: proves the key, known_hosts and the user's
# shell. Prints ssh's last error line on failure.
login_check() {
  out=$(ssh -F /dev/null -n -p "$port" -i "$state/id_ed25519" -l "$user" \
    -o BatchMode=yes -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \
    -o UserKnownHostsFile="$state/known_hosts" -o GlobalKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o LogLevel=ERROR \
    "$HOST" 'echo hyperctl-sshd-ok' 2>&1 9>&-)
  case "$out" in
    *hyperctl-sshd-ok*) return 0 ;;
  esac
  echo "$out" | tail -n 1
  return 1
}

write_config() {
  cat >"$state/sshd_config" <<EOF
# Written by tests/testbed/sshd.sh; test only.
ListenAddress $HOST:$port
HostKey $state/host_ed25519_key
PidFile $state/sshd.pid
AuthorizedKeysFile $state/authorized_keys
AllowUsers $user
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PermitUserEnvironment no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
}

# authorized_keys: the client key, and the forced-command key when
# HYPERCTL_SSHD_FORCED_COMMAND is set (made here when missing). sshd reads
# the file at every login, so this also applies to a running daemon.
authorize_keys() {
  forced=${HYPERCTL_SSHD_FORCED_COMMAND:-}
  case "$forced" in
    *'"'* | *'\'* | *'
'*) fail "HYPERCTL_SSHD_FORCED_COMMAND may not hold a double quote, backslash or line break" ;;
  esac
  if [ -n "$forced" ]; then
    if [ ! -s "$state/forced_ed25519.pub" ]; then
      rm -f "$state/forced_ed25519"
      ssh-keygen -q -t ed25519 -N '' -C hyperctl-testbed-forced_ed25519 \
        -f "$state/forced_ed25519" </dev/null ||
        fail "ssh-keygen could not make $state/forced_ed25519"
    fi
    printf '%s\n' "$forced" >"$state/forced_command"
  else
    rm -f "$state/forced_ed25519" "$state/forced_ed25519.pub" "$state/forced_command"
  fi
  {
    cat "$state/id_ed25519.pub" || return 1
    if [ -n "$forced" ]; then
      printf 'command="%s",no-pty %s\n' "$forced" "$(cut -d' ' -f1,2 "$state/forced_ed25519.pub")"
    fi
  } >"$state/authorized_keys.new" &&
    chmod 0600 "$state/authorized_keys.new" &&
    mv "$state/authorized_keys.new" "$state/authorized_keys" ||
    fail "cannot write $state/authorized_keys"
}

write_env() {
  {
    echo "HYPERCTL_TEST_SSH_HOST=$HOST"
    echo "HYPERCTL_TEST_SSH_PORT=$port"
    echo "HYPERCTL_TEST_SSH_USER='$user'"
    echo "HYPERCTL_TEST_SSH_IDENTITY='$state/id_ed25519'"
    echo "HYPERCTL_TEST_SSH_KNOWN_HOSTS='$state/known_hosts'"
    echo "HYPERCTL_TESTBED_SSH_STATE='$state'"
    if [ -s "$state/forced_command" ]; then
      echo "HYPERCTL_TEST_SSH_FORCED_IDENTITY='$state/forced_ed25519'"
    fi
  } >"$state/env"
}

start() {
  mkdir -p "$state" || fail "cannot create state folder $state"
  state=$(cd "$state" && pwd) || fail "cannot enter $state"
  rm -f "$state/unavailable"

  # Already running from this STATE_DIR: keep it if it still lets us in.
  pid=$(read_pid "$state/sshd.pid")
  if pid_is "$pid" sshd; then
    port=$(cat "$state/port" 2>/dev/null)
    user=$(cat "$state/user" 2>/dev/null)
    if [ -n "$port" ] && [ -n "$user" ] && login_check >/dev/null; then
      authorize_keys
      write_env
      echo "sshd already running (pid $pid) on $HOST:$port"
      return 0
    fi
    stop_daemon
  fi

  [ -x "$SSHD" ] || unavailable "$SSHD not found (apt-get install openssh-server)"
  for prog in ssh ssh-keygen; do
    command -v "$prog" >/dev/null 2>&1 || unavailable "$prog not found (apt-get install openssh-client)"
  done
  user=$(id -un 2>/dev/null) || unavailable "uid $(id -u) has no user name (sshd cannot log it in)"
  getent passwd "$user" >/dev/null 2>&1 || unavailable "user $user is not in the passwd database"
  if [ "$(id -u)" = 0 ]; then
    getent passwd sshd >/dev/null 2>&1 ||
      unavailable "the privilege separation user sshd is missing (reinstall openssh-server)"
    mkdir -p "$PRIVSEP_DIR" && chmod 0755 "$PRIVSEP_DIR" ||
      unavailable "cannot create $PRIVSEP_DIR"
  fi

  rm -f "$state/host_ed25519_key" "$state/host_ed25519_key.pub" \
    "$state/id_ed25519" "$state/id_ed25519.pub" \
    "$state/other_ed25519" "$state/other_ed25519.pub" "$state/sshd.pid" "$state/port" \
    "$state/forced_ed25519" "$state/forced_ed25519.pub" "$state/forced_command"
  for k in host_ed25519_key id_ed25519 other_ed25519; do
    ssh-keygen -q -t ed25519 -N '' -C "hyperctl-testbed-$k" -f "$state/$k" </dev/null ||
      fail "ssh-keygen could not make $state/$k"
  done
  authorize_keys
  echo "$HOST" >"$state/host"
  echo "$user" >"$state/user"

  try=0
  while [ $try -lt $TRIES ]; do
    try=$((try + 1))
    port=$(random_port)
    write_config || fail "cannot write $state/sshd_config"
    err=$("$SSHD" -t -f "$state/sshd_config" 2>&1) || unavailable "sshd rejects the config: $err"
    : >"$state/sshd.log"
    # -D: no fork, so $! is sshd itself; its pid file appears once it listens.
    # Not a child of our stdout (ctest would wait for it), not in our group.
    setsid "$SSHD" -D -f "$state/sshd_config" -E "$state/sshd.log" \
      </dev/null >>"$state/sshd.log" 2>&1 9>&- &
    spid=$!
    i=0
    while [ $i -lt $((WAIT_SECONDS * 10)) ]; do
      [ -s "$state/sshd.pid" ] && break
      kill -0 "$spid" 2>/dev/null || break
      sleep 0.1
      i=$((i + 1))
    done
    if [ -s "$state/sshd.pid" ]; then
      break
    fi
    if kill -0 "$spid" 2>/dev/null; then
      kill -KILL "$spid" 2>/dev/null
      unavailable "sshd did not listen within ${WAIT_SECONDS} s: $(tail -n 1 "$state/sshd.log")"
    fi
    wait "$spid" 2>/dev/null
    if grep -q 'Address already in use' "$state/sshd.log"; then
      continue
    fi
    unavailable "sshd exited at start-up: $(grep -v '^Server listening' "$state/sshd.log" | tail -n 1)"
  done
  [ -s "$state/sshd.pid" ] || unavailable "no free port after $TRIES tries (last: $port)"
  pid=$(read_pid "$state/sshd.pid")
  pid_is "$pid" sshd || fail "sshd.pid names $pid, which is not sshd"
  echo "$port" >"$state/port"
  echo "[$HOST]:$port $(cut -d' ' -f1,2 "$state/host_ed25519_key.pub")" >"$state/known_hosts"
  write_env

  if ! reason=$(login_check); then
    stop_daemon
    rm -f "$state/port"
    why=$(grep -E 'not allowed|[Rr]efused|[Ii]nvalid user|[Ee]rror|fatal' "$state/sshd.log" | head -n 1)
    unavailable "ssh -p $port $user@$HOST failed: $reason${why:+ sshd says: $why}"
  fi
  echo "sshd started (pid $pid) on $HOST:$port for user $user; state in $state"
}

# Stops the listening sshd by its recorded pid, then the per-connection sshd
# processes it forked (a session outlives its listener otherwise).
stop_daemon() {
  pid=$(read_pid "$state/sshd.pid")
  [ -n "$pid" ] || return 0
  pid_is "$pid" sshd || {
    rm -f "$state/sshd.pid"
    return 0
  }
  sessions=$(sshd_descendants "$pid")
  stop_pid "$pid" sshd || return 1
  for s in $sessions; do
    pid_is "$s" sshd && kill -KILL "$s" 2>/dev/null
  done
  rm -f "$state/sshd.pid"
  return 0
}

stop() {
  [ -d "$state" ] || {
    echo "nothing to stop ($state does not exist)"
    return 0
  }
  if ! pid_is "$(read_pid "$state/sshd.pid")" sshd; then
    rm -f "$state/sshd.pid"
    echo "nothing to stop (no sshd recorded in $state)"
    return 0
  fi
  stop_daemon || fail "could not stop sshd (pid $(read_pid "$state/sshd.pid"))"
  rm -f "$state/port"
  echo "stopped"
}

status() {
  pid=$(read_pid "$state/sshd.pid")
  if pid_is "$pid" sshd; then
    echo "sshd running (pid $pid) on $HOST:$(cat "$state/port" 2>/dev/null)"
  elif [ -r "$state/unavailable" ]; then
    echo "unavailable: $(cat "$state/unavailable")"
    return 3
  else
    echo "sshd not running"
    return 3
  fi
}

print_env() {
  [ -r "$state/env" ] && pid_is "$(read_pid "$state/sshd.pid")" sshd ||
    fail "not running (run: $me start $state)"
  cat "$state/env"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) print_env ;;
  *) usage ;;
esac
