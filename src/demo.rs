//! `healthdns demo`: a failover to watch on one machine. It writes the
//! shipped example (`examples/failover/`) to a directory, starts two demo
//! web servers for its primary and secondary on loopback, serves the
//! example with them as backends, and lets the user stop and start either
//! from the keyboard while it prints each change of the answer.

use std::io::{self, BufRead};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::service::Command;

/// The example config, as shipped.
const CONFIG: &str = include_str!("../examples/failover/healthdns.toml");
/// The example zone, as shipped.
const ZONE: &str = include_str!("../examples/failover/failover.test.zone");
/// The failover set the demo watches.
pub const NAME: &str = "app.failover.test.";
/// The primary's and the secondary's addresses, as the zone has them.
pub const BACKENDS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 0, 0, 21), Ipv4Addr::new(127, 0, 0, 22)];

/// Where the demo listens: DNS, the admin API, and the backends' port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// DNS, UDP and TCP, on 127.0.0.1.
    pub dns: u16,
    /// The admin API, on 127.0.0.1.
    pub api: u16,
    /// The demo web servers', on each backend address.
    pub backend: u16,
}

impl Default for Ports {
    fn default() -> Ports {
        Ports {
            dns: 5353,
            api: 8053,
            backend: 8080,
        }
    }
}

/// Writes the example config and zone into `dir`, with `ports`; returns
/// the config's path.
pub fn write_example(dir: &Path, ports: Ports) -> io::Result<PathBuf> {
    let config = CONFIG
        .replace("127.0.0.1:5353", &format!("127.0.0.1:{}", ports.dns))
        .replace("127.0.0.1:8053", &format!("127.0.0.1:{}", ports.api))
        .replace("port = 8080", &format!("port = {}", ports.backend));
    std::fs::create_dir_all(dir)?;
    let path = dir.join("healthdns.toml");
    std::fs::write(&path, config)?;
    std::fs::write(dir.join("failover.test.zone"), ZONE)?;
    Ok(path)
}

/// The two demo web servers: `GET /health` is 200 while a server is up;
/// a server that is down refuses connections, as a dead host's port does.
#[derive(Debug)]
pub struct Backends {
    up: [watch::Sender<bool>; 2],
}

impl Backends {
    /// Binds both on `port` and serves them until dropped.
    pub async fn start(port: u16) -> io::Result<Backends> {
        let mut up = Vec::new();
        for addr in BACKENDS {
            let listener = TcpListener::bind((addr, port)).await?;
            let (sender, receiver) = watch::channel(true);
            tokio::spawn(serve(listener, SocketAddr::from((addr, port)), receiver));
            up.push(sender);
        }
        let [primary, secondary]: [watch::Sender<bool>; 2] = up
            .try_into()
            .map_err(|_| io::Error::other("two backends"))?;
        Ok(Backends {
            up: [primary, secondary],
        })
    }

    /// Stops backend `i` (0: primary, 1: secondary) if it is up, starts
    /// it if it is down; says whether it is up now.
    pub fn toggle(&self, i: usize) -> bool {
        let up = !*self.up[i].borrow();
        self.up[i].send_replace(up);
        up
    }
}

/// One demo web server: listens while `up` says so.
async fn serve(listener: TcpListener, addr: SocketAddr, mut up: watch::Receiver<bool>) {
    let mut listener = Some(listener);
    loop {
        match &listener {
            Some(open) => {
                tokio::select! {
                    changed = up.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if !*up.borrow() {
                            listener = None;
                        }
                    }
                    accepted = open.accept() => {
                        if let Ok((stream, _)) = accepted {
                            tokio::spawn(answer(stream));
                        }
                    }
                }
            }
            None => {
                if up.changed().await.is_err() {
                    return;
                }
                if *up.borrow() {
                    listener = TcpListener::bind(addr).await.ok();
                }
            }
        }
    }
}

