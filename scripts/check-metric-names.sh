#!/usr/bin/env bash
# Checks that every metric the alert rules and the Grafana dashboard query is
# one the binaries actually export:
#
#   ./scripts/check-metric-names.sh SCRAPE...
#
# Each SCRAPE is a saved `GET /metrics` response (Prometheus/OpenMetrics text)
# of a running redirector or admin-api, e.g.
#   curl -s localhost:8080/metrics >/tmp/redirector.txt
#   curl -s localhost:8081/metrics >/tmp/admin.txt
#   ./scripts/check-metric-names.sh /tmp/redirector.txt /tmp/admin.txt
#
# Metric names are taken from every `expr` in monitoring/prometheus/rules/
# alerts.yml and every PromQL `expr` in monitoring/grafana/dashboards/*.json
# (Loki/LogQL targets are skipped), ignoring PromQL functions, keywords, label
# names and values, Grafana variables, `up` and the names of recording rules.
# A name is found when it appears in the union of the scrapes as a sample or a
# `# TYPE` family -- also after stripping _bucket/_sum/_count, and a counter's
# `_total` name matches its OpenMetrics family (so a labelled counter with no
# samples yet still counts). Prints the missing names and where they are used;
# exits 1 if any is missing, 2 on usage errors. Needs only python3 (stdlib).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ $# -eq 0 ]]; then
  echo "usage: $0 SCRAPE_FILE..." >&2
  exit 2
fi
for f in "$@"; do
  [[ -r $f ]] || { echo "check-metric-names: cannot read $f" >&2; exit 2; }
done

exec python3 - "$ROOT" "$@" <<'PY'
import glob
import json
import os
import re
import sys

root, scrapes = sys.argv[1], sys.argv[2:]
rules_file = os.path.join(root, "monitoring/prometheus/rules/alerts.yml")
dashboards = sorted(glob.glob(os.path.join(root, "monitoring/grafana/dashboards/*.json")))


def rel(path):
    return os.path.relpath(path, root)


# ---------------------------------------------------------------- rules ----
def yaml_scalars(path, key):
    """(line number, value, context) for every `key:` scalar in a YAML file.

    Handles what rule files use: plain, single- and double-quoted one-line
    values, block scalars (| and >), and plain values continued on more
    indented lines. The context is the nearest preceding alert/record name.
    """
    lines = open(path, encoding="utf-8").read().splitlines()
    key_re = re.compile(r"^(\s*(?:-\s+)?)" + re.escape(key) + r":(?:\s+(.*))?$")
    name_re = re.compile(r"^\s*(?:-\s+)?(alert|record):\s*(.+?)\s*$")
    out, context, i = [], "", 0
    while i < len(lines):
        line = lines[i]
        m = name_re.match(line)
        if m:
            context = f"{m.group(1)} {m.group(2).strip(chr(34) + chr(39))}"
        m = key_re.match(line)
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        rest = (m.group(2) or "").strip()
        start = i + 1
        i += 1
        body = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        if rest[:1] in ("|", ">"):
            value = "\n".join(body)
        elif rest.startswith('"'):
            value = json.loads(rest)
        elif rest.startswith("'"):
            value = rest[1:-1].replace("''", "'")
        else:
            value = " ".join([re.sub(r"\s+#.*$", "", rest)] + [b.strip() for b in body])
        out.append((start, value, context))
    return out


exprs = []  # (where, expr)
recorded = set()
for line, value, context in yaml_scalars(rules_file, "record"):
    recorded.add(value.strip())
for line, value, context in yaml_scalars(rules_file, "expr"):
    exprs.append((f"{rel(rules_file)}:{line} ({context})", value))


# ------------------------------------------------------------ dashboards ----
def is_loki(ds):
    if isinstance(ds, dict):
        return "loki" in str(ds.get("type", "")).lower() or "loki" in str(ds.get("uid", "")).lower()
    return isinstance(ds, str) and "loki" in ds.lower()


def walk(node, path, inherited_ds, title):
    if isinstance(node, dict):
        ds = node.get("datasource", inherited_ds)
        title = node.get("title", title) if "panels" in node or "targets" in node else title
        if isinstance(node.get("expr"), str) and not is_loki(ds):
            exprs.append((f"{path} (panel {title!r})", node["expr"]))
        for k, v in node.items():
            if k != "expr":
                walk(v, path, ds, title)
    elif isinstance(node, list):
        for v in node:
            walk(v, path, inherited_ds, title)


for dash in dashboards:
    walk(json.load(open(dash, encoding="utf-8")), rel(dash), None, "")

if not exprs:
    sys.exit("check-metric-names: no expressions found (rules or dashboards missing?)")

# ---------------------------------------------------------------- PromQL ----
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "atan2", "start", "end", "inf", "nan",
}
IGNORED = {"up"} | recorded


def metric_names(expr):
    e = re.sub(r"#[^\n]*", " ", expr)                      # comments
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', " ", e)  # strings
    e = re.sub(r"\$\{[^}]*\}|\$\w+", " ", e)               # Grafana variables
    e = re.sub(r"\{[^}]*\}", " ", e)                       # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                      # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"@\s*[\w.()]+", " ", e)                    # @ modifier
    names = set()
    for m in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", e):
        name = m.group(0)
        after = e[m.end():].lstrip()
        if after.startswith("("):                          # function / aggregation
            continue
        if name.lower() in KEYWORDS or name in IGNORED:
            continue
        names.add(name)
    return names


used = {}  # name -> [where]
for where, expr in exprs:
    for name in metric_names(expr):
        used.setdefault(name, []).append(where)

# --------------------------------------------------------------- scrapes ----
exported = set()
for path in scrapes:
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if not line or line == "# EOF":
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 3 and parts[1] in ("TYPE", "HELP", "UNIT"):
                exported.add(parts[2])
            continue
        m = re.match(r"[A-Za-z_:][\w:]*", line)
        if m:
            exported.add(m.group(0))

if not exported:
    sys.exit("check-metric-names: no metrics found in " + ", ".join(scrapes))

SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def found(name):
    if name in exported:
        return True
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in exported:
            return True
    return False


missing = sorted(n for n in used if not found(n))
print(f"check-metric-names: {len(used)} metric names in {len(exprs)} expressions, "
      f"{len(exported)} names in {len(scrapes)} scrape file(s)")
if missing:
    print(f"check-metric-names: {len(missing)} metric name(s) not exported:")
    for name in missing:
        print(f"  {name}")
        for where in sorted(set(used[name])):
            print(f"      used in {where}")
    sys.exit(1)
print("check-metric-names: all metric names are exported")
PY
