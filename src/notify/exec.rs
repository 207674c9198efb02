//! Exec delivery: the program with the rendered arguments, no shell, stdin
//! and stdout closed, killed when it outlives the timeout (or when the task
//! is dropped: `kill_on_drop`).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use super::DeliveryError;

/// At most this much of stderr's first line is kept.
const FIRST_LINE: usize = 512;

/// Runs `program args…`, waits at most `timeout`; success is exit status 0.
pub(super) async fn run(
    program: &str,
    args: &[String],
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| DeliveryError::Spawn {
            program: program.into(),
            source,
        })?;
    let stderr = child.stderr.take();
    // Read stderr while waiting, so a chatty child never blocks on the pipe.
    let first_line = tokio::spawn(async move {
        let Some(pipe) = stderr else {
            return String::new();
        };
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        let _ = (&mut reader)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .await;
        let text = shorten(String::from_utf8_lossy(&line).trim());
        let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
        text
    });
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Err(_) => {
            first_line.abort();
            // kill() also reaps it.
            let _ = child.kill().await;
            return Err(DeliveryError::Timeout(timeout));
        }
        Ok(Err(source)) => {
            first_line.abort();
            return Err(DeliveryError::Spawn {
                program: program.into(),
                source,
            });
        }
        Ok(Ok(status)) => status,
    };
    if status.success() {
        first_line.abort();
        return Ok(());
    }
    // The pipe closes with the child, unless something it started keeps it.
    let stderr = tokio::time::timeout(Duration::from_secs(1), first_line)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Err(DeliveryError::Exit { status, stderr })
}

/// At most [`FIRST_LINE`] bytes, cut on a character boundary.
fn shorten(text: &str) -> String {
    if text.len() <= FIRST_LINE {
        return text.to_owned();
    }
    let mut end = FIRST_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
