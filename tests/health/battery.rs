//! One query battery run in every health situation of a failover set (all
//! up, primary down, all down): the dynamic answer changes, the rest of the
//! zone and the shape of the response do not.

use super::{ORIGIN, ask, fqdn, http_check, is_nodata, rdata, serve, wait_answer};
use crate::util::Server;
use crate::util::backend::{HttpBackend, HttpMode};

const P: &str = "127.0.0.111";
const S: &str = "127.0.0.112";

/// The battery; `api` A is expected to answer `want`.
fn battery(s: &Server, situation: &str, want: &str) {
    let ctx = |r: &crate::util::Response| format!("{situation}:\n{r}");
    // The dynamic answer, over UDP and TCP alike, authoritative.
    for transport in ["+notcp", "+tcp"] {
        let r = s.dig(&[transport, &fqdn("api"), "A"]);
        assert_eq!(r.rcode, "NOERROR", "{}", ctx(&r));
        assert_eq!(rdata(&r, "A"), [want], "{transport} {}", ctx(&r));
        assert!(r.flag("aa"), "aa on a dynamic answer: {}", ctx(&r));
    }
    // Other types at the dynamic name: NODATA.
    for t in ["AAAA", "TXT"] {
        let r = ask(s, "api", t);
        assert!(is_nodata(&r), "api {t} is NODATA: {}", ctx(&r));
    }
    // The static part of the zone.
    let r = s.dig(&[&format!("{ORIGIN}."), "SOA"]);
    assert_eq!(r.answer_of("SOA").len(), 1, "apex SOA: {}", ctx(&r));
    let r = s.dig(&[&format!("{ORIGIN}."), "NS"]);
    assert_eq!(rdata(&r, "NS"), [format!("ns.{ORIGIN}.")], "{}", ctx(&r));
    assert_eq!(rdata(&ask(s, "ns", "A"), "A"), ["192.0.2.1"]);
    let r = ask(s, "static", "A");
    assert_eq!(rdata(&r, "A"), ["192.0.2.99"], "{}", ctx(&r));
    let r = ask(s, "nothing", "A");
    assert_eq!(r.rcode, "NXDOMAIN", "{}", ctx(&r));
    assert!(
        r.authority.iter().any(|rr| rr.rtype == "SOA"),
        "{}",
        ctx(&r)
    );
    // A name below the dynamic one does not exist.
    let r = s.dig(&[&format!("x.{}", fqdn("api")), "A"]);
    assert_eq!(r.rcode, "NXDOMAIN", "{}", ctx(&r));
}

#[test]
fn the_battery_holds_in_every_health_situation() {
    let p = HttpBackend::start(P);
    let sec = HttpBackend::start(S);
    let records = format!(
        "api 30 IN A {P} ; healthdns failover=primary check=web target={}\n\
         api 30 IN A {S} ; healthdns failover=secondary check=web target={}\n\
         static 300 IN A 192.0.2.99\n",
        p.target(),
        sec.target()
    );
    let env = serve(&records, &[http_check("web", &[])]);
    let s = &env.server;

    wait_answer(s, "api", "A", &[P]);
    battery(s, "all up", P);

    p.set(HttpMode::Status(500));
    wait_answer(s, "api", "A", &[S]);
    battery(s, "primary down", S);

    sec.set(HttpMode::Closed);
    // all-down = first (the default): the primary again, though still down.
    wait_answer(s, "api", "A", &[P]);
    battery(s, "all down", P);
}
