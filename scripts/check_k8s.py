#!/usr/bin/env python3
"""Offline consistency checks of the Kubernetes manifests in k8s/.

scripts/check-k8s.sh runs this (in its venv, with PyYAML) after
kubernetes-validate has checked every built-in kind against the Kubernetes
JSON schemas. This file checks what a schema cannot:

* the CRDs kubernetes-validate has no schema for (CloudNativePG Cluster,
  Prometheus Operator ServiceMonitor): required fields;
* references between objects: kustomization.yaml <-> files, Service selectors
  -> pod labels, Service targetPorts -> named container ports, Ingress
  backends -> Services/ports, ServiceMonitor -> Service labels/port names,
  HPA/PDB -> workloads, ConfigMap/Secret references, REDIS_URL -> the Valkey
  StatefulSet, the redirector's database host -> the CNPG `-ro` Service;
* conventions: probes on /health and /ready, the restricted security
  context, resources, grace period > SHUTDOWN_TIMEOUT (+ preStop sleep);
* the Ingress routing table, replaying how ingress-nginx orders regex paths
  of every Ingress of the host (/ready and /metrics must not be public);
* safe defaults: a default-deny NetworkPolicy, Valkey and Postgres reachable
  only from the app pods (and the migration Job), the apps only from the
  ingress controller and monitoring; Valkey with ACL users and no default
  user, REDIS_URL credentials from the Secret; Postgres TLS verify-full with
  the CNPG CA mounted.

Usage:
  check_k8s.py [--k8s-dir DIR]                 run every check, exit 1 on failure
  check_k8s.py [--k8s-dir DIR] --list-builtin  print the files whose kinds are
                                               built into Kubernetes (the ones
                                               kubernetes-validate can check)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

try:  # google-re2: proves the Ingress regexes are RE2 (what ingress-nginx accepts)
    import re2  # type: ignore
except ImportError:  # pragma: no cover - check-k8s.sh installs it when it can
    re2 = None

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "url-shortener"
KUSTOMIZATION = "kustomization.yaml"
SECRET_EXAMPLE = "secret.example.yaml"
APP_IMAGE = "ghcr.io/example/url-shortener"
APP_UID = 10001
CRD_GROUPS = {"postgresql.cnpg.io", "monitoring.coreos.com", "kustomize.config.k8s.io"}
CLUSTER_SCOPED = {"Namespace"}
# Keys of the Secret CloudNativePG generates for a Cluster's app owner (<cluster>-app).
CNPG_CA_SECRET_KEYS = {"ca.crt", "ca.key"}
CNPG_APP_SECRET_KEYS = {
    "username", "password", "host", "port", "dbname", "uri", "jdbc-uri",
    "fqdn-uri", "fqdn-jdbc-uri", "pgpass",
}
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# Marks paths the Ingress must not pass to any backend as they are: the
# not-public Ingress rewrites them to a path the admin API 404s.
NOT_PUBLIC = "(not public)"
NOT_PUBLIC_REWRITE = "/-/not-public"

# Paths -> the Service that must answer them through the Ingress. The first
# fourteen are the required table; the rest pin down the edges.
ROUTES = [
    ("/abc123", "redirector"),
    ("/urls/abc123", "redirector"),
    ("/urls/abc123/redirect", "redirector"),
    ("/urls/123", "admin-api"),
    ("/urls/123/qr", "admin-api"),
    ("/urls/abc123/stats", "admin-api"),
    ("/urls", "admin-api"),
    ("/urls/bulk", "admin-api"),
    ("/users", "admin-api"),
    ("/users/5", "admin-api"),
    ("/events", "admin-api"),
    ("/apidocs/", "admin-api"),
    ("/ui/", "admin-api"),
    ("/ui/links/5", "admin-api"),
    ("/health", "admin-api"),
    ("/metrics", NOT_PUBLIC),
    # edges
    ("/ready", NOT_PUBLIC),
    ("/METRICS", NOT_PUBLIC),
    ("/readyx", "redirector"),
    ("/metrics/x", "admin-api"),
    ("/", "admin-api"),
    ("/J1O697", "redirector"),
    ("/123456", "redirector"),  # all-digit codes are codes at the top level
    ("/my-link_2", "redirector"),
    ("/usersx", "redirector"),  # a code that merely starts with an admin prefix
    ("/urlsx", "redirector"),
    ("/healthz1", "redirector"),
    ("/urls/123/redirect", "redirector"),
    ("/urls/a1b2", "redirector"),
    ("/urls/12a", "redirector"),
    ("/urls/abc/qr", "admin-api"),
    ("/urls/123/stats", "admin-api"),
    ("/urls/", "admin-api"),
    ("/urls/abc/redirect/x", "admin-api"),
    ("/users/bulk", "admin-api"),
    ("/events/bulk", "admin-api"),
    ("/urls/export", "admin-api"),
    ("/events/export", "admin-api"),
    ("/users/export", "admin-api"),
    ("/urls/exports", "redirector"),
    ("/blocklist", "admin-api"),
    ("/blocklist/3", "admin-api"),
    ("/blocklistx", "redirector"),
    ("/events/7", "admin-api"),
    ("/apidocs", "admin-api"),
    ("/apidocs/openapi.json", "admin-api"),
    ("/abc/", "admin-api"),
    ("/a/b", "admin-api"),
    ("/URLS/BULK", "admin-api"),
    ("/ui", "admin-api"),
    ("/ui/import", "admin-api"),
    ("/uix", "redirector"),  # ingress-nginx regexes are case-insensitive
]


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passed = 0

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
        return ok

    def fail(self, what: str) -> None:
        self.failures.append(what)


class Manifests:
    """Every YAML document under k8s/, with the file it came from."""

    def __init__(self, k8s_dir: Path, report: Report) -> None:
        self.dir = k8s_dir
        self.docs: list[tuple[str, dict]] = []
        self.files: list[str] = []
        for path in sorted(k8s_dir.iterdir()):
            if path.suffix not in (".yaml", ".yml"):
                continue
            self.files.append(path.name)
            try:
                loaded = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
            except yaml.YAMLError as err:
                report.fail(f"{path.name}: not valid YAML: {err}")
                continue
            if not loaded:
                report.fail(f"{path.name}: no YAML document")
            for doc in loaded:
                if not isinstance(doc, dict):
                    report.fail(f"{path.name}: a document is not a mapping")
                    continue
                self.docs.append((path.name, doc))

    def of_kind(self, kind: str, include_example: bool = False) -> list[tuple[str, dict]]:
        return [
            (f, d) for f, d in self.docs
            if d.get("kind") == kind and (include_example or f != SECRET_EXAMPLE)
        ]

    def get(self, kind: str, name: str, include_example: bool = False) -> dict | None:
        for _, d in self.of_kind(kind, include_example):
            if name_of(d) == name:
                return d
        return None


def name_of(doc: dict) -> str:
    return str((doc.get("metadata") or {}).get("name", ""))


def dig(doc, *keys, default=None):
    for key in keys:
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif isinstance(doc, list) and isinstance(key, int) and -len(doc) <= key < len(doc):
            doc = doc[key]
        else:
            return default
    return doc


def api_group(doc: dict) -> str:
    api_version = str(doc.get("apiVersion", ""))
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def is_builtin(doc: dict) -> bool:
    return api_group(doc) not in CRD_GROUPS


def label(kind: str, doc: dict) -> str:
    return f"{kind}/{name_of(doc)}"


def parse_duration_s(text: str) -> float:
    """`20s`, `1m30s`, `500ms`, `2m` -> seconds (humantime subset)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total, matched = 0.0, ""
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", text):
        total += float(number) * units[unit]
        matched += number + unit
    if matched != text.replace(" ", ""):
        raise ValueError(f"cannot parse duration {text!r}")
    return total


