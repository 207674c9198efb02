//! `healthdns drill`: a failover drill against a live server that touches
//! no backend. A client of the server's admin API and of DNS, like any
//! operator's tool:
//!
//! 1. reads the set from the status API and asks the server for its
//!    answer (`before`); the targets behind it are the ones to fail;
//! 2. simulates their failure (`POST …/simulate`, a lease renewed while the
//!    drill runs, so that it lapses by itself if the drill dies): their
//!    probes fail as in an outage, so fall, events and metrics run as in
//!    one;
//! 3. asks the server every 50 ms until the answer moves (`switch_s`), and
//!    a resolver, if given, until its cache lets the move through;
//! 4. checks through the status API that the new answer's targets pass
//!    their checks;
//! 5. ends the simulation, whatever happened before (an error, a timeout,
//!    Ctrl-C or SIGTERM), and waits for the answer to come back
//!    (`failback_s`), or reports a manual-failback hold (and, with
//!    `--release`, releases it);
//! 6. checks that nothing is left simulated.

mod dns;
mod report;
mod view;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use hickory_proto::rr::{Name, RecordType};
use tokio::time::{Instant, MissedTickBehavior};

use crate::client::{self, Api};
pub use report::Report;
use report::seconds;
use view::Status;

/// Between two DNS queries while waiting for an answer to move.
const POLL: Duration = Duration::from_millis(50);
/// Between two reads of the status API while waiting.
const STATUS_POLL: Duration = Duration::from_millis(250);
/// How long one API request may take.
const API_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one DNS query may take; a lost one is asked again.
const DNS_TIMEOUT: Duration = Duration::from_millis(500);
/// Beyond its answer's TTL, how long a resolver may take to follow.
const RESOLVER_SLACK: Duration = Duration::from_secs(10);
/// Tries at ending a target's simulated failure.
const RESTORE_TRIES: u32 = 5;
/// The shortest and the longest lease the drill asks for.
const LEASES: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));

/// What to drill, where, and within what bounds.
#[derive(Debug, Clone)]
pub struct Options {
    /// The set's owner name.
    pub name: String,
    /// The set's type (`A`, `AAAA`, …).
    pub rr_type: String,
    /// The server's DNS address.
    pub server: SocketAddr,
    /// The admin API's base URL.
    pub api: String,
    /// Its bearer token.
    pub token: Option<String>,
    /// A resolver in front of the server, to follow as well.
    pub resolver: Option<SocketAddr>,
    /// Release manual-failback holds once the targets recover.
    pub release: bool,
    /// The longest the server's answer may take to move for a pass.
    pub max_switch: Duration,
    /// The longest the whole drill may take, from the simulated failure's
    /// start; restoring comes after, and is bounded on its own.
    pub timeout: Duration,
    /// The simulated failure's lease, renewed every third of it.
    pub lease: Duration,
}

