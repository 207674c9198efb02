//! `[geo]`: client regions and the order of regions each prefers.
//!
//! ```toml
//! [geo]
//! networks = "networks.txt"     # lines `CIDR REGION`, relative to this file
//! default = "us"                # the region of clients in no network
//!
//! [geo.prefer]                  # every region, and the regions it prefers, in order
//! eu = ["eu", "us", "ap"]
//! us = ["us", "eu", "ap"]
//! ap = ["ap", "us", "eu"]
//! ```
//!
//! The regions are the keys of `[geo.prefer]`; the networks file is read
//! with the zones (`catalog::load`), by `geo::Networks`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::files;

/// The longest region name.
pub(crate) const MAX_REGION_NAME: usize = 63;

/// A region, by its place in the configuration's list of regions (sorted
/// by name), so that the networks map stores two bytes per range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(pub u16);

/// `[geo]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct GeoSection {
    /// The networks file, relative to the config file.
    pub networks: Spanned<String>,
    /// The region of clients in no network.
    pub default: Spanned<String>,
    /// Each region's order of regions.
    pub prefer: Spanned<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
}

/// The validated `[geo]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoConfig {
    /// The networks file (resolved against the config file's directory).
    pub networks: PathBuf,
    /// Every region's name, sorted; a [`Region`] is a place in it.
    pub regions: Vec<String>,
    /// The region of clients in no network.
    pub default: Region,
    /// For each region (by place), the regions its clients are sent to,
    /// most preferred first; never empty.
    pub prefer: Vec<Vec<Region>>,
}

impl GeoConfig {
    /// The name of `region`.
    pub fn name(&self, region: Region) -> &str {
        &self.regions[usize::from(region.0)]
    }

    /// The region named `name`.
    pub fn region(&self, name: &str) -> Option<Region> {
        let index = self
            .regions
            .binary_search_by(|r| r.as_str().cmp(name))
            .ok()?;
        Some(Region(u16::try_from(index).ok()?))
    }
}

