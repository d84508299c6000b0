#!/usr/bin/env bash
# check-k8s.sh - validate the Kubernetes manifests in k8s/ offline (no cluster,
# no kubectl).
#
#   1. kubernetes-validate --strict checks every manifest of a built-in kind
#      (Deployment, Service, Ingress, HPA, ...) against the Kubernetes
#      $KUBERNETES_VERSION JSON schemas: unknown fields, wrong types, missing
#      required fields. secret.example.yaml is checked too.
#   2. scripts/check_k8s.py checks what no schema can: the CRDs (CloudNativePG
#      Cluster, ServiceMonitor), every cross-reference (kustomization.yaml
#      <-> files, selectors, named ports, Ingress backends, Secrets and
#      ConfigMaps, REDIS_URL, the -ro database Service), probes, security
#      context, grace periods, and the Ingress routing table as ingress-nginx
#      orders regex paths.
#
# Tools live in a venv outside the repo, created on first run from PyPI:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/url-shortener/k8s-venv  (override: K8S_CHECK_VENV)
# Environment: KUBERNETES_VERSION (default 1.30.0; kubernetes-validate ships
# 1.25 to 1.37), K8S_DIR (default k8s/ of this repo), PYTHON (default python3).
# Exits non-zero, saying why, on the first failing step.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K8S_DIR=${K8S_DIR:-$ROOT/k8s}
VENV=${K8S_CHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/url-shortener/k8s-venv}
KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.30.0}
PYTHON=${PYTHON:-python3}
REQUIREMENTS=(kubernetes-validate==1.37.0 PyYAML==6.0.4)
# Optional: proves the Ingress regexes are RE2 (what ingress-nginx accepts);
# without it check_k8s.py falls back to a syntax heuristic.
OPTIONAL=(google-re2==1.1.20251105)

die() { echo "check-k8s: FAILED: $*" >&2; exit 1; }

[[ -d $K8S_DIR ]] || die "$K8S_DIR is not a directory"

stamp=$VENV/.check-k8s-requirements
want="${REQUIREMENTS[*]} ${OPTIONAL[*]}"
if [[ ! -x $VENV/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "check-k8s: installing ${want} into $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" \
        || die "pip install ${REQUIREMENTS[*]} failed"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${OPTIONAL[@]}" \
        || echo "check-k8s: warning: ${OPTIONAL[*]} did not install; RE2 is checked by a heuristic" >&2
    echo "$want" >"$stamp"
fi

# 1. Built-in kinds against the Kubernetes schemas.
builtin=$("$VENV/bin/python" "$ROOT/scripts/check_k8s.py" --k8s-dir "$K8S_DIR" --list-builtin) \
    || die "could not sort the manifests by kind"
mapfile -t files <<<"$builtin"
[[ ${#files[@]} -gt 0 && -n ${files[0]} ]] || die "no manifest of a built-in kind in $K8S_DIR"
echo "check-k8s: kubernetes-validate --strict -k $KUBERNETES_VERSION on ${#files[@]} files"
rc=0
out=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "${files[@]}" 2>&1) || rc=$?
[[ -z $out ]] || printf '%s\n' "$out"
# A kind without a schema is only a WARN (exit 0) for kubernetes-validate: fail on it too.
if [[ $rc -ne 0 ]] || grep -qE '^(WARN|ERROR|FATAL)' <<<"$out"; then
    die "kubernetes-validate rejected the manifests above"
fi

# 2. CRDs, cross-references, conventions, routing.
"$VENV/bin/python" "$ROOT/scripts/check_k8s.py" --k8s-dir "$K8S_DIR" \
    || die "check_k8s.py found the problems above"

echo "check-k8s: all checks passed"
