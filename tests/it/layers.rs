//! The layers of ARCHITECTURE.md, enforced: a module may import only the modules below it, and
//! the files of one folder import one another one way only (no circles). Read from the sources,
//! since the compiler allows any import within one crate; parsed with `syn`, so that only the
//! `#[cfg(test)]` items are left out, wherever in a file they sit.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use syn::visit::{self, Visit};

/// What each top-level module may import from the crate (besides itself). Every module of
/// `src/` has a row: the crate roots (`lib.rs`, `main.rs`) and test-only modules excepted.
const ALLOWED: &[(&str, &[&str])] = &[
    ("secret", &[]),
    // Outside text quoted for a message: escaped, cut to a length.
    ("quote", &["secret"]),
    ("defaults", &[]),
    ("modes", &[]),
    ("duration", &[]),
    ("exit", &[]),
    ("chain", &[]),
    ("retry", &[]),
    ("capped", &[]),
    ("pause", &[]),
    ("procfs", &[]),
    // User YAML (scenarios, config files): the one parser.
    ("yaml", &[]),
    // The virtual users' random numbers.
    ("rng", &[]),
    ("ci", &["secret"]),
    ("tls", &["capped"]),
    ("proxy", &["secret"]),
    // `defaults`: a results file is held to the bounds the settings are (`streams_per_user`).
    ("stats", &["ci", "capped", "secret", "quote", "defaults"]),
    (
        "scenario",
        &[
            "duration", "defaults", "yaml", "rng", "capped", "secret", "quote", "modes",
        ],
    ),
    // results.json and shard files: the one reader and writer of `stats`' file model.
    ("results", &["stats", "capped", "defaults", "quote"]),
    (
        "engine",
        &[
            "stats", "scenario", "secret", "duration", "defaults", "retry", "pause", "capped",
            "tls", "proxy", "chain", "procfs", "rng", "quote", "modes",
        ],
    ),
    (
        "gate",
        &["stats", "duration", "defaults", "engine", "exit", "quote"],
    ),
    (
        "gitlab",
        &[
            "secret", "defaults", "retry", "capped", "tls", "chain", "ci", "modes", "quote",
        ],
    ),
    (
        "baseline",
        &[
            "stats", "results", "gate", "gitlab", "ci", "chain", "defaults", "quote",
        ],
    ),
    // `exit`: a report names the outcome the exit status is made of; `defaults`: the caps it
    // quotes.
    (
        "report",
        &[
            "stats", "results", "gate", "baseline", "exit", "defaults", "quote",
        ],
    ),
    ("sample_app", &["tls"]),
    // The custom executor: the host's findings are `stats::HostInfo`, which the gate records.
    (
        "executor",
        &["stats", "duration", "chain", "capped", "procfs"],
    ),
    // `init`'s starter files, its look at the host and at the project's .gitlab-ci.yml.
    (
        "starter",
        &["capped", "chain", "defaults", "secret", "tls", "yaml"],
    ),
    ("cli", &["modes", "exit"]),
    (
        "settings",
        &[
            "cli", "gate", "ci", "modes", "secret", "defaults", "duration", "stats", "tls",
            "proxy", "chain", "yaml", "capped",
        ],
    ),
    // The top tier of errors: every module's typed error folds into one, with its exit code.
    (
        "error",
        &[
            "baseline",
            "chain",
            "engine",
            "exit",
            "gate",
            "pause",
            "report",
            "results",
            "sample_app",
            "scenario",
            "settings",
            "starter",
        ],
    ),
    // The subcommands, on top of everything.
    (
        "commands",
        &[
            "baseline",
            "capped",
            "chain",
            "ci",
            "cli",
            "defaults",
            "duration",
            "engine",
            "error",
            "executor",
            "exit",
            "gate",
            "gitlab",
            "modes",
            "pause",
            "quote",
            "report",
            "results",
            "retry",
            "sample_app",
            "scenario",
            "secret",
            "settings",
            "starter",
            "stats",
            "tls",
            "yaml",
        ],
    ),
];

/// A module path inside the crate (`["gate", "evaluate"]`); the crate root is empty.
type ModPath = Vec<String>;

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

/// The module a file under `src/` holds: `gate/mod.rs` and `gate.rs` are `gate`, `lib.rs` the
/// root. `main.rs` is a crate of its own (its `crate::` is the binary), so it has none.
fn module_of(relative: &Path) -> Option<ModPath> {
    let mut parts: ModPath = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [only] if only == "main" => return None,
        [only] if only == "lib" => return Some(Vec::new()),
        _ => {}
    }
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    Some(parts)
}

