"""The benchmark's growth phase (loadtest/scaling.py runs it): cache-hit
throughput of a redirector asked for 1k, 100k, 1M and 10M distinct links
(`--growth-links`), its RSS per million cached links, the cache budget, the
hit ratio during the measured rounds, and Valkey's memory. Standard library
only.

The links are generated, not imported: index i is the code "_" + six base-62
digits of (i * 1000003 + 12345) mod 62^6 (a bijection on the indices; the
leading "_" keeps them apart from the random codes of the other phases),
inserted by SQL in the shape the import writes (without the search index:
see load()), and wrk computes the same
codes in Lua (loadtest/indexed_codes.lua) instead of reading a path file.
Valkey gets the records from the admin API's own reconcile: the bench
deletes a loaded marker and restarts the admin API, which refills Valkey
from Postgres at start and sets the markers again."""

import math
import os
import re
import string
import subprocess
import time

ALPHABET = string.ascii_letters + string.digits
MULTIPLIER, OFFSET, MODULUS = 1_000_003, 12_345, 62 ** 6
FIRST_ID = 1_000_000_000
SQL_CHUNK = 1_000_000


def add_arguments(parser):
    parser.add_argument("--growth-links", default="1000,100000,1000000,10000000",
                        help="link counts of the growth phase (comma-separated)")
    parser.add_argument("--growth-cache-bytes", default="1GiB",
                        help="REDIRECTOR_CACHE_MAX_BYTES of the growth phase's redirectors")


def code(index):
    """The generated code of `index` (the same as indexed_codes.lua's)."""
    x = (index * MULTIPLIER + OFFSET) % MODULUS
    digits = []
    for _ in range(6):
        x, digit = divmod(x, 62)
        digits.append(ALPHABET[digit])
    return "_" + "".join(reversed(digits))


def sql_code():
    """The same code as an SQL expression of the bigint `i`."""
    x = f"((i * {MULTIPLIER} + {OFFSET}) % {MODULUS})"
    return "'_' || " + " || ".join(
        f"substr('{ALPHABET}', (({x} / {62 ** k}) % 62)::int + 1, 1)" for k in range(5, -1, -1))


LAST_SLOT = 16383


def crc16(data):
    """CRC16-XMODEM, the hash of Valkey Cluster slots."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def loaded_marker(slot):
    """The loaded marker of cluster slot `slot`, as shared::link::Keys names
    it: its hash tag is the first hexadecimal number that hashes there."""
    n = 0
    while crc16(f"{n:x}".encode()) % 16384 != slot:
        n += 1
    return f"links:loaded:{{{n:x}}}"


def valkey_cli(*command):
    port = os.environ["REDIS_URL"].rsplit(":", 1)[1].strip("/")
    return subprocess.run(["redis-cli", "-p", port, *command], capture_output=True, text=True,
                          check=True).stdout.strip()


def valkey_used_memory():
    return int(re.search(r"used_memory:(\d+)", valkey_cli("INFO", "memory")).group(1))


def memory_available():
    with open("/proc/meminfo") as f:
        return int(re.search(r"MemAvailable:\s+(\d+) kB", f.read()).group(1)) * 1024


def check_memory(ctx, total):
    """Logs whether the largest set should fit this machine: ~170 B per link
    record in Valkey (measured: 249 MiB for 1.5M), the redirector's cache
    budget at most, and ~150 B per visit waiting in the streams (the first
    pass over every code is a visit each)."""
    budget = parse_bytes(ctx.args.growth_cache_bytes)
    needed = total * 170 + min(budget, total * 120) + total * 150
    available = memory_available()
    ctx.bench.log(f"growth: memory: ~{needed / 2**30:.1f} GiB needed for {total} links (Valkey's records, the "
                  f"redirector's cache, the first pass's visits), {available / 2**30:.1f} GiB available"
                  + ("" if needed < available * 0.8 else " — NOT ENOUGH, expect swapping or an OOM kill"))


def parse_bytes(text):
    """REDIRECTOR_CACHE_MAX_BYTES' form: 1048576, 512KiB, 64MiB, 1GiB."""
    number, unit = re.fullmatch(r"\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*", text).groups()
    return int(number) * {None: 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]


