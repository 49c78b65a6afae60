//! The runtime's modules depend one way: each only on those before it in
//! `LAYERS`, so no module imports one that imports it back. Read from the
//! source: every `crate::<module>` path outside comments is an edge.
//!
//! The crate root (`lib.rs`, the facade that re-exports and wires the
//! integrations in) and `__private` (what the expansion calls, on top of
//! everything) are outside the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// From the bottom up, as the crate docs draw them.
const LAYERS: [&str; 9] = [
    "policy", "counters", "protect", "engine", "observe", "flows", "http", "openai", "fleet",
];

/// Names the crate root defines itself (wired there, read below).
const ROOT_ITEMS: [&str; 1] = ["INTEGRATIONS"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../retry-runtime/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (line comments, doc comments
/// and block comments; string contents are kept, which only makes the
/// check stricter). A character literal (`'"'`, `'\''`) is kept whole, so
/// that its quote opens no string; a lifetime (`'a`) is not a literal.
fn code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if in_string {
            out.push(c);
            if c == '\\' {
                out.extend(next);
                i += 1;
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        // A raw string (`r"…"`, `r#"…"#`, `br"…"`): no escapes, closed by
        // a quote and as many `#`s as opened it.
        let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let r = match (c, next) {
            ('r', _) if !after_ident => Some(i),
            ('b', Some('r')) if !after_ident => Some(i + 1),
            _ => None,
        };
        if let Some(r) = r {
            let hashes = chars[r + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(r + 1 + hashes) == Some(&'"') {
                let closes = |j: usize| {
                    chars[j] == '"'
                        && chars[j + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&h| h == '#')
                            .count()
                            == hashes
                };
                let end = (r + 2 + hashes..chars.len())
                    .find(|&j| closes(j))
                    .map_or(chars.len(), |j| j + 1 + hashes);
                out.extend(&chars[i..end]);
                i = end;
                continue;
            }
        }
        match (c, next) {
            ('"', _) => {
                in_string = true;
                out.push(c);
                i += 1;
            }
            ('\'', Some('\\')) => {
                // An escaped character literal: up to its closing quote.
                let close = (i + 3..chars.len())
                    .find(|&j| chars[j] == '\'')
                    .unwrap_or(chars.len() - 1);
                out.extend(&chars[i..=close]);
                i = close + 1;
            }
            ('\'', Some(_)) if chars.get(i + 2) == Some(&'\'') => {
                out.extend(&chars[i..i + 3]);
                i += 3;
            }
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                // Up to the `*/` that closes it (block comments nest).
                let mut depth = 1;
                i += 2;
                while i < chars.len() && depth > 0 {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The first segment of every `crate::` path in `code`, grouped imports
/// (`crate::{a::X, b}`) included.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` in a macro is the crate root of its caller: not an edge.
        let before = &rest[..at];
        rest = &rest[at + "crate::".len()..];
        if before.ends_with('$') || before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The group's top-level items: `{policy::{Class, GiveUp}, engine}`.
            let (mut depth, mut start) = (0, 0);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.extend(first_segment(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.extend(first_segment(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            found.push(rest[..end].to_owned());
        }
    }
    found
}

fn first_segment(item: &str) -> Option<String> {
    let first = item.trim().split("::").next().unwrap_or("").trim();
    (!first.is_empty()).then(|| first.to_owned())
}

/// `module -> modules it names`, and the paths that name a root re-export
/// instead of the module that owns the item.
fn edges() -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut through_root = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "__private" {
            continue;
        }
        assert!(
            LAYERS.contains(&module.as_str()),
            "{}: a top-level module that is not in LAYERS (add it where it belongs)",
            relative.display()
        );
        let text = fs::read_to_string(&file).unwrap();
        for name in crate_paths(&code(&text)) {
            if LAYERS.contains(&name.as_str()) {
                if name != module {
                    edges.entry(module.clone()).or_default().insert(name);
                }
            } else if !ROOT_ITEMS.contains(&name.as_str()) {
                through_root.push(format!("{}: crate::{name}", relative.display()));
            }
        }
    }
    (edges, through_root)
}

/// A cycle through `from`, if any (as the list of modules on it).
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        at: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|m| m == at) {
            let mut found = path[i..].to_vec();
            found.push(at.to_owned());
            return Some(found);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_owned());
        for next in edges.get(at).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(at.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let (edges, _) = edges();
    if let Some(found) = cycle(&edges) {
        panic!(
            "a cycle between the runtime's modules: {}",
            found.join(" -> ")
        );
    }
}

#[test]
fn every_module_depends_only_on_the_layers_below_it() {
    let (edges, _) = edges();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m).unwrap();
    let upward: Vec<String> = edges
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |to| (from, to)))
        .filter(|(from, to)| rank(to) > rank(from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(upward.is_empty(), "imports up the layers: {upward:?}");
}

#[test]
fn modules_name_what_they_use_by_its_module_not_by_a_root_re_export() {
    let (_, through_root) = edges();
    assert!(
        through_root.is_empty(),
        "paths through the crate root hide an edge: {through_root:#?}"
    );
}

#[test]
fn the_checks_see_cycles_and_groups() {
    // The checker itself: a cycle is found, grouped imports count, and
    // comments and `$crate` do not.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&edges).unwrap(), ["a", "b", "c", "a"]);
    let text = "use crate::{policy::{Class, GiveUp}, engine};\n// crate::fleet\n/// [x](crate::flows)\n$crate::http\n/* crate::observe */ let x = crate::protect::Budget::new();";
    assert_eq!(crate_paths(&code(text)), ["policy", "engine", "protect"]);
    // A quote in a character literal opens no string (which would hide
    // the path after it); lifetimes are not literals.
    let text = "let q = '\"'; let e = '\\''; fn f<'a>(x: &'a str) {} use crate::counters;";
    assert_eq!(crate_paths(&code(text)), ["counters"]);
    // (Read as a string, the quote would keep the comment's path.)
    let text = "let q = '\"'; // crate::fleet\nuse crate::counters; let r = '\"';";
    assert_eq!(crate_paths(&code(text)), ["counters"]);
    // A block comment that ends the file.
    assert_eq!(code("a /* b */"), "a ");
    assert_eq!(code("a /**/b"), "a b");
    assert_eq!(code("a /*/ crate::fleet */b"), "a b");
    assert_eq!(code("a /* /* crate::x */ crate::y */b"), "a b");
    // Raw strings: no escapes, and quotes inside a `#` one.
    let text =
        "let s = r#\"a\"b // crate::x\"#; use crate::counters; let t = r\"\\\"; use crate::engine;";
    // (A string's text is kept, as above: its path counts; what follows
    // the raw strings is code again.)
    assert_eq!(crate_paths(&code(text)), ["x", "counters", "engine"]);
    let text = "let s = br\"\\\"; use crate::counters; let raw = 1; use crate::policy;";
    assert_eq!(crate_paths(&code(text)), ["counters", "policy"]);
}