/// A path as the source writes it, with the module it is written in.
#[derive(Debug)]
struct Written {
    module: ModPath,
    path: ModPath,
    /// For a `use` leaf, the name it binds there (what a re-export makes visible).
    binds: Option<String>,
}

/// What one file names outside its `#[cfg(test)]` items.
#[derive(Debug, Default)]
struct Named {
    written: Vec<Written>,
    /// Inline modules (`mod x { .. }`) outside test code.
    inline: Vec<ModPath>,
    /// Modules declared test-only (`#[cfg(test)] mod x;`): files that are test code as a whole.
    test_mods: Vec<ModPath>,
}

/// `#[cfg(test)]`, or `#[cfg(all(.., test, ..))]`: code that only the tests compile.
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let Ok(list) = a.meta.require_list() else {
            return false;
        };
        let tokens = list.tokens.to_string();
        let words = || tokens.split(|c: char| !(c.is_alphanumeric() || c == '_'));
        a.path().is_ident("cfg")
            && (tokens == "test" || (tokens.starts_with("all") && words().any(|w| w == "test")))
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item::*;
    match item {
        Const(i) => &i.attrs,
        Enum(i) => &i.attrs,
        ExternCrate(i) => &i.attrs,
        Fn(i) => &i.attrs,
        ForeignMod(i) => &i.attrs,
        Impl(i) => &i.attrs,
        Macro(i) => &i.attrs,
        Mod(i) => &i.attrs,
        Static(i) => &i.attrs,
        Struct(i) => &i.attrs,
        Trait(i) => &i.attrs,
        TraitAlias(i) => &i.attrs,
        Type(i) => &i.attrs,
        Union(i) => &i.attrs,
        Use(i) => &i.attrs,
        _ => &[],
    }
}

/// Walks one file, keeping track of the (inline) module it is in.
struct Reader {
    module: ModPath,
    named: Named,
}

impl Reader {
    fn name(&mut self, path: ModPath, binds: Option<String>) {
        let module = self.module.clone();
        self.named.written.push(Written {
            module,
            path,
            binds,
        });
    }

    /// The leaves of a `use` tree, each as a whole path.
    fn use_tree(&mut self, prefix: &mut ModPath, tree: &syn::UseTree) {
        let leaf = |prefix: &ModPath, ident: &syn::Ident| match ident == "self" {
            true => prefix.clone(),
            false => [prefix.clone(), vec![ident.to_string()]].concat(),
        };
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let path = leaf(prefix, &n.ident);
                let binds = path.last().cloned();
                self.name(path, binds);
            }
            syn::UseTree::Rename(r) => {
                let binds = (r.rename != "_").then(|| r.rename.to_string());
                self.name(leaf(prefix, &r.ident), binds);
            }
            syn::UseTree::Glob(_) => self.name(prefix.clone(), None),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Reader {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let test_only = is_test_only(item_attrs(item));
        match item {
            syn::Item::Mod(m) => {
                let mut path = self.module.clone();
                path.push(m.ident.to_string());
                match (test_only, &m.content) {
                    (true, None) => self.named.test_mods.push(path),
                    (true, Some(_)) => {}
                    (false, None) => {}
                    (false, Some((_, items))) => {
                        let outer = std::mem::replace(&mut self.module, path.clone());
                        self.named.inline.push(path);
                        items.iter().for_each(|i| self.visit_item(i));
                        self.module = outer;
                    }
                }
            }
            _ if test_only => {}
            _ => visit::visit_item(self, item),
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => return visit::visit_impl_item(self, item),
        };
        if !is_test_only(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast syn::TraitItem) {
        let attrs = match item {
            syn::TraitItem::Const(i) => &i.attrs,
            syn::TraitItem::Fn(i) => &i.attrs,
            syn::TraitItem::Type(i) => &i.attrs,
            syn::TraitItem::Macro(i) => &i.attrs,
            _ => return visit::visit_trait_item(self, item),
        };
        if !is_test_only(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_stmt(&mut self, stmt: &'ast syn::Stmt) {
        let attrs = match stmt {
            syn::Stmt::Local(l) => &l.attrs,
            syn::Stmt::Macro(m) => &m.attrs,
            _ => return visit::visit_stmt(self, stmt),
        };
        if !is_test_only(attrs) {
            visit::visit_stmt(self, stmt);
        }
    }

    fn visit_field(&mut self, f: &'ast syn::Field) {
        if !is_test_only(&f.attrs) {
            visit::visit_field(self, f);
        }
    }

    fn visit_variant(&mut self, v: &'ast syn::Variant) {
        if !is_test_only(&v.attrs) {
            visit::visit_variant(self, v);
        }
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        if !is_test_only(&arm.attrs) {
            visit::visit_arm(self, arm);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() && p.segments.len() > 1 {
            let path = p.segments.iter().map(|s| s.ident.to_string()).collect();
            self.name(path, None);
        }
        visit::visit_path(self, p);
    }

    /// A macro's body is tokens, not syntax: read as expressions when it is a list of them
    /// (`format!`, `assert_eq!`, `vec!`), else scanned for `crate::`, `super::` and `self::`.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        type Exprs = syn::punctuated::Punctuated<syn::Expr, syn::Token![,]>;
        match mac.parse_body_with(Exprs::parse_terminated) {
            Ok(exprs) => exprs.iter().for_each(|e| self.visit_expr(e)),
            Err(_) => {
                for path in scanned_paths(&mac.tokens.to_string()) {
                    self.name(path, None);
                }
            }
        }
        visit::visit_macro(self, mac);
    }

    /// An attribute's arguments are tokens too (`#[error("..", crate::defaults::MAX)]`).
    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if let syn::Meta::List(list) = &attr.meta {
            for path in scanned_paths(&list.tokens.to_string()) {
                self.name(path, None);
            }
        }
    }
}

/// The `crate::`/`super::`/`self::` paths in a macro's tokens (`crate :: a :: b`).
fn scanned_paths(tokens: &str) -> Vec<ModPath> {
    let words: Vec<&str> = tokens.split_whitespace().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if matches!(words[i], "crate" | "super" | "self") && words.get(i + 1) == Some(&"::") {
            let mut path = vec![words[i].to_string()];
            while words.get(i + 1) == Some(&"::") {
                match words.get(i + 2) {
                    Some(w) if w.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                        path.push(w.to_string());
                        i += 2;
                    }
                    _ => break,
                }
            }
            found.push(path);
        }
        i += 1;
    }
    found
}

