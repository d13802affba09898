//! The architecture test: reads every module of automl-core (`src/**/*.rs`), finds the paths
//! it names (`crate::…`, `super::…`, `self::…`), and checks them against the layer table of
//! `docs/architecture.md`:
//!
//! 1. a module names only modules of its own layer or below;
//! 2. a plug-point family's `mod.rs` (the trait's module) names none of its implementations;
//! 3. an implementation names no sibling implementation (the LLM parser gets its fallback
//!    injected, the Hub finder shares helpers through `finders::hf`);
//! 4. no cycle between modules (a folder's `mod.rs` declaring its children or re-exporting
//!    them with `pub use` is the module system, not a dependency, and is left out).
//!
//! Test code (`tests.rs` and `*_tests.rs` files, and everything after `#[cfg(test)]`) is not checked: tests may
//! drive a module from above.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → layer. A module imports only from its own layer or below.
const LAYERS: &[(&str, u8)] = &[
    ("event", 0),
    ("error", 0),
    ("words", 0),
    ("bus", 1),
    ("sink", 1),
    ("metrics", 1),
    ("data", 2),
    ("train", 3),
    ("agents", 4),
    ("export", 5),
    ("conductor", 6),
    ("api", 7),
];

/// Plug-point families: (folder module, implementations). The folder's `mod.rs` holds the
/// trait and must not name the implementations; implementations must not name each other.
const FAMILIES: &[(&str, &[&str])] = &[
    ("train", &["train::linear", "train::gbdt", "train::image"]),
    (
        "agents",
        &[
            "agents::parser",
            "agents::llm",
            "agents::selector",
            "agents::finders",
        ],
    ),
    (
        "agents::finders",
        &[
            "agents::finders::catalog",
            "agents::finders::hfcache",
            "agents::finders::hub",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module of the crate: module path (`agents::finders::hub`) → file.
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("src is readable")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p
                .file_stem()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if p.is_dir() {
                let mut pre = prefix.to_vec();
                pre.push(name);
                walk(&p, &pre, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let mut path = prefix.to_vec();
                if name != "mod" && name != "lib" {
                    path.push(name);
                }
                out.insert(path.join("::"), p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), &[], &mut out);
    out.remove(""); // lib.rs: the facade
    out
}

/// The source a module contributes outside its tests, without comments.
fn code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("module is readable");
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The module paths (absolute, without `crate::`) that a file names, each with whether it is
/// named only in `pub use` re-exports (a facade, not a dependency).
fn references_with_kind(
    module: &str,
    file: &Path,
    all: &BTreeMap<String, PathBuf>,
) -> BTreeMap<String, bool> {
    let full = code(file);
    let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs");
    let mut out: BTreeMap<String, bool> = BTreeMap::new();
    for line in full.lines() {
        let facade = line.trim_start().starts_with("pub use ");
        for r in line_references(module, line, is_mod_rs, all) {
            let e = out.entry(r).or_insert(true);
            *e = *e && facade;
        }
    }
    out
}

/// The module paths a file names.
fn references(module: &str, file: &Path, all: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    references_with_kind(module, file, all)
        .into_keys()
        .collect()
}

fn line_references(
    module: &str,
    text: &str,
    is_mod_rs: bool,
    all: &BTreeMap<String, PathBuf>,
) -> BTreeSet<String> {
    // The module `super` and `self` stand for.
    let here: Vec<&str> = if module.is_empty() {
        vec![]
    } else {
        module.split("::").collect()
    };
    let parent: Vec<&str> = here[..here.len().saturating_sub(1)].to_vec();
    let mut out = BTreeSet::new();
    // Paths relative to the module itself (`run::drive`, `use request::*`) name its children.
    let children: Vec<String> = all
        .keys()
        .filter(|k| {
            k.strip_prefix(module)
                .and_then(|r| r.strip_prefix("::"))
                .is_some_and(|r| !r.contains("::"))
                && !module.is_empty()
        })
        .map(|k| k.rsplit("::").next().unwrap_or_default().to_string())
        .collect();
    let mut anchors: Vec<(String, Vec<&str>)> = vec![
        ("crate::".to_string(), vec![]),
        ("super::".to_string(), parent.clone()),
        ("self::".to_string(), here.clone()),
    ];
    if is_mod_rs {
        for c in &children {
            anchors.push((format!("{c}::"), {
                let mut h = here.clone();
                h.push(c.as_str());
                h
            }));
        }
    }
    for (anchor, base) in anchors {
        let anchor = anchor.as_str();
        let mut from = 0;
        while let Some(i) = text[from..].find(anchor) {
            let start = from + i;
            from = start + anchor.len();
            // `super::` inside `crate::x::super::` does not occur; skip matches that are the
            // tail of a longer identifier (e.g. `myself::`).
            if start > 0 && text[..start].chars().last().is_some_and(is_ident) {
                continue;
            }
            // Read `a::b::c` then, if a `{` follows, the names in the group.
            let rest = &text[from..];
            let mut segs: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            let mut j = 0;
            let bytes: Vec<char> = rest.chars().collect();
            loop {
                let s0 = j;
                while j < bytes.len() && is_ident(bytes[j]) {
                    j += 1;
                }
                if j == s0 {
                    break;
                }
                let seg: String = bytes[s0..j].iter().collect();
                if seg == "super" {
                    segs.pop();
                } else {
                    segs.push(seg);
                }
                if j + 1 < bytes.len() && bytes[j] == ':' && bytes[j + 1] == ':' {
                    j += 2;
                } else {
                    break;
                }
            }
            let mut candidates = vec![segs.clone()];
            if j < bytes.len() && bytes[j] == '{' {
                let end = bytes[j..]
                    .iter()
                    .position(|c| *c == '}')
                    .map_or(bytes.len(), |e| j + e);
                let group: String = bytes[j + 1..end].iter().collect();
                for name in group
                    .split(',')
                    .map(|n| n.trim().split("::").next().unwrap_or("").trim())
                {
                    if !name.is_empty() && name != "self" {
                        let mut c = segs.clone();
                        c.push(name.to_string());
                        candidates.push(c);
                    }
                }
            }
            for c in candidates {
                // The longest prefix that is a module.
                let mut best = None;
                for k in (0..=c.len()).rev() {
                    let p = c[..k].join("::");
                    if all.contains_key(&p) {
                        best = Some(p);
                        break;
                    }
                }
                if let Some(p) = best {
                    if p != module && !p.is_empty() {
                        out.insert(p);
                    }
                }
            }
        }
    }
    out
}

fn layer(module: &str) -> u8 {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS
        .iter()
        .find(|(m, _)| *m == top)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("module {module} is not in the layer table; add it to LAYERS and docs/architecture.md"))
}

fn is_within(module: &str, prefix: &str) -> bool {
    module == prefix || module.starts_with(&format!("{prefix}::"))
}

/// A file of test code only: `tests.rs`, or a `*_tests.rs` module declared under `#[cfg(test)]`.
fn is_test_file(f: &std::path::Path) -> bool {
    f.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "tests.rs" || n.ends_with("_tests.rs"))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let all = modules();
    all.iter()
        .filter(|(_, f)| !is_test_file(f))
        .map(|(m, f)| (m.clone(), references(m, f, &all)))
        .collect()
}

/// The dependency graph: like [`graph`], without the re-exports of a folder's own children.
fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let all = modules();
    all.iter()
        .filter(|(_, f)| !is_test_file(f))
        .map(|(m, f)| {
            let refs = references_with_kind(m, f, &all)
                .into_iter()
                .filter(|(r, facade)| !(*facade && r.starts_with(&format!("{m}::"))))
                .map(|(r, _)| r)
                .collect();
            (m.clone(), refs)
        })
        .collect()
}

