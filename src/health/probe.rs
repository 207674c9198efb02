//! One probe of one target: a TCP connect, an HTTP(S) request judged by
//! status and body, a command ([`exec`](super::exec)), or the probes of a
//! calculated check's children combined ([`calculated`](super::calculated)).
//! A [`Plan`] says which, prepared once per target when its loop starts.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::{TcpSocket, TcpStream};

use super::{calculated, exec};
use crate::config::{Check, Kind, Operator};
use crate::exhaustion::{connect_shortage, shortage};
use crate::health::TargetKey;

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Whether the target passed.
    pub passed: bool,
    /// Why, in a few words (`HTTP 200`, `timeout after 1s`, …).
    pub reason: String,
    /// What kind of reason, for metrics.
    pub class: ReasonClass,
    /// How long the probe took.
    pub latency: Duration,
    /// How long it waited for a local resource before it could start (an
    /// exec slot): the probe started that much later than it was due.
    pub waited: Duration,
}

/// The kind of a probe's result or of an operator's change: few values, so
/// it can label a metric where the reason's text cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonClass {
    /// Passed.
    Ok,
    /// An HTTP status the check does not expect.
    Status,
    /// No answer within the timeout.
    Timeout,
    /// The connection failed (refused, reset, unreachable).
    Connect,
    /// The body lacked the text, or could not be read.
    Body,
    /// The TLS handshake or the certificate failed.
    Tls,
    /// An exec check's command exited with another status than 0, or was
    /// killed by a signal.
    Exit,
    /// Anything else.
    Error,
    /// An operator's override or its end.
    Override,
    /// The instances of a cluster agreed on it, or their verdict lapsed.
    Cluster,
    /// The probe could not run for want of a local resource (file
    /// descriptors, memory, a local port): the checker's failure, not the
    /// target's, so neither a pass nor a fail.
    Local,
    /// A drill's simulated failure (`healthdns drill`): the probe did not
    /// run, and failed as a real one would.
    Drill,
}

impl ReasonClass {
    /// The `reason` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonClass::Ok => "ok",
            ReasonClass::Status => "status",
            ReasonClass::Timeout => "timeout",
            ReasonClass::Connect => "connect",
            ReasonClass::Body => "body",
            ReasonClass::Tls => "tls",
            ReasonClass::Exit => "exit",
            ReasonClass::Error => "error",
            ReasonClass::Override => "override",
            ReasonClass::Cluster => "cluster",
            ReasonClass::Local => "local",
            ReasonClass::Drill => "drill",
        }
    }

    /// The class of a failed connect (or of what it takes first: a name
    /// resolved, a socket), `local` telling which errors are shortages.
    fn of_io(
        err: &std::io::Error,
        local: fn(&std::io::Error) -> Option<&'static str>,
    ) -> ReasonClass {
        if local(err).is_some() {
            return ReasonClass::Local;
        }
        match err.kind() {
            std::io::ErrorKind::TimedOut => ReasonClass::Timeout,
            _ => ReasonClass::Connect,
        }
    }

    /// The class of a failed HTTP request. reqwest says timeouts, connects
    /// and bodies apart, but a TLS failure only in its causes' text, and a
    /// local shortage only in the I/O error among its causes, which `local`
    /// judges.
    fn of_http(
        err: &reqwest::Error,
        text: &str,
        local: fn(&std::io::Error) -> Option<&'static str>,
    ) -> ReasonClass {
        let mut cause = std::error::Error::source(err);
        while let Some(error) = cause {
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| local(io).is_some())
            {
                return ReasonClass::Local;
            }
            cause = error.source();
        }
        let text = text.to_ascii_lowercase();
        if err.is_timeout() || text.contains("timed out") {
            ReasonClass::Timeout
        } else if text.contains("certificate") || text.contains("tls") {
            ReasonClass::Tls
        } else if err.is_body() || err.is_decode() {
            ReasonClass::Body
        } else if err.is_connect() || text.contains("refused") || text.contains("reset") {
            ReasonClass::Connect
        } else {
            ReasonClass::Error
        }
    }
}

/// Why a probe failed.
type Failure = (String, ReasonClass);

/// HTTP clients, shared by every target that can share one: reqwest pools
/// connections per client, and a client per target would cost a TLS config
/// each. Only https with a `host` needs its own (SNI comes from the URL).
#[derive(Debug)]
pub(crate) struct Clients {
    /// One client per [`ClientKey`] in use. Behind a lock because the
    /// sources are only known from the checks, so the clients with a source
    /// are built when the first target needing one starts; taken once per
    /// target start, never per probe.
    shared: Mutex<HashMap<ClientKey, reqwest::Client>>,
}

