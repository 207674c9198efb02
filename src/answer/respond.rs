//! Turning one query packet into one response, as NSD and Knot answer for
//! static data.

use std::sync::Arc;

use super::dynamic::{Dynamic, Pick};
use super::lookup::{Found, Labels, find, find_zone};
use super::table::{Node, RRset, Table, ZoneData};
use crate::health::Board;
use crate::metrics::QueryCounters;
use crate::name::{MAX_NAME_LEN, lowercase_into};
use crate::wire::{
    CLASS_ANY, CLASS_CH, CLASS_IN, Edns, Full, MAX_UDP_PAYLOAD, MIN_UDP_PAYLOAD, OPT_LEN, Other,
    ParseError, Query, RdataLayout, Section, Writer, flag, header, opcode, parse_query, rcode,
    rtype,
};

#[cfg(doc)]
use crate::wire::MAX_UDP_ANSWER;

/// How the query arrived, which decides the size limit and ANY handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: at most 512 (`MIN_UDP_PAYLOAD`) bytes, or the EDNS payload size
    /// capped at `MAX_UDP_PAYLOAD`; TC when the answer does not fit.
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

/// What a response is, for response rate limiting: responses of one class
/// about one name ([`Subject`]) to one network share a budget, as in Knot's
/// and NSD's RRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Class {
    /// NOERROR with records in the answer section.
    Positive,
    /// NOERROR with an empty answer section.
    NoData,
    /// NXDOMAIN; about the zone, so that random names are one flow.
    NxDomain,
    /// A delegation; about the zone cut.
    Referral,
    /// Synthesised from a wildcard; about its closest encloser.
    Wildcard,
    /// Any other RCODE (REFUSED, FORMERR, SERVFAIL, …); about the zone, or
    /// the root outside every zone.
    Error,
}

impl Class {
    /// Every class, in the order of their numbers.
    pub const ALL: [Class; 6] = [
        Class::Positive,
        Class::NoData,
        Class::NxDomain,
        Class::Referral,
        Class::Wildcard,
        Class::Error,
    ];

    /// The name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Positive => "positive",
            Class::NoData => "nodata",
            Class::NxDomain => "nxdomain",
            Class::Referral => "referral",
            Class::Wildcard => "wildcard",
            Class::Error => "error",
        }
    }
}

/// The name a response is about (RRL's imputed name): a suffix of the
/// question name, kept as where it lies in the query so that it costs
/// nothing to carry and nothing to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    /// Offsets in the question name: where the suffix starts, where the
    /// name ends.
    start: u8,
    end: u8,
}

impl Subject {
    /// No name: the query had no question to take one from.
    pub const NONE: Subject = Subject { start: 0, end: 0 };

    /// The last `suffix_len` bytes of a question name `qname_len` long.
    fn suffix(qname_len: usize, suffix_len: usize) -> Subject {
        let end = qname_len.min(u8::MAX.into());
        Subject {
            start: end.saturating_sub(suffix_len) as u8,
            end: end as u8,
        }
    }

    /// The whole question name, `qname_len` long.
    fn question(qname_len: usize) -> Subject {
        Subject::suffix(qname_len, qname_len)
    }

    /// The root name, of a question name `qname_len` long.
    fn root(qname_len: usize) -> Subject {
        Subject::suffix(qname_len, 1)
    }

    /// The name's wire bytes, as spelt, in `query` (the query the response
    /// answers; empty for none).
    pub fn name(self, query: &[u8]) -> &[u8] {
        let at = crate::wire::header::LEN;
        query
            .get(at + usize::from(self.start)..at + usize::from(self.end))
            .unwrap_or_default()
    }

    /// Where it starts, to keep with a response whose question name is
    /// kept too.
    pub(super) fn start(self) -> u8 {
        self.start
    }

    /// From [`Subject::start`] and the question name's length.
    pub(super) fn from_start(start: u8, qname_len: u8) -> Subject {
        Subject {
            start,
            end: qname_len,
        }
    }
}

/// A response written: its length, and what it is for rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    /// Its length in bytes.
    pub len: usize,
    /// What kind of response it is.
    pub class: Class,
    /// The name it is about.
    pub subject: Subject,
}

/// CNAME and DNAME hops followed inside a zone before giving up.
const MAX_CHAIN: usize = 8;
/// RRsets whose NS/MX/SRV/SVCB/HTTPS targets get addresses in the
/// additional section.
const MAX_ADDITIONAL_SOURCES: usize = 4;

