"""The cache-policy phase of the benchmark: runs the bench-only
`cache-policy` binary (loadtest/cache-policy), which replays a Zipf request
mix over many links against the redirector's cache store and against
quick_cache at the same byte budget, and keeps its figures.

Standard library only; no server is involved."""

import json
import os
import subprocess
import sys


def add_arguments(parser):
    parser.add_argument("--policy-links", type=int, default=10_000_000,
                        help="links the cache-policy phase draws requests from")
    parser.add_argument("--policy-requests", type=int, default=20_000_000,
                        help="measured requests per policy and exponent")
    parser.add_argument("--policy-budget-fraction", type=float, default=0.1,
                        help="share of the links' entries the cache budget holds")
    parser.add_argument("--policy-zipf", default="0.8,1.1", help="Zipf exponents, comma-separated")


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(args, figures):
    """Runs the binary; its table goes to stderr as it is, its JSON line into
    figures["policy"]."""
    command = [f"{os.environ['BIN']}/cache-policy", "--links", str(args.policy_links),
               "--requests", str(args.policy_requests),
               "--budget-fraction", str(args.policy_budget_fraction), "--zipf", args.policy_zipf]
    log("cache policy: " + " ".join(command[1:]))
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    figures["policy"] = report
    checks = figures["checks"]
    checks["cache policy: hit ratios measured"] = bool(report["results"]) and all(
        0 < r["ours"] < 1 and 0 < r["quick_cache"] < 1 for r in report["results"])
    return report


def table_lines(f):
    """Lines for the final table (none when the phase did not run)."""
    report = f.get("policy")
    if not report:
        return []
    lines = [
        f"  cache policy ({report['links']} links, budget {report['budget_bytes'] / 2**20:.1f} MiB = "
        f"{report['budget_fraction'] * 100:g} % of entries; {report['ours_bytes_per_entry']:.0f} B/entry ours, "
        f"{report['quick_cache_bytes_per_entry']:.0f} B/entry quick_cache)",
    ]
    for r in report["results"]:
        lines.append(
            f"    Zipf s={r['s']:<4} hit ratio ours {r['ours']:.3f} ({r['ours_entries']} entries, "
            f"{r['ours_ns_per_request']:.0f} ns/req)  quick_cache {r['quick_cache']:.3f} "
            f"({r['quick_cache_entries']} entries, {r['quick_cache_ns_per_request']:.0f} ns/req)  "
            f"Δ {100 * (r['ours'] - r['quick_cache']):+.1f} pt")
    return lines
