//! Bench only: the hit ratio per byte of the redirector's cache store under
//! Zipf-distributed traffic, against a reference policy (`quick_cache`, an
//! S3-FIFO/CLOCK-Pro-like cache) given the same number of bytes.
//!
//! The keys are `--links` realistic 7-character codes, each with a real link
//! record encoded exactly as the redirector's cache stores it. The budget holds
//! `--budget-fraction` of all the entries in our store's own accounting (entry
//! bytes plus its index charge); the reference gets the same bytes under its
//! real per-entry cost (its key and value allocations as glibc rounds them,
//! plus its slab and table bytes per resident entry, calibrated from
//! `quick_cache`'s own `memory_used`). Each request is cache-aside: a get, and
//! on a miss the record is encoded and inserted. Warm-up requests first, then
//! `--requests` measured ones, single-threaded; each (policy, exponent) pair
//! runs in a fresh child process so that its RSS growth is its own.
//!
//! Prints a table on stderr and one JSON line on stdout.

mod workload;
mod zipf;

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use redirector::bench::{Store, encode_record};
use serde_json::{Value, json};
use workload::{CODE_LEN, SplitMix64, code, code_str, link, permutation};
use zipf::Zipf;

#[derive(Parser, Debug)]
#[command(about = "Cache hit ratio per byte under Zipf traffic: our store vs quick_cache")]
struct Args {
    /// Distinct links (keys) requests are drawn from.
    #[arg(long, default_value_t = 10_000_000)]
    links: u32,
    /// Measured requests per (policy, exponent).
    #[arg(long, default_value_t = 20_000_000)]
    requests: u64,
    /// Requests before measuring (default: half of --requests).
    #[arg(long)]
    warmup: Option<u64>,
    /// The share of all links' entries the budget holds.
    #[arg(long, default_value_t = 0.1)]
    budget_fraction: f64,
    /// Zipf exponents, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0.8, 1.1])]
    zipf: Vec<f64>,
    /// Seed of the rank-to-key permutation and the request stream.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Internal: run one policy in this process and print its figures.
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal (with --child): the byte budget.
    #[arg(long, hide = true, default_value_t = 0)]
    budget_bytes: u64,
    /// Internal (with --child): the reference's structural bytes per entry.
    #[arg(long, hide = true, default_value_t = 0)]
    overhead: u64,
    /// Internal (with --child): the reference's heap bytes per entry (mean).
    #[arg(long, hide = true, default_value_t = 0)]
    heap_per_entry: u64,
}

const POLICIES: [&str; 2] = ["ours", "quick_cache"];
/// Deadline of every encoded record: the benchmark's entries never expire.
const DEADLINE: u32 = u32::MAX;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.links == 0 || args.zipf.iter().any(|&s| s <= 0.0 || s == 1.0) {
        bail!("--links must be positive and each --zipf exponent positive and not 1");
    }
    match args.child.as_deref() {
        Some(policy) => child(&args, policy),
        None => parent(&args),
    }
}

