//! Exec checks: a command run without a shell, healthy when it exits 0.
//!
//! # Design
//! Each run is a process group of its own (`process_group(0)`), so what
//! the command starts (a pipeline, `sleep 1000 &`) is killed with it: when
//! the timeout passes, when the command exits (whatever it left behind),
//! and when the probe is dropped midway because a reload or shutdown
//! stopped its loop. The group is killed while its leader is not yet
//! reaped, so its id cannot have been taken by another group: the loop
//! learns of the exit from a pidfd, which becomes readable when the
//! command ends but does not reap it. The leader is always reaped: here,
//! or by a task the drop leaves behind (and failing that, tokio's
//! `kill_on_drop` and its queue of orphans).
//!
//! Stdout and stderr are read while the command runs, a few KiB of each
//! kept and the rest drained, so a chatty command never blocks on a full
//! pipe and never costs more memory; the first line of stdout is the
//! probe's reason, stderr goes to the debug log.
//!
//! At most `max-exec-checks` commands run at once across all targets
//! ([`Limit`]). A probe waits for a slot at most its timeout, then gives
//! its command the whole timeout; the wait is reported
//! ([`Outcome::waited`]) and counted as the probe's lateness, and a probe
//! that got no slot is the checker's failure (`local`), not the target's.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::probe::{Outcome, ReasonClass};
use crate::config::template::CheckField;
use crate::config::{Check, ExecCommand};
use crate::exhaustion::spawn_shortage;
use crate::health::TargetKey;

/// Bytes kept of stdout (for the reason) and of stderr (for the log).
const KEPT: usize = 4096;
/// The most bytes of the first line of stdout a reason carries.
const MAX_REASON: usize = 512;
/// How long, once the command has ended and its group is killed, the
/// pipes may take to close (a process that left the group may hold them).
const DRAIN: Duration = Duration::from_millis(100);
/// How long a killed command may take to be reaped before the probe
/// leaves that to the background (one stuck in the kernel cannot die yet).
const REAP: Duration = Duration::from_secs(1);

/// The slots for commands running at once, shared by every exec probe.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    /// A permit per command running; a semaphore because probes wait for
    /// one in turn, with a timeout.
    slots: Arc<Semaphore>,
    max: u32,
}

impl Limit {
    /// Room for `max` commands at once.
    pub(crate) fn new(max: u32) -> Limit {
        Limit {
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    /// The number of slots.
    pub(crate) fn max(&self) -> u32 {
        self.max
    }
}

/// An exec check's command rendered for one target, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    program: String,
    args: Vec<String>,
    timeout: Duration,
    /// `ADDRESS:PORT/CHECK`, for the log.
    target: String,
    limit: Limit,
}

impl Prepared {
    /// `command` for the target `key` of `check`, with its placeholders
    /// filled in.
    pub(crate) fn new(
        command: &ExecCommand,
        check: &Check,
        key: &TargetKey,
        limit: &Limit,
    ) -> Prepared {
        let timeout = format!("{}", check.timeout.as_secs_f64());
        let port = key.port.to_string();
        let args = command
            .args
            .iter()
            .map(|arg| {
                arg.render(|field, out| {
                    out.push_str(match field {
                        CheckField::Address => &key.host,
                        CheckField::Port => &port,
                        CheckField::Check => &check.name,
                        CheckField::Timeout => &timeout,
                    })
                })
            })
            .collect();
        Prepared {
            program: command.program.clone(),
            args,
            timeout: check.timeout,
            target: key.to_string(),
            limit: limit.clone(),
        }
    }

    /// The arguments as the program gets them.
    #[cfg(test)]
    pub(crate) fn args(&self) -> &[String] {
        &self.args
    }