/// What a file names outside test code, read as the module `module`.
fn read(text: &str, module: &[String]) -> Result<Named, syn::Error> {
    let file = syn::parse_file(text)?;
    let mut reader = Reader {
        module: module.to_vec(),
        named: Named::default(),
    };
    reader.visit_file(&file);
    Ok(reader.named)
}

/// One file of the crate, read.
struct Source {
    file: PathBuf,
    module: ModPath,
    named: Named,
}

/// The crate as the checks see it: its modules, what its `use`s re-export, and each file's
/// names resolved to module paths.
struct Crate {
    modules: BTreeSet<ModPath>,
    /// `gate::Metric` -> `gate::expr::Metric`: a name a `use` binds, and what it names.
    aliases: BTreeMap<ModPath, ModPath>,
    sources: Vec<Source>,
}

impl Crate {
    /// `files` as (file, module, text); the files that a `#[cfg(test)] mod x;` declares are
    /// test code as a whole, and left out.
    fn new(files: Vec<(PathBuf, ModPath, String)>) -> Crate {
        let mut sources: Vec<Source> = files
            .into_iter()
            .map(|(file, module, text)| {
                let named = read(&text, &module)
                    .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
                Source {
                    file,
                    module,
                    named,
                }
            })
            .collect();
        let test_mods: Vec<ModPath> = sources
            .iter()
            .flat_map(|s| s.named.test_mods.iter().cloned())
            .collect();
        sources.retain(|s| !test_mods.iter().any(|t| s.module.starts_with(t)));
        let mut krate = Crate {
            modules: sources.iter().map(|s| s.module.clone()).collect(),
            aliases: BTreeMap::new(),
            sources,
        };
        let inline: Vec<ModPath> = (krate.sources.iter())
            .flat_map(|s| s.named.inline.iter().cloned())
            .collect();
        krate.modules.extend(inline);
        krate.aliases = krate.find_aliases();
        krate
    }

    fn find_aliases(&self) -> BTreeMap<ModPath, ModPath> {
        let mut aliases = BTreeMap::new();
        for w in self.sources.iter().flat_map(|s| &s.named.written) {
            if let (Some(name), Some(target)) = (&w.binds, self.resolve_as_written(w)) {
                let key = [w.module.clone(), vec![name.clone()]].concat();
                if key != target && !self.modules.contains(&key) {
                    aliases.insert(key, target);
                }
            }
        }
        aliases
    }

