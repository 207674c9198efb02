//! Runs BIND's `dig` and parses its output into a [`Response`].
//!
//! Every query is sent with `+norecurse +nocookie +ignore +nocmd +nostats`
//! (later arguments override: a test may pass `+rec`). `+ignore` keeps the
//! UDP response as the server sent it: without it dig retries a truncated
//! answer over TCP and prints that instead.

use std::collections::BTreeSet;
use std::fmt;
use std::process::Command;

/// One resource record as dig prints it, normalised: owner lower-cased,
/// whitespace between fields collapsed. RDATA is kept as printed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rr {
    /// Owner, lower-cased, absolute.
    pub owner: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Class mnemonic (`IN`).
    pub class: String,
    /// Type mnemonic (`A`, `TYPE65534`).
    pub rtype: String,
    /// RDATA text as dig prints it.
    pub rdata: String,
}

impl fmt::Display for Rr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.owner, self.ttl, self.class, self.rtype, self.rdata
        )
    }
}

impl Rr {
    fn parse(line: &str) -> Result<Rr, String> {
        let mut it = line.split_whitespace();
        let mut next = |what: &str| {
            it.next()
                .map(str::to_string)
                .ok_or_else(|| format!("record line without {what}: {line:?}"))
        };
        let owner = next("owner")?.to_ascii_lowercase();
        let ttl = next("ttl")?
            .parse()
            .map_err(|e| format!("bad TTL in {line:?}: {e}"))?;
        let class = next("class")?;
        let rtype = next("type")?;
        let rdata = it.collect::<Vec<_>>().join(" ");
        Ok(Rr {
            owner,
            ttl,
            class,
            rtype,
            rdata,
        })
    }
}

/// The OPT record of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edns {
    /// EDNS version.
    pub version: u8,
    /// The UDP payload size the responder advertises.
    pub udp: u16,
    /// Flags dig names (`do`).
    pub flags: BTreeSet<String>,
    /// Extended DNS Error lines (`20 (Not Authoritative)`), if any.
    pub ede: Vec<String>,
}

/// A parsed response.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// `QUERY`, `STATUS`, ...
    pub opcode: String,
    /// `NOERROR`, `NXDOMAIN`, `BADVERS`, ...
    pub rcode: String,
    /// Header flags as dig names them (`qr`, `aa`, `tc`, `rd`, `ra`, `ad`, `cd`).
    pub flags: BTreeSet<String>,
    /// The OPT record, when present.
    pub edns: Option<Edns>,
    /// The question lines exactly as printed (case kept), without the `;`.
    pub question: Vec<String>,
    /// Answer section, sorted.
    pub answer: Vec<Rr>,
    /// Authority section, sorted.
    pub authority: Vec<Rr>,
    /// Additional section without the OPT pseudo-record, sorted.
    pub additional: Vec<Rr>,
    /// Section counts from the header line: QUERY, ANSWER, AUTHORITY, ADDITIONAL.
    pub counts: [u32; 4],
    /// The output dig printed for this response, for failure messages.
    pub text: String,
}

impl Response {
    /// Whether header flag `f` is set.
    pub fn flag(&self, f: &str) -> bool {
        self.flags.contains(f)
    }

    /// Answer records of type `t`.
    pub fn answer_of(&self, t: &str) -> Vec<&Rr> {
        self.answer.iter().filter(|r| r.rtype == t).collect()
    }

