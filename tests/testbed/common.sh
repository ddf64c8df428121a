# Shell functions shared by the test-bed scripts (libvirtd.sh, peer.sh):
# when the test bed is required, how to give up, pids checked by program
# name and start time, the start/stop lock and the registry of runs using a
# daemon. The including script sets me, state, BED_NAME (for messages),
# USERS_DIR (its registry folder) and LOCK_FILE before calling them.

required() {
  case "${HYPERCTL_TESTBED_REQUIRED:-}" in 1 | true | yes) return 0 ;; esac
  case "${CI:-}" in 1 | true | TRUE | True | yes) return 0 ;; esac
  return 1
}

# The test bed cannot run here: say why on one line, remember it, and exit 77
# (skip) outside CI, 1 in CI.
unavailable() {
  echo "$me: $BED_NAME unavailable: $*" >&2
  if [ -d "$state" ]; then
    echo "$*" >"$state/unavailable"
    rm -f "$state/owner"
  fi
  if required; then exit 1; fi
  exit 77
}

fail() {
  echo "$me: $*" >&2
  exit 1
}

# True when process $1 is alive and runs program $2 (guards against a pid
# that was reused by an unrelated process since we recorded it).
pid_is() {
  [ -n "$1" ] && [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

read_pid() {
  [ -r "$1" ] && tr -dc '0-9' <"$1"
}

# Sends TERM to pid $1 (program $2), waits up to 10 s, then KILL.
stop_pid() {
  pid=$1
  prog=$2
  pid_is "$pid" "$prog" || return 0
  kill -TERM "$pid" 2>/dev/null
  i=0
  while pid_is "$pid" "$prog" && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  if pid_is "$pid" "$prog"; then
    echo "$me: $prog (pid $pid) ignored TERM; sending KILL" >&2
    kill -KILL "$pid" 2>/dev/null
    sleep 0.2
  fi
  ! pid_is "$pid" "$prog"
}

# Serialises start and stop across runs; released when the script exits.
take_lock() {
  mkdir -p "$USERS_DIR" || unavailable "cannot create $USERS_DIR"
  # Daemons started below must not inherit fd 9 (they would hold the lock for
  # life): every command that starts one closes it with 9>&-.
  exec 9>"$LOCK_FILE" || unavailable "cannot open $LOCK_FILE"
  flock -w 120 9 || fail "another $BED_NAME start or stop held $LOCK_FILE for 120 s"
}

# Start time (clock ticks since boot) of pid $1: with the pid it names one
# process, even after the pid is reused.
start_time() {
  [ -r "/proc/$1/stat" ] && sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f20
}

user_file() {
  echo "$USERS_DIR/$(printf '%s' "$state" | cksum | cut -d' ' -f1)"
}

register_user() {
  upid=${HYPERCTL_TESTBED_OWNER_PID:-$PPID}
  echo "$upid $(start_time "$upid") $state" >"$(user_file)"
}

# Removes users whose run is gone; prints how many remain.
live_users() {
  n=0
  for f in "$USERS_DIR"/*; do
    [ -e "$f" ] || continue
    read -r upid ustart _ <"$f" || upid=
    if [ -n "$upid" ] && [ "$(start_time "$upid")" = "$ustart" ]; then
      n=$((n + 1))
    else
      rm -f "$f"
    fi
  done
  echo "$n"
}