    /// `crate::`, `self::` and `super::` paths, and paths into a child module, made absolute;
    /// `None` for anything outside the crate.
    fn resolve_as_written(&self, w: &Written) -> Option<ModPath> {
        let first = w.path.first()?;
        let mut at = w.module.clone();
        let rest = match first.as_str() {
            "crate" => {
                at.clear();
                &w.path[1..]
            }
            "self" => &w.path[1..],
            "super" => {
                let ups = w.path.iter().take_while(|s| *s == "super").count();
                at.truncate(at.len().checked_sub(ups)?);
                &w.path[ups..]
            }
            child
                if self
                    .modules
                    .contains(&[at.clone(), vec![child.to_string()]].concat()) =>
            {
                &w.path[..]
            }
            _ => return None,
        };
        at.extend(rest.iter().cloned());
        Some(at)
    }

    /// A path with the re-exports along it followed to where the item is defined.
    fn resolve(&self, w: &Written) -> Option<ModPath> {
        let mut path = self.resolve_as_written(w)?;
        for _ in 0..8 {
            let Some(k) = (1..=path.len()).find(|&k| {
                !self.modules.contains(&path[..k]) && self.aliases.contains_key(&path[..k])
            }) else {
                break;
            };
            path = [self.aliases[&path[..k]].clone(), path[k..].to_vec()].concat();
        }
        Some(path)
    }

    /// Every file with the module paths it names.
    fn imports(&self) -> impl Iterator<Item = (&Source, BTreeSet<ModPath>)> {
        self.sources.iter().map(|s| {
            let paths = s.named.written.iter().filter_map(|w| self.resolve(w));
            (s, paths.collect())
        })
    }

    /// `(folder, from, to)`: a file inside the folder's child `from` names its child `to`.
    fn sibling_edges(&self) -> BTreeSet<(ModPath, String, String)> {
        let mut edges = BTreeSet::new();
        for (source, paths) in self.imports() {
            let from = &source.module;
            for to in paths {
                let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
                if common < from.len() && common < to.len() && self.modules.contains(&to[..=common])
                {
                    let folder = from[..common].to_vec();
                    edges.insert((folder, from[common].clone(), to[common].clone()));
                }
            }
        }
        edges
    }

    /// Each group of sibling modules that import one another in a circle, named by folder.
    fn circles(&self) -> Vec<String> {
        let mut graphs: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for (folder, from, to) in self.sibling_edges() {
            let graph = graphs.entry(folder).or_default();
            graph.entry(from).or_default().insert(to);
        }
        let mut found = Vec::new();
        for (folder, graph) in &graphs {
            for circle in strongly_connected(graph) {
                let edges: Vec<String> = (circle.iter())
                    .flat_map(|a| graph[a].iter().map(move |b| (a, b)))
                    .filter(|(_, b)| circle.contains(*b))
                    .map(|(a, b)| format!("{a} -> {b}"))
                    .collect();
                found.push(format!("src/{}: {}", folder.join("/"), edges.join(", ")));
            }
        }
        found
    }
}

/// The groups of more than one node that all reach one another.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<BTreeSet<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for next in graph.get(&n).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|n| (n, reach(n))).collect();
    let mut groups = BTreeSet::new();
    for (n, from_n) in &reached {
        let group: BTreeSet<String> = (from_n.iter())
            .filter(|m| reached.get(m).is_some_and(|r| r.contains(*n)))
            .cloned()
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    groups
}

/// The crate under `src/`, read.
fn this_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let files = files
        .into_iter()
        .filter_map(|f| {
            let module = module_of(f.strip_prefix(&src).unwrap())?;
            let text = std::fs::read_to_string(&f).unwrap();
            Some((f, module, text))
        })
        .collect();
    Crate::new(files)
}

/// The top-level modules with no row in `table`, and the rows for no module.
fn unlisted(krate: &Crate, table: &[(&str, &[&str])]) -> Vec<String> {
    let top: BTreeSet<&str> = (krate.modules.iter())
        .filter_map(|m| m.first().map(String::as_str))
        .collect();
    let rows: BTreeSet<&str> = table.iter().map(|(m, _)| *m).collect();
    let missing = top.difference(&rows).map(|m| format!("`{m}` has no row"));
    let stale = rows
        .difference(&top)
        .map(|m| format!("`{m}` has a row but no sources"));
    missing.chain(stale).collect()
}

