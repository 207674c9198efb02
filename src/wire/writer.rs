//! Writing one response into a fixed buffer, with name compression.
//!
//! Compression (RFC 1035 §4.1.4) points owner names, and the names inside
//! RDATA of the types RFC 3597 §4 lists as compressible, at earlier copies;
//! of those, MD, MF, MB, MG and MR go uncompressed, as Knot sends them.
//! Targets are remembered as offsets in a small array, so writing allocates
//! nothing; past that array's size names are still written, only uncompressed.

use super::header::{self, FLAGS, ID};
use super::query::{ClientSubnet, OPTION_CLIENT_SUBNET};
use super::{CLIENT_SUBNET_MAX_LEN, OPT_LEN, flag, rtype};

/// The sections records go into, in message order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Section {
    /// Answer section.
    Answer = 1,
    /// Authority section.
    Authority = 2,
    /// Additional section.
    Additional = 3,
}

/// Where RDATA holds names that may be compressed (RFC 3597 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdataLayout {
    /// Copied as is.
    Opaque,
    /// One name starting at this offset (NS, CNAME, PTR at 0; MX at 2),
    /// followed by nothing.
    NameAt(u8),
    /// SOA (two names, then 20 bytes of counters) and MINFO (two names).
    TwoNames,
}

impl RdataLayout {
    /// The layout for a record type.
    pub fn for_type(rr_type: u16) -> RdataLayout {
        match rr_type {
            rtype::NS | rtype::CNAME | rtype::PTR => RdataLayout::NameAt(0),
            rtype::MX => RdataLayout::NameAt(2),
            rtype::SOA | rtype::MINFO => RdataLayout::TwoNames,
            _ => RdataLayout::Opaque,
        }
    }
}

/// The record did not fit within the size limit; nothing of it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

const MAX_TARGETS: usize = 64;
/// The top two bits that make a compression pointer of an offset (RFC 1035
/// §4.1.4).
const POINTER: u16 = 0xc000;
/// A compression pointer to the question name.
const QUESTION_POINTER: u16 = POINTER | header::LEN as u16;

/// A point to roll a [`Writer`] back to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    counts: [u16; 4],
    targets: usize,
}

/// Builds one response message in a caller-provided buffer.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    limit: usize,
    counts: [u16; 4],
    targets: [u16; MAX_TARGETS],
    /// The uncompressed length of the name from each target to the root:
    /// a suffix can only match a target of its own length.
    target_lens: [u8; MAX_TARGETS],
    target_count: usize,
    /// Length of the question name, which follows the header (0 before the
    /// question, and for the root): most names written after it are that
    /// name again.
    question_len: usize,
}

