//! `[cluster]`: several healthdns instances agreeing on health through etcd.
//!
//! ```toml
//! [cluster]
//! etcd = ["http://127.0.0.1:2379"]   # endpoints, tried in turn
//! name = "ns1"                       # this instance, unique in the cluster
//! prefix = "/healthdns"              # where in etcd
//! quorum = "majority"                # or "any", "all", or a share such as 0.34
//! observation-ttl = "10s"            # an instance's views outlive it this long
//! partition = "freeze"               # without etcd: keep the last verdicts, or "local"
//! ca-file = "etcd-ca.pem"            # https: the CA etcd's certificate is signed by
//! cert-file = "ns1.pem"              # https: this instance's client certificate …
//! key-file = "ns1-key.pem"           # … and its key, when etcd asks for one
//! ```

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// The prefix when none is given.
pub(crate) const DEFAULT_PREFIX: &str = "/healthdns";
/// How long a dead instance's views count when none is given.
pub(crate) const DEFAULT_OBSERVATION_TTL: Duration = Duration::from_secs(10);
/// The shortest lease etcd grants usefully: keep-alives go out at a third
/// of it.
pub(crate) const MIN_OBSERVATION_TTL: Duration = Duration::from_secs(2);

/// `[cluster]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ClusterSection {
    /// etcd endpoints (`http://HOST:PORT`).
    pub etcd: Spanned<Vec<Spanned<String>>>,
    /// This instance's name.
    pub name: Spanned<String>,
    /// The key prefix.
    pub prefix: Option<Spanned<String>>,
    /// `majority`, `any`, `all`, or a share of the instances.
    pub quorum: Option<Spanned<QuorumSpec>>,
    /// The lease of this instance's views.
    pub observation_ttl: Option<Spanned<String>>,
    /// `freeze` or `local`.
    pub partition: Option<Spanned<String>>,
    /// etcd user, with `password`.
    pub username: Option<String>,
    /// etcd password.
    pub password: Option<String>,
    /// PEM: the CA(s) that sign etcd's server certificate.
    pub ca_file: Option<Spanned<String>>,
    /// PEM: this instance's client certificate (chain).
    pub cert_file: Option<Spanned<String>>,
    /// PEM: the key of `cert-file`.
    pub key_file: Option<Spanned<String>>,
}

/// A quorum as written: a word or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum QuorumSpec {
    /// `0.34`
    Share(f64),
    /// `"majority"`
    Word(String),
}

/// When the instances' views of a target make it down.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quorum {
    /// More than half of the instances that see the target see it down.
    Majority,
    /// Down only when every instance sees it down: up while any sees it up
    /// (Route 53's bias to healthy).
    Any,
    /// Down as soon as one instance sees it down.
    All,
    /// Down when at least this share (0 to 1) of the instances sees it down.
    Share(f64),
}

/// What an instance does while it cannot reach etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// Keep the last verdicts the cluster agreed on.
    Freeze,
    /// Follow this instance's own checks.
    Local,
}

/// The validated `[cluster]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// etcd endpoints, base URLs without a trailing slash.
    pub etcd: Vec<String>,
    /// This instance.
    pub name: String,
    /// The key prefix, without a trailing slash.
    pub prefix: String,
    /// The verdict rule.
    pub quorum: Quorum,
    /// The lease of this instance's views.
    pub observation_ttl: Duration,
    /// Behaviour without etcd.
    pub partition: Partition,
    /// etcd credentials.
    pub credentials: Option<(String, String)>,
    /// TLS material for `https://` endpoints, read when the config is.
    pub tls: ClusterTls,
}

/// PEM files for an etcd behind TLS, as read with the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterTls {
    /// CA certificates to trust besides the system's.
    pub ca: Option<Vec<u8>>,
    /// A client certificate (chain) followed by its key.
    pub identity: Option<Vec<u8>>,
}

