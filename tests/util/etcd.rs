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
    /// With TLS: the directory of [`make_certificates`]' files, and the
    /// plain-HTTP port etcd answers `/health` on.
    tls: Option<(PathBuf, u16)>,
    dir: tempfile::TempDir,
}

/// Writes a CA (`ca.pem`), a server certificate for 127.0.0.1
/// (`server.pem`, `server.key`) and a client certificate (`client.pem`,
/// `client.key`) signed by it, into `dir`, with openssl. The server's is
/// for client authentication too: with `--client-cert-auth`, etcd's JSON
/// gateway dials etcd's own gRPC port with it.
pub fn make_certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=healthdns test CA",
            ],
        ]
        .concat(),
    );
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
        ),
        (
            "client",
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        ),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let extfile = format!("{name}.ext");
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &format!("/CN={name}"),
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &extfile,
        ]);
    }
}

impl Etcd {
    /// Starts etcd and waits until it answers.
    pub fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut etcd = Etcd {
            child: None,
            port: free_port(),
            peer_port: free_port(),
            tls: None,
            dir,
        };
        etcd.start_again();
        etcd
    }

    /// Starts etcd serving its clients over TLS with the certificates in
    /// `certs` (see [`make_certificates`]), asking each for a client
    /// certificate signed by that CA.
    pub fn start_tls(certs: &std::path::Path) -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut etcd = Etcd {
            child: None,
            port: free_port(),
            peer_port: free_port(),
            tls: Some((certs.to_owned(), free_port())),
            dir,
        };
        etcd.start_again();
        etcd
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS), for `[cluster] etcd`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
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
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.log_path()).expect("etcd log");
        let mut command = Command::new(etcd);
        if let Some((certs, health_port)) = &self.tls {
            let path = |name: &str| certs.join(name).display().to_string();
            command
                .arg(format!("--cert-file={}", path("server.pem")))
                .arg(format!("--key-file={}", path("server.key")))
                .arg(format!("--trusted-ca-file={}", path("ca.pem")))
                .arg("--client-cert-auth")
                .arg(format!(
                    "--listen-metrics-urls=http://127.0.0.1:{health_port}"
                ));
        }
        let child = command
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

    /// Whether it answers a health request (with TLS, on its plain
    /// metrics port).
    fn answers(&self) -> bool {
        let port = self.tls.as_ref().map_or(self.port, |(_, port)| *port);
        let addr = ([127, 0, 0, 1], port).into();
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
