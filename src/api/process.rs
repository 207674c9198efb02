//! The process's own figures, read from `/proc` at each scrape, under the
//! names every Prometheus client library gives them (`process_*`), so the
//! usual dashboards and alerts apply.

/// What `/proc` says of this process. A figure that cannot be read (no
/// `/proc`, another kernel's format) is `None` and its family is left out.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Process {
    /// User and system CPU time, in seconds.
    pub(crate) cpu_seconds: Option<f64>,
    /// Resident set size, in bytes.
    pub(crate) resident_bytes: Option<u64>,
    /// Virtual memory size, in bytes.
    pub(crate) virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub(crate) open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub(crate) max_fds: Option<u64>,
    /// Start time, in seconds since the Unix epoch.
    pub(crate) start_time_seconds: Option<f64>,
}

/// Reads this process's figures.
pub(crate) fn read() -> Process {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| boot_time(&text));
    let limits = std::fs::read_to_string("/proc/self/limits").ok();
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|dir| dir.count() as u64);
    // SAFETY: sysconf reads a constant of the system; no memory is shared.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let mut process = stat
        .as_deref()
        .map(|stat| from_stat(stat, ticks as f64, page.max(0) as u64, boot))
        .unwrap_or_default();
    process.open_fds = open_fds;
    process.max_fds = limits.as_deref().and_then(max_open_files);
    process
}

/// The figures of `/proc/self/stat` (see proc(5)), given the clock ticks
/// per second, the page size and the boot time (seconds since the epoch).
fn from_stat(stat: &str, ticks: f64, page: u64, boot: Option<f64>) -> Process {
    // The command name (field 2) is in parentheses and may hold spaces
    // and parentheses itself: fields are counted after the last `)`.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Process::default();
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field N of proc(5) (1-based) is fields[N - 3].
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let ticks = (ticks > 0.0).then_some(ticks);
    Process {
        cpu_seconds: field(14)
            .zip(field(15))
            .zip(ticks)
            .map(|((user, system), ticks)| (user + system) as f64 / ticks),
        resident_bytes: field(24).map(|pages| pages * page),
        virtual_bytes: field(23),
        start_time_seconds: field(22)
            .zip(ticks)
            .zip(boot)
            .map(|((start, ticks), boot)| boot + start as f64 / ticks),
        ..Process::default()
    }
}

/// `btime` of `/proc/stat`: boot time, in seconds since the epoch.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_stat_line_whose_name_has_spaces_and_parentheses() {
        let stat = "4242 (health dns) (x)) S 1 4242 4242 0 -1 4194560 1015 0 0 0 \
                    250 50 0 0 20 0 9 0 3000 123456789 2500 18446744073709551615";
        let p = from_stat(stat, 100.0, 4096, Some(1_700_000_000.0));
        assert_eq!(p.cpu_seconds, Some(3.0), "(250 + 50) ticks at 100 Hz");
        assert_eq!(p.resident_bytes, Some(2500 * 4096));
        assert_eq!(p.virtual_bytes, Some(123_456_789));
        assert_eq!(p.start_time_seconds, Some(1_700_000_030.0));
        assert_eq!(from_stat("garbage", 100.0, 4096, None), Process::default());
    }

    #[test]
    fn reads_boot_time_and_the_open_files_limit() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000.0)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63450                63450                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
    }

    #[test]
    fn this_process_has_every_figure() {
        let p = read();
        assert!(p.cpu_seconds.is_some_and(|s| s >= 0.0), "{p:?}");
        assert!(p.resident_bytes.is_some_and(|b| b > 0), "{p:?}");
        assert!(p.open_fds.is_some_and(|n| n >= 3), "{p:?}");
        assert!(p.max_fds.is_some_and(|n| n >= p.open_fds.unwrap()), "{p:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            p.start_time_seconds
                .is_some_and(|t| t <= now + 1.0 && t > now - 86_400.0 * 365.0),
            "{p:?}"
        );
    }
}