/// Checks `[cluster]`; every problem goes to `fail` with its span.
pub(crate) fn validate(
    section: &ClusterSection,
    base: &Path,
    fail: &mut impl FnMut(Option<Range<usize>>, String),
) -> Option<ClusterConfig> {
    let errors_before = std::cell::Cell::new(0u32);
    let mut bad = |span: Range<usize>, message: String| {
        errors_before.set(errors_before.get() + 1);
        fail(Some(span), message);
    };
    if section.etcd.get_ref().is_empty() {
        bad(
            section.etcd.span(),
            "etcd needs at least one endpoint".into(),
        );
    }
    let mut etcd = Vec::new();
    for endpoint in section.etcd.get_ref() {
        let url = endpoint.get_ref().trim_end_matches('/');
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        match host {
            Some(host) if !host.is_empty() && !host.contains('/') => etcd.push(url.to_owned()),
            _ => bad(
                endpoint.span(),
                format!(
                    "etcd endpoint {:?}: write http://HOST:PORT or https://HOST:PORT",
                    endpoint.get_ref()
                ),
            ),
        }
    }
    let name = section.name.get_ref();
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        bad(
            section.name.span(),
            format!("name {name:?}: letters, digits, '-', '_' and '.' only"),
        );
    }
    let prefix = match &section.prefix {
        None => DEFAULT_PREFIX.to_owned(),
        Some(prefix) if prefix.get_ref().starts_with('/') && prefix.get_ref().len() > 1 => {
            prefix.get_ref().trim_end_matches('/').to_owned()
        }
        Some(prefix) => {
            bad(
                prefix.span(),
                format!(
                    "prefix {:?}: a key path such as /healthdns/prod",
                    prefix.get_ref()
                ),
            );
            String::new()
        }
    };
    let quorum = match &section.quorum {
        None => Quorum::Majority,
        Some(spec) => match spec.get_ref() {
            QuorumSpec::Word(word) if word == "majority" => Quorum::Majority,
            QuorumSpec::Word(word) if word == "any" => Quorum::Any,
            QuorumSpec::Word(word) if word == "all" => Quorum::All,
            QuorumSpec::Share(share) if *share > 0.0 && *share <= 1.0 => Quorum::Share(*share),
            _ => {
                bad(
                    spec.span(),
                    "quorum: majority, any, all, or a share above 0 and at most 1 (such as 0.34)"
                        .into(),
                );
                Quorum::Majority
            }
        },
    };
    let observation_ttl = match &section.observation_ttl {
        None => DEFAULT_OBSERVATION_TTL,
        Some(text) => match super::parse_duration(text.get_ref()) {
            Ok(ttl) if ttl >= MIN_OBSERVATION_TTL && ttl.subsec_nanos() == 0 => ttl,
            Ok(_) => {
                bad(
                    text.span(),
                    format!(
                        "observation-ttl is whole seconds, at least {}",
                        humantime::format_duration(MIN_OBSERVATION_TTL)
                    ),
                );
                DEFAULT_OBSERVATION_TTL
            }
            Err(err) => {
                bad(text.span(), err.to_string());
                DEFAULT_OBSERVATION_TTL
            }
        },
    };
    let partition = match section
        .partition
        .as_ref()
        .map(|p| (p.get_ref().as_str(), p.span()))
    {
        None | Some(("freeze", _)) => Partition::Freeze,
        Some(("local", _)) => Partition::Local,
        Some((other, span)) => {
            bad(span, format!("partition {other:?}: use freeze or local"));
            Partition::Freeze
        }
    };
    let credentials = match (&section.username, &section.password) {
        (Some(user), Some(password)) => Some((user.clone(), password.clone())),
        (None, None) => None,
        _ => {
            bad(
                section.name.span(),
                "username and password go together".into(),
            );
            None
        }
    };
    let pem = |file: &Spanned<String>, key: &str| {
        let subject = format!("{key} {}", file.get_ref());
        crate::files::read(&base.join(file.get_ref()), super::MAX_CONFIG_FILE_SIZE)
            .map_err(|err| (file.span(), err.about(&subject)))
    };
    let mut tls = ClusterTls::default();
    if let Some(file) = &section.ca_file {
        match pem(file, "ca-file") {
            Ok(ca) if reqwest::Certificate::from_pem_bundle(&ca).is_ok_and(|c| !c.is_empty()) => {
                tls.ca = Some(ca);
            }
            Ok(_) => bad(
                file.span(),
                format!("ca-file {}: no PEM certificate in it", file.get_ref()),
            ),
            Err((span, message)) => bad(span, message),
        }
    }
    match (&section.cert_file, &section.key_file) {
        (Some(cert), Some(key)) => match (pem(cert, "cert-file"), pem(key, "key-file")) {
            (Ok(mut identity), Ok(key_pem)) => {
                identity.push(b'\n');
                identity.extend_from_slice(&key_pem);
                match reqwest::Identity::from_pem(&identity) {
                    Ok(_) => tls.identity = Some(identity),
                    Err(err) => bad(
                        cert.span(),
                        format!(
                            "cert-file {} with key-file {}: {err}",
                            cert.get_ref(),
                            key.get_ref()
                        ),
                    ),
                }
            }
            (cert, key) => {
                for (span, message) in [cert.err(), key.err()].into_iter().flatten() {
                    bad(span, message);
                }
            }
        },
        (None, None) => {}
        (Some(file), None) | (None, Some(file)) => {
            bad(file.span(), "cert-file and key-file go together".into());
        }
    }
    (errors_before.get() == 0).then(|| ClusterConfig {
        etcd,
        name: name.clone(),
        prefix,
        quorum,
        observation_ttl,
        partition,
        credentials,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::parse;
    use crate::config::tests::assert_errors;

    #[test]
    fn reads_every_key_and_defaults_the_rest() {
        let config = parse(
            Path::new("t.toml"),
            "[cluster]\netcd = [\"http://127.0.0.1:2379/\", \"https://etcd.example:2379\"]\n\
             name = \"ns1\"\nquorum = 0.34\nobservation-ttl = \"5s\"\npartition = \"local\"\n\
             prefix = \"/healthdns/prod/\"\n",
        )
        .unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(
            cluster.etcd,
            ["http://127.0.0.1:2379", "https://etcd.example:2379"]
        );
        assert_eq!(cluster.prefix, "/healthdns/prod");
        assert_eq!(cluster.quorum, Quorum::Share(0.34));
        assert_eq!(cluster.observation_ttl, Duration::from_secs(5));
        assert_eq!(cluster.partition, Partition::Local);
        let plain = parse(
            Path::new("t.toml"),
            "[cluster]\netcd = [\"http://127.0.0.1:2379\"]\nname = \"a\"\n",
        )
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(
            (plain.quorum, plain.partition, plain.prefix.as_str()),
            (Quorum::Majority, Partition::Freeze, DEFAULT_PREFIX)
        );
        assert_eq!(plain.observation_ttl, DEFAULT_OBSERVATION_TTL);
        assert!(parse(Path::new("t.toml"), "").unwrap().cluster.is_none());
    }

    #[test]
    fn every_bad_value_is_reported_with_its_place() {
        assert_errors(
            "[cluster]\netcd = [\"127.0.0.1:2379\"]\nname = \"ns 1\"\nquorum = \"most\"\n\
             observation-ttl = \"1s\"\npartition = \"split\"\nprefix = \"healthdns\"\n",
            &[
                "t.toml:2:9: etcd endpoint \"127.0.0.1:2379\"",
                "t.toml:3:8: name \"ns 1\"",
                "t.toml:4:10: quorum: majority, any, all, or a share",
                "t.toml:5:19: observation-ttl is whole seconds, at least 2s",
                "t.toml:6:13: partition \"split\"",
                "t.toml:7:10: prefix \"healthdns\"",
            ],
        );
        assert_errors(
            "[cluster]\netcd = []\nname = \"a\"\nquorum = 1.5\n",
            &[
                "t.toml:2:8: etcd needs at least one endpoint",
                "t.toml:4:10: quorum",
            ],
        );
        assert_errors(
            "[cluster]\netcd = [\"http://a:1\"]\nname = \"a\"\nnodes = 3\n",
            &["t.toml:4:1: unknown field `nodes`"],
        );
    }

    #[test]
    fn tls_files_are_read_with_the_config_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
        let config = dir.path().join("t.toml");
        let text = "[cluster]\netcd = [\"https://127.0.0.1:2379\"]\nname = \"a\"\n\
                    ca-file = \"junk.pem\"\ncert-file = \"junk.pem\"\n";
        let errors: Vec<String> = parse(&config, text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].ends_with("ca-file junk.pem: no PEM certificate in it"),
            "{errors:#?}"
        );
        assert!(
            errors[1].ends_with("cert-file and key-file go together"),
            "{errors:#?}"
        );
        let missing = "[cluster]\netcd = [\"https://a:1\"]\nname = \"a\"\nca-file = \"nope.pem\"\n";
        let errors = parse(&config, missing).unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .contains("cannot read ca-file nope.pem"),
            "{errors:#?}"
        );
    }
}
