//! The `healthdns` command: CLI, logging, runtime, signals and exit codes.
//! The server itself is [`healthdns::daemon`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use healthdns::catalog::Problem;
use healthdns::client;
use healthdns::daemon::{Daemon, Error, Ready};
use healthdns::demo;
use healthdns::drill;
use healthdns::service::{Command as ServiceCommand, Source};
use tokio::sync::mpsc;

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
        /// Keep overrides and holds across restarts in this directory;
        /// overrides the config's `state-dir`.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
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
    /// Serve the failover example with two demo web servers on 127.0.0.21
    /// and 127.0.0.22, to stop and start from the keyboard, and print each
    /// change of the answer.
    Demo {
        /// Where to write the example's config and zone, and keep them;
        /// else a temporary directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// DNS port on 127.0.0.1.
        #[arg(long, default_value_t = 5353)]
        port: u16,
        /// Admin API port on 127.0.0.1.
        #[arg(long, default_value_t = 8053)]
        api_port: u16,
        /// The demo web servers' port.
        #[arg(long, default_value_t = 8080)]
        backend_port: u16,
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
    /// Fail a set over on a live server and back, by simulating the failure
    /// of the targets it answers: their probes fail, nothing touches the
    /// backends. Exit 0 when it passed.
    Drill {
        /// The failover set's name, e.g. app.example.com.
        name: String,
        /// Its type, e.g. A.
        #[arg(value_name = "TYPE")]
        rr_type: String,
        /// The server's DNS address.
        #[arg(long, value_name = "ADDR:PORT")]
        server: SocketAddr,
        /// The API's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8053")]
        api: String,
        /// Bearer token (or HEALTHDNS_TOKEN).
        #[arg(long, env = "HEALTHDNS_TOKEN")]
        token: Option<String>,
        /// A resolver in front of the server: also wait for its answer to
        /// move.
        #[arg(long, value_name = "ADDR:PORT")]
        resolver: Option<SocketAddr>,
        /// Release a manual-failback hold once the targets recover.
        #[arg(long)]
        release: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The longest the server's answer may take to move for a pass.
        #[arg(long, default_value = "60s", value_parser = duration)]
        max_switch: Duration,
        /// The longest the whole drill may take (restoring comes after).
        #[arg(long, default_value = "5m", value_parser = duration)]
        timeout: Duration,
        /// The simulated failure's lease: renewed every third of it, it
        /// lapses by itself this long after the drill dies.
        #[arg(long, default_value = "15s", value_parser = duration)]
        lease: Duration,
    },
}

