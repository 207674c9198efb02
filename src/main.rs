//! The `healthdns` command: CLI, logging, runtime, signals and exit codes.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use healthdns::config::{self, Config, ZoneConfig};
use healthdns::service::Service;
use healthdns::{answer, load, server};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { config, zones } => check(config, zones),
        Command::Serve {
            config,
            listen,
            zones,
        } => match serve(config, listen, zones) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("healthdns: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
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

/// The config file (if any) plus what the command line adds.
fn gather(
    config: Option<PathBuf>,
    listen: Vec<SocketAddr>,
    zones: Vec<PathBuf>,
) -> Result<Config, Vec<String>> {
    let mut config = match config {
        Some(path) => config::load(&path)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?,
        None => Config::default(),
    };
    config.listen.extend(listen);
    config.zones.extend(
        zones
            .into_iter()
            .map(|file| ZoneConfig { file, origin: None }),
    );
    Ok(config)
}

fn check(config: Option<PathBuf>, zones: Vec<PathBuf>) -> ExitCode {
    let errors = match gather(config, Vec::new(), zones) {
        Err(errors) => errors,
        Ok(config) => match load::zones(&config) {
            Ok(loaded) => {
                for warning in loaded.warnings {
                    eprintln!("{}", warning.into_warning());
                }
                println!("{} zone(s) OK", loaded.zones.len());
                return ExitCode::SUCCESS;
            }
            Err(errors) => errors,
        },
    };
    for error in &errors {
        eprintln!("{error}");
    }
    ExitCode::FAILURE
}

fn serve(
    config_path: Option<PathBuf>,
    listen: Vec<SocketAddr>,
    zones: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let reload_args = (config_path.clone(), listen.clone(), zones.clone());
    let mut config = match gather(config_path, listen, zones) {
        Ok(config) => config,
        Err(errors) => return Ok(report(&errors)),
    };
    if config.listen.is_empty() {
        config
            .listen
            .push(config::DEFAULT_LISTEN.parse().expect("default address"));
    }
    let loaded = match load::zones(&config) {
        Ok(loaded) => loaded,
        Err(errors) => return Ok(report(&errors)),
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let table = answer::build(&loaded.zones, &config.checks);
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
    let mut stdout = std::io::stdout().lock();
    for addr in server::addresses(&listeners) {
        writeln!(stdout, "listening on {addr}")?;
        tracing::info!(%addr, zones = loaded.zones.len(), targets = table.targets().len(), "serving");
    }
    stdout.flush()?;
    drop(stdout);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let settings = server::Settings {
        tcp_idle_timeout: config.tcp_idle_timeout,
        tcp_max_connections: config.tcp_max_connections,
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let service = Service::start(table, &shutdown)?;
        let sockets = tokio::spawn(server::serve(
            listeners,
            service.table().clone(),
            settings,
            shutdown.clone(),
        ));
        let service = handle_signals(service, &shutdown, reload_args).await;
        shutdown.cancel();
        service.stop().await;
        sockets.await?;
        anyhow::Ok(())
    })?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn report(errors: &[String]) -> ExitCode {
    for error in errors {
        eprintln!("{error}");
    }
    ExitCode::FAILURE
}

type ReloadArgs = (Option<PathBuf>, Vec<SocketAddr>, Vec<PathBuf>);

/// SIGTERM/SIGINT stop the server; SIGHUP reloads config and zones. Returns
/// the service when it is time to stop.
async fn handle_signals(
    mut service: Service,
    shutdown: &CancellationToken,
    args: ReloadArgs,
) -> Service {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return service;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&mut service, shutdown, &args),
        }
    }
    tracing::info!("shutting down");
    service
}

/// Builds the new table on the side; on any error the old one keeps serving.
fn reload(
    service: &mut Service,
    shutdown: &CancellationToken,
    (config, listen, zones): &ReloadArgs,
) {
    let result = gather(config.clone(), listen.clone(), zones.clone())
        .and_then(|config| load::zones(&config).map(|loaded| (config, loaded)));
    match result {
        Ok((config, loaded)) => {
            let table = answer::build(&loaded.zones, &config.checks);
            let targets = table.targets().len();
            match service.replace(table, shutdown) {
                Ok(()) => tracing::info!(zones = loaded.zones.len(), targets, "reloaded"),
                Err(err) => tracing::error!(%err, "reload failed; the old data keeps serving"),
            }
        }
        Err(errors) => {
            for error in errors {
                tracing::error!("reload refused: {error}");
            }
        }
    }
}
