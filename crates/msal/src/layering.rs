//! Keeps the crate's layering honest: the graph of its top-level modules
//! (who names `crate::x` in non-test code) has no cycles, and the rules the
//! architecture states hold: flows never import the applications, the core
//! never imports flows or applications, credentials never import the
//! protocol or the pipeline. Read from the source, so CI (`cargo test`)
//! fails on the commit that breaks them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Edges that must not exist, with the reason.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    (
        "flows",
        "app",
        "flows work on the core; applications are above them",
    ),
    ("core", "flows", "the core is below the flows"),
    ("core", "app", "the core is below the applications"),
    (
        "credential",
        "oauth2",
        "credentials say what to send, the core sends it",
    ),
    ("credential", "pipeline", "credentials never send requests"),
    ("pipeline", "oauth2", "the pipeline is below the protocol"),
    ("cache", "core", "the cache is a domain type below the core"),
    ("error", "credential", "errors are a leaf"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_owned())
}

/// Whether a file holds only tests.
fn is_test_file(src: &Path, file: &Path) -> bool {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    stem == "tests"
        || stem.ends_with("_tests")
        || stem == "testing"
        || stem == "layering"
        || file
            .strip_prefix(src)
            .is_ok_and(|r| r.components().any(|c| c.as_os_str() == "tests"))
}

/// The non-test code of a file: comments dropped, and everything from an
/// inline `#[cfg(test)] mod tests` on (such modules close the file).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests {"))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Names re-exported by the crate root (`pub use module::...::{A, B}`), by the module they come from.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let code = code_of(lib);
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(path) = statement.strip_prefix("pub use ") else {
            continue;
        };
        let module = path.split("::").next().unwrap_or_default().trim().to_owned();
        let names = path.rsplit("::").next().unwrap_or_default();
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), module.clone());
            }
        }
    }
    out
}

/// The `crate::x` names a piece of code uses.
fn referenced(code: &str, exports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        // `$crate::` in macros is the same crate; anything else ending in
        // `crate::` (e.g. another crate's path) is not.
        let before = &code[..at];
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            // `crate::{a, b}`: each name in the braces.
            if let Some(group) = rest.strip_prefix('{').and_then(|r| r.split('}').next()) {
                for part in group.split(',') {
                    let head = part.trim().split("::").next().unwrap_or_default().to_owned();
                    out.extend(resolve(&head, exports));
                }
            }
            continue;
        }
        out.extend(resolve(&name, exports));
    }
    out
}

fn resolve(name: &str, exports: &BTreeMap<String, String>) -> Option<String> {
    if name.starts_with(|c: char| c.is_ascii_uppercase()) {
        exports.get(name).cloned()
    } else if name.is_empty() {
        None
    } else {
        Some(name.to_owned())
    }
}

/// The module graph: module -> modules it uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let exports = root_exports(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        if is_test_file(&src, &file) {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap_or_default();
        let uses = referenced(&code_of(&text), &exports);
        let node = graph.entry(module.clone()).or_default();
        node.extend(uses.into_iter().filter(|m| *m != module));
    }
    graph
}

/// A cycle through `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Visiting);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_module_graph_has_no_cycles() {
    let graph = graph();
    // The scan found the crate: a broken scan must not pass silently.
    for module in [
        "app",
        "core",
        "flows",
        "pipeline",
        "oauth2",
        "cache",
        "credential",
    ] {
        assert!(
            graph.contains_key(module),
            "module {module} not found in {graph:?}"
        );
    }
    assert!(
        graph["flows"].contains("core"),
        "flows use the core: {:?}",
        graph["flows"]
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}\n{graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn layering_rules_hold() {
    let graph = graph();
    let broken: Vec<String> = FORBIDDEN
        .iter()
        .filter(|(from, to, _)| graph.get(*from).is_some_and(|uses| uses.contains(*to)))
        .map(|(from, to, why)| format!("{from} imports {to}: {why}"))
        .collect();
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_checker_finds_cycles_and_edges() {
    let exports = root_exports("pub use app::{PublicClientApplication, Other};\npub use cache::TokenCache;");
    let uses = referenced(
        &code_of(
            "use crate::core::AppCore;\nuse crate::{PublicClientApplication, TokenCache};\nlet x = $crate::flows::y;\n// crate::oauth2 in a comment is dropped\n",
        ),
        &exports,
    );
    assert_eq!(
        uses.into_iter().collect::<Vec<_>>(),
        ["app", "cache", "core", "flows"].map(str::to_owned)
    );
    let code = code_of("use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}\n");
    assert!(code.contains("crate::a") && !code.contains("crate::b") && !code.contains("crate::c"));
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    assert_eq!(find_cycle(&graph), None);
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&graph),
        Some(["a", "b", "c", "a"].map(str::to_owned).to_vec())
    );
}
