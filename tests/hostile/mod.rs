//! Hostile files and clients, end to end: what `healthdns check`, `serve`
//! and a reload do with a device, a FIFO, a directory, a file over the size
//! limit, and tens of thousands of lines of junk; and (`flood`) what DNS
//! over TCP, the API and the checks do under floods of idle connections
//! and out of file descriptors.
//!
//! Every run has a deadline and a memory bound of its own, so that a
//! server that hangs on a FIFO or reads `/dev/zero` without end fails its
//! test instead of hanging CI or exhausting the machine's memory. The
//! deadlines are generous: they turn a hang into a failure, nothing more.

mod flood;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::api::{NAME, PRIMARY, start};
use crate::health::{assert_answer, zone_text};
use crate::util::bin;

/// How long one `check` or `serve` may run before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(30);

/// The address space a `check` may use: far above what it needs, far
/// below what reading `/dev/zero` without end would take.
const CHECK_MEMORY: u64 = 2 << 30;

/// The address space a running server may add to what it has at the
/// start of a test.
const SERVER_EXTRA_MEMORY: u64 = 2 << 30;

/// What `healthdns check` printed on stderr, line by line, and its exit
/// status; whatever it printed must be UTF-8 without control characters
/// other than the newlines.
struct Checked {
    code: i32,
    lines: Vec<String>,
}

/// Runs `healthdns ARGS…` under [`DEADLINE`] and [`CHECK_MEMORY`].
fn run(args: &[&OsStr]) -> Output {
    let mut command = Command::new(bin());
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    limit_memory(&mut command, CHECK_MEMORY);
    let mut child = command.spawn().expect("spawn healthdns");
    // Drained on threads: a flood of errors must not block the child on a
    // full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("healthdns {args:?} still running after {DEADLINE:?}: it hangs");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Limits the address space of the process `command` starts.
fn limit_memory(command: &mut Command, bytes: u64) {
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between
    // fork and exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `healthdns check [--config CONFIG] ZONES…`.
fn check(config: Option<&Path>, zones: &[&Path]) -> Checked {
    let mut args: Vec<&OsStr> = vec![OsStr::new("check")];
    if let Some(config) = config {
        args.extend([OsStr::new("--config"), config.as_os_str()]);
    }
    args.extend(zones.iter().map(|z| z.as_os_str()));
    let out = run(&args);
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("check killed by a signal: {:?}", out.status));
    Checked {
        code,
        lines: shown_lines(&out.stderr),
    }
}

/// The lines of `bytes`, which must be UTF-8 without control characters
/// other than the newlines ending them.
#[track_caller]
fn shown_lines(bytes: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("output is not UTF-8 ({e}): {:?}", truncated(bytes)));
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for line in &lines {
        assert!(
            !line.chars().any(char::is_control),
            "a control character in {line:?}"
        );
    }
    lines
}

fn truncated(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]).into_owned()
}

/// The standard zone head with `records`, written to `dir/name`.
fn zone(dir: &Path, name: &str, records: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, zone_text(records)).unwrap();
    path
}

fn mkfifo(path: &Path) {
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// `count` lines of junk, from a fixed seed: control bytes, bytes that are
/// not UTF-8, quotes, stray `)`; no `(`, so that each line stays an entry
/// (and an error) of its own.
fn junk(count: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8
    };
    let mut out = Vec::new();
    for _ in 0..count {
        let len = 8 + usize::from(next() % 40);
        out.extend((0..len).map(|_| match next() {
            b'\n' => b'\x1b',
            b'(' => b')',
            b => b,
        }));
        out.push(b'\n');
    }
    out
}

#[track_caller]
fn assert_line(lines: &[String], prefix: &str, rest: &str) {
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(prefix) && l.ends_with(rest)),
        "no line `{prefix}…{rest}` in:\n{}",
        lines.join("\n")
    );
}

#[test]
fn check_refuses_dev_zero_included_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let main = zone(dir.path(), "z.zone", "$INCLUDE /dev/zero");
    let found = check(None, &[&main]);
    assert_eq!(found.code, 1, "{:#?}", found.lines);
    let z = main.display();
    assert_line(
        &found.lines,
        &format!("{z}:6: "),
        "/dev/zero is a character device: only regular files are read",
    );
    let found = check(None, &[Path::new("/dev/zero")]);
    assert_eq!(found.code, 1, "{:#?}", found.lines);
    assert_line(
        &found.lines,
        "/dev/zero:1: ",
        "is a character device: only regular files are read",
    );
}

