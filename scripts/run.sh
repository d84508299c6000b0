#!/usr/bin/env bash
# The project's run command: builds admin-api and redirector, starts local
# Postgres + Valkey (data kept in .local/run/), runs the migrations, starts
# both services and waits until they answer /health, then keeps running until
# Ctrl-C (or until a service dies), and stops everything it started.
#
#   ./scripts/run.sh            # debug build
#   RELEASE=1 ./scripts/run.sh  # release build
#
# Environment: ADMIN_LISTEN (default 0.0.0.0:8081), REDIRECTOR_LISTEN
# (default 0.0.0.0:8080), PG_PORT / VALKEY_PORT (default: free ports),
# RELEASE, CARGO_TARGET_DIR, CARGO_BUILD_JOBS (default 2), RUN_TIMEOUT
# (seconds to wait for /health, default 120); everything else (e.g.
# ADMIN_API_KEYS, RUST_LOG, see .env.example) is passed through to the
# services. PUBLIC_BASE_URL defaults to the redirector's URL.
#
# The admin API is closed by default: unless ADMIN_API_KEYS is set (or
# ADMIN_ALLOW_OPEN=true), a local key is generated once, kept in the state
# dir (<state>/admin-api.key, reused across runs), passed as ADMIN_API_KEYS
# and printed; scripts/seed.sh finds it there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/deps.sh
source "$ROOT/scripts/deps.sh"

log() { printf '[run] %s\n' "$*" >&2; }
die() {
  printf '[run] ERROR: %s\n' "$*" >&2
  exit 1
}

STATE_DIR=
DEPS_UP=
ADMIN_PID=
REDIR_PID=

# Stop one service we started: TERM, wait up to 10s, then KILL.
# (Only called from the EXIT trap, which shellcheck does not follow.)
# shellcheck disable=SC2317
stop_service() {
  local pid=$1 name=$2 deadline
  [[ -n $pid ]] || return 0
  if _deps_pid_alive "$pid"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while _deps_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if _deps_pid_alive "$pid"; then
      log "$name ignored TERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  stop_service "$REDIR_PID" redirector
  stop_service "$ADMIN_PID" admin-api
  if [[ -n $DEPS_UP ]]; then deps_stop "$STATE_DIR"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# "host:port" / "[v6]:port" -> host to connect to (wildcards -> 127.0.0.1).
connect_host() {
  local host=${1%:*}
  host=${host#[}
  host=${host%]}
  case $host in
    '' | 0.0.0.0 | :: | '*') printf '127.0.0.1\n' ;;
    *:*) printf '[%s]\n' "$host" ;;
    *) printf '%s\n' "$host" ;;
  esac
}

port_in_use() { (exec 3<>"/dev/tcp/${1#[}/$2") 2>/dev/null; }

