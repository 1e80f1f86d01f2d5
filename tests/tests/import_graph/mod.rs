//! Import loops between the files of one crate target.
//!
//! File module A has an edge to file module B when code in A names an item that lives in B:
//! a `use` path (groups, globs and renames flattened), any other path in the code, and paths
//! written inside macro invocations and attribute arguments. A path is resolved through the
//! module tree (`crate::`, `self::`, `super::`, a child module's name, a name brought in by
//! `use`, re-exports followed) to the deepest module it names, and that module's file is B.
//! Naming a module alone (`mod x;`, `use crate::x;`) is no edge; a glob import of a module is.
//! Inline modules (`#[cfg(test)] mod tests { }`) are part of their file.

mod cycles;
mod modules;
mod refs;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use modules::ModuleTree;

/// How many different paths are quoted for one edge in a report.
const QUOTED_PER_EDGE: usize = 3;

/// The files of one target and which refers to which.
pub struct FileGraph {
    /// File names as shown in reports (relative to the directory given to [`file_graph`]).
    pub files: Vec<String>,
    /// `(from, to)` file indexes, with where the reference is written (`line 3: crate::b::f`),
    /// each path quoted once, at its first sighting.
    pub edges: BTreeMap<(usize, usize), Vec<String>>,
}

/// One strongly connected set of files.
pub struct ImportLoop {
    /// The files of the loop, sorted.
    pub files: Vec<String>,
    /// Cycles through the loop (`a.rs → b.rs → a.rs`) that together show every edge in it.
    pub chains: Vec<String>,
    /// Each edge in the loop with where it is written.
    pub steps: Vec<String>,
}

/// The import graph of the target whose root file is `root`; file names are shown relative to
/// `base` (the package directory).
pub fn file_graph(root: &Path, base: &Path) -> Result<FileGraph, String> {
    let tree = ModuleTree::load(root)?;
    let collected: Vec<refs::Collected> = tree
        .modules
        .iter()
        .map(|m| refs::collect(&m.items))
        .collect();
    let resolver = Resolver::new(&tree, &collected);
    let mut edges: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    let mut add = |module: usize, target: usize, line: usize, segments: &[String]| {
        let from = tree.modules[module].file;
        let to = tree.modules[target].file;
        if from != to {
            let quoted = edges.entry((from, to)).or_default();
            let path = segments.join("::");
            let again = quoted.iter().any(|q| q.ends_with(&format!(": {path}")));
            if quoted.len() < QUOTED_PER_EDGE && !again {
                quoted.push(format!("line {line}: {path}"));
            }
        }
    };
    for (module, found) in collected.iter().enumerate() {
        for entry in &found.uses {
            match (resolver.resolve(module, &entry.segments), &entry.binding) {
                (Some(Target::Item(t)), _) | (Some(Target::Module(t)), refs::Binding::Glob) => {
                    add(module, t, entry.line, &entry.segments)
                }
                _ => {}
            }
        }
        for path in &found.paths {
            if let Some(Target::Item(t)) = resolver.resolve(module, &path.segments) {
                add(module, t, path.line, &path.segments);
            }
        }
    }
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    let files = tree
        .files
        .iter()
        .map(|f| match f.strip_prefix(&base) {
            Ok(relative) => relative.display().to_string(),
            Err(_) => f.display().to_string(),
        })
        .collect();
    Ok(FileGraph { files, edges })
}

impl FileGraph {
    /// Every loop, smallest file first.
    pub fn loops(&self) -> Vec<ImportLoop> {
        let edges: BTreeSet<(usize, usize)> = self.edges.keys().copied().collect();
        cycles::components(self.files.len(), &edges)
            .into_iter()
            .map(|component| {
                let chains = cycles::covering_cycles(&component, &edges)
                    .into_iter()
                    .map(|cycle| self.chain(&cycle))
                    .collect();
                let members: BTreeSet<usize> = component.iter().copied().collect();
                let steps = self
                    .edges
                    .iter()
                    .filter(|((a, b), _)| members.contains(a) && members.contains(b))
                    .map(|(&(a, b), quoted)| {
                        format!(
                            "{} → {}: {}",
                            self.files[a],
                            self.files[b],
                            quoted.join("; ")
                        )
                    })
                    .collect();
                let mut files: Vec<String> =
                    component.iter().map(|&i| self.files[i].clone()).collect();
                files.sort();
                ImportLoop {
                    files,
                    chains,
                    steps,
                }
            })
            .collect()
    }