# ---------------------------------------------------------------- workloads

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def pod_spec(doc: dict) -> dict:
    return dig(doc, "spec", "template", "spec", default={}) or {}


def pod_labels(doc: dict) -> dict:
    return dig(doc, "spec", "template", "metadata", "labels", default={}) or {}


def containers(doc: dict) -> list[dict]:
    spec = pod_spec(doc)
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_port_names(doc: dict) -> dict[str, int]:
    names = {}
    for c in containers(doc):
        for p in c.get("ports") or []:
            if "name" in p:
                names[p["name"]] = p.get("containerPort")
    return names


def container_port_numbers(doc: dict) -> set[int]:
    return {p.get("containerPort") for c in containers(doc) for p in c.get("ports") or []}


def effective_security(pod: dict, container: dict, key: str):
    """A container's securityContext field, falling back to the pod's."""
    value = dig(container, "securityContext", key)
    if value is None:
        value = dig(pod, "securityContext", key)
    return value


def check_workloads(m: Manifests, r: Report, config: dict) -> None:
    shutdown_s = parse_duration_s(str(config.get("SHUTDOWN_TIMEOUT", "20s")))
    for kind in WORKLOAD_KINDS:
        for f, doc in m.of_kind(kind):
            what = f"{f}: {label(kind, doc)}"
            pod = pod_spec(doc)
            if kind in ("Deployment", "StatefulSet"):
                selector = dig(doc, "spec", "selector", "matchLabels", default={})
                r.check(selects(selector, pod_labels(doc)),
                        f"{what}: spec.selector.matchLabels {selector} does not select its own pod labels")
            if not r.check(bool(pod.get("containers")), f"{what}: no containers"):
                continue
            for c in containers(doc):
                cw = f"{what} container {c.get('name')}"
                res = c.get("resources") or {}
                for part in ("requests", "limits"):
                    for resource in ("cpu", "memory"):
                        value = dig(res, part, resource)
                        if r.check(value is not None, f"{cw}: no resources.{part}.{resource}"):
                            r.check(bool(QUANTITY.match(str(value))),
                                    f"{cw}: resources.{part}.{resource} {value!r} is not a quantity")
                r.check(effective_security(pod, c, "runAsNonRoot") is True,
                        f"{cw}: runAsNonRoot is not true")
                r.check(dig(c, "securityContext", "readOnlyRootFilesystem") is True,
                        f"{cw}: readOnlyRootFilesystem is not true")
                r.check(dig(c, "securityContext", "allowPrivilegeEscalation") is False,
                        f"{cw}: allowPrivilegeEscalation is not false")
                r.check("ALL" in (dig(c, "securityContext", "capabilities", "drop") or []),
                        f"{cw}: capabilities.drop does not contain ALL")
                seccomp = effective_security(pod, c, "seccompProfile") or {}
                r.check(seccomp.get("type") == "RuntimeDefault",
                        f"{cw}: seccompProfile.type is not RuntimeDefault")
                image = str(c.get("image", ""))
                if image.split(":")[0] == APP_IMAGE:
                    r.check(effective_security(pod, c, "runAsUser") == APP_UID,
                            f"{cw}: runAsUser is not {APP_UID} (the image's user)")
                    r.check(image == f"{APP_IMAGE}:latest",
                            f"{cw}: image {image!r}: reference {APP_IMAGE}:latest and set the tag "
                            f"in kustomization.yaml images:")
            if kind == "Deployment":
                check_deployment(f, doc, r, shutdown_s)
            if kind == "Job":
                r.check(pod.get("restartPolicy") in ("OnFailure", "Never"),
                        f"{what}: restartPolicy must be OnFailure or Never")


def prestop_sleep_s(container: dict) -> float:
    cmd = dig(container, "lifecycle", "preStop", "exec", "command") or []
    if len(cmd) == 2 and cmd[0] in ("/bin/sleep", "sleep", "/usr/bin/sleep"):
        return float(cmd[1])
    seconds = dig(container, "lifecycle", "preStop", "sleep", "seconds")
    return float(seconds or 0)


