"""The benchmark's scaling phases (loadtest/bench.py runs them; standard
library only):

- sweep: cache-hit throughput and p99 of the redirector and nginx from 16 to
  1,024 connections, printed and charted (an SVG, loadtest/chart.py);
- cpu: CPU time per request of the redirector and nginx over one wrk run;
- valkey_scale: the Valkey tier (in-process cache off) with 1 to 8
  redirector processes sharing one port (SO_REUSEPORT) and one Valkey;
- growth: cache-hit throughput from a thousand to ten million links
  (loadtest/growth.py).

Every phase runs with the drain paused (the admin API stopped, as if it ran
elsewhere) and lets the drain catch up afterwards (not in a smoke run), so
that the next phase starts on a quiet box. `bench` is the bench module itself (its helpers)."""

import os
import time

import chart
import growth

PHASES = ["sweep", "cpu", "valkey_scale", "growth"]


def add_arguments(parser):
    parser.add_argument("--sweep-connections", default="16,64,256,1024",
                        help="connection counts of the sweep phase (comma-separated)")
    parser.add_argument("--table-rounds", type=int, default=1,
                        help="measured rounds per point of the sweep and valkey_scale phases (median)")
    parser.add_argument("--chart", help="where the sweep phase writes its SVG chart "
                                        "(default: <workdir>/throughput-vs-connections.svg)")
    parser.add_argument("--scale-processes", default="1,2,4,8",
                        help="redirector process counts of the valkey_scale phase (comma-separated)")
    parser.add_argument("--smoke", action="store_true",
                        help="a smoke run (run.sh --smoke): no waiting for the drain between the scaling phases, "
                             "no verdict on the growth table")
    growth.add_arguments(parser)


def ints(text):
    return [int(part) for part in text.split(",") if part.strip()]


class Context:
    """What the phases share with bench.run(): the servers and the load."""

    def __init__(self, bench, args, procs, figures, **kwargs):
        self.bench, self.args, self.procs, self.figures = bench, args, procs, figures
        self.__dict__.update(kwargs)

    def drain_paused(self):
        return self.bench.drain_paused(self.admin_process.pid)


def run(bench, args, procs, figures, **servers):
    """Runs the selected scaling phases; returns the admin API's process
    (the growth phase restarts it)."""
    ctx = Context(bench, args, procs, figures, **servers)
    selected = [(name, phase) for name, phase in
                [("sweep", sweep), ("cpu", cpu), ("valkey_scale", valkey_scale), ("growth", growth.run)]
                if name in args.phases]
    for number, (name, phase) in enumerate(selected, start=1):
        started = time.perf_counter()
        phase(ctx)
        caught_up = time.perf_counter()
        # Nothing is measured after the last phase: no need to wait for the
        # drain then (after the growth phase that would be ~30M visits).
        if not args.smoke and number < len(selected):
            bench.wait_streams_empty()
        ended = time.perf_counter()
        bench.log(f"phase {name} took {ended - started:.0f} s "
                  f"({ended - caught_up:.0f} s of it the drain catching up afterwards)")
    return ctx.admin_process


def measure(ctx, label, url, connections, rounds, paths=None):
    """A warm-up, then `rounds` measured runs at `connections`: the medians."""
    b, args = ctx.bench, ctx.args
    paths = paths or ctx.paths
    threads = min(2, connections)
    b.run_wrk(url, paths, args.warmup, connections, threads=threads)
    return b.medians(label, rounds, lambda: b.run_wrk(url, paths, args.seconds, connections, threads=threads))


def fill_cache(ctx):
    """Asks the main redirector for every code once: a cached link lives
    REDIRECTOR_CACHE_TTL (5 min), so what earlier phases cached may be gone."""
    ctx.bench.run_wrk(ctx.redirector, ctx.paths, max(3, ctx.args.warmup), 64, script="sequential_path.lua")


def nginx_url(ctx):
    return f"http://127.0.0.1:{ctx.nginx_port}"