/// Each file that names a top-level module its row does not allow.
fn layer_violations(krate: &Crate, table: &[(&str, &[&str])]) -> Vec<String> {
    let rows: BTreeMap<&str, &[&str]> = table.iter().copied().collect();
    let mut violations = Vec::new();
    for (source, paths) in krate.imports() {
        let Some(module) = source.module.first() else {
            continue;
        };
        let allowed = rows.get(module.as_str()).copied().unwrap_or_default();
        let heads: BTreeSet<&String> = paths.iter().filter_map(|p| p.first()).collect();
        for import in heads {
            if import != module && !allowed.contains(&import.as_str()) {
                violations.push(format!("{} imports `{import}`", source.file.display()));
            }
        }
    }
    violations
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let violations = layer_violations(&this_crate(), ALLOWED);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_top_level_module_has_a_row() {
    let unlisted = unlisted(&this_crate(), ALLOWED);
    assert!(unlisted.is_empty(), "{}", unlisted.join("\n"));
}

#[test]
fn the_files_of_a_folder_import_one_another_one_way() {
    // A circle is broken by a module both sides import (`gate/metric.rs` for evaluate and
    // regression, `baseline/search.rs`, `settings/values.rs`, `stats/sums.rs`).
    let circles = this_crate().circles();
    assert!(circles.is_empty(), "in a circle:\n{circles:#?}");
}

/// The top-level modules a text names, read as a file of `src/here.rs`.
fn imports(text: &str) -> Vec<String> {
    let files = vec![("here.rs".into(), vec!["here".to_string()], text.to_string())];
    let krate = Crate::new(files);
    let (_, paths) = krate.imports().next().unwrap();
    let heads: BTreeSet<String> = paths
        .into_iter()
        .filter_map(|p| p.first().cloned())
        .collect();
    heads.into_iter().filter(|h| h != "here").collect()
}

#[test]
fn the_import_reader_sees_grouped_and_nested_imports() {
    let text = "use crate::{\n    gate::{self, Metric},\n    stats::RunResult,\n};\nfn f() { let x = crate::report::render(); }";
    assert_eq!(imports(text), ["gate", "report", "stats"]);
}

#[test]
fn the_reader_skips_test_items_and_sees_the_code_after_them() {
    let text = "use crate::stats::RunResult;
#[cfg(test)]
mod tests { use crate::report::Html; fn t() { crate::cli::run(); } }
#[cfg(test)]
fn helper() { crate::settings::load(); }
#[derive(thiserror::Error)]
#[error(\"{} too large\", crate::defaults::MAX)]
struct S;
impl S {
    #[cfg(test)]
    const WHOLE: u8 = crate::baseline::ONE;
    fn f() -> String { format!(\"{}\", crate::duration::format(1)) }
}
#[cfg(all(test, unix))]
use crate::gitlab::Api;
fn after() { super::gate::evaluate(); }";
    assert_eq!(imports(text), ["defaults", "duration", "gate", "stats"]);
}

#[test]
fn a_top_level_module_without_a_row_fails_and_so_does_a_row_without_a_module() {
    let file = |m: &str, text: &str| (PathBuf::from(m), vec![m.to_string()], text.to_string());
    let krate = Crate::new(vec![
        file("stats", ""),
        file("gate", "use crate::stats::X;"),
    ]);
    assert_eq!(
        unlisted(&krate, &[("stats", &[]), ("report", &["stats"])]),
        ["`gate` has no row", "`report` has a row but no sources"]
    );
    assert!(unlisted(&krate, &[("stats", &[]), ("gate", &["stats"])]).is_empty());
    assert_eq!(
        layer_violations(&krate, &[("stats", &[]), ("gate", &[])]),
        ["gate imports `stats`"]
    );
}

#[test]
fn a_circle_between_sibling_files_is_found_through_super_crate_and_re_exports() {
    let file = |m: &[&str], text: &str| {
        let module: ModPath = m.iter().map(|s| s.to_string()).collect();
        (PathBuf::from(m.join("/")), module, text.to_string())
    };
    let mod_rs = "mod a; mod b; mod c; pub(crate) use c::Shared;";
    let circle = Crate::new(vec![
        file(&["g"], mod_rs),
        file(&["g", "a"], "use super::b::{self, B};"),
        file(
            &["g", "b"],
            "fn f() { crate::g::c::x(); super::Shared::new(); }",
        ),
        file(
            &["g", "c"],
            "fn f() { let _ = self::inner::Y; super::a::go(); }",
        ),
    ]);
    assert_eq!(circle.circles(), ["src/g: a -> b, b -> c, c -> a"]);
    let one_way = Crate::new(vec![
        file(&["g"], mod_rs),
        file(&["g", "a"], "use super::{c::Shared, Check};"),
        file(&["g", "b"], "use super::Shared;"),
        file(
            &["g", "c"],
            "#[cfg(test)] mod tests { use super::super::a; }",
        ),
    ]);
    assert!(one_way.circles().is_empty(), "{:?}", one_way.circles());
}