def check_deployment(f: str, doc: dict, r: Report, shutdown_s: float) -> None:
    what = f"{f}: {label('Deployment', doc)}"
    pod = pod_spec(doc)
    r.check(dig(doc, "spec", "strategy", "type", default="RollingUpdate") == "RollingUpdate"
            and dig(doc, "spec", "strategy", "rollingUpdate") is not None,
            f"{what}: strategy is not an explicit RollingUpdate")
    named = container_port_names(doc)
    for c in pod.get("containers") or []:
        cw = f"{what} container {c.get('name')}"
        for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
            got = dig(c, probe, "httpGet", "path")
            r.check(got == path, f"{cw}: {probe} hits {got!r}, expected httpGet {path}")
            port = dig(c, probe, "httpGet", "port")
            r.check(port in named or port in named.values(),
                    f"{cw}: {probe} port {port!r} is not a container port")
        r.check(bool(named), f"{cw}: no named container port (ServiceMonitors scrape by name)")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    longest_prestop = max((prestop_sleep_s(c) for c in pod.get("containers") or []), default=0)
    r.check(grace > shutdown_s + longest_prestop,
            f"{what}: terminationGracePeriodSeconds {grace} must exceed SHUTDOWN_TIMEOUT "
            f"{shutdown_s:g}s + preStop sleep {longest_prestop:g}s")
    if name_of(doc) == "redirector":
        r.check(grace > 20, f"{what}: terminationGracePeriodSeconds {grace} must be > 20 "
                            "(the redirector flushes buffered visits on SIGTERM)")


def env_of(doc: dict, container: str | None = None) -> dict[str, dict]:
    env = {}
    for c in pod_spec(doc).get("containers") or []:
        if container is None or c.get("name") == container:
            for e in c.get("env") or []:
                env[e.get("name")] = e
    return env


def check_app_env(m: Manifests, r: Report, config: dict) -> None:
    admin = m.get("Deployment", "admin-api")
    redirector = m.get("Deployment", "redirector")
    job = None
    for _, d in m.of_kind("Job"):
        if any("migrate" in (c.get("command") or []) + (c.get("args") or []) for c in containers(d)):
            job = d
    r.check(admin is not None, "no Deployment admin-api")
    r.check(redirector is not None, "no Deployment redirector")
    r.check(job is not None, "no Job running `admin-api migrate`")
    for name, doc, binary in (("admin-api", admin, "/usr/local/bin/admin-api"),
                              ("redirector", redirector, "/usr/local/bin/redirector"),
                              ("migration Job", job, "/usr/local/bin/admin-api")):
        if doc is None:
            continue
        cmd = (pod_spec(doc).get("containers") or [{}])[0].get("command") or []
        r.check(bool(cmd) and cmd[0] == binary, f"{name}: command {cmd} does not run {binary}")
    if job is not None:
        cmd = (pod_spec(job).get("containers") or [{}])[0].get("command") or []
        r.check(cmd[1:2] == ["migrate"], f"migration Job: command {cmd} is not `admin-api migrate`")

    clusters = [name_of(d) for _, d in m.of_kind("Cluster")]
    if admin is not None:
        env = env_of(admin)
        drain = dig(env.get("DRAIN_CONSUMER", {}), "valueFrom", "fieldRef", "fieldPath")
        r.check(drain == "metadata.name", "admin-api: DRAIN_CONSUMER must come from metadata.name")
        r.check(dig(env.get("ADMIN_API_KEYS", {}), "valueFrom", "secretKeyRef") is not None,
                "admin-api: ADMIN_API_KEYS must come from a Secret")
        r.check(dig(env.get("DATABASE_URL", {}), "valueFrom", "secretKeyRef") is not None,
                "admin-api: DATABASE_URL must come from a Secret")
        check_listen(m, r, admin, "ADMIN_LISTEN", config)
    if redirector is not None:
        env = env_of(redirector)
        if "DATABASE_URL" in env:
            ok = dig(env["DATABASE_URL"], "valueFrom", "secretKeyRef") is not None
            r.check(ok, "redirector: DATABASE_URL must come from a Secret")
        else:
            host = env.get("DATABASE_HOST", {}).get("value", "")
            r.check(host in {f"{c}-ro" for c in clusters},
                    f"redirector: DATABASE_HOST {host!r} is not the `-ro` Service of a CNPG Cluster "
                    f"({', '.join(clusters) or 'none'})")
            r.check(dig(env.get("DATABASE_PASSWORD", {}), "valueFrom", "secretKeyRef") is not None,
                    "redirector: DATABASE_PASSWORD must come from a Secret")
        check_listen(m, r, redirector, "REDIRECTOR_LISTEN", config)
    for key in ("REDIRECTOR_TRUSTED_PROXIES", "REDIRECTOR_DB_MAX_CONNECTIONS", "PUBLIC_BASE_URL",
                "VALKEY_NAMESPACE", "VISIT_STREAMS", "SHUTDOWN_TIMEOUT"):
        r.check(key in config, f"ConfigMap: {key} is missing")
    r.check(config.get("LOG_FORMAT") == "json", "ConfigMap: LOG_FORMAT must be json")
    for secret_key in ("DATABASE_URL", "ADMIN_API_KEYS", "DATABASE_PASSWORD", "REDIS_URL"):
        r.check(secret_key not in config, f"ConfigMap: {secret_key} is a secret, not ConfigMap data")
    users = set()
    for name, doc in (("admin-api", admin), ("redirector", redirector)):
        if doc is not None:
            users.add(check_redis_env(m, r, name, doc))
    r.check(len(users - {None}) == 2, f"admin-api and redirector must use distinct Valkey users ({users})")
    check_postgres_tls(m, r, config, [d for d in (admin, redirector, job) if d is not None])


def check_redis_env(m: Manifests, r: Report, name: str, doc: dict) -> str | None:
    """REDIS_URL in the Deployment's env: user and $(VAR) password, VAR from a Secret."""
    env_list = [e for c in pod_spec(doc).get("containers") or [] for e in c.get("env") or []]
    names = [e.get("name") for e in env_list]
    entry = next((e for e in env_list if e.get("name") == "REDIS_URL"), None)
    if not r.check(entry is not None and "value" in entry, f"{name}: REDIS_URL must be set in env"):
        return None
    url = str(entry["value"])
    match = re.match(r"^(rediss?)://([^:@/]+):\$\(([A-Z0-9_]+)\)@(.+)$", url)
    if not r.check(match is not None, f"{name}: REDIS_URL {url!r} must be redis://USER:$(PASSWORD_VAR)@host"):
        return None
    scheme, user, var, rest = match.groups()
    source = next((e for e in env_list if e.get("name") == var), None)
    r.check(source is not None and names.index(var) < names.index("REDIS_URL")
            and dig(source, "valueFrom", "secretKeyRef") is not None,
            f"{name}: REDIS_URL's password ${var} must be an env var from a Secret defined before it")
    check_redis_url(m, r, f"{scheme}://{rest}")
    valkey = m.get("StatefulSet", "valkey")
    script = " ".join(str(a) for c in containers(valkey or {}) for a in (c.get("command") or []) + (c.get("args") or []))
    r.check(re.search(rf"user {re.escape(user)} on >\$\{{?[A-Z0-9_]+", script) is not None,
            f"{name}: Valkey user {user!r} is not defined in the StatefulSet's ACL")
    return user