def load(ctx, total):
    """Inserts generated links 0..total-1 with SQL (no write-through outbox
    rows: Valkey is refilled in one reconcile instead), then has the admin
    API reconcile Valkey. Returns (seconds in Postgres, seconds in Valkey)."""
    b = ctx.bench
    started = time.perf_counter()
    # The console's trigram search index would make the insert three times
    # slower (~16k rows/s against ~50k/s on this machine), and nothing in the
    # benchmark searches: this throwaway database goes without it from here.
    b.psql("DROP INDEX IF EXISTS urls_search_idx")
    for low in range(0, total, SQL_CHUNK):
        high = min(total, low + SQL_CHUNK)
        b.psql(f"""
            BEGIN;
            ALTER TABLE urls DISABLE TRIGGER urls_outbox_on_insert;
            INSERT INTO urls (id, user_id, short_code, original_url, title, is_active, redirect_type,
                              expires_at, created_at, updated_at)
            SELECT {FIRST_ID} + i, 1, {sql_code()}, 'https://example.com/landing/' || ({FIRST_ID} + i),
                   'bench', true, 302, NULL, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00'
            FROM generate_series({low}::bigint, {high - 1}::bigint) AS i
            ON CONFLICT DO NOTHING;
            ALTER TABLE urls ENABLE TRIGGER urls_outbox_on_insert;
            COMMIT;
        """)
        if high < total:
            b.log(f"growth: {high} of {total} links inserted ({time.perf_counter() - started:.0f} s)")
    inserted = time.perf_counter()
    b.log(f"growth: {total} links inserted into Postgres in {inserted - started:.1f} s")
    # The admin API reloads Valkey at start when a loaded marker is missing,
    # and sets them all, in slot order, once every record is written.
    marker = loaded_marker(LAST_SLOT)
    valkey_cli("DEL", marker)
    ctx.procs.stop(ctx.admin_process)
    ctx.admin_process = b.start_admin(ctx.procs, int(ctx.admin.rsplit(":", 1)[1]))
    deadline = time.time() + 3600
    while valkey_cli("EXISTS", marker) != "1":
        if time.time() > deadline:
            raise SystemExit("growth: the admin API did not refill Valkey within an hour")
        time.sleep(0.2)
    reconciled = time.perf_counter()
    b.log(f"growth: Valkey refilled from Postgres by the admin API's reconcile in {reconciled - inserted:.1f} s")
    return inserted - started, reconciled - inserted


def wrk_codes(ctx, url, count, seconds, threads, mode="random", first=0):
    return ctx.bench.run_wrk(url, "", seconds, ctx.args.connections, threads=threads, script="indexed_codes.lua",
                             env={"WRK_CODES": str(count), "WRK_MODE": mode, "WRK_FIRST": str(first)})


def warm(ctx, url, count):
    """Asks for every code once, in order (one wrk thread, so that the passes
    cover consecutive indices); returns the seconds it took."""
    started = time.perf_counter()
    covered, seconds = 0, 1
    while covered < count:
        result = wrk_codes(ctx, url, count, seconds, threads=1, mode="sequential", first=covered)
        covered += result["requests"]
        rate = covered / (time.perf_counter() - started)
        seconds = max(1, min(600, math.ceil((count - covered) / rate * 1.05)))
    return time.perf_counter() - started


