//! The RFC 1035 §5.1 tokenizer: blanks separate tokens, `;` starts a comment,
//! `( … )` continues a record across lines, `"…"` quotes, `\` escapes.
//!
//! The output is one [`Entry`] per logical line (a record or a directive),
//! with the line it starts on, whether it started with a blank (same owner as
//! the previous record) and the `healthdns` annotation of its first line.
//! Escapes are kept as written in [`Token::raw`]; the field parsers decode them.

use std::borrow::Cow;

use crate::files::{self, MAX_ERRORS};

/// Where a token starts: 1-based line and column (the column counts bytes,
/// a tab as one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in bytes from the start of the line.
    pub col: u32,
}

/// One token as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// The source bytes, escapes undecoded, without the surrounding quotes:
    /// a slice of the file (owned only when a field parser joins tokens).
    pub raw: Cow<'a, [u8]>,
    /// True when the token was a `"quoted string"`.
    pub quoted: bool,
    /// Where the token starts (its opening quote, when quoted): errors
    /// about one field of a record that spans lines point at its own line.
    pub at: Position,
}

impl Token<'_> {
    /// The raw text when it is UTF-8, without copying.
    pub(crate) fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.raw).ok()
    }

    /// The raw text for messages: control characters and bytes that are
    /// not UTF-8 written `\DDD`.
    pub(crate) fn text(&self) -> String {
        files::escape(&self.raw).into_owned()
    }

    /// The raw text in a form `Name::from_text` takes: bytes beyond ASCII are
    /// written as `\DDD` so that nothing is lost.
    pub(crate) fn name_text(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        for &b in self.raw.iter() {
            if b.is_ascii() {
                out.push(b as char);
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out
    }

    /// True for an unquoted token equal to `word`, ignoring ASCII case.
    pub(crate) fn is_word(&self, word: &str) -> bool {
        !self.quoted && self.raw.eq_ignore_ascii_case(word.as_bytes())
    }
}

/// One logical line: a record or a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// 1-based line where the entry starts.
    pub line: u32,
    /// True when the line started with a blank: same owner as before.
    pub continues_owner: bool,
    /// The tokens, in order.
    pub tokens: Vec<Token<'a>>,
    /// The `; healthdns …` comment of the entry's first line, if any.
    pub annotation: Option<String>,
}

/// A syntax error found while splitting the text into tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LexError {
    /// A `"` without its closing `"` on the same line.
    #[error("quoted string not closed before the end of the line")]
    UnclosedQuote {
        /// Where the string started.
        line: u32,
    },
    /// A `(` never closed.
    #[error("'(' opened here is never closed")]
    UnclosedParen {
        /// Where the group started.
        line: u32,
    },
    /// A `)` without a `(`.
    #[error("')' without a matching '('")]
    StrayParen {
        /// Where it is.
        line: u32,
    },
}

impl LexError {
    /// The 1-based line of the problem.
    pub(crate) fn line(&self) -> u32 {
        match self {
            LexError::UnclosedQuote { line }
            | LexError::UnclosedParen { line }
            | LexError::StrayParen { line } => *line,
        }
    }
}

/// Splits a zone file into entries. Never fails as a whole: problems are
/// returned beside whatever could be read. (The reader streams with
/// [`lex_each`]; this collects, for tests.)
#[cfg(test)]
pub(crate) fn lex(input: &[u8]) -> (Vec<Entry<'_>>, Vec<LexError>) {
    let mut entries = Vec::new();
    let (errors, _) = lex_each(input, |entry| entries.push(entry));
    (entries, errors)
}

/// [`lex`], handing each entry to `sink` as soon as it is complete, so that
/// a large zone is never held as tokens all at once. Returns the first
/// [`MAX_ERRORS`] problems and how many more there were.
pub(crate) fn lex_each<'a>(
    input: &'a [u8],
    mut sink: impl FnMut(Entry<'a>),
) -> (Vec<LexError>, usize) {
    Lexer {
        input,
        pos: 0,
        line: 1,
        line_start: 0,
        sink: &mut sink,
        errors: Vec::new(),
        more_errors: 0,
    }
    .run()
}

struct Lexer<'a, 's> {
    input: &'a [u8],
    pos: usize,
    line: u32,
    /// Offset of the first byte of the current line.
    line_start: usize,
    sink: &'s mut dyn FnMut(Entry<'a>),
    errors: Vec<LexError>,
    more_errors: usize,
}

