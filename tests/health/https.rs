//! HTTPS checks against `openssl s_server -www` with a self-signed
//! certificate: accepted with `tls-verify = false`, a failure with the
//! default verification.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{check_section, serve, wait_answer};

/// `openssl s_server` on `ip`, killed on drop.
struct TlsBackend {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsBackend {
    fn start(ip: &str) -> TlsBackend {
        let dir = tempfile::tempdir().unwrap();
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ])
            .args([
                "-days",
                "1",
                "-subj",
                "/CN=backend.h.test",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed (.ci/run installs it)");
        assert!(made.success(), "openssl req failed");
        // A free port on this address (released just before s_server binds it).
        let port = TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args([
                "s_server", "-quiet", "-www", "-cert", "cert.pem", "-key", "key.pem",
            ])
            .args(["-accept", &format!("{ip}:{port}")])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + super::DEADLINE;
        while std::net::TcpStream::connect((ip, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "s_server never listened on {ip}:{port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsBackend {
            child,
            port,
            _dir: dir,
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn records(primary: &str, port: u16) -> String {
    // The secondary probes a port nothing listens on: it is down, but the
    // default all-down mode would still answer the primary, so it gets no
    // check at all (always healthy) to make the primary's state visible.
    format!(
        "api 30 IN A {primary} ; healthdns failover=primary check=tls target={primary}:{port}\n\
         api 30 IN A 127.0.0.79 ; healthdns failover=secondary\n"
    )
}

#[test]
fn https_without_verification_follows_the_server() {
    let ip = "127.0.0.77";
    let mut backend = TlsBackend::start(ip);
    let check = check_section(
        "tls",
        "https",
        &[("tls-verify", "false"), ("timeout", "\"150ms\"")],
    );
    let env = serve(&records(ip, backend.port), &[check]);
    wait_answer(&env.server, "api", "A", &[ip]);
    backend.stop();
    wait_answer(&env.server, "api", "A", &["127.0.0.79"]);
}

#[test]
fn https_with_verification_refuses_a_self_signed_certificate() {
    let ip = "127.0.0.78";
    let backend = TlsBackend::start(ip);
    let check = check_section("tls", "https", &[("timeout", "\"150ms\"")]);
    let env = serve(&records(ip, backend.port), &[check]);
    // Starts up (initial = up), then the failed verification takes it down.
    wait_answer(&env.server, "api", "A", &["127.0.0.79"]);
    let log = env.server.stderr_so_far();
    assert!(
        log.contains("health transition") && log.contains("certificate"),
        "the transition names the certificate as the reason:\n{log}"
    );
    drop(backend);
}
