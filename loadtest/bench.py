"""The redirect benchmark: the redirector against nginx answering 302 from a
map of the same codes, on this machine, plus the figures of every other tier
of the system. Run through loadtest/run.sh, which builds the binaries, starts
Postgres and Valkey and passes their URLs in the environment.

Every figure is printed as it is measured and again in a final table.
Standard library only."""

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import history
import policy
import scaling

HERE = os.path.dirname(os.path.abspath(__file__))
CODE_ALPHABET = string.ascii_letters + string.digits
TARGET = "https://example.com/landing/{}"


PHASES = ["hits", "features", "valkey", "postgres", "negative", "visibility", "stats", "drain", "pinned", "rss", "policy"]
PHASES += scaling.PHASES
PHASES += history.PHASES


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The admin API's key for this run (it is closed by default); sent on every
# request, which the redirector ignores.
ADMIN_KEY = secrets.token_hex(32)
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def http(method, url, body=None, headers=None, timeout=30):
    """(status, headers, body bytes); never raises for HTTP errors."""
    request = urllib.request.Request(url, data=body, method=method, headers={**AUTH, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def visit(url):
    """The status of a GET without following redirects; 0 when nothing answers."""
    try:
        with OPENER.open(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError:
        return 0


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if http("GET", url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not answer within {timeout}s")


def metric(base, line_prefix):
    """Sum of the samples of a metric line prefix in a /metrics scrape."""
    text = http("GET", f"{base}/metrics")[2].decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(line_prefix):
            total += float(line.rsplit(" ", 1)[1])
    return total


def served_redirects(base, timeout=30):
    """The redirector's 302 count once no client connection but this scrape's
    is open: wrk's last requests may still be in a serving thread when wrk
    exits, their visit recorded and their count not yet (another thread
    answers the scrape), which would read as a visit too many."""
    deadline = time.time() + timeout
    while metric(base, "redirector_connections_open ") > 1 and time.time() < deadline:
        time.sleep(0.05)
    return metric(base, 'redirector_http_requests_total{route="redirect",status="302"}')


class Processes:
    """Child processes, stopped in reverse order at exit."""

    def __init__(self):
        self.children = []

    def start(self, name, argv, env, pin=None):
        if pin is not None:
            argv = ["taskset", "-c", str(pin)] + argv
        log_file = open(os.path.join(self.workdir, f"{name}.log"), "ab")
        child = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        self.children.append((name, child))
        return child

    def stop(self, child, sig=signal.SIGTERM):
        if child.poll() is None:
            child.send_signal(sig)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def stop_all(self):
        for _, child in reversed(self.children):
            self.stop(child)


def service_env(extra):
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "LOG_LEVEL": "warn",
        "REDIRECTOR_CACHE_MAX_BYTES": "1GiB",
        "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536",
        # Every request comes from 127.0.0.1: the per-network 404 limit would
        # turn the unknown-code phase into a measure of 429s.
        "REDIRECTOR_NOT_FOUND_RATE": "0",
    }
    env.update(extra)
    return env


def start_admin(procs, port):
    child = procs.start("admin-api", [f"{os.environ['BIN']}/admin-api"],
                        service_env({"ADMIN_LISTEN": f"127.0.0.1:{port}", "PUBLIC_BASE_URL": "http://127.0.0.1:1",
                                     "ADMIN_API_KEYS": ADMIN_KEY}))
    wait_http(f"http://127.0.0.1:{port}/health")
    return child


def start_redirector(procs, name, port, extra=None, pin=None):
    env = service_env({"REDIRECTOR_LISTEN": f"127.0.0.1:{port}", **(extra or {})})
    child = procs.start(name, [f"{os.environ['BIN']}/redirector"], env, pin)
    wait_http(f"http://127.0.0.1:{port}/health")
    return child


def random_codes(count, seed):
    """Random 7-character codes, distinct even ignoring case: nginx's map
    compares strings case-insensitively, and both servers get the same set."""
    rng = random.Random(seed)
    codes, folded = [], set()
    while len(codes) < count:
        code = "".join(rng.choice(CODE_ALPHABET) for _ in range(7))
        if not code.isdigit() and code.lower() not in folded:
            folded.add(code.lower())
            codes.append(code)
    return sorted(codes)


def upload(admin, path, filename):
    result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"file=@{filename}",
                             "-H", f"Authorization: Bearer {ADMIN_KEY}", f"{admin}{path}"],
                            capture_output=True, text=True, check=True)
    if result.stdout != "201":
        raise SystemExit(f"import {filename} into {path}: HTTP {result.stdout}")


def import_links(admin, workdir, codes, first_id=1):
    """Imports the codes as links of user 1 (files of at most 200k rows, under the 50 MiB limit)."""
    users = os.path.join(workdir, "users.csv")
    with open(users, "w") as f:
        f.write("id,username,email,created_at\n1,bench,bench@example.com,2026-01-01 00:00:00\n")
    upload(admin, "/users/bulk", users)
    chunk = 200_000
    for start in range(0, len(codes), chunk):
        urls = os.path.join(workdir, f"urls-{start}.csv")
        with open(urls, "w") as f:
            f.write("id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n")
            for offset, code in enumerate(codes[start:start + chunk]):
                link_id = first_id + start + offset
                f.write(f"{link_id},1,{code},{TARGET.format(link_id)},bench,True,"
                        "2026-01-01 00:00:00,2026-01-01 00:00:00\n")
        upload(admin, "/urls/bulk", urls)


def write_paths(workdir, name, codes):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        for code in codes:
            f.write(f"/{code}\n")
    return path


def run_wrk(url, paths, seconds, connections, threads=2, pin=None, script="random_path.lua", env=None):
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
            "-s", os.path.join(HERE, script), url]
    if pin is not None:
        argv = ["taskset", "-c", str(pin)] + argv
    env = dict(os.environ, WRK_PATHS=paths, WRK_THREADS=str(threads), **(env or {}))
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = parse_latency(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p99_ms": p99, "requests": requests,
            "bad": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def parse_latency(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def nginx_baseline(procs, workdir, codes, port, pin=None):
    """nginx answering 302 from a map of the same codes: the fastest thing that can."""
    map_file = os.path.join(workdir, "codes.map")
    with open(map_file, "w") as f:
        for index, code in enumerate(codes, start=1):
            f.write(f"/{code} {TARGET.format(index)};\n")
    conf = os.path.join(workdir, "nginx-bench.conf")
    temp = "".join(f"    {kind}_temp_path {workdir}/nginx-{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    with open(conf, "w") as f:
        f.write(f"""worker_processes {1 if pin is not None else 2};
pid {workdir}/nginx-bench.pid;
error_log {workdir}/nginx-bench.error.log warn;
events {{ worker_connections 4096; }}
http {{
{temp}    access_log off;
    map_hash_max_size {max(len(codes) * 2, 1024)};
    map_hash_bucket_size 128;
    map $uri $target {{
        default "";
        include {map_file};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            if ($target = "") {{ return 404; }}
            add_header Cache-Control "private, max-age=0" always;
            return 302 $target;
        }}
    }}
}}
""")
    os.chmod(workdir, 0o777)
    child = procs.start("nginx", [os.environ.get("NGINX_BIN", "/usr/sbin/nginx"), "-p", workdir, "-c", conf,
                                  "-g", "daemon off;"], dict(os.environ), pin)
    deadline = time.time() + 20
    while visit(f"http://127.0.0.1:{port}/{codes[0]}") != 302:
        if time.time() > deadline:
            with open(os.path.join(procs.workdir, "nginx.log")) as log_file:
                raise SystemExit("nginx did not start:\n" + log_file.read()[-2000:])
        time.sleep(0.05)
    return child


def medians(label, count, measure_round):
    """`count` rounds of `measure_round()` (a wrk result each), each logged;
    returns their median figures. The one place every phase takes rounds."""
    results = []
    for number in range(count):
        result = measure_round()
        log(f"{label} round {number + 1}: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.2f} ms"
            + (f", {result['bad']} non-3xx" if result["bad"] else "")
            + (f", socket errors: {result['socket_errors']}" if result["socket_errors"] else ""))
        results.append(result)
    return {"rps": statistics.median(r["rps"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "bad": sum(r["bad"] for r in results)}


def rounds(label, url, paths, args, pin=None, threads=2):
    """A warm-up before each measured round; returns the median figures."""
    def measure_round():
        run_wrk(url, paths, args.warmup, args.connections, threads=threads, pin=pin)
        return run_wrk(url, paths, args.seconds, args.connections, threads=threads, pin=pin)
    return medians(label, args.rounds, measure_round)


@contextlib.contextmanager
def drain_paused(admin_pid):
    """Runs the block with the admin API (the drain) stopped (SIGSTOP), as if
    it ran on other machines, as in production: the redirector still pushes
    every visit to Valkey, and the drain writes them after the block (the
    exactly-once check counts them)."""
    os.kill(admin_pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(admin_pid, signal.SIGCONT)


def valkey_pid():
    port = os.environ["REDIS_URL"].rsplit(":", 1)[1].strip("/")
    out = subprocess.run(["redis-cli", "-p", port, "INFO", "server"], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"process_id:(\d+)", out).group(1))


@contextlib.contextmanager
def moved_to_core(pid, core):
    """Runs the block with every thread of `pid` on `core` only."""
    subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(pid)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["taskset", "-a", "-p", "-c", f"0-{os.cpu_count() - 1}", str(pid)],
                       check=True, capture_output=True)


def drained_visits():
    """Visits the drain has written so far, from the rollup totals it keeps in
    the same transaction as the events (cheap to poll, unlike count(*))."""
    out = subprocess.run(["psql", "-tA", os.environ["DATABASE_URL"], "-c",
                          "SELECT coalesce(sum(total_visits + bot_visits), 0) FROM url_visit_totals"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def wait_drained(expected, timeout=900):
    """Waits until the drain's totals reach `expected` visits."""
    deadline = time.time() + timeout
    while drained_visits() < expected and time.time() < deadline:
        time.sleep(0.5)


def count_redirect_events(admin):
    """Exactly: GET /events' X-Total-Count is an estimate above 100,000 rows."""
    del admin
    out = subprocess.run(["psql", "-At", "-v", "ON_ERROR_STOP=1", os.environ["DATABASE_URL"], "-c",
                          "SELECT count(*) FROM events WHERE event_type = 'redirect'"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def visibility_latency(admin, redirector, code, url_id, samples):
    """One redirect, then poll GET /events until it shows: p50/p99 in ms."""
    query = f"{admin}/events?url_id={url_id}&event_type=redirect&per_page=1"
    seen = int(http("GET", query)[1]["X-Total-Count"])
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        assert visit(f"{redirector}/{code}") == 302
        while int(http("GET", query)[1]["X-Total-Count"]) <= seen:
            if time.perf_counter() - started > 10:
                raise SystemExit("a visit did not show within 10 s")
        latencies.append((time.perf_counter() - started) * 1000)
        seen += 1
    return percentile(latencies, 50), percentile(latencies, 99)


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def psql(sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", os.environ["DATABASE_URL"], "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def stats_read_time(admin, code, url_id, visits, samples):
    """Rollups of a link with `visits` visits over a year, then timed GET /stats."""
    psql(f"""
        INSERT INTO url_visit_totals (url_id, total_visits, bot_visits, unique_visitors, last_visit_at)
        VALUES ({url_id}, {visits}, {visits // 20}, {visits // 3}, now())
        ON CONFLICT (url_id) DO UPDATE SET total_visits = EXCLUDED.total_visits;
        INSERT INTO url_daily_visits (url_id, day, visits)
        SELECT {url_id}, current_date - d, {max(visits // 365, 1)} FROM generate_series(0, 364) d
        ON CONFLICT DO NOTHING;
        INSERT INTO url_dimension_visits (url_id, dimension, value, visits)
        SELECT {url_id}, dim, dim || '-' || v, {visits // 200} + v
        FROM unnest(ARRAY['referrer','browser','os','device']) dim, generate_series(1, 50) v
        ON CONFLICT DO NOTHING;
    """)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        status, _, body = http("GET", f"{admin}/urls/{code}/stats")
        timings.append((time.perf_counter() - started) * 1000)
        assert status == 200 and json.loads(body)["total_visits"] == visits
    return percentile(timings, 50), percentile(timings, 99)


def prefill_streams(workdir, url_id, count, streams=4, per_entry=512, prefix="bench"):
    """Writes `count` visits straight into the visit streams (redis-cli
    --pipe), `per_entry` visits per entry as a loaded redirector pushes them."""
    resp = os.path.join(workdir, "visits.resp")
    now_ms = int(time.time() * 1000)
    with open(resp, "wb") as f:
        for first in range(0, count, per_entry):
            batch = [{"id": f"{prefix}-{n}", "c": "bench", "u": url_id, "o": 1, "t": TARGET.format(url_id), "ts": now_ms,
                      "a": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                      "p": f"10.{n % 250}.{n % 200}.0/24"} for n in range(first, min(count, first + per_entry))]
            parts = ["XADD", f"visits:{(first // per_entry) % streams}", "*", "v",
                     json.dumps(batch, separators=(",", ":"))]
            f.write(f"*{len(parts)}\r\n".encode())
            for part in parts:
                data = part.encode()
                f.write(b"$%d\r\n%s\r\n" % (len(data), data))
    port = os.environ["REDIS_URL"].rsplit(":", 1)[1].strip("/")
    with open(resp, "rb") as f:
        subprocess.run(["redis-cli", "-p", port, "--pipe"], stdin=f, check=True, stdout=subprocess.DEVNULL)


def wait_streams_empty(streams=4, timeout=900):
    port = os.environ["REDIS_URL"].rsplit(":", 1)[1].strip("/")
    deadline = time.time() + timeout
    while True:
        lengths = [int(subprocess.run(["redis-cli", "-p", port, "XLEN", f"visits:{n}"], capture_output=True,
                                      text=True, check=True).stdout.strip() or 0) for n in range(streams)]
        if sum(lengths) == 0 or time.time() > deadline:
            return
        time.sleep(0.2)


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--drain-visits", type=int, default=1_000_000)
    parser.add_argument("--stats-visits", type=int, default=1_000_000)
    parser.add_argument("--visibility-samples", type=int, default=200)
    parser.add_argument("--rss-links", type=int, default=1_000_000)
    parser.add_argument("--pinned-valkey-core", type=int, default=1,
                        help="the core Valkey runs on in the pinned phase (1: wrk's, 0: the server's)")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated subset of: {', '.join(PHASES)} (default: all)")
    scaling.add_arguments(parser)
    history.add_arguments(parser)
    parser.add_argument("--workdir", required=True)
    policy.add_arguments(parser)
    args = parser.parse_args()
    args.phases = set(args.phases.split(","))
    unknown_phases = args.phases - set(PHASES)
    if unknown_phases:
        parser.error(f"unknown phases: {', '.join(sorted(unknown_phases))}")

    procs = Processes()
    procs.workdir = args.workdir
    figures = {}
    try:
        run(args, procs, figures)
    finally:
        procs.stop_all()
    print_table(args, figures)
    failures = [name for name, ok in figures.get("checks", {}).items() if not ok]
    if failures:
        log(f"FAILED: {', '.join(failures)}")
        sys.exit(1)


def run(args, procs, figures):
    workdir = args.workdir
    admin_port, redirector_port, nginx_port = free_port(), free_port(), free_port()
    admin = f"http://127.0.0.1:{admin_port}"
    redirector = f"http://127.0.0.1:{redirector_port}"
    figures["checks"] = {}

    admin_process = start_admin(procs, admin_port)
    codes = random_codes(args.links, seed=7)
    log(f"importing {len(codes)} links")
    import_links(admin, workdir, codes)
    paths = write_paths(workdir, "codes.txt", codes)
    redirector_process = start_redirector(procs, "redirector", redirector_port)
    nginx_process = nginx_baseline(procs, workdir, codes, nginx_port)

    # Cache hits against nginx, the same load.
    if "hits" in args.phases:
        cache_hits(args, figures, admin, admin_process.pid, redirector, nginx_port, paths)
    if "features" in args.phases:
        link_features(args, figures, admin, redirector)
    if "valkey" in args.phases:
        with drain_paused(admin_process.pid):
            valkey_tier(args, procs, figures, paths)
    if "postgres" in args.phases:
        postgres_tier(args, procs, figures, paths)
    if "negative" in args.phases:
        # A flood of unknown codes: answered from the negative cache.
        unknown = write_paths(workdir, "unknown.txt", random_codes(10_000, seed=99))
        figures["negative"] = rounds("unknown codes", redirector, unknown, args)
    if "visibility" in args.phases:
        # Visit visibility on an idle system: one redirect, then read it back.
        wait_streams_empty()
        figures["visibility"] = visibility_latency(admin, redirector, codes[0], 1, args.visibility_samples)
        log("visibility p50 {:.1f} ms, p99 {:.1f} ms".format(*figures["visibility"]))
    if "stats" in args.phases:
        # Stats read time of a link with many visits (rollups, as the drain keeps them).
        figures["stats"] = stats_read_time(admin, codes[1], 2, args.stats_visits, 100)
        log("stats read p50 {:.2f} ms, p99 {:.2f} ms".format(*figures["stats"]))
    if "drain" in args.phases:
        admin_process = drain_rate(args, procs, figures, admin_process, admin_port)
    if "pinned" in args.phases:
        # Core 0 is the server's, core 1 wrk's; the drain paused, Valkey with wrk
        # (--pinned-valkey-core 1, the default) or with the server (0).
        with drain_paused(admin_process.pid), moved_to_core(valkey_pid(), args.pinned_valkey_core):
            pinned(args, procs, figures, paths, codes)
    if "rss" in args.phases:
        memory(args, procs, figures, admin, codes)
    if "policy" in args.phases:
        policy.run(args, figures)
    admin_process = scaling.run(sys.modules[__name__], args, procs, figures, admin=admin, admin_process=admin_process,
                                redirector=redirector, redirector_process=redirector_process, nginx_port=nginx_port,
                                nginx_process=nginx_process, paths=paths)
    # Last: it empties the visit history.
    if "history" in args.phases:
        history.run(sys.modules[__name__], args, procs, figures, admin_process, admin_port)


def cache_hits(args, figures, admin, admin_pid, redirector, nginx_port, paths):
    checks = figures["checks"]
    before_served, before_events = served_redirects(redirector), count_redirect_events(admin)
    before_drained = drained_visits()
    # Fill the cache once, so that every measured request is a hit.
    run_wrk(redirector, paths, max(2, args.warmup), args.connections, script="sequential_path.lua")
    figures["redirector"] = rounds("redirector (cache hits)", redirector, paths, args)
    # nginx gets a quiet box: the drain first catches up with those visits.
    wait_drained(before_drained + served_redirects(redirector) - before_served)
    figures["nginx"] = rounds("nginx (302 from a map)", f"http://127.0.0.1:{nginx_port}", paths, args)
    figures["ratio"] = figures["redirector"]["rps"] / figures["nginx"]["rps"]
    with drain_paused(admin_pid):
        figures["redirector_isolated"] = rounds("redirector (cache hits, drain paused)", redirector, paths, args)
    served = int(served_redirects(redirector) - before_served)
    wait_drained(before_drained + served)
    events = count_redirect_events(admin) - before_events
    figures["visits"] = (served, events)
    checks["every served visit became exactly one event"] = events == served
    log(f"visits: {served} served, {events} redirect events")


# Links the features phase creates (ids after the imported ones).
FEATURE_LINKS = 3


def link_features(args, figures, admin, redirector):
    """One link each, every request on it: no features, then a cap it never
    reaches (each GET takes a visit from its Valkey counter), then two device
    rules, the second matching wrk (no user agent: desktop). What a feature
    costs the links that use it; links without one are the cache-hit figure."""
    def create(body):
        payload = json.dumps({"user_id": 1, "original_url": "https://example.com/feature", **body}).encode()
        status, _, reply = http("POST", f"{admin}/urls", payload, {"Content-Type": "application/json"})
        if status != 201:
            raise SystemExit(f"creating a benchmark link: {status} {reply[:200]!r}")
        return json.loads(reply)["short_code"]
    routed = {"routes": [{"when": {"device": "ios"}, "url": "https://example.com/ios"},
                         {"when": {"device": "desktop"}, "url": "https://example.com/desktop"}]}
    features = [("plain", {}), ("capped", {"max_visits": 10**12}), ("routed", routed)]
    assert len(features) == FEATURE_LINKS
    for name, body in features:
        paths = write_paths(args.workdir, f"feature-{name}.txt", [create(body)])
        figures[f"feature_{name}"] = rounds(f"one {name} link", redirector, paths, args)


def valkey_tier(args, procs, figures, paths):
    """A redirector whose cache holds nothing: every lookup asks Valkey."""
    port = free_port()
    valkey_tier_process = start_redirector(procs, "redirector-valkey-tier", port, {"REDIRECTOR_CACHE_MAX_BYTES": "1"})
    figures["valkey_tier"] = rounds("Valkey tier", f"http://127.0.0.1:{port}", paths, args)
    procs.stop(valkey_tier_process)


def postgres_tier(args, procs, figures, paths):
    """No cache, Valkey unreachable: every lookup reads Postgres (its visits
    cannot be recorded while Valkey is away; they are buffered, then counted
    as overflow)."""
    port = free_port()
    fallback = start_redirector(procs, "redirector-postgres-tier", port, {
        "REDIRECTOR_CACHE_MAX_BYTES": "1", "REDIS_URL": "redis://127.0.0.1:1", "REDIRECTOR_VISIT_BUFFER": "1000",
        "REDIRECTOR_DB_MAX_CONNECTIONS": "8"})
    figures["postgres_tier"] = rounds("Postgres fallback", f"http://127.0.0.1:{port}", paths, args)
    procs.stop(fallback)


def drain_rate(args, procs, figures, admin_process, admin_port):
    """Stops the admin API, pre-fills the streams, times the catch-up."""
    # Earlier phases' visits must be drained first, or they count here.
    wait_streams_empty()
    procs.stop(admin_process)
    log(f"pre-filling the streams with {args.drain_visits} visits")
    prefill_streams(procs.workdir, 3, args.drain_visits)
    before = count_redirect_events_sql()
    started = time.perf_counter()
    admin_process = start_admin(procs, admin_port)
    while count_redirect_events_sql() - before < args.drain_visits:
        if time.perf_counter() - started > 900:
            raise SystemExit("the drain did not catch up within 15 minutes")
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    figures["drain"] = args.drain_visits / elapsed
    log(f"drain: {args.drain_visits} visits in {elapsed:.1f} s = {figures['drain']:.0f}/s")
    return admin_process


def pinned(args, procs, figures, paths, codes):
    """Redirector on core 0, wrk on core 1, for a low-noise p99; nginx alike.
    The caller pauses the drain and moves Valkey to `--pinned-valkey-core`."""
    port = free_port()
    process = start_redirector(procs, "redirector-pinned", port, pin=0)
    run_wrk(f"http://127.0.0.1:{port}", paths, max(2, args.warmup), args.connections, pin=1, script="sequential_path.lua")
    # One wrk thread on its one core: two would measure their own time slicing.
    figures["pinned"] = rounds("redirector pinned", f"http://127.0.0.1:{port}", paths, args, pin=1, threads=1)
    procs.stop(process)
    nginx_port = free_port()
    nginx_dir = os.path.join(procs.workdir, "pinned-nginx")
    os.makedirs(nginx_dir, exist_ok=True)
    process = nginx_baseline(procs, nginx_dir, codes, nginx_port, pin=0)
    figures["pinned_nginx"] = rounds("nginx pinned", f"http://127.0.0.1:{nginx_port}", paths, args, pin=1, threads=1)
    procs.stop(process)


def memory(args, procs, figures, admin, codes):
    """RSS of a redirector with `--rss-links` links in its cache, on a quiet
    system (earlier phases' visits drained first)."""
    wait_streams_empty()
    taken = {c.lower() for c in codes}
    extra = [c for c in random_codes(args.rss_links, seed=1234) if c.lower() not in taken]
    extra = extra[: max(0, args.rss_links - len(codes))]
    if extra:
        log(f"importing {len(extra)} more links for the memory figure")
        # Past the ids of the links the features phase creates through the API.
        import_links(admin, procs.workdir, extra, first_id=len(codes) + 1 + FEATURE_LINKS)
    every = write_paths(procs.workdir, "every.txt", codes + extra)
    port = free_port()
    big = start_redirector(procs, "redirector-rss", port)
    base_rss = rss_bytes(big.pid)
    total = len(codes) + len(extra)
    seconds = 2
    while metric(f"http://127.0.0.1:{port}", "redirector_cache_misses_total") < total and seconds <= 256:
        run_wrk(f"http://127.0.0.1:{port}", every, seconds, args.connections, script="sequential_path.lua")
        seconds *= 2
    figures["rss"] = (total, rss_bytes(big.pid), base_rss)
    procs.stop(big)


def count_redirect_events_sql():
    out = subprocess.run(["psql", "-tA", os.environ["DATABASE_URL"], "-c",
                          "SELECT count(*) FROM events WHERE event_type = 'redirect'"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def print_table(args, f):
    def tier(name):
        r = f.get(name)
        if not r:
            return "not measured"
        ratio = f"   ({r['rps'] / f['nginx']['rps']:.2f}× nginx)" if "nginx" in f else ""
        return f"{r['rps']:>10.0f} req/s   p99 {r['p99_ms']:6.2f} ms{ratio}"

    lines = [
        f"Redirect benchmark — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {args.links} links, "
        f"{args.connections} connections, {args.rounds} round(s) of {args.seconds} s, medians",
        f"  nginx 302 from a map       {tier('nginx')}",
        f"  redirector, cache hits     {tier('redirector')}",
        f"    the drain paused         {tier('redirector_isolated')}",
        f"  redirector, Valkey tier    {tier('valkey_tier')}",
        f"  redirector, Postgres tier  {tier('postgres_tier')}",
        f"  unknown codes (negative)   {tier('negative')}",
        f"  one link, no features      {tier('feature_plain')}",
        f"  one capped link            {tier('feature_capped')}",
        f"  one routed link            {tier('feature_routed')}",
        f"  pinned nginx (1 core)      {tier('pinned_nginx')}",
        f"  pinned redirector (1 core) {tier('pinned')}",
    ]
    if "ratio" in f:
        lines.append(f"  cache-hit ratio to nginx   {f['ratio']:.2f}")
    if "visits" in f:
        lines.append(f"  visits served / events     {f['visits'][0]} / {f['visits'][1]}")
    if "visibility" in f:
        lines.append("  visit visible in /events   p50 {:.1f} ms, p99 {:.1f} ms".format(*f["visibility"]))
    if "stats" in f:
        lines.append(f"  stats read ({args.stats_visits} visits)  " + "p50 {:.2f} ms, p99 {:.2f} ms".format(*f["stats"]))
    if "drain" in f:
        lines.append(f"  drain rate                 {f['drain']:.0f} visits/s ({args.drain_visits} pre-filled)")
    if "rss" in f:
        total, rss, base = f["rss"]
        lines.append(f"  redirector RSS             {rss / 2**20:.1f} MiB with {total} links cached (at start {base / 2**20:.1f} MiB)")
    lines += policy.table_lines(f)
    lines.extend(scaling.table_lines(args, f))
    lines.extend(history.table_lines(args, f))
    for name, ok in f.get("checks", {}).items():
        lines.append(f"  check: {name}: {'yes' if ok else 'NO'}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
