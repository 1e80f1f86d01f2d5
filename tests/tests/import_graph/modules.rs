//! The module tree of one crate target: from its root file, every `mod x;` is followed to its
//! file (`x.rs`, `x/mod.rs`, or a `#[path]`), and inline `mod m { }` blocks are modules that
//! live in their parent's file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use syn::ext::IdentExt;

/// A module of the tree: the crate root, a file module or an inline block.
pub struct Module {
    pub parent: Option<usize>,
    /// Index into [`ModuleTree::files`]: where the module's items are written.
    pub file: usize,
    pub children: BTreeMap<String, usize>,
    /// The items of the module's body (inline child modules included, not descended into).
    pub items: Vec<syn::Item>,
    /// The `#[cfg(...)]` attributes on the module's declaration, as token text.
    pub cfgs: Vec<String>,
}

pub struct ModuleTree {
    /// Index 0 is the crate root.
    pub modules: Vec<Module>,
    /// Canonical paths of the files, in the order they were read.
    pub files: Vec<PathBuf>,
    /// The source text of each file, as read.
    pub sources: Vec<String>,
}

/// Deep enough for any real crate; stops a `#[path]` that includes its own file.
const MAX_DEPTH: usize = 64;

/// A `mod` item of a module's body.
struct Declaration {
    name: String,
    cfgs: Vec<String>,
    /// Its `#[path = "..."]`.
    path: Option<String>,
    /// The body of an inline module.
    inline: Option<Vec<syn::Item>>,
}

/// Where a module's `mod x;` children are looked for, and where a `#[path]` is relative to.
struct Dirs {
    children: PathBuf,
    path_attr_base: PathBuf,
}

impl ModuleTree {
    /// Reads the target whose root file is `root` (`src/lib.rs`, `src/main.rs`, `tests/x.rs`).
    pub fn load(root: &Path) -> Result<Self, String> {
        let mut tree = ModuleTree {
            modules: Vec::new(),
            files: Vec::new(),
            sources: Vec::new(),
        };
        let (file, items) = tree.read(root)?;
        let dir = parent_dir(root)?;
        let dirs = Dirs {
            children: dir.clone(),
            path_attr_base: dir,
        };
        tree.add(None, file, items, Vec::new(), &dirs, 0)?;
        Ok(tree)
    }

    pub fn parent(&self, module: usize) -> Option<usize> {
        self.modules.get(module).and_then(|m| m.parent)
    }

    pub fn child(&self, module: usize, name: &str) -> Option<usize> {
        self.modules
            .get(module)
            .and_then(|m| m.children.get(name).copied())
    }

    fn read(&mut self, path: &Path) -> Result<(usize, Vec<syn::Item>), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let parsed =
            syn::parse_file(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
        let canonical = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
        let index = match self.files.iter().position(|f| *f == canonical) {
            Some(i) => i,
            None => {
                self.files.push(canonical);
                self.sources.push(text);
                self.files.len() - 1
            }
        };
        Ok((index, parsed.items))
    }

    fn add(
        &mut self,
        parent: Option<usize>,
        file: usize,
        items: Vec<syn::Item>,
        cfgs: Vec<String>,
        dirs: &Dirs,
        depth: usize,
    ) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "modules nested deeper than {MAX_DEPTH} at {} (a #[path] that includes itself?)",
                self.files[file].display()
            ));
        }
        let id = self.modules.len();
        let mut items = items;
        // An inline module's items move to that module (the stored `mod` item keeps no body).
        let declarations: Vec<Declaration> = items
            .iter_mut()
            .filter_map(|item| match item {
                syn::Item::Mod(m) => Some(Declaration {
                    name: m.ident.unraw().to_string(),
                    cfgs: cfg_attributes(&m.attrs),
                    path: path_attribute(&m.attrs),
                    inline: m.content.take().map(|(_, inner)| inner),
                }),
                _ => None,
            })
            .collect();
        self.modules.push(Module {
            parent,
            file,
            children: BTreeMap::new(),
            items,
            cfgs,
        });
        for declaration in declarations {
            let name = declaration.name;
            let child = match declaration.inline {
                Some(inner) => {
                    let inline_dirs = Dirs {
                        children: dirs.children.join(&name),
                        path_attr_base: dirs.children.join(&name),
                    };
                    self.add(
                        Some(id),
                        file,
                        inner,
                        declaration.cfgs,
                        &inline_dirs,
                        depth + 1,
                    )?
                }
                None => {
                    let (path, child_dirs) =
                        self.locate(declaration.path.as_deref(), &name, dirs, file)?;
                    let (child_file, child_items) = self.read(&path)?;
                    self.add(
                        Some(id),
                        child_file,
                        child_items,
                        declaration.cfgs,
                        &child_dirs,
                        depth + 1,
                    )?
                }
            };
            self.modules[id].children.insert(name, child);
        }
        Ok(id)
    }

    /// The file of `mod name;` and the directories its own children are looked for in.
    fn locate(
        &self,
        path_attr: Option<&str>,
        name: &str,
        dirs: &Dirs,
        file: usize,
    ) -> Result<(PathBuf, Dirs), String> {
        if let Some(relative) = path_attr {
            // A #[path] file behaves as a mod.rs file: its children sit beside it.
            let path = dirs.path_attr_base.join(relative);
            let dir = parent_dir(&path)?;
            return Ok((
                path,
                Dirs {
                    children: dir.clone(),
                    path_attr_base: dir,
                },
            ));
        }
        let flat = dirs.children.join(format!("{name}.rs"));
        let nested = dirs.children.join(name).join("mod.rs");
        match (flat.is_file(), nested.is_file()) {
            (true, false) => Ok((
                flat,
                Dirs {
                    children: dirs.children.join(name),
                    path_attr_base: dirs.children.clone(),
                },
            )),
            (false, true) => Ok((
                nested,
                Dirs {
                    children: dirs.children.join(name),
                    path_attr_base: dirs.children.join(name),
                },
            )),
            (true, true) => Err(format!(
                "`mod {name};` in {} is ambiguous: both {} and {} exist",
                self.files[file].display(),
                flat.display(),
                nested.display()
            )),
            (false, false) => Err(format!(
                "`mod {name};` in {}: neither {} nor {} exists",
                self.files[file].display(),
                flat.display(),
                nested.display()
            )),
        }
    }
}

fn parent_dir(path: &Path) -> Result<PathBuf, String> {
    path.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} has no parent directory", path.display()))
}

fn path_attribute(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

fn cfg_attributes(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter_map(|attr| match &attr.meta {
            syn::Meta::List(list) if list.path.is_ident("cfg") => Some(list.tokens.to_string()),
            _ => None,
        })
        .collect()
}
