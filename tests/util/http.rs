//! A minimal HTTP/1.1 client over std `TcpStream` (one request per
//! connection, `Connection: close`, read to EOF), percent-encoding for path
//! segments, and a parser for the Prometheus text format (0.0.4).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// Connect, read and write timeout of one request: generous, it only turns
/// a hang into a failure.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A response: status code, headers in order, body as text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the whole response if it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "HTTP {}", self.status)?;
        for (k, v) in &self.headers {
            writeln!(f, "{k}: {v}")?;
        }
        write!(f, "\n{}", self.body)
    }
}

/// Sends one request and reads the response to EOF.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body.unwrap_or(""));
    stream.write_all(out.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn parse_response(raw: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_string()
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, rest) = s
            .split_once("\r\n")
            .ok_or_else(|| format!("bad chunk in {s:?}"))?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {size:?}: {e}"))?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| format!("short chunk in {rest:?}"))?;
        out.push_str(chunk);
        s = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed `/metrics` page.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
    pub samples: Vec<Sample>,
    /// `# TYPE` per family name.
    pub types: BTreeMap<String, String>,
    /// Family names with a `# HELP` line.
    pub helps: Vec<String>,
}

impl Metrics {
    /// Parses the text format; an error names the line.
    pub fn parse(text: &str) -> Result<Metrics, String> {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        let mut helps = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let bad = |what: &str| format!("line {}: {what}: {line:?}", i + 1);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or_else(|| bad("TYPE"))?;
                if types
                    .insert(name.to_string(), kind.trim().to_string())
                    .is_some()
                {
                    return Err(bad("second TYPE for a family"));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().ok_or_else(|| bad("HELP"))?;
                helps.push(name.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line).map_err(|e| bad(&e))?);
        }
        Ok(Metrics {
            text: text.to_string(),
            samples,
            types,
            helps,
        })
    }

    /// Samples called `name` whose labels include every `(key, value)`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the one sample matching; `None` when there is none.
    /// Panics when several match.
    #[track_caller]
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let all: Vec<&Sample> = self.matching(name, labels).collect();
        assert!(
            all.len() <= 1,
            "{name} {labels:?} matches {} samples: {all:#?}",
            all.len()
        );
        all.first().map(|s| s.value)
    }

    /// The sum over the samples matching.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let end = line
        .find(['{', ' '])
        .ok_or("no value after the metric name")?;
    let name = line[..end].to_string();
    let valid_name = !name.is_empty()
        && name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        });
    if !valid_name {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // Label name up to `=`, or the closing brace.
            let mut key = String::new();
            let mut closed = None;
            for (i, c) in chars.by_ref() {
                match c {
                    '}' if key.is_empty() => {
                        closed = Some(i);
                        break;
                    }
                    '=' => break,
                    c => key.push(c),
                }
            }
            if let Some(i) = closed {
                rest = &after[i + 1..];
                break;
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key:?}: value not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("label {key:?}: bad escape {other:?}")),
                    },
                    Some('"') => break,
                    Some('\n') | None => return Err(format!("label {key:?}: unterminated value")),
                    Some(c) => value.push(c),
                }
            }
            if labels.insert(key.trim().to_string(), value).is_some() {
                return Err(format!("label {key:?} twice"));
            }
            match chars.next() {
                Some((_, ',')) => continue,
                Some((i, '}')) => {
                    rest = &after[i + 1..];
                    break;
                }
                other => return Err(format!("after label {key:?}: {other:?}")),
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value: f64 = value
        .parse()
        .map_err(|e| format!("bad value {value:?}: {e}"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|e| format!("bad timestamp {ts:?}: {e}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

#[test]
fn the_metrics_parser_reads_labels_escapes_and_special_values() {
    let m = Metrics::parse(
        "# HELP x_total An x.\n# TYPE x_total counter\n\
         x_total{a=\"1\",b=\"q\\\"\\\\\\n\"} 3\n\
         y 1.5e3 1700000000\n\
         h_bucket{le=\"+Inf\"} 2\n",
    )
    .unwrap();
    assert_eq!(m.value("x_total", &[("a", "1")]), Some(3.0));
    assert_eq!(m.samples[0].labels["b"], "q\"\\\n");
    assert_eq!(m.value("y", &[]), Some(1500.0));
    assert_eq!(m.value("h_bucket", &[("le", "+Inf")]), Some(2.0));
    assert_eq!(m.types["x_total"], "counter");
    assert!(Metrics::parse("x{a=1} 2").is_err());
    assert_eq!(
        percent_encode("127.0.0.21:8080/web"),
        "127.0.0.21%3A8080%2Fweb"
    );
}
