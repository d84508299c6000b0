#!/usr/bin/env bash
# Static checks of the monitoring stack under monitoring/:
#
#   ./scripts/check-monitoring.sh
#
#   - promtool check config   monitoring/prometheus/prometheus.yml (a temp copy
#                             whose rule_files point into the repo instead of
#                             the container path /etc/prometheus/rules)
#   - promtool check rules    monitoring/prometheus/rules/alerts.yml
#   - promtool test rules     monitoring/prometheus/rules/alerts_test.yml
#   - amtool check-config     monitoring/alertmanager/alertmanager.yml
#   - python3 -m json.tool    every *.json under monitoring/grafana
#   - promtool check rules    the dashboards' PromQL queries, written to a temp
#                             file as recording rules ($__rate_interval -> 5m)
#   - YAML syntax of every other *.yml/*.yaml under monitoring/ (Loki,
#     Promtail, Grafana provisioning, k8s) when python3 has PyYAML; skipped
#     with a notice otherwise
#
# promtool and amtool come from the Debian packages `prometheus` and
# `prometheus-alertmanager`; when either tool is missing they are installed
# with apt-get (through sudo when not root). Their packages may start the
# prometheus / alertmanager daemons; those are stopped again, so the script
# leaves no service running that it started. Runs every check, then exits
# non-zero naming the ones that failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[check-monitoring] %s\n' "$*" >&2; }
die() { printf '[check-monitoring] ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  fi
fi

# Pids of running prometheus / alertmanager daemons (Debian's binaries are
# /usr/bin/prometheus and /usr/bin/prometheus-alertmanager).
daemon_pids() {
  pgrep -x prometheus 2>/dev/null || true
  pgrep -x prometheus-alertmanager 2>/dev/null || true
  pgrep -x alertmanager 2>/dev/null || true
}

install_tools() {
  local packages=()
  command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
  command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
  [[ ${#packages[@]} -eq 0 ]] && return 0

  if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
    die "missing ${packages[*]} (promtool/amtool) and not root without sudo: install them first"
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "missing ${packages[*]} (promtool/amtool) and no apt-get to install them"

  local before
  before=$(daemon_pids | sort -u)

  log "installing ${packages[*]} with apt-get"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${packages[@]}" >/dev/null ||
    die "apt-get install ${packages[*]} failed"

  # The packages' maintainer scripts may have started their daemons (systemd,
  # or the init script when no policy-rc.d forbids it): stop and, under
  # systemd, disable the services of the packages installed just now.
  local pkg
  for pkg in "${packages[@]}"; do
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
      "${SUDO[@]}" systemctl disable --now "$pkg" >/dev/null 2>&1 || true
    fi
    if [[ -x /etc/init.d/$pkg ]] && command -v service >/dev/null 2>&1; then
      "${SUDO[@]}" service "$pkg" stop >/dev/null 2>&1 || true
    fi
  done

  # Whatever daemon appeared during the install and still runs is ours: end
  # it by pid, then make sure none is left.
  local after pid stray=()
  after=$(daemon_pids | sort -u)
  for pid in $after; do
    grep -qx "$pid" <<<"$before" || stray+=("$pid")
  done
  if [[ ${#stray[@]} -gt 0 ]]; then
    log "stopping daemons started by the install: pids ${stray[*]}"
    "${SUDO[@]}" kill "${stray[@]}" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      local alive=()
      for pid in "${stray[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive+=("$pid")
      done
      [[ ${#alive[@]} -eq 0 ]] && break
      sleep 0.2
    done
    for pid in "${stray[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then
        die "daemon pid $pid started by the package install is still running"
      fi
    done
  fi

  command -v promtool >/dev/null 2>&1 || die "promtool still missing after installing prometheus"
  command -v amtool >/dev/null 2>&1 || die "amtool still missing after installing prometheus-alertmanager"
}

install_tools

PROM_DIR=monitoring/prometheus
RULES=$PROM_DIR/rules/alerts.yml
RULES_TEST=$PROM_DIR/rules/alerts_test.yml
AM_CONFIG=monitoring/alertmanager/alertmanager.yml

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

FAILED=()
check() {
  local name=$1
  shift
  log "== $name"
  if "$@"; then
    log "ok: $name"
  else
    log "FAILED: $name"
    FAILED+=("$name")
  fi
}

# prometheus.yml names its rule files by their path in the container; check a
# copy that names the same files in the repo.
prometheus_config() {
  local copy=$TMP/prometheus.yml
  grep -q '/etc/prometheus/rules/' "$PROM_DIR/prometheus.yml" || {
    echo "$PROM_DIR/prometheus.yml: rule_files do not use /etc/prometheus/rules/" >&2
    return 1
  }
  sed "s#/etc/prometheus/rules/#$ROOT/$PROM_DIR/rules/#g" "$PROM_DIR/prometheus.yml" >"$copy"
  promtool check config "$copy"
}

grafana_json() {
  local file ok=0 found=0
  while IFS= read -r -d '' file; do
    found=1
    if python3 -m json.tool "$file" >/dev/null; then
      echo "  $file: valid JSON"
    else
      echo "  $file: INVALID JSON" >&2
      ok=1
    fi
  done < <(find monitoring/grafana -name '*.json' -print0 | sort -z)
  [[ $found -eq 1 ]] || { echo "no JSON files under monitoring/grafana" >&2; return 1; }
  return "$ok"
}

# The dashboard's PromQL, with Grafana's interval variables replaced by 5m, as
# recording rules in a temp file, so promtool parses every query.
dashboard_promql() {
  local rules=$TMP/dashboard-queries.yml
  python3 - "$rules" monitoring/grafana/dashboards/*.json <<'PY' || return 1
import json, re, sys
out, files = sys.argv[1], sys.argv[2:]
exprs = []
def walk(node, ds, where):
    if isinstance(node, dict):
        ds = node.get("datasource", ds)
        where = node.get("title", where)
        if isinstance(node.get("expr"), str):
            uid = str(ds.get("uid", "") if isinstance(ds, dict) else ds or "")
            kind = str(ds.get("type", "") if isinstance(ds, dict) else "")
            if "loki" not in (uid + kind).lower():
                exprs.append((where, node["expr"]))
        for v in node.values():
            walk(v, ds, where)
    elif isinstance(node, list):
        for v in node:
            walk(v, ds, where)
for f in files:
    walk(json.load(open(f)), None, f)
if not exprs:
    sys.exit("no PromQL queries found in the dashboards")
with open(out, "w") as fh:
    fh.write("groups:\n  - name: dashboard-queries\n    rules:\n")
    for i, (where, e) in enumerate(exprs):
        e = re.sub(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}", "5m", e)
        fh.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(e)}\n")
print(f"  {len(exprs)} PromQL queries from {len(files)} dashboard(s)")
PY
  promtool check rules "$rules"
}

yaml_syntax() {
  if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "  skipped: python3 has no PyYAML"
    return 0
  fi
  find monitoring \( -name '*.yml' -o -name '*.yaml' \) -print0 | sort -z |
    python3 -c '
import sys, yaml
bad = 0
for path in sys.stdin.read().split("\0"):
    if not path:
        continue
    try:
        with open(path) as f:
            list(yaml.safe_load_all(f))
        print(f"  {path}: valid YAML")
    except Exception as e:
        print(f"  {path}: INVALID YAML: {e}", file=sys.stderr)
        bad = 1
sys.exit(bad)
'
}

check "promtool check config $PROM_DIR/prometheus.yml" prometheus_config
check "promtool check rules $RULES" promtool check rules "$RULES"
check "promtool test rules $RULES_TEST" promtool test rules "$RULES_TEST"
check "amtool check-config $AM_CONFIG" amtool check-config "$AM_CONFIG"
check "Grafana JSON (python3 -m json.tool)" grafana_json
check "Grafana dashboard PromQL (promtool check rules)" dashboard_promql
check "YAML syntax under monitoring/" yaml_syntax

if [[ ${#FAILED[@]} -gt 0 ]]; then
  log "${#FAILED[@]} check(s) failed:"
  printf '[check-monitoring]   - %s\n' "${FAILED[@]}" >&2
  exit 1
fi
log "all monitoring checks passed"
