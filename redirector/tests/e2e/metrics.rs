//! What both running binaries export at `/metrics`: the names the dashboards
//! and alerts are built on, with live values.

use std::time::Duration;

use hyper::Method;

use crate::system::{System, eventually};

/// The `/metrics` text of a binary.
async fn scrape(base: &str) -> String {
    let reply = crate::system::send(Method::GET, &format!("{base}/metrics"), None).await;
    String::from_utf8(reply.body.to_vec()).expect("utf-8 metrics")
}

#[tokio::test]
async fn both_binaries_report_their_dependencies_and_process() {
    let system = System::start().await;
    for (base, prefix) in [
        (system.admin.clone(), "admin"),
        (system.redirector.clone(), "redirector"),
    ] {
        eventually(Duration::from_secs(15), || async {
            let text = scrape(&base).await;
            text.contains(&format!(
                "{prefix}_dependency_up{{dependency=\"valkey\"}} 1"
            )) && text.contains(&format!(
                "{prefix}_dependency_up{{dependency=\"postgres\"}} 1"
            ))
        })
        .await;
        let text = scrape(&base).await;
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{prefix}_process_resident_memory_bytes ")))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("an RSS value");
        assert!(rss > 1_000_000.0, "{prefix} RSS {rss}");
        assert!(
            text.contains(&format!("{prefix}_process_cpu_seconds ")),
            "{text}"
        );
    }
    system.stop().await;
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_use_is_exported() {
    let system = System::start().await;
    let dir = std::env::temp_dir().join(format!("urlshortener-scrapes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scrape dir");
    let mut files = Vec::new();
    for (base, name) in [
        (system.admin.clone(), "admin"),
        (system.redirector.clone(), "redirector"),
    ] {
        let file = dir.join(format!("{name}.txt"));
        std::fs::write(&file, scrape(&base).await).expect("save scrape");
        files.push(file);
    }
    let script = format!(
        "{}/../scripts/check-metric-names.sh",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = std::process::Command::new("bash")
        .arg(script)
        .args(&files)
        .output()
        .expect("run the checker");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "names used by monitoring/ but not exported: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    system.stop().await;
}

/// `promtool`, which `scripts/check-monitoring.sh` (a step of the test
/// command, before the tests) installs.
fn promtool() -> std::path::PathBuf {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("promtool"))
                    .find(|p| p.exists())
            })
        })
        .expect("promtool is installed (./scripts/check-monitoring.sh installs it)")
}

#[tokio::test]
async fn the_default_scrape_of_both_binaries_passes_promtool() {
    use std::io::Write as _;
    let system = System::start().await;
    for base in [system.admin.clone(), system.redirector.clone()] {
        let reply = crate::system::send(Method::GET, &format!("{base}/metrics"), None).await;
        assert_eq!(
            reply
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; version=0.0.4; charset=utf-8"),
            "{base}"
        );
        let mut child = std::process::Command::new(promtool())
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run promtool");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&reply.body)
            .expect("feed promtool");
        let output = child.wait_with_output().expect("promtool ends");
        let complaints = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // Exit 1 is a parse error; 3 lists lint findings. A family the
        // parser did not tie to its samples shows up as "no help text";
        // naming advice (units) is not a format problem.
        assert!(
            matches!(output.status.code(), Some(0 | 3)),
            "{base} does not parse: {complaints}"
        );
        assert!(!complaints.contains("no help text"), "{base}: {complaints}");
    }
    system.stop().await;
}