def check_postgres_tls(m: Manifests, r: Report, config: dict, workloads: list[dict]) -> None:
    r.check(config.get("PGSSLMODE") == "verify-full", "ConfigMap: PGSSLMODE must be verify-full")
    cert = config.get("PGSSLROOTCERT", "")
    r.check(cert.startswith("/"), "ConfigMap: PGSSLROOTCERT must be an absolute path")
    clusters = {f"{name_of(d)}-ca" for _, d in m.of_kind("Cluster")}
    directory, _, file = cert.rpartition("/")
    for doc in workloads:
        volumes = {v.get("name"): v for v in pod_spec(doc).get("volumes") or []}
        ok = False
        for c in pod_spec(doc).get("containers") or []:
            for vm in c.get("volumeMounts") or []:
                v = volumes.get(vm.get("name")) or {}
                items = {i.get("path") for i in dig(v, "secret", "items", default=[]) or []}
                if (vm.get("mountPath") == directory and dig(v, "secret", "secretName") in clusters
                        and file in items):
                    ok = True
        r.check(ok, f"{label(doc.get('kind', ''), doc)}: the CNPG CA ({', '.join(clusters)}) is not "
                    f"mounted at {directory} with {file} (PGSSLROOTCERT)")


def check_listen(m: Manifests, r: Report, doc: dict, key: str, config: dict) -> None:
    listen = str(env_of(doc).get(key, {}).get("value") or config.get(key, ""))
    port = listen.rsplit(":", 1)[-1]
    r.check(port.isdigit() and int(port) in container_port_numbers(doc),
            f"{label('Deployment', doc)}: {key}={listen!r} is not one of its container ports")