/// A duration on the command line, as the config writes them (`60s`).
fn duration(text: &str) -> Result<Duration, String> {
    healthdns::config::parse_duration(text).map_err(|err| err.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Check { config, zones } => {
            return check(Source {
                config,
                listen: Vec::new(),
                zones,
                state_dir: None,
            });
        }
        Command::Serve {
            config,
            listen,
            xdp,
            state_dir,
            zones,
        } => serve(
            Source {
                config,
                listen,
                zones,
                state_dir,
            },
            xdp,
        ),
        Command::Status { api } => client::status(&api).map_err(anyhow::Error::from),
        Command::Demo {
            dir,
            port,
            api_port,
            backend_port,
        } => demo(
            dir,
            demo::Ports {
                dns: port,
                api: api_port,
                backend: backend_port,
            },
        ),
        Command::Override {
            target,
            state,
            duration,
            api,
            token,
        } => client::set_override(&api, &target, &state, duration.as_deref(), token.as_deref())
            .map_err(anyhow::Error::from),
        Command::Drill {
            name,
            rr_type,
            server,
            api,
            token,
            resolver,
            release,
            json,
            max_switch,
            timeout,
            lease,
        } => {
            let options = drill::Options {
                name,
                rr_type,
                server,
                api,
                token,
                resolver,
                release,
                max_switch,
                timeout,
                lease,
            };
            return run_drill(&options, json);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<Error>() {
            Some(Error::Invalid(errors)) => report(errors),
            Some(err @ Error::Interface(_)) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
            _ => {
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

fn check(source: Source) -> ExitCode {
    match source.load() {
        Ok((_, loaded)) => {
            for warning in loaded.warnings {
                eprintln!("{}", warning.into_warning());
            }
            println!("{} zone(s) OK", loaded.zones.len());
            if let Some(networks) = &loaded.networks {
                println!("networks file OK: {} networks", networks.networks());
            }
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

fn report(errors: &[Problem]) -> ExitCode {
    for error in errors {
        eprintln!("{error}");
    }
    ExitCode::FAILURE
}

fn serve(source: Source, xdp: Option<String>) -> anyhow::Result<()> {
    let daemon = Daemon::bind(source, xdp)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(daemon.workers())
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Before saying it listens: a SIGHUP or SIGTERM sent as soon as it
        // does (a reload right after start) must find the handlers, not
        // the default action, which ends the process.
        let (sender, commands) = mpsc::channel(8);
        signals(sender.clone())?;
        daemon.run(sender, commands, announce).await?;
        anyhow::Ok(())
    })?;
    tracing::info!("stopped");
    Ok(())
}

fn demo(dir: Option<PathBuf>, ports: demo::Ports) -> anyhow::Result<()> {
    // Without --dir, a directory of its own, removed at the end.
    let temporary = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("healthdns-demo-{}", std::process::id()))
    });
    let config = demo::write_example(&dir, ports)?;
    let result = demo_in(&config, ports);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn demo_in(config: &std::path::Path, ports: demo::Ports) -> anyhow::Result<()> {
    let config = config.to_path_buf();
    let daemon = Daemon::bind(
        Source {
            config: Some(config.clone()),
            listen: Vec::new(),
            zones: Vec::new(),
            state_dir: None,
        },
        None,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(daemon.workers())
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let backends = demo::Backends::start(ports.backend).await?;
        let (sender, commands) = mpsc::channel(8);
        signals(sender.clone())?;
        let dns = std::net::SocketAddr::from(([127, 0, 0, 1], ports.dns));
        let console = tokio::spawn(demo::console(backends, dns, sender.clone()));
        let told = |ready: &Ready| {
            announce(ready);
            println!(
                "\nServing {} (a failover set: primary 127.0.0.21, secondary 127.0.0.22)\n\
                 from {}.\n\
                 Ask it:      dig @127.0.0.1 -p {} {} A\n\
                 Watch it:    healthdns status --api http://127.0.0.1:{}   or http://127.0.0.1:{}/\n\
                 Type 1 and Enter to stop or start the primary, 2 the secondary, q to quit.\n",
                demo::NAME,
                config.display(),
                ports.dns,
                demo::NAME,
                ports.api,
                ports.api
            );
        };
        daemon.run(sender, commands, told).await?;
        console.abort();
        anyhow::Ok(())
    })?;
    Ok(())
}

/// Runs a drill, ending it early (and restoring) on SIGINT or SIGTERM;
/// prints its report. Success only when it passed.
fn run_drill(options: &drill::Options, json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("healthdns: {err}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        // Installed before the drill changes anything.
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        let interrupt = async move {
            tokio::select! {
                Some(()) = async { term.as_mut()?.recv().await } => {}
                Some(()) = async { int.as_mut()?.recv().await } => {}
                // No handler could be installed: never interrupted.
                else => std::future::pending::<()>().await,
            }
        };
        drill::run(options, interrupt).await
    });
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(err) => eprintln!("healthdns: {err}"),
        }
    } else {
        print!("{}", report.human());
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Says on stdout where the server listens, once it does.
fn announce(ready: &Ready) {
    let mut stdout = std::io::stdout().lock();
    for addr in &ready.dns {
        let _ = writeln!(stdout, "listening on {addr}");
        tracing::info!(%addr, zones = ready.zones, targets = ready.targets, "serving");
    }
    if let Some(api) = ready.api {
        let _ = writeln!(stdout, "api listening on {api}");
    }
    let _ = stdout.flush();
}

/// Turns SIGTERM and SIGINT into a shutdown and SIGHUP into a reload, from
/// now on.
fn signals(commands: mpsc::Sender<ServiceCommand>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let command = tokio::select! {
                biased;
                _ = term.recv() => ServiceCommand::Shutdown,
                _ = int.recv() => ServiceCommand::Shutdown,
                _ = hup.recv() => ServiceCommand::Reload(None),
            };
            let stop = matches!(command, ServiceCommand::Shutdown);
            if commands.send(command).await.is_err() || stop {
                return;
            }
        }
    });
    Ok(())
}
