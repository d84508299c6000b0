#!/usr/bin/env bash
# Regenerates (or, with --check, verifies) the committed sqlx offline query
# data in .sqlx/, which lets the crates build without a database
# (SQLX_OFFLINE=true). Needs a Postgres server: SQLX_SERVER_URL (a URL to
# its `postgres` database) or, when unset, a throwaway one from deps.sh.
# A scratch database gets the migrations, then the crates with queries are
# compiled against it with SQLX_OFFLINE_DIR pointing at the output folder.
#
#   ./scripts/sqlx-prepare.sh          # rewrite .sqlx/
#   ./scripts/sqlx-prepare.sh --check  # fail if .sqlx/ is stale
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mode=${1:-write}

STATE_DIR=
OUT=$(mktemp -d)
cleanup() {
  local rc=$?
  set +e
  rm -rf "$OUT"
  if [[ -n $STATE_DIR ]]; then
    deps_stop "$STATE_DIR"
    rm -rf "$STATE_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT

if [[ -z ${SQLX_SERVER_URL:-} ]]; then
  # shellcheck source=scripts/deps.sh
  source "$ROOT/scripts/deps.sh"
  deps_ensure_tools
  STATE_DIR=$(mktemp -d /tmp/urlshortener-sqlx.XXXXXX)
  chmod 755 "$STATE_DIR"
  PG_DATABASE=postgres deps_start "$STATE_DIR"
  SQLX_SERVER_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
fi

scratch="sqlx_prepare_$$"
psql -q -v ON_ERROR_STOP=1 "$SQLX_SERVER_URL" -c "CREATE DATABASE $scratch"
scratch_url="${SQLX_SERVER_URL%/*}/$scratch"
for migration in migrations/*.sql; do
  # As sqlx applies them: each in a transaction of its own, unless its
  # first line says `-- no-transaction`.
  single=(-1)
  if [[ $(head -n 1 "$migration") == "-- no-transaction" ]]; then single=(); fi
  psql -q -v ON_ERROR_STOP=1 "${single[@]}" "$scratch_url" -f "$migration"
done

# The macros only run when their crate is recompiled.
crates=(shared admin-api redirector)
for crate in "${crates[@]}"; do touch "$crate/src/lib.rs"; done
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$OUT" DATABASE_URL="$scratch_url" \
  cargo check --locked --lib "${crates[@]/#/-p}"
psql -q "$SQLX_SERVER_URL" -c "DROP DATABASE $scratch"
for crate in "${crates[@]}"; do touch "$crate/src/lib.rs"; done

if [[ $mode == --check ]]; then
  if ! diff -r .sqlx "$OUT" >/dev/null; then
    diff -r .sqlx "$OUT" | head -20 >&2 || true
    echo "sqlx: .sqlx/ is stale; run ./scripts/sqlx-prepare.sh and commit it" >&2
    exit 1
  fi
  echo "sqlx: .sqlx/ is current" >&2
else
  rm -rf .sqlx
  cp -r "$OUT" .sqlx
  echo "sqlx: wrote $(find .sqlx -name 'query-*.json' | wc -l) queries to .sqlx/" >&2
fi