/// Answers `packet` into `out` (at least 65535 bytes for TCP,
/// `wire::MAX_UDP_ANSWER` for UDP). Returns the response length, or `None` when
/// the packet deserves no answer at all.
pub fn respond(
    table: &Table,
    packet: &[u8],
    transport: Transport,
    out: &mut [u8],
) -> Option<usize> {
    respond_parsed(table, parse_query(packet), transport, out).map(|response| response.len)
}

/// A response [`respond_parsed`] wrote.
pub(super) struct Response<'t> {
    /// Its length.
    pub(super) len: usize,
    /// Set when any query with the same lower-cased name and type, class IN
    /// and EDNS version 0 or none, over either transport, gets this same
    /// response but for the ID, RD, CD, the question's case and the OPT
    /// record: the counters it counts in. See [`super::cache`].
    pub(super) reusable: Option<&'t Arc<QueryCounters>>,
    /// What it is, for rate limiting.
    pub(super) class: Class,
    /// The name it is about.
    pub(super) subject: Subject,
}

/// [`respond`] for a query already parsed.
pub(super) fn respond_parsed<'t>(
    table: &'t Table,
    parsed: Result<Query<'_>, ParseError<'_>>,
    transport: Transport,
    out: &mut [u8],
) -> Option<Response<'t>> {
    let query = match parsed {
        Ok(query) => query,
        Err(ParseError::Drop) => return None,
        Err(ParseError::FormErr { id, flags }) => {
            table
                .unzoned
                .count(0, rcode::FORMERR, transport == Transport::Tcp);
            return Some(Response::once(header_only(out, id, flags, rcode::FORMERR)));
        }
        Err(ParseError::Opcode(other)) => {
            let (code, len) = other_opcode(&other, transport, out);
            table.unzoned.count(0, code, transport == Transport::Tcp);
            return Some(Response::once(len));
        }
    };
    let mut w = Writer::new(out, limit(transport, query.edns));
    w.header(query.id, flag::QR | echoed_flags(query.flags));
    if w.question(query.qname, query.qtype, query.qclass).is_err() {
        return Some(Response::once(header_only(
            out,
            query.id,
            query.flags,
            rcode::FORMERR,
        )));
    }
    let said = match query.edns {
        Some(edns) if edns.version > 0 => Said::error(rcode::BADVERS, table, &query),
        _ => answer(table, &query, transport, &mut w),
    };
    let code = said.code;
    said.counters
        .count(query.qtype, code, transport == Transport::Tcp);
    w.set_rcode(code);
    // Reusable only if it would fit the smallest limit (the least payload,
    // with OPT): then no limit cut it short, and none would.
    let reusable = said.reusable.filter(|_| w.written() <= REUSABLE_MAX);
    if let Some(edns) = query.edns {
        w.opt(MAX_UDP_PAYLOAD, code, 0, edns.dnssec_ok);
    }
    Some(Response {
        len: w.finish(),
        reusable,
        class: said.class,
        subject: said.subject,
    })
}

/// The longest response, OPT record excluded, that [`Response::reusable`]
/// may mark: [`MIN_UDP_PAYLOAD`] bytes with an OPT record.
pub(super) const REUSABLE_MAX: usize = MIN_UDP_PAYLOAD as usize - OPT_LEN;

impl Response<'_> {
    /// An error response about no name, not to reuse.
    fn once(len: usize) -> Self {
        Response {
            len,
            reusable: None,
            class: Class::Error,
            subject: Subject::NONE,
        }
    }
}

/// What [`answer`] made of a query.
struct Said<'t> {
    /// The RCODE.
    code: u16,
    /// The counters the query counts in.
    counters: &'t QueryCounters,
    /// The zone's counters again when the response is reusable
    /// ([`Response::reusable`]).
    reusable: Option<&'t Arc<QueryCounters>>,
    class: Class,
    subject: Subject,
}

impl<'t> Said<'t> {
    /// An error outside every zone: about the root.
    fn error(code: u16, table: &'t Table, query: &Query<'_>) -> Said<'t> {
        Said {
            code,
            counters: &table.unzoned,
            reusable: None,
            class: Class::Error,
            subject: Subject::root(query.qname.len()),
        }
    }
}

fn header_only(out: &mut [u8], id: u16, query_flags: u16, code: u16) -> usize {
    let mut w = Writer::new(out, header::LEN);
    w.header(id, flag::QR | echoed_flags(query_flags) | code);
    w.finish()
}