impl<'a> Lexer<'a, '_> {
    fn run(mut self) -> (Vec<LexError>, usize) {
        let mut current = self.new_entry(self.starts_blank());
        let mut depth = 0u32;
        let mut paren_line = 0;
        while let Some(&b) = self.input.get(self.pos) {
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.new_line();
                    if depth == 0 {
                        let blank = self.starts_blank();
                        self.finish(&mut current, blank);
                    }
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b';' => {
                    let first_line = !current.tokens.is_empty() && current.line == self.line;
                    let comment = self.comment();
                    if let Some(note) = annotation(comment).filter(|_| first_line) {
                        current.annotation.get_or_insert(note);
                    }
                }
                b'(' => {
                    self.pos += 1;
                    if current.tokens.is_empty() && depth == 0 {
                        current.line = self.line;
                    }
                    if depth == 0 {
                        paren_line = self.line;
                    }
                    depth += 1;
                }
                b')' => {
                    self.pos += 1;
                    if depth == 0 {
                        self.error(LexError::StrayParen { line: self.line });
                    } else {
                        depth -= 1;
                    }
                }
                _ => {
                    if current.tokens.is_empty() && depth == 0 {
                        current.line = self.line;
                    }
                    let token = if b == b'"' {
                        self.quoted()
                    } else {
                        self.unquoted()
                    };
                    current.tokens.push(token);
                }
            }
        }
        if depth > 0 {
            self.error(LexError::UnclosedParen { line: paren_line });
        }
        self.finish(&mut current, false);
        (self.errors, self.more_errors)
    }

    /// Counts the newline just stepped over.
    fn new_line(&mut self) {
        self.line = self.line.saturating_add(1);
        self.line_start = self.pos;
    }

    /// Where the byte at the current offset is.
    fn here(&self) -> Position {
        let col = (self.pos - self.line_start).saturating_add(1);
        Position {
            line: self.line,
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }

    /// Keeps the first [`MAX_ERRORS`] problems and counts the rest.
    fn error(&mut self, error: LexError) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(error);
        } else {
            self.more_errors += 1;
        }
    }

    fn new_entry(&self, continues_owner: bool) -> Entry<'a> {
        Entry {
            line: self.line,
            continues_owner,
            tokens: Vec::new(),
            annotation: None,
        }
    }

    fn starts_blank(&self) -> bool {
        matches!(self.input.get(self.pos), Some(b' ' | b'\t'))
    }

    /// Ends the current entry; the next one starts on the current line.
    fn finish(&mut self, current: &mut Entry<'a>, next_blank: bool) {
        let next = self.new_entry(next_blank);
        let done = std::mem::replace(current, next);
        if !done.tokens.is_empty() {
            (self.sink)(done);
        }
    }

    /// Skips a comment up to (not including) the newline; returns its text.
    fn comment(&mut self) -> &[u8] {
        let start = self.pos + 1;
        while self.input.get(self.pos).is_some_and(|&b| b != b'\n') {
            self.pos += 1;
        }
        self.input.get(start..self.pos).unwrap_or_default()
    }

    fn quoted(&mut self) -> Token<'a> {
        let start_line = self.line;
        let at = self.here();
        self.pos += 1;
        let start = self.pos;
        let mut end = start;
        loop {
            match self.input.get(self.pos) {
                None | Some(b'\n') => {
                    self.error(LexError::UnclosedQuote { line: start_line });
                    break;
                }
                Some(b'"') => {
                    end = self.pos;
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escape(),
                Some(_) => self.pos += 1,
            }
            end = self.pos;
        }
        Token {
            raw: Cow::Borrowed(&self.input[start..end]),
            quoted: true,
            at,
        }
    }

    fn unquoted(&mut self) -> Token<'a> {
        let start = self.pos;
        let at = self.here();
        while let Some(&b) = self.input.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => self.escape(),
                _ => self.pos += 1,
            }
        }
        Token {
            raw: Cow::Borrowed(&self.input[start..self.pos]),
            quoted: false,
            at,
        }
    }

    /// Steps over a backslash and the byte it escapes (kept as written).
    fn escape(&mut self) {
        self.pos += 1;
        if let Some(&b) = self.input.get(self.pos) {
            self.pos += 1;
            if b == b'\n' {
                self.new_line();
            }
        }
    }
}