    /// Runs the command once, in a slot, within the timeout.
    pub(crate) async fn probe(&self) -> Outcome {
        let asked = Instant::now();
        let slot = tokio::time::timeout(self.timeout, self.limit.slots.acquire()).await;
        let waited = asked.elapsed();
        let Ok(Ok(_slot)) = slot else {
            return Outcome {
                passed: false,
                reason: format!(
                    "no exec slot free within {:?} (max-exec-checks = {}, all busy)",
                    self.timeout, self.limit.max
                ),
                class: ReasonClass::Local,
                latency: Duration::ZERO,
                waited,
            };
        };
        let started = Instant::now();
        let (passed, reason, class) = match self.run().await {
            Ok(reason) => (true, reason, ReasonClass::Ok),
            Err((reason, class)) => (false, reason, class),
        };
        Outcome {
            passed,
            reason,
            class,
            latency: started.elapsed(),
            waited,
        }
    }

    /// Runs the command and judges how it ended: the reason it passed, or
    /// why it failed and the class of that.
    async fn run(&self) -> Result<String, (String, ReasonClass)> {
        let spawned = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => return Err(cannot_run(&self.program, &err)),
        };
        let (Some(pid), Some(mut stdout), Some(mut stderr)) =
            (child.id(), child.stdout.take(), child.stderr.take())
        else {
            return Err((
                format!("{}: no process or pipes after the start", self.program),
                ReasonClass::Error,
            ));
        };
        let mut group = Group {
            leader: Some(child),
            id: pid as libc::pid_t,
            reaped: false,
        };
        let exits = pidfd(pid);
        let deadline = Instant::now() + self.timeout;
        let mut out = Kept::default();
        let mut err = Kept::default();
        let (mut out_buf, mut err_buf) = ([0u8; 1024], [0u8; 1024]);
        let ended = loop {
            let Some(leader) = group.leader.as_mut() else {
                break None;
            };
            tokio::select! {
                ended = exit_of(exits.as_ref(), leader) => break Some(ended),
                read = stdout.read(&mut out_buf), if out.open => out.take(read, &out_buf),
                read = stderr.read(&mut err_buf), if err.open => err.take(read, &err_buf),
                _ = tokio::time::sleep_until(deadline) => break None,
            }
        };
        let status = match ended {
            // Ended, not reaped: the group is still its own.
            Some(Exit::Unreaped) => {
                group.kill();
                group.reap().await
            }
            // Without a pidfd: reaped already. Whatever it left behind is
            // killed all the same, though a new group could in principle
            // have taken the id in between.
            Some(Exit::Reaped(status)) => {
                group.reaped = true;
                group.kill_after_reaping();
                Some(status)
            }
            None => {
                group.kill();
                let _ = group.reap().await;
                drain(&mut out, &mut stdout, &mut err, &mut stderr).await;
                self.log_stderr(&err);
                let mut reason = format!("timeout after {:?}", self.timeout);
                if let Some(line) = out.first_line() {
                    reason.push_str(": ");
                    reason.push_str(&line);
                }
                return Err((reason, ReasonClass::Timeout));
            }
        };
        drain(&mut out, &mut stdout, &mut err, &mut stderr).await;
        self.log_stderr(&err);
        judge(status, out.first_line())
    }

    fn log_stderr(&self, err: &Kept) {
        if !err.bytes.is_empty() {
            tracing::debug!(
                target = %self.target,
                program = %self.program,
                stderr = %crate::files::escape(&err.bytes),
                "exec check wrote on stderr"
            );
        }
    }
}

/// The probe's result from how the command ended and the first line of
/// its stdout.
fn judge(
    status: Option<io::Result<ExitStatus>>,
    line: Option<String>,
) -> Result<String, (String, ReasonClass)> {
    use std::os::unix::process::ExitStatusExt;
    let with_line = |what: String| match &line {
        Some(line) => format!("{what}: {line}"),
        None => what,
    };
    match status {
        Some(Ok(status)) if status.success() => Ok(line.unwrap_or_else(|| "exit 0".into())),
        Some(Ok(status)) => {
            let what = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                (None, None) => format!("ended with {status}"),
            };
            Err((with_line(what), ReasonClass::Exit))
        }
        Some(Err(err)) => Err((
            with_line(format!("waiting for the command: {err}")),
            ReasonClass::Error,
        )),
        None => Err((
            with_line("the command ended but could not be reaped in time".into()),
            ReasonClass::Error,
        )),
    }
}

