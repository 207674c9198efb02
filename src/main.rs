//! The `healthdns` command: CLI, logging, runtime, signals and exit codes.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use healthdns::api::{self, Api, Command as ApiCommand};
use healthdns::service::{Reloaded, Service, Source};
use healthdns::{answer, server};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "healthdns",
    version,
    about = "Authoritative DNS with health-checked failover"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the zones of the config and of the command line.
    Serve {
        /// Config file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to serve UDP and TCP on; repeatable; adds to the config's.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Vec<SocketAddr>,
        /// Answer UDP queries arriving on this interface over AF_XDP
        /// (needs root); overrides the config's `xdp`.
        #[arg(long, value_name = "INTERFACE")]
        xdp: Option<String>,
        /// Zone files to serve in addition to the config's (origin = SOA owner).
        zones: Vec<PathBuf>,
    },
    /// Check the config and every zone; print every error as file:line: message.
    Check {
        /// Config file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Zone files to check in addition to the config's.
        zones: Vec<PathBuf>,
    },
    /// Print the health of every target (like `gdnsdctl states`).
    Status {
        /// The API's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8053")]
        api: String,
    },
    /// Drain (down), force (up) or release (auto) a target.
    Override {
        /// The target, as shown by `status` (ADDRESS:PORT/CHECK).
        target: String,
        /// down, up or auto.
        state: String,
        /// How long, e.g. 30m; until changed when absent.
        #[arg(long = "for")]
        duration: Option<String>,
        /// The API's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8053")]
        api: String,
        /// Bearer token (or HEALTHDNS_TOKEN).
        #[arg(long, env = "HEALTHDNS_TOKEN")]
        token: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Check { config, zones } => Ok(check(Source {
            config,
            listen: Vec::new(),
            zones,
        })),
        Command::Serve {
            config,
            listen,
            xdp,
            zones,
        } => serve(
            Source {
                config,
                listen,
                zones,
            },
            xdp,
        ),
        Command::Status { api } => client::status(&api),
        Command::Override {
            target,
            state,
            duration,
            api,
            token,
        } => client::set_override(&api, &target, &state, duration.as_deref(), token.as_deref()),
    };
    result.unwrap_or_else(|err| {
        eprintln!("healthdns: {err:#}");
        ExitCode::FAILURE
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEALTHDNS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn check(source: Source) -> ExitCode {
    match source.load() {
        Ok((_, loaded)) => {
            for warning in loaded.warnings {
                eprintln!("{}", warning.into_warning());
            }
            println!("{} zone(s) OK", loaded.zones.len());
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

fn report(errors: &[String]) -> ExitCode {
    for error in errors {
        eprintln!("{error}");
    }
    ExitCode::FAILURE
}

fn serve(source: Source, xdp: Option<String>) -> anyhow::Result<ExitCode> {
    let (config, loaded) = match source.load() {
        Ok(loaded) => loaded,
        Err(errors) => return Ok(report(&errors)),
    };
    let xdp = match xdp.map(|name| healthdns::config::interface_name(&name)) {
        Some(Ok(name)) => Some(name),
        Some(Err(message)) => return Ok(report(&[format!("--xdp: {message}")])),
        None => config.xdp.clone(),
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let table = answer::build(&loaded.zones, &config.checks);
    raise_open_files_limit(table.targets().len(), config.tcp_max_connections);
    let zone_count = loaded.zones.len();
    healthdns::load::dispose(loaded);
    let workers = config
        .udp_workers
        .map(|n| n as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut listeners = Vec::new();
    for addr in &config.listen {
        listeners.push(
            server::bind(*addr, workers).with_context(|| format!("cannot listen on {addr}"))?,
        );
    }
    let xdp = match xdp {
        Some(interface) => Some(open_xdp(&interface, &listeners)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let settings = server::Settings {
        tcp_idle_timeout: config.tcp_idle_timeout,
        tcp_max_connections: config.tcp_max_connections,
        udp_coalesce: server::Coalesce::new(config.udp_coalesce, config.udp_coalesce_load),
    };
    if !config.udp_coalesce.is_zero() {
        tracing::info!(
            pause = ?config.udp_coalesce,
            from_load = config.udp_coalesce_load,
            "UDP workers pause once drained while busy (udp-coalesce)"
        );
    }
    runtime.block_on(async {
        let api_listener = match &config.api {
            Some(api) => Some(
                api::bind(api.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", api.listen))?,
            ),
            None => None,
        };
        // Before saying it listens: a SIGHUP or SIGTERM sent as soon as it
        // does (a reload right after start) must find the handlers, not
        // the default action, which ends the process.
        let signals = Signals::install().context("cannot install signal handlers")?;
        let mut stdout = std::io::stdout().lock();
        for addr in server::addresses(&listeners) {
            writeln!(stdout, "listening on {addr}")?;
            tracing::info!(%addr, zones = zone_count, targets = table.targets().len(), "serving");
        }
        if let Some(listener) = &api_listener {
            writeln!(stdout, "api listening on {}", listener.local_addr()?)?;
        }
        stdout.flush()?;
        drop(stdout);

        let shutdown = CancellationToken::new();
        let mut service = Service::start(table, config.notify.clone(), &shutdown)?;
        let sockets = tokio::spawn(server::serve(
            listeners,
            xdp,
            service.table().clone(),
            settings,
            shutdown.clone(),
        ));
        let (commands, mut requests) = mpsc::channel(8);
        let api_task = api_listener.map(|listener| {
            let api = Api {
                table: service.table().clone(),
                history: service.history().clone(),
                commands,
                token: config
                    .api
                    .as_ref()
                    .and_then(|a| a.token.as_deref())
                    .map(Arc::from),
            };
            tokio::spawn(api::serve(listener, api, shutdown.clone()))
        });
        control(
            &mut service,
            &source,
            config.tcp_max_connections,
            signals,
            &mut requests,
        )
        .await;
        tracing::info!("shutting down");
        shutdown.cancel();
        service.stop().await;
        sockets.await?;
        if let Some(task) = api_task {
            task.await?;
        }
        anyhow::Ok(())
    })?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Attaches XDP to `interface` for the first IPv4 and the first IPv6
/// listener (their ports, and their addresses unless unspecified).
fn open_xdp(interface: &str, listeners: &[server::Listener]) -> anyhow::Result<server::xdp::Xdp> {
    let mut ours = server::xdp::Ours { v4: None, v6: None };
    for listener in listeners {
        match listener.addr {
            SocketAddr::V4(addr) if ours.v4.is_none() => ours.v4 = Some(addr),
            SocketAddr::V6(addr) if ours.v6.is_none() => ours.v6 = Some(addr),
            other => {
                tracing::warn!(%other, "XDP serves one listener per IP version; this one stays on sockets")
            }
        }
    }
    let xdp = server::xdp::Xdp::open(interface, ours)?;
    tracing::info!(interface, v4 = ?ours.v4, v6 = ?ours.v6, queues = xdp.queues(), "answering UDP over AF_XDP");
    Ok(xdp)
}

/// Raises the open-files limit ([`server::raise_open_files_limit`]): each
/// HTTP target keeps a pooled connection and each TCP probe a socket, so the
/// usual soft limit of 1024 runs out at about a thousand targets. Warns when
/// even the hard limit is below what `targets` and `tcp_clients` need.
fn raise_open_files_limit(targets: usize, tcp_clients: u32) {
    let needed = targets as u64 + u64::from(tcp_clients);
    let limit = match server::raise_open_files_limit() {
        Ok(limit) => limit,
        Err(err) => {
            tracing::debug!(%err, "cannot read the open files limit");
            return;
        }
    };
    tracing::debug!(limit, "open files");
    // Sockets, the API, logs and zone files need a few more.
    if limit < needed + 64 {
        tracing::warn!(
            limit,
            needed = needed + 64,
            "the open files limit (ulimit -n) is below what the targets and TCP clients may use; probes may fail with \"too many open files\""
        );
    }
}

/// The signals `serve` acts on, listened for from start-up on.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Turns signals and API commands into service actions until it is time to
/// stop: SIGTERM/SIGINT stop, SIGHUP and the API's reload reload.
async fn control(
    service: &mut Service,
    source: &Source,
    tcp_max_connections: u32,
    signals: Signals,
    requests: &mut mpsc::Receiver<ApiCommand>,
) {
    // A reload may add targets: the limit raised at start-up may no longer
    // cover them, and it cannot be raised further, so say so.
    let reloaded = |result: &Result<Reloaded, Vec<String>>| match result {
        Ok(reloaded) => raise_open_files_limit(reloaded.targets, tcp_max_connections),
        Err(errors) => {
            for error in errors {
                tracing::error!("reload refused, old data kept: {error}");
            }
        }
    };
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    loop {
        tokio::select! {
            biased;
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => reloaded(&service.reload(source)),
            Some(ApiCommand::Reload(reply)) = requests.recv() => {
                let result = service.reload(source);
                reloaded(&result);
                let _ = reply.send(result);
            }
        }
    }
}

/// `healthdns status` and `healthdns override`: small API clients.
mod client {
    use std::process::ExitCode;

    use anyhow::Context;

    fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?)
    }

    fn http() -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder().no_proxy().build()?)
    }

    pub fn status(api: &str) -> anyhow::Result<ExitCode> {
        let url = format!("{}/api/v1/status", api.trim_end_matches('/'));
        let status: serde_json::Value = runtime()?.block_on(async {
            let response = http()?
                .get(&url)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            let bytes = response.error_for_status()?.bytes().await?;
            anyhow::Ok(serde_json::from_slice(&bytes)?)
        })?;
        println!(
            "{:<32} {:<6} {:<8} {:<16} {:>10}  LAST PROBE",
            "TARGET", "STATE", "SERVING", "OVERRIDE", "LATENCY"
        );
        for target in status["targets"].as_array().into_iter().flatten() {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
            let forced = match &target["override"] {
                serde_json::Value::Null if target["held"] == true => "held".to_owned(),
                serde_json::Value::Null => "-".to_owned(),
                o => format!(
                    "{} {}",
                    text(&o["state"]),
                    o["until"].as_str().map_or("", |_| "(expires)")
                ),
            };
            let probe = &target["last_probe"];
            println!(
                "{:<32} {:<6} {:<8} {:<16} {:>8.1}ms  {}",
                text(&target["target"]),
                text(&target["state"]),
                if target["serving"] == true {
                    "yes"
                } else {
                    "no"
                },
                forced,
                probe["latency_ms"].as_f64().unwrap_or(0.0),
                text(&probe["reason"]),
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    pub fn set_override(
        api: &str,
        target: &str,
        state: &str,
        duration: Option<&str>,
        token: Option<&str>,
    ) -> anyhow::Result<ExitCode> {
        let encoded: String = target
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let url = format!(
            "{}/api/v1/targets/{encoded}/override",
            api.trim_end_matches('/')
        );
        let body = serde_json::json!({"state": state, "for": duration});
        let (code, text) = runtime()?.block_on(async {
            let mut request = http()?
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            anyhow::Ok((response.status(), response.text().await?))
        })?;
        if code.is_success() {
            println!(
                "{target}: {state}{}",
                duration.map(|d| format!(" for {d}")).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("healthdns: {code}: {text}");
            Ok(ExitCode::FAILURE)
        }
    }
}