    /// The question name and type, name lower-cased: the key the
    /// differential test matches responses on.
    pub fn question_key(&self) -> Option<(String, String)> {
        let q = self.question.first()?;
        let f: Vec<&str> = q.split_whitespace().collect();
        Some((f.first()?.to_ascii_lowercase(), f.last()?.to_string()))
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Runs dig against 127.0.0.1:`port` and expects exactly one response.
pub fn query(port: u16, args: &[&str]) -> Response {
    let mut all = query_all(port, args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        all.len(),
        1,
        "expected one response from dig {args:?}, got {}:\n{all:#?}",
        all.len()
    );
    all.pop().unwrap()
}

/// Runs dig against 127.0.0.1:`port` and returns every response it printed.
/// Err when dig could not run or exited non-zero (no server reached), with
/// its output.
pub fn query_all(port: u16, args: &[&str]) -> Result<Vec<Response>, String> {
    let run = run(port, args)?;
    if !run.ok {
        return Err(format!(
            "dig {args:?} on port {port} failed:\n{}",
            run.output
        ));
    }
    Ok(run.responses)
}

/// What one dig run printed, even when some of its queries got no answer.
pub struct Run {
    /// The responses dig printed, in order.
    pub responses: Vec<Response>,
    /// Whether dig exited 0.
    pub ok: bool,
    /// stdout and stderr.
    pub output: String,
}

/// Runs dig against 127.0.0.1:`port`; Err only when dig cannot run or its
/// output cannot be parsed.
///
/// A "response" without QR is dig's own query come back: dig picks random
/// source ports in the ephemeral range, where port-0 servers live too, and
/// a server socket with SO_REUSEPORT (Knot, healthdns) can then share its
/// port with dig's socket, so the kernel hands dig its own query. That is
/// the harness, not the server: the whole run is repeated (at most 3 times).
pub fn run(port: u16, args: &[&str]) -> Result<Run, String> {
    run_via_at(&[], "127.0.0.1", port, args)
}

/// [`run`] against `server` (an address), with dig started by `wrapper`
/// (e.g. `nsenter --net=…`; empty: dig itself).
pub fn run_via_at(wrapper: &[&str], server: &str, port: u16, args: &[&str]) -> Result<Run, String> {
    let mut last = run_once(wrapper, server, port, args)?;
    for _ in 1..3 {
        if last.responses.iter().all(|r| r.flag("qr")) {
            break;
        }
        last = run_once(wrapper, server, port, args)?;
    }
    Ok(last)
}

fn run_once(wrapper: &[&str], server: &str, port: u16, args: &[&str]) -> Result<Run, String> {
    let port_s = port.to_string();
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg("dig");
            command
        }
        None => Command::new("dig"),
    };
    let out = command
        .arg(format!("@{server}"))
        .args(["-p", &port_s])
        .args([
            "+norecurse",
            "+nocookie",
            "+ignore",
            "+nocmd",
            "+nostats",
            "+time=5",
            "+tries=2",
        ])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run dig (BIND's dnsutils): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let output = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let responses = parse(&stdout).map_err(|e| format!("{e}\nin dig output:\n{output}"))?;
    Ok(Run {
        responses,
        ok: out.status.success(),
        output,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    None,
    Opt,
    Question,
    Answer,
    Authority,
    Additional,
}

/// Parses dig output holding any number of responses.
pub fn parse(text: &str) -> Result<Vec<Response>, String> {
    let mut out: Vec<Response> = Vec::new();
    let mut section = Section::None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<- ") {
            let mut r = Response::default();
            for part in rest.split(", ") {
                if let Some(v) = part.strip_prefix("opcode: ") {
                    r.opcode = v.to_string();
                } else if let Some(v) = part.strip_prefix("status: ") {
                    r.rcode = v.to_string();
                }
            }
            out.push(r);
            section = Section::None;
            out.last_mut().unwrap().text.push_str(line);
            out.last_mut().unwrap().text.push('\n');
            continue;
        }
        let Some(r) = out.last_mut() else { continue };
        r.text.push_str(line);
        r.text.push('\n');
        let t = line.trim();
        if let Some(rest) = t.strip_prefix(";; flags:") {
            let (flags, counts) = rest.split_once(';').unwrap_or((rest, ""));
            r.flags = flags.split_whitespace().map(str::to_string).collect();
            for (i, part) in counts.split(',').enumerate().take(4) {
                if let Some((_, n)) = part.split_once(':') {
                    r.counts[i] = n.trim().parse().unwrap_or(0);
                }
            }
            continue;
        }
        match t {
            ";; OPT PSEUDOSECTION:" => section = Section::Opt,
            // An UPDATE's sections (RFC 2136 §2) as dig names them.
            ";; QUESTION SECTION:" | ";; ZONE SECTION:" => section = Section::Question,
            ";; ANSWER SECTION:" | ";; PREREQUISITE SECTION:" => section = Section::Answer,
            ";; AUTHORITY SECTION:" | ";; UPDATE SECTION:" => section = Section::Authority,
            ";; ADDITIONAL SECTION:" => section = Section::Additional,
            "" => {}
            _ if section == Section::Opt => {
                if let Some(rest) = t.strip_prefix("; EDNS: ") {
                    r.edns = Some(parse_edns(rest)?);
                } else if let Some(rest) = t.strip_prefix("; EDE: ")
                    && let Some(e) = r.edns.as_mut()
                {
                    e.ede.push(rest.to_string());
                }
            }
            _ if section == Section::Question => {
                if let Some(q) = t.strip_prefix(';') {
                    r.question
                        .push(q.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
            _ if t.starts_with(';') => {}
            _ => {
                let rr = Rr::parse(t)?;
                match section {
                    Section::Answer => r.answer.push(rr),
                    Section::Authority => r.authority.push(rr),
                    Section::Additional => r.additional.push(rr),
                    _ => return Err(format!("record outside a section: {line:?}")),
                }
            }
        }
    }
    for r in &mut out {
        r.answer.sort();
        r.authority.sort();
        r.additional.sort();
    }
    Ok(out)
}

/// `version: 0, flags: do; udp: 1232` (possibly with `MBZ: 0x...`).
fn parse_edns(s: &str) -> Result<Edns, String> {
    let mut e = Edns {
        version: 0,
        udp: 0,
        flags: BTreeSet::new(),
        ede: Vec::new(),
    };
    for part in s.split([',', ';']) {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("version: ") {
            e.version = v
                .parse()
                .map_err(|_| format!("bad EDNS version in {s:?}"))?;
        } else if let Some(v) = part.strip_prefix("udp: ") {
            e.udp = v.parse().map_err(|_| format!("bad EDNS udp in {s:?}"))?;
        } else if let Some(v) = part.strip_prefix("flags:") {
            e.flags = v.split_whitespace().map(str::to_string).collect();
        }
    }
    Ok(e)
}
