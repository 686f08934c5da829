//! House rules no compiler checks: the modules of a crate import one way (no loops), and no source
//! file grows past what one reads in a sitting. Reads the source tree only: no AWS, no build.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines a hand-written source file may have, its inline unit tests included.
const MAX_LINES: usize = 700;

/// Files over [`MAX_LINES`] that are data, generated or vendored, not code one reads.
const GENERATED: &[&str] = &[
    "Cargo.lock",
    "package-lock.json",
    "bench/results.md",
    "shared/static/redoc/redoc.standalone.js",
];

/// The extensions of hand-written source.
const SOURCE: &[&str] = &["rs", "yaml", "yml", "py", "sh", "js", "html"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Every file under `dir`, skipping build output, installed packages and hidden folders.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && !["target", "node_modules"].contains(&name.as_str()) {
                walk(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// Whether a file is tests rather than the product: under a `tests` folder, or a unit-test
/// module kept beside its source (`config_tests.rs`).
fn is_test(relative: &str) -> bool {
    relative.split('/').any(|part| part == "tests") || relative.ends_with("_tests.rs")
}

#[test]
fn no_source_file_is_over_700_lines_but_generated_data() {
    let root = repo();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut long = Vec::new();
    let mut checked = 0;
    for file in files {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let ext = file.extension().map(|e| e.to_string_lossy().into_owned());
        let source = ext.is_some_and(|e| SOURCE.contains(&e.as_str()));
        if !source || is_test(&relative) || GENERATED.contains(&relative.as_str()) {
            continue;
        }
        checked += 1;
        let lines = std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
        if lines > MAX_LINES {
            long.push(format!("{relative}: {lines} lines"));
        }
    }
    // The walk reached the tree (functions, shared, xtask, scripts, the templates).
    assert!(
        checked > 50,
        "only {checked} source files found under {}",
        root.display()
    );
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines (split by subject, or move unit tests to a sibling \
         `*_tests.rs`):\n{}",
        long.join("\n")
    );
}

#[test]
fn each_generated_file_allowed_to_be_long_is_still_there() {
    // Once one moves or goes, its entry goes: the list names no file that is not there.
    let root = repo();
    for listed in GENERATED {
        assert!(
            root.join(listed).is_file(),
            "{listed} is gone: take it off the list"
        );
    }
}

/// Each crate's import graph, from its root file.
const CRATES: &[(&str, &str)] = &[
    ("shared/src", "lib.rs"),
    ("xtask/src", "main.rs"),
    ("perf/src", "main.rs"),
];

#[test]
fn no_crate_has_an_import_loop() {
    for (src, root) in CRATES {
        let loops = import_loops(&repo().join(src), root);
        assert!(
            loops.is_empty(),
            "import loops in {src}:\n{}",
            loops.join("\n")
        );
    }
}

#[test]
fn the_loop_finder_sees_a_loop_through_a_re_export_and_a_parent() {
    let dir = std::env::temp_dir().join(format!("house-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");
    // a -> b through b's re-export of its child; the child reaches back into a.
    write("a.rs", "use crate::b::Thing;\npub struct A;\n");
    write("b/mod.rs", "mod inner;\npub use inner::Thing;\n");
    write("b/inner.rs", "pub struct Thing(crate::a::A);\n");
    // c only uses what it is given: no loop, and its test module is not code.
    write(
        "c.rs",
        "use crate::a::A;\n// crate::c::x in a comment\nconst S: &str = \"crate::c\";\n\
         #[cfg(test)]\nmod tests {\n    use crate::b::Thing;\n}\n",
    );
    let loops = import_loops(&dir, "lib.rs");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(loops.len(), 1, "{loops:?}");
    assert!(loops[0].contains("a.rs -> b/inner.rs"), "{}", loops[0]);
    assert!(loops[0].contains("b/inner.rs -> a.rs"), "{}", loops[0]);
}

// ---- The import graph --------------------------------------------------------------------------
//
// Nodes are the crate's files, each one module. An edge A -> B means code in A names an item B
// defines: through `use` (of `crate::`, `super::`, `self::` or a child module) or through a path
// written inline (`crate::state::sdk_config()`). Each name is followed to the file that defines
// it, through re-exports: `super::PhoneNumber` in domain/otp.rs names domain/phone.rs, which
// domain/mod.rs only re-exports.
//
// What is not an edge: `mod child;` and `pub use child::Name` in a parent. A parent that declares
// its children and gives their items a shorter path is their table of contents, not a user of
// them; the reader of `crate::domain::PhoneNumber` is sent on to phone.rs. A parent's own code
// that uses a child's item (a private `use child::..`, or a re-export of something from outside
// its subtree) is an edge like any other, so a child that uses its parent's items (`super::Store`)
// while the parent's code uses the child's closes a loop, and is reported.
//
// Unit tests (`#[cfg(test)]` items) are left out: a test may use anything.

/// Every import loop among the files under `src` (whose crate root is `root`), one line per
/// loop with the imports that close it.
fn import_loops(src: &Path, root: &str) -> Vec<String> {
    let crate_ = Crate::read(src, root);
    let graph = crate_.edges();
    let mut loops = Vec::new();
    for component in strongly_connected(&graph) {
        if component.len() < 2 {
            continue;
        }
        let members: BTreeSet<&String> = component.iter().collect();
        let mut lines = vec![format!("loop among {}:", component.join(", "))];
        for from in &component {
            for (to, why) in &graph[from] {
                if members.contains(to) {
                    lines.push(format!("  {from} -> {to} ({why})"));
                }
            }
        }
        loops.push(lines.join("\n"));
    }
    loops
}

struct Crate {
    /// Module path -> file (relative to `src`).
    modules: BTreeMap<Vec<String>, String>,
    /// File -> its code, without comments, literals and test items.
    code: BTreeMap<String, String>,
    /// (module path, name) -> the full path it re-exports.
    reexports: BTreeMap<(Vec<String>, String), Vec<String>>,
}

impl Crate {
    fn read(src: &Path, root: &str) -> Self {
        let mut files = Vec::new();
        walk(src, &mut files);
        let mut modules = BTreeMap::new();
        let mut code = BTreeMap::new();
        for file in files {
            let relative = file
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if !relative.ends_with(".rs") || relative.ends_with("_tests.rs") {
                continue;
            }
            // A binary of its own is another crate.
            if relative.starts_with("bin/") {
                continue;
            }
            let path: Vec<String> = if relative == root {
                Vec::new()
            } else {
                let stem = relative.trim_end_matches(".rs").trim_end_matches("/mod");
                stem.split('/').map(str::to_owned).collect()
            };
            let text = std::fs::read_to_string(&file).unwrap();
            code.insert(relative.clone(), without_tests(&strip(&text)));
            modules.insert(path, relative);
        }
        let mut crate_ = Self {
            modules,
            code,
            reexports: BTreeMap::new(),
        };
        let mut reexports = BTreeMap::new();
        for (module, file) in &crate_.modules {
            for statement in uses(&crate_.code[file]).0 {
                if !statement.public {
                    continue;
                }
                for (path, name) in expand(&statement.tree) {
                    if let Some(full) = crate_.absolute(module, &path) {
                        reexports.insert((module.clone(), name), full);
                    }
                }
            }
        }
        crate_.reexports = reexports;
        crate_
    }

    /// `path` as written in `module`, from the crate root; `None` for another crate's.
    fn absolute(&self, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?;
        let (mut base, rest) = match first.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (module.to_vec(), &path[1..]),
            "super" => {
                let mut base = module.to_vec();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                (base, rest)
            }
            child => {
                let mut candidate = module.to_vec();
                candidate.push(child.to_owned());
                if !self.modules.contains_key(&candidate) {
                    return None;
                }
                (module.to_vec(), path)
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what `path` (from the crate root) names.
    fn defining_file(&self, path: &[String], depth: usize) -> Option<String> {
        let mut module = Vec::new();
        let mut rest = path;
        while let Some(next) = rest.first() {
            let mut deeper = module.clone();
            deeper.push(next.clone());
            if !self.modules.contains_key(&deeper) {
                break;
            }
            module = deeper;
            rest = &rest[1..];
        }
        if let Some(name) = rest.first()
            && depth < 8
            && let Some(target) = self.reexports.get(&(module.clone(), name.clone()))
        {
            return self.defining_file(target, depth + 1);
        }
        self.modules.get(&module).cloned()
    }

    /// File -> (file it depends on -> one import that shows it).
    fn edges(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (module, file) in &self.modules {
            let edges = graph.entry(file.clone()).or_default();
            let code = &self.code[file];
            let mut named: Vec<(Vec<String>, bool)> = Vec::new();
            let (statements, rest) = uses(code);
            for statement in statements {
                for (path, _) in expand(&statement.tree) {
                    named.push((path, statement.public));
                }
            }
            for path in inline_paths(&rest) {
                named.push((path, false));
            }
            for (path, public) in named {
                let Some(full) = self.absolute(module, &path) else {
                    continue;
                };
                // A parent's re-export of its own subtree is its table of contents.
                if public && full.starts_with(module) && full.len() > module.len() {
                    continue;
                }
                let Some(target) = self.defining_file(&full, 0) else {
                    continue;
                };
                if &target != file {
                    edges.entry(target).or_insert_with(|| path.join("::"));
                }
            }
        }
        graph
    }
}

/// Tarjan's strongly connected components, each sorted, in a stable order.
fn strongly_connected(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, node: &'a str) {
        let i = s.index.len();
        s.index.insert(node, i);
        s.low.insert(node, i);
        s.stack.push(node);
        s.on_stack.insert(node);
        let graph = s.graph;
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            let next = next.as_str();
            if !s.index.contains_key(next) {
                visit(s, next);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                component.push(top.to_owned());
                if top == node {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.out.sort();
    state.out
}

// ---- Reading Rust just enough ------------------------------------------------------------------

/// The code with comments blanked and every string and char literal emptied, so braces and
/// paths found after are code.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r'))
            && !at(i.wrapping_sub(1)).is_alphanumeric()
            && {
                let start = if c == 'b' { i + 2 } else { i + 1 };
                let mut j = start;
                while at(j) == '#' {
                    j += 1;
                }
                at(j) == '"'
            }
        {
            // A raw string: r"..", r#".."#, br"..".
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal (a lifetime has no closing quote right after one char).
            i += 1;
            if at(i) == '\\' {
                i += 1;
            }
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The code without the items marked `#[cfg(test)]` (a unit-test module, a test helper).
fn without_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        // The item ends at its first `;` outside braces, or where its first brace closes.
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

struct Use {
    public: bool,
    /// The use tree, as written after `use` (without the `;`).
    tree: String,
}

/// The `use` declarations of stripped code, and the code without them.
fn uses(code: &str) -> (Vec<Use>, String) {
    let mut found = Vec::new();
    let mut rest = String::new();
    let mut kept = 0;
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find("use ") {
        let start = from + at;
        from = start + 4;
        let before = code[..start].trim_end();
        let boundary = start == 0 || !is_ident(bytes[start - 1]);
        if !boundary {
            continue;
        }
        // `use` opens a statement: after a `;`, a brace, an attribute or a visibility.
        let public = before.ends_with("pub")
            || before.ends_with(')') && {
                let open = before.rfind('(').unwrap_or(0);
                before[..open].trim_end().ends_with("pub")
            };
        let opener = before.is_empty()
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with(']')
            || public;
        if !opener {
            continue;
        }
        let Some(end) = code[from..].find(';') else {
            break;
        };
        rest.push_str(&code[kept..start]);
        kept = from + end;
        found.push(Use {
            public,
            tree: code[from..from + end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        });
        from += end;
    }
    rest.push_str(&code[kept..]);
    (found, rest)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Each leaf of a use tree as (path, the name it binds): `a::{b, c::d as e, self}` gives
/// (a::b, b), (a::c::d, e), (a, a).
fn expand(tree: &str) -> Vec<(Vec<String>, String)> {
    fn go(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let mut base = prefix.to_vec();
            base.extend(segments(&tree[..open]));
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut piece = String::new();
            for c in inner.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&base, &piece, out);
                        piece.clear();
                        continue;
                    }
                    _ => {}
                }
                piece.push(c);
            }
            go(&base, &piece, out);
        } else if !tree.is_empty() {
            let (path, alias) = match tree.split_once(" as ") {
                Some((path, alias)) => (path, Some(alias.trim().to_owned())),
                None => (tree, None),
            };
            let mut full = prefix.to_vec();
            full.extend(segments(path));
            if full.last().is_some_and(|s| s == "self" || s == "*") {
                full.pop();
            }
            let name = alias.or_else(|| full.last().cloned()).unwrap_or_default();
            out.push((full, name));
        }
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

fn segments(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Paths written inline in code that start at `crate::` or `super::` (those a `use` names are
/// read by [`uses`]).
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let begin = from + at;
            from = begin + start.len();
            if begin > 0 && (is_ident(bytes[begin - 1]) || bytes[begin - 1] == b':') {
                continue;
            }
            let mut end = begin;
            while end < bytes.len()
                && (is_ident(bytes[end])
                    || code[end..].starts_with("::") && {
                        bytes.get(end + 2).is_some_and(|b| is_ident(*b))
                    })
            {
                end += if is_ident(bytes[end]) { 1 } else { 2 };
            }
            found.push(segments(&code[begin..end]).collect());
        }
    }
    found
}
