//! `GET /metrics` in the format the scraper asks for, for both binaries:
//! Prometheus text 0.0.4 by default (what the old service served and what
//! every Prometheus-compatible tool reads), OpenMetrics 1.0.0 when `Accept`
//! prefers `application/openmetrics-text` (Prometheus itself asks so).
//!
//! prometheus-client encodes OpenMetrics only; the classic text is derived
//! from it. The two differ in what a family is called, not in the samples: an
//! OpenMetrics counter family `x` has samples `x_total`, which the classic
//! format declares as `# TYPE x_total counter`; `info` becomes a gauge named
//! `x_info`; `unknown` is `untyped`; `# UNIT`, exemplars and `# EOF` do not
//! exist there and are dropped.

use std::collections::HashMap;
use std::fmt::Write as _;

use prometheus_client::registry::Registry;

/// `Content-Type` of the classic Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` with a quality at least that of plain
    /// text (`text/plain`, `text/*`, `*/*`), else Prometheus text. Absent or
    /// unreadable headers get Prometheus text.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let quality = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                openmetrics = openmetrics.max(quality);
            } else if ["text/plain", "text/*", "*/*"]
                .iter()
                .any(|m| media.eq_ignore_ascii_case(m))
            {
                text = text.max(quality);
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => PROMETHEUS_TEXT,
            Self::OpenMetrics => OPENMETRICS_TEXT,
        }
    }
}

/// `registry` encoded in `format`.
pub fn encode(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut openmetrics = String::new();
    prometheus_client::encoding::text::encode(&mut openmetrics, registry)?;
    Ok(match format {
        Format::OpenMetrics => openmetrics,
        Format::Prometheus => to_prometheus_text(&openmetrics),
    })
}

/// The classic text form of an OpenMetrics exposition (see the module doc).
pub fn to_prometheus_text(openmetrics: &str) -> String {
    // Family name → (classic name, classic type), from the TYPE lines, which
    // come after the HELP line of their family.
    let mut families: HashMap<&str, (String, &str)> = HashMap::new();
    for line in openmetrics.lines() {
        if let Some((name, kind)) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.split_once(' '))
        {
            let classic = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "stateset" => (name.to_owned(), "gauge"),
                "gaugehistogram" => (name.to_owned(), "histogram"),
                "unknown" => (name.to_owned(), "untyped"),
                other => (name.to_owned(), other),
            };
            families.insert(name, classic);
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let classic = families.get(name).map_or(name, |(n, _)| n.as_str());
            let _ = writeln!(out, "# HELP {classic} {}", escape_help(help));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_once(' ').map_or(rest, |(n, _)| n);
            if let Some((classic, kind)) = families.get(name) {
                let _ = writeln!(out, "# TYPE {classic} {kind}");
            }
        } else if line.starts_with('#') || line.is_empty() {
            // `# UNIT`, `# EOF`: no classic counterpart.
        } else {
            out.push_str(without_exemplar(line));
            out.push('\n');
        }
    }
    out
}

/// HELP text as the classic format reads it: only `\\` and `\n` are escapes,
/// so a backslash that starts anything else is doubled.
fn escape_help(help: &str) -> std::borrow::Cow<'_, str> {
    if !help.contains('\\') {
        return help.into();
    }
    let mut out = String::with_capacity(help.len() + 4);
    let mut chars = help.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\\' {
            match chars.peek() {
                Some('\\' | 'n') => out.extend(chars.next()),
                _ => out.push('\\'),
            }
        }
    }
    out.into()
}

