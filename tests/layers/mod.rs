//! Data flows one way: each top-level module of `src/` may use only the
//! modules of the layers below its own (see `LAYERS`). Read from the code
//! itself: every `crate::NAME` outside comments, string literals and
//! `#[cfg(test)]` items counts; tests may reach anywhere.
//!
//! Run it alone with `cargo test --test tests layers`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. A module may use those of lower layers only;
/// one of a layer not listed here fails the test, so a new module must be
/// placed.
const LAYERS: &[&[&str]] = &[
    &["name", "random", "groups", "client", "files", "exhaustion"],
    &["wire", "drill"],
    &["config", "metrics"],
    &["zone", "geo"],
    &["catalog", "health"],
    &["answer", "notify", "cluster"],
    &["server"],
    &["service"],
    &["api"],
    &["daemon"],
    &["demo"],
];

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let uses = uses(&src);
    let layer = |module: &str| LAYERS.iter().position(|layer| layer.contains(&module));
    let mut wrong = Vec::new();
    for (module, used) in &uses {
        let Some(mine) = layer(module) else {
            wrong.push(format!("{module} is in no layer: add it to LAYERS"));
            continue;
        };
        for (other, files) in used {
            match layer(other) {
                Some(theirs) if theirs < mine => {}
                Some(_) => wrong.push(format!(
                    "{module} uses {other}, which is not below it ({})",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                )),
                None => wrong.push(format!("{other} is in no layer: add it to LAYERS")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(uses.len() >= 10, "read the modules: {uses:?}");
}

#[test]
fn test_code_and_comments_do_not_count() {
    let code = r#"
        use crate::a::X; // crate::b
        /// [`crate::c`]
        fn f() { let s = "crate::d"; let c = '{'; crate::e::g(); }
        #[cfg(test)]
        mod tests { use crate::f; fn t() { let _ = "}"; } }
        #[cfg(test)]
        use crate::g;
        fn h() -> u8 { crate::h::CONST }
    "#;
    let found: Vec<String> = referenced(code).into_iter().collect();
    assert_eq!(found, ["a", "e", "h"]);
}

/// For each top-level module, the others it names and where.
type Uses = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn uses(src: &Path) -> Uses {
    let mut uses = Uses::new();
    let mut files = Vec::new();
    collect(src, &mut files);
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let top = relative.components().next().unwrap().as_os_str();
        let module = top.to_str().unwrap().trim_end_matches(".rs").to_owned();
        if matches!(module.as_str(), "lib" | "main") || relative.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let entry = uses.entry(module.clone()).or_default();
        for other in referenced(&text) {
            if other != module {
                let name = relative.display().to_string();
                entry.entry(other).or_default().insert(name);
            }
        }
    }
    uses
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The modules `crate::NAME` names in `code`, outside comments, literals
/// and `#[cfg(test)]` items.
fn referenced(code: &str) -> BTreeSet<String> {
    let code = without_test_items(&blank_comments_and_literals(code));
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        let rest = rest.trim_start_matches('{').trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // `use crate::{a, b::c}`: every name in the braces.
        if code[at + "crate::".len()..].starts_with('{') {
            let inner = &code[at + "crate::{".len()..];
            let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
            for part in inner.split(',') {
                let part = part.trim();
                let module: String = part
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !module.is_empty() {
                    found.insert(module);
                }
            }
        } else if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

/// `code` with comments, string and character literals replaced by spaces
/// (lines kept), so that braces and names inside them are not read.
fn blank_comments_and_literals(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&other) => blank(&mut out, other),
                }
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    blank(&mut out, ch);
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Whether the quote at `i` opens a character literal, not a lifetime.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    matches!(
        (chars.get(i + 1), chars.get(i + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// `code` without the items that follow `#[cfg(test)]`.
fn without_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at + "#[cfg(test)]".len()..];
        let mut depth = 0;
        let mut end = item.len();
        for (i, c) in item.char_indices() {
            match c {
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}
