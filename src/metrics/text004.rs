//! OpenMetrics text rewritten as the Prometheus text format 0.0.4, for scrapers that do
//! not ask for OpenMetrics. The two differ where it matters for typing: an OpenMetrics
//! counter family `x` has samples `x_total`, and a 0.0.4 parser only types a sample whose
//! name equals its `# TYPE` line's, so `# TYPE x counter` left `x_total` untyped. Here the
//! counter's HELP and TYPE name the `_total` series; `# UNIT` and `# EOF` (unknown to
//! 0.0.4) are dropped.

use std::collections::HashSet;

/// `openmetrics` (as `prometheus_client` encodes it) in the 0.0.4 text format.
pub fn from_openmetrics(openmetrics: &str) -> String {
    let types: Vec<(&str, &str)> = openmetrics
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("# TYPE ")?.split_whitespace();
            Some((w.next()?, w.next()?))
        })
        .collect();
    let of_kind = |kind: &str| -> HashSet<&str> {
        types
            .iter()
            .filter(|(_, t)| *t == kind)
            .map(|(n, _)| *n)
            .collect()
    };
    let counters = of_kind("counter");
    let infos = of_kind("info");
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            // 0.0.4 escapes only `\` and newlines in HELP text.
            format!(
                "# HELP {} {}",
                series(name, &counters, &infos),
                help.replace("\\\"", "\"")
            )
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let kind = match kind {
                "counter" | "gauge" | "histogram" | "summary" => kind,
                "info" | "stateset" => "gauge",
                "gaugehistogram" => "histogram",
                _ => "untyped",
            };
            format!("# TYPE {} {kind}", series(name, &counters, &infos))
        } else {
            line.to_owned()
        };
        out.push_str(&rewritten);
        out.push('\n');
    }
    out
}

/// The 0.0.4 name of family `name`: its `_total` (counter) or `_info` series.
fn series(name: &str, counters: &HashSet<&str>, infos: &HashSet<&str>) -> String {
    if counters.contains(name) {
        format!("{name}_total")
    } else if infos.contains(name) {
        format!("{name}_info")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_name_their_total_series() {
        let om = "# HELP a_requests Requests \\\"seen\\\".\n# TYPE a_requests counter\n\
                  a_requests_total{op=\"x\"} 3\n# HELP a_up Up.\n# TYPE a_up gauge\n\
                  # UNIT a_up seconds\na_up 1\n# TYPE a_x unknown\na_x 2\n# EOF\n";
        assert_eq!(
            from_openmetrics(om),
            "# HELP a_requests_total Requests \"seen\".\n# TYPE a_requests_total counter\n\
             a_requests_total{op=\"x\"} 3\n# HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n\
             # TYPE a_x untyped\na_x 2\n"
        );
    }
}
