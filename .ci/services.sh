#!/usr/bin/env bash
# The real servers that the identity-store tests use: Redis and PostgreSQL
# from Debian's packages, started on loopback on free ports, as an
# unprivileged user, with their data in a temporary directory.
#
#   eval "$(.ci/services.sh start)"   # installs what is missing, starts both,
#                                     # prints the variables the tests read
#   go test -race ./tokenservice/redisstore/... ./tokenservice/sqlstore/...
#   .ci/services.sh stop              # stops both and removes their data
#
# start prints only shell "export" lines on stdout (progress goes to
# stderr):
#   ACSIDENTITY_TEST_REDIS_URL     redis://127.0.0.1:PORT/0
#   ACSIDENTITY_TEST_POSTGRES_URL  postgres://acsidentity:PASSWORD@127.0.0.1:PORT/acsidentity?sslmode=disable
#   ACSIDENTITY_SERVICES_DIR       the temporary directory; stop reads it
# stop takes that directory as its argument or from ACSIDENTITY_SERVICES_DIR,
# and does nothing when neither names one. Tests that need a server and do
# not find its variable skip (and fail when CI=true).
#
# As root the servers run as the user nobody; as any other user, as that
# user. The system's own redis-server and postgresql services are neither
# needed nor started: the install is made under a policy-rc.d that forbids
# starting services, when the machine has none of its own.
set -euo pipefail

log() { echo "services.sh: $*" >&2; }

# as_user runs a command as the unprivileged user the servers run as.
as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env -- "$@"
  else
    "$@"
  fi
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  return 1
}

install_missing() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  pg_bin >/dev/null || missing+=(postgresql)
  [ ${#missing[@]} -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    # Keep the packages' own services from starting: the tests start
    # their servers themselves.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    made_policy=1
  fi
  local rc=0
  { $sudo apt-get update -qq >&2 &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  if [ -n "$made_policy" ]; then $sudo rm -f "$policy"; fi
  return $rc
}

# free_port prints a loopback TCP port nothing listens on. Another process
# may take it before the server does: the callers try again then.
free_port() {
  local p _
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return
    fi
  done
  log "no free port found"; return 1
}

start_redis() {
  local dir=$1 port try
  as_user mkdir -p "$dir/redis"
  for try in 1 2 3 4 5; do
    port=$(free_port)
    # --save "" and no AOF: nothing to keep; protected mode stays on and
    # only loopback is bound.
    if as_user redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/redis" \
        --daemonize yes --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" \
        --save "" --appendonly no >&2; then
      local _
      for _ in $(seq 1 100); do
        if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
          echo "$port"; return
        fi
        [ -s "$dir/redis/redis.pid" ] && ! kill -0 "$(cat "$dir/redis/redis.pid")" 2>/dev/null && break
        sleep 0.1
      done
    fi
    log "redis-server did not start on port $port (try $try):"; tail -5 "$dir/redis/redis.log" >&2 || true
    if [ -s "$dir/redis/redis.pid" ]; then kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true; fi
  done
  return 1
}

start_postgres() {
  local dir=$1 bin port try
  bin=$(pg_bin)
  as_user mkdir -p "$dir/pg-sock"
  # A password for the loopback TCP connection (scram-sha-256, as a
  # production server would ask); the local socket in the temp dir trusts
  # its owner, for the createdb below.
  # shellcheck disable=SC2016 # $1 is the inner shell's
  head -c 18 /dev/urandom | base64 | tr '+/' '-_' | as_user sh -c 'umask 077; cat >"$1"' sh "$dir/pg-password"
  as_user "$bin/initdb" -D "$dir/pg" -U acsidentity --pwfile="$dir/pg-password" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  for try in 1 2 3 4 5; do
    port=$(free_port)
    if as_user "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pg-sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2; then
      as_user "$bin/createdb" -h "$dir/pg-sock" -p "$port" -U acsidentity acsidentity >&2
      echo "$port"; return
    fi
    log "postgres did not start on port $port (try $try):"; tail -5 "$dir/pg.log" >&2 || true
  done
  return 1
}

start() {
  install_missing
  local dir rport pport
  # As root, under /tmp whatever TMPDIR says: the servers' user must be
  # able to reach it.
  local base=${TMPDIR:-/tmp}
  if [ "$(id -u)" -eq 0 ]; then base=/tmp; fi
  dir=$(mktemp -d "$base/acsidentity-services.XXXXXX")
  # Only the servers' user (and root) may enter it: it holds the password.
  chmod 700 "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown nobody:nogroup "$dir"; fi
  rport=$(start_redis "$dir") || { stop "$dir"; return 1; }
  pport=$(start_postgres "$dir") || { stop "$dir"; return 1; }
  log "redis on 127.0.0.1:$rport, postgres on 127.0.0.1:$pport, data in $dir"
  echo "export ACSIDENTITY_SERVICES_DIR='$dir'"
  echo "export ACSIDENTITY_TEST_REDIS_URL='redis://127.0.0.1:$rport/0'"
  echo "export ACSIDENTITY_TEST_POSTGRES_URL='postgres://acsidentity:$(cat "$dir/pg-password")@127.0.0.1:$pport/acsidentity?sslmode=disable'"
}

stop() {
  local dir=${1:-${ACSIDENTITY_SERVICES_DIR:-}}
  [ -n "$dir" ] || { log "stop: no directory (argument or ACSIDENTITY_SERVICES_DIR)"; return 0; }
  case "$dir" in */acsidentity-services.*) ;; *) log "stop: $dir is not a directory start made"; return 1 ;; esac
  [ -d "$dir" ] || return 0
  if [ -s "$dir/redis/redis.pid" ]; then
    kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
  fi
  if [ -f "$dir/pg/postmaster.pid" ]; then
    as_user "$(pg_bin)/pg_ctl" -D "$dir/pg" -m fast -w -t 60 stop >&2 || true
  fi
  # redis-server removes its pid file when it has exited.
  local _
  for _ in $(seq 1 100); do
    [ -e "$dir/redis/redis.pid" ] || break
    sleep 0.1
  done
  rm -rf "$dir"
  log "stopped; removed $dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 start | stop [DIR]" >&2; exit 2 ;;
esac
