//! Prometheus's own tool on what healthdns serves and ships: `promtool
//! check metrics` on a live `/metrics`, `promtool check rules` and `test
//! rules` on `contrib/prometheus/`, the Grafana dashboard parsed, its
//! queries checked as PromQL, and the rules and dashboard naming only
//! metrics that `/metrics` exposes.
//!
//! promtool comes with Debian's `prometheus` package
//! (`scripts/setup-debian.sh` installs it).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::{NAME, SECONDARY, start};
use crate::health::wait_answer;
use crate::util::backend::HttpMode;

/// A file under `contrib/`.
fn contrib(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(path)
}

/// Runs `promtool ARGS`, with `stdin` as its input.
fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's prometheus package \
                 (scripts/setup-debian.sh does)"
            )
        });
    let mut input = child.stdin.take().expect("promtool's stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write to promtool");
    }
    drop(input);
    child.wait_with_output().expect("promtool ran")
}

/// What promtool said, for a failure message.
fn said(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn live_metrics_pass_promtool_check_metrics() {
    let env = start();
    env.wait_settled();
    // Every family with samples: a failover (answer moves, a labelled
    // duration histogram), a reload taken and one refused.
    env.primary.set(HttpMode::Status(500));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    env.wait_metrics("the failover counted", |m| {
        m.sum("failover_events_total", &[("name", NAME)]) >= 1.0
            && m.sum("failover_duration_seconds_count", &[("name", NAME)]) >= 1.0
    });
    env.reload_ok();
    env.write_zone("bad 60 IN A not-an-address\n");
    assert_eq!(env.reload(None).status, 422);
    let text = env.get("/metrics").body;
    let out = promtool(&["check", "metrics"], Some(&text));
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics:\n{}\non:\n{text}",
        said(&out)
    );
}

#[test]
fn the_shipped_rules_pass_promtool_and_their_own_tests() {
    let rules = contrib("prometheus/healthdns-rules.yml");
    let out = promtool(&["check", "rules", rules.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "promtool check rules:\n{}",
        said(&out)
    );
    let tests = contrib("prometheus/healthdns-rules.test.yml");
    let out = promtool(&["test", "rules", tests.to_str().unwrap()], None);
    assert!(out.status.success(), "promtool test rules:\n{}", said(&out));
}

#[test]
fn the_rules_and_the_dashboard_name_only_metrics_healthdns_exposes() {
    let env = start();
    let exposed = exposed(&env.get("/metrics").body);

    let rules = std::fs::read_to_string(contrib("prometheus/healthdns-rules.yml")).unwrap();
    let rule_exprs: Vec<String> = rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("expr:"))
        .map(|expr| expr.trim().to_owned())
        .collect();
    assert!(rule_exprs.len() >= 4, "{rule_exprs:?}");
    check_names(
        "the rules",
        &rule_exprs,
        &exposed,
        &[
            "record_set_failing_open",
            "record_set_healthy_members",
            "failover_events_total",
            "reloads_total",
            "health_checks_total",
        ],
    );

    let text = std::fs::read_to_string(contrib("grafana/healthdns.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("contrib/grafana/healthdns.json is no JSON: {e}"));
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| p.len() >= 10)
    );
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 15, "{exprs:?}");
    check_names(
        "the dashboard",
        &exprs,
        &exposed,
        &[
            "record_set_failing_open",
            "record_set_healthy_members",
            "failover_events_total",
            "failover_duration_seconds_bucket",
            "active_endpoint_info",
            "endpoint_health",
            "endpoint_simulated",
            "reloads_total",
            "build_info",
            "process_cpu_seconds_total",
        ],
    );
    // Each query is PromQL, once Grafana's variables are put in: as
    // recording rules, promtool parses them.
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h");
        let quoted = serde_json::to_string(&expr).unwrap();
        file.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(&path, &file).unwrap();
    let out = promtool(&["check", "rules", path.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "the dashboard's queries as rules:\n{}\n{file}",
        said(&out)
    );
}

/// Every metric name `/metrics` can have: each family, and a histogram's
/// `_bucket`, `_sum` and `_count`.
fn exposed(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE NAME KIND");
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
        names.insert(name.to_owned());
    }
    names
}

/// Asserts `exprs` name only `exposed` metrics, and every one of `wanted`.
#[track_caller]
fn check_names(whose: &str, exprs: &[String], exposed: &BTreeSet<String>, wanted: &[&str]) {
    let mut named = BTreeSet::new();
    for expr in exprs {
        for name in metric_names(expr) {
            assert!(
                exposed.contains(&name),
                "{whose}: {name} (in {expr}) is not a metric /metrics exposes: {exposed:?}"
            );
            named.insert(name);
        }
    }
    for name in wanted {
        assert!(named.contains(*name), "{whose} never use {name}: {named:?}");
    }
}

/// Every `expr` of the dashboard (panel targets, annotations) and the
/// metric of each `label_values(METRIC, LABEL)` variable.
fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    ("definition", Value::String(query)) => {
                        if let Some(args) = query
                            .strip_prefix("label_values(")
                            .and_then(|rest| rest.rsplit_once(','))
                        {
                            out.push(args.0.to_owned());
                        }
                    }
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// Words of PromQL that are no metric: aggregations, their modifiers,
/// set and comparison operators.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
];
/// Keywords followed by a list of labels in parentheses.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression uses: identifiers outside label
/// matchers, strings and ranges that are neither functions nor keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Blank out strings, `{…}` and `[…]`.
    let mut plain = String::with_capacity(expr.len());
    let (mut quote, mut escaped, mut depth) = (None, false, 0);
    for c in expr.chars() {
        let keep = match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                false
            }
            None => match c {
                '"' | '\'' | '`' => {
                    quote = Some(c);
                    false
                }
                '{' | '[' => {
                    depth += 1;
                    false
                }
                '}' | ']' => {
                    depth -= 1;
                    false
                }
                _ => depth == 0,
            },
        };
        plain.push(if keep { c } else { ' ' });
    }
    let chars: Vec<char> = plain.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_list = false;
    while i < chars.len() {
        let c = chars[i];
        // A number or duration, or a Grafana variable (`$__interval`).
        if c.is_ascii_digit() || c == '.' || c == '$' {
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            continue;
        }
        if skip_list && c == '(' {
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            skip_list = false;
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_' || c == ':') {
            if !c.is_whitespace() {
                skip_list = false;
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let next = chars[i..].iter().find(|c| !c.is_whitespace());
        if LABEL_LISTS.contains(&word.as_str()) {
            skip_list = true;
        } else if next != Some(&'(') && !KEYWORDS.contains(&word.as_str()) {
            names.insert(word);
        }
    }
    names
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.95, sum by (le, name) (rate(a_bucket{job=~"$job",x="y z"}[$__rate_interval])))"#
        ),
        ["a_bucket"]
    );
    assert_eq!(
        names("b == 0 unless on (instance, name) c == 1 or vector(0)"),
        ["b", "c"]
    );
    assert_eq!(
        names("increase(d[10m]) > 0 or (d unless d offset 10m)"),
        ["d"]
    );
    assert_eq!(names("time() - e / f"), ["e", "f"]);
    assert_eq!(names("i offset $__interval"), ["i"]);
    assert_eq!(names("sum(rate(g[1m])) by (h)"), ["g"]);
}