impl<'a> Writer<'a> {
    /// A writer whose records must end within `limit` bytes. The OPT record
    /// written by [`Writer::opt`] may go past `limit` by [`OPT_LEN`]; `buf`
    /// must have room for that.
    pub(crate) fn new(buf: &'a mut [u8], limit: usize) -> Writer<'a> {
        let limit = limit.min(buf.len()).min(u16::MAX as usize);
        Writer {
            buf,
            len: 0,
            limit,
            counts: [0; 4],
            targets: [0; MAX_TARGETS],
            target_lens: [0; MAX_TARGETS],
            target_count: 0,
            question_len: 0,
        }
    }

    /// Writes the header; counts are filled in by [`Writer::finish`].
    pub(crate) fn header(&mut self, id: u16, flags: u16) {
        header::set(self.buf, ID, id);
        header::set(self.buf, FLAGS, flags);
        for field in header::COUNTS {
            header::set(self.buf, field, 0);
        }
        self.len = header::LEN;
    }

    /// The flags word written so far.
    pub(crate) fn flags(&self) -> u16 {
        header::get(self.buf, FLAGS)
    }

    /// Replaces the flags word.
    pub(crate) fn set_flags(&mut self, flags: u16) {
        header::set(self.buf, FLAGS, flags);
    }

    /// Sets the 4-bit header RCODE.
    pub(crate) fn set_rcode(&mut self, rcode: u16) {
        let flags = (self.flags() & !flag::RCODE_MASK) | (rcode & flag::RCODE_MASK);
        self.set_flags(flags);
    }

    /// Writes the question; the name is copied as received so its case is kept.
    pub(crate) fn question(&mut self, qname: &[u8], qtype: u16, qclass: u16) -> Result<(), Full> {
        let start = self.len;
        self.name(qname)?;
        self.put(&qtype.to_be_bytes())?;
        self.put(&qclass.to_be_bytes())
            .inspect_err(|_| self.len = start)?;
        self.counts[0] = 1;
        if start == header::LEN && qname.len() > 1 {
            self.question_len = qname.len();
        }
        Ok(())
    }

    /// A point to come back to with [`Writer::rollback`].
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            len: self.len,
            counts: self.counts,
            targets: self.target_count,
        }
    }

    /// Forgets everything written after `mark`.
    pub(crate) fn rollback(&mut self, mark: Mark) {
        self.len = mark.len;
        self.counts = mark.counts;
        self.target_count = mark.targets;
    }

    /// Number of records written to a section so far.
    pub(crate) fn count(&self, section: Section) -> u16 {
        self.counts[section as usize]
    }

    /// Appends one resource record to `section`; sections must be written in
    /// order. On [`Full`] nothing is left of the record.
    pub(crate) fn record(
        &mut self,
        section: Section,
        owner: &[u8],
        rr_type: u16,
        ttl: u32,
        rdata: &[u8],
        layout: RdataLayout,
    ) -> Result<(), Full> {
        let mark = self.mark();
        let result = self.record_inner(owner, rr_type, ttl, rdata, layout);
        match result {
            Ok(()) => self.counts[section as usize] += 1,
            Err(Full) => self.rollback(mark),
        }
        result
    }

    fn record_inner(
        &mut self,
        owner: &[u8],
        rr_type: u16,
        ttl: u32,
        rdata: &[u8],
        layout: RdataLayout,
    ) -> Result<(), Full> {
        self.name(owner)?;
        self.put(&rr_type.to_be_bytes())?;
        self.put(&super::CLASS_IN.to_be_bytes())?;
        self.put(&ttl.to_be_bytes())?;
        let rdlen_at = self.len;
        self.put(&[0, 0])?;
        match layout {
            RdataLayout::Opaque => self.put(rdata)?,
            RdataLayout::NameAt(offset) => {
                let offset = offset as usize;
                self.put(&rdata[..offset])?;
                self.name(&rdata[offset..])?;
            }
            RdataLayout::TwoNames => {
                let mname_len = crate::name::wire_name_len(rdata).unwrap_or(rdata.len());
                self.name(&rdata[..mname_len])?;
                let rest = &rdata[mname_len..];
                let rname_len = crate::name::wire_name_len(rest).unwrap_or(rest.len());
                self.name(&rest[..rname_len])?;
                self.put(&rest[rname_len..])?;
            }
        }
        let rdlen = (self.len - rdlen_at - 2) as u16;
        self.buf[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn written(&self) -> usize {
        self.len
    }

    /// Appends the OPT record (RFC 6891): it may use the room reserved past
    /// the limit, so it always fits a buffer sized as [`Writer::new`] asks.
    pub(crate) fn opt(&mut self, payload: u16, rcode: u16, version: u8, dnssec_ok: bool) {
        let end = self.len + OPT_LEN;
        assert!(end <= self.buf.len(), "buffer has no room reserved for OPT");
        put_opt(
            &mut self.buf[self.len..end],
            payload,
            rcode,
            version,
            dnssec_ok,
        );
        self.len = end;
        self.counts[Section::Additional as usize] += 1;
    }

    /// Appends a client subnet option (RFC 7871 §6) to the OPT record
    /// [`Writer::opt`] just wrote: the query's family, source prefix length
    /// and address, and `scope`, the prefix length the answer depends on.
    /// It goes past the limit, as the OPT record does: a caller that may
    /// write one reserves [`CLIENT_SUBNET_MAX_LEN`] more bytes than
    /// [`Writer::new`] asks for.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "written by geo answers (issue 21), not built yet")
    )]
    pub(crate) fn client_subnet(&mut self, subnet: &ClientSubnet, scope: u8) {
        let (octets, used) = subnet.address_octets();
        let len = 8 + used;
        let end = self.len + len;
        assert!(end <= self.buf.len(), "buffer has no room reserved for ECS");
        let opt = self.len - OPT_LEN;
        assert!(
            self.buf[opt + 1..opt + 3] == rtype::OPT.to_be_bytes(),
            "the client subnet follows the OPT record"
        );
        let b = &mut self.buf[self.len..end];
        b[0..2].copy_from_slice(&OPTION_CLIENT_SUBNET.to_be_bytes());
        b[2..4].copy_from_slice(&((len - 4) as u16).to_be_bytes());
        b[4..6].copy_from_slice(&subnet.family().to_be_bytes());
        b[6] = subnet.source;
        b[7] = scope;
        b[8..].copy_from_slice(&octets[..used]);
        let rdlen = u16::from_be_bytes([self.buf[opt + 9], self.buf[opt + 10]]) + len as u16;
        self.buf[opt + 9..opt + 11].copy_from_slice(&rdlen.to_be_bytes());
        self.len = end;
        debug_assert!(len <= CLIENT_SUBNET_MAX_LEN);
    }

    /// Fills in the section counts; returns the message length.
    pub(crate) fn finish(self) -> usize {
        for (field, count) in header::COUNTS.into_iter().zip(self.counts) {
            header::set(self.buf, field, count);
        }
        self.len
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.len + bytes.len();
        if end > self.limit {
            return Err(Full);
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Writes an uncompressed wire name, pointing its longest already-written
    /// suffix at the earlier copy.
    fn name(&mut self, name: &[u8]) -> Result<(), Full> {
        // The question name byte for byte (answers are written with the
        // query's own spelling): the pointer the search below would find
        // first, without the search.
        if self.question_len != 0 && name == &self.buf[header::LEN..header::LEN + self.question_len]
        {
            return self.put(&QUESTION_POINTER.to_be_bytes());
        }
        let mut at = 0;
        while name.get(at).is_some_and(|&len| len != 0) {
            if let Some(target) = self.find(&name[at..]) {
                self.literal_labels(&name[..at], name.len())?;
                return self.put(&(POINTER | target).to_be_bytes());
            }
            at += 1 + name[at] as usize;
        }
        self.literal_labels(&name[..at], name.len())?;
        self.put(&[0])
    }

    /// Writes the leading `labels` of a name `full_len` bytes long (the
    /// rest follows as a pointer or the root), each a target for later names.
    fn literal_labels(&mut self, labels: &[u8], full_len: usize) -> Result<(), Full> {
        let start = self.len;
        self.put(labels)?;
        let mut at = 0;
        while at < labels.len() {
            let offset = start + at;
            if offset < 0x4000 && self.target_count < MAX_TARGETS {
                self.targets[self.target_count] = offset as u16;
                self.target_lens[self.target_count] = (full_len - at) as u8;
                self.target_count += 1;
            }
            at += 1 + labels[at] as usize;
        }
        Ok(())
    }

    fn find(&self, suffix: &[u8]) -> Option<u16> {
        let len = suffix.len() as u8;
        (0..self.target_count)
            .filter(|&i| self.target_lens[i] == len)
            .map(|i| self.targets[i])
            .find(|&target| self.matches(target as usize, suffix))
    }

    /// True when the (possibly compressed) name at `pos` in the buffer equals
    /// `suffix`, ignoring ASCII case.
    fn matches(&self, mut pos: usize, suffix: &[u8]) -> bool {
        let mut at = 0;
        let mut hops = 0;
        loop {
            let len = self.buf[pos];
            if len >= 0xc0 {
                hops += 1;
                if hops > 64 {
                    return false;
                }
                pos = (u16::from_be_bytes([len, self.buf[pos + 1]]) & !POINTER) as usize;
                continue;
            }
            let label = len as usize;
            if suffix.get(at) != Some(&len) {
                return false;
            }
            if label == 0 {
                return true;
            }
            if !self.buf[pos + 1..pos + 1 + label]
                .eq_ignore_ascii_case(&suffix[at + 1..at + 1 + label])
            {
                return false;
            }
            pos += 1 + label;
            at += 1 + label;
        }
    }
}

/// Writes an OPT record (RFC 6891) of no options into `b`, which is
/// [`OPT_LEN`] bytes long; the caller counts it in ARCOUNT.
pub(crate) fn put_opt(b: &mut [u8], payload: u16, rcode: u16, version: u8, dnssec_ok: bool) {
    b[0] = 0;
    b[1..3].copy_from_slice(&rtype::OPT.to_be_bytes());
    b[3..5].copy_from_slice(&payload.to_be_bytes());
    b[5] = (rcode >> 4) as u8;
    b[6] = version;
    b[7] = if dnssec_ok { 0x80 } else { 0 };
    b[8..11].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Message;
    use hickory_proto::serialize::binary::BinDecodable;

    fn wire(text: &str) -> Vec<u8> {
        crate::name::Name::from_text(text, None)
            .unwrap()
            .as_wire()
            .to_vec()
    }

    #[test]
    fn writes_a_message_hickory_can_read() {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, 512 - OPT_LEN);
        w.header(7, 0x8400);
        w.question(&wire("WWW.example.com."), 1, 1).unwrap();
        w.record(
            Section::Answer,
            &wire("www.example.com."),
            1,
            300,
            &[192, 0, 2, 1],
            RdataLayout::Opaque,
        )
        .unwrap();
        let ns = wire("ns1.example.com.");
        w.record(
            Section::Authority,
            &wire("example.com."),
            2,
            60,
            &ns,
            RdataLayout::NameAt(0),
        )
        .unwrap();
        let mut mx = vec![0, 10];
        mx.extend(wire("mail.example.com."));
        w.record(
            Section::Additional,
            &wire("example.com."),
            15,
            60,
            &mx,
            RdataLayout::NameAt(2),
        )
        .unwrap();
        w.opt(1232, 0, 0, true);
        let len = w.finish();
        let message = Message::from_bytes(&buf[..len]).unwrap();
        assert_eq!(message.answers.len(), 1);
        assert_eq!(message.answers[0].name.to_string(), "WWW.example.com.");
        assert_eq!(message.authorities[0].data.to_string(), "ns1.example.com.");
        assert_eq!(
            message.additionals[0].data.to_string(),
            "10 mail.example.com."
        );
        assert_eq!(message.edns.as_ref().unwrap().max_payload(), 1232);
        // Owner of the answer is a single pointer to the question name.
        assert_eq!(&buf[12 + 17 + 4..12 + 17 + 6], &[0xc0, 12]);
    }

    /// The option is the one Knot 3.2.6 writes for the same query (its
    /// scope aside: Knot's is always 0), and the OPT record's length
    /// counts it.
    #[test]
    fn writes_a_client_subnet_after_the_opt_record() {
        use std::net::IpAddr;
        let mut buf = [0u8; 512 + OPT_LEN + CLIENT_SUBNET_MAX_LEN];
        let mut w = Writer::new(&mut buf, 512);
        w.header(0x1234, flag::QR);
        w.question(&wire("www.e.test."), rtype::A, 1).unwrap();
        w.opt(1232, 0, 0, false);
        let v4 = ClientSubnet {
            addr: "192.0.2.0".parse::<IpAddr>().unwrap(),
            source: 24,
        };
        w.client_subnet(&v4, 20);
        let len = w.finish();
        assert_eq!(
            &buf[len - OPT_LEN - 11..len],
            [
                0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 11, // OPT, RDLEN 11
                0, 8, 0, 7, 0, 1, 24, 20, 192, 0, 2, // ECS, family 1, /24, scope /20
            ]
        );
        let message = Message::from_bytes(&buf[..len]).unwrap();
        assert!(message.edns.is_some(), "hickory reads the OPT record");

        let mut buf = [0u8; 12 + OPT_LEN + CLIENT_SUBNET_MAX_LEN];
        let mut w = Writer::new(&mut buf, 12);
        w.header(1, flag::QR);
        w.opt(1232, 0, 0, false);
        let v6 = ClientSubnet {
            addr: "2001:db8:0:80::".parse::<IpAddr>().unwrap(),
            source: 57,
        };
        w.client_subnet(&v6, 48);
        let len = w.finish();
        assert_eq!(
            &buf[12 + 9..len],
            [
                0, 16, 0, 8, 0, 12, 0, 2, 57, 48, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0x80
            ]
        );
    }

    #[test]
    fn full_records_leave_nothing_behind() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf, 53);
        w.header(1, 0);
        w.question(&wire("a.example."), 16, 1).unwrap();
        let before = w.mark();
        assert_eq!(
            w.record(
                Section::Answer,
                &wire("a.example."),
                16,
                1,
                &[20; 21],
                RdataLayout::Opaque
            ),
            Err(Full)
        );
        assert_eq!(w.count(Section::Answer), 0);
        assert_eq!(w.mark().len, before.len);
        let len = w.finish();
        assert_eq!(Message::from_bytes(&buf[..len]).unwrap().answers.len(), 0);
    }

    #[test]
    fn minfo_names_are_compressed() {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, 500);
        w.header(1, 0x8400);
        w.question(&wire("minfo.example.com."), 14, 1).unwrap();
        let mut minfo = wire("rmail.example.com.");
        minfo.extend(wire("email.example.com."));
        assert_eq!(RdataLayout::for_type(14), RdataLayout::TwoNames);
        w.record(
            Section::Answer,
            &wire("minfo.example.com."),
            14,
            300,
            &minfo,
            RdataLayout::for_type(14),
        )
        .unwrap();
        let len = w.finish();
        // question 19 + 4; owner 2 + fixed 10 + "rmail" 6 + ptr 2 + "email" 6 + ptr 2
        assert_eq!(len, 12 + 23 + 2 + 10 + 6 + 2 + 6 + 2);
        // Both point at "example.com." in the question (offset 18). (hickory
        // reads MINFO as opaque bytes, so the check is by hand.)
        assert_eq!(&buf[47..len], b"\x05rmail\xc0\x12\x05email\xc0\x12");
    }

    /// The types RFC 3597 §4 allows to compress and Knot does not (MD, MF,
    /// MB, MG, MR), and every type after RFC 3597, go as written.
    #[test]
    fn only_knots_compressed_types_are() {
        let compressed = [2, 5, 6, 12, 14, 15];
        for rr_type in 0..=300u16 {
            let layout = RdataLayout::for_type(rr_type);
            assert_eq!(
                layout != RdataLayout::Opaque,
                compressed.contains(&rr_type),
                "type {rr_type}: {layout:?}"
            );
        }
    }

    #[test]
    fn soa_names_are_compressed() {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, 500);
        w.header(1, 0x8400);
        w.question(&wire("x.example.com."), 1, 1).unwrap();
        let mut soa = wire("ns1.example.com.");
        soa.extend(wire("hostmaster.example.com."));
        soa.extend([0u8; 20]);
        w.record(
            Section::Authority,
            &wire("example.com."),
            6,
            300,
            &soa,
            RdataLayout::TwoNames,
        )
        .unwrap();
        let len = w.finish();
        // owner 2 + fixed 10 + "ns1" 4 + ptr 2 + "hostmaster" 11 + ptr 2 + 20
        assert_eq!(len, 12 + 19 + 2 + 10 + 4 + 2 + 11 + 2 + 20);
        let message = Message::from_bytes(&buf[..len]).unwrap();
        assert!(
            message.authorities[0]
                .data
                .to_string()
                .starts_with("ns1.example.com. hostmaster.example.com.")
        );
    }

    /// Every name is pointed at the longest suffix already written, whatever
    /// its case and whether it came as a question, an owner or RDATA; a
    /// suffix of another length never matches.
    #[test]
    fn names_point_at_the_longest_written_suffix() {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, 500);
        w.header(1, 0x8400);
        w.question(&wire("Mail.Example.COM."), 15, 1).unwrap();
        let q = 12; // "Mail" at 12, "Example" at 17, "COM" at 25
        let mut mx = vec![0, 10];
        mx.extend(wire("mx.example.com."));
        // The question's own bytes, then another spelling of them.
        for owner in ["Mail.Example.COM.", "mail.example.com."] {
            w.record(
                Section::Answer,
                &wire(owner),
                15,
                60,
                &mx,
                RdataLayout::NameAt(2),
            )
            .unwrap();
        }
        // "example.org.": "com" does not hold "org", nothing matches.
        w.record(
            Section::Additional,
            &wire("example.org."),
            1,
            60,
            &[192, 0, 2, 1],
            RdataLayout::Opaque,
        )
        .unwrap();
        // "com." alone, and "ns.mx.example.com." below a name in RDATA.
        w.record(
            Section::Additional,
            &wire("com."),
            1,
            60,
            &[192, 0, 2, 2],
            RdataLayout::Opaque,
        )
        .unwrap();
        w.record(
            Section::Additional,
            &wire("ns.mx.example.com."),
            1,
            60,
            &[192, 0, 2, 3],
            RdataLayout::Opaque,
        )
        .unwrap();
        let len = w.finish();
        let after_question = q + 18 + 4;
        let first = &buf[after_question..];
        assert_eq!(&first[..2], &[0xc0, q as u8], "owner = the question");
        // RDATA: preference, then "mx" and a pointer to "Example".
        assert_eq!(&first[12..17], &[0, 10, 2, b'm', b'x']);
        assert_eq!(&first[17..19], &[0xc0, 17]);
        let second = &buf[after_question + 19..];
        assert_eq!(&second[..2], &[0xc0, q as u8], "other case, same pointer");
        // The second MX target is the first one's "mx" label.
        assert_eq!(&second[14..16], &[0xc0, (after_question + 14) as u8]);
        let third = &buf[after_question + 19 + 16..];
        assert_eq!(&third[..13], b"\x07example\x03org\x00");
        let fourth = &third[13 + 14..];
        assert_eq!(
            &fourth[..2],
            &[0xc0, 25],
            "com. = the question's last label"
        );
        let fifth = &fourth[2 + 14..];
        assert_eq!(
            &fifth[..5],
            &[2, b'n', b's', 0xc0, (after_question + 14) as u8]
        );
        let message = Message::from_bytes(&buf[..len]).unwrap();
        assert_eq!(message.answers[0].name.to_string(), "Mail.Example.COM.");
        // A pointer takes the spelling of what it points at.
        assert_eq!(
            message.additionals[2].name.to_string(),
            "ns.mx.Example.COM."
        );
    }
}