/// Computes the budget, calibrates the reference's per-entry cost, runs each
/// pair in a child process and reports.
fn parent(args: &Args) -> anyhow::Result<()> {
    let warmup = args.warmup.unwrap_or(args.requests / 2);
    let started = Instant::now();
    // Our store's charge for an entry: a key length byte, one or two value
    // length bytes, the key, the value, and its index charge (10 bytes).
    let (mut ours_total, mut reference_heap_total) = (0u64, 0u64);
    for k in 0..args.links {
        let value = encode_record(Some(&link(k, args.seed)), DEADLINE).len() as u64;
        ours_total += 1 + if value < 0x80 { 1 } else { 2 } + CODE_LEN as u64 + value + 10;
        reference_heap_total += malloc_chunk(CODE_LEN as u64) + malloc_chunk(value);
    }
    let budget = (ours_total as f64 * args.budget_fraction) as u64;
    let ours_per_entry = ours_total as f64 / f64::from(args.links);
    let overhead = calibrate_reference(args, budget, reference_heap_total)?;
    let reference_per_entry = reference_heap_total as f64 / f64::from(args.links) + overhead as f64;
    eprintln!(
        "cache policy: {} links, {:.1} B per entry in our store ({:.1} in quick_cache: heap {:.1} + structure {}), \
         budget {} bytes ({:.1} MiB, {} % of the links' entries in our accounting), \
         {} warm-up + {} measured requests (set up in {:.1} s)",
        args.links,
        ours_per_entry,
        reference_per_entry,
        reference_heap_total as f64 / f64::from(args.links),
        overhead,
        budget,
        budget as f64 / 1048576.0,
        args.budget_fraction * 100.0,
        warmup,
        args.requests,
        started.elapsed().as_secs_f64(),
    );
    let exe = std::env::current_exe().context("own path")?;
    let mut results = Vec::new();
    eprintln!(
        "  {:>5}  {:<12} {:>9} {:>11} {:>13} {:>14} {:>11}",
        "s", "policy", "hit ratio", "entries", "charged MiB", "RSS growth MiB", "ns/request"
    );
    for &s in &args.zipf {
        let mut row = serde_json::Map::new();
        row.insert("s".into(), json!(s));
        for policy in POLICIES {
            let output = Command::new(&exe)
                .args(["--child", policy])
                .args(["--links", &args.links.to_string()])
                .args(["--requests", &args.requests.to_string()])
                .args(["--warmup", &warmup.to_string()])
                .args(["--zipf", &s.to_string()])
                .args(["--seed", &args.seed.to_string()])
                .args(["--budget-bytes", &budget.to_string()])
                .args(["--overhead", &overhead.to_string()])
                .args([
                    "--heap-per-entry",
                    &(reference_heap_total / u64::from(args.links)).to_string(),
                ])
                .output()
                .context("run a child")?;
            if !output.status.success() {
                bail!(
                    "{policy} at s = {s}: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let figures: Value =
                serde_json::from_slice(&output.stdout).context("a child's figures")?;
            let number = |name: &str| figures[name].as_f64().unwrap_or(f64::NAN);
            eprintln!(
                "  {:>5}  {:<12} {:>9.4} {:>11} {:>13.1} {:>14.1} {:>11.0}",
                s,
                policy,
                number("hit_ratio"),
                number("entries"),
                number("charged_bytes") / 1048576.0,
                number("rss_growth_bytes") / 1048576.0,
                number("ns_per_request"),
            );
            row.insert(policy.into(), figures["hit_ratio"].clone());
            for (name, value) in figures.as_object().into_iter().flatten() {
                if name != "hit_ratio" {
                    row.insert(format!("{policy}_{name}"), value.clone());
                }
            }
        }
        results.push(Value::Object(row));
    }
    let report = json!({
        "links": args.links,
        "requests": args.requests,
        "warmup": warmup,
        "budget_fraction": args.budget_fraction,
        "budget_bytes": budget,
        "ours_bytes_per_entry": ours_per_entry,
        "quick_cache_bytes_per_entry": reference_per_entry,
        "quick_cache_structure_bytes_per_entry": overhead,
        "results": results,
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{report}")?;
    Ok(())
}

/// `quick_cache`'s slab and table bytes per resident entry at this budget:
/// fill one with distinct keys (its ghost list filling too), read
/// `memory_used` (slab entries, table buckets), and repeat with the answer
/// as the weight's overhead until it settles.
fn calibrate_reference(args: &Args, budget: u64, heap_total: u64) -> anyhow::Result<u64> {
    let heap_per_entry = heap_total / u64::from(args.links);
    let mut overhead = 64;
    for _ in 0..3 {
        let mut cache = reference(budget, heap_per_entry, overhead);
        let target = (budget / (heap_per_entry + overhead)).min(u64::from(args.links));
        let mut k = 0u32;
        // Twice the residents: the ghosts (hashes of evicted keys) fill too.
        while u64::from(k) < 2 * target {
            let key = code(k % args.links, args.seed);
            let value = encode_record(Some(&link(k % args.links, args.seed)), DEADLINE);
            cache.insert(code_str(&key).into(), value.into_boxed_slice());
            k += 1;
        }
        if cache.is_empty() {
            bail!("the budget ({budget} bytes) holds no entry of quick_cache");
        }
        let next = (cache.memory_used().total() / cache.len()) as u64;
        if next == overhead {
            break;
        }
        overhead = next;
    }
    Ok(overhead)
}

type Reference = quick_cache::unsync::Cache<Box<str>, Box<[u8]>, RealCost>;

fn reference(budget: u64, heap_per_entry: u64, overhead: u64) -> Reference {
    let items = (budget / (heap_per_entry + overhead)).max(1) as usize;
    Reference::with_weighter(items, budget, RealCost { overhead })
}

/// What an entry costs `quick_cache` in memory: the key's and the value's
/// allocations, and a share of its slab and table.
#[derive(Clone)]
struct RealCost {
    overhead: u64,
}

impl quick_cache::Weighter<Box<str>, Box<[u8]>> for RealCost {
    fn weight(&self, key: &Box<str>, value: &Box<[u8]>) -> u64 {
        malloc_chunk(key.len() as u64) + malloc_chunk(value.len() as u64) + self.overhead
    }
}

/// The bytes glibc's malloc takes for an allocation of `n`: an 8-byte header,
/// 16-byte alignment, 32 at least (none for an empty box).
fn malloc_chunk(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        ((n + 8).div_ceil(16) * 16).max(32)
    }
}

/// One policy at one exponent: warm up, measure, print the figures as JSON.
fn child(args: &Args, policy: &str) -> anyhow::Result<()> {
    let &[s] = &args.zipf[..] else {
        bail!("a child runs one exponent");
    };
    let warmup = args.warmup.unwrap_or(0);
    let keys = permutation(args.links, args.seed);
    let zipf = Zipf::new(args.links, s);
    let mut rng = SplitMix64(args.seed ^ s.to_bits());
    let rss_before = rss_bytes();
    let heap_per_entry = args.heap_per_entry;
    let (hits, elapsed, charged, entries) = match policy {
        "ours" => {
            let store = Store::new(args.budget_bytes);
            let run = |rng: &mut SplitMix64, requests: u64| {
                let mut hits = 0u64;
                for _ in 0..requests {
                    let k = keys[zipf.sample(rng) as usize - 1];
                    let key = code(k, args.seed);
                    if store.get(&key, |_| Some(())).is_some() {
                        hits += 1;
                    } else {
                        let epoch = store.epoch(&key);
                        let value = encode_record(Some(&link(k, args.seed)), DEADLINE);
                        store.insert_unless_removed(&key, &value, epoch);
                    }
                }
                hits
            };
            run(&mut rng, warmup);
            let started = Instant::now();
            let hits = run(&mut rng, args.requests);
            let elapsed = started.elapsed();
            (
                hits,
                elapsed,
                store.charged_bytes() as u64,
                store.entry_count(),
            )
        }
        "quick_cache" => {
            let mut cache = reference(args.budget_bytes, heap_per_entry, args.overhead);
            let mut run = |rng: &mut SplitMix64, requests: u64| {
                let mut hits = 0u64;
                for _ in 0..requests {
                    let k = keys[zipf.sample(rng) as usize - 1];
                    let key = code(k, args.seed);
                    let key = code_str(&key);
                    if cache.get(key).is_some() {
                        hits += 1;
                    } else {
                        let value = encode_record(Some(&link(k, args.seed)), DEADLINE);
                        cache.insert(key.into(), value.into_boxed_slice());
                    }
                }
                (hits, cache.weight(), cache.len())
            };
            run(&mut rng, warmup);
            let started = Instant::now();
            let (hits, weight, len) = run(&mut rng, args.requests);
            (hits, started.elapsed(), weight, len)
        }
        other => bail!("unknown policy {other}"),
    };
    let figures = json!({
        "hit_ratio": hits as f64 / args.requests.max(1) as f64,
        "entries": entries,
        "charged_bytes": charged,
        "rss_growth_bytes": rss_bytes().saturating_sub(rss_before),
        "ns_per_request": elapsed.as_nanos() as f64 / args.requests.max(1) as f64,
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{figures}")?;
    Ok(())
}

/// This process's resident set, from /proc (0 where there is none).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}
