//! A real etcd (Debian's `etcd-server`) on free loopback ports with its
//! data in a tempdir, killed on drop. A test can stop it and start it
//! again on the same ports and data, as an outage would.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{STARTUP_DEADLINE, free_port, which};

/// A running (or stopped) single-node etcd.
pub struct Etcd {
    child: Option<Child>,
    /// The client port on 127.0.0.1.
    pub port: u16,
    peer_port: u16,
    dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts etcd and waits until it answers.
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut etcd = Etcd {
            child: None,
            port: free_port(),
            peer_port: free_port(),
            dir,
        };
        etcd.start_again();
        etcd
    }

    /// `http://127.0.0.1:PORT`, for `[cluster] etcd`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills it (as an outage would); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports and data; waits until it answers.
    pub fn start_again(&mut self) {
        self.stop();
        let etcd = which("etcd").unwrap_or_else(|| {
            panic!(
                "etcd not found: the cluster tests need etcd-server (apt-get install etcd-server)"
            )
        });
        let client = format!("http://127.0.0.1:{}", self.port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.log_path()).expect("etcd log");
        let child = Command::new(etcd)
            .arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP_DEADLINE;
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "etcd did not answer on port {}:\n{}",
                self.port,
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether its client port answers a health request.
    fn answers(&self) -> bool {
        let addr = ([127, 0, 0, 1], self.port).into();
        super::http::request(addr, "GET", "/health", &[], None)
            .is_ok_and(|r| r.status == 200 && r.body.contains("true"))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// What etcd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}
