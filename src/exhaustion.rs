//! Running out of local resources: file descriptors, kernel memory, local
//! ports, processes. Such a failure is this host's, never a peer's: a probe that hits
//! it says nothing of its target, and an accept loop that retries at once
//! spins, since the connection it could not take is still queued.
//!
//! This module names those errors ([`shortage`], [`connect_shortage`],
//! [`spawn_shortage`]), paces the accept loops that meet them
//! ([`Backoff`]) and keeps the logs they cause from flooding
//! ([`Throttle`]).

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The name of the errno when `err` says the process or the host ran out
/// of something: descriptors (EMFILE: this process; ENFILE: the system),
/// socket buffers (ENOBUFS) or memory (ENOMEM).
pub(crate) fn shortage(err: &io::Error) -> Option<&'static str> {
    match err.raw_os_error()? {
        libc::EMFILE => Some("EMFILE"),
        libc::ENFILE => Some("ENFILE"),
        libc::ENOBUFS => Some("ENOBUFS"),
        libc::ENOMEM => Some("ENOMEM"),
        _ => None,
    }
}

/// [`shortage`] for an error of `connect`, which also fails with
/// EADDRNOTAVAIL when no local port is left to connect from. (From `bind`
/// the same errno means an address that is not this host's: a mistake in
/// the config, not a shortage.)
pub(crate) fn connect_shortage(err: &io::Error) -> Option<&'static str> {
    match err.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => Some("EADDRNOTAVAIL"),
        _ => shortage(err),
    }
}

/// [`shortage`] for an error of starting a program: `fork` also fails
/// with EAGAIN when this user or the system may run no more processes or
/// threads. (A program that is missing or may not be run is no shortage.)
pub(crate) fn spawn_shortage(err: &io::Error) -> Option<&'static str> {
    match err.raw_os_error() {
        Some(libc::EAGAIN) => Some("EAGAIN"),
        _ => shortage(err),
    }
}

/// Whether a failed `accept` used up the connection it was about (the
/// client gave up, or a firewall rule refused it): the next connection
/// may be accepted at once. Any other failure leaves the connection
/// queued, and retrying at once fails again.
fn connection_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::EPERM
                | libc::EINTR
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::ENONET
                | libc::ENOPROTOOPT
                | libc::EOPNOTSUPP
        )
    )
}

/// The pause of an accept loop after a failure that left the connection
/// queued: short at first, so a descriptor freed is soon used, doubling
/// while failures go on, up to [`Backoff::MAX`].
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: Backoff::MIN }
    }
}

impl Backoff {
    /// The first pause.
    pub(crate) const MIN: Duration = Duration::from_millis(5);
    /// The longest pause: the most a client waits, once descriptors are
    /// free again, for its queued connection to be accepted.
    pub(crate) const MAX: Duration = Duration::from_millis(100);

    /// How long to wait after `accept` failed with `err` before the next
    /// one: zero when the failure was the connection's own.
    pub(crate) fn after(&mut self, err: &io::Error) -> Duration {
        if connection_error(err) {
            return Duration::ZERO;
        }
        let pause = self.next;
        self.next = (self.next * 2).min(Backoff::MAX);
        pause
    }

    /// After a successful `accept`.
    pub(crate) fn reset(&mut self) {
        self.next = Backoff::MIN;
    }
}

/// An accept loop's next connection: failures are counted in `errors`,
/// and one that left the connection queued (a shortage) pauses as
/// `backoff` says, logged through `throttle` as `what` (`TCP`, `API`), so
/// the loop does not retry as fast as the CPU allows. `None` once
/// `shutdown` fires.
pub(crate) async fn accept(
    listener: &tokio::net::TcpListener,
    backoff: &mut Backoff,
    errors: &AtomicU64,
    throttle: &Throttle,
    what: &str,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return None,
            accepted = listener.accept() => accepted,
        };
        let err = match accepted {
            Ok(accepted) => {
                backoff.reset();
                return Some(accepted);
            }
            Err(err) => err,
        };
        errors.fetch_add(1, Ordering::Relaxed);
        let pause = backoff.after(&err);
        if pause.is_zero() {
            tracing::debug!(%err, "{what} accept failed");
            continue;
        }
        if let Some(held) = throttle.allow() {
            tracing::warn!(%err, ?pause, failures_not_logged = held, "{what} accept failed; pausing");
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Lets a log line through at most once per period and counts the ones
/// held back meanwhile: a shortage fails every accept and every probe, and
/// one line a period says as much as thousands.
#[derive(Debug)]
pub(crate) struct Throttle {
    period_ms: u64,
    /// When the next line may go, in ms since [`epoch`]; 0 at first.
    next: AtomicU64,
    held: AtomicU64,
}

impl Throttle {
    /// At most one line every `period_secs` seconds.
    pub(crate) const fn new(period_secs: u64) -> Throttle {
        Throttle {
            period_ms: period_secs * 1000,
            next: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` when a line may be
    /// logged now; `None` when it is held back (and counted).
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = epoch().elapsed().as_millis() as u64;
        let next = self.next.load(Ordering::Relaxed);
        if now >= next
            && self
                .next
                .compare_exchange(
                    next,
                    now + self.period_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// The time [`Throttle`]s count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn shortages_are_told_from_other_errors() {
        assert_eq!(shortage(&errno(libc::EMFILE)), Some("EMFILE"));
        assert_eq!(shortage(&errno(libc::ENFILE)), Some("ENFILE"));
        assert_eq!(shortage(&errno(libc::ENOBUFS)), Some("ENOBUFS"));
        assert_eq!(shortage(&errno(libc::ENOMEM)), Some("ENOMEM"));
        for other in [libc::ECONNREFUSED, libc::ETIMEDOUT, libc::EADDRNOTAVAIL] {
            assert_eq!(shortage(&errno(other)), None, "errno {other}");
        }
        assert_eq!(shortage(&io::Error::other("no errno")), None);
        assert_eq!(
            connect_shortage(&errno(libc::EADDRNOTAVAIL)),
            Some("EADDRNOTAVAIL"),
            "no local port left"
        );
        assert_eq!(connect_shortage(&errno(libc::EMFILE)), Some("EMFILE"));
        assert_eq!(connect_shortage(&errno(libc::ECONNREFUSED)), None);
        assert_eq!(spawn_shortage(&errno(libc::EAGAIN)), Some("EAGAIN"));
        assert_eq!(spawn_shortage(&errno(libc::ENOMEM)), Some("ENOMEM"));
        for mistake in [libc::ENOENT, libc::EACCES, libc::ENOEXEC] {
            assert_eq!(spawn_shortage(&errno(mistake)), None, "errno {mistake}");
        }
    }

    #[test]
    fn accept_backs_off_on_shortages_and_not_on_a_connection_s_own_error() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.after(&errno(libc::ECONNABORTED)), Duration::ZERO);
        let pauses: Vec<u64> = (0..7)
            .map(|_| backoff.after(&errno(libc::EMFILE)).as_millis() as u64)
            .collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 100, 100]);
        // An unknown error is retried with a pause too: it may well last.
        assert_eq!(backoff.after(&errno(libc::EINVAL)), Backoff::MAX);
        backoff.reset();
        assert_eq!(backoff.after(&errno(libc::ENFILE)), Backoff::MIN);
    }

    #[test]
    fn a_throttle_lets_one_line_through_per_period_and_counts_the_rest() {
        let throttle = Throttle::new(3600);
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        // The period is over: the next line says two were held back.
        throttle.next.store(0, Ordering::Relaxed);
        assert_eq!(throttle.allow(), Some(2));
        assert_eq!(throttle.allow(), None);
    }
}