def sweep(ctx):
    """Cache hits (every code cached already, the drain paused) against nginx
    at each connection count; the chart of both."""
    args = ctx.args
    counts = ints(args.sweep_connections)
    result = {"redirector": {}, "nginx": {}}
    fill_cache(ctx)
    with ctx.drain_paused():
        for connections in counts:
            result["redirector"][connections] = measure(
                ctx, f"sweep: redirector at {connections} connections", ctx.redirector, connections,
                args.table_rounds)
            result["nginx"][connections] = measure(
                ctx, f"sweep: nginx at {connections} connections", nginx_url(ctx), connections, args.table_rounds)
    ctx.figures["sweep"] = result
    path = args.chart or os.path.join(args.workdir, "throughput-vs-connections.svg")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    title = f"Redirect throughput vs connections, {time.strftime('%Y-%m-%d')}"
    subtitle = (f"cache hits, {args.links} links, {os.cpu_count()} cores shared with wrk, drain paused, "
                f"{os.path.basename(os.environ['BIN'])} build, median of {args.table_rounds} x {args.seconds} s")
    svg = chart.throughput_svg(title, subtitle, {
        "redirector": [(c, r["rps"]) for c, r in result["redirector"].items()],
        "nginx (302 from a map)": [(c, r["rps"]) for c, r in result["nginx"].items()],
    })
    with open(path, "w") as f:
        f.write(svg)
    ctx.figures["sweep_chart"] = os.path.abspath(path)
    ctx.bench.log(f"sweep: chart written to {ctx.figures['sweep_chart']}")
    ctx.figures["checks"]["the sweep's redirects were all 3xx"] = all(
        r["bad"] == 0 for r in result["redirector"].values())


def process_tree(pid):
    """`pid` and its descendants (nginx: the master and its workers)."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in os.listdir(f"/proc/{current}/task"):
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    queue.extend(int(child) for child in f.read().split())
            except OSError:
                pass
    return pids


def cpu_seconds(pids):
    """utime + stime of each process (all its threads), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            # Fields after the command (which may hold spaces): state is
            # field 3, utime and stime are fields 14 and 15.
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def cpu(ctx):
    """CPU time per request over one wrk run each, the drain paused. The
    redirector's figure includes pushing its visits to Valkey (its own work);
    Valkey's CPU is printed beside it, not in it."""
    b, args = ctx.bench, ctx.args
    connections = args.connections
    valkey = b.valkey_pid()
    result = {}
    fill_cache(ctx)
    with ctx.drain_paused():
        for name, url, pids in [("redirector", ctx.redirector, [ctx.redirector_process.pid]),
                                ("nginx", nginx_url(ctx), process_tree(ctx.nginx_process.pid))]:
            b.run_wrk(url, ctx.paths, max(2, args.warmup), connections)
            before, valkey_before = cpu_seconds(pids), cpu_seconds([valkey])
            run = b.run_wrk(url, ctx.paths, args.seconds, connections)
            used, valkey_used = cpu_seconds(pids) - before, cpu_seconds([valkey]) - valkey_before
            result[name] = {"us": used / run["requests"] * 1e6, "requests": run["requests"],
                            "cpu_s": used, "valkey_us": valkey_used / run["requests"] * 1e6,
                            "processes": len(pids)}
            b.log(f"cpu: {name}: {used:.2f} s CPU over {run['requests']} requests = "
                  f"{result[name]['us']:.2f} µs/request ({len(pids)} process(es)); "
                  f"Valkey meanwhile {result[name]['valkey_us']:.2f} µs/request")
    result["ratio"] = result["redirector"]["us"] / result["nginx"]["us"]
    b.log(f"cpu: redirector / nginx = {result['ratio']:.2f}")
    ctx.figures["cpu"] = result