/// The most a response may take before its OPT record.
fn limit(transport: Transport, edns: Option<Edns>) -> usize {
    let size = match (transport, edns) {
        (Transport::Tcp, _) => u16::MAX as usize,
        (Transport::Udp, Some(edns)) => edns.payload.min(MAX_UDP_PAYLOAD) as usize,
        (Transport::Udp, None) => MIN_UDP_PAYLOAD as usize,
    };
    if edns.is_some() { size - OPT_LEN } else { size }
}

/// The flags of a query that its response carries: the opcode and RD, and
/// for QUERY also CD (RFC 4035 §3.1.6). Another opcode has no data to check
/// signatures of, and gets CD cleared, as Knot clears it.
fn echoed_flags(query_flags: u16) -> u16 {
    let echoed = if query_flags & flag::OPCODE_MASK == 0 {
        flag::OPCODE_MASK | flag::RD | flag::CD
    } else {
        flag::OPCODE_MASK | flag::RD
    };
    query_flags & echoed
}

/// Answers a message of another opcode than QUERY as Knot does without an
/// ACL, writing no record but the question and OPT: NOTIFY is not
/// authorised (NOTAUTH: a server that loads its zones from files takes no
/// NOTIFY), UPDATE neither (NOTAUTH) or FORMERR when its zone section is not
/// of type SOA (RFC 2136 §3.1.1), and every other opcode NOTIMP. A class
/// other than IN or ANY is REFUSED (CH: NOTIMP), EDNS above version 0 is
/// BADVERS, and a NOTIFY or UPDATE without a question is FORMERR. Returns
/// the RCODE and the length.
fn other_opcode(other: &Other<'_>, transport: Transport, out: &mut [u8]) -> (u16, usize) {
    let opcode = (other.flags & flag::OPCODE_MASK) >> 11;
    let code = match (other.edns, other.question) {
        (Some(edns), _) if edns.version > 0 => rcode::BADVERS,
        (_, None) if matches!(opcode, opcode::NOTIFY | opcode::UPDATE) => rcode::FORMERR,
        (_, None) => rcode::NOTIMP,
        (_, Some(question)) => match (question.qclass, opcode) {
            (CLASS_IN | CLASS_ANY, opcode::NOTIFY) => rcode::NOTAUTH,
            (CLASS_IN | CLASS_ANY, opcode::UPDATE) if question.qtype == rtype::SOA => {
                rcode::NOTAUTH
            }
            (CLASS_IN | CLASS_ANY, opcode::UPDATE) => rcode::FORMERR,
            (CLASS_IN | CLASS_ANY | CLASS_CH, _) => rcode::NOTIMP,
            _ => rcode::REFUSED,
        },
    };
    let mut w = Writer::new(out, limit(transport, other.edns));
    w.header(other.id, flag::QR | echoed_flags(other.flags));
    if let Some(question) = other.question
        && w.question(question.name, question.qtype, question.qclass)
            .is_err()
    {
        // A question longer than the smallest limit cannot be: the parser
        // takes names of at most 255 bytes.
        return (
            rcode::FORMERR,
            header_only(out, other.id, other.flags, rcode::FORMERR),
        );
    }
    w.set_rcode(code);
    if let Some(edns) = other.edns {
        w.opt(MAX_UDP_PAYLOAD, code, 0, edns.dnssec_ok);
    }
    (code, w.finish())
}