/// What a client fixes for every request it sends, so what two targets
/// must agree on to share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientKey {
    tls_verify: bool,
    follow_redirects: bool,
    source: Option<IpAddr>,
}

impl ClientKey {
    fn of(check: &Check) -> ClientKey {
        ClientKey {
            tls_verify: check.tls_verify,
            follow_redirects: check.follow_redirects,
            source: check.source,
        }
    }

    fn builder(self) -> reqwest::ClientBuilder {
        let redirects = if self.follow_redirects {
            reqwest::redirect::Policy::limited(5)
        } else {
            reqwest::redirect::Policy::none()
        };
        let builder = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(!self.tls_verify)
            .redirect(redirects)
            .no_proxy()
            .user_agent(concat!("healthdns/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(1);
        match self.source {
            Some(source) => builder
                .local_address(source)
                .dns_resolver(SameFamily(source)),
            None => builder,
        }
    }
}

impl Clients {
    /// Builds the clients without a source, so that a TLS setup that
    /// cannot work fails at start-up.
    pub(crate) fn new() -> Result<Clients, reqwest::Error> {
        let mut shared = HashMap::new();
        for tls_verify in [true, false] {
            for follow_redirects in [true, false] {
                let key = ClientKey {
                    tls_verify,
                    follow_redirects,
                    source: None,
                };
                shared.insert(key, key.builder().build()?);
            }
        }
        Ok(Clients {
            shared: Mutex::new(shared),
        })
    }

    /// The client and URL for probing `key` with `check`.
    pub(crate) fn for_target(
        &self,
        check: &Check,
        key: &TargetKey,
    ) -> Result<(reqwest::Client, String), Unprobeable> {
        let scheme = if check.kind == Kind::Https {
            "https"
        } else {
            "http"
        };
        match (&check.host, check.kind) {
            (Some(host), Kind::Https) => {
                let addr = key
                    .authority()
                    .parse()
                    .map_err(|_| Unprobeable::HostNeedsAddress(key.host.clone()))?;
                let client = ClientKey::of(check).builder().resolve(host, addr).build()?;
                Ok((client, format!("https://{host}:{}{}", key.port, check.path)))
            }
            _ => Ok((
                self.shared(ClientKey::of(check))?,
                format!("{scheme}://{}{}", key.authority(), check.path),
            )),
        }
    }

    /// The client for `key`, built on first use.
    fn shared(&self, key: ClientKey) -> Result<reqwest::Client, reqwest::Error> {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        match shared.entry(key) {
            Entry::Occupied(client) => Ok(client.get().clone()),
            Entry::Vacant(slot) => {
                let client = key.builder().build()?;
                Ok(slot.insert(client).clone())
            }
        }
    }
}

/// Why a target cannot be probed at all (its loop does not start).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unprobeable {
    /// SNI comes from the URL, so the name must be pinned to an address.
    #[error("https with host= needs an IP target, not {0}")]
    HostNeedsAddress(String),
    /// reqwest could not build a client.
    #[error("cannot build an HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// An exec check came without its command.
    #[error("check {0} is exec and has no command")]
    NoCommand(String),
}

/// What every probe loop shares: the HTTP clients, and the slots for exec
/// checks' commands.
#[derive(Debug)]
pub(crate) struct Shared {
    /// HTTP(S) clients.
    pub(crate) clients: Clients,
    /// Exec commands running at once.
    pub(crate) exec: exec::Limit,
}

/// How to probe one target, prepared once when its loop starts: the
/// client and URL of an HTTP(S) check, the rendered command of an exec
/// check, a plan per child of a calculated check.
#[derive(Debug)]
pub(crate) struct Plan {
    check: Arc<Check>,
    key: TargetKey,
    how: How,
}

#[derive(Debug)]
enum How {
    Tcp,
    Http(reqwest::Client, String),
    Exec(exec::Prepared),
    Calculated(Operator, Vec<Plan>),
}

impl Plan {
    /// The plan for probing `key` with `check`. A calculated check's
    /// children probe the same address, each on its own port.
    pub(crate) fn new(
        check: &Arc<Check>,
        key: &TargetKey,
        shared: &Shared,
    ) -> Result<Plan, Unprobeable> {
        let how = match check.kind {
            Kind::Tcp => How::Tcp,
            Kind::Http | Kind::Https => {
                let (client, url) = shared.clients.for_target(check, key)?;
                How::Http(client, url)
            }
            Kind::Exec => {
                let command = check
                    .command
                    .as_ref()
                    .ok_or_else(|| Unprobeable::NoCommand(check.name.clone()))?;
                How::Exec(exec::Prepared::new(command, check, key, &shared.exec))
            }
            Kind::Calculated(operator) => {
                let children = check
                    .children
                    .iter()
                    .map(|child| {
                        let key = TargetKey {
                            check: child.name.clone(),
                            host: key.host.clone(),
                            port: child.port,
                        };
                        Plan::new(child, &key, shared)
                    })
                    .collect::<Result<_, _>>()?;
                How::Calculated(operator, children)
            }
        };
        Ok(Plan {
            check: check.clone(),
            key: key.clone(),
            how,
        })
    }