/// A sample line without its OpenMetrics exemplar (` # {labels} value`),
/// which may only follow the label set and value.
fn without_exemplar(line: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    // Labels follow the name directly; a name has neither ' ' nor '{'.
    let mut labels_done = line.find([' ', '{']).is_none_or(|i| &line[i..=i] == " ");
    for (i, c) in line.char_indices() {
        if labels_done {
            if line[i..].starts_with(" # ") {
                return &line[..i];
            }
            continue;
        }
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => labels_done = true,
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::metrics::info::Info;

    use super::*;

    #[test]
    fn accept_headers_choose_the_format() {
        let prometheus_scrape = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let cases = [
            (None, Format::Prometheus),
            (Some(""), Format::Prometheus),
            (Some("*/*"), Format::Prometheus),
            (Some("text/plain"), Format::Prometheus),
            (Some("text/plain;version=0.0.4"), Format::Prometheus),
            (Some("application/json"), Format::Prometheus),
            (Some("garbage;;;,"), Format::Prometheus),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (
                Some("Application/OpenMetrics-Text; version=1.0.0; charset=utf-8"),
                Format::OpenMetrics,
            ),
            (Some(prometheus_scrape), Format::OpenMetrics),
            (
                Some("text/plain;version=0.0.4,application/openmetrics-text;q=0.5"),
                Format::Prometheus,
            ),
            (Some("application/openmetrics-text;q=0"), Format::Prometheus),
        ];
        for (accept, expected) in cases {
            assert_eq!(Format::negotiate(accept), expected, "{accept:?}");
        }
    }

    fn sample_registry() -> Registry {
        let mut registry = Registry::with_prefix("app");
        let requests = Family::<Vec<(String, String)>, Counter>::default();
        requests
            .get_or_create(&vec![("route".into(), "a } # {b".into())])
            .inc();
        registry.register("requests", "Requests \\ served", requests);
        let empty = Family::<Vec<(String, String)>, Counter>::default();
        registry.register("failures", "Failures", empty);
        let gauge = Gauge::<i64>::default();
        gauge.set(3);
        registry.register("queue_depth", "Queued", gauge);
        let histogram = Histogram::new([0.1, 1.0]);
        histogram.observe(0.5);
        registry.register("latency_seconds", "Latency", histogram);
        registry.register(
            "build",
            "Build",
            Info::new(vec![("version".to_owned(), "1".to_owned())]),
        );
        registry
    }

    #[test]
    fn openmetrics_is_served_as_prometheus_client_encodes_it() {
        let text = encode(&sample_registry(), Format::OpenMetrics).expect("encodes");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# TYPE app_requests counter\n"), "{text}");
    }

    #[test]
    fn prometheus_text_names_families_as_the_classic_format_does() {
        let text = encode(&sample_registry(), Format::Prometheus).expect("encodes");
        let expected = [
            "# HELP app_requests_total Requests \\\\ served.",
            "# TYPE app_requests_total counter",
            "app_requests_total{route=\"a } # {b\"} 1",
            "# HELP app_failures_total Failures.",
            "# TYPE app_failures_total counter",
            "# TYPE app_queue_depth gauge",
            "app_queue_depth 3",
            "# TYPE app_latency_seconds histogram",
            "app_latency_seconds_bucket{le=\"1.0\"} 1",
            "app_latency_seconds_count 1",
            "# TYPE app_build_info gauge",
            "app_build_info{version=\"1\"} 1",
        ];
        for line in expected {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert!(!text.contains("# EOF"), "{text}");
        assert!(!text.contains("# UNIT"), "{text}");
        assert!(!text.contains(" info\n"), "{text}");
    }

    #[test]
    fn exemplars_are_dropped_from_classic_samples() {
        let cases = [
            ("x_total 1 # {trace=\"a\"} 1.0", "x_total 1"),
            (
                "x_total{a=\"b # c\"} 1 # {t=\"}\"} 2",
                "x_total{a=\"b # c\"} 1",
            ),
            ("x_total{a=\"q\\\"}\"} 1", "x_total{a=\"q\\\"}\"} 1"),
            ("x 2", "x 2"),
        ];
        for (line, expected) in cases {
            assert_eq!(without_exemplar(line), expected, "{line}");
        }
    }
}
