#!/usr/bin/env bash
# The benchmark command (README: Performance):
#
#   ./loadtest/run.sh            # full run: release build, 100k links, 3 rounds
#   ./loadtest/run.sh --smoke    # seconds, small numbers (the test command runs it)
#
# Builds both binaries and the cache-policy bench (loadtest/cache-policy), starts a private Postgres and Valkey (scripts/deps.sh),
# installs wrk and nginx when missing, and runs loadtest/bench.py, which
# prints every figure and the ratio to nginx. Extra arguments go to bench.py
# (e.g. --links 50000 --seconds 15). Everything it starts is stopped at exit.
# The sweep's chart is written to target/bench/throughput-vs-connections.svg
# (--chart PATH elsewhere, e.g. --chart docs/bench/throughput-vs-connections.svg
# for the README's copy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/deps.sh
source "$ROOT/scripts/deps.sh"

smoke=0
if [[ ${1:-} == --smoke ]]; then
  smoke=1
  shift
fi

deps_ensure_tools
deps_ensure_nginx
command -v wrk >/dev/null 2>&1 || deps_apt_install wrk
command -v curl >/dev/null 2>&1 || deps_apt_install curl
command -v taskset >/dev/null 2>&1 || deps_apt_install util-linux

profile=release
build=(build -j "${CARGO_BUILD_JOBS:-2}" --locked --bin admin-api --bin redirector --bin cache-policy)
if ((smoke)); then
  # The locustfile is not run here (no locust); at least it must compile.
  python3 -m py_compile loadtest/locustfile.py
  profile=debug
  set -- --links 2000 --rounds 1 --warmup 1 --seconds 1 --drain-visits 5000 \
    --visibility-samples 20 --rss-links 4000 --sweep-connections 16,256 \
    --scale-processes 1,2 --growth-links 1000,3000 --smoke \
    --policy-links 100000 --policy-requests 500000 \
    --history-visits 20000 --history-drain-visits 5000 "$@"
else
  build+=(--release)
fi
SQLX_OFFLINE=${SQLX_OFFLINE:-true} cargo "${build[@]}"
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
export BIN=$target_dir/$profile

STATE_DIR=$(mktemp -d /tmp/urlshortener-bench.XXXXXX)
chmod 755 "$STATE_DIR"
cleanup() {
  local rc=$?
  set +e
  deps_stop "$STATE_DIR"
  rm -rf "$STATE_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The sweep's 1,024 connections are file descriptors of wrk's and the servers'.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

# Fresh ports, whatever the caller (e.g. the test command) exported.
unset PG_PORT VALKEY_PORT
PG_DATABASE=hackathon_db deps_start "$STATE_DIR"
export DATABASE_URL REDIS_URL NGINX_BIN
mkdir -p "$STATE_DIR/work"
mkdir -p "$ROOT/target/bench"
python3 loadtest/bench.py --workdir "$STATE_DIR/work" --chart "$ROOT/target/bench/throughput-vs-connections.svg" "$@"