/// The text after `healthdns` when a comment starts with that word.
fn annotation(comment: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(comment);
    let rest = text.trim_start().strip_prefix("healthdns")?;
    if rest.is_empty() || rest.starts_with(char::is_whitespace) {
        Some(rest.trim().to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raws(entry: &Entry) -> Vec<String> {
        entry.tokens.iter().map(Token::text).collect()
    }

    #[test]
    fn splits_on_blanks_and_skips_comments() {
        let (entries, errors) =
            lex(b"www  IN\tA 192.0.2.1 ; a comment\n\n; only comment\nmail A 1.2.3.4");
        assert!(errors.is_empty());
        assert_eq!(entries.len(), 2);
        assert_eq!(raws(&entries[0]), ["www", "IN", "A", "192.0.2.1"]);
        assert_eq!(entries[0].line, 1);
        assert_eq!(entries[1].line, 4);
        assert_eq!(entries[0].annotation, None);
    }

    #[test]
    fn parentheses_join_lines() {
        let text = b"@ SOA ns hm (\n  1 ; serial\n  2 3\n  4 5 )\nnext A 1.2.3.4\n";
        let (entries, errors) = lex(text);
        assert!(errors.is_empty());
        assert_eq!(entries.len(), 2);
        assert_eq!(
            raws(&entries[0]),
            ["@", "SOA", "ns", "hm", "1", "2", "3", "4", "5"]
        );
        assert_eq!(entries[0].line, 1);
        assert_eq!(entries[1].line, 5);
    }

    #[test]
    fn quotes_and_escapes_keep_raw_text() {
        let (entries, errors) = lex(br#"t TXT "a \"b\" ; c" d\ e \059x"#);
        assert!(errors.is_empty());
        let tokens = &entries[0].tokens;
        assert_eq!(*tokens[2].raw, *br#"a \"b\" ; c"#);
        assert!(tokens[2].quoted);
        assert_eq!(*tokens[3].raw, *br"d\ e");
        assert_eq!(*tokens[4].raw, *br"\059x");
        assert!(!tokens[4].quoted);
    }

    #[test]
    fn tokens_know_their_line_and_column() {
        let (entries, _) = lex(b"www  IN A 1.2.3.4\n@ SOA ( ns\n\t \"h m\" 1 )\nx TXT a\\\nb c\n");
        let at = |e: usize, t: usize| {
            let p = entries[e].tokens[t].at;
            (p.line, p.col)
        };
        assert_eq!([at(0, 0), at(0, 1), at(0, 3)], [(1, 1), (1, 6), (1, 11)]);
        assert_eq!([at(1, 2), at(1, 3), at(1, 4)], [(2, 9), (3, 3), (3, 9)]);
        // After an escaped newline, columns count from the new line.
        assert_eq!([at(2, 2), at(2, 3)], [(4, 7), (5, 3)]);
    }

    #[test]
    fn blank_start_continues_owner() {
        let (entries, _) = lex(b"www A 1.2.3.4\n  A 1.2.3.5\n\tTXT x\nz A 1.1.1.1\n");
        let flags: Vec<bool> = entries.iter().map(|e| e.continues_owner).collect();
        assert_eq!(flags, [false, true, true, false]);
    }

    #[test]
    fn annotations_from_first_line_only() {
        let text = b"a A 1.2.3.4 ; healthdns failover=primary check=web \n\
                     b A 1.2.3.4 ;healthdns\n\
                     c A 1.2.3.4 ; healthdnsx\n\
                     d ( A ; other\n 1.2.3.4 ) ; healthdns late\n\
                     ; healthdns alone\n";
        let (entries, _) = lex(text);
        let notes: Vec<Option<&str>> = entries.iter().map(|e| e.annotation.as_deref()).collect();
        assert_eq!(
            notes,
            [Some("failover=primary check=web"), Some(""), None, None]
        );
    }

    #[test]
    fn reports_unbalanced_syntax() {
        let (_, errors) = lex(b"a TXT \"open\nb ( A\n");
        assert_eq!(
            errors,
            [
                LexError::UnclosedQuote { line: 1 },
                LexError::UnclosedParen { line: 2 }
            ]
        );
        let (_, errors) = lex(b"a A 1.2.3.4 )\n");
        assert_eq!(errors, [LexError::StrayParen { line: 1 }]);
    }

    #[test]
    fn keeps_the_first_errors_and_counts_the_rest() {
        let text = "a A 192.0.2.1 )\n".repeat(MAX_ERRORS + 50);
        let (errors, more) = lex_each(text.as_bytes(), |_| {});
        assert_eq!((errors.len(), more), (MAX_ERRORS, 50));
        assert_eq!(errors[MAX_ERRORS - 1].line(), MAX_ERRORS as u32);
    }

    #[test]
    fn text_for_messages_escapes_control_bytes_and_invalid_utf8() {
        let token = Token {
            raw: Cow::Borrowed(b"a\x1b\xff\xc3\xa9\\059"),
            quoted: false,
            at: Position::default(),
        };
        assert_eq!(token.text(), "a\\027\\255é\\059");
    }

    #[test]
    fn name_text_escapes_non_ascii() {
        let token = Token {
            raw: Cow::Borrowed(&[b'a', 0xc3, 0xa9]),
            quoted: false,
            at: Position::default(),
        };
        assert_eq!(token.name_text(), "a\\195\\169");
    }
}
