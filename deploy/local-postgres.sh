#!/usr/bin/env bash
# A throw-away PostgreSQL for tests and local clusters: loopback only, trust auth, its own
# data directory and port, so it never touches a system cluster that may also be installed.
#
#   deploy/local-postgres.sh start|stop|status|env
#
# Environment: MC_PG_DATA (data directory, default /tmp/mc-pg), MC_PG_PORT (default 5433).
set -euo pipefail

PGDATA="${MC_PG_DATA:-/tmp/mc-pg}"
PGPORT="${MC_PG_PORT:-5433}"
PGHOST=127.0.0.1
LOG="$PGDATA/server.log"

find_bindir() {
  local found
  if found="$(command -v pg_ctl 2>/dev/null)"; then
    dirname "$(readlink -f "$found")"
    return
  fi
  # Debian keeps the server binaries off PATH, one folder per major version; take the newest.
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$found" && -x "$found/initdb" ]] && echo "$found"
}

ensure_installed() {
  BINDIR="$(find_bindir || true)"
  if [[ -z "$BINDIR" || ! -x "$BINDIR/initdb" ]]; then
    [[ "$(id -u)" -eq 0 ]] || { echo "postgresql is not installed and installing it needs root" >&2; exit 1; }
    echo "installing postgresql with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    BINDIR="$(find_bindir)"
  fi
}

# initdb and the server refuse to run as root, so as root everything runs as `postgres`
# (the Debian package creates that user); anyone else runs it as themselves.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

ensure_initialized() {
  [[ -f "$PGDATA/PG_VERSION" ]] && return
  mkdir -p "$PGDATA"
  if [[ "$(id -u)" -eq 0 ]]; then chown postgres: "$PGDATA"; fi
  chmod 700 "$PGDATA"
  # --no-sync: a test cluster's first fsync of the template files only costs start-up time.
  as_owner "$BINDIR/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
}

# Not `pg_ctl status`: after a kill -9 the postmaster can linger as a zombie (a container's init may not
# reap it), and pg_ctl, which only asks whether the pid exists, would call that running forever.
is_running() {
  local pid stat
  pid="$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$stat" == *"(postgres) "[!Z]* ]]
}

start() {
  ensure_installed
  ensure_initialized
  if is_running; then
    echo "postgresql already running on $PGHOST:$PGPORT ($PGDATA)"
    return
  fi
  # Lock files left by a killed server name a dead or zombie process, and the server would refuse to
  # start while kill(pid, 0) still succeeds on it.
  rm -f "$PGDATA/postmaster.pid" "$PGDATA"/.s.PGSQL.*.lock
  # The socket goes into the data directory: /var/run/postgresql may be missing or owned by a system cluster.
  as_owner "$BINDIR/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t 60 start \
    -o "-c listen_addresses=$PGHOST -c port=$PGPORT -c unix_socket_directories='$PGDATA' -c max_connections=200" >/dev/null
  # pg_ctl -w waits for the postmaster; also wait until it accepts TCP connections, which is what clients use.
  for _ in $(seq 1 100); do
    if "$BINDIR/pg_isready" -q -h "$PGHOST" -p "$PGPORT"; then
      echo "postgresql running on $PGHOST:$PGPORT ($PGDATA)"
      return
    fi
    sleep 0.1
  done
  echo "postgresql did not become ready; see $LOG" >&2
  exit 1
}

stop() {
  BINDIR="$(find_bindir || true)"
  if ! is_running; then
    echo "postgresql not running ($PGDATA)"
    return
  fi
  # Fast mode: roll back open transactions and close connections now, rather than waiting for clients
  # (smart mode) — the cluster tests stop the store mid-stream and expect it gone at once.
  as_owner "$BINDIR/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
  echo "postgresql stopped ($PGDATA)"
}

status() {
  if is_running; then
    echo "postgresql running on $PGHOST:$PGPORT ($PGDATA)"
  else
    echo "postgresql not running ($PGDATA)"
    exit 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export MC_TEST_PG='Host=$PGHOST;Port=$PGPORT;Username=postgres;Database=postgres'" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
