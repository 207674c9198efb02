//! A small reader for the DOM that `chromium --dump-dom` prints: start and
//! end tags, attributes, text and comments, built into a tree a test can
//! query by attribute. Chromium's serializer is regular (attributes in
//! double quotes, `&amp; &lt; &gt; &quot; &nbsp;` escaped), so this is not
//! a general HTML parser and does not try to be.

use std::collections::BTreeMap;

/// Elements whose start tag has no end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements whose content is raw text up to their end tag.
const RAW: &[&str] = &["script", "style"];

/// One node of the tree.
#[derive(Debug, Clone)]
enum Node {
    Element(usize),
    Text(String),
}

/// One element: its tag, attributes (decoded) and children.
#[derive(Debug, Clone)]
pub struct Element {
    pub tag: String,
    pub attrs: BTreeMap<String, String>,
    children: Vec<Node>,
}

/// The parsed document: every element in document order, index 0 the root.
#[derive(Debug)]
pub struct Dom {
    elements: Vec<Element>,
}

/// A handle on one element of a [`Dom`].
#[derive(Clone, Copy)]
pub struct El<'a> {
    dom: &'a Dom,
    index: usize,
}

impl Dom {
    /// Parses `html` as Chromium serializes it.
    pub fn parse(html: &str) -> Dom {
        let mut elements = vec![Element {
            tag: "#root".into(),
            attrs: BTreeMap::new(),
            children: Vec::new(),
        }];
        let mut stack: Vec<usize> = vec![0];
        let mut rest = html;
        while !rest.is_empty() {
            let top = *stack.last().expect("root stays on the stack");
            if let Some(after) = rest.strip_prefix("<!--") {
                let end = after.find("-->").map(|i| i + 3).unwrap_or(after.len());
                rest = &after[end..];
            } else if rest.starts_with("<!") {
                let end = rest.find('>').map(|i| i + 1).unwrap_or(rest.len());
                rest = &rest[end..];
            } else if let Some(after) = rest.strip_prefix("</") {
                let end = after.find('>').unwrap_or(after.len());
                let tag = after[..end].trim().to_ascii_lowercase();
                rest = after.get(end + 1..).unwrap_or("");
                if let Some(pos) = stack.iter().rposition(|&i| elements[i].tag == tag)
                    && pos > 0
                {
                    stack.truncate(pos);
                }
            } else if rest.starts_with('<')
                && rest[1..].starts_with(|c: char| c.is_ascii_alphabetic())
            {
                let (tag, attrs, len) = start_tag(rest);
                rest = &rest[len..];
                let index = elements.len();
                elements.push(Element {
                    tag: tag.clone(),
                    attrs,
                    children: Vec::new(),
                });
                elements[top].children.push(Node::Element(index));
                if RAW.contains(&tag.as_str()) {
                    let close = format!("</{tag}");
                    let end = rest.find(&close).unwrap_or(rest.len());
                    elements[index]
                        .children
                        .push(Node::Text(rest[..end].to_string()));
                    rest = &rest[end..];
                    stack.push(index);
                } else if !VOID.contains(&tag.as_str()) {
                    stack.push(index);
                }
            } else {
                let first = rest.chars().next().map_or(1, char::len_utf8);
                let end = rest[first..]
                    .find('<')
                    .map(|i| i + first)
                    .unwrap_or(rest.len());
                elements[top]
                    .children
                    .push(Node::Text(decode(&rest[..end])));
                rest = &rest[end..];
            }
        }
        Dom { elements }
    }

    fn el(&self, index: usize) -> El<'_> {
        El { dom: self, index }
    }

    /// Every element, in document order.
    pub fn all(&self) -> impl Iterator<Item = El<'_>> {
        (1..self.elements.len()).map(|i| self.el(i))
    }

    /// Every element with attribute `name` (any value).
    pub fn with_attr<'a>(&'a self, name: &'a str) -> impl Iterator<Item = El<'a>> + 'a {
        self.all().filter(move |e| e.attr(name).is_some())
    }

    /// Every element whose attribute `name` is `value`.
    pub fn with<'a>(&'a self, name: &'a str, value: &'a str) -> impl Iterator<Item = El<'a>> + 'a {
        self.all().filter(move |e| e.attr(name) == Some(value))
    }

    /// The one element whose attribute `name` is `value`; panics unless
    /// there is exactly one.
    #[track_caller]
    pub fn one(&self, name: &str, value: &str) -> El<'_> {
        let found: Vec<El<'_>> = self.all().filter(|e| e.attr(name) == Some(value)).collect();
        assert_eq!(
            found.len(),
            1,
            "expected one element with {name}={value:?}, found {}",
            found.len()
        );
        found[0]
    }

    /// The element with this `id`.
    #[track_caller]
    pub fn id(&self, id: &str) -> El<'_> {
        self.one("id", id)
    }

    /// Every element with this tag.
    pub fn tags<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = El<'a>> + 'a {
        self.all().filter(move |e| e.tag() == tag)
    }
}