def check_redis_url(m: Manifests, r: Report, url: str) -> None:
    """REDIS_URL must name pod <sts>-<i> of a StatefulSet through its headless Service."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    labels = host.split(".")
    ok = False
    if parts.scheme in ("redis", "rediss") and len(labels) >= 2:
        pod, service = labels[0], labels[1]
        for _, sts in m.of_kind("StatefulSet"):
            prefix = f"{name_of(sts)}-"
            ordinal = pod[len(prefix):] if pod.startswith(prefix) else ""
            svc = m.get("Service", service)
            if (ordinal.isdigit() and int(ordinal) < dig(sts, "spec", "replicas", default=1)
                    and dig(sts, "spec", "serviceName") == service and svc is not None
                    and dig(svc, "spec", "clusterIP") == "None"
                    and (parts.port or 6379) in {p.get("port") for p in dig(svc, "spec", "ports", default=[])}):
                ok = True
    r.check(ok, f"ConfigMap: REDIS_URL {url!r} does not name a StatefulSet pod through its headless Service")


def check_statefulsets(m: Manifests, r: Report) -> None:
    for f, sts in m.of_kind("StatefulSet"):
        what = f"{f}: {label('StatefulSet', sts)}"
        svc = m.get("Service", dig(sts, "spec", "serviceName", default=""))
        r.check(svc is not None and dig(svc, "spec", "clusterIP") == "None",
                f"{what}: serviceName does not name a headless Service in k8s/")
        claims = {name_of(t) for t in dig(sts, "spec", "volumeClaimTemplates", default=[])}
        mounts = {vm.get("name") for c in containers(sts) for vm in c.get("volumeMounts") or []}
        r.check(bool(claims) and claims <= mounts, f"{what}: volumeClaimTemplates {claims} not all mounted")
        for c in containers(sts):
            if str(c.get("image", "")).startswith("valkey/valkey"):
                script = " ".join(str(a) for a in (c.get("command") or []) + (c.get("args") or []))
                args = script.split()
                r.check("--appendonly" in args and args[args.index("--appendonly") + 1:][:1] == ["yes"],
                        f"{what}: valkey must run with --appendonly yes")
                r.check("--maxmemory" in args and "--maxmemory-policy" in args
                        and args[args.index("--maxmemory-policy") + 1:][:1] == ["noeviction"],
                        f"{what}: valkey must run with --maxmemory and --maxmemory-policy noeviction")
                r.check("--aclfile" in args and "user default off" in script,
                        f"{what}: valkey must load an ACL file that turns the default user off")
                for probe in ("livenessProbe", "readinessProbe"):
                    cmd = " ".join(dig(c, probe, "exec", "command", default=[]))
                    r.check("valkey-cli" in cmd and "ping" in cmd and "--user" in cmd,
                            f"{what}: {probe} must run `valkey-cli --user ... ping`")


# ---------------------------------------------------------------- references

def check_config_refs(m: Manifests, r: Report) -> None:
    configmaps = {name_of(d): set((d.get("data") or {}).keys()) for _, d in m.of_kind("ConfigMap")}
    secrets = {}
    for _, d in m.of_kind("Secret", include_example=True):
        secrets[name_of(d)] = set((d.get("data") or {}).keys()) | set((d.get("stringData") or {}).keys())
    for _, d in m.of_kind("Cluster"):
        secrets.setdefault(f"{name_of(d)}-app", CNPG_APP_SECRET_KEYS)
        secrets.setdefault(f"{name_of(d)}-ca", CNPG_CA_SECRET_KEYS)
    for kind in WORKLOAD_KINDS:
        for f, doc in m.of_kind(kind):
            for c in containers(doc):
                cw = f"{f}: {label(kind, doc)} container {c.get('name')}"
                for src in c.get("envFrom") or []:
                    if "configMapRef" in src:
                        r.check(src["configMapRef"].get("name") in configmaps,
                                f"{cw}: envFrom ConfigMap {src['configMapRef'].get('name')!r} is not in k8s/")
                    if "secretRef" in src:
                        r.check(src["secretRef"].get("name") in secrets,
                                f"{cw}: envFrom Secret {src['secretRef'].get('name')!r} is unknown")
                mounts = {vm.get("name") for vm in c.get("volumeMounts") or []}
                for v in pod_spec(doc).get("volumes") or []:
                    if "secret" in v and v.get("name") in mounts:
                        name = dig(v, "secret", "secretName")
                        keys = {i.get("key") for i in dig(v, "secret", "items", default=[]) or []}
                        r.check(name in secrets and keys <= secrets[name],
                                f"{cw}: volume {v.get('name')} mounts Secret {name} {sorted(keys)}, which is "
                                "neither in k8s/ nor generated by CNPG")
                for e in c.get("env") or []:
                    for ref_kind, known in (("configMapKeyRef", configmaps), ("secretKeyRef", secrets)):
                        ref = dig(e, "valueFrom", ref_kind)
                        if ref is None:
                            continue
                        name, key = ref.get("name"), ref.get("key")
                        r.check(name in known and key in known[name],
                                f"{cw}: env {e.get('name')} refers to {ref_kind} {name}/{key}, which is "
                                "neither in k8s/ (secret.example.yaml for Secrets) nor generated by CNPG")


def check_services(m: Manifests, r: Report) -> None:
    workloads = m.of_kind("Deployment") + m.of_kind("StatefulSet")
    for f, svc in m.of_kind("Service"):
        what = f"{f}: {label('Service', svc)}"
        selector = dig(svc, "spec", "selector", default={}) or {}
        matched = [w for _, w in workloads if selects(selector, pod_labels(w))]
        if not r.check(bool(matched), f"{what}: selector {selector} matches no Deployment/StatefulSet pods"):
            continue
        r.check(dig(svc, "spec", "type", default="ClusterIP") == "ClusterIP",
                f"{what}: type must be ClusterIP")
        for p in dig(svc, "spec", "ports", default=[]):
            r.check("name" in p, f"{what}: port {p.get('port')} has no name")
            target = p.get("targetPort", p.get("port"))
            for w in matched:
                if isinstance(target, str):
                    ok = target in container_port_names(w)
                else:
                    ok = target in container_port_numbers(w)
                r.check(ok, f"{what}: targetPort {target!r} is not a container port of "
                            f"{w.get('kind')}/{name_of(w)}")


def check_scaling(m: Manifests, r: Report) -> None:
    min_replicas = {}
    for f, hpa in m.of_kind("HorizontalPodAutoscaler"):
        what = f"{f}: {label('HorizontalPodAutoscaler', hpa)}"
        ref = dig(hpa, "spec", "scaleTargetRef", default={})
        target = m.get(ref.get("kind", ""), ref.get("name", ""))
        if r.check(target is not None, f"{what}: scaleTargetRef {ref} is not in k8s/"):
            r.check(dig(target, "spec", "replicas") is None,
                    f"{what}: {ref.get('name')} sets spec.replicas, which fights the HPA on every apply")
        lo, hi = dig(hpa, "spec", "minReplicas", default=1), dig(hpa, "spec", "maxReplicas", default=0)
        r.check(1 <= lo <= hi, f"{what}: minReplicas {lo} / maxReplicas {hi}")
        cpu = [x for x in dig(hpa, "spec", "metrics", default=[])
               if x.get("type") == "Resource" and dig(x, "resource", "name") == "cpu"]
        r.check(bool(cpu), f"{what}: no CPU metric")
        min_replicas[ref.get("name")] = lo
    for name in ("admin-api", "redirector"):
        r.check(name in min_replicas, f"no HorizontalPodAutoscaler for {name}")
    workloads = m.of_kind("Deployment") + m.of_kind("StatefulSet")
    covered = set()
    for f, pdb in m.of_kind("PodDisruptionBudget"):
        what = f"{f}: {label('PodDisruptionBudget', pdb)}"
        selector = dig(pdb, "spec", "selector", "matchLabels", default={})
        matched = [w for _, w in workloads if selects(selector, pod_labels(w))]
        r.check(bool(matched), f"{what}: selector {selector} matches no workload")
        for w in matched:
            covered.add(name_of(w))
            floor = min_replicas.get(name_of(w), dig(w, "spec", "replicas", default=1))
            min_available = dig(pdb, "spec", "minAvailable")
            if isinstance(min_available, int):
                r.check(min_available < floor,
                        f"{what}: minAvailable {min_available} >= {floor} replicas blocks every drain")
    for name in ("admin-api", "redirector", "valkey"):
        r.check(name in covered, f"no PodDisruptionBudget for {name}")


def check_valkey_cluster(m: Manifests, r: Report, config: dict) -> None:
    """The Valkey Cluster: the StatefulSet runs cluster mode on its volume,
    authenticates replication, spreads its pods; the ConfigMap names every
    pod as a seed and asks a replica's acknowledgement; a Job creates it."""
    sts = m.get("StatefulSet", "valkey")
    if not r.check(sts is not None, "no StatefulSet valkey"):
        return
    replicas = dig(sts, "spec", "replicas", default=1)
    r.check(replicas >= 6 and replicas % 2 == 0,
            f"valkey: {replicas} pods cannot be three primaries with a replica each")
    script = " ".join(str(a) for c in containers(sts) for a in (c.get("command") or []) + (c.get("args") or []))
    args = script.split()
    for flag, value in (("--cluster-enabled", "yes"), ("--cluster-preferred-endpoint-type", "hostname")):
        r.check(flag in args and args[args.index(flag) + 1:][:1] == [value], f"valkey: must run with {flag} {value}")
    r.check("--cluster-config-file" in args and args[args.index("--cluster-config-file") + 1].startswith("/data/"),
            "valkey: the cluster state (--cluster-config-file) must live on the volume (/data)")
    r.check("--masteruser" in args and "--masterauth" in args and "user replication on" in script,
            "valkey: replicas must authenticate to their primary (--masteruser/--masterauth, an ACL user)")
    r.check("--cluster-announce-hostname" in args, "valkey: nodes must announce their stable DNS names")
    anti = dig(pod_spec(sts), "affinity", "podAntiAffinity", default={})
    r.check(bool(anti), "valkey: no pod anti-affinity (a node failure could take a primary and its replica)")
    service = dig(sts, "spec", "serviceName", default="")
    expected = [f"valkey-{i}.{service}:6379" for i in range(replicas)]
    r.check(config.get("REDIS_CLUSTER_NODES", "").split(",") == expected,
            f"ConfigMap: REDIS_CLUSTER_NODES must name every Valkey pod: {','.join(expected)}")
    acks = config.get("VALKEY_REPLICA_ACKS", "0")
    r.check(acks.isdigit() and int(acks) >= 1,
            "ConfigMap: VALKEY_REPLICA_ACKS must be at least 1 on a cluster (a failover would lose writes)")
    job = m.get("Job", "valkey-cluster-create")
    job_script = " ".join(str(a) for c in containers(job or {}) for a in (c.get("command") or []) + (c.get("args") or []))
    r.check(job is not None and "--cluster create" in job_script and "--cluster-replicas 1" in job_script,
            "no Job valkey-cluster-create running `valkey-cli --cluster create ... --cluster-replicas 1`")


