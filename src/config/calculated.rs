//! Calculated checks (`all`, `any`, `at-least`) take their children from
//! the other `[check.NAME]`s: once each check is validated on its own,
//! [`resolve`] finds the names, refuses unknown and repeated ones and
//! cycles, and hands each calculated check its children, so that every
//! check comes out whole or not at all.
//!
//! A child may itself be calculated; the graph is walked depth first in
//! name order, and each cycle is reported once, at the reference that
//! closes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use super::Checks;
use super::check::{Check, CheckSection, Kind};

/// Where a name stands in the walk for cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// On the path being walked.
    Open,
    /// Walked, with everything below it.
    Done,
}

/// Every check of `valid` with its children, those of calculated checks
/// resolved against the other sections; `fail(span, message)` records each
/// problem. `sections` are the checks as written, `unjudged` the names of
/// sections left out for a value of the wrong type (they exist; their
/// error is reported). A calculated check with a problem, or naming one
/// that has one, is left out.
pub(crate) fn resolve(
    sections: &BTreeMap<String, CheckSection>,
    unjudged: &BTreeSet<String>,
    valid: BTreeMap<String, Check>,
    mut fail: impl FnMut(Option<Range<usize>>, String),
) -> Checks {
    // The names each calculated section combines, as written.
    let graph: BTreeMap<&str, &[Spanned<String>]> = sections
        .iter()
        .filter(|(_, section)| {
            matches!(section.kind.get_ref().as_str(), "all" | "any" | "at-least")
        })
        .filter_map(|(name, section)| {
            let names = section.checks.as_ref()?;
            Some((name.as_str(), names.get_ref().as_slice()))
        })
        .collect();
    for (&parent, names) in &graph {
        for (i, child) in names.iter().enumerate() {
            let name = child.get_ref();
            if names[..i].iter().any(|before| before.get_ref() == name) {
                fail(
                    Some(child.span()),
                    format!("check {parent}: checks names {name} twice"),
                );
            } else if !sections.contains_key(name) && !unjudged.contains(name) {
                fail(
                    Some(child.span()),
                    format!(
                        "check {parent}: checks names {name}, which is not defined: add a [check.{name}]"
                    ),
                );
            }
        }
    }
    let mut cyclic = BTreeSet::new();
    let mut marks = HashMap::new();
    for &name in graph.keys() {
        let mut path = Vec::new();
        walk(name, &graph, &mut marks, &mut path, &mut cyclic, &mut fail);
    }
    let mut resolver = Resolver {
        sections,
        valid,
        cyclic,
        built: BTreeMap::new(),
        fail,
    };
    let names: Vec<String> = resolver.valid.keys().cloned().collect();
    for name in names {
        resolver.build(&name);
    }
    resolver
        .built
        .into_iter()
        .filter_map(|(name, check)| Some((name, check?)))
        .collect()
}

/// Walks the calculated checks below `name` depth first; a reference to
/// one on the `path` closes a cycle, reported there, and its members go
/// into `cyclic`.
fn walk<'a>(
    name: &'a str,
    graph: &BTreeMap<&'a str, &'a [Spanned<String>]>,
    marks: &mut HashMap<&'a str, Mark>,
    path: &mut Vec<&'a str>,
    cyclic: &mut BTreeSet<String>,
    fail: &mut impl FnMut(Option<Range<usize>>, String),
) {
    if marks.contains_key(name) {
        return;
    }
    let Some(&children) = graph.get(name) else {
        return;
    };
    marks.insert(name, Mark::Open);
    path.push(name);
    for child in children {
        let child_name = child.get_ref().as_str();
        match marks.get(child_name) {
            Some(Mark::Open) => {
                let start = path.iter().position(|&n| n == child_name).unwrap_or(0);
                let members = &path[start..];
                cyclic.extend(members.iter().map(|&n| n.to_owned()));
                let message = if members.len() == 1 {
                    format!(
                        "check {name}: checks names {name} itself: a calculated check cannot \
                         include itself"
                    )
                } else {
                    format!(
                        "check {name}: checks form a cycle: {} → {child_name}",
                        members.join(" → ")
                    )
                };
                fail(Some(child.span()), message);
            }
            Some(Mark::Done) => {}
            None => walk(child_name, graph, marks, path, cyclic, fail),
        }
    }
    path.pop();
    marks.insert(name, Mark::Done);
}