/// Why the command could not start, and whose failure that is: a
/// shortage of processes, descriptors or memory is this host's.
fn cannot_run(program: &str, err: &io::Error) -> (String, ReasonClass) {
    let class = match spawn_shortage(err) {
        Some(_) => ReasonClass::Local,
        None => ReasonClass::Error,
    };
    (format!("cannot run {program}: {err}"), class)
}

/// How the group's leader ended.
enum Exit {
    /// Ended; a zombie until reaped.
    Unreaped,
    /// Ended and reaped (no pidfd to tell the two apart).
    Reaped(io::Result<ExitStatus>),
}

/// Waits for `leader` to end: on its pidfd, which leaves it unreaped, or
/// without one by reaping it.
async fn exit_of(exits: Option<&AsyncFd<OwnedFd>>, leader: &mut Child) -> Exit {
    if let Some(fd) = exits
        && fd.readable().await.is_ok()
    {
        return Exit::Unreaped;
    }
    Exit::Reaped(leader.wait().await)
}

/// A pidfd for `pid`, readable once it ends (Linux 5.3 and later).
fn pidfd(pid: u32) -> Option<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor or -1; `pid` is our child, not yet reaped, so it names
    // no other process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor was just opened and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    // SAFETY: the OwnedFd keeps the descriptor open, and the same, for as
    // long as the AsyncFd that owns it.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

/// The command's process group, killed whole however the probe ends.
struct Group {
    /// The command itself, until reaped (or handed over on drop).
    leader: Option<Child>,
    /// The group's id: the leader's pid.
    id: libc::pid_t,
    /// Once the leader is reaped its id may be taken again, by a process
    /// or a group: the group is no longer killed by it.
    reaped: bool,
}

impl Group {
    /// SIGKILL to every process of the group, while the leader is not
    /// reaped.
    fn kill(&self) {
        if !self.reaped {
            self.kill_after_reaping();
        }
    }

    /// SIGKILL to the group, whether or not the leader is reaped.
    fn kill_after_reaping(&self) {
        // SAFETY: killpg only sends a signal; ESRCH (no such group any
        // more) is fine.
        unsafe {
            libc::killpg(self.id, libc::SIGKILL);
        }
    }

    /// Reaps the leader, waiting at most [`REAP`]; `None` when it took
    /// longer (the drop then leaves it to the background).
    async fn reap(&mut self) -> Option<io::Result<ExitStatus>> {
        let leader = self.leader.as_mut()?;
        let status = tokio::time::timeout(REAP, leader.wait()).await.ok()?;
        self.reaped = true;
        self.leader = None;
        Some(status)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
        let Some(mut leader) = self.leader.take() else {
            return;
        };
        if let Ok(Some(_)) = leader.try_wait() {
            return;
        }
        // Dropped midway, or the leader would not die in time: a task
        // waits for it. Without a runtime (it is shutting down),
        // `kill_on_drop` and tokio's orphan queue see to it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = leader.wait().await;
            });
        }
    }
}

/// The first bytes of a pipe, the rest read and dropped.
#[derive(Debug)]
struct Kept {
    bytes: Vec<u8>,
    /// Not yet at its end.
    open: bool,
}

impl Default for Kept {
    fn default() -> Kept {
        Kept {
            bytes: Vec::new(),
            open: true,
        }
    }
}

