//! What a dynamic answer looks like as records: its TTL, and A and AAAA
//! sets of one name kept apart.

use super::{ask, http_check, is_nodata, serve, wait_answer, wait_for};
use crate::util::backend::{HttpBackend, HttpMode};

#[test]
fn the_ttl_option_sets_the_ttl_and_the_record_ttl_is_the_default() {
    let b = [
        HttpBackend::start("127.0.0.81"),
        HttpBackend::start("127.0.0.82"),
    ];
    let records = format!(
        "short 30 IN A 127.0.0.81 ; healthdns failover=primary check=web target={} ttl=5\n\
         short 30 IN A 127.0.0.82 ; healthdns failover=secondary check=web target={}\n\
         plain 30 IN A 127.0.0.81 ; healthdns multivalue check=web target={}\n\
         plain 30 IN A 127.0.0.82 ; healthdns multivalue check=web target={}\n",
        b[0].target(),
        b[1].target(),
        b[0].target(),
        b[1].target()
    );
    let env = serve(&records, &[http_check("web", &[])]);
    let s = &env.server;
    let ttls =
        |name: &str| -> Vec<u32> { ask(s, name, "A").answer.iter().map(|r| r.ttl).collect() };

    wait_answer(s, "short", "A", &["127.0.0.81"]);
    assert_eq!(ttls("short"), [5], "ttl=5");
    wait_answer(s, "plain", "A", &["127.0.0.81", "127.0.0.82"]);
    assert_eq!(ttls("plain"), [30, 30], "no ttl=: the record TTL");

    // After a failover too.
    b[0].set(HttpMode::Status(500));
    wait_answer(s, "short", "A", &["127.0.0.82"]);
    assert_eq!(ttls("short"), [5], "ttl=5 on the secondary's answer");
    wait_answer(s, "plain", "A", &["127.0.0.82"]);
    assert_eq!(ttls("plain"), [30]);
}

#[test]
fn a_and_aaaa_sets_are_independent() {
    let b = [
        HttpBackend::start("127.0.0.83"),
        HttpBackend::start("127.0.0.84"),
        HttpBackend::start("127.0.0.85"),
        HttpBackend::start("127.0.0.86"),
    ];
    // The AAAA members are probed through target= on IPv4 loopback.
    let records = format!(
        "dual 30 IN A    127.0.0.83 ; healthdns failover=primary check=web target={}\n\
         dual 30 IN A    127.0.0.84 ; healthdns failover=secondary check=web target={}\n\
         dual 30 IN AAAA 2001:db8::83 ; healthdns failover=primary check=web target={}\n\
         dual 30 IN AAAA 2001:db8::84 ; healthdns failover=secondary check=web target={}\n\
         v4only 30 IN A 127.0.0.83 ; healthdns failover=primary check=web target={}\n\
         v4only 30 IN A 127.0.0.84 ; healthdns failover=secondary check=web target={}\n",
        b[0].target(),
        b[1].target(),
        b[2].target(),
        b[3].target(),
        b[0].target(),
        b[1].target()
    );
    let env = serve(&records, &[http_check("web", &[])]);
    let s = &env.server;
    wait_answer(s, "dual", "A", &["127.0.0.83"]);
    wait_answer(s, "dual", "AAAA", &["2001:db8::83"]);

    // The A primary down: A fails over, AAAA does not.
    b[0].set(HttpMode::Status(500));
    wait_answer(s, "dual", "A", &["127.0.0.84"]);
    wait_answer(s, "dual", "AAAA", &["2001:db8::83"]);

    // The AAAA primary down, the A primary back: the other way round.
    b[2].set(HttpMode::Status(500));
    b[0].set(HttpMode::Healthy);
    wait_answer(s, "dual", "AAAA", &["2001:db8::84"]);
    wait_answer(s, "dual", "A", &["127.0.0.83"]);

    // A name with only a dynamic A set: NODATA for AAAA, in every state.
    wait_for(s, "v4only", "AAAA", "NODATA", is_nodata);
    b[0].set(HttpMode::Status(500));
    wait_answer(s, "v4only", "A", &["127.0.0.84"]);
    wait_for(s, "v4only", "AAAA", "NODATA", is_nodata);
}