/// Builds each check once, children first.
struct Resolver<'a, F> {
    sections: &'a BTreeMap<String, CheckSection>,
    valid: BTreeMap<String, Check>,
    cyclic: BTreeSet<String>,
    /// Each check looked at, and what came of it (`None`: left out).
    built: BTreeMap<String, Option<Arc<Check>>>,
    fail: F,
}

impl<F: FnMut(Option<Range<usize>>, String)> Resolver<'_, F> {
    fn build(&mut self, name: &str) -> Option<Arc<Check>> {
        if let Some(done) = self.built.get(name) {
            return done.clone();
        }
        // Marked first: a cycle the walk missed would end here.
        self.built.insert(name.to_owned(), None);
        let mut check = self.valid.get(name)?.clone();
        if let Kind::Calculated(_) = check.kind {
            if self.cyclic.contains(name) {
                return None;
            }
            let sections = self.sections;
            let section = &sections[name];
            let names = section.checks.as_ref()?.get_ref();
            let mut children = Vec::with_capacity(names.len());
            for child in names {
                children.push(self.build(child.get_ref()));
            }
            check.children = children.into_iter().collect::<Option<Vec<_>>>()?;
            let slowest = check
                .children
                .iter()
                .max_by_key(|child| child.timeout)
                .expect("checks is not empty");
            check.timeout = slowest.timeout;
            if check.timeout > check.interval {
                let span = section
                    .interval
                    .as_ref()
                    .map_or(section.kind.span(), Spanned::span);
                (self.fail)(
                    Some(span),
                    format!(
                        "check {name}: interval {} is shorter than check {}'s timeout {}, and \
                         each probe waits for every check it names: raise the interval",
                        humantime::format_duration(check.interval),
                        slowest.name,
                        humantime::format_duration(check.timeout),
                    ),
                );
                return None;
            }
        }
        let check = Arc::new(check);
        self.built.insert(name.to_owned(), Some(check.clone()));
        Some(check)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::check::Operator;
    use crate::config::parse;
    use crate::config::tests::{assert_errors, errors};
    use crate::config::{Check, Kind};

    const WEB: &str = "[check.web]\ntype = \"tcp\"\nport = 80\n";
    const DB: &str = "[check.db]\ntype = \"tcp\"\nport = 5432\ntimeout = \"300ms\"\n";

    #[test]
    fn children_are_the_checks_named_whole_nested_and_shared() {
        let config = parse(
            Path::new("t.toml"),
            &format!(
                "{WEB}{DB}[check.both]\ntype = \"all\"\nchecks = [\"web\", \"db\"]\n\
                 [check.either]\ntype = \"any\"\nchecks = [\"both\", \"web\"]\ninterval = \"5s\"\n\
                 [check.two]\ntype = \"at-least\"\ncount = 2\nchecks = [\"web\", \"db\", \"both\"]\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e:#?}"));
        let checks = &config.checks;
        let names = |check: &Check| -> Vec<String> {
            check.children.iter().map(|c| c.name.clone()).collect()
        };
        let both = &checks["both"];
        assert_eq!(both.kind, Kind::Calculated(Operator::All));
        assert_eq!(names(both), ["web", "db"]);
        assert_eq!(
            both.children[1], checks["db"],
            "the child is the check itself"
        );
        assert_eq!(both.timeout, Duration::from_secs(1), "the slowest child's");
        let either = &checks["either"];
        assert_eq!(either.kind, Kind::Calculated(Operator::Any));
        assert_eq!(names(either), ["both", "web"]);
        assert_eq!(names(&either.children[0]), ["web", "db"], "nested");
        assert_eq!(checks["two"].kind, Kind::Calculated(Operator::AtLeast(2)));
        assert_eq!((both.port, both.command.as_ref()), (0, None));
    }

    #[test]
    fn unknown_repeated_and_empty_names_are_refused_with_their_place() {
        assert_errors(
            &format!(
                "{WEB}[check.a]\ntype = \"all\"\nchecks = [\"web\", \"wbe\", \"web\"]\n\
                 [check.b]\ntype = \"any\"\nchecks = []\n\
                 [check.c]\ntype = \"any\"\n"
            ),
            &[
                "t.toml:6:18: check a: checks names wbe, which is not defined: add a [check.wbe]",
                "t.toml:6:25: check a: checks names web twice",
                "t.toml:9:10: check b: checks is empty",
                "t.toml:11:8: check c: type any needs checks = [\"NAME\", …]",
            ],
        );
    }

    #[test]
    fn cycles_are_refused_at_the_reference_that_closes_them() {
        // Itself; a 2-cycle; a 3-cycle; and a check above a cycle, which
        // is left out without an error of its own.
        let found = errors(
            "[check.self]\ntype = \"all\"\nchecks = [\"self\"]\n\
             [check.a]\ntype = \"any\"\nchecks = [\"b\"]\n\
             [check.b]\ntype = \"any\"\nchecks = [\"a\"]\n\
             [check.x]\ntype = \"all\"\nchecks = [\"y\"]\n\
             [check.y]\ntype = \"all\"\nchecks = [\"z\"]\n\
             [check.z]\ntype = \"all\"\nchecks = [\"x\"]\n\
             [check.top]\ntype = \"all\"\nchecks = [\"x\"]\n",
        );
        assert_eq!(
            found,
            [
                "t.toml:3:11: check self: checks names self itself: a calculated check cannot \
                 include itself",
                "t.toml:9:11: check b: checks form a cycle: a → b → a",
                "t.toml:18:11: check z: checks form a cycle: x → y → z → x",
            ]
        );
    }

    #[test]
    fn count_is_for_at_least_between_one_and_the_checks_named() {
        assert_errors(
            &format!(
                "{WEB}{DB}[check.none]\ntype = \"at-least\"\nchecks = [\"web\", \"db\"]\n\
                 [check.zero]\ntype = \"at-least\"\ncount = 0\nchecks = [\"web\"]\n\
                 [check.three]\ntype = \"at-least\"\ncount = 3\nchecks = [\"web\", \"db\"]\n\
                 [check.any]\ntype = \"any\"\ncount = 1\nchecks = [\"web\"]\n\
                 [check.tcp]\ntype = \"tcp\"\nport = 1\ncount = 1\nchecks = [\"web\"]\n"
            ),
            &[
                "t.toml:9:8: check none: an at-least check needs count = N",
                "t.toml:13:9: check zero: count must be at least 1",
                "t.toml:17:9: check three: count 3 is more than the 2 checks named",
                "t.toml:21:9: check any: count applies to at-least checks only",
                "t.toml:26:9: check tcp: count applies to at-least checks only",
                "t.toml:27:10: check tcp: checks applies to all, any and at-least checks only",
            ],
        );
    }

    #[test]
    fn a_calculated_check_probes_nothing_of_its_own() {
        assert_errors(
            &format!(
                "{WEB}[check.a]\ntype = \"all\"\nchecks = [\"web\"]\nport = 80\ntimeout = \"1s\"\n\
                 path = \"/\"\nsource = \"127.0.0.1\"\ncommand = [\"/bin/true\"]\n"
            ),
            &[
                "t.toml:5:8: check a: port applies to the checks a calculated check names",
                "t.toml:5:8: check a: path applies to http and https checks only",
                "t.toml:8:11: check a: a calculated check has no timeout of its own",
                "t.toml:10:10: check a: source applies to http, https and tcp checks only",
                "t.toml:11:11: check a: command applies to exec checks only",
            ],
        );
    }

    #[test]
    fn the_interval_must_leave_room_for_the_slowest_child() {
        assert_errors(
            &format!(
                "{WEB}[check.slow]\ntype = \"tcp\"\nport = 1\ninterval = \"5s\"\ntimeout = \"3s\"\n\
                 [check.a]\ntype = \"all\"\nchecks = [\"web\", \"slow\"]\n\
                 [check.b]\ntype = \"any\"\nchecks = [\"slow\"]\ninterval = \"1s\"\n"
            ),
            &[
                "t.toml:10:8: check a: interval 2s is shorter than check slow's timeout 3s",
                "t.toml:15:12: check b: interval 1s is shorter than check slow's timeout 3s",
            ],
        );
    }

    #[test]
    fn a_child_with_errors_of_its_own_is_not_also_unknown() {
        // web is left out for its port's type, db for its fall: the
        // calculated check is not told it names checks that do not exist.
        assert_errors(
            "[check.web]\ntype = \"tcp\"\nport = \"x\"\n\
             [check.db]\ntype = \"tcp\"\nport = 1\nfall = 0\n\
             [check.both]\ntype = \"all\"\nchecks = [\"web\", \"db\"]\n",
            &[
                "t.toml:3:8: invalid type: string \"x\", expected u16",
                "t.toml:7:8: check db: fall must be at least 1",
            ],
        );
    }
}
