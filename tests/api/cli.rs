//! `healthdns status` and `healthdns override` against the real server.

use std::process::Output;

use super::{Env, Opts, PRIMARY, SECONDARY, start, start_with};
use crate::health::wait_answer;
use crate::util::backend::HttpMode;
use crate::util::run_healthdns;

fn run(args: &[&str]) -> Output {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    run_healthdns(&args)
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The row of `key` in `healthdns status`.
fn row<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == key))
        .unwrap_or_else(|| panic!("no row for {key}:\n{stdout}"))
}

fn status(env: &Env) -> String {
    let o = run(&["status", "--api", &env.url()]);
    assert!(o.status.success(), "healthdns status: {}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn status_prints_a_row_per_target() {
    let env = start();
    env.wait_settled();
    env.primary.set(HttpMode::Status(500));
    env.wait_target(&env.primary_key(), "state down", |t| t["state"] == "down");

    let out = status(&env);
    let header = out.lines().next().unwrap_or("");
    assert!(header.contains("TARGET"), "header:\n{out}");
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert!(
        words(row(&out, &env.primary_key())).contains(&"down".to_string()),
        "the primary's state:\n{out}"
    );
    assert!(
        words(row(&out, &env.secondary_key())).contains(&"up".to_string()),
        "the secondary's state:\n{out}"
    );
}

#[test]
fn override_drains_releases_and_reports_errors() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    let url = env.url();

    let o = run(&["override", &p, "down", "--api", &url]);
    assert!(o.status.success(), "override down: {}", show(&o));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);

    let o = run(&["override", &p, "auto", "--api", &url]);
    assert!(o.status.success(), "override auto: {}", show(&o));
    wait_answer(&env.server, "api", "A", &[PRIMARY]);

    let o = run(&["override", &p, "down", "--for", "30m", "--api", &url]);
    assert!(o.status.success(), "override down --for 30m: {}", show(&o));
    let t = env.target(&p);
    assert!(
        t["override"]["until"].is_string(),
        "--for sets until:\n{t:#}"
    );
    wait_answer(&env.server, "api", "A", &[SECONDARY]);

    let o = run(&["override", "127.0.0.99:1/web", "down", "--api", &url]);
    assert!(!o.status.success(), "unknown target: {}", show(&o));
    assert!(!o.stderr.is_empty(), "the server's message: {}", show(&o));

    let o = run(&["override", &p, "sideways", "--api", &url]);
    assert!(!o.status.success(), "bad state: {}", show(&o));
}

#[test]
fn override_sends_the_token() {
    let env = start_with(Opts {
        api: "token = \"secret\"",
        ..Opts::default()
    });
    env.wait_settled();
    let p = env.primary_key();
    let url = env.url();

    let o = run(&["override", &p, "down", "--api", &url]);
    assert!(!o.status.success(), "no token: {}", show(&o));
    assert!(!o.stderr.is_empty(), "the server's message: {}", show(&o));
    let o = run(&["override", &p, "down", "--api", &url, "--token", "wrong"]);
    assert!(!o.status.success(), "wrong token: {}", show(&o));
    assert!(env.target(&p)["override"].is_null());

    let o = run(&["override", &p, "down", "--api", &url, "--token", "secret"]);
    assert!(o.status.success(), "right token: {}", show(&o));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    // status is a GET: no token needed.
    let out = status(&env);
    row(&out, &p);
}