#[test]
fn check_refuses_a_fifo_as_zone_or_include_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.zone");
    mkfifo(&fifo);
    let main = zone(dir.path(), "z.zone", "$INCLUDE fifo.zone");
    let found = check(None, &[&main, &fifo]);
    assert_eq!(found.code, 1, "{:#?}", found.lines);
    let f = fifo.display();
    assert_line(
        &found.lines,
        &format!("{}:6: ", main.display()),
        &format!("{f} is a FIFO: only regular files are read"),
    );
    assert_line(
        &found.lines,
        &format!("{f}:1: "),
        &format!("{f} is a FIFO: only regular files are read"),
    );
    // Nor as the config.
    let found = check(Some(&fifo), &[]);
    assert_eq!(found.code, 1, "{:#?}", found.lines);
    assert_eq!(
        found.lines,
        [format!(
            "{f}: config is a FIFO: only regular files are read"
        )]
    );
}

#[test]
fn check_says_what_a_config_zone_file_is_when_it_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[[zone]]\nfile = \"zones\"\n[[zone]]\nfile = \"/dev/null\"\n[[zone]]\nfile = \"fifo\"\n",
    )
    .unwrap();
    let found = check(Some(&config), &[]);
    assert_eq!(found.code, 1, "{:#?}", found.lines);
    let (c, d) = (config.display(), dir.path().display());
    assert_eq!(
        found.lines,
        [
            format!("{c}:2:8: zone file {d}/zones is a directory: only regular files are read"),
            format!(
                "{c}:4:8: zone file /dev/null is a character device: only regular files are read"
            ),
            format!("{c}:6:8: zone file {d}/fifo is a FIFO: only regular files are read"),
        ]
    );
}

#[test]
fn check_refuses_a_zone_over_max_zone_file_size_with_its_includes() {
    let dir = tempfile::tempdir().unwrap();
    let records: String = (0..100).map(|i| format!("a{i} A 192.0.2.{i}\n")).collect();
    std::fs::write(dir.path().join("more.inc"), &records).unwrap();
    zone(dir.path(), "small.zone", "$INCLUDE more.inc");
    let config = dir.path().join("c.toml");
    let write = |size: &str| {
        let text =
            format!("[server]\nmax-zone-file-size = {size}\n[[zone]]\nfile = \"small.zone\"\n");
        std::fs::write(&config, text).unwrap();
    };
    write("\"1K\"");
    let found = check(Some(&config), &[]);
    assert_eq!(found.code, 1, "{:#?}", found.lines);
    let z = dir.path().join("small.zone");
    assert_eq!(found.lines.len(), 1, "{:#?}", found.lines);
    assert!(
        found.lines[0].starts_with(&format!(
            "{}:6: the zone with {}/more.inc is ",
            z.display(),
            dir.path().display()
        )),
        "{:#?}",
        found.lines
    );
    assert!(
        found.lines[0]
            .ends_with("; max-zone-file-size is 1 KiB: raise it in [server] to read the zone"),
        "{:#?}",
        found.lines
    );
    // The zone file alone over the limit: refused at its key.
    write("100");
    let found = check(Some(&config), &[]);
    assert_eq!(found.code, 1, "{:#?}", found.lines);
    assert_line(
        &found.lines,
        &format!("{}:4:8: zone file {} is ", config.display(), z.display()),
        "; max-zone-file-size is 100 bytes: raise it in [server] to read the zone",
    );
    write("\"64KiB\"");
    let found = check(Some(&config), &[]);
    assert_eq!(found.code, 0, "{:#?}", found.lines);
}

#[test]
fn check_on_junk_prints_the_first_100_errors_and_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.zone");
    std::fs::write(&path, junk(50_000)).unwrap();
    let found = check(None, &[&path]);
    assert_eq!(found.code, 1);
    assert_eq!(found.lines.len(), 101, "{:#?}", &found.lines[..5]);
    let tag = format!("{}:", path.display());
    assert!(
        found.lines[..100].iter().all(|l| l.starts_with(&tag)),
        "file:line: message: {:#?}",
        found.lines
    );
    let last = &found.lines[100];
    let count: usize = last
        .strip_prefix("… and ")
        .and_then(|rest| rest.strip_suffix(&format!(" more errors in {}", path.display())))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the count of the rest: {last:?}"));
    assert!(count > 10_000, "{last}");
}

