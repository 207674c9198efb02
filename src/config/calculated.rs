//! Calculated checks (`all`, `any`, `at-least`) take their children from
//! the other `[check.NAME]`s: once each check is validated on its own,
//! [`resolve`] finds the names, refuses unknown and repeated ones, cycles
//! and nesting deeper than [`MAX_NESTING`], and hands each calculated
//! check its children, so that every check comes out whole or not at all.
//!
//! A child may itself be calculated; the graph is walked depth first in
//! name order, and each cycle is reported once, at the reference that
//! closes it. The walks keep their own stacks rather than recursing, so
//! that no config, however long a chain it writes, can run the stack out;
//! the checks built are then at most [`MAX_NESTING`] deep.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use super::Checks;
use super::check::{Check, CheckSection, Kind};

/// How deep calculated checks may nest: one over simple checks is 1.
pub(crate) const MAX_NESTING: usize = 8;

/// The calculated sections and the names each combines, as written.
type Graph<'a> = BTreeMap<&'a str, &'a [Spanned<String>]>;

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
    let graph: Graph<'_> = sections
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
    let mut refused = cycles(&graph, &mut fail);
    for (name, depth) in depths(&graph, &refused) {
        if depth > MAX_NESTING {
            let span = graph[name].first().map(Spanned::span);
            fail(
                span,
                format!(
                    "check {name}: calculated checks nest {depth} deep here, more than \
                     {MAX_NESTING}: combine fewer levels"
                ),
            );
            refused.insert(name.to_owned());
        }
    }
    let mut resolver = Resolver {
        sections,
        valid,
        refused,
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

/// Walks the graph depth first, from each name in order; a reference to
/// a check on the path closes a cycle, reported there. Returns the
/// members of every cycle found: each cycle has one of them at least.
fn cycles(
    graph: &Graph<'_>,
    fail: &mut impl FnMut(Option<Range<usize>>, String),
) -> BTreeSet<String> {
    let mut cyclic = BTreeSet::new();
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    for &start in graph.keys() {
        if marks.contains_key(start) {
            continue;
        }
        marks.insert(start, Mark::Open);
        // The path: each check on it and the next of its names to follow.
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some(&(name, next)) = path.last() {
            let Some(child) = graph[name].get(next) else {
                marks.insert(name, Mark::Done);
                path.pop();
                continue;
            };
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            let child_name = child.get_ref().as_str();
            if !graph.contains_key(child_name) {
                continue;
            }
            match marks.get(child_name) {
                Some(Mark::Open) => {
                    let start = path.iter().position(|&(n, _)| n == child_name).unwrap_or(0);
                    let members: Vec<&str> = path[start..].iter().map(|&(n, _)| n).collect();
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
                None => {
                    marks.insert(child_name, Mark::Open);
                    path.push((child_name, 0));
                }
            }
        }
    }
    cyclic
}

/// How deep each calculated check outside `cyclic` nests: 1 over simple
/// checks, one more than its deepest calculated child. What lies below a
/// member of a cycle is not counted: that check is refused anyway.
fn depths<'a>(graph: &Graph<'a>, cyclic: &BTreeSet<String>) -> BTreeMap<&'a str, usize> {
    let mut depth: BTreeMap<&'a str, usize> = BTreeMap::new();
    let counted = |name: &str| graph.contains_key(name) && !cyclic.contains(name);
    for (&start, _) in graph.iter().filter(|(name, _)| counted(name)) {
        if depth.contains_key(start) {
            continue;
        }
        // Without the cycles' members the graph has no cycle: each check
        // is finished once every calculated child is.
        let mut stack: Vec<&'a str> = vec![start];
        while let Some(&name) = stack.last() {
            let pending: Vec<&'a str> = graph[name]
                .iter()
                .map(|child| child.get_ref().as_str())
                .filter(|&child| counted(child) && !depth.contains_key(child))
                .collect();
            if pending.is_empty() {
                let below = graph[name]
                    .iter()
                    .filter_map(|child| depth.get(child.get_ref().as_str()))
                    .max()
                    .copied()
                    .unwrap_or(0);
                depth.insert(name, below + 1);
                stack.pop();
            } else {
                stack.extend(pending);
            }
        }
    }
    depth
}

/// Builds each check once, children first.
struct Resolver<'a, F> {
    sections: &'a BTreeMap<String, CheckSection>,
    valid: BTreeMap<String, Check>,
    /// Calculated checks refused for the graph's sake: members of a cycle
    /// and checks nested too deep.
    refused: BTreeSet<String>,
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
            if self.refused.contains(name) {
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

    use super::MAX_NESTING;
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

    /// A chain of `levels` calculated checks, `c1` naming `c2` and so on,
    /// the last naming `web`.
    fn chain(levels: usize) -> String {
        let mut text = WEB.to_owned();
        for level in 1..=levels {
            let child = if level == levels {
                "web".to_owned()
            } else {
                format!("c{}", level + 1)
            };
            text.push_str(&format!(
                "[check.c{level}]\ntype = \"all\"\nchecks = [\"{child}\"]\n"
            ));
        }
        text
    }

    #[test]
    fn calculated_checks_nest_at_most_max_nesting_deep() {
        let config = parse(Path::new("t.toml"), &chain(MAX_NESTING)).unwrap();
        let mut check = &config.checks["c1"];
        for _ in 0..MAX_NESTING {
            check = &check.children[0];
        }
        assert_eq!(check.name, "web");
        // One level more: the check on top is refused, at its first name.
        assert_eq!(
            errors(&chain(MAX_NESTING + 1)),
            [
                "t.toml:6:11: check c1: calculated checks nest 9 deep here, more than 8: \
                 combine fewer levels",
            ]
        );
        // However long the chain, it is reported, not a stack overflow.
        let found = errors(&chain(20_000));
        assert!(
            found[0].ends_with(
                "check c1: calculated checks nest 20000 deep here, more than 8: \
                 combine fewer levels"
            ),
            "{found:?}"
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