/// True for a name of letters, digits, `-` and `_`: one field of a
/// networks file line, fit for logs, metrics labels and URLs.
fn is_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REGION_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Checks `[geo]`; every problem goes to `fail` with its span. None when
/// anything is wrong.
pub(crate) fn validate(
    section: &GeoSection,
    base: &Path,
    fail: &mut impl FnMut(Option<Range<usize>>, String),
) -> Option<GeoConfig> {
    let mut ok = true;
    let mut bad = |span: Range<usize>, message: String| {
        ok = false;
        fail(Some(span), message);
    };
    let prefer = section.prefer.get_ref();
    let regions: Vec<String> = prefer.keys().cloned().collect();
    if regions.is_empty() {
        bad(
            section.prefer.span(),
            "[geo.prefer] names no region: give each region its order, such as \
             eu = [\"eu\", \"us\"]"
                .into(),
        );
    }
    if regions.len() > usize::from(u16::MAX) {
        bad(
            section.prefer.span(),
            format!("[geo.prefer] names more than {} regions", u16::MAX),
        );
    }
    let index = |name: &str| {
        regions
            .binary_search_by(|r| r.as_str().cmp(name))
            .ok()
            .and_then(|i| u16::try_from(i).ok())
            .map(Region)
    };
    let unknown = |name: &str| {
        format!(
            "unknown region {name:?}: the regions are the keys of [geo.prefer] ({})",
            regions.join(", ")
        )
    };
    let mut orders = Vec::with_capacity(regions.len());
    for (name, list) in prefer {
        if !is_region_name(name) {
            bad(
                list.span(),
                format!(
                    "region name {name:?}: letters, digits, '-' and '_' only, at most \
                     {MAX_REGION_NAME}"
                ),
            );
        }
        if list.get_ref().is_empty() {
            bad(
                list.span(),
                format!("{name} prefers no region: list at least one, such as [{name:?}]"),
            );
        }
        let mut order: Vec<Region> = Vec::with_capacity(list.get_ref().len());
        for (place, preferred) in list.get_ref().iter().enumerate() {
            let Some(region) = index(preferred.get_ref()) else {
                bad(preferred.span(), unknown(preferred.get_ref()));
                continue;
            };
            if order.contains(&region) {
                bad(
                    preferred.span(),
                    format!("{name} lists {} twice", preferred.get_ref()),
                );
                continue;
            }
            if preferred.get_ref() == name && place > 0 {
                bad(
                    preferred.span(),
                    format!(
                        "{name} lists itself after another region: its clients would never \
                         reach it while that one has a healthy member; put {name} first, or \
                         leave it out"
                    ),
                );
            }
            order.push(region);
        }
        orders.push(order);
    }
    let default = index(section.default.get_ref());
    if default.is_none() {
        bad(section.default.span(), unknown(section.default.get_ref()));
    }
    let networks = section.networks.get_ref();
    let path = base.join(networks);
    let problem = if networks.trim().is_empty() {
        Some("networks is empty: name a file of `CIDR REGION` lines".to_owned())
    } else {
        // Read with the zones; judged here too so the error can point at
        // the key.
        let subject = format!("networks file {}", files::shown(&path));
        match files::inspect(&path, crate::config::MAX_NETWORKS_FILE_SIZE) {
            Ok(()) => None,
            Err(files::ReadError::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {
                Some(format!("{subject} does not exist"))
            }
            Err(err) => Some(err.about(&subject)),
        }
    };
    if let Some(message) = problem {
        bad(section.networks.span(), message);
    }
    let default = default?;
    ok.then_some(GeoConfig {
        networks: path,
        regions,
        default,
        prefer: orders,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::parse;
    use crate::config::tests::assert_errors;

    #[test]
    fn reads_regions_their_orders_and_the_networks_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nets.txt"), "").unwrap();
        let config = parse(
            &dir.path().join("t.toml"),
            "[geo]\nnetworks = \"nets.txt\"\ndefault = \"us\"\n\
             [geo.prefer]\nus = [\"us\", \"eu\"]\neu = [\"eu\", \"us\", \"ap\"]\nap = [\"ap\"]\n\
             af = [\"eu\", \"us\"]\n",
        )
        .unwrap();
        let geo = config.geo.unwrap();
        assert_eq!(geo.networks, dir.path().join("nets.txt"));
        assert_eq!(geo.regions, ["af", "ap", "eu", "us"]);
        let region = |name| geo.region(name).unwrap();
        assert_eq!(geo.default, region("us"));
        assert_eq!(geo.name(region("eu")), "eu");
        assert_eq!(
            geo.prefer[usize::from(region("af").0)],
            [region("eu"), region("us")]
        );
        assert_eq!(
            geo.prefer[usize::from(region("eu").0)],
            [region("eu"), region("us"), region("ap")]
        );
        assert_eq!(parse(Path::new("t.toml"), "").unwrap().geo, None);
    }

    #[test]
    fn every_wrong_value_is_an_error_at_its_place() {
        assert_errors(
            "[geo]\nnetworks = \"no-such-file.txt\"\ndefault = \"mars\"\n\
             [geo.prefer]\neu = [\"us\", \"eu\", \"eu\"]\nus = []\nap = [\"ap\", \"xx\"]\n\
             \"a b\" = [\"eu\"]\n",
            &[
                "t.toml:2:12: networks file no-such-file.txt does not exist",
                "t.toml:3:11: unknown region \"mars\": the regions are the keys of [geo.prefer] \
                 (a b, ap, eu, us)",
                "t.toml:5:13: eu lists itself after another region",
                "t.toml:5:19: eu lists eu twice",
                "t.toml:6:6: us prefers no region",
                "t.toml:7:13: unknown region \"xx\"",
                "t.toml:8:9: region name \"a b\": letters, digits, '-' and '_' only",
            ],
        );
        assert_errors(
            "[geo]\nnetworks = \"\"\ndefault = \"eu\"\nprefer = {}\n",
            &[
                "t.toml:2:12: networks is empty",
                "t.toml:3:11: unknown region \"eu\"",
                "t.toml:4:10: [geo.prefer] names no region",
            ],
        );
        assert_errors(
            "[geo]\nnetworks = \"n.txt\"\ncolour = 1\n",
            &[
                "t.toml:3:1: unknown field `colour`",
                "t.toml:1:1: missing field",
            ],
        );
    }
}