admin_listen=${ADMIN_LISTEN:-0.0.0.0:8081}
redir_listen=${REDIRECTOR_LISTEN:-0.0.0.0:8080}
admin_host=$(connect_host "$admin_listen")
admin_port=${admin_listen##*:}
redir_host=$(connect_host "$redir_listen")
redir_port=${redir_listen##*:}
for p in "$admin_port" "$redir_port"; do
  [[ $p =~ ^[0-9]+$ ]] || die "cannot find a port in ADMIN_LISTEN=$admin_listen / REDIRECTOR_LISTEN=$redir_listen"
done
port_in_use "${admin_host%]}" "$admin_port" && die "something already listens on $admin_host:$admin_port (ADMIN_LISTEN=$admin_listen)"
port_in_use "${redir_host%]}" "$redir_port" && die "something already listens on $redir_host:$redir_port (REDIRECTOR_LISTEN=$redir_listen)"

deps_ensure_tools
deps_ensure_geoip
command -v curl >/dev/null 2>&1 || deps_apt_install curl

# ---- build (offline sqlx data, so no database is needed at compile time) ---
profile=debug
build=(build -j "${CARGO_BUILD_JOBS:-2}" --locked --bin admin-api --bin redirector)
if [[ ${RELEASE:-0} == 1 ]]; then
  build+=(--release)
  profile=release
fi
log "cargo ${build[*]}"
SQLX_OFFLINE=${SQLX_OFFLINE:-true} cargo "${build[@]}"
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
BIN=$target_dir/$profile
for b in admin-api redirector; do
  [[ -x $BIN/$b ]] || die "built, but $BIN/$b does not exist"
done

# ---- state dir: .local/run, unless the postgres user cannot reach it -------
STATE_DIR=$ROOT/.local/run
mkdir -p "$STATE_DIR"
chmod 755 "$ROOT/.local" "$STATE_DIR"
if ! deps_pg_can_traverse "$STATE_DIR"; then
  fallback=/tmp/urlshortener-run-$(id -u)-$(printf '%s' "$ROOT" | cksum | cut -d ' ' -f 1)
  mkdir -p "$fallback"
  [[ -O $fallback ]] || die "$fallback exists but is not owned by $(id -un)"
  chmod 755 "$fallback"
  log "the postgres user cannot reach $STATE_DIR; keeping state in $fallback instead"
  STATE_DIR=$fallback
fi

# Leftovers of an earlier run that was killed without cleaning up.
if [[ -e $STATE_DIR/pg.started || -e $STATE_DIR/valkey.started ]]; then
  log "stopping dependencies left over from an earlier run"
  deps_stop "$STATE_DIR"
fi

DEPS_UP=1
deps_start "$STATE_DIR"
export DATABASE_URL REDIS_URL

# ---- the admin API's key ------------------------------------------------------
key_note=
if [[ -z ${ADMIN_API_KEYS:-} && ${ADMIN_ALLOW_OPEN:-false} != true ]]; then
  key_file=$STATE_DIR/admin-api.key
  if [[ ! -s $key_file ]]; then
    (
      umask 077
      head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key_file"
    )
    log "generated a local admin API key in $key_file"
  fi
  ADMIN_API_KEYS=$(<"$key_file")
  export ADMIN_API_KEYS
  key_note="  Admin API key: $ADMIN_API_KEYS
                 (send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>';
                  kept in $key_file)
"
fi

admin_url="http://${admin_host/127.0.0.1/localhost}:$admin_port"
redir_url="http://${redir_host/127.0.0.1/localhost}:$redir_port"
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-$redir_url}

log "running migrations"
"$BIN/admin-api" migrate

# ---- services -----------------------------------------------------------------
# Output goes to the terminal (prefixed) and to <state>/<name>.log. The log
# pipeline ignores Ctrl-C so it keeps working while the services shut down.
start_service() {
  local name=$1
  shift
  : >"$STATE_DIR/$name.log"
  "$@" > >(
    trap '' INT TERM
    tee -a "$STATE_DIR/$name.log" | sed -u "s/^/[$name] /"
  ) 2>&1 &
}
start_service admin-api "$BIN/admin-api"
ADMIN_PID=$!
# glibc: allocations of 64 KiB and more get their own mappings, so the
# cache index's growth leaves no holes in the heap (README: Performance).
GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=65536} \
  start_service redirector "$BIN/redirector"
REDIR_PID=$!

# Report a service that exited ($3: its status, if already reaped) and exit.
service_died() {
  local name=$1 pid=$2 rc=${3:-}
  if [[ -z $rc ]]; then
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
  fi
  printf '[run] ERROR: %s (pid %s) exited with status %s; last lines of %s:\n' \
    "$name" "$pid" "$rc" "$STATE_DIR/$name.log" >&2
  tail -n 30 "$STATE_DIR/$name.log" >&2 || true
  exit 1
}

wait_healthy() {
  local name=$1 pid=$2 url=$3 deadline=$((SECONDS + ${RUN_TIMEOUT:-120}))
  until curl -fs -o /dev/null --max-time 2 "$url"; do
    _deps_pid_alive "$pid" || service_died "$name" "$pid"
    ((SECONDS < deadline)) || die "$name did not answer $url within ${RUN_TIMEOUT:-120}s (log: $STATE_DIR/$name.log)"
    sleep 0.2
  done
}
wait_healthy admin-api "$ADMIN_PID" "http://$admin_host:$admin_port/health"
wait_healthy redirector "$REDIR_PID" "http://$redir_host:$redir_port/health"

seed_cmd=./scripts/seed.sh
[[ $admin_url == http://localhost:8081 ]] || seed_cmd="ADMIN_URL=$admin_url ./scripts/seed.sh"
cat >&2 <<EOF

  Admin API:     $admin_url
  Swagger UI:    $admin_url/apidocs/
$key_note  Redirector:    $redir_url
  DATABASE_URL:  $DATABASE_URL
  REDIS_URL:     $REDIS_URL
  Logs:          $STATE_DIR/admin-api.log, $STATE_DIR/redirector.log
  Sample data:   $seed_cmd

  Press Ctrl-C to stop everything.

EOF

# Block until a service exits (a trapped signal interrupts this too).
rc=0
died=
wait -n -p died "$ADMIN_PID" "$REDIR_PID" || rc=$?
case $died in
  "$ADMIN_PID") service_died admin-api "$ADMIN_PID" "$rc" ;;
  "$REDIR_PID") service_died redirector "$REDIR_PID" "$rc" ;;
  *) die "wait failed (status $rc)" ;;
esac