#[test]
fn every_module_is_in_the_layer_table() {
    for m in modules().keys() {
        let _ = layer(m);
    }
}

#[test]
fn modules_import_only_from_their_layer_or_below() {
    let mut broken = Vec::new();
    for (m, refs) in graph() {
        for r in refs {
            if layer(&r) > layer(&m) {
                broken.push(format!(
                    "{m} (layer {}) names {r} (layer {})",
                    layer(&m),
                    layer(&r)
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rule broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn trait_modules_name_no_implementation_and_implementations_no_sibling() {
    let g = graph();
    let mut broken = Vec::new();
    for (family, impls) in FAMILIES {
        if let Some(refs) = g.get(*family) {
            for r in refs {
                if impls.iter().any(|i| is_within(r, i)) {
                    broken.push(format!(
                        "{family} (the trait's module) names implementation {r}"
                    ));
                }
            }
        }
        for a in *impls {
            for (m, refs) in g.iter().filter(|(m, _)| is_within(m, a)) {
                for r in refs {
                    if let Some(b) = impls.iter().find(|b| *b != a && is_within(r, b)) {
                        broken.push(format!(
                            "{m} (implementation {a}) names sibling implementation {b} ({r})"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "plug-point rule broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn only_the_wiring_names_concrete_implementations_outside_their_family() {
    // Above the plug points, only `conductor::defaults` picks implementations; the stages and
    // the API work through the traits.
    let g = graph();
    let impls: Vec<&str> = FAMILIES
        .iter()
        .flat_map(|(_, i)| i.iter().copied())
        .collect();
    let mut broken = Vec::new();
    for (m, refs) in &g {
        if layer(m) <= layer("agents") || m == "conductor::defaults" {
            continue;
        }
        for r in refs {
            // The data set types of the finders family live in its mod.rs, not in an
            // implementation, so `agents::finders` itself is allowed; its children are not.
            if impls
                .iter()
                .any(|i| *i != "agents::finders" && is_within(r, i))
                || (is_within(r, "agents::finders") && r != "agents::finders")
            {
                broken.push(format!(
                    "{m} names implementation {r}; wire it in conductor::defaults"
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "wiring rule broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_module_cycle() {
    let g = dependency_graph();
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for r in g.get(n).into_iter().flatten() {
            match state.get(r.as_str()).copied().unwrap_or(0) {
                0 => {
                    if let Some(c) = visit(r, g, state, stack) {
                        return Some(c);
                    }
                }
                1 => {
                    let i = stack.iter().position(|s| s == r).unwrap_or(0);
                    let mut c = stack[i..].to_vec();
                    c.push(r.clone());
                    return Some(c);
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, &g, &mut state, &mut stack) {
                panic!("module cycle: {}", c.join(" -> "));
            }
        }
    }
}

#[test]
fn the_checker_sees_a_broken_rule() {
    // The reader itself: a file that names a higher layer is caught, so the tests above cannot
    // pass by reading nothing.
    let all = modules();
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("x.rs");
    std::fs::write(
        &f,
        "use crate::conductor::Conductor;\nuse super::{hf, DatasetQuery};\n// crate::api::x\n#[cfg(test)]\nmod tests { use crate::api; }\n",
    )
    .expect("write");
    let refs = references("agents::finders::hub", &f, &all);
    assert!(refs.contains("conductor"), "{refs:?}");
    assert!(refs.contains("agents::finders::hf"), "{refs:?}");
    assert!(refs.contains("agents::finders"), "{refs:?}");
    assert!(
        !refs.contains("api"),
        "comments and tests are skipped: {refs:?}"
    );
    assert!(layer("conductor") > layer("agents::finders::hub"));
    assert!(graph().len() > 30, "the crate's modules were read");
}
