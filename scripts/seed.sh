#!/usr/bin/env bash
# Loads the sample data in seeds/ (users, then urls, then events) into a
# running system through the admin API's bulk-upload endpoints.
#
#   ./scripts/seed.sh
#
# Environment: ADMIN_URL (default http://localhost:8081), ADMIN_API_KEY (sent
# as X-API-Key; defaults to the first key of ADMIN_API_KEYS, the server-side
# list, when only that is set, and otherwise to the key ./scripts/run.sh
# generated in its state dir).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ADMIN_URL=${ADMIN_URL:-http://localhost:8081}
ADMIN_URL=${ADMIN_URL%/}

command -v curl >/dev/null 2>&1 || {
  echo "seed.sh needs curl (apt-get install curl)" >&2
  exit 1
}

key=${ADMIN_API_KEY:-${ADMIN_API_KEYS:-}}
if [[ -z $key ]]; then
  # Where scripts/run.sh keeps its state (and its fallback when the postgres
  # user cannot reach .local/run).
  fallback=/tmp/urlshortener-run-$(id -u)-$(printf '%s' "$ROOT" | cksum | cut -d ' ' -f 1)
  for file in "$ROOT/.local/run/admin-api.key" "$fallback/admin-api.key"; do
    if [[ -s $file ]]; then
      key=$(<"$file")
      break
    fi
  done
fi
key=${key%%,*}
key=${key//[[:space:]]/}
auth=()
if [[ -n $key ]]; then auth=(-H "X-API-Key: $key"); fi

for kind in users urls events; do
  file=seeds/$kind.csv
  [[ -r $file ]] || {
    echo "missing $ROOT/$file" >&2
    exit 1
  }
  printf '==> POST %s/%s/bulk (%s)\n' "$ADMIN_URL" "$kind" "$file" >&2
  if ! curl -sS --fail-with-body "${auth[@]}" -F "file=@$file;type=text/csv" "$ADMIN_URL/$kind/bulk"; then
    printf '\n==> FAILED: upload of %s\n' "$file" >&2
    exit 1
  fi
  echo
done
echo "==> seeded users, urls and events" >&2
