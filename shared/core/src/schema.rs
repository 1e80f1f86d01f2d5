//! A schema of the OpenAPI document a platform brings (an action's body, an account kind's
//! settings): the component's name, the schema, and the schemas it refers to, read from the
//! type's `utoipa::ToSchema` when the document is built.

use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

/// A schema of the document: its component name, the schema, and the schemas it refers to.
#[derive(Clone, Copy)]
pub struct SchemaOf {
    name: fn() -> String,
    schema: fn() -> RefOr<Schema>,
    nested: fn(&mut Vec<(String, RefOr<Schema>)>),
}

impl SchemaOf {
    pub const fn of<T: ToSchema>() -> Self {
        Self {
            name: || T::name().into_owned(),
            schema: T::schema,
            nested: T::schemas,
        }
    }

    /// The component name (`ReplyBody`).
    pub fn name(&self) -> String {
        (self.name)()
    }

    pub fn schema(&self) -> RefOr<Schema> {
        (self.schema)()
    }

    /// The schemas this one refers to, with their names.
    pub fn nested(&self) -> Vec<(String, RefOr<Schema>)> {
        let mut out = Vec::new();
        (self.nested)(&mut out);
        out
    }
}

impl std::fmt::Debug for SchemaOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}