impl Kept {
    /// Keeps what a read brought, up to [`KEPT`]; the end or an error
    /// closes it.
    fn take(&mut self, read: io::Result<usize>, buf: &[u8]) {
        match read {
            Ok(0) | Err(_) => self.open = false,
            Ok(n) => {
                let room = KEPT - self.bytes.len();
                self.bytes.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }

    /// The first line, blanks trimmed, control characters escaped, cut to
    /// [`MAX_REASON`] bytes; `None` when empty.
    fn first_line(&self) -> Option<String> {
        let line = self.bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.trim_ascii();
        if line.is_empty() {
            return None;
        }
        let shown = crate::files::escape(line);
        if shown.len() <= MAX_REASON {
            return Some(shown.into_owned());
        }
        let mut end = MAX_REASON;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        Some(format!("{}…", &shown[..end]))
    }
}

/// Reads both pipes to their end, at most [`DRAIN`]: the group is dead,
/// so only a process that left it could keep them open.
async fn drain(
    out: &mut Kept,
    stdout: &mut (impl AsyncRead + Unpin),
    err: &mut Kept,
    stderr: &mut (impl AsyncRead + Unpin),
) {
    let until = Instant::now() + DRAIN;
    let (mut out_buf, mut err_buf) = ([0u8; 1024], [0u8; 1024]);
    while out.open || err.open {
        tokio::select! {
            read = stdout.read(&mut out_buf), if out.open => out.take(read, &out_buf),
            read = stderr.read(&mut err_buf), if err.open => err.take(read, &err_buf),
            _ = tokio::time::sleep_until(until) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A process that is gone, or dead and waiting for a parent that is
    /// not this one (an orphan whose init has not reaped it yet).
    fn dead(pid: u32) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return true;
        };
        // pid (comm) state ppid …; comm may hold blanks and parentheses.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let mut fields = after.split(' ');
        let state = fields.next().unwrap();
        let ppid: u32 = fields.next().unwrap().parse().unwrap();
        state == "Z" && ppid != std::process::id()
    }

    async fn wait_dead(pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dead(pid) {
            assert!(Instant::now() < deadline, "process {pid} still there");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn read_pid(file: &Path) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(pid) = std::fs::read_to_string(file)
                .ok()
                .and_then(|text| text.trim().parse().ok())
            {
                return pid;
            }
            assert!(Instant::now() < deadline, "no pid in {}", file.display());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn sh(script: &str, timeout: Duration, limit: &Limit) -> Prepared {
        Prepared {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            timeout,
            target: "192.0.2.1:0/t".into(),
            limit: limit.clone(),
        }
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn exit_status_decides_and_stdout_s_first_line_says_why() {
        let limit = Limit::new(4);
        let outcome = sh("echo '  all good '; echo more; exit 0", LONG, &limit)
            .probe()
            .await;
        assert_eq!(
            (outcome.passed, outcome.reason.as_str(), outcome.class),
            (true, "all good", ReasonClass::Ok)
        );
        let outcome = sh("exit 0", LONG, &limit).probe().await;
        assert_eq!((outcome.passed, outcome.reason.as_str()), (true, "exit 0"));
        let outcome = sh("echo 'db: connection refused'; exit 2", LONG, &limit)
            .probe()
            .await;
        assert_eq!(
            (outcome.passed, outcome.reason.as_str(), outcome.class),
            (false, "exit 2: db: connection refused", ReasonClass::Exit)
        );
        let outcome = sh("printf 'x\\033[2Jy'; kill -9 $$", LONG, &limit)
            .probe()
            .await;
        assert_eq!(
            (outcome.passed, outcome.reason.as_str(), outcome.class),
            (false, "killed by signal 9: x\\027[2Jy", ReasonClass::Exit),
            "control characters escaped"
        );
    }

    #[tokio::test]
    async fn a_command_that_cannot_start_fails_the_probe_with_why() {
        let limit = Limit::new(1);
        let check = crate::config::parse(
            Path::new("t.toml"),
            "[check.c]\ntype = \"exec\"\ncommand = [\"no-such-program-here\", \"{address}\", \"{check}\", \"{timeout}\"]\n\
             timeout = \"500ms\"\n",
        )
        .unwrap()
        .checks["c"]
            .clone();
        let key = TargetKey {
            check: "c".into(),
            host: "192.0.2.9".into(),
            port: 0,
        };
        let prepared = Prepared::new(check.command.as_ref().unwrap(), &check, &key, &limit);
        assert_eq!(prepared.args(), ["192.0.2.9", "c", "0.5"]);
        let outcome = prepared.probe().await;
        assert!(!outcome.passed);
        assert_eq!(outcome.class, ReasonClass::Error);
        assert!(
            outcome
                .reason
                .starts_with("cannot run no-such-program-here: No such file or directory"),
            "{outcome:?}"
        );
        let errno = io::Error::from_raw_os_error;
        assert_eq!(cannot_run("x", &errno(libc::EAGAIN)).1, ReasonClass::Local);
        assert_eq!(cannot_run("x", &errno(libc::EMFILE)).1, ReasonClass::Local);
        assert_eq!(cannot_run("x", &errno(libc::EACCES)).1, ReasonClass::Error);
    }

    #[tokio::test]
    async fn the_timeout_kills_the_whole_group_and_reaps_it() {
        let dir = tempfile::tempdir().unwrap();
        let (leader, child) = (dir.path().join("leader"), dir.path().join("child"));
        let script = format!(
            "echo $$ > {}; sleep 1000 & echo $! > {}; echo waiting; wait",
            leader.display(),
            child.display()
        );
        let outcome = sh(&script, Duration::from_millis(500), &Limit::new(1))
            .probe()
            .await;
        assert_eq!(
            (outcome.passed, outcome.reason.as_str(), outcome.class),
            (false, "timeout after 500ms: waiting", ReasonClass::Timeout)
        );
        wait_dead(read_pid(&leader).await).await;
        wait_dead(read_pid(&child).await).await;
    }

    #[tokio::test]
    async fn what_the_command_leaves_behind_is_killed_when_it_exits() {
        let dir = tempfile::tempdir().unwrap();
        let child = dir.path().join("child");
        let script = format!("sleep 1000 & echo $! > {}; echo started", child.display());
        let outcome = sh(&script, LONG, &Limit::new(1)).probe().await;
        assert_eq!((outcome.passed, outcome.reason.as_str()), (true, "started"));
        // The sleep holds stdout open: the probe did not wait for it.
        assert!(outcome.latency < LONG, "{outcome:?}");
        wait_dead(read_pid(&child).await).await;
    }

    #[tokio::test]
    async fn a_probe_dropped_midway_kills_and_reaps_its_command() {
        let dir = tempfile::tempdir().unwrap();
        let (leader, child) = (dir.path().join("leader"), dir.path().join("child"));
        let script = format!(
            "echo $$ > {}; sleep 1000 & echo $! > {}; wait",
            leader.display(),
            child.display()
        );
        let prepared = sh(&script, LONG, &Limit::new(1));
        let probe = prepared.probe();
        let pids = async { (read_pid(&leader).await, read_pid(&child).await) };
        let (leader, child) = tokio::select! {
            _ = probe => panic!("the command ended"),
            pids = pids => pids,
        };
        // The probe is dropped: both die, and the leader, this process's
        // child, is reaped.
        wait_dead(leader).await;
        wait_dead(child).await;
    }

    #[tokio::test]
    async fn a_command_that_keeps_writing_neither_blocks_nor_fills_memory() {
        let outcome = sh(
            "head -c 5000000 /dev/zero | tr '\\0' x; echo; echo tail >&2; exit 3",
            LONG,
            &Limit::new(1),
        )
        .probe()
        .await;
        assert_eq!(outcome.class, ReasonClass::Exit, "{outcome:?}");
        assert!(outcome.reason.starts_with("exit 3: xxxx"), "{outcome:?}");
        assert!(outcome.reason.ends_with("x…"), "{outcome:?}");
        assert_eq!(
            outcome.reason.len(),
            "exit 3: ".len() + MAX_REASON + "…".len()
        );
    }

    #[tokio::test]
    async fn a_probe_with_no_slot_within_its_timeout_is_the_checker_s_failure() {
        let limit = Limit::new(1);
        let dir = tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        let busy = sh(
            &format!("echo $$ > {}; sleep 1000", started.display()),
            LONG,
            &limit,
        );
        let waiting = sh("exit 0", Duration::from_millis(200), &limit);
        let outcome = async {
            read_pid(&started).await;
            waiting.probe().await
        };
        let outcome = tokio::select! {
            _ = busy.probe() => panic!("the busy command ended"),
            outcome = outcome => outcome,
        };
        assert_eq!(outcome.class, ReasonClass::Local, "{outcome:?}");
        assert_eq!(
            outcome.reason,
            "no exec slot free within 200ms (max-exec-checks = 1, all busy)"
        );
        assert!(outcome.waited >= Duration::from_millis(200), "{outcome:?}");
        // The slot is free again once the busy probe is gone.
        let outcome = waiting.probe().await;
        assert!(outcome.passed, "{outcome:?}");
    }
}