# ---------------------------------------------------------------- CRDs

def check_cnpg(m: Manifests, r: Report) -> None:
    clusters = m.of_kind("Cluster")
    r.check(len(clusters) == 1, f"expected one CNPG Cluster, found {len(clusters)}")
    for f, c in clusters:
        what = f"{f}: {label('Cluster', c)}"
        r.check(c.get("apiVersion") == "postgresql.cnpg.io/v1", f"{what}: apiVersion must be postgresql.cnpg.io/v1")
        instances = dig(c, "spec", "instances")
        r.check(isinstance(instances, int) and instances >= 1, f"{what}: spec.instances {instances!r} < 1")
        size = dig(c, "spec", "storage", "size")
        r.check(isinstance(size, str) and bool(QUANTITY.match(size)),
                f"{what}: spec.storage.size {size!r} is not a quantity")
        r.check(bool(dig(c, "spec", "bootstrap", "initdb", "database")),
                f"{what}: spec.bootstrap.initdb.database is missing")
        r.check(bool(dig(c, "spec", "bootstrap", "initdb", "owner")),
                f"{what}: spec.bootstrap.initdb.owner is missing")
        r.check(dig(c, "spec", "monitoring", "enablePodMonitor") is True,
                f"{what}: spec.monitoring.enablePodMonitor must be true")


def check_service_monitors(m: Manifests, r: Report) -> None:
    monitored = set()
    for f, sm in m.of_kind("ServiceMonitor"):
        what = f"{f}: {label('ServiceMonitor', sm)}"
        r.check(sm.get("apiVersion") == "monitoring.coreos.com/v1",
                f"{what}: apiVersion must be monitoring.coreos.com/v1")
        selector = dig(sm, "spec", "selector", "matchLabels")
        if not r.check(isinstance(selector, dict) and bool(selector), f"{what}: spec.selector.matchLabels missing"):
            continue
        namespaces = dig(sm, "spec", "namespaceSelector", "matchNames")
        ns = dig(sm, "metadata", "namespace")
        r.check(namespaces is None or ns in namespaces,
                f"{what}: namespaceSelector excludes its own namespace")
        services = [s for _, s in m.of_kind("Service")
                    if selects(selector, dig(s, "metadata", "labels", default={}) or {})
                    and dig(s, "metadata", "namespace") == ns]
        if not r.check(bool(services), f"{what}: selector {selector} matches no Service labels"):
            continue
        endpoints = dig(sm, "spec", "endpoints", default=[])
        r.check(bool(endpoints), f"{what}: spec.endpoints is empty")
        for ep in endpoints:
            port = ep.get("port")
            for s in services:
                names = {p.get("name") for p in dig(s, "spec", "ports", default=[])}
                r.check(port in names, f"{what}: endpoint port {port!r} is not a named port of "
                                       f"Service/{name_of(s)} ({', '.join(sorted(map(str, names)))})")
            r.check(str(ep.get("path", "/metrics")).startswith("/"), f"{what}: endpoint path must start with /")
        monitored.update(name_of(s) for s in services)
    for name in ("admin-api", "redirector"):
        r.check(name in monitored, f"no ServiceMonitor scrapes Service {name}")


# ---------------------------------------------------------------- ingress

def nginx_order(paths: list[dict]) -> list[dict]:
    """The order ingress-nginx writes a server's locations in (first match
    wins for regex locations): sorted by path, descending, then (stable) by
    path length, descending - sort.SliceStable twice in the controller's
    createServers, so ties in length keep reverse string order."""
    by_string = sorted(paths, key=lambda p: p["path"], reverse=True)
    return sorted(by_string, key=lambda p: len(p["path"].encode()), reverse=True)


def route(ordered: list[dict], request_path: str) -> str | None:
    for p in ordered:
        # use-regex: location ~* "^<path>" (case-insensitive, anchored at start only)
        if re.match("^" + p["path"], request_path, re.IGNORECASE):
            if p.get("_rewrite") == NOT_PUBLIC_REWRITE:
                return NOT_PUBLIC
            return dig(p, "backend", "service", "name")
    return None


def check_ingress(m: Manifests, r: Report, config: dict) -> None:
    ingresses = m.of_kind("Ingress")
    r.check(len(ingresses) == 2, f"expected two Ingresses (public, not-public), found {len(ingresses)}")
    paths = []
    for f, ing in ingresses:
        rewrite = dig(ing, "metadata", "annotations", "nginx.ingress.kubernetes.io/rewrite-target")
        r.check(rewrite in (None, NOT_PUBLIC_REWRITE),
                f"{f}: rewrite-target {rewrite!r}: only {NOT_PUBLIC_REWRITE} (the not-public paths) is expected")
        for p in check_one_ingress(m, r, config, f, ing):
            paths.append(dict(p, _rewrite=rewrite))
    ordered = nginx_order(paths)
    for request_path, expected in ROUTES:
        got = route(ordered, request_path)
        r.check(got == expected, f"Ingress: {request_path} routes to {got}, expected {expected}")