/// Fills the sections after the question; says what it wrote.
fn answer<'t>(
    table: &'t Table,
    query: &Query<'_>,
    transport: Transport,
    w: &mut Writer<'_>,
) -> Said<'t> {
    // Class ANY is read as IN (as Knot does); other classes have no zones.
    if !query.is_class_in() && query.qclass != CLASS_ANY {
        return Said::error(rcode::REFUSED, table, query);
    }
    // No zone transfers: refused, as NSD does without an ACL. Other
    // meta types (OPT, TSIG, MAILA, …) find no data, as in Knot.
    if matches!(query.qtype, rtype::AXFR | rtype::IXFR) {
        return Said::error(rcode::REFUSED, table, query);
    }
    let mut buf = [0u8; MAX_NAME_LEN];
    let qname = lowercase_into(query.qname, &mut buf);
    let labels = Labels::new(qname);
    let Some(zone) = find_zone(table, qname, &labels, query.qtype) else {
        return Said::error(rcode::REFUSED, table, query);
    };
    let apex = Subject::suffix(qname.len(), zone.apex.as_wire().len());
    let said = |code, class, subject, reusable| Said {
        code,
        counters: &zone.counters,
        reusable,
        class,
        subject,
    };
    w.set_flags(w.flags() | flag::AA);
    let after_question = w.mark();
    let mut answer = Answer {
        zone,
        board: &table.board,
        qtype: query.qtype,
        transport,
        additional: [None; MAX_ADDITIONAL_SOURCES],
        additional_count: 0,
        // ANY differs by transport, class ANY is echoed in the question.
        fixed: query.qtype != rtype::ANY && query.is_class_in(),
        about: None,
    };
    let code = match answer.resolve(query.qname, w) {
        Ok(rcode::SERVFAIL) => {
            // A set whose members are all down and that says so.
            w.rollback(after_question);
            w.set_flags(w.flags() & !flag::AA);
            return said(rcode::SERVFAIL, Class::Error, apex, None);
        }
        Ok(code) => {
            answer.add_additional(w);
            code
        }
        Err(Truncated(code)) => {
            // As Knot: a truncated answer carries the question only.
            w.rollback(after_question);
            w.set_flags(w.flags() | flag::TC);
            let (class, subject) = match code {
                rcode::NOERROR => (Class::NoData, Subject::question(qname.len())),
                rcode::NXDOMAIN => (Class::NxDomain, apex),
                _ => (Class::Error, apex),
            };
            return said(code, class, subject, None);
        }
    };
    let (class, subject) = match (code, answer.about) {
        (rcode::NOERROR, Some((class, len))) => (class, Subject::suffix(qname.len(), len)),
        (rcode::NOERROR, None) if w.count(Section::Answer) > 0 => {
            (Class::Positive, Subject::question(qname.len()))
        }
        (rcode::NOERROR, None) => (Class::NoData, Subject::question(qname.len())),
        (rcode::NXDOMAIN, _) => (Class::NxDomain, apex),
        _ => (Class::Error, apex),
    };
    let fixed = answer.fixed && matches!(code, rcode::NOERROR | rcode::NXDOMAIN);
    said(code, class, subject, fixed.then_some(&zone.counters))
}

/// What [`Answer::at_node`] leaves to do.
enum Step<'t> {
    /// The answer is complete with this RCODE.
    Done(u16),
    /// A CNAME points here: resolve it next.
    Follow(&'t [u8]),
}

/// What [`Answer::write_set`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Records (for a dynamic set, the members that answer now).
    Records,
    /// A dynamic set that answers NODATA now.
    Empty,
    /// A dynamic set that answers SERVFAIL now.
    Servfail,
}

/// The answer or authority section did not fit; carries the RCODE.
struct Truncated(u16);

impl From<Full> for Truncated {
    fn from(_: Full) -> Truncated {
        Truncated(rcode::NOERROR)
    }
}

struct Answer<'t> {
    zone: &'t ZoneData,
    board: &'t Board,
    qtype: u16,
    transport: Transport,
    additional: [Option<RRset<'t>>; MAX_ADDITIONAL_SOURCES],
    additional_count: usize,
    /// True while the response depends only on the table and the question's
    /// lower-cased name and type: no health state was read, and no bytes
    /// but the question's own came from the query name.
    fixed: bool,
    /// For a wildcard answer or a referral to the question name: the class,
    /// and the length of the name it is about (the wildcard's closest
    /// encloser, the zone cut), a suffix of the question name.
    about: Option<(Class, usize)>,
}

