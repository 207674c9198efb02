//! A worker's cache of whole responses to questions whose answer only a new
//! table changes.
//!
//! # Design
//! Most queries ask for static data or for a name that does not exist. For
//! those the response is the same for every query of the same lower-cased
//! name and type (class IN, EDNS version 0 or none), but for the ID, RD and
//! CD, the question's spelling, and the OPT record; [`respond_parsed`] says
//! which responses these are ([`Response::reusable`]: no health state read,
//! no name synthesised from the query's labels, not ANY, short enough that
//! no size limit cuts it). A worker keeps the ones it wrote and answers a
//! repeat by copying it and patching those fields: one hash and a copy in
//! place of the zone lookup and the name compression. What it copies is
//! the answer path's own output, so a cached response is byte for byte the
//! one [`respond`] writes; the tests compare the two for every kind.
//!
//! - One cache per worker, owned by its thread: no lock, no atomics shared.
//! - Direct-mapped, the newest response in each entry: a flood of one-off
//!   names costs each a copy into an entry, and evicts at random.
//! - Each entry is tagged with its table's generation, so a new table (a
//!   reload) finds nothing of the old one's without the cache being walked.
//!   Health changes need nothing: a response that read health is not kept.
//! - [`ENTRIES`] entries of two cache lines each, holding responses of up
//!   to 102 bytes (a few addresses; NODATA or NXDOMAIN with the SOA):
//!   512 KiB per worker. A hit reads the entry and nothing of the table.
//! - Between two askings of a name the kernel's work on the queries in
//!   between evicts its entry from the CPU cache, so the workers
//!   [`Cache::prefetch`] the next query's entry while answering the current
//!   one: a hit would otherwise spend most of its time waiting for its first
//!   read of the entry. For the same reason entries are small: larger ones
//!   made the cache cost more per query than answering without it.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::DefaultHashBuilder;

use super::respond::{Answered, Class, REUSABLE_MAX, Subject, Transport, respond_parsed};
use super::table::Table;
use crate::metrics::QueryCounters;
use crate::name::{MAX_NAME_LEN, lowercase_into};
use crate::wire::header::{self, ARCOUNT, FLAGS, ID};
use crate::wire::{MAX_UDP_PAYLOAD, OPT_LEN, Query, flag, parse_query, put_opt};

#[cfg(doc)]
use super::respond::{Response, respond};
#[cfg(doc)]
use crate::wire::MAX_UDP_ANSWER;

/// Entries per cache: room for a hot set of a few thousand questions.
pub(super) const ENTRIES: usize = 4096;
/// The longest response an entry holds (OPT record excluded): an answer of a
/// few addresses, a NODATA or NXDOMAIN with its SOA. Longer ones are
/// answered as usual each time.
const KEPT_MAX: usize = 102;

/// A worker's recent reusable responses.
pub struct Cache {
    entries: Box<[Entry]>,
    hasher: DefaultHashBuilder,
    hits: u64,
    /// `hits` as last added to a shared counter ([`Cache::publish`]).
    published: u64,
}

/// One kept response: two cache lines, so that a hit reads little memory.
#[repr(C, align(64))]
struct Entry {
    /// The generation of the table that wrote it; 0 for none.
    generation: u64,
    /// The counters its queries count in.
    counters: Option<Arc<QueryCounters>>,
    /// The low half of the hash of its lower-cased question name and type.
    check: u32,
    qtype: u16,
    /// The response's length, OPT record excluded.
    len: u8,
    /// Length of the question name, which follows the header.
    name_len: u8,
    /// The response's [`Class`], as its number.
    class: u8,
    /// Where the name it is about starts ([`Subject::start`]).
    subject: u8,
    /// The response, OPT record excluded (and not counted in ARCOUNT), its
    /// question name lower-cased: the key, compared byte for byte.
    bytes: [u8; KEPT_MAX],
}