impl<'a> El<'a> {
    fn element(&self) -> &'a Element {
        &self.dom.elements[self.index]
    }

    /// The tag name, lower case.
    pub fn tag(&self) -> &'a str {
        &self.element().tag
    }

    /// An attribute's decoded value.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        self.element().attrs.get(name).map(String::as_str)
    }

    /// An attribute that must be there.
    #[track_caller]
    pub fn get(&self, name: &str) -> &'a str {
        self.attr(name)
            .unwrap_or_else(|| panic!("<{}> has no {name} attribute", self.tag()))
    }

    /// Whether the element has `class` among its classes.
    pub fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split_whitespace().any(|x| x == class))
    }

    /// The element's descendants in document order.
    pub fn descendants(&self) -> Vec<El<'a>> {
        let mut out = Vec::new();
        self.walk(&mut out);
        out
    }

    fn walk(&self, out: &mut Vec<El<'a>>) {
        for child in &self.element().children {
            if let Node::Element(i) = child {
                let e = self.dom.el(*i);
                out.push(e);
                e.walk(out);
            }
        }
    }

    /// Descendants whose attribute `name` is `value`.
    pub fn find(&self, name: &str, value: &str) -> Vec<El<'a>> {
        self.descendants()
            .into_iter()
            .filter(|e| e.attr(name) == Some(value))
            .collect()
    }

    /// The one descendant whose `data-field` is `field`.
    #[track_caller]
    pub fn field(&self, field: &str) -> El<'a> {
        let found = self.find("data-field", field);
        assert_eq!(
            found.len(),
            1,
            "<{} {:?}>: expected one data-field={field:?}, found {}",
            self.tag(),
            self.element().attrs,
            found.len()
        );
        found[0]
    }

    /// The text of the one descendant whose `data-field` is `field`.
    #[track_caller]
    pub fn field_text(&self, field: &str) -> String {
        self.field(field).text()
    }

    /// All text inside, whitespace runs collapsed to one space, trimmed.
    pub fn text(&self) -> String {
        let mut raw = String::new();
        self.collect_text(&mut raw);
        raw.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn collect_text(&self, out: &mut String) {
        for child in &self.element().children {
            match child {
                Node::Text(t) => out.push_str(t),
                Node::Element(i) => self.dom.el(*i).collect_text(out),
            }
        }
    }
}

impl std::fmt::Debug for El<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<{} {:?}> {:?}",
            self.tag(),
            self.element().attrs,
            self.text()
        )
    }
}

/// Parses `<tag a="b" c>` at the start of `s`: the tag, the attributes and
/// the length of the tag in bytes.
fn start_tag(s: &str) -> (String, BTreeMap<String, String>, usize) {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'/') {
        i += 1;
    }
    let tag = s[1..i].to_ascii_lowercase();
    let mut attrs = BTreeMap::new();
    loop {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (tag, attrs, i);
        }
        if bytes[i] == b'>' {
            return (tag, attrs, i + 1);
        }
        let start = i;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'=') {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                i += 1;
                let vstart = i;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                value = decode(&s[vstart..i]);
                i += 1;
            } else {
                let vstart = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'>') {
                    i += 1;
                }
                value = decode(&s[vstart..i]);
            }
        }
        attrs.insert(name, value);
    }
}

/// Decodes the character references Chromium's serializer writes.
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn dom_reader_reads_attributes_text_and_nesting() {
    let dom = Dom::parse(
        "<html><head><script>if (a < b) { x = \"</p>\"; }</script></head>\
         <body data-status=\"ok\"><p id=\"a\" data-x=\"&lt;b&gt; &amp; &quot;q&quot;\">one <b>two</b>\
         <br>&lt;three&gt;</p><!-- <p id=\"c\"> --><p id=\"b\" hidden>four</p></body></html>",
    );
    assert_eq!(dom.id("a").attr("data-x"), Some("<b> & \"q\""));
    assert_eq!(dom.id("a").text(), "one two<three>");
    assert_eq!(dom.id("b").attr("hidden"), Some(""));
    assert_eq!(dom.tags("p").count(), 2);
    assert_eq!(dom.one("data-status", "ok").tag(), "body");
}
