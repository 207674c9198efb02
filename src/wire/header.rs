//! The 12-byte message header (RFC 1035 §4.1.1): where each 16-bit field
//! sits, and reading or writing one in a message buffer.
//!
//! The bits of the flags word are in [`super::flag`], response codes in
//! [`super::rcode`].

/// Length of the header: the question starts at this offset.
pub(crate) const LEN: usize = 12;

/// One 16-bit field of the header, by its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field(usize);

/// The message ID.
pub(crate) const ID: Field = Field(0);
/// The flags word: QR, opcode, AA, TC, RD, RA, AD, CD and the RCODE.
pub(crate) const FLAGS: Field = Field(2);
/// Number of entries in the question section.
pub(crate) const QDCOUNT: Field = Field(4);
/// Number of records in the answer section.
pub(crate) const ANCOUNT: Field = Field(6);
/// Number of records in the authority section.
pub(crate) const NSCOUNT: Field = Field(8);
/// Number of records in the additional section.
pub(crate) const ARCOUNT: Field = Field(10);
/// The four section counts in message order, question first (as
/// [`super::Section`] numbers the others).
pub(crate) const COUNTS: [Field; 4] = [QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT];

/// The value of `field` in `message`, which holds at least a header.
#[inline]
pub(crate) fn get(message: &[u8], field: Field) -> u16 {
    u16::from_be_bytes([message[field.0], message[field.0 + 1]])
}

/// Sets `field` in `message`, which holds at least a header.
#[inline]
pub(crate) fn set(message: &mut [u8], field: Field, value: u16) {
    message[field.0..field.0 + 2].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_tile_the_header() {
        let mut message = [0u8; LEN];
        let fields = [ID, FLAGS, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT];
        for (i, &field) in fields.iter().enumerate() {
            set(&mut message, field, 0x0101 * (i as u16 + 1));
        }
        assert_eq!(message, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
        for (i, &field) in fields.iter().enumerate() {
            assert_eq!(get(&message, field), 0x0101 * (i as u16 + 1));
        }
        assert_eq!(COUNTS, fields[2..]);
    }
}