const _: () = assert!(std::mem::size_of::<Entry>() == 128);
const _: () = assert!(KEPT_MAX <= REUSABLE_MAX);

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.entries.len())
            .field("hits", &self.hits)
            .finish()
    }
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache {
            entries: std::iter::repeat_with(|| Entry {
                generation: 0,
                counters: None,
                check: 0,
                qtype: 0,
                len: 0,
                name_len: 0,
                class: 0,
                subject: 0,
                bytes: [0; KEPT_MAX],
            })
            .take(ENTRIES)
            .collect(),
            hasher: DefaultHashBuilder::default(),
            hits: 0,
            published: 0,
        }
    }

    /// Queries answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Adds the hits since the last call to `total` (the server's
    /// `Metrics::cached`): once a batch, not per query.
    pub fn publish(&mut self, total: &AtomicU64) {
        if self.hits != self.published {
            total.fetch_add(self.hits - self.published, Ordering::Relaxed);
            self.published = self.hits;
        }
    }

    /// [`respond`], from the cache when it holds the response: answers
    /// `packet` into `out` (at least 65535 bytes for TCP, `wire::MAX_UDP_ANSWER`
    /// for UDP), returns the length or `None` when the packet deserves no
    /// answer.
    pub fn respond(
        &mut self,
        table: &Table,
        packet: &[u8],
        transport: Transport,
        out: &mut [u8],
    ) -> Option<usize> {
        self.answer(table, packet, transport, out)
            .map(|answered| answered.len)
    }

    /// [`Cache::respond`], saying also what the response is, for rate
    /// limiting.
    pub fn answer(
        &mut self,
        table: &Table,
        packet: &[u8],
        transport: Transport,
        out: &mut [u8],
    ) -> Option<Answered> {
        let parsed = parse_query(packet);
        let mut buf = [0u8; MAX_NAME_LEN];
        // The question's lower-cased name and its hash, when it may be kept.
        let key = match &parsed {
            Ok(query) if query.is_class_in() && query.edns.is_none_or(|e| e.version == 0) => {
                let lower = lowercase_into(query.qname, &mut buf);
                let hash = self.hash(lower, query.qtype);
                if let Some(answered) = self.reuse(table, query, lower, hash, transport, out) {
                    return Some(answered);
                }
                Some((lower, hash))
            }
            _ => None,
        };
        let response = respond_parsed(table, parsed, transport, out)?;
        let answered = Answered {
            len: response.len,
            class: response.class,
            subject: response.subject,
        };
        if let (Ok(query), Some(key), Some(counters)) = (parsed, key, response.reusable) {
            self.keep(
                table,
                &query,
                key,
                &answered,
                &out[..response.len],
                counters,
            );
        }
        Some(answered)
    }

    /// Starts loading the entry that `packet`'s question would use, so that
    /// [`Cache::respond`] finds it in the CPU cache: called for the next
    /// query of a batch before answering this one. Reads only the question
    /// name and type, unchecked; a packet that is no query costs a hash.
    pub fn prefetch(&self, packet: &[u8]) {
        let Some(question) = packet.get(header::LEN..) else {
            return;
        };
        let Some(name_len) = crate::name::wire_name_len(question) else {
            return;
        };
        let Some(&[high, low]) = question.get(name_len..name_len + 2) else {
            return;
        };
        let mut buf = [0u8; MAX_NAME_LEN];
        let lower = lowercase_into(&question[..name_len], &mut buf);
        let hash = self.hash(lower, u16::from_be_bytes([high, low]));
        let entry: *const Entry = &self.entries[self.index(hash)];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch of memory we own; it reads nothing into the
        // program and cannot fault.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(entry.cast());
            _mm_prefetch::<_MM_HINT_T0>(entry.cast::<i8>().add(64));
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = entry;
    }

    /// The hash of a question: its lower-cased name and its type.
    fn hash(&self, lower: &[u8], qtype: u16) -> u64 {
        self.hasher.hash_one((lower, qtype))
    }

    /// The entry a question of this hash goes in.
    fn index(&self, hash: u64) -> usize {
        hash as usize % ENTRIES
    }

    /// Writes the kept response to `query`, if there is one.
    fn reuse(
        &mut self,
        table: &Table,
        query: &Query<'_>,
        lower: &[u8],
        hash: u64,
        transport: Transport,
        out: &mut [u8],
    ) -> Option<Answered> {
        let entry = &self.entries[self.index(hash)];
        let question = header::LEN..header::LEN + lower.len();
        if entry.generation != table.generation
            || entry.check != hash as u32
            || entry.qtype != query.qtype
            || usize::from(entry.name_len) != lower.len()
            || entry.bytes[question.clone()] != *lower
        {
            return None;
        }
        let mut len = usize::from(entry.len);
        out[..len].copy_from_slice(&entry.bytes[..len]);
        header::set(out, ID, query.id);
        let kept = header::get(out, FLAGS);
        let flags = kept & !(flag::RD | flag::CD) | query.flags & (flag::RD | flag::CD);
        header::set(out, FLAGS, flags);
        out[question].copy_from_slice(query.qname);
        let code = flags & flag::RCODE_MASK;
        if let Some(edns) = query.edns {
            put_opt(
                &mut out[len..len + OPT_LEN],
                MAX_UDP_PAYLOAD,
                code,
                0,
                edns.dnssec_ok,
            );
            len += OPT_LEN;
            header::set(out, ARCOUNT, header::get(out, ARCOUNT) + 1);
        }
        if let Some(counters) = &entry.counters {
            counters.count(query.qtype, code, transport == Transport::Tcp);
        }
        self.hits += 1;
        Some(Answered {
            len,
            class: Class::ALL[usize::from(entry.class)],
            subject: Subject::from_start(entry.subject, entry.name_len),
        })
    }

    /// Keeps `response` (to `query`, from `table`, OPT record included if
    /// the query had one) for the next query of its name and type.
    fn keep(
        &mut self,
        table: &Table,
        query: &Query<'_>,
        (lower, hash): (&[u8], u64),
        answered: &Answered,
        response: &[u8],
        counters: &Arc<QueryCounters>,
    ) {
        let len = response.len() - if query.edns.is_some() { OPT_LEN } else { 0 };
        if len > KEPT_MAX {
            return;
        }
        let at = self.index(hash);
        let entry = &mut self.entries[at];
        entry.bytes[..len].copy_from_slice(&response[..len]);
        entry.bytes[header::LEN..header::LEN + lower.len()].copy_from_slice(lower);
        if query.edns.is_some() {
            // The OPT record is not kept, nor counted.
            let additional = header::get(response, ARCOUNT) - 1;
            header::set(&mut entry.bytes, ARCOUNT, additional);
        }
        entry.len = len as u8;
        entry.generation = table.generation;
        entry.check = hash as u32;
        entry.qtype = query.qtype;
        entry.name_len = query.qname.len() as u8;
        entry.class = answered.class as u8;
        entry.subject = answered.subject.start();
        if !entry
            .counters
            .as_ref()
            .is_some_and(|kept| Arc::ptr_eq(kept, counters))
        {
            entry.counters = Some(Arc::clone(counters));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::answer::{build, respond};
    use crate::name::Name;
    use crate::wire::rtype;

    /// The cache's test zone (`tests/data/cache.test.zone`) and the shipped
    /// example zone, with the check its annotations name.
    fn table_of(cache_zone: &Path) -> Table {
        let config = crate::config::parse(
            Path::new("tests/data/c.toml"),
            "[check.web]\ntype = \"http\"\n",
        )
        .expect("config");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let zones = [cache_zone, &root.join("zones/example.com.zone")]
            .map(|path| crate::zone::load(path, None).expect("zone loads").zone);
        build(&zones, &config.checks)
    }

    fn table() -> Table {
        table_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cache.test.zone"))
    }

    /// A query: ID `id`, flags word `flags`, and an OPT record of `payload`
    /// bytes, version 0 and DO `dnssec_ok`, when `edns` is set.
    fn query(name: &str, qtype: u16, id: u16, flags: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
        let mut packet = id.to_be_bytes().to_vec();
        packet.extend(flags.to_be_bytes());
        packet.extend([0, 1, 0, 0, 0, 0, 0, 0]);
        packet.extend(Name::from_text(name, None).unwrap().as_wire());
        packet.extend(qtype.to_be_bytes());
        packet.extend(1u16.to_be_bytes());
        if let Some((payload, dnssec_ok)) = edns {
            packet[11] = 1;
            packet.extend([0, 0, 41]);
            packet.extend(payload.to_be_bytes());
            packet.extend([0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        packet
    }

    /// Questions of every kind: (name, type, whether the cache keeps the
    /// response).
    const QUESTIONS: [(&str, u16, bool); 20] = [
        ("www.cache.test.", rtype::A, true),
        ("www.cache.test.", rtype::AAAA, true),
        ("www.cache.test.", rtype::TXT, true),   // NODATA
        ("nothing.cache.test.", rtype::A, true), // NXDOMAIN
        ("alias.cache.test.", rtype::A, true),   // CNAME, followed
        ("x.wild.cache.test.", rtype::A, true),
        ("host.sub.cache.test.", rtype::A, true), // referral with glue
        ("cache.test.", rtype::NS, true),         // additional addresses
        ("example.com.", rtype::MX, true),
        ("api.example.com.", rtype::A, true),
        ("six.cache.test.", rtype::A, false), // longer than an entry
        ("to-dynamic.cache.test.", rtype::A, false), // CNAME to a failover set
        ("api.cache.test.", rtype::A, false), // failover
        ("pool.cache.test.", rtype::A, false), // multivalue
        ("host.old.cache.test.", rtype::A, false), // DNAME: the query's labels
        ("mx.cache.test.", rtype::MX, false), // additional cut at 512
        ("big.cache.test.", rtype::TXT, false), // TC without EDNS, > 512 with
        ("www.cache.test.", rtype::ANY, false), // differs by transport
        ("nowhere.example.", rtype::A, false), // REFUSED
        ("www.cache.test.", rtype::AXFR, false), // REFUSED
    ];

    /// One asking of a question.
    struct Asking {
        spelling: String,
        id: u16,
        flags: u16,
        edns: Option<(u16, bool)>,
        transport: Transport,
    }

    /// Each question asked as the cache would next see it: other IDs, RD
    /// and CD, spellings, EDNS or none, DO, both transports.
    fn variants(name: &str) -> Vec<Asking> {
        let mixed: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        let asking = |spelling: &str, id, flags, edns, transport| Asking {
            spelling: spelling.to_string(),
            id,
            flags,
            edns,
            transport,
        };
        vec![
            asking(name, 0x0001, 0x0000, None, Transport::Udp),
            asking(&mixed, 0xbeef, 0x0100, Some((1232, false)), Transport::Udp),
            asking(
                &name.to_uppercase(),
                0x7777,
                0x0110,
                Some((512, true)),
                Transport::Udp,
            ),
            asking(&mixed, 0x4242, 0x0010, Some((4096, true)), Transport::Tcp),
            asking(name, 0x9999, 0x0100, None, Transport::Tcp),
        ]
    }

    #[test]
    fn every_cached_response_is_the_one_respond_writes() {
        let table = table();
        let mut cache = Cache::new();
        let (mut want, mut got) = (vec![0u8; 65535], vec![0u8; 65535]);
        for (name, qtype, kept) in QUESTIONS {
            // The first asking fills the cache; the variants then hit it
            // (or, for a response that is not reusable, never do).
            let hits = cache.hits();
            for Asking {
                spelling,
                id,
                flags,
                edns,
                transport,
            } in variants(name)
            {
                let packet = query(&spelling, qtype, id, flags, edns);
                let expected = respond(&table, &packet, transport, &mut want).expect("an answer");
                let len = cache
                    .respond(&table, &packet, transport, &mut got)
                    .expect("an answer");
                let asked = format!("{spelling} {qtype} {flags:#x} {edns:?} {transport:?}");
                if name.starts_with("pool.") {
                    // A multivalue answer's order varies per query.
                    assert_eq!(len, expected, "{asked}");
                } else {
                    assert_eq!(got[..len], want[..expected], "{asked}");
                }
            }
            let hit = cache.hits() - hits;
            let want_hits = if kept { 4 } else { 0 };
            assert_eq!(hit, want_hits, "{name} {qtype}: hits");
        }
    }

    #[test]
    fn health_reaches_names_the_cache_has_seen() {
        let table = table();
        let mut cache = Cache::new();
        let mut out = vec![0u8; 65535];
        let primary = table
            .targets()
            .iter()
            .position(|t| t.key.host == "192.0.2.10")
            .expect("api's primary is a target") as u32;
        let mut first_address = |name: &str| {
            let packet = query(name, rtype::A, 1, 0, None);
            let len = cache
                .respond(&table, &packet, Transport::Udp, &mut out)
                .expect("an answer");
            [out[len - 4], out[len - 3], out[len - 2], out[len - 1]]
        };
        for name in ["api.cache.test.", "to-dynamic.cache.test."] {
            assert_eq!(first_address(name), [192, 0, 2, 10], "{name}");
            assert_eq!(first_address(name), [192, 0, 2, 10], "{name}");
        }
        table
            .board()
            .slot(primary)
            .expect("its slot")
            .publish(crate::health::slot::Standing::Out);
        for name in ["api.cache.test.", "to-dynamic.cache.test."] {
            assert_eq!(
                first_address(name),
                [192, 0, 2, 11],
                "{name}: the secondary"
            );
        }
    }

    #[test]
    fn a_new_table_finds_nothing_of_the_old_ones() {
        let old = table();
        let mut cache = Cache::new();
        let mut out = vec![0u8; 65535];
        let packet = query("www.example.com.", rtype::A, 1, 0, None);
        for _ in 0..2 {
            cache.respond(&old, &packet, Transport::Udp, &mut out);
        }
        assert_eq!(cache.hits(), 1);
        // A table without example.com., as after a reload that dropped it.
        let new = build(&[], &Default::default());
        let len = cache
            .respond(&new, &packet, Transport::Udp, &mut out)
            .expect("an answer");
        assert_eq!(out[3] & 0xf, 5, "REFUSED: the old answer is not reused");
        assert_eq!(len, packet.len());
        assert_eq!(cache.hits(), 1);
        drop(old);
    }

    #[test]
    fn cached_answers_count_as_answers_do() {
        // A zone of its own, so that no other test counts in it.
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cache.test.zone"),
        )
        .unwrap()
        .replace("$ORIGIN cache.test.", "$ORIGIN counted.test.");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counted.test.zone");
        std::fs::write(&path, text).unwrap();
        let table = table_of(&path);
        let apex = Name::from_text("counted.test.", None).unwrap();
        let counters = table.zones[&*apex.lowercase_wire()].counters.clone();
        let mut cache = Cache::new();
        let mut out = vec![0u8; 65535];
        for (name, code) in [("www.counted.test.", 0), ("nothing.counted.test.", 3)] {
            for transport in [Transport::Udp, Transport::Tcp] {
                let before = counters.get(rtype::A, code, transport == Transport::Tcp);
                let packet = query(name, rtype::A, 1, 0, None);
                for _ in 0..3 {
                    cache.respond(&table, &packet, transport, &mut out);
                }
                let after = counters.get(rtype::A, code, transport == Transport::Tcp);
                assert_eq!(after - before, 3, "{name} {transport:?}");
            }
        }
        assert_eq!(cache.hits(), 10, "all but the first asking of each");
    }

    #[test]
    fn mutated_packets_get_respond_s_answers_through_the_cache() {
        let table = table();
        // One worker's cache: mutated names fill and evict its entries.
        let mut cache = Cache::new();
        let (mut want, mut got) = (vec![0u8; 65535], vec![0u8; 65535]);
        let seeds: Vec<Vec<u8>> = QUESTIONS
            .iter()
            .filter(|(name, ..)| !name.starts_with("pool."))
            .flat_map(|&(name, qtype, _)| {
                [
                    query(name, qtype, 1, 0x0100, None),
                    query(name, qtype, 2, 0x0110, Some((1232, true))),
                ]
            })
            .collect();
        let mut next = crate::answer::tests::xorshift(0x2545_f491_4f6c_dd1d);
        for round in 0..30_000 {
            let mut input = seeds[round % seeds.len()].clone();
            // Mostly one change (a letter's case, a flag, the ID, a type:
            // all still answerable), now and then more.
            for _ in 0..1 + next() % 2 {
                let at = (next() as usize) % input.len();
                match next() % 4 {
                    0 => input[at] ^= 0x20,
                    1 => input[at] = next() as u8,
                    2 => input.truncate(at.max(1)),
                    _ => input.insert(at, next() as u8),
                }
            }
            let transport = if round % 3 == 0 {
                Transport::Tcp
            } else {
                Transport::Udp
            };
            // Twice: the first may fill an entry, the second may use it.
            for _ in 0..2 {
                let expected = respond(&table, &input, transport, &mut want);
                let answered = cache.respond(&table, &input, transport, &mut got);
                assert_eq!(answered, expected, "{input:?}");
                if let Some(len) = expected {
                    assert_eq!(got[..len], want[..len], "{input:?} {transport:?}");
                }
            }
        }
        // Most inputs are answered from an entry at their second asking
        // (4,179 times in one run; the hasher's seed moves it a little).
        assert!(cache.hits() > 2_000, "{} hits", cache.hits());
    }
}