/// Why a drill stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The admin API failed or refused.
    #[error("admin API: {0}")]
    Api(#[from] client::Error),
    /// The status document was not what the drill reads.
    #[error("admin API: the status document: {0}")]
    Status(#[from] serde_json::Error),
    /// A DNS query got no answer.
    #[error("DNS: {0}")]
    Dns(#[from] dns::Error),
    /// Nothing to drill, or not safely: why.
    #[error("cannot drill: {0}")]
    Refused(String),
    /// The drill ran and did not pass: why.
    #[error("{0}")]
    Failed(String),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

/// `err` and its causes, as one line: a report carries no chain.
fn why(err: &Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(source) = cause {
        let more = source.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = source.source();
    }
    text
}

/// What the drill found before failing anything.
#[derive(Debug)]
struct Plan {
    name: Name,
    rtype: RecordType,
    /// The set's name and type as the status API writes them.
    set: (String, String),
    /// The server's answer: RDATA, sorted.
    before: Vec<String>,
    /// The targets behind it, whose failure is simulated.
    targets: Vec<String>,
    /// The set's TTL.
    ttl: u32,
}

/// Runs a drill; stops early, restoring, when `interrupt` resolves. Never
/// fails: what went wrong is in the report, whose `passed` says whether it
/// passed.
pub async fn run(options: &Options, interrupt: impl Future<Output = ()>) -> Report {
    let mut report = Report {
        name: options.name.clone(),
        rr_type: options.rr_type.to_ascii_uppercase(),
        server: options.server.to_string(),
        resolver: options.resolver.map(|r| r.to_string()),
        max_switch_s: seconds(options.max_switch),
        passed: true,
        restored: true,
        ..Report::default()
    };
    let mut interrupt = std::pin::pin!(interrupt);
    let api = match Api::new(&options.api, options.token.as_deref(), API_TIMEOUT) {
        Ok(api) => api,
        Err(err) => {
            report.fail(why(&Error::from(err)));
            return report;
        }
    };
    // Nothing is changed before the plan is made: an error or an
    // interrupt here leaves nothing to restore.
    let plan = tokio::select! {
        biased;
        _ = &mut interrupt => Err(Error::Interrupted),
        plan = prepare(options, &api, &mut report) => plan,
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(err) => {
            report.fail(why(&err));
            return report;
        }
    };
    report.name = plan.set.0.clone();
    report.targets = plan.targets.clone();
    let started = Instant::now();
    let wall = SystemTime::now();
    let deadline = started + options.timeout;
    let outcome = tokio::select! {
        biased;
        _ = &mut interrupt => Err(Error::Interrupted),
        err = renew(&api, &plan.targets, options.lease) => Err(err),
        outcome = fail_over(options, &api, &plan, (started, wall), deadline, &mut report) => outcome,
    };
    let interrupted = matches!(outcome, Err(Error::Interrupted));
    if let Err(err) = outcome {
        report.fail(why(&err));
    }
    // Whatever happened: end the simulation (not raced with the interrupt,
    // bounded by its tries).
    let ended = Instant::now();
    let left = restore(&api, &plan.targets).await;
    if left.is_empty() && !interrupted {
        let back = tokio::select! {
            biased;
            _ = &mut interrupt => Err(Error::Interrupted),
            back = fail_back(options, &api, &plan, ended, deadline, &mut report) => back,
        };
        if let Err(err) = back {
            report.fail(why(&err));
        }
    }
    check_restored(&api, &plan, &mut report).await;
    report
}

/// Reads the set and the server's answer, and refuses what cannot be
/// drilled: a set that is not failover, fails open, has a member with an
/// override or a simulation, or answers a member without a check.
async fn prepare(options: &Options, api: &Api, report: &mut Report) -> Result<Plan, Error> {
    let refuse = |why: String| Err(Error::Refused(why));
    if !(LEASES.0..=LEASES.1).contains(&options.lease) {
        return refuse(format!(
            "--lease {}: from 1s to 1h",
            humantime::format_duration(options.lease)
        ));
    }
    let Ok(rtype) = RecordType::from_str(&options.rr_type.to_ascii_uppercase()) else {
        return refuse(format!("unknown type {:?}", options.rr_type));
    };
    let absolute = if options.name.ends_with('.') {
        options.name.clone()
    } else {
        format!("{}.", options.name)
    };
    let Ok(name) = Name::from_ascii(&absolute) else {
        return refuse(format!("{:?} is not a domain name", options.name));
    };
    let status = Status::read(api.status().await?)?;
    let Some(set) = status.set(&absolute, &options.rr_type) else {
        return refuse(format!(
            "the server has no health-aware set {absolute} {}",
            report.rr_type
        ));
    };
    if set.policy != "failover" {
        return refuse(format!(
            "{absolute} {} is a {} set; a drill fails over a failover set",
            set.rr_type, set.policy
        ));
    }
    if set.failing_open {
        return refuse(format!(
            "{absolute} {} is failing open: no member serves",
            set.rr_type
        ));
    }
    for key in set.members.iter().filter_map(|m| m.target.as_deref()) {
        let Some(target) = status.target(key) else {
            continue;
        };
        if target.simulated.is_some() {
            return refuse(format!(
                "{key} already has a simulated failure: another drill runs, or one just ended \
                 (its lease lapses by itself)"
            ));
        }
        if target.forced.is_some() {
            return refuse(format!(
                "{key} has an operator's override: clear it first (healthdns override {key} auto)"
            ));
        }
    }
    let before = dns::ask(options.server, &name, rtype, false, DNS_TIMEOUT).await?;
    if !before.is_noerror() || before.records.is_empty() {
        return refuse(format!(
            "the server answers {absolute} {} with {}",
            set.rr_type,
            before.describe()
        ));
    }
    report.before = before.records.clone();
    let mut targets = Vec::new();
    for rdata in &before.records {
        let Some(member) = set.members.iter().find(|m| &m.rdata == rdata) else {
            return refuse(format!(
                "the server answers {rdata}, which the status API does not list as a member"
            ));
        };
        let Some(key) = &member.target else {
            return refuse(format!(
                "{rdata} has no check: its failure cannot be simulated"
            ));
        };
        if let Some(why) = status.target(key).and_then(|t| t.failing()) {
            return refuse(format!("{key}, in the answer, is not healthy: {why}"));
        }
        if !targets.contains(key) {
            targets.push(key.clone());
        }
    }
    let plan = Plan {
        name,
        rtype,
        set: (set.name.clone(), set.rr_type.clone()),
        before: before.records,
        targets,
        ttl: set.ttl,
    };
    if let Some(resolver) = options.resolver {
        agree(resolver, &plan, options.timeout, report).await?;
    }
    Ok(plan)
}

/// Waits until `resolver` answers what the server does, so that its
/// answer moving later is the drill's doing; notes its TTL.
async fn agree(
    resolver: SocketAddr,
    plan: &Plan,
    timeout: Duration,
    report: &mut Report,
) -> Result<(), Error> {
    let bound = Duration::from_secs(u64::from(plan.ttl)) + RESOLVER_SLACK;
    let deadline = Instant::now() + bound.min(timeout);
    loop {
        let last = match dns::ask(resolver, &plan.name, plan.rtype, true, DNS_TIMEOUT).await {
            Ok(answer) if answer.is_noerror() && answer.records == plan.before => {
                report.resolver_ttl = answer.ttl;
                return Ok(());
            }
            Ok(answer) => answer.describe(),
            Err(err) => err.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(Error::Refused(format!(
                "the resolver {resolver} answers {last}, the server {}",
                plan.before.join(", ")
            )));
        }
        tokio::time::sleep(POLL * 4).await;
    }
}

/// Starts the simulated failure, waits for the server's answer (and the
/// resolver's) to move, and judges the new answer.
async fn fail_over(
    options: &Options,
    api: &Api,
    plan: &Plan,
    (started, wall): (Instant, SystemTime),
    deadline: Instant,
    report: &mut Report,
) -> Result<(), Error> {
    let lease = humantime::format_duration(options.lease).to_string();
    for target in &plan.targets {
        api.simulate(target, &lease).await?;
        tracing::info!(%target, %lease, "simulating a failure of the target's probes");
    }
    let limit = (started + options.max_switch).min(deadline);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut looked = started;
    let mut last = plan.before.join(", ");
    let during = loop {
        tick.tick().await;
        if report.detect_s.is_none() && looked.elapsed() >= STATUS_POLL {
            looked = Instant::now();
            detect(api, plan, (started, wall), report).await;
        }
        match dns::ask(options.server, &plan.name, plan.rtype, false, DNS_TIMEOUT).await {
            Ok(answer) if answer.records != plan.before || !answer.is_noerror() => {
                report.switch_s = Some(seconds(started.elapsed()));
                break answer;
            }
            Ok(_) => {}
            Err(err) => last = err.to_string(),
        }
        if Instant::now() >= limit {
            return Err(Error::Failed(format!(
                "the server's answer did not move within {} (--max-switch): still {last}",
                humantime::format_duration(options.max_switch)
            )));
        }
    };
    report.during = during.records.clone();
    tracing::info!(answer = %during.describe(), after = ?started.elapsed(), "the server's answer moved");
    if report.detect_s.is_none() {
        detect(api, plan, (started, wall), report).await;
    }
    if let Some(resolver) = options.resolver {
        let ttl = report.resolver_ttl.unwrap_or(plan.ttl);
        let bound = Duration::from_secs(u64::from(ttl)) + RESOLVER_SLACK;
        let limit = (Instant::now() + bound).min(deadline);
        loop {
            tick.tick().await;
            match dns::ask(resolver, &plan.name, plan.rtype, true, DNS_TIMEOUT).await {
                Ok(answer) if answer.is_noerror() && answer.records != plan.before => {
                    report.resolver_switch_s = Some(seconds(started.elapsed()));
                    tracing::info!(answer = %answer.describe(), after = ?started.elapsed(), "the resolver's answer moved");
                    break;
                }
                Ok(answer) => last = answer.describe(),
                Err(err) => last = err.to_string(),
            }
            if Instant::now() >= limit {
                return Err(Error::Failed(format!(
                    "the resolver {resolver} still answered {last} {} after the server's answer moved (TTL {ttl} s)",
                    humantime::format_duration(bound)
                )));
            }
        }
    }
    judge(api, plan, &during).await
}

/// Notes when the first of the plan's targets went down: the time of its
/// transition when the status API has one of the drill's, else now.
async fn detect(
    api: &Api,
    plan: &Plan,
    (started, wall): (Instant, SystemTime),
    report: &mut Report,
) {
    let Ok(status) = api
        .status()
        .await
        .map_err(Error::from)
        .and_then(|v| Ok(Status::read(v)?))
    else {
        return;
    };
    let seen = started.elapsed();
    let first = plan
        .targets
        .iter()
        .filter_map(|key| status.target(key))
        .filter(|t| t.down())
        .map(|t| {
            t.last_transition
                .as_ref()
                .filter(|tr| tr.to == "down" && tr.class == "drill")
                .and_then(|tr| humantime::parse_rfc3339(&tr.time).ok())
                .and_then(|time| time.duration_since(wall).ok())
                // A clock that disagrees with this one's: when it was seen.
                .filter(|&after| after <= seen)
                .unwrap_or(seen)
        })
        .min();
    if let Some(first) = first {
        report.detect_s = Some(seconds(first));
        tracing::info!(after = ?first, "a simulated target went down");
    }
}

/// Whether every record of the new answer is a member whose target passes
/// its checks.
async fn judge(api: &Api, plan: &Plan, during: &dns::Answer) -> Result<(), Error> {
    if during.records.is_empty() {
        return Err(Error::Failed(format!(
            "the answer moved to {}",
            during.describe()
        )));
    }
    let status = Status::read(api.status().await?)?;
    let Some(set) = status.set(&plan.set.0, &plan.set.1) else {
        return Err(Error::Failed(format!(
            "the set {} {} is gone from the status API",
            plan.set.0, plan.set.1
        )));
    };
    for rdata in &during.records {
        let Some(member) = set.members.iter().find(|m| &m.rdata == rdata) else {
            return Err(Error::Failed(format!(
                "the answer moved to {rdata}, which the status API does not list as a member"
            )));
        };
        let Some(key) = &member.target else {
            // A member without a check always serves: nothing to pass.
            continue;
        };
        let why = match status.target(key) {
            Some(target) => target.failing(),
            None => Some("not in the status API".to_owned()),
        };
        if let Some(why) = why {
            return Err(Error::Failed(format!(
                "the answer moved to {rdata}, whose target {key} does not pass its checks: {why}"
            )));
        }
    }
    Ok(())
}

/// Renews the simulated failure every third of its lease until dropped;
/// gives up, returning why, once a lease could have lapsed unrenewed.
async fn renew(api: &Api, targets: &[String], lease: Duration) -> Error {
    let text = humantime::format_duration(lease).to_string();
    let mut renewed = Instant::now();
    let mut wait = lease / 3;
    loop {
        tokio::time::sleep(wait).await;
        let mut failed = None;
        for target in targets {
            if let Err(err) = api.simulate(target, &text).await {
                failed = Some(err);
            }
        }
        match failed {
            None => {
                renewed = Instant::now();
                wait = lease / 3;
            }
            Some(err) if renewed.elapsed() + Duration::from_millis(500) >= lease => {
                return Error::Failed(format!(
                    "could not renew the simulated failure's lease: {err}"
                ));
            }
            Some(err) => {
                tracing::warn!(%err, "renewing the simulated failure failed; trying again");
                wait = Duration::from_millis(500);
            }
        }
    }
}

/// Ends the simulated failure of every target, each tried a few times;
/// returns those it could not end.
async fn restore(api: &Api, targets: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    for target in targets {
        let mut ended = false;
        for _ in 0..RESTORE_TRIES {
            match api.end_simulation(target).await {
                Ok(_) => {
                    ended = true;
                    break;
                }
                Err(err) => {
                    tracing::warn!(%target, %err, "ending the simulated failure failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        if ended {
            tracing::info!(%target, "simulated failure ended");
        } else {
            left.push(target.clone());
        }
    }
    left
}

/// Waits for the answer to come back; a target that recovered but is held
/// by manual failback is reported, and released with `--release`.
async fn fail_back(
    options: &Options,
    api: &Api,
    plan: &Plan,
    ended: Instant,
    deadline: Instant,
    report: &mut Report,
) -> Result<(), Error> {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut looked = ended;
    let mut last = (Vec::new(), "no answer yet".to_owned());
    loop {
        tick.tick().await;
        if let Ok(answer) =
            dns::ask(options.server, &plan.name, plan.rtype, false, DNS_TIMEOUT).await
        {
            let back = answer.is_noerror() && answer.records == plan.before;
            last = (answer.records.clone(), answer.describe());
            // Back, and its targets up again: an answer that never moved
            // (a drill that failed) is not a failback until they recover.
            if back {
                let status = Status::read(api.status().await?)?;
                let recovered = plan
                    .targets
                    .iter()
                    .all(|key| status.target(key).is_some_and(|t| !t.down()));
                if recovered {
                    report.failback_s = Some(seconds(ended.elapsed()));
                    report.after = answer.records;
                    tracing::info!(after = ?ended.elapsed(), "the answer is back");
                    return Ok(());
                }
            }
        }
        if looked.elapsed() >= STATUS_POLL {
            looked = Instant::now();
            let status = Status::read(api.status().await?)?;
            let held: Vec<String> = plan
                .targets
                .iter()
                .filter(|key| status.target(key).is_some_and(|t| t.held && !t.down()))
                .cloned()
                .collect();
            if !held.is_empty() && !report.released {
                report.held = held.clone();
                if !options.release {
                    report.after = last.0;
                    tracing::info!(targets = ?held, "recovered, and held by manual failback (--release releases)");
                    return Ok(());
                }
                for target in &held {
                    api.set_override(target, "auto", None).await?;
                    tracing::info!(%target, "manual-failback hold released");
                }
                report.released = true;
            }
        }
        if Instant::now() >= deadline {
            report.after = last.0;
            return Err(Error::Failed(format!(
                "no failback within --timeout: the answer is still {}",
                last.1
            )));
        }
    }
}

/// Checks through the status API that none of the plan's targets is left
/// simulated or overridden, ending a simulation again where one is.
async fn check_restored(api: &Api, plan: &Plan, report: &mut Report) {
    let mut left = Vec::new();
    for attempt in 0..2 {
        let status = match api.status().await.map_err(Error::from) {
            Ok(value) => Status::read(value).map_err(Error::from),
            Err(err) => Err(err),
        };
        let status = match status {
            Ok(status) => status,
            Err(err) => {
                report.restored = false;
                report.fail(format!(
                    "could not check that nothing is left simulated: {}",
                    why(&err)
                ));
                return;
            }
        };
        left = plan
            .targets
            .iter()
            .filter(|key| status.target(key).is_some_and(|t| t.simulated.is_some()))
            .cloned()
            .collect();
        let overridden: Vec<&String> = plan
            .targets
            .iter()
            .filter(|key| status.target(key).is_some_and(|t| t.forced.is_some()))
            .collect();
        if !overridden.is_empty() {
            report.fail(format!(
                "overridden after the drill (not by it): {}",
                overridden
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if left.is_empty() || attempt == 1 {
            break;
        }
        restore(api, &left).await;
    }
    report.restored = left.is_empty();
    if !left.is_empty() {
        report.fail(format!(
            "still simulated (until the lease lapses): {}",
            left.join(", ")
        ));
    }
}