def check_one_ingress(m: Manifests, r: Report, config: dict, f: str, ing: dict) -> list[dict]:
    what = f"{f}: {label('Ingress', ing)}"
    r.check(dig(ing, "metadata", "annotations", "nginx.ingress.kubernetes.io/use-regex") == "true",
            f'{what}: annotation nginx.ingress.kubernetes.io/use-regex must be "true"')
    r.check(dig(ing, "spec", "ingressClassName") == "nginx", f"{what}: ingressClassName must be nginx")
    rules = dig(ing, "spec", "rules", default=[])
    if not r.check(len(rules) == 1, f"{what}: expected exactly one rule (one host)"):
        return []
    host = rules[0].get("host")
    public = urlsplit(str(config.get("PUBLIC_BASE_URL", ""))).hostname
    r.check(public == host, f"{what}: host {host!r} differs from PUBLIC_BASE_URL's host {public!r}")
    for tls in dig(ing, "spec", "tls", default=[]):
        r.check(set(tls.get("hosts") or []) <= {host}, f"{what}: TLS hosts {tls.get('hosts')} not in rules")
    paths = dig(rules[0], "http", "paths", default=[])
    for p in paths:
        pw = f"{what} path {p.get('path')!r}"
        r.check(p.get("pathType") == "ImplementationSpecific", f"{pw}: pathType must be ImplementationSpecific")
        path = str(p.get("path", ""))
        r.check(path.startswith("/") and not re.search(r'["\s;]', path),
                f"{pw}: must start with / and hold no quote, space or ;")
        try:
            re.compile(path)
        except re.error as err:
            r.fail(f"{pw}: not a valid regex: {err}")
        r.check(is_re2(path), f"{pw}: not RE2 syntax (no look-around or back-references)")
        svc_name = dig(p, "backend", "service", "name")
        port = dig(p, "backend", "service", "port", default={})
        svc = m.get("Service", svc_name)
        if r.check(svc is not None, f"{pw}: backend Service {svc_name!r} is not in k8s/"):
            ports = dig(svc, "spec", "ports", default=[])
            ok = (("name" in port and port["name"] in {x.get("name") for x in ports})
                  or ("number" in port and port["number"] in {x.get("port") for x in ports}))
            r.check(ok, f"{pw}: backend port {port} is not a port of Service/{svc_name}")
    return paths


def is_re2(pattern: str) -> bool:
    if re2 is not None:
        options = re2.Options()
        options.log_errors = False
        try:
            re2.compile(pattern, options)
            return True
        except re2.error:
            return False
    # Fallback without google-re2: reject the PCRE-only constructs.
    return not re.search(r"\(\?[=!<]|\\[1-9]|\(\?>|[*+?}]\+", pattern)


# ---------------------------------------------------------------- files

def check_files(m: Manifests, r: Report) -> None:
    seen = {}
    for f, d in m.docs:
        kind = d.get("kind")
        what = f"{f}: {kind}/{name_of(d) or '?'}"
        r.check(bool(d.get("apiVersion")) and bool(kind), f"{f}: a document lacks apiVersion or kind")
        if kind == "Kustomization":
            continue
        name = name_of(d)
        r.check(bool(DNS1123.match(name)) and len(name) <= 63,
                f"{what}: metadata.name {name!r} is not a DNS-1123 label")
        ns = dig(d, "metadata", "namespace")
        if kind in CLUSTER_SCOPED:
            r.check(name == NAMESPACE, f"{what}: the namespace must be {NAMESPACE}")
        else:
            r.check(ns == NAMESPACE, f"{what}: metadata.namespace is {ns!r}, expected {NAMESPACE}")
        key = (api_group(d), kind, name)
        r.check(key not in seen or f == SECRET_EXAMPLE,
                f"{what}: also defined in {seen.get(key)}")
        seen.setdefault(key, f)


def check_kustomization(m: Manifests, r: Report) -> None:
    docs = [d for f, d in m.docs if f == KUSTOMIZATION]
    if not r.check(len(docs) == 1 and docs[0].get("kind") == "Kustomization",
                   f"k8s/{KUSTOMIZATION}: missing or not a Kustomization"):
        return
    k = docs[0]
    r.check(k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1",
            f"{KUSTOMIZATION}: apiVersion must be kustomize.config.k8s.io/v1beta1")
    r.check(k.get("namespace") == NAMESPACE, f"{KUSTOMIZATION}: namespace must be {NAMESPACE}")
    resources = [str(x) for x in k.get("resources") or []]
    r.check(len(resources) == len(set(resources)), f"{KUSTOMIZATION}: a resource is listed twice")
    for res in resources:
        r.check((m.dir / res).is_file(), f"{KUSTOMIZATION}: resource {res} does not exist in k8s/")
    r.check(SECRET_EXAMPLE not in resources,
            f"{KUSTOMIZATION}: {SECRET_EXAMPLE} is a template with placeholder values; do not list it")
    for name in m.files:
        if name not in (KUSTOMIZATION, SECRET_EXAMPLE):
            r.check(name in resources, f"{KUSTOMIZATION}: k8s/{name} is not listed in resources")
    r.check((m.dir / SECRET_EXAMPLE).is_file(), f"k8s/{SECRET_EXAMPLE} is missing")
    for f, d in m.docs:
        if f == SECRET_EXAMPLE:
            r.check(d.get("kind") == "Secret", f"{SECRET_EXAMPLE}: must hold only the Secret template")
            values = list((d.get("stringData") or {}).values()) + list((d.get("data") or {}).values())
            r.check(bool(values) and all("CHANGE-ME" in str(v) for v in (d.get("stringData") or {}).values())
                    and not d.get("data"),
                    f"{SECRET_EXAMPLE}: every value must be a visible placeholder in stringData (CHANGE-ME...)")
    images = k.get("images") or []
    r.check(len(images) == 1 and images[0].get("name") == APP_IMAGE,
            f"{KUSTOMIZATION}: images must hold exactly one entry, name {APP_IMAGE}")
    users = [name_of(d) for _, d in m.docs if d.get("kind") in WORKLOAD_KINDS
             and any(str(c.get("image", "")).split(":")[0] == APP_IMAGE for c in containers(d))]
    r.check({"admin-api", "redirector"} <= set(users) and len(users) >= 3,
            f"{APP_IMAGE} must be the image of both Deployments and the migration Job (found in {users})")