impl<'t> Answer<'t> {
    /// Follows the query name through CNAMEs and DNAMEs inside the zone and
    /// writes the answer and authority sections.
    fn resolve(&mut self, qname: &[u8], w: &mut Writer<'_>) -> Result<u16, Truncated> {
        // The name being resolved, as written (for owners), and lower-cased.
        let mut owner = [0u8; MAX_NAME_LEN];
        let mut lower = [0u8; MAX_NAME_LEN];
        let mut len = qname.len();
        owner[..len].copy_from_slice(qname);
        // Names already answered in this chain, to stop loops: made only
        // when there is a chain, as most answers need no second step.
        let mut seen: Option<[[u8; MAX_NAME_LEN]; MAX_CHAIN]> = None;
        let mut seen_len = [0usize; MAX_CHAIN];
        let mut hops = 0;
        let mut next = [0u8; MAX_NAME_LEN];
        loop {
            let name = lowercase_into(&owner[..len], &mut lower);
            let labels = Labels::new(name);
            let found = find(self.zone, name, &labels, self.qtype);
            if hops == 0 {
                self.about = match &found {
                    // `*.` and the closest encloser.
                    Found::Wildcard(node) => Some((Class::Wildcard, node.name().len() - 2)),
                    Found::Referral(cut, _) => Some((Class::Referral, cut.name().len())),
                    _ => None,
                };
            }
            let next_len = match found {
                Found::Exact(node) | Found::Wildcard(node) => {
                    match self.at_node(node, &owner[..len], w)? {
                        Step::Follow(target) => {
                            next[..target.len()].copy_from_slice(target);
                            target.len()
                        }
                        Step::Done(code) => return Ok(code),
                    }
                }
                Found::Referral(cut, ns) => {
                    if hops == 0 {
                        w.set_flags(w.flags() & !flag::AA);
                    }
                    self.write_set(w, Section::Authority, cut.name(), ns)?;
                    self.want_additional(ns);
                    return Ok(rcode::NOERROR);
                }
                Found::Dname(node, dname) => {
                    // The synthesised CNAME spells the query's labels as
                    // the query did.
                    self.fixed = false;
                    self.write_set(w, Section::Answer, node.name(), dname)?;
                    // RFC 6672 §2.2: replace the DNAME owner by its target.
                    let keep = len - node.name().len();
                    let target = dname.rdata(0);
                    if keep + target.len() > MAX_NAME_LEN {
                        return Ok(rcode::YXDOMAIN);
                    }
                    next[..keep].copy_from_slice(&owner[..keep]);
                    next[keep..keep + target.len()].copy_from_slice(target);
                    let cname = &next[..keep + target.len()];
                    w.record(
                        Section::Answer,
                        &owner[..len],
                        rtype::CNAME,
                        dname.ttl(),
                        cname,
                        RdataLayout::NameAt(0),
                    )?;
                    if self.qtype == rtype::CNAME {
                        // The synthesised CNAME is the answer.
                        return Ok(rcode::NOERROR);
                    }
                    cname.len()
                }
                Found::NxDomain => {
                    self.negative(w).map_err(|_| Truncated(rcode::NXDOMAIN))?;
                    return Ok(rcode::NXDOMAIN);
                }
            };
            // Follow the target if it stays in the zone, has not been
            // answered already, and the chain is not too long.
            let seen = seen.get_or_insert([[0u8; MAX_NAME_LEN]; MAX_CHAIN]);
            seen[hops][..len].copy_from_slice(&lower[..len]);
            seen_len[hops] = len;
            hops += 1;
            let target = &next[..next_len];
            let looped = (0..hops).any(|i| seen[i][..seen_len[i]].eq_ignore_ascii_case(target));
            if looped || hops == MAX_CHAIN || !self.in_zone(target) {
                return Ok(rcode::NOERROR);
            }
            owner[..next_len].copy_from_slice(target);
            len = next_len;
        }
    }

    /// True when `name` is at or below the apex (compared on label
    /// boundaries, so `xexample.com.` is not below `example.com.`).
    fn in_zone(&self, name: &[u8]) -> bool {
        let labels = Labels::new(name);
        labels.len() >= self.zone.apex_labels
            && labels
                .suffix(name, self.zone.apex_labels)
                .eq_ignore_ascii_case(self.zone.apex.as_wire())
    }

