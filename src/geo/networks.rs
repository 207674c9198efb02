//! Reading a networks file into a [`Networks`] map.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use super::ranges::{Match, Prefix, Ranges};
use crate::config::{MAX_NETWORKS_FILE_SIZE, Region};
use crate::files::{self, MAX_ERRORS};

/// Regions by client network: one table of ranges per address family.
#[derive(Debug, Clone)]
pub struct Networks {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    /// Networks read (each once).
    networks: usize,
}

/// A mistake in a networks file, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NetworksError {
    /// The networks file.
    pub file: Arc<Path>,
    /// 1-based line; 0 when the problem is the whole file.
    pub line: u32,
    /// 1-based column (in bytes) of the field at fault; 0 for none.
    pub column: u32,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for NetworksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote the file; whatever they quote is shown escaped.
        let file = files::shown(&self.file);
        let message = files::escape(self.message.as_bytes());
        match (self.line, self.column) {
            (0, _) => write!(f, "{file}: {message}"),
            (line, 0) => write!(f, "{file}:{line}: {message}"),
            (line, column) => write!(f, "{file}:{line}:{column}: {message}"),
        }
    }
}

/// The mistakes in one networks file: the first [`MAX_ERRORS`] by place,
/// the rest counted. Derefs to the kept ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworksErrors {
    /// The first ones, by place.
    pub first: Vec<NetworksError>,
    /// How many more were found.
    pub more: usize,
}

impl Deref for NetworksErrors {
    type Target = [NetworksError];
    fn deref(&self) -> &[NetworksError] {
        &self.first
    }
}

/// One line's network, kept until the ranges are built.
#[derive(Debug, Clone, Copy)]
struct Entry {
    prefix: Prefix,
    region: Region,
    line: u32,
    column: u32,
}

impl Networks {
    /// Reads the networks file `path`. Region names are those of
    /// `regions` (sorted), each known by its place there; addresses in no
    /// network get `default`.
    pub fn load(
        path: &Path,
        regions: &[String],
        default: Region,
    ) -> Result<Networks, NetworksErrors> {
        match files::read(path, MAX_NETWORKS_FILE_SIZE) {
            Ok(text) => Networks::parse(path, &text, regions, default),
            Err(err) => Err(NetworksErrors {
                first: vec![NetworksError {
                    file: path.into(),
                    line: 0,
                    column: 0,
                    message: err.about("networks file"),
                }],
                more: 0,
            }),
        }
    }

    /// Reads networks file text; `path` names it in errors.
    pub fn parse(
        path: &Path,
        text: &[u8],
        regions: &[String],
        default: Region,
    ) -> Result<Networks, NetworksErrors> {
        let file: Arc<Path> = path.into();
        let mut errors = Vec::new();
        let mut more = 0;
        let mut fail = |line: usize, column: usize, message: String| {
            if errors.len() < MAX_ERRORS {
                errors.push(NetworksError {
                    file: file.clone(),
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    column: u32::try_from(column).unwrap_or(u32::MAX),
                    message,
                });
            } else {
                more += 1;
            }
        };
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (index, line) in text.split(|&b| b == b'\n').enumerate() {
            let number = index + 1;
            let line = line.split(|&b| b == b'#').next().unwrap_or_default();
            let mut fields = fields(line);
            let Some((network_column, network)) = fields.next() else {
                continue;
            };
            let parsed = parse_network(network);
            let region = match fields.next() {
                None => {
                    fail(
                        number,
                        network_column,
                        "no region after the network: a line is `NETWORK REGION`".into(),
                    );
                    None
                }
                Some((column, name)) => match region_of(name, regions) {
                    Ok(region) => Some(region),
                    Err(message) => {
                        fail(number, column, message);
                        None
                    }
                },
            };
            if let Some((column, extra)) = fields.next() {
                fail(
                    number,
                    column,
                    format!(
                        "{:?} after the region: a line is `NETWORK REGION` (`#` starts a comment)",
                        String::from_utf8_lossy(extra)
                    ),
                );
            }
            let (family_v4, prefix) = match parsed {
                Ok(parsed) => parsed,
                Err(message) => {
                    fail(number, network_column, message);
                    continue;
                }
            };
            let Some(region) = region else { continue };
            let entry = Entry {
                prefix,
                region,
                line: u32::try_from(number).unwrap_or(u32::MAX),
                column: u32::try_from(network_column).unwrap_or(u32::MAX),
            };
            if family_v4 {
                v4.push(entry)
            } else {
                v6.push(entry)
            }
        }
        let v4 = distinct(v4, regions, &mut fail);
        let v6 = distinct(v6, regions, &mut fail);
        if !errors.is_empty() {
            errors.sort_by_key(|error| (error.line, error.column));
            return Err(NetworksErrors {
                first: errors,
                more,
            });
        }
        Ok(Networks {
            networks: v4.len() + v6.len(),
            v4: Ranges::build(&v4, default),
            v6: Ranges::build(&v6, default),
        })
    }

