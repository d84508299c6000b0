"""Validates compose files offline: each against the vendored Compose
specification schema, every file it references exists, and the nginx
upstreams name services of the stack. Usage: check_compose.py FILE..."""

import json
import pathlib
import re
import sys

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "deploy" / "compose" / "compose-spec.schema.json"


def referenced_paths(service):
    """Host paths a service needs: bind mounts, build context, Dockerfile, env files."""
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith((".", "/")) and not source.startswith("/var/run/"):
            yield source
    build = service.get("build")
    if isinstance(build, str):
        yield build
        yield f"{build}/Dockerfile"
    elif isinstance(build, dict):
        context = build.get("context", ".")
        yield context
        yield f"{context}/{build.get('dockerfile', 'Dockerfile')}"
    env_files = service.get("env_file", [])
    for env_file in [env_files] if isinstance(env_files, str) else env_files:
        yield env_file


def check(path, validator):
    problems = []
    document = yaml.safe_load(path.read_text())
    for error in validator.iter_errors(document):
        location = "/".join(str(p) for p in error.absolute_path) or "(top)"
        problems.append(f"{path.name}: {location}: {error.message}")
    for name, service in (document.get("services") or {}).items():
        for ref in referenced_paths(service):
            if not (path.parent / ref).exists():
                problems.append(f"{path.name}: service {name} references {ref}, which does not exist")
    return document, problems


def main(files):
    schema = json.loads(SCHEMA.read_text())
    # The schema declares draft 2019-09 (with a trailing "#" jsonschema does not map).
    validator = jsonschema.Draft201909Validator(schema)
    problems = []
    services = set()
    for name in files:
        document, found = check(pathlib.Path(name).resolve(), validator)
        problems += found
        if pathlib.Path(name).name == "compose.yml":
            services = set(document.get("services", {}))
    nginx = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    for host in re.findall(r"^\s*server\s+([A-Za-z0-9_.-]+):\d+;", nginx, re.MULTILINE):
        if services and host not in services:
            problems.append(f"nginx.conf: upstream {host} is not a service of compose.yml")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"compose: {len(files)} file(s) valid, references present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