    /// Every edge as `from → to`.
    pub fn edge_names(&self) -> BTreeSet<String> {
        self.edges
            .keys()
            .map(|&(a, b)| self.chain(&[a, b]))
            .collect()
    }

    fn chain(&self, files: &[usize]) -> String {
        files
            .iter()
            .map(|&i| self.files[i].as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

impl ImportLoop {
    pub fn describe(&self) -> String {
        let mut out = format!(
            "  loop of {} files: {}\n",
            self.files.len(),
            self.files.join(", ")
        );
        for chain in &self.chains {
            out.push_str(&format!("    {chain}\n"));
        }
        out.push_str("  where each step is written:\n");
        for step in &self.steps {
            out.push_str(&format!("    {step}\n"));
        }
        out
    }
}

enum Target {
    /// The path names this module itself.
    Module(usize),
    /// The path names an item defined in (or unknown to us but reached through) this module.
    Item(usize),
}

/// Deep enough for chains of re-exports; stops `use a; a::x` going round for ever.
const MAX_HOPS: usize = 32;

struct Resolver<'a> {
    tree: &'a ModuleTree,
    /// Per module: each name bound by `use` → the path it stands for.
    bindings: Vec<BTreeMap<&'a str, &'a [String]>>,
}

impl<'a> Resolver<'a> {
    fn new(tree: &'a ModuleTree, collected: &'a [refs::Collected]) -> Self {
        let bindings = collected
            .iter()
            .map(|found| {
                let mut names = BTreeMap::new();
                for entry in &found.uses {
                    if let refs::Binding::Name(name) = &entry.binding
                        && !entry.segments.is_empty()
                    {
                        names
                            .entry(name.as_str())
                            .or_insert(entry.segments.as_slice());
                    }
                }
                names
            })
            .collect();
        Resolver { tree, bindings }
    }

    /// What `segments`, written in `module`, names inside this crate (`None`: another crate, a
    /// local name or something we cannot follow).
    fn resolve(&self, module: usize, segments: &[String]) -> Option<Target> {
        self.resolve_hops(module, segments, 0)
    }

    fn resolve_hops(&self, module: usize, segments: &[String], hops: usize) -> Option<Target> {
        if hops > MAX_HOPS {
            return None;
        }
        let first = segments.first()?;
        let (mut current, mut rest) = match first.as_str() {
            "crate" => (0, &segments[1..]),
            "self" => (module, &segments[1..]),
            "super" => (module, segments),
            name => match self.tree.child(module, name) {
                Some(child) => (child, &segments[1..]),
                None => {
                    let bound = self.bindings[module].get(name)?;
                    let mut substituted = bound.to_vec();
                    substituted.extend_from_slice(&segments[1..]);
                    return self.resolve_hops(module, &substituted, hops + 1);
                }
            },
        };
        while let Some((segment, after)) = rest.split_first() {
            rest = after;
            if segment == "self" {
                continue;
            }
            if segment == "super" {
                current = self.tree.parent(current)?;
            } else if let Some(child) = self.tree.child(current, segment) {
                current = child;
            } else if let Some(bound) = self.bindings[current].get(segment.as_str()) {
                // A re-export (`pub use b::X;`): the item lives where the import points.
                let mut substituted = bound.to_vec();
                substituted.extend_from_slice(after);
                return self.resolve_hops(current, &substituted, hops + 1);
            } else {
                return Some(Target::Item(current));
            }
        }
        Some(Target::Module(current))
    }
}