    /// Answers at an existing (or wildcard-synthesised) node.
    fn at_node(
        &mut self,
        node: Node<'t>,
        owner: &[u8],
        w: &mut Writer<'_>,
    ) -> Result<Step<'t>, Truncated> {
        if self.qtype == rtype::ANY && !node.is_empty() {
            // RFC 8482 §4.2: over UDP one RRset stands for the lot; like
            // Knot, the one of lowest type (the CNAME at an alias).
            let one = node.rrset(rtype::CNAME).or_else(|| node.rrsets().next());
            let all = (self.transport == Transport::Tcp).then(|| node.rrsets());
            for set in all
                .into_iter()
                .flatten()
                .chain(one.filter(|_| self.transport == Transport::Udp))
            {
                if self.write_set(w, Section::Answer, owner, set)? == Written::Records {
                    self.want_additional(set);
                }
            }
            return Ok(Step::Done(rcode::NOERROR));
        }
        if let Some(set) = node.rrset(self.qtype) {
            match self.write_set(w, Section::Answer, owner, set)? {
                Written::Records => self.want_additional(set),
                Written::Empty => self.negative(w)?,
                Written::Servfail => return Ok(Step::Done(rcode::SERVFAIL)),
            }
            return Ok(Step::Done(rcode::NOERROR));
        }
        if let Some(cname) = node.rrset(rtype::CNAME) {
            let (index, ttl) = match cname.dynamic() {
                None => (0, cname.ttl()),
                Some(dynamic) => match self.pick(dynamic) {
                    Pick::Servfail => return Ok(Step::Done(rcode::SERVFAIL)),
                    pick => match pick.indices().first() {
                        Some(&index) => (index as usize, dynamic.ttl),
                        None => {
                            self.negative(w)?;
                            return Ok(Step::Done(rcode::NOERROR));
                        }
                    },
                },
            };
            let target = cname.rdata(index);
            w.record(
                Section::Answer,
                owner,
                rtype::CNAME,
                ttl,
                target,
                cname.layout(),
            )?;
            return Ok(Step::Follow(target));
        }
        self.negative(w)?;
        Ok(Step::Done(rcode::NOERROR))
    }

    /// The members of a dynamic set that answer now: health state, so the
    /// response is not [`Answer::fixed`].
    fn pick(&mut self, dynamic: &Dynamic) -> Pick {
        self.fixed = false;
        dynamic.pick(self.board)
    }

    /// NODATA: the zone's SOA in authority.
    fn negative(&mut self, w: &mut Writer<'_>) -> Result<(), Full> {
        self.write_set(
            w,
            Section::Authority,
            self.zone.apex.as_wire(),
            self.zone.negative_soa(),
        )
        .map(|_| ())
    }

    /// Writes a whole RRset, or for a dynamic set the members that answer
    /// now; on [`Full`] nothing of it is left.
    fn write_set(
        &mut self,
        w: &mut Writer<'_>,
        section: Section,
        owner: &[u8],
        set: RRset<'_>,
    ) -> Result<Written, Full> {
        let mark = w.mark();
        let (rr_type, layout) = (set.rr_type(), set.layout());
        let mut put =
            |rdata: &[u8], ttl: u32| w.record(section, owner, rr_type, ttl, rdata, layout);
        let result = match set.dynamic() {
            None => set.rdatas().try_for_each(|rdata| put(rdata, set.ttl())),
            Some(dynamic) => match self.pick(dynamic) {
                Pick::Empty => return Ok(Written::Empty),
                Pick::Servfail => return Ok(Written::Servfail),
                pick => pick
                    .indices()
                    .iter()
                    .try_for_each(|&i| put(set.rdata(i as usize), dynamic.ttl)),
            },
        };
        match result {
            Ok(()) => Ok(Written::Records),
            Err(full) => {
                w.rollback(mark);
                Err(full)
            }
        }
    }

    fn want_additional(&mut self, set: RRset<'t>) {
        if set.has_targets() && self.additional_count < MAX_ADDITIONAL_SOURCES {
            self.additional[self.additional_count] = Some(set);
            self.additional_count += 1;
        }
    }

    /// Addresses of NS/MX/SRV/SVCB/HTTPS targets that the zone holds (glue
    /// included), and for SVCB and HTTPS the target's own set of that type,
    /// which a client follows next (RFC 9460 §4.1, as Knot). What does not
    /// fit is left out without TC (RFC 2181 §9).
    fn add_additional(&mut self, w: &mut Writer<'_>) {
        let sources = self.additional;
        for set in sources[..self.additional_count].iter().flatten() {
            let service = matches!(set.rr_type(), rtype::SVCB | rtype::HTTPS);
            let types = [rtype::A, rtype::AAAA, set.rr_type()];
            let types = &types[..if service { 3 } else { 2 }];
            for i in 0..set.len() {
                let Some(target) = set.target(i) else {
                    continue;
                };
                if (0..i).any(|j| {
                    set.target(j)
                        .is_some_and(|t| t.eq_ignore_ascii_case(target))
                }) {
                    continue;
                }
                let mut buf = [0u8; MAX_NAME_LEN];
                let Some(node) = self.zone.node(lowercase_into(target, &mut buf)) else {
                    continue;
                };
                for &rr_type in types {
                    if let Some(extra) = node.rrset(rr_type)
                        && self
                            .write_set(w, Section::Additional, node.name(), extra)
                            .is_err()
                    {
                        // A larger limit would have taken more.
                        self.fixed = false;
                        return;
                    }
                }
            }
        }
    }
}
