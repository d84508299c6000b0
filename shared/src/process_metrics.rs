//! CPU time and resident memory of this process, read from `/proc/self` at
//! scrape time (Linux; elsewhere the gauges stay 0). prometheus-client has no
//! process collector, and these two are what the alerts and dashboard need.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on every
/// Linux architecture the service targets).
const USER_HZ: f64 = 100.0;

/// The process gauges.
#[derive(Clone, Default)]
pub struct ProcessMetrics {
    cpu_seconds: Gauge<f64, AtomicU64>,
    resident_bytes: Gauge,
}

impl ProcessMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "process_cpu_seconds",
            "User and system CPU time of the process, in seconds (use rate())",
            metrics.cpu_seconds.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident set size of the process",
            metrics.resident_bytes.clone(),
        );
        metrics
    }

    /// Reads the current values; call before encoding a scrape.
    pub fn refresh(&self) {
        if let Some(seconds) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(cpu_seconds)
        {
            self.cpu_seconds.set(seconds);
        }
        if let Some(bytes) = std::fs::read_to_string("/proc/self/status")
            .ok()
            .as_deref()
            .and_then(resident_bytes)
        {
            self.resident_bytes.set(bytes);
        }
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces; fields resume after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// `VmRSS` of `/proc/<pid>/status`, in bytes.
fn resident_bytes(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 4 0 100 1000 200";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        assert_eq!(
            resident_bytes("Name:\tx\nVmRSS:\t   2048 kB\nThreads: 4\n"),
            Some(2 * 1024 * 1024)
        );
        assert_eq!(cpu_seconds("garbage"), None);
    }

    #[test]
    fn this_process_reports_memory() {
        let mut registry = Registry::default();
        let metrics = ProcessMetrics::register(&mut registry);
        metrics.refresh();
        assert!(metrics.resident_bytes.get() > 0);
    }
}