    /// The region of `addr` and the scope of that answer. An IPv4 address
    /// mapped into IPv6 (`::ffff:192.0.2.1`) is looked up as IPv4, its
    /// scope counted in IPv4 bits.
    pub fn lookup(&self, addr: IpAddr) -> Match {
        match addr {
            IpAddr::V4(v4) => self.lookup_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.lookup_v4(v4),
                None => self.lookup_v6(v6),
            },
        }
    }

    /// The region of an IPv4 address and the scope of that answer.
    pub fn lookup_v4(&self, addr: Ipv4Addr) -> Match {
        self.v4.lookup(u32::from(addr))
    }

    /// The region of an IPv6 address and the scope of that answer.
    pub fn lookup_v6(&self, addr: Ipv6Addr) -> Match {
        self.v6.lookup(u128::from(addr))
    }

    /// Networks read, each counted once.
    pub fn networks(&self) -> usize {
        self.networks
    }

    /// Ranges the networks flattened into, both families.
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Bytes the map holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

/// The fields of a line (split on blanks) with their 1-based columns.
fn fields(line: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + line[at..].iter().position(|b| !blank(b))?;
        let len = line[start..]
            .iter()
            .position(blank)
            .unwrap_or(line.len() - start);
        at = start + len;
        Some((start + 1, &line[start..at]))
    })
}

/// `ADDR/LEN` (or one address) as a prefix; true for IPv4.
fn parse_network(field: &[u8]) -> Result<(bool, Prefix), String> {
    let shown = String::from_utf8_lossy(field);
    let not_network =
        || format!("{shown:?} is not a network such as 192.0.2.0/24 or 2001:db8::/32");
    let text = std::str::from_utf8(field).map_err(|_| not_network())?;
    let (addr, length) = match text.split_once('/') {
        Some((addr, length)) => (addr, Some(length)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| not_network())?;
    let (bits, width) = match addr {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), u32::BITS),
        IpAddr::V6(v6) => (u128::from(v6), u128::BITS),
    };
    let length = match length {
        None => width as u8,
        Some(length) => match length.parse::<u8>() {
            Ok(length) if u32::from(length) <= width => length,
            _ => return Err(format!("{shown:?}: the prefix length is 0 to {width}")),
        },
    };
    let host = (u128::MAX >> (128 - width))
        .checked_shr(u32::from(length))
        .unwrap_or(0);
    if bits & host != 0 {
        let start = bits & !host;
        let network = match addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(start as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(start)),
        };
        return Err(format!(
            "{shown:?} has bits set past its prefix length: write the network, {network}/{length}, \
             or the longer prefix you meant"
        ));
    }
    Ok((
        addr.is_ipv4(),
        Prefix {
            start: bits,
            length,
        },
    ))
}

/// The region named `name`, if `regions` has it.
fn region_of(name: &[u8], regions: &[String]) -> Result<Region, String> {
    let known = std::str::from_utf8(name)
        .ok()
        .and_then(|name| regions.binary_search_by(|r| r.as_str().cmp(name)).ok());
    match known {
        Some(index) => Ok(Region(
            u16::try_from(index).expect("fewer regions than 2^16"),
        )),
        None => Err(format!(
            "unknown region {:?}: the regions are the keys of [geo.prefer] ({})",
            String::from_utf8_lossy(name),
            listed(regions)
        )),
    }
}

/// Up to ten names, comma-separated.
fn listed(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(10)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        text.push_str(", …");
    }
    text
}

