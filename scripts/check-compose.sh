#!/usr/bin/env bash
# Checks compose.yml and compose.dev.yml without a Docker engine: against the
# vendored Compose schema, for files they reference, and for nginx upstreams
# that name their services. Installs jsonschema and PyYAML into a cached venv
# when the system Python lacks them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

python=python3
if ! "$python" -c 'import jsonschema, yaml' 2>/dev/null; then
  venv=${XDG_CACHE_HOME:-$HOME/.cache}/url-shortener/compose-venv
  if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet jsonschema pyyaml
  fi
  python=$venv/bin/python
fi
"$python" scripts/check_compose.py compose.yml compose.dev.yml
