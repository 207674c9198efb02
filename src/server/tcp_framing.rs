//! TCP framing: splitting a TCP byte stream into DNS messages (RFC 1035
//! §4.2.2), each preceded by its length, two bytes big-endian.
//!
//! Pure and allocation-free, so the connection loop can answer every
//! complete message of one read and keep the partial tail for the next.

/// The complete length-prefixed messages at the front of a buffer, in
/// order.
///
/// Yields each message without its length prefix (possibly empty) and
/// stops at the first one that is not all there yet;
/// [`Messages::consumed`] then says how many bytes the yielded ones took.
pub(super) struct Messages<'a> {
    buf: &'a [u8],
    consumed: usize,
}

impl<'a> Messages<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Messages<'a> {
        Messages { buf, consumed: 0 }
    }

    /// Bytes taken by the messages yielded so far, prefixes included.
    pub(super) fn consumed(&self) -> usize {
        self.consumed
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.buf[self.consumed..].split_first_chunk::<2>()?;
        let len = u16::from_be_bytes(*len) as usize;
        let message = rest.get(..len)?;
        self.consumed += 2 + len;
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::Messages;

    /// Every message yielded, and the bytes consumed.
    fn split(buf: &[u8]) -> (Vec<&[u8]>, usize) {
        let mut split = Messages::new(buf);
        let messages = split.by_ref().collect();
        (messages, split.consumed())
    }

    #[test]
    fn yields_every_complete_message_in_order() {
        let buf = [0, 2, b'a', b'b', 0, 1, b'c', 0, 3, b'd', b'e', b'f'];
        assert_eq!(
            split(&buf),
            (vec![&b"ab"[..], &b"c"[..], &b"def"[..]], buf.len())
        );
    }

    #[test]
    fn keeps_a_partial_message_for_later() {
        let whole = [0, 1, b'x'];
        for cut in [1, 2, 3] {
            // One message, then the next one cut after `cut - 1` more bytes.
            let buf = [&whole[..], &[0, 2, b'y', b'z'][..cut]].concat();
            assert_eq!(split(&buf), (vec![&b"x"[..]], 3), "cut at {cut}");
        }
    }

    #[test]
    fn an_empty_or_one_byte_buffer_holds_no_message() {
        assert_eq!(split(&[]), (vec![], 0));
        assert_eq!(split(&[0]), (vec![], 0));
    }

    #[test]
    fn zero_length_messages_are_yielded_empty() {
        let buf = [0, 0, 0, 1, b'a', 0, 0];
        assert_eq!(split(&buf), (vec![&b""[..], &b"a"[..], &b""[..]], 7));
    }

    #[test]
    fn the_largest_message_fits_exactly() {
        let mut buf = vec![0xff, 0xff];
        buf.resize(2 + 65535, 7);
        let (messages, consumed) = split(&buf);
        assert_eq!(
            (messages.len(), messages[0].len(), consumed),
            (1, 65535, 65537)
        );
        let (messages, consumed) = split(&buf[..buf.len() - 1]);
        assert_eq!((messages.len(), consumed), (0, 0), "one byte short");
    }
}
