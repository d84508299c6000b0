# shellcheck shell=bash
# Library (source it, don't run it) that installs, starts and stops the
# project's local dependencies -- PostgreSQL and Valkey (or Redis) -- as
# throwaway processes whose data, sockets, logs and pid files all live in one
# "state dir". Used by scripts/test.sh and scripts/run.sh, and usable from
# fault-injection tests that stop/restart a single dependency:
#
#   source scripts/deps.sh
#   deps_ensure_tools                 # sets PG_BIN, VALKEY_SERVER, VALKEY_CLI
#   deps_start "$dir"                 # exports DATABASE_URL, REDIS_URL, ...
#   deps_stop_valkey "$dir"; deps_start_valkey "$dir"   # same port, same AOF
#   deps_stop "$dir"                  # stops only what deps_start* started
#
# Environment: PG_PORT, VALKEY_PORT (default: a free port), PG_DATABASE
# (default hackathon_db), DEPS_TIMEOUT (seconds per wait, default 60).
#
# State dir layout: pg/ (cluster), pg-sock/ (unix socket), postgres.log,
# initdb.log, pg.port, pg.database, pg.started; valkey/ (AOF dir), valkey.log,
# valkey.pid, valkey.port, valkey.started; env (sourceable exports of the
# URLs). The *.started markers record what this library started, so the stop
# functions never touch anything else.
#
# Every function returns non-zero on failure even when the caller has
# disabled errexit (e.g. `deps_start "$d" || ...`).
set -euo pipefail

# Extra arguments of every Valkey server started (the cluster's nodes set them).
DEPS_VALKEY_ARGS=()

_deps_log() { printf '[deps] %s\n' "$*" >&2; }
_deps_err() { printf '[deps] ERROR: %s\n' "$*" >&2; }

# Print the last lines of a log file (if any) to stderr.
_deps_tail() {
  if [[ -r $1 ]]; then
    printf '[deps] ---- last lines of %s ----\n' "$1" >&2
    tail -n "${2:-30}" "$1" >&2 || true
    printf '[deps] ---- end of %s ----\n' "$1" >&2
  fi
}

# Absolute path of an existing directory.
_deps_abs_dir() {
  if [[ ! -d ${1:-} ]]; then
    _deps_err "state dir '${1:-}' does not exist"
    return 1
  fi
  (cd "$1" && pwd -P)
}

_deps_is_root() { [[ $(id -u) -eq 0 ]]; }