/// Reads a request's head and says 200.
async fn answer(mut stream: tokio::net::TcpStream) {
    let mut buf = [0u8; 1024];
    let mut read = 0;
    while read < buf.len() && !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf[read..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
        .await;
}

/// What the keyboard asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Stop or start backend 0 or 1.
    Toggle(usize),
    /// End the demo.
    Quit,
}

/// Reads keys from standard input, one a line, on a thread of its own:
/// `1` and `2` stop or start the primary and the secondary, `q` quits, as
/// does the end of the input.
pub fn keys() -> tokio::sync::mpsc::Receiver<Key> {
    let (sender, receiver) = tokio::sync::mpsc::channel(8);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let key = match line.as_deref().map(str::trim) {
                Ok("1") => Key::Toggle(0),
                Ok("2") => Key::Toggle(1),
                Ok("q") | Err(_) => Key::Quit,
                Ok(_) => {
                    println!("1: stop/start the primary   2: the secondary   q: quit");
                    continue;
                }
            };
            if sender.blocking_send(key).is_err() || key == Key::Quit {
                return;
            }
        }
        let _ = sender.blocking_send(Key::Quit);
    });
    receiver
}

/// Asks `server` for [`NAME`] A over UDP: the addresses answered, or why
/// there are none.
pub async fn ask(server: SocketAddr) -> Result<Vec<IpAddr>, String> {
    let name = Name::from_ascii(NAME).map_err(|err| err.to_string())?;
    let mut query = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    query.add_query(Query::query(name, RecordType::A));
    let bytes = query.to_vec().map_err(|err| err.to_string())?;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|err| err.to_string())?;
    socket
        .send_to(&bytes, server)
        .await
        .map_err(|err| err.to_string())?;
    let mut buf = [0u8; 1232];
    let len = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf))
        .await
        .map_err(|_| "no answer".to_owned())?
        .map_err(|err| err.to_string())?;
    let response = Message::from_vec(&buf[..len]).map_err(|err| err.to_string())?;
    Ok(response
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect())
}

fn rand_id() -> u16 {
    crate::random::below(u64::from(u16::MAX) + 1) as u16
}

/// Says which backend an answer names.
pub fn describe(answer: &[IpAddr]) -> String {
    let names: Vec<String> = answer
        .iter()
        .map(|addr| match addr {
            IpAddr::V4(v4) if *v4 == BACKENDS[0] => format!("{addr} (primary)"),
            IpAddr::V4(v4) if *v4 == BACKENDS[1] => format!("{addr} (secondary)"),
            _ => addr.to_string(),
        })
        .collect();
    names.join(", ")
}

/// The demo's console: obeys the keys, and prints the answer whenever it
/// changes (asked four times a second) until a key says quit.
pub async fn console(
    backends: Backends,
    dns: std::net::SocketAddr,
    commands: tokio::sync::mpsc::Sender<Command>,
) {
    let mut keys = keys();
    let mut last = None;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    let role = ["primary", "secondary"];
    loop {
        tokio::select! {
            key = keys.recv() => match key {
                Some(Key::Toggle(i)) => {
                    let up = backends.toggle(i);
                    println!("{}  {} {}", clock(), role[i], if up { "started" } else { "stopped" });
                }
                Some(Key::Quit) | None => {
                    let _ = commands.send(Command::Shutdown).await;
                    return;
                }
            },
            _ = tick.tick() => {
                let now = ask(dns).await.map(|answer| describe(&answer));
                if last.as_ref() != Some(&now) {
                    match &now {
                        Ok(answer) => println!("{}  {} A -> {answer}", clock(), NAME),
                        Err(err) => println!("{}  {} A: {err}", clock(), NAME),
                    }
                    last = Some(now);
                }
            }
        }
    }
}

/// The time of day (UTC), to the millisecond, for the demo's lines.
fn clock() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, millis) = (now.as_secs() % 86_400, now.subsec_millis());
    format!(
        "{:02}:{:02}:{:02}.{millis:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