def measure(ctx, count):
    b, args = ctx.bench, ctx.args
    port = b.free_port()
    url = f"http://127.0.0.1:{port}"
    process = b.start_redirector(ctx.procs, f"redirector-growth-{count}", port,
                                 # Not the 5 min default: at 10M links the first
                                 # pass alone takes minutes, and what it cached
                                 # must still be there for the measured rounds.
                                 {"REDIRECTOR_CACHE_MAX_BYTES": args.growth_cache_bytes,
                                  "REDIRECTOR_CACHE_TTL": "1h"})
    rss_start = b.rss_bytes(process.pid)
    warm_seconds = warm(ctx, url, count)
    warm_misses = b.metric(url, "redirector_cache_misses_total")
    b.log(f"growth: {count} links: every code asked once in {warm_seconds:.1f} s "
          f"({count / warm_seconds:.0f}/s, {warm_misses:.0f} cache misses, each a Valkey lookup)")
    counted = {"hits": 0.0, "misses": 0.0}

    def measure_round():
        wrk_codes(ctx, url, count, args.warmup, threads=2)
        before = {kind: b.metric(url, f"redirector_cache_{kind}_total") for kind in counted}
        result = wrk_codes(ctx, url, count, args.seconds, threads=2)
        for kind in counted:
            counted[kind] += b.metric(url, f"redirector_cache_{kind}_total") - before[kind]
        return result

    figure = b.medians(f"growth: {count} links", args.rounds, measure_round)
    looked_up = counted["hits"] + counted["misses"]
    figure.update({
        "hit_ratio": counted["hits"] / looked_up if looked_up else 0.0,
        "rss": b.rss_bytes(process.pid),
        "rss_start": rss_start,
        "cache_bytes": b.metric(url, "redirector_cache_bytes"),
        "valkey_used_memory": valkey_used_memory(),
        "warm_seconds": warm_seconds,
    })
    figure["rss_per_million"] = (figure["rss"] - rss_start) / count * 1e6
    ctx.procs.stop(process)
    b.log(f"growth: {count} links: {figure['rps']:.0f} req/s, p99 {figure['p99_ms']:.2f} ms, "
          f"hit ratio {figure['hit_ratio']:.4f}, RSS {figure['rss'] / 2**20:.1f} MiB "
          f"({figure['rss_per_million'] / 2**20:.1f} MiB per million links), cache "
          f"{figure['cache_bytes'] / 2**20:.1f} MiB of {args.growth_cache_bytes}, "
          f"Valkey used_memory {figure['valkey_used_memory'] / 2**20:.0f} MiB")
    return figure


def run(ctx):
    b, args = ctx.bench, ctx.args
    counts = sorted(int(part) for part in args.growth_links.split(",") if part.strip())
    spot = [0, counts[-1] // 2, counts[-1] - 1]
    check_memory(ctx, counts[-1])
    load_seconds = load(ctx, counts[-1])
    by_count = {}
    for count in counts:
        with ctx.drain_paused():
            by_count[count] = measure(ctx, count)
        ctx.figures["checks"][f"growth: every request for {count} links was a redirect"] = by_count[count]["bad"] == 0
        if not args.smoke and count != counts[-1]:
            # Let the drain write this size's visits before the next one.
            b.wait_streams_empty()
    growth = {"by_count": by_count, "load_seconds": load_seconds, "total": counts[-1],
              "budget": args.growth_cache_bytes}
    fits = [f["rps"] for f in by_count.values() if f["hit_ratio"] >= 0.99]
    if not args.smoke and len(fits) >= 2:
        growth["spread"] = (max(fits) - min(fits)) / max(fits)
        b.log(f"growth: throughput spread while the set fits the cache: {growth['spread'] * 100:.1f} % "
              f"({'within' if growth['spread'] <= 0.10 else 'NOT within'} 10 %)")
    ctx.figures["growth"] = growth
    # The SQL, Python and Lua formulas agree: the spot codes redirect.
    ctx.figures["checks"]["growth: generated codes redirect"] = all(
        b.visit(f"{ctx.redirector}/{code(i)}") == 302 for i in spot)


def per_million(count, figure):
    """RSS growth per million cached links: noise below 100k links."""
    if count < 100_000:
        return "—"
    return f"{figure['rss_per_million'] / 2**20:.1f}"


def table_lines(args, f):
    if "growth" not in f:
        return []
    g = f["growth"]
    pg, valkey = g["load_seconds"]
    lines = [f"  growth: {g['total']} generated links loaded in {pg:.0f} s (Postgres, SQL) + {valkey:.0f} s "
             f"(Valkey, the admin API's reconcile); cache budget {g['budget']}; drain paused",
             "           links      req/s       p99   hit ratio   RSS MiB  MiB/M links  cache MiB  "
             "Valkey MiB  warm-up"]
    for count, r in g["by_count"].items():
        lines.append(f"    {count:>12}  {r['rps']:>9.0f}  {r['p99_ms']:6.2f} ms  {r['hit_ratio']:>9.4f}  "
                     f"{r['rss'] / 2**20:>8.1f}  {per_million(count, r):>11}  "
                     f"{r['cache_bytes'] / 2**20:>9.1f}  {r['valkey_used_memory'] / 2**20:>10.0f}  "
                     f"{r['warm_seconds']:6.1f} s" + ("" if r["hit_ratio"] >= 0.99 else "  (does not fit)"))
    if "spread" in g:
        lines.append(f"    throughput while the set fits: spread {g['spread'] * 100:.1f} % — "
                     f"{'within' if g['spread'] <= 0.10 else 'NOT within'} 10 % (a verdict, not a check)")
    return lines
