//! No import cycles between source files: a file that imports another (`use crate::…`,
//! `use super::…`, `use self::…`) never ends up imported by it, directly or through others.
//! Read from the source text, as the project's `modcycles.py` check reads it: unit-test modules
//! (`#[cfg(test)] mod tests`) and comments are left out, imports of a `mod.rs` (a module's
//! re-exports) are not edges, and `lib.rs`/`main.rs` import nothing here.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Every `.rs` file under `dir`, as paths relative to `root` with `/` separators.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy();
            out.insert(rel.replace('\\', "/"), fs::read_to_string(&path).unwrap());
        }
    }
}

/// The module path of a source file: `exec/pull.rs` → `exec::pull`, `exec/mod.rs` → `exec`.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The text the imports are read from: without line comments and without the unit-test
/// module, which may import whatever it tests against.
fn code_of(text: &str) -> String {
    let tests = regex::Regex::new(r"#\[cfg\(test\)\]\s*mod\s+tests\s*\{").unwrap();
    let text = match tests.find(text) {
        Some(m) => &text[..m.start()],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits `a, b::{c, d}, e` at its top-level commas.
fn top_level_items(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, ch) in s.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect()
}

/// The full paths a use tree names: `crate::a::{b, c::{d, e}}` → `crate::a::b`,
/// `crate::a::c::d`, `crate::a::c::e`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        Some(open) => {
            let close = tree.rfind('}').unwrap();
            let head = format!("{prefix}{}", &tree[..open]);
            for item in top_level_items(&tree[open + 1..close]) {
                expand(&head, item, out);
            }
        }
        // `a::b as c` names `a::b`.
        None => out.push(format!("{prefix}{}", tree.split(" as ").next().unwrap())),
    }
}

/// The files `rel` imports, among `files` (by module path).
fn imports(rel: &str, text: &str, files: &BTreeMap<Vec<String>, String>) -> BTreeSet<String> {
    // A use declaration starts a line; prose and strings that say "use" do not.
    let uses = regex::Regex::new(r"(?m)^\s*(?:pub\s*(?:\([^)]*\))?\s*)?use\s+([^;]+);").unwrap();
    let me = module_of(rel);
    let mut out = BTreeSet::new();
    for cap in uses.captures_iter(&code_of(text)) {
        let tree: String = cap[1].split_whitespace().collect::<Vec<_>>().join(" ");
        let tree = tree.replace(":: ", "::").replace(" ::", "::");
        let mut paths = Vec::new();
        for item in top_level_items(&tree) {
            expand("", item, &mut paths);
        }
        for p in paths {
            let segs: Vec<&str> = p
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "*")
                .collect();
            let path: Vec<String> = match segs.first() {
                Some(&"crate") => segs[1..].iter().map(|s| s.to_string()).collect(),
                Some(&"super") => me[..me.len().saturating_sub(1)]
                    .iter()
                    .cloned()
                    .chain(segs[1..].iter().map(|s| s.to_string()))
                    .collect(),
                Some(&"self") => me
                    .iter()
                    .cloned()
                    .chain(segs[1..].iter().map(|s| s.to_string()))
                    .collect(),
                _ => continue,
            };
            // The longest module prefix that is a file: `crate::exec::pull::pull` → exec/pull.rs.
            let target = (1..=path.len())
                .rev()
                .find_map(|n| files.get(&path[..n]).cloned());
            if let Some(t) = target
                && t != rel
                && !t.ends_with("mod.rs")
            {
                out.insert(t);
            }
        }
    }
    out
}

/// Groups of two or more files that import each other, directly or through others.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(f) = todo.pop() {
            for g in &edges[&f] {
                if seen.insert(g.clone()) {
                    todo.push(g.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|f| (f, reach(f))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (f, from_f) in &reachable {
        if !from_f.contains(*f) || out.iter().any(|c| c.contains(*f)) {
            continue;
        }
        let group: BTreeSet<String> = from_f
            .iter()
            .filter(|g| reachable[g].contains(*f))
            .cloned()
            .collect();
        out.push(group);
    }
    out
}

/// No source file imports another that imports it back, directly or through others.
#[test]
fn no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut texts = BTreeMap::new();
    walk(&src, &src, &mut texts);
    let by_module: BTreeMap<Vec<String>, String> =
        texts.keys().map(|r| (module_of(r), r.clone())).collect();
    let edges: BTreeMap<String, BTreeSet<String>> = texts
        .iter()
        .map(|(rel, text)| {
            let targets = if rel == "lib.rs" || rel == "main.rs" {
                BTreeSet::new()
            } else {
                imports(rel, text, &by_module)
            };
            (rel.clone(), targets)
        })
        .collect();
    let count: usize = edges.values().map(BTreeSet::len).sum();
    assert!(
        texts.len() > 100 && count > 150,
        "read {count} imports among {} files",
        texts.len()
    );

    let found: Vec<String> = cycles(&edges)
        .iter()
        .map(|c| c.iter().cloned().collect::<Vec<_>>().join(", "))
        .collect();
    assert!(found.is_empty(), "import cycles between files: {found:#?}");
}
