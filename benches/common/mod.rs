//! What the answer-path benches share: the fixture table they answer from
//! and the queries they send it. Each bench includes this with `mod common;`.

use std::path::Path;

use healthdns::answer::{Table, build};
use healthdns::name::Name;

/// The shipped example zone and the health-annotated `dyn.test` fixture.
/// Nothing probes the annotated names here, so every member keeps its
/// initial "up".
pub fn fixture_table() -> Table {
    let config = healthdns::config::parse(
        Path::new("tests/data/c.toml"),
        "[check.web]\ntype = \"http\"\n",
    )
    .expect("config");
    let example = healthdns::zone::load(Path::new("zones/example.com.zone"), None)
        .expect("example zone loads");
    let dynamic = healthdns::zone::load(Path::new("tests/data/dyn.test.zone"), None)
        .expect("dynamic zone loads");
    build(&[example.zone, dynamic.zone], &config.checks)
}

/// A query for `name` (class IN), with an EDNS OPT record (1232 bytes) when
/// `edns` is set.
pub fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    packet.extend(Name::from_text(name, None).unwrap().as_wire());
    packet.extend(qtype.to_be_bytes());
    packet.extend(1u16.to_be_bytes());
    if edns {
        packet[11] = 1;
        packet.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    packet
}