# Succeeds when process $1 exists and is not a zombie.
_deps_pid_alive() {
  local stat
  [[ ${1:-} =~ ^[0-9]+$ && -r /proc/$1/stat ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Wait up to $2 seconds for process $1 to be gone (zombies included, since a
# zombie still blocks e.g. Postgres' lock file check).
_deps_wait_gone() {
  local deadline=$((SECONDS + $2))
  while [[ -e /proc/$1 ]] && ((SECONDS < deadline)); do sleep 0.1; done
  [[ ! -e /proc/$1 ]]
}

# Run a command as the user that owns the Postgres cluster: the `postgres`
# user when we are root (initdb refuses to run as root), else ourselves.
# Runs from / so an untraversable current directory does not matter.
_deps_as_pg() {
  if _deps_is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# Succeeds when the Postgres server user can reach (traverse) directory $1.
deps_pg_can_traverse() {
  _deps_as_pg test -x "$1" 2>/dev/null
}

# Install Debian packages with apt-get (apt-get update runs once per shell);
# uses sudo when not root.
deps_apt_install() {
  local -a sudo=()
  if ! _deps_is_root; then
    if ! command -v sudo >/dev/null 2>&1; then
      _deps_err "need to install '$*' but am not root and sudo is missing; install it and retry"
      return 1
    fi
    sudo=(sudo)
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    _deps_err "apt-get not found; install '$*' manually"
    return 1
  fi
  if [[ -z ${_DEPS_APT_UPDATED:-} ]]; then
    _deps_log "apt-get update"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2 || return 1
    _DEPS_APT_UPDATED=1
  fi
  _deps_log "apt-get install -y $*"
  # Packages such as nginx or postgresql start their system service on
  # install; a policy-rc.d that says no keeps the machine's ports free.
  local policy=/usr/sbin/policy-rc.d added_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod 755 "$policy" && added_policy=1
  fi
  local rc=0
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2 || rc=$?
  if [[ -n $added_policy ]]; then "${sudo[@]}" rm -f "$policy"; fi
  return "$rc"
}

# Make sure Debian's nginx is installed (for the ingress tests); sets NGINX_BIN.
deps_ensure_nginx() {
  NGINX_BIN=$(command -v nginx || true)
  if [[ -z $NGINX_BIN && -x /usr/sbin/nginx ]]; then NGINX_BIN=/usr/sbin/nginx; fi
  if [[ -z $NGINX_BIN ]]; then
    deps_apt_install nginx-light || deps_apt_install nginx || return 1
    NGINX_BIN=/usr/sbin/nginx
  fi
  export NGINX_BIN
}

# Debian's IP-to-country database (tor-geoipdb: IPFire Location data, CC
# BY-SA 4.0) for the visits' countries; the admin API reads it from
# /usr/share/tor at start. Not fatal when it cannot be installed: countries
# are then `unknown`.
deps_ensure_geoip() {
  [[ -r /usr/share/tor/geoip ]] && return 0
  deps_apt_install tor-geoipdb || _deps_log "tor-geoipdb not installed: visit countries will be unknown"
}

# Debian's Chromium and its ChromeDriver for the console's browser tests
# (installed when missing; never a browser download at test time). Exports
# CHROMIUM_BIN and CHROMEDRIVER_BIN.
deps_ensure_browser() {
  CHROMEDRIVER_BIN=$(command -v chromedriver || true)
  CHROMIUM_BIN=$(command -v chromium || true)
  if [[ -z $CHROMEDRIVER_BIN || -z $CHROMIUM_BIN ]]; then
    deps_apt_install chromium chromium-driver || return 1
    CHROMEDRIVER_BIN=$(command -v chromedriver || echo /usr/bin/chromedriver)
    CHROMIUM_BIN=$(command -v chromium || echo /usr/bin/chromium)
  fi
  export CHROMIUM_BIN CHROMEDRIVER_BIN
}

# Directory with the Postgres server binaries: $PG_BIN if it has initdb, else
# `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin.
_deps_find_pg_bin() {
  local dir
  if [[ -n ${PG_BIN:-} && -x ${PG_BIN}/initdb ]]; then
    printf '%s\n' "$PG_BIN"
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    if [[ -n $dir && -x $dir/initdb ]]; then
      printf '%s\n' "$dir"
      return 0
    fi
  fi
  dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [[ -x $dir/initdb ]]; then
    printf '%s\n' "$dir"
    return 0
  fi
  return 1
}

# Make sure the Postgres server and Valkey/Redis are installed (apt-get only
# when missing). Sets globals PG_BIN, VALKEY_SERVER, VALKEY_CLI.
deps_ensure_tools() {
  if ! PG_BIN=$(_deps_find_pg_bin); then
    deps_apt_install postgresql || return 1
    if ! PG_BIN=$(_deps_find_pg_bin); then
      _deps_err "installed postgresql but still found no initdb"
      return 1
    fi
  fi

  if ! command -v valkey-server >/dev/null 2>&1 && ! command -v redis-server >/dev/null 2>&1; then
    deps_apt_install redis-server || return 1
  fi
  VALKEY_SERVER=$(command -v valkey-server 2>/dev/null || command -v redis-server 2>/dev/null || true)
  if [[ -z $VALKEY_SERVER ]]; then
    _deps_err "no valkey-server or redis-server on PATH"
    return 1
  fi

  if ! command -v valkey-cli >/dev/null 2>&1 && ! command -v redis-cli >/dev/null 2>&1; then
    deps_apt_install redis-tools || return 1
  fi
  VALKEY_CLI=$(command -v valkey-cli 2>/dev/null || command -v redis-cli 2>/dev/null || true)
  if [[ -z $VALKEY_CLI ]]; then
    _deps_err "no valkey-cli or redis-cli on PATH"
    return 1
  fi

  _deps_log "postgres: $PG_BIN; valkey: $VALKEY_SERVER ($VALKEY_CLI)"
}

_deps_require_tools() {
  if [[ -z ${PG_BIN:-} || -z ${VALKEY_SERVER:-} || -z ${VALKEY_CLI:-} ]]; then
    deps_ensure_tools || return 1
  fi
}

# Print a TCP port on 127.0.0.1 that is free right now.
free_port() {
  local port i
  if command -v python3 >/dev/null 2>&1 &&
    port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null) && [[ $port =~ ^[0-9]+$ ]]; then
    printf '%s\n' "$port"
    return 0
  fi
  # Fallback without python3: probe random ports below the usual ephemeral
  # range; a refused connection means nobody listens there.
  for ((i = 0; i < 200; i++)); do
    port=$((15000 + RANDOM % 17000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  _deps_err "could not find a free TCP port"
  return 1
}

# Write <state>/env with the URLs of what is started there, for `source`-ing
# from another shell.
_deps_write_env() {
  local state=$1 port db
  {
    printf '# Written by scripts/deps.sh; source it to talk to these dependencies.\n'
    if [[ -e $state/pg.started && -s $state/pg.port && -s $state/pg.database ]]; then
      port=$(<"$state/pg.port")
      db=$(<"$state/pg.database")
      printf 'export DATABASE_URL=%q PG_PORT=%q\n' "postgres://postgres@127.0.0.1:$port/$db" "$port"
    fi
    if [[ -e $state/valkey.started && -s $state/valkey.port ]]; then
      port=$(<"$state/valkey.port")
      printf 'export REDIS_URL=%q VALKEY_PORT=%q\n' "redis://127.0.0.1:$port" "$port"
    fi
    printf 'export DEPS_STATE_DIR=%q\n' "$state"
  } >"$state/env"
}

# ---------------------------------------------------------------- Postgres --

# pid of the live postmaster of cluster <state>/pg, or nothing.
_deps_pg_pid() {
  local pidfile=$1/pg/postmaster.pid pid comm=
  [[ -r $pidfile ]] || return 0
  pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
  _deps_pid_alive "$pid" || return 0
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  [[ $comm == postgres* || $comm == postmaster* ]] && printf '%s\n' "$pid"
  return 0
}

# Start (initialising on first use) the Postgres cluster in <state>/pg on
# 127.0.0.1. Port: the one recorded in <state>/pg.port by an earlier start (so
# restarts reuse it), else $PG_PORT, else a free port. Creates database
# ${PG_DATABASE:-hackathon_db} (or the recorded one) if missing. Exports
# DATABASE_URL and PG_PORT.
deps_start_postgres() {
  local state port db pgdata sockdir log locale want_major have_major timeout pid sockopt
  state=$(_deps_abs_dir "${1:?usage: deps_start_postgres <state_dir>}") || return 1
  _deps_require_tools || return 1
  timeout=${DEPS_TIMEOUT:-60}
  pgdata=$state/pg
  sockdir=$state/pg-sock
  log=$state/postgres.log

  if [[ $state == *"'"* || $state == *,* ]]; then
    _deps_err "state dir path must not contain quotes or commas: $state"
    return 1
  fi
  if ! deps_pg_can_traverse "$state"; then
    _deps_err "the postgres user cannot enter $state (some parent directory is not world-executable);"
    _deps_err "use a state dir under /tmp, or chmod o+x the parent directories"
    return 1
  fi

  if [[ -s $state/pg.port ]]; then port=$(<"$state/pg.port"); else port=${PG_PORT:-}; fi
  if [[ -z $port ]]; then port=$(free_port) || return 1; fi
  if [[ -s $state/pg.database ]]; then db=$(<"$state/pg.database"); else db=${PG_DATABASE:-hackathon_db}; fi
  printf '%s\n' "$port" >"$state/pg.port" || return 1
  printf '%s\n' "$db" >"$state/pg.database" || return 1

  mkdir -p "$pgdata" "$sockdir" || return 1
  touch "$log" || return 1
  if _deps_is_root; then
    chown postgres "$sockdir" "$log" || return 1
    # Hand over a fresh cluster dir only; never chown -R existing data.
    if [[ ! -e $pgdata/PG_VERSION ]]; then chown postgres "$pgdata" || return 1; fi
  fi

  want_major=$("$PG_BIN/postgres" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
  if [[ -e $pgdata/PG_VERSION ]]; then
    have_major=$(<"$pgdata/PG_VERSION")
    if [[ $have_major != "$want_major" ]]; then
      _deps_err "$pgdata was made by PostgreSQL $have_major but $PG_BIN is $want_major; delete it to re-initialise"
      return 1
    fi
    _deps_log "reusing Postgres cluster in $pgdata"
  else
    locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
    _deps_log "initdb $pgdata (locale $locale)"
    if ! _deps_as_pg "$PG_BIN/initdb" -D "$pgdata" --auth=trust -U postgres \
      --encoding=UTF8 --locale="$locale" >"$state/initdb.log" 2>&1; then
      _deps_err "initdb failed"
      _deps_tail "$state/initdb.log"
      return 1
    fi
  fi

  pid=$(_deps_pg_pid "$state")
  if [[ -n $pid ]]; then
    _deps_err "a Postgres server (pid $pid) is already running on $pgdata (left over from an earlier run?);"
    _deps_err "stop it with: bash -c 'source scripts/deps.sh && deps_stop \"$state\"'"
    return 1
  fi
  # After a kill -9 the old postmaster may linger as a zombie for a moment;
  # the new one would then refuse to start because of the lock file.
  pid=$(head -n 1 "$pgdata/postmaster.pid" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && ! _deps_wait_gone "$pid" "$timeout"; then
    _deps_err "stale postmaster pid $pid did not go away"
    return 1
  fi

  # Unix socket paths are limited to 107 bytes; with a deep state dir go
  # TCP-only (everything here connects via 127.0.0.1 anyway).
  sockopt="-k '$sockdir'"
  if ((${#sockdir} + 16 > 107)); then
    _deps_log "state dir path too long for a unix socket; Postgres listens on TCP only"
    sockopt="-c unix_socket_directories="
  fi

  # Record before starting, so a half-finished start is still cleaned up.
  : >"$state/pg.started" || return 1
  _deps_log "starting Postgres on 127.0.0.1:$port (log: $log)"
  # Write-heavy tuning (the visit drain): Debian's default 128 MB of shared
  # buffers and 1 GB of WAL between checkpoints turn a growing events table
  # into buffer churn and full-page writes. Shared memory is only touched as
  # it is used; PG_SHARED_BUFFERS / PG_MAX_WAL_SIZE override.
  local tuning="-c shared_buffers=${PG_SHARED_BUFFERS:-512MB} -c max_wal_size=${PG_MAX_WAL_SIZE:-4GB}"
  if ! _deps_as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$log" -w -t "$timeout" \
    -o "-p $port $sockopt -c listen_addresses=127.0.0.1 $tuning" start >&2; then
    _deps_err "Postgres did not start within ${timeout}s"
    _deps_tail "$log"
    return 1
  fi

  local -a psql=("$PG_BIN/psql")
  [[ -x ${psql[0]} ]] || psql=(psql)
  psql+=(-X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -v db="$db")
  local exists
  if ! exists=$("${psql[@]}" -tA <<<"select 1 from pg_database where datname = :'db'"); then
    _deps_err "could not query Postgres on port $port"
    return 1
  fi
  if [[ -z $exists ]]; then
    _deps_log "creating database $db"
    if ! "${psql[@]}" <<<"create database :\"db\""; then
      _deps_err "could not create database $db"
      return 1
    fi
  fi

  PG_PORT=$port
  DATABASE_URL="postgres://postgres@127.0.0.1:$port/$db"
  export PG_PORT DATABASE_URL
  _deps_write_env "$state"
}

# Stop the Postgres server deps_start_postgres started in <state> (pg_ctl
# stop -m fast). No-op when it was not started here or is already gone.
deps_stop_postgres() {
  local state pid
  [[ -d ${1:?usage: deps_stop_postgres <state_dir>} ]] || return 0
  state=$(_deps_abs_dir "$1") || return 0
  [[ -e $state/pg.started ]] || return 0
  pid=$(_deps_pg_pid "$state")
  if [[ -n $pid ]]; then
    _deps_require_tools || return 1
    _deps_log "stopping Postgres ($state/pg, pid $pid)"
    if ! _deps_as_pg "$PG_BIN/pg_ctl" -D "$state/pg" -m fast -w -t "${DEPS_TIMEOUT:-60}" stop >&2; then
      _deps_err "pg_ctl stop failed"
      _deps_tail "$state/postgres.log"
      return 1
    fi
  fi
  rm -f "$state/pg.started"
  _deps_write_env "$state"
}

# ------------------------------------------------------------------ Valkey --

# pid from <state>/valkey.pid when that process is alive and is a
# valkey/redis server; prints nothing otherwise.
_deps_valkey_pid() {
  local pidfile=$1/valkey.pid pid comm=
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  _deps_pid_alive "$pid" || return 0
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  case $comm in
    valkey-server* | redis-server* | valkey-check* | redis-check*) printf '%s\n' "$pid" ;;
  esac
  return 0
}

# Start Valkey/Redis daemonized on 127.0.0.1 with AOF on and its data in
# <state>/valkey. Port: the one recorded by an earlier start, else
# $VALKEY_PORT, else a free port. Waits for PING. Exports REDIS_URL and
# VALKEY_PORT.
deps_start_valkey() {
  local state port pid reply timeout deadline grace
  state=$(_deps_abs_dir "${1:?usage: deps_start_valkey <state_dir>}") || return 1
  _deps_require_tools || return 1
  timeout=${DEPS_TIMEOUT:-60}

  if [[ -s $state/valkey.port ]]; then port=$(<"$state/valkey.port"); else port=${VALKEY_PORT:-}; fi
  if [[ -z $port ]]; then port=$(free_port) || return 1; fi
  printf '%s\n' "$port" >"$state/valkey.port" || return 1
  mkdir -p "$state/valkey" || return 1

  pid=$(_deps_valkey_pid "$state")
  if [[ -n $pid ]]; then
    _deps_err "Valkey (pid $pid) is already running from $state (left over from an earlier run?);"
    _deps_err "stop it with: bash -c 'source scripts/deps.sh && deps_stop \"$state\"'"
    return 1
  fi
  rm -f "$state/valkey.pid"

  # Record before starting, so a half-finished start is still cleaned up.
  : >"$state/valkey.started" || return 1
  _deps_log "starting $(basename "$VALKEY_SERVER") on 127.0.0.1:$port (log: $state/valkey.log)"
  # The append-only file is the durability (restarts replay it); the default
  # RDB snapshots on top would fork the whole dataset every minute under load
  # (42 forks in one benchmark run, up to 29 s each): CPU noise and no gain.
  if ! "$VALKEY_SERVER" --port "$port" --bind 127.0.0.1 --appendonly yes --save "" \
    "${DEPS_VALKEY_ARGS[@]}" --dir "$state/valkey" --pidfile "$state/valkey.pid" \
    --logfile "$state/valkey.log" --daemonize yes >&2; then
    _deps_err "$VALKEY_SERVER failed to start"
    _deps_tail "$state/valkey.log"
    return 1
  fi

  # The server writes its pid file once it listens (before loading the AOF),
  # so no pid file after a grace period, or a pid file whose process is gone,
  # means it died (port in use, unreadable AOF, ...).
  grace=$((SECONDS + 10))
  deadline=$((SECONDS + timeout))
  while :; do
    reply=$(timeout 5 "$VALKEY_CLI" -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)
    [[ $reply == PONG ]] && break
    if [[ -s $state/valkey.pid ]]; then
      if [[ -z $(_deps_valkey_pid "$state") ]]; then
        _deps_err "Valkey exited during startup"
        _deps_tail "$state/valkey.log"
        return 1
      fi
    elif ((SECONDS >= grace)); then
      _deps_err "Valkey did not come up on port $port (no pid file after 10s)"
      _deps_tail "$state/valkey.log"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      _deps_err "Valkey did not answer PING on port $port within ${timeout}s (last reply: ${reply:-none})"
      _deps_tail "$state/valkey.log"
      return 1
    fi
    sleep 0.1
  done

  VALKEY_PORT=$port
  REDIS_URL="redis://127.0.0.1:$port"
  export VALKEY_PORT REDIS_URL
  _deps_write_env "$state"
}

# Stop the Valkey server deps_start_valkey started in <state>: SHUTDOWN
# NOSAVE (the AOF is still flushed), falling back to TERM, then KILL, of the
# pid in the pid file. No-op when it was not started here or is already gone.
deps_stop_valkey() {
  local state port pid cli deadline
  [[ -d ${1:?usage: deps_stop_valkey <state_dir>} ]] || return 0
  state=$(_deps_abs_dir "$1") || return 0
  [[ -e $state/valkey.started ]] || return 0
  pid=$(_deps_valkey_pid "$state")
  if [[ -n $pid ]]; then
    _deps_log "stopping Valkey (pid $pid)"
    port=$(cat "$state/valkey.port" 2>/dev/null || true)
    cli=${VALKEY_CLI:-$(command -v valkey-cli 2>/dev/null || command -v redis-cli 2>/dev/null || true)}
    if [[ -n $port && -n $cli ]]; then
      timeout 10 "$cli" -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
    deadline=$((SECONDS + 10))
    while _deps_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if _deps_pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while _deps_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    fi
    if _deps_pid_alive "$pid"; then
      _deps_err "Valkey (pid $pid) ignored SHUTDOWN and TERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$state/valkey.started" "$state/valkey.pid"
  _deps_write_env "$state"
}

# ----------------------------------------------------------------- Both -----

# Start Postgres, then Valkey, for <state_dir>. Ports come from PG_PORT /
# VALKEY_PORT or are picked fresh (an earlier deps_start's ports in the same
# dir are not reused; the single-dependency restarts above do reuse them).
# Exports DATABASE_URL, REDIS_URL, PG_PORT, VALKEY_PORT, DEPS_STATE_DIR.
# On failure, whatever did start is left for deps_stop to clean up.
deps_start() {
  local state
  state=$(_deps_abs_dir "${1:?usage: deps_start <state_dir>}") || return 1
  _deps_require_tools || return 1
  rm -f "$state/pg.port" "$state/pg.database" "$state/valkey.port"
  deps_start_postgres "$state" || return 1
  deps_start_valkey "$state" || return 1
  DEPS_STATE_DIR=$state
  export DEPS_STATE_DIR
}

# Stop whatever deps_start* started in <state_dir>, leaving the data in
# place. Safe to call repeatedly, after a partial start, or when the dir is
# gone.
deps_stop() {
  local rc=0
  [[ -d ${1:?usage: deps_stop <state_dir>} ]] || return 0
  deps_stop_valkey "$1" || rc=1
  deps_stop_postgres "$1" || rc=1
  return "$rc"
}
