//! Exec delivery: the program with the rendered arguments, no shell, stdin
//! and stdout closed, killed when it outlives the timeout.
//!
//! The crate's Tokio has no `process` feature, so the child is a
//! `std::process::Child` watched without blocking: `try_wait` polled on
//! Tokio's timer (a few ms at first, then every 50 ms), stderr read on a
//! thread of its own. Notifications are rare; the polling costs nothing
//! worth a dependency change.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::DeliveryError;

/// The longest poll interval.
const POLL: Duration = Duration::from_millis(50);

/// At most this much of stderr's first line is kept.
const FIRST_LINE: usize = 512;

/// Runs `program args…`, waits at most `timeout`; success is exit status 0.
pub(super) async fn run(
    program: &str,
    args: &[String],
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Reaped::new)
        .map_err(|source| DeliveryError::Spawn {
            program: program.into(),
            source,
        })?;
    let first_line = read_first_line(child.stderr());
    let mut poll = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                return Err(DeliveryError::Spawn {
                    program: program.into(),
                    source,
                });
            }
        }
        if Instant::now() >= deadline {
            child.kill();
            return Err(DeliveryError::Timeout(timeout));
        }
        tokio::time::sleep_until(deadline.min(Instant::now() + poll)).await;
        poll = (poll * 2).min(POLL);
    };
    if status.success() {
        return Ok(());
    }
    // The pipe ends with the child, unless something it started keeps it.
    let stderr = tokio::time::timeout(Duration::from_secs(1), first_line)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Err(DeliveryError::Exit { status, stderr })
}

/// The first line of `pipe` (trimmed, at most [`FIRST_LINE`] bytes), read
/// on a thread that then drains the rest so the child never blocks on it.
fn read_first_line(pipe: Option<impl Read + Send + 'static>) -> oneshot::Receiver<String> {
    let (tx, rx) = oneshot::channel();
    let Some(pipe) = pipe else {
        let _ = tx.send(String::new());
        return rx;
    };
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        let _ = reader.by_ref().take(64 * 1024).read_until(b'\n', &mut line);
        let mut text = String::from_utf8_lossy(&line).trim().to_string();
        if text.len() > FIRST_LINE {
            let mut end = FIRST_LINE;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        let _ = tx.send(text);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx
}

/// A child that is killed and reaped when dropped before it ended (a
/// timeout, or the task dropped at runtime shutdown).
struct Reaped {
    child: Child,
    done: bool,
}

impl Reaped {
    fn new(child: Child) -> Reaped {
        Reaped { child, done: false }
    }

    fn stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        let status = self.child.try_wait()?;
        self.done |= status.is_some();
        Ok(status)
    }

    fn kill(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            // After SIGKILL the wait is immediate.
            let _ = self.child.wait();
            self.done = true;
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        self.kill();
    }
}
