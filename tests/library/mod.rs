//! The server as a library: `healthdns::daemon::Daemon` started in the test's
//! own process, queried, reloaded and stopped through `service::Command`s,
//! as the binary's signals do.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use healthdns::daemon::Daemon;
use healthdns::service::{Command, Source};
use tokio::sync::{mpsc, oneshot};

use crate::util::{dig, fixture_zone};

#[test]
fn a_daemon_in_process_answers_reloads_and_stops_on_command() {
    let source = Source {
        config: None,
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        zones: vec![fixture_zone()],
        ..Source::default()
    };
    let daemon = Daemon::bind(source, None).expect("bind");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(daemon.workers())
        .enable_all()
        .build()
        .unwrap();
    let (sender, commands) = mpsc::channel(8);
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let control = sender.clone();
    let server = std::thread::spawn(move || {
        runtime.block_on(daemon.run(sender, commands, |ready| {
            ready_tx.send(ready.clone()).unwrap();
        }))
    });
    let ready = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the daemon says where it listens");
    assert_eq!(ready.zones, 1);
    let port = ready.dns[0].port();
    assert_ne!(port, 0);
    let r = dig::query_all(port, &["www.example.com", "A"]).expect("dig");
    assert_eq!(r[0].rcode, "NOERROR", "{r:?}");
    assert!(!r[0].answer.is_empty(), "{r:?}");

    let (reply, answer) = oneshot::channel();
    control.blocking_send(Command::Reload(Some(reply))).unwrap();
    let reloaded = answer
        .blocking_recv()
        .unwrap()
        .expect("the reload succeeds");
    assert_eq!(reloaded.zones, 1);

    control.blocking_send(Command::Shutdown).unwrap();
    server
        .join()
        .expect("the server thread")
        .expect("the daemon stops cleanly");
    assert!(
        dig::query_all(port, &["+time=1", "+tries=1", "www.example.com", "A"]).is_err(),
        "nothing answers once it stopped"
    );
}
