//! The layers of ARCHITECTURE.md, enforced: a module may import only the modules below it. Read
//! from the sources, since the compiler allows any import within one crate.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

/// What each top-level module may import from the crate (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("secret", &[]),
    ("defaults", &[]),
    ("modes", &[]),
    ("duration", &[]),
    ("exit", &[]),
    ("chain", &[]),
    ("retry", &[]),
    ("capped", &[]),
    ("pause", &[]),
    ("procfs", &[]),
    ("ci", &["secret"]),
    ("tls", &["capped"]),
    ("proxy", &["secret"]),
    ("stats", &["ci", "capped"]),
    ("scenario", &["duration", "defaults"]),
    (
        "engine",
        &[
            "stats", "scenario", "secret", "duration", "defaults", "retry", "pause", "capped",
            "tls", "proxy", "chain", "procfs",
        ],
    ),
    ("gate", &["stats", "duration", "defaults", "engine", "exit"]),
    (
        "gitlab",
        &[
            "secret", "defaults", "retry", "capped", "tls", "chain", "ci", "modes",
        ],
    ),
    (
        "baseline",
        &[
            "stats", "gate", "gitlab", "ci", "chain", "defaults", "capped",
        ],
    ),
    ("report", &["stats", "gate", "baseline"]),
    ("sample_app", &["tls"]),
    // The custom executor: the host's findings are `stats::HostInfo`, which the gate records.
    (
        "executor",
        &["stats", "duration", "chain", "capped", "procfs"],
    ),
    ("cli", &["modes", "exit"]),
    (
        "settings",
        &[
            "cli", "gate", "ci", "modes", "secret", "defaults", "duration", "stats", "tls",
            "proxy", "chain",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The crate's top-level modules named after `crate::` in a file, test modules left out.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find("};").unwrap_or(group.len());
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(head(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(head(&item));
        } else {
            found.insert(head(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

fn head(path: &str) -> String {
    path.trim()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (module, allowed) in ALLOWED {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let file = src.join(format!("{module}.rs"));
        if file.is_file() {
            files.push(file);
        }
        assert!(!files.is_empty(), "no sources for `{module}`");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for import in imports(&text) {
                if import != *module && !allowed.contains(&import.as_str()) {
                    violations.push(format!("{} imports `{import}`", f.display()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_import_reader_sees_grouped_and_nested_imports() {
    let text = "use crate::{\n    gate::{self, Metric},\n    stats::RunResult,\n};\nlet x = crate::report::render();";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["gate", "report", "stats"]);
}