def listening(pid, port):
    """Whether process `pid` holds a socket listening on `port` (its own
    SO_REUSEPORT listener, not another process's on the same port)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except OSError:
            pass
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(link.startswith("socket:[") and link[8:-1] in inodes for link in links)


def valkey_scale(ctx):
    """N redirector processes, one serving thread each, the in-process cache
    off, all on one port (SO_REUSEPORT spreads wrk's connections over them)
    and one Valkey, against nginx's figure; the drain paused."""
    b, args, procs = ctx.bench, ctx.args, ctx.procs
    nginx = ctx.figures.get("nginx")
    result = {}
    with ctx.drain_paused():
        if not nginx:
            nginx = measure(ctx, "nginx (302 from a map)", nginx_url(ctx), args.connections, args.table_rounds)
        for count in ints(args.scale_processes):
            port = b.free_port()
            env = b.service_env({"REDIRECTOR_LISTEN": f"127.0.0.1:{port}", "REDIRECTOR_CACHE_MAX_BYTES": "1",
                                 "REDIRECTOR_WORKERS": "1"})
            children = [procs.start(f"redirector-scale-{count}-{n}", [f"{os.environ['BIN']}/redirector"], env)
                        for n in range(count)]
            deadline = time.time() + 60
            while not all(listening(child.pid, port) for child in children):
                if time.time() > deadline or any(child.poll() is not None for child in children):
                    raise SystemExit(f"valkey_scale: {count} redirectors did not all listen on port {port}")
                time.sleep(0.05)
            b.wait_http(f"http://127.0.0.1:{port}/health")
            before = [cpu_seconds([child.pid]) for child in children]
            figure = measure(ctx, f"Valkey tier, {count} process(es)", f"http://127.0.0.1:{port}", args.connections,
                             args.table_rounds)
            used = [cpu_seconds([child.pid]) - start for child, start in zip(children, before)]
            shares = [u / sum(used) for u in used] if sum(used) else [0.0] * count
            figure["ratio"] = figure["rps"] / nginx["rps"]
            figure["shares"] = shares
            b.log(f"Valkey tier, {count} process(es): {figure['rps']:.0f} req/s ({figure['ratio']:.2f}× nginx), "
                  f"CPU shares {', '.join(f'{s:.2f}' for s in shares)}")
            result[count] = figure
            for child in children:
                procs.stop(child)
            if count >= 2:
                # SO_REUSEPORT across processes: more than one of them served.
                # (Not every one: 64 connections hashed over 8 listeners may
                # leave one with few or none, by chance.)
                ctx.figures["checks"][f"connections spread over {count} redirector processes on one port"] = (
                    sum(1 for s in shares if s > 0.05) >= 2)
            ctx.figures["checks"][f"the Valkey tier with {count} process(es) answered only 3xx"] = figure["bad"] == 0
    ctx.figures["valkey_scale"] = {"nginx_rps": nginx["rps"], "by_processes": result}


def table_lines(args, f):
    """The scaling phases' lines of the final table."""
    lines = []
    if "sweep" in f:
        lines.append("  connections sweep (cache hits, drain paused; req/s, p99):")
        lines.append("    connections      redirector                nginx             ratio")
        for connections, r in f["sweep"]["redirector"].items():
            n = f["sweep"]["nginx"][connections]
            lines.append(f"    {connections:>11}   {r['rps']:>9.0f}  p99 {r['p99_ms']:7.2f} ms   "
                         f"{n['rps']:>9.0f}  p99 {n['p99_ms']:7.2f} ms   {r['rps'] / n['rps']:.2f}×")
        lines.append(f"    chart: {f['sweep_chart']}")
    if "cpu" in f:
        c = f["cpu"]
        lines.append(f"  CPU per request ({args.connections} conn.)  redirector {c['redirector']['us']:.2f} µs "
                     f"(visits pushed included), nginx {c['nginx']['us']:.2f} µs: {c['ratio']:.2f}× "
                     f"(target ≤ 1.1×: {'met' if c['ratio'] <= 1.1 else 'not met'}); "
                     f"Valkey meanwhile {c['redirector']['valkey_us']:.2f} µs per redirect")
    if "valkey_scale" in f:
        v = f["valkey_scale"]
        lines.append(f"  Valkey tier by redirector processes (1 serving thread each, cache off, one port; "
                     f"nginx {v['nginx_rps']:.0f} req/s):")
        for count, r in v["by_processes"].items():
            lines.append(f"    {count} process(es)   {r['rps']:>9.0f} req/s   p99 {r['p99_ms']:7.2f} ms   "
                         f"{r['ratio']:.2f}× nginx")
    lines.extend(growth.table_lines(args, f))
    return lines
