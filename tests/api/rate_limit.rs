//! `[rate-limit]`: a flood from one network gets a budget of full answers,
//! every `slip`th limited one truncated and the rest dropped, while another
//! network is answered as usual; the limiting shows in the log and metrics.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{NAME, Opts, start_with, wait_until};
use crate::util::wire;

/// What came back to one socket.
#[derive(Debug, Default, Clone, Copy)]
struct Received {
    /// NOERROR with records, TC clear.
    full: usize,
    /// TC set, no records.
    truncated: usize,
    /// Anything else.
    other: usize,
}

/// Reads responses on `socket` until `done` and a quiet half second.
fn count(socket: UdpSocket, done: Arc<AtomicBool>) -> thread::JoinHandle<Received> {
    thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut received = Received::default();
        let mut buf = [0u8; 4096];
        loop {
            match socket.recv(&mut buf) {
                Ok(len) if len >= 12 => {
                    let tc = buf[2] & 0x02 != 0;
                    let ancount = u16::from_be_bytes([buf[6], buf[7]]);
                    let rcode = buf[3] & 0x0f;
                    match (tc, ancount, rcode) {
                        (false, 1.., 0) => received.full += 1,
                        (true, 0, 0) => received.truncated += 1,
                        _ => received.other += 1,
                    }
                }
                Ok(_) => received.other += 1,
                Err(_) if done.load(Ordering::Relaxed) => return received,
                Err(_) => {}
            }
        }
    })
}

fn socket(ip: &str, server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind((ip, 0)).unwrap();
    socket.connect(server).unwrap();
    socket
}

#[test]
fn a_flood_from_one_network_is_limited_and_another_network_is_answered() {
    let env = start_with(Opts {
        sections: "\n[rate-limit]\nresponses-per-second = 50\nslip = 2\n",
        ..Opts::default()
    });
    let server = env.server.addr;
    let flood = socket("127.0.0.1", server);
    let done = Arc::new(AtomicBool::new(false));
    let flooded = count(flood.try_clone().unwrap(), done.clone());
    // Another /24: its own budget, far from spent.
    let other = socket("127.0.1.1", server);
    let other_received = count(other.try_clone().unwrap(), done.clone());
    let other_sent = Arc::new(Mutex::new(0));
    let started = Instant::now();
    let asker = {
        let other_sent = other_sent.clone();
        thread::spawn(move || {
            for id in 0..30u16 {
                thread::sleep(Duration::from_millis(50));
                other.send(&wire::query(id, NAME, 1)).unwrap();
                *other_sent.lock().unwrap() += 1;
            }
        })
    };
    // 3,000 queries over 1.5 s: 20 every 10 ms.
    for id in 0..3000u16 {
        flood.send(&wire::query(id, NAME, 1)).unwrap();
        if id % 20 == 19 {
            let due = Duration::from_millis(u64::from(id / 20 + 1) * 10);
            thread::sleep(due.saturating_sub(started.elapsed()));
        }
    }
    let flood_took = started.elapsed();
    asker.join().unwrap();
    done.store(true, Ordering::Relaxed);
    let flooded = flooded.join().unwrap();
    let other_received = other_received.join().unwrap();

    // A budget of 50 a second: 50 at once and 50 a second after, over the
    // flood's time (longer than 1.5 s on a slow host).
    let budget = 50 + (flood_took.as_secs_f64() * 50.0) as usize;
    assert!(
        flooded.full <= budget + 50 && flooded.full >= 50,
        "about {budget} full answers: {flooded:?} in {flood_took:?}"
    );
    let limited = 3000 - flooded.full;
    assert!(
        flooded.truncated * 2 <= limited + 2 && flooded.truncated * 2 + 200 >= limited,
        "every second limited response truncated: {flooded:?}"
    );
    assert_eq!(flooded.other, 0, "{flooded:?}");
    assert_eq!(
        other_received.full,
        *other_sent.lock().unwrap(),
        "the other network answered in full: {other_received:?}"
    );

    let m = env.wait_metrics("the limited responses counted", |m| {
        m.sum("dns_rate_limited_total", &[]) as usize == limited
    });
    assert_eq!(
        m.sum("dns_rate_limit_slipped_total", &[]) as usize,
        flooded.truncated
    );
    assert_eq!(
        m.sum("dns_rate_limit_dropped_total", &[]) as usize,
        limited - flooded.truncated
    );
    assert_eq!(m.sum("dns_rate_limit_flows_total", &[]), 1.0, "{}", m.text);

    // Each call returns the lines since the last.
    let mut log = env.server.stderr_so_far();
    let started_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("rate limiting responses"))
        .collect();
    assert_eq!(started_lines.len(), 1, "one line as it starts:\n{log}");
    assert!(
        started_lines[0].contains("127.0.0.0/24") && started_lines[0].contains("api.h.test."),
        "{log}"
    );
    wait_until("a line as limiting stops", || {
        log.push('\n');
        log.push_str(&env.server.stderr_so_far());
        match log.lines().find(|l| l.contains("rate limiting stopped")) {
            Some(line) if line.contains("127.0.0.0/24") => Ok(()),
            Some(line) => Err(format!("the wrong network: {line}")),
            None => Err(log.clone()),
        }
    });
}