/// `entries` sorted by network, each network once; one network given two
/// regions is a mistake, reported at its later line.
fn distinct(
    mut entries: Vec<Entry>,
    regions: &[String],
    fail: &mut impl FnMut(usize, usize, String),
) -> Vec<(Prefix, Region)> {
    entries.sort_unstable_by_key(|entry| (entry.prefix, entry.line));
    let mut out: Vec<(Prefix, Region)> = Vec::with_capacity(entries.len());
    let mut first: Option<Entry> = None;
    for entry in entries {
        match first {
            Some(seen) if seen.prefix == entry.prefix => {
                if seen.region != entry.region {
                    let name =
                        |r: Region| regions.get(usize::from(r.0)).map_or("?", String::as_str);
                    fail(
                        entry.line as usize,
                        entry.column as usize,
                        format!(
                            "this network is at line {} too, with region {}, here {}: \
                             a network has one region",
                            seen.line,
                            name(seen.region),
                            name(entry.region)
                        ),
                    );
                }
            }
            _ => {
                first = Some(entry);
                out.push((entry.prefix, entry.region));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        ["ap", "eu", "us"].map(String::from).to_vec()
    }

    const AP: Region = Region(0);
    const EU: Region = Region(1);
    const US: Region = Region(2);

    fn parse(text: &str) -> Result<Networks, NetworksErrors> {
        Networks::parse(Path::new("nets.txt"), text.as_bytes(), &regions(), US)
    }

    fn errors(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn reads_both_families_comments_and_blank_lines() {
        let networks = parse(
            "# client networks\n\
             \n\
             192.0.2.0/24  eu   # a comment\n\
             \t198.51.100.7 ap\r\n\
             2001:db8::/32 eu\n\
             2001:db8:1::/48 ap\n\
             192.0.2.0/24 eu\n",
        )
        .unwrap();
        assert_eq!(networks.networks(), 4);
        let at = |text: &str| networks.lookup(text.parse().unwrap());
        assert_eq!(
            at("192.0.2.200"),
            Match {
                region: EU,
                scope: 24
            }
        );
        assert_eq!(
            at("198.51.100.7"),
            Match {
                region: AP,
                scope: 32
            }
        );
        assert_eq!(at("198.51.100.8").region, US);
        assert_eq!(
            at("2001:db8:1::5"),
            Match {
                region: AP,
                scope: 48
            }
        );
        assert_eq!(at("2001:db8:2::").region, EU);
        assert_eq!(
            at("::ffff:192.0.2.1"),
            Match {
                region: EU,
                scope: 24
            }
        );
        assert_eq!(at("2001:db9::").region, US);
    }

    #[test]
    fn every_mistake_is_reported_with_its_place() {
        let found = errors(
            "10.0.0.0/8 eu\n\
             10.1.2.3/8 eu\n\
             10.0.0.0/33 eu\n\
             not-a-network eu\n\
             11.0.0.0/8 mars\n\
             12.0.0.0/8\n\
             13.0.0.0/8 eu extra\n\
             \x20 10.0.0.0/8 us\n\
             2001:db8::1/32 eu\n",
        );
        assert_eq!(
            found,
            [
                "nets.txt:2:1: \"10.1.2.3/8\" has bits set past its prefix length: write the \
                 network, 10.0.0.0/8, or the longer prefix you meant",
                "nets.txt:3:1: \"10.0.0.0/33\": the prefix length is 0 to 32",
                "nets.txt:4:1: \"not-a-network\" is not a network such as 192.0.2.0/24 or \
                 2001:db8::/32",
                "nets.txt:5:12: unknown region \"mars\": the regions are the keys of \
                 [geo.prefer] (ap, eu, us)",
                "nets.txt:6:1: no region after the network: a line is `NETWORK REGION`",
                "nets.txt:7:15: \"extra\" after the region: a line is `NETWORK REGION` (`#` \
                 starts a comment)",
                "nets.txt:8:3: this network is at line 1 too, with region eu, here us: a \
                 network has one region",
                "nets.txt:9:1: \"2001:db8::1/32\" has bits set past its prefix length: write \
                 the network, 2001:db8::/32, or the longer prefix you meant",
            ]
        );
    }

    #[test]
    fn errors_past_the_cap_are_counted() {
        let text = "junk eu\n".repeat(MAX_ERRORS + 7);
        let found = parse(&text).unwrap_err();
        assert_eq!(found.first.len(), MAX_ERRORS);
        assert_eq!(found.more, 7);
        assert_eq!(found.first.last().unwrap().line, MAX_ERRORS as u32);
    }

    #[test]
    fn an_unreadable_file_is_one_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let found = Networks::load(&missing, &regions(), US).unwrap_err();
        assert_eq!(found.len(), 1);
        assert!(
            found[0].to_string().contains("cannot read networks file"),
            "{found:?}"
        );
        let found = Networks::load(dir.path(), &regions(), US).unwrap_err();
        assert!(found[0].to_string().contains("directory"), "{found:?}");
    }
}
