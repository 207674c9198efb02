//! Hand-built wire-format queries (RFC 1035 §4.1), for tests that talk to
//! the server without dig.

/// A query for `name`/`qtype`, class IN, RD clear, no EDNS.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    with_questions(id, name, qtype, 1)
}

/// The same question `count` times, QDCOUNT = `count` (malformed for
/// anything but 1).
pub fn with_questions(id: u16, name: &str, qtype: u16, count: u8) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend([0, 0, 0, count, 0, 0, 0, 0, 0, 0]);
    for _ in 0..count.max(1) {
        for label in name.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend(label.as_bytes());
        }
        m.push(0);
        m.extend(qtype.to_be_bytes());
        m.extend(1u16.to_be_bytes());
    }
    m
}
