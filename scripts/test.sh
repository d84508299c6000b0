#!/usr/bin/env bash
# The project's test command: starts throwaway Postgres, Valkey and a local
# Valkey Cluster (three primaries, three replicas) in a temp dir, then runs
# formatting check, clippy and the test suite (cargo nextest) against them --
# the end-to-end tests and fault drills a second time against the cluster --
# and tears everything down again, also on failure or Ctrl-C.
#
#   ./scripts/test.sh [extra cargo-nextest args, e.g. a test name filter]
#
# Environment: CARGO_BUILD_JOBS (default 2), plus scripts/deps.sh's knobs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/deps.sh
source "$ROOT/scripts/deps.sh"
# shellcheck source=scripts/deps-cluster.sh
source "$ROOT/scripts/deps-cluster.sh"

STATE_DIR=
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [[ -n $STATE_DIR && -d $STATE_DIR ]]; then
    deps_stop_valkey_cluster "$STATE_DIR"
    deps_stop "$STATE_DIR"
    rm -rf "$STATE_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

header() { printf '\n==> %s\n' "$*" >&2; }

# ---- steps: add a step_<name> function and list it in STEPS ----------------
step_fmt() { cargo fmt --all --check; }
step_clippy() { cargo clippy --workspace --all-targets --locked -- -D warnings; }
step_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "cargo-nextest is not installed (cargo install cargo-nextest --locked)" >&2
    return 1
  fi
  cargo nextest run --workspace --locked --no-fail-fast "$@"
}
# The end-to-end tests and fault drills again, with both binaries on the
# local cluster (the drills on a private Valkey or Postgres stop and restart
# a standalone server, and ran above; the cluster's own drills kill a
# primary of a private cluster, and ran above too).
step_nextest_cluster() {
  VALKEY_UNDER_TEST=cluster cargo nextest run --workspace --locked --no-fail-fast \
    -E 'binary(e2e) & not test(/^(cluster_drills|dependency_drills|link_drills)::/)' "$@"
}
# The committed .sqlx/ query data must match the queries and migrations.
step_sqlx() { SQLX_SERVER_URL=$DATABASE_URL ./scripts/sqlx-prepare.sh --check; }
# Deployment files, checked with the tools their users would run.
step_compose() { ./scripts/check-compose.sh; }
step_monitoring() { ./scripts/check-monitoring.sh; }
step_k8s() { ./scripts/check-k8s.sh; }
# A few seconds of the benchmark, so that it never rots (figures meaningless).
step_bench_smoke() { ./loadtest/run.sh --smoke; }
STEPS=(fmt clippy sqlx compose k8s monitoring nextest nextest_cluster bench_smoke)

header "starting Postgres and Valkey"
deps_ensure_tools
deps_ensure_nginx
deps_ensure_browser
STATE_DIR=$(mktemp -d /tmp/urlshortener-test.XXXXXX)
chmod 755 "$STATE_DIR" # the postgres user must be able to enter it
PG_DATABASE=hackathon_test deps_start "$STATE_DIR"
deps_start_valkey_cluster "$STATE_DIR"

# sqlx::test creates a fresh database per test, using this as the master URL.
DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
# sqlx's compile-time query macros use the committed .sqlx/ data.
SQLX_OFFLINE=true
CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
export DATABASE_URL REDIS_URL SQLX_OFFLINE CARGO_BUILD_JOBS
echo "DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL REDIS_CLUSTER_NODES=$REDIS_CLUSTER_NODES (state: $STATE_DIR)" >&2

for step in "${STEPS[@]}"; do
  header "$step"
  args=()
  # Only the nextest steps take the script's arguments (a test filter, say).
  if [[ $step == nextest* ]]; then args=("$@"); fi
  if ! "step_$step" "${args[@]}"; then
    printf '\n==> FAILED: %s\n' "$step" >&2
    exit 1
  fi
done
printf '\n==> all steps passed: %s\n' "${STEPS[*]}" >&2
