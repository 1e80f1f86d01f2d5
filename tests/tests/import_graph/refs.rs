//! What one module's code names: its `use` trees (flattened, with the name each binds) and
//! every other path, including paths written inside macro invocations and attribute
//! arguments.

use proc_macro2::{TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::visit::Visit;

/// What a flattened `use` path binds in its module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `use a::b;`, `use a::b as c;`, `use a::{self}`: the name it binds.
    Name(String),
    /// `use a::b as _;`: used for its traits, binds no name.
    Hidden,
    /// `use a::*;`
    Glob,
}

/// One flattened `use` path: `use crate::{a::{b, c}, d}` gives three.
pub struct UseEntry {
    pub segments: Vec<String>,
    pub binding: Binding,
    pub line: usize,
}

/// A path written in the code, outside `use` items.
pub struct PathRef {
    pub segments: Vec<String>,
    pub line: usize,
}

#[derive(Default)]
pub struct Collected {
    pub uses: Vec<UseEntry>,
    pub paths: Vec<PathRef>,
}

/// Everything the items of one module name (inline child modules are modules of their own and
/// are left to their own collection).
pub fn collect(items: &[syn::Item]) -> Collected {
    let mut collector = Collector::default();
    for item in items {
        collector.visit_item(item);
    }
    collector.found
}

#[derive(Default)]
struct Collector {
    found: Collected,
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // `mod x;` alone is no reference; an inline module's body belongs to that module.
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if item.leading_colon.is_none() {
            flatten(&item.tree, &mut Vec::new(), &mut self.found.uses);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none()
            && let Some(first) = path.segments.first()
        {
            self.found.paths.push(PathRef {
                segments: path
                    .segments
                    .iter()
                    .map(|s| s.ident.unraw().to_string())
                    .collect(),
                line: first.ident.span().start().line,
            });
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        syn::visit::visit_macro(self, mac);
        scan_tokens(mac.tokens.clone(), false, &mut self.found.paths);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        syn::visit::visit_attribute(self, attr);
        if let syn::Meta::List(list) = &attr.meta {
            // `#[serde(with = "crate::x")]` names a path in a string.
            scan_tokens(list.tokens.clone(), true, &mut self.found.paths);
        }
    }
}

fn flatten(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseEntry>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.unraw().to_string());
            flatten(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let line = n.ident.span().start().line;
            out.push(named(prefix, &n.ident, None, line));
        }
        syn::UseTree::Rename(r) => {
            let line = r.ident.span().start().line;
            out.push(named(prefix, &r.ident, Some(&r.rename), line));
        }
        syn::UseTree::Glob(g) => out.push(UseEntry {
            segments: prefix.clone(),
            binding: Binding::Glob,
            line: g.star_token.span.start().line,
        }),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                flatten(tree, prefix, out);
            }
        }
    }
}

fn named(
    prefix: &[String],
    ident: &syn::Ident,
    rename: Option<&syn::Ident>,
    line: usize,
) -> UseEntry {
    let ident = ident.unraw().to_string();
    let mut segments = prefix.to_vec();
    // `use a::{self}` binds `a` itself.
    if ident != "self" {
        segments.push(ident);
    }
    let binding = match rename.map(|r| r.unraw().to_string()) {
        Some(alias) if alias == "_" => Binding::Hidden,
        Some(alias) => Binding::Name(alias),
        None => match segments.last() {
            Some(last) => Binding::Name(last.clone()),
            None => Binding::Hidden,
        },
    };
    UseEntry {
        segments,
        binding,
        line,
    }
}

/// Paths in a token stream: runs of `ident :: ident ...` not preceded by `::` (an absolute
/// path names another crate), at least two segments long. With `strings`, string literals
/// that read as such a path count too.
fn scan_tokens(tokens: TokenStream, strings: bool, out: &mut Vec<PathRef>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Group(g) => {
                scan_tokens(g.stream(), strings, out);
                i += 1;
            }
            TokenTree::Ident(ident) if !follows_path_separator(&tokens, i) => {
                let mut segments = vec![ident.unraw().to_string()];
                let mut next = i + 1;
                while is_path_separator(&tokens, next) {
                    match tokens.get(next + 2) {
                        Some(TokenTree::Ident(more)) => {
                            segments.push(more.unraw().to_string());
                            next += 3;
                        }
                        _ => break,
                    }
                }
                if segments.len() >= 2 {
                    out.push(PathRef {
                        segments,
                        line: ident.span().start().line,
                    });
                }
                i = next.max(i + 1);
            }
            TokenTree::Literal(lit) if strings => {
                if let Ok(syn::Lit::Str(s)) = syn::parse_str::<syn::Lit>(&lit.to_string())
                    && let Ok(path) = syn::parse_str::<syn::Path>(&s.value())
                    && path.leading_colon.is_none()
                    && path.segments.len() >= 2
                {
                    out.push(PathRef {
                        segments: path
                            .segments
                            .iter()
                            .map(|s| s.ident.unraw().to_string())
                            .collect(),
                        line: lit.span().start().line,
                    });
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// `tokens[i]` and `tokens[i + 1]` are the two colons of `::`.
fn is_path_separator(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == proc_macro2::Spacing::Joint && b.as_char() == ':'
    )
}

fn follows_path_separator(tokens: &[TokenTree], i: usize) -> bool {
    i >= 2 && is_path_separator(tokens, i - 2)
}
