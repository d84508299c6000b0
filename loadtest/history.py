"""The benchmark's history phase (loadtest/bench.py runs it last; standard
library only): the drain's rate into an empty visit history, then into one
of --history-visits visits (20M by default), in one run.

The visit history is emptied first (`TRUNCATE events_visits`: every visit
partition; audit events and the stats' rollups stay), the streams are
pre-filled with --history-drain-visits visits while the admin API is
stopped, and the catch-up after it starts is timed from the drain's rollup
totals (cheap to poll, unlike count(*) over 20M rows). Then SQL writes the
history, visits of the 30 days before the run spread over 100,000 links
(they land in the partitions of their days: here the one holding everything
before the run's cutover), and the same measurement runs again."""

import os
import subprocess
import time

PHASES = ["history"]

# The targets of issue 14.
TARGET_RATIO = 0.9
TARGET_RATE = 50_000


def add_arguments(parser):
    parser.add_argument("--history-visits", type=int, default=20_000_000,
                        help="visits of history the drain is measured into (history phase)")
    parser.add_argument("--history-drain-visits", type=int, default=1_000_000,
                        help="visits drained per measurement of the history phase")


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", os.environ["DATABASE_URL"],
                           "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def visit_rows():
    """Visits in the history (the planner's estimate: exact enough, instant)."""
    return int(float(psql("SELECT coalesce(sum(c.reltuples), 0) FROM pg_inherits i "
                          "JOIN pg_class c ON c.oid = i.inhrelid "
                          "WHERE i.inhparent = 'events_visits'::regclass") or 0))


def drain_once(bench, procs, admin_process, admin_port, visits, label):
    """Stops the admin API, pre-fills the streams, times the catch-up."""
    bench.wait_streams_empty()
    procs.stop(admin_process)
    bench.prefill_streams(procs.workdir, 3, visits, prefix=f"history-{label}")
    before = bench.drained_visits()
    started = time.perf_counter()
    admin_process = bench.start_admin(procs, admin_port)
    while bench.drained_visits() - before < visits:
        if time.perf_counter() - started > 900:
            raise SystemExit(f"history: the drain did not catch up within 15 minutes ({label})")
        time.sleep(0.1)
    rate = visits / (time.perf_counter() - started)
    bench.log(f"history: drained {visits} visits into {label} at {rate:.0f}/s")
    return admin_process, rate


def fill(bench, total, links=100_000, chunk=1_000_000):
    """Writes `total` visits of the 30 days before the run, in chunks."""
    started = time.perf_counter()
    for low in range(0, total, chunk):
        high = min(total, low + chunk)
        psql(f"""
            INSERT INTO events_visits (url_id, user_id, event_type, occurred_at, details, visit_id)
            SELECT 1 + i % {links}, 1, 'redirect',
                   now() - interval '2 days' - (i % 2592000) * interval '1 second',
                   jsonb_build_object('short_code', 'h' || (i % {links}),
                                      'original_url', 'https://example.com/landing/' || (i % {links}),
                                      'referrer', 'https://ref.example/' || (i % 97),
                                      'user_agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0',
                                      'browser', 'Firefox', 'os', 'Linux', 'device', 'desktop',
                                      'is_bot', false, 'ip_prefix', '10.' || (i % 250) || '.0.0/24'),
                   'history-fill-' || i
            FROM generate_series({low}::bigint, {high - 1}::bigint) AS i""")
        if high < total:
            bench.log(f"history: {high} of {total} visits written ({time.perf_counter() - started:.0f} s)")
    psql("ANALYZE events_visits")
    return time.perf_counter() - started


def run(bench, args, procs, figures, admin_process, admin_port):
    """The phase; returns the admin API's process (it is restarted)."""
    bench.wait_streams_empty()
    psql("TRUNCATE events_visits")
    admin_process, empty = drain_once(bench, procs, admin_process, admin_port, args.history_drain_visits,
                                      "an empty history")
    bench.log(f"history: writing {args.history_visits} visits of history")
    filled = fill(bench, args.history_visits)
    rows = visit_rows()
    bench.log(f"history: {rows} visits in the history after {filled:.0f} s")
    admin_process, full = drain_once(bench, procs, admin_process, admin_port, args.history_drain_visits,
                                     f"{rows} visits of history")
    figures["history"] = {"empty": empty, "full": full, "rows": rows, "fill_seconds": filled}
    return admin_process


def table_lines(args, f):
    h = f.get("history")
    if not h:
        return []
    ratio = h["full"] / h["empty"] if h["empty"] else 0.0
    met = "met" if ratio >= TARGET_RATIO and h["full"] >= TARGET_RATE else "not met"
    return [
        f"  drain, empty history       {h['empty']:.0f} visits/s ({args.history_drain_visits} pre-filled)",
        f"  drain, {h['rows']} visits in the history  {h['full']:.0f} visits/s = {ratio:.2f}× "
        f"(targets ≥ {TARGET_RATIO}× and ≥ {TARGET_RATE}/s: {met}; history written in {h['fill_seconds']:.0f} s)",
    ]