    /// The check this plan probes with.
    pub(crate) fn check(&self) -> &Check {
        &self.check
    }

    /// Probes once. Boxed: a calculated check's probe holds its children's.
    pub(crate) fn probe(&self) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
        Box::pin(async move {
            match &self.how {
                How::Tcp => network(&self.check, &self.key, None).await,
                How::Http(client, url) => {
                    network(&self.check, &self.key, Some((client, url))).await
                }
                How::Exec(command) => command.probe().await,
                How::Calculated(operator, children) => calculated::probe(*operator, children).await,
            }
        })
    }
}

/// Resolves host names for a client with a source to the addresses of the
/// source's family only: hyper would connect to the others from an unbound
/// socket, so from another address than the check says.
struct SameFamily(IpAddr);

impl reqwest::dns::Resolve for SameFamily {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let source = self.0;
        Box::pin(async move {
            let host = name.as_str();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
                .await?
                .filter(|addr| addr.is_ipv4() == source.is_ipv4())
                .collect();
            if addrs.is_empty() {
                return Err(other_family(source, host).0.into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A probe from `source` can only reach a target of its family.
fn other_family(source: IpAddr, target: &str) -> Failure {
    let family = if source.is_ipv4() { "IPv4" } else { "IPv6" };
    (
        format!("source {source} is {family}, and target {target} has no {family} address"),
        ReasonClass::Error,
    )
}

/// Probes once over the network (TCP, or HTTP(S) with its client and
/// URL), within the check's timeout.
async fn network(
    check: &Check,
    key: &TargetKey,
    http: Option<(&reqwest::Client, &str)>,
) -> Outcome {
    let started = Instant::now();
    let result = tokio::time::timeout(check.timeout, async {
        if let Some(source) = check.source
            && let Ok(target) = key.host.parse::<IpAddr>()
            && target.is_ipv4() != source.is_ipv4()
        {
            return Err(other_family(source, &key.host));
        }
        match (check.kind, http) {
            (Kind::Tcp, _) => connect(check.source, key)
                .await
                .map(|_| "connected".to_owned()),
            (Kind::Http | Kind::Https, Some((client, url))) => request(check, client, url).await,
            _ => Err(("no HTTP client".to_owned(), ReasonClass::Error)),
        }
    })
    .await;
    let latency = started.elapsed();
    let (passed, reason, class) = match result {
        Ok(Ok(reason)) => (true, reason, ReasonClass::Ok),
        Ok(Err((reason, class))) => (false, reason, class),
        Err(_) => (
            false,
            format!("timeout after {:?}", check.timeout),
            ReasonClass::Timeout,
        ),
    };
    Outcome {
        passed,
        reason,
        class,
        latency,
        waited: Duration::ZERO,
    }
}

/// Opens a TCP connection to `key`, from `source` when given.
async fn connect(source: Option<IpAddr>, key: &TargetKey) -> Result<TcpStream, Failure> {
    let failed = |what: &'static str, local: fn(&std::io::Error) -> Option<&'static str>| {
        move |err: std::io::Error| (format!("{what}: {err}"), ReasonClass::of_io(&err, local))
    };
    let Some(source) = source else {
        // Resolving, the socket and the connect: each can fail for want of
        // a descriptor, and only the connect binds (a local port).
        return TcpStream::connect(key.authority())
            .await
            .map_err(failed("connect", connect_shortage));
    };
    let mut last = None;
    for addr in tokio::net::lookup_host(key.authority())
        .await
        .map_err(failed("resolve", shortage))?
    {
        if addr.is_ipv4() != source.is_ipv4() {
            continue;
        }
        let socket = if source.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(failed("socket", shortage))?;
        defer_port_choice(&socket);
        // A source that is not this host's (EADDRNOTAVAIL) is a mistake
        // in the config: the probe fails.
        socket.bind(SocketAddr::new(source, 0)).map_err(|err| {
            let class = match shortage(&err) {
                Some(_) => ReasonClass::Local,
                None => ReasonClass::Error,
            };
            (format!("bind to source {source}: {err}"), class)
        })?;
        match socket.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(failed("connect", connect_shortage)(err)),
        }
    }
    Err(last.unwrap_or_else(|| other_family(source, &key.host)))
}

/// Has the kernel pick the source port at connect, per destination, as it
/// does for an unbound socket. Binding (source, 0) would otherwise reserve
/// the port for every destination, through TIME_WAIT too, and a few hundred
/// targets probed every second would use up the ephemeral range. Best
/// effort: a kernel without the option (before 4.2) binds the port.
fn defer_port_choice(socket: &TcpSocket) {
    let on: libc::c_int = 1;
    // SAFETY: the kernel reads size_of::<c_int>() bytes from `on`, which
    // lives across the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

async fn request(check: &Check, client: &reqwest::Client, url: &str) -> Result<String, Failure> {
    let mut request = if check.head {
        client.head(url)
    } else {
        client.get(url)
    };
    if let (Some(host), Kind::Http) = (&check.host, check.kind) {
        request = request.header(reqwest::header::HOST, host);
    }
    for (name, value) in &check.headers {
        request = request.header(name, value);
    }
    let failed = |err: reqwest::Error| describe(&err, check.source.is_some());
    let mut response = request.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    if !check
        .expect_status
        .iter()
        .any(|range| range.contains(&status))
    {
        return Err((format!("HTTP {status} not expected"), ReasonClass::Status));
    }
    let Some(needle) = &check.body_contains else {
        return Ok(format!("HTTP {status}"));
    };
    let mut body = Vec::new();
    while body.len() < check.max_body {
        match response.chunk().await.map_err(failed)? {
            Some(chunk) => {
                body.extend_from_slice(&chunk[..chunk.len().min(check.max_body - body.len())])
            }
            None => break,
        }
    }
    let found = body
        .windows(needle.len().max(1))
        .any(|window| window == needle.as_bytes());
    if found {
        Ok(format!("HTTP {status}, body has {needle:?}"))
    } else {
        Err((
            format!("HTTP {status} but body lacks {needle:?}"),
            ReasonClass::Body,
        ))
    }
}

/// reqwest's error with its causes, which say what really failed, and
/// its class. With a `bound` source, the client binds before it connects,
/// and EADDRNOTAVAIL is the bind's: a source not this host's.
fn describe(err: &reqwest::Error, bound: bool) -> Failure {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let local = if bound { shortage } else { connect_shortage };
    let class = ReasonClass::of_http(err, &text, local);
    (text, class)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Checks;

    fn checks(text: &str) -> Checks {
        crate::config::parse(Path::new("t.toml"), text)
            .unwrap_or_else(|e| panic!("{e:#?}"))
            .checks
    }

    fn target(check: &Check, host: &str, port: u16) -> TargetKey {
        TargetKey {
            check: check.name.clone(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn targets_share_one_client_per_verify_redirects_and_source() {
        let checks = checks(
            "[check.a]\ntype = \"http\"\nsource = \"127.0.0.3\"\n\
             [check.b]\ntype = \"http\"\npath = \"/other\"\ninterval = \"5s\"\nsource = \"127.0.0.3\"\n\
             [check.c]\ntype = \"https\"\nsource = \"127.0.0.3\"\n\
             [check.d]\ntype = \"http\"\nsource = \"127.0.0.2\"\n\
             [check.e]\ntype = \"http\"\nsource = \"127.0.0.3\"\nfollow-redirects = true\n\
             [check.f]\ntype = \"http\"\n",
        );
        let key = |name: &str| ClientKey::of(&checks[name]);
        assert_eq!(key("a"), key("b"), "path and interval are per request");
        assert_eq!(key("a"), key("c"), "one client speaks http and https");
        assert_ne!(key("a"), key("d"), "another source");
        assert_ne!(key("a"), key("e"), "another redirect policy");
        assert_ne!(key("a"), key("f"), "no source");
        assert_eq!(key("f").source, None);

        let clients = Clients::new().unwrap();
        let pooled = || clients.shared.lock().unwrap().len();
        let without_source = pooled();
        for (name, host) in [
            ("a", "127.0.0.21"),
            ("a", "127.0.0.22"),
            ("b", "127.0.0.23"),
            ("c", "127.0.0.21"),
            ("d", "127.0.0.21"),
            ("e", "127.0.0.21"),
            ("f", "127.0.0.21"),
        ] {
            let check = &checks[name];
            clients.for_target(check, &target(check, host, 80)).unwrap();
        }
        assert_eq!(
            pooled(),
            without_source + 3,
            "one client each for a/b/c, d and e; f shares a prebuilt one"
        );
    }

    #[tokio::test]
    async fn a_tcp_probe_leaves_from_its_source() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let checks = checks(&format!(
            "[check.db]\ntype = \"tcp\"\nport = {port}\nsource = \"127.0.0.3\"\n"
        ));
        let check = &checks["db"];
        let outcome = network(check, &target(check, "127.0.0.1", port), None).await;
        assert!(outcome.passed, "{outcome:?}");
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), IpAddr::from([127, 0, 0, 3]));
    }

    #[tokio::test]
    async fn a_source_of_the_other_family_fails_the_probe_with_why() {
        let checks = checks(
            "[check.db]\ntype = \"tcp\"\nport = 9\nsource = \"::1\"\n\
             [check.web]\ntype = \"http\"\nsource = \"127.0.0.3\"\n",
        );
        let clients = Clients::new().unwrap();
        for (name, host, why) in [
            (
                "db",
                "127.0.0.1",
                "source ::1 is IPv6, and target 127.0.0.1 has no IPv6 address",
            ),
            (
                "web",
                "::1",
                "source 127.0.0.3 is IPv4, and target ::1 has no IPv4 address",
            ),
        ] {
            let check = &checks[name];
            let key = target(check, host, 9);
            let http = (check.kind != Kind::Tcp).then(|| clients.for_target(check, &key).unwrap());
            let http = http.as_ref().map(|(client, url)| (client, url.as_str()));
            let outcome = network(check, &key, http).await;
            assert!(!outcome.passed, "{outcome:?}");
            assert_eq!(
                (outcome.reason.as_str(), outcome.class),
                (why, ReasonClass::Error)
            );
        }
    }

    #[tokio::test]
    async fn names_resolve_to_the_sources_family_only() {
        use reqwest::dns::Resolve;
        let localhost = || "localhost".parse().unwrap();
        let v4: Vec<SocketAddr> = SameFamily([127, 0, 0, 3].into())
            .resolve(localhost())
            .await
            .unwrap()
            .collect();
        assert!(
            !v4.is_empty() && v4.iter().all(SocketAddr::is_ipv4),
            "{v4:?}"
        );
        // localhost may or may not have an IPv6 address here.
        match SameFamily(std::net::Ipv6Addr::LOCALHOST.into())
            .resolve(localhost())
            .await
        {
            Ok(addrs) => assert!(addrs.into_iter().all(|a| a.is_ipv6())),
            Err(err) => assert_eq!(
                err.to_string(),
                "source ::1 is IPv6, and target localhost has no IPv6 address"
            ),
        }
    }

    #[test]
    fn shortages_are_the_checker_s_errors_and_the_rest_the_target_s() {
        let errno = std::io::Error::from_raw_os_error;
        let of_connect = |code| ReasonClass::of_io(&errno(code), connect_shortage);
        let of_socket = |code| ReasonClass::of_io(&errno(code), shortage);
        assert_eq!(of_connect(libc::EMFILE), ReasonClass::Local);
        assert_eq!(of_connect(libc::ENFILE), ReasonClass::Local);
        assert_eq!(of_connect(libc::ENOBUFS), ReasonClass::Local);
        assert_eq!(
            of_connect(libc::EADDRNOTAVAIL),
            ReasonClass::Local,
            "no port left"
        );
        assert_eq!(of_connect(libc::ECONNREFUSED), ReasonClass::Connect);
        assert_eq!(of_connect(libc::ENETUNREACH), ReasonClass::Connect);
        assert_eq!(of_connect(libc::ETIMEDOUT), ReasonClass::Timeout);
        assert_eq!(of_socket(libc::ENOMEM), ReasonClass::Local);
        assert_eq!(of_socket(libc::EADDRNOTAVAIL), ReasonClass::Connect);
    }

    #[tokio::test]
    async fn a_source_that_is_not_local_fails_the_probe_with_why() {
        let checks = checks("[check.db]\ntype = \"tcp\"\nport = 9\nsource = \"203.0.113.7\"\n");
        let check = &checks["db"];
        let outcome = network(check, &target(check, "127.0.0.1", 9), None).await;
        assert!(!outcome.passed, "{outcome:?}");
        assert!(
            outcome.reason.starts_with("bind to source 203.0.113.7: "),
            "{outcome:?}"
        );
        assert_eq!(outcome.class, ReasonClass::Error);
    }
}
