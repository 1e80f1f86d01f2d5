//! Open names: the platforms and account kinds a build serves are not a closed list in the
//! domain. Each is a `Copy` value over a `&'static str` (a constant for the names a platform
//! declares, [`crate::complaint::Platform::Wechatpay`], `Platform::new("toy")`), so it compares,
//! hashes and matches like the enums it replaced, and serialises as the plain string.
//!
//! A name read from stored data or a job (a platform this process may not serve) is kept once
//! for the life of the process ([`intern`]): only well-formed names, at most [`MAX_NAMES`] of
//! them, so nothing read from outside can make the table grow without bound.

use std::sync::RwLock;

/// The most distinct names one process keeps.
pub const MAX_NAMES: usize = 1024;
/// The longest name.
pub const MAX_LEN: usize = 64;

static NAMES: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{0:?} is not a name (1 to 64 lower-case letters, digits or _, starting with a letter)"
    )]
    Malformed(String),
    #[error("too many distinct names in this process (at most {MAX_NAMES})")]
    TooMany,
}

/// A well-formed name: `[a-z][a-z0-9_]{0,63}`.
pub fn is_well_formed(name: &str) -> bool {
    name.len() <= MAX_LEN
        && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The `'static` copy of `name`, made the first time the name is seen.
pub fn intern(name: &str) -> Result<&'static str, NameError> {
    if let Some(found) = read().iter().find(|n| **n == name) {
        return Ok(found);
    }
    if !is_well_formed(name) {
        return Err(NameError::Malformed(name.chars().take(MAX_LEN).collect()));
    }
    let mut names = NAMES.write().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = names.iter().find(|n| **n == name) {
        return Ok(found);
    }
    if names.len() >= MAX_NAMES {
        return Err(NameError::TooMany);
    }
    let kept: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(kept);
    Ok(kept)
}

/// Make a name that is already `'static` (a platform's constant) known, so reading it back
/// from stored data costs nothing (no copy is made, and it never counts against the limit of
/// names read from data).
pub fn remember(name: &'static str) {
    if read().contains(&name) {
        return;
    }
    let mut names = NAMES.write().unwrap_or_else(|e| e.into_inner());
    if !names.contains(&name) {
        names.push(name);
    }
}

fn read() -> std::sync::RwLockReadGuard<'static, Vec<&'static str>> {
    NAMES.read().unwrap_or_else(|e| e.into_inner())
}

/// An open name type: `Copy` over `&'static str`, serialised as the string.
macro_rules! open_name {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(&'static str);

        impl $name {
            /// A name this build knows at compile time (a platform's constant).
            pub const fn new(name: &'static str) -> Self {
                Self(name)
            }

            /// A name read at run time (stored data, a request already checked against the
            /// registry): see [`crate::names::intern`].
            pub fn parse(name: &str) -> Result<Self, $crate::names::NameError> {
                $crate::names::intern(name).map(Self)
            }

            pub fn as_str(self) -> &'static str {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($what))
                    .pattern(Some("^[a-z][a-z0-9_]{0,63}$"))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

pub(crate) use open_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_once_and_only_when_well_formed() {
        let a = intern("toy_names_test").expect("well formed");
        let b = intern(&String::from("toy_names_test")).expect("known");
        assert!(std::ptr::eq(a, b), "the same copy both times");
        for bad in ["", "Toy", "1toy", "toy-app", "toy app", &"x".repeat(65)] {
            assert!(
                matches!(intern(bad), Err(NameError::Malformed(_))),
                "{bad:?}"
            );
        }
        remember("toy_names_static");
        assert_eq!(intern("toy_names_static"), Ok("toy_names_static"));
    }
}