#[test]
fn serve_refuses_a_fifo_zone_instead_of_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.zone");
    mkfifo(&fifo);
    let out = run(&[
        OsStr::new("serve"),
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        fifo.as_os_str(),
    ]);
    assert!(!out.status.success(), "serve on a FIFO: {:?}", out.status);
    let lines = shown_lines(&out.stderr);
    let f = fifo.display();
    assert_line(
        &lines,
        &format!("{f}:1: "),
        &format!("{f} is a FIFO: only regular files are read"),
    );
}

/// The errors of a refused reload; each must be shown text.
#[track_caller]
fn refused(reply: &crate::api::Reply) -> Vec<String> {
    assert_eq!(reply.status, 422, "{reply}");
    let v = reply.json();
    assert_eq!(v["ok"], false, "{reply}");
    let errors: Vec<String> = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors array:\n{reply}"))
        .iter()
        .map(|e| e.as_str().expect("errors are strings").to_owned())
        .collect();
    for e in &errors {
        assert!(
            !e.chars().any(char::is_control),
            "a control character in {e:?}"
        );
    }
    errors
}

/// Bounds the address space of the running process `pid` to what it has
/// now and [`SERVER_EXTRA_MEMORY`] more.
fn limit_running(pid: u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize");
    let limit = libc::rlimit {
        rlim_cur: kib * 1024 + SERVER_EXTRA_MEMORY,
        rlim_max: kib * 1024 + SERVER_EXTRA_MEMORY,
    };
    // SAFETY: plain syscall on a process of ours, with a valid struct.
    let set = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_AS,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn a_reload_including_a_fifo_is_refused_and_the_next_ones_work() {
    let env = start();
    env.wait_settled();
    mkfifo(&env.dir.path().join("fifo.inc"));
    env.write_zone("$INCLUDE fifo.inc");
    // A hang shows as the client's timeout, a panic here.
    let errors = refused(&env.reload(None));
    let zone = env.zone();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{}:", zone.display()))
                && e.ends_with("fifo.inc is a FIFO: only regular files are read")),
        "{errors:#?}"
    );
    assert_answer(&env.server, "api", "A", &[PRIMARY], "the old data serves");
    // A SIGHUP reads it again, then a fixed zone loads through the API.
    let pid = env.server.pid().to_string();
    let ok = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(ok.success(), "kill -HUP {pid}");
    env.write_zone("new 60 IN A 192.0.2.55");
    env.reload_ok();
    assert_answer(&env.server, "new", "A", &["192.0.2.55"], "after the fix");
    let log = env.server.stderr_so_far();
    assert!(
        log.contains("fifo.inc is a FIFO: only regular files are read"),
        "the refusal logged:\n{log}"
    );
}

#[test]
fn a_reload_including_dev_zero_is_refused_at_once() {
    let env = start();
    env.wait_settled();
    limit_running(env.server.pid());
    env.write_zone("$INCLUDE /dev/zero");
    let errors = refused(&env.reload(None));
    assert!(
        errors
            .iter()
            .any(|e| e.ends_with("/dev/zero is a character device: only regular files are read")),
        "{errors:#?}"
    );
    env.write_zone("");
    env.reload_ok();
    assert_answer(&env.server, "api", "A", &[PRIMARY], "still serving");
}

#[test]
fn a_reload_of_junk_replies_and_logs_at_most_100_errors() {
    let env = start();
    env.wait_settled();
    std::fs::write(env.dir.path().join("junk.inc"), junk(50_000)).unwrap();
    env.write_zone("$INCLUDE junk.inc");
    let errors = refused(&env.reload(None));
    assert_eq!(errors.len(), 101, "{:#?}", &errors[..5]);
    let zone = env.zone();
    assert!(
        errors[100].starts_with("… and ")
            && errors[100].ends_with(&format!(" more errors in {}", zone.display())),
        "{}",
        errors[100]
    );
    // The log says as much, no more: it was written before the reply, and
    // has reached the harness once the last line has.
    let mut logged = 0;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let lines = env.server.stderr_so_far();
        logged += lines
            .lines()
            .filter(|l| l.contains("reload refused"))
            .count();
        if lines.contains("more errors in") || Instant::now() > deadline {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(logged, 101, "one log line per error listed");
    env.write_zone("");
    env.reload_ok();
    let r = env.server.dig(&[NAME, "A"]);
    assert_eq!(r.rcode, "NOERROR", "{r}");
}