# ---------------------------------------------------------------- main

# ---------------------------------------------------------------- network

def policy_selects(policy: dict, labels: dict) -> bool:
    selector = dig(policy, "spec", "podSelector", default={}) or {}
    return label_selector_matches(selector, labels)


def label_selector_matches(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels, matchExpressions In/NotIn/Exists) against labels; {} matches all."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def check_network_policies(m: Manifests, r: Report) -> None:
    policies = [d for _, d in m.of_kind("NetworkPolicy")]
    deny = [p for p in policies
            if dig(p, "spec", "podSelector") == {} and set(dig(p, "spec", "policyTypes", default=[])) == {"Ingress", "Egress"}
            and not dig(p, "spec", "ingress") and not dig(p, "spec", "egress")]
    r.check(bool(deny), "NetworkPolicy: no default-deny policy (podSelector {}, Ingress and Egress, no rules)")
    workloads = {name_of(d): pod_labels(d) for k in WORKLOAD_KINDS for _, d in m.of_kind(k)}
    cluster = [name_of(d) for _, d in m.of_kind("Cluster")]
    postgres_labels = {"cnpg.io/cluster": cluster[0]} if cluster else {}
    app_names = {"admin-api", "redirector"}

    def peers_into(labels: dict) -> list[dict]:
        return [peer for p in policies if policy_selects(p, labels)
                for rule in dig(p, "spec", "ingress", default=[]) or []
                for peer in rule.get("from") or [{}]]

    def peer_pods(peer: dict) -> set[str]:
        if "namespaceSelector" in peer or "ipBlock" in peer:
            return {"<outside the namespace>"}
        selector = peer.get("podSelector", {})
        matched = {n for n, labels in workloads.items() if label_selector_matches(selector, labels)}
        if postgres_labels and label_selector_matches(selector, postgres_labels):
            matched.add("<postgres>")
        return matched

    valkey = workloads.get("valkey", {})
    sources = set().union(*[peer_pods(p) for p in peers_into(valkey)]) if valkey else set()
    valkey_peers = app_names | {"valkey", "valkey-cluster-create"}
    r.check(bool(sources) and app_names <= sources <= valkey_peers,
            f"NetworkPolicy: Valkey must be reachable from admin-api and redirector, and otherwise only "
            f"from its own pods and the cluster create Job, not {sorted(sources)}")
    if postgres_labels:
        # 5432 from pods of the namespace: only the apps, the migration Job and the instances.
        from_pods = set()
        for p in policies:
            if not policy_selects(p, postgres_labels):
                continue
            for rule in dig(p, "spec", "ingress", default=[]) or []:
                ports = {x.get("port") for x in rule.get("ports") or [{}]}
                if 5432 in ports or None in ports:
                    for peer in rule.get("from") or [{}]:
                        if "podSelector" in peer and "namespaceSelector" not in peer:
                            from_pods |= peer_pods(peer)
                        elif not peer:
                            from_pods.add("<anyone>")
        r.check(from_pods == app_names | {"admin-api-migrate", "<postgres>"},
                f"NetworkPolicy: Postgres :5432 must be reachable from admin-api, redirector, the migration "
                f"Job and its own instances only, not {sorted(from_pods)}")
    for name in app_names:
        labels = workloads.get(name, {})
        peers = peers_into(labels)
        namespaces = {dig(peer, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")
                      for peer in peers}
        r.check(bool(peers) and all(set(peer) == {"namespaceSelector"} for peer in peers)
                and namespaces == {"ingress-nginx", "monitoring"},
                f"NetworkPolicy: {name} must be reachable only from the ingress-nginx and monitoring "
                f"namespaces, not {peers}")
    for name, labels in workloads.items():
        egress = [p for p in policies if policy_selects(p, labels) and dig(p, "spec", "egress")]
        r.check(bool(egress), f"NetworkPolicy: nothing allows {name} any egress (DNS at least)")


def run_checks(m: Manifests, r: Report) -> None:
    config_docs = m.of_kind("ConfigMap")
    r.check(len(config_docs) == 1, f"expected one ConfigMap, found {len(config_docs)}")
    config = {k: str(v) for k, v in ((config_docs[0][1].get("data") or {}) if config_docs else {}).items()}
    r.check(len(m.of_kind("Namespace")) == 1, "expected one Namespace")
    check_files(m, r)
    check_kustomization(m, r)
    check_workloads(m, r, config)
    check_app_env(m, r, config)
    check_statefulsets(m, r)
    check_valkey_cluster(m, r, config)
    check_config_refs(m, r)
    check_services(m, r)
    check_scaling(m, r)
    check_cnpg(m, r)
    check_service_monitors(m, r)
    check_ingress(m, r, config)
    check_network_policies(m, r)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k8s-dir", type=Path, default=ROOT / "k8s")
    parser.add_argument("--list-builtin", action="store_true",
                        help="print the manifest files whose kinds are built into Kubernetes")
    args = parser.parse_args()
    r = Report()
    if not args.k8s_dir.is_dir():
        print(f"check_k8s: {args.k8s_dir} is not a directory", file=sys.stderr)
        return 1
    m = Manifests(args.k8s_dir, r)
    if args.list_builtin:
        for f in m.files:
            kinds = [is_builtin(d) for name, d in m.docs if name == f]
            if kinds and all(kinds):
                print(args.k8s_dir / f)
            elif any(kinds):
                r.fail(f"{f}: mixes built-in kinds and CRDs; keep one kind per file")
    else:
        run_checks(m, r)
    if r.failures:
        for failure in r.failures:
            print(f"FAIL {failure}", file=sys.stderr)
        print(f"check_k8s: {len(r.failures)} failed, {r.passed} passed", file=sys.stderr)
        return 1
    if not args.list_builtin:
        print(f"check_k8s: {r.passed} checks passed ({len(ROUTES)} Ingress routes, "
              f"RE2 check {'with google-re2' if re2 else 'by syntax heuristic'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
