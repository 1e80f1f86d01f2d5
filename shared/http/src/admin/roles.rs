//! Which role each admin operation needs ([`needed`]), stated in the OpenAPI document
//! (`x-required-role` on each operation, [`mark`]) and enforced from that same document before
//! any handler runs ([`Roles`], used by the admin router's authentication): a role too low
//! answers 403 naming the role needed, and nothing is read or changed.
//!
//! - `viewer`: every read but those listed in [`ADMIN_READS`] (tokens, staff contacts, failed
//!   jobs);
//! - `agent`: also the complaint actions (`POST /complaints/{id}/{action}`, every platform's)
//!   and the writes in [`AGENT_WRITES`];
//! - `admin`: everything else (accounts, settings, credentials, sub-merchants, notifications,
//!   callback registration, authorisation links, tokens, dead letters).
//!
//! A new route needs nothing here unless it is a read only admins may make or a write agents
//! may make.

use axum::http::Method;
use domain::token::Role;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Reads only an admin may make: they show tokens, staff contacts and channel settings (the
/// notification settings, and the deliveries with their recipients and the services' answers),
/// or the payloads of failed jobs.
pub const ADMIN_READS: [&str; 5] = [
    "list_tokens",
    "get_account_notifications",
    "get_sub_merchant_notifications",
    "list_deliveries",
    "list_dead_letters",
];

/// Writes an agent may make besides the complaint actions: images for a reply, asking for a
/// reconciliation pass now (it changes nothing a push would not), and pushing a test complaint
/// for a sandbox account.
pub const AGENT_WRITES: [&str; 3] = [
    "upload_media",
    "reconcile_account",
    "push_sandbox_complaint",
];

/// The role an operation needs, by its operation id, method (lower case, as the document
/// writes it) and path.
pub fn needed(operation_id: &str, method: &str, path: &str) -> Role {
    let complaint_action = method == "post"
        && path
            .strip_prefix(&format!("{}/complaints/{{id}}/", crate::http::ADMIN_BASE))
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
    if method == "get" {
        if ADMIN_READS.contains(&operation_id) {
            Role::Admin
        } else {
            Role::Viewer
        }
    } else if complaint_action || AGENT_WRITES.contains(&operation_id) {
        Role::Agent
    } else {
        Role::Admin
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Write each secured operation's role into the document: `x-required-role`, a sentence in its
/// description, and what its 403 means.
pub fn mark(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method) else {
                continue;
            };
            if op.get("security").is_none() {
                continue;
            }
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            let role = needed(&id, method, path);
            op["x-required-role"] = json!(role.as_str());
            let sentence = match role {
                Role::Admin => "Needs a token with role `admin`.".to_string(),
                r => format!("Needs a token with role `{r}` or higher."),
            };
            let description = match op["description"].as_str() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{sentence}"),
                _ => sentence,
            };
            op["description"] = json!(description);
        }
    }
}

/// The role each served admin route needs, read from the document ([`mark`]) by method and
/// path template (`/admin/v1/accounts/{id}`).
#[derive(Debug, Default)]
pub struct Roles {
    by_route: HashMap<(Method, String), Role>,
}

impl Roles {
    pub fn from_document(doc: &Value) -> Self {
        let mut by_route = HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in METHODS {
                let role = match item[method]["x-required-role"].as_str() {
                    Some("viewer") => Role::Viewer,
                    Some("agent") => Role::Agent,
                    Some(_) => Role::Admin,
                    None => continue,
                };
                if let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                    by_route.insert((m, path.clone()), role);
                }
            }
        }
        Self { by_route }
    }

    /// The role a route needs; `admin` for one the document does not state. A `HEAD` is
    /// answered by the route's `GET` (without the body), so it needs what the `GET` needs.
    pub fn of(&self, method: &Method, path: &str) -> Role {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.by_route
            .get(&(method.clone(), path.to_string()))
            .copied()
            .unwrap_or(Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_complaint_actions() {
        let base = crate::http::ADMIN_BASE;
        let at = |p: &str| format!("{base}{p}");
        assert_eq!(
            needed("list_complaints", "get", &at("/complaints")),
            Role::Viewer
        );
        assert_eq!(needed("list_tokens", "get", &at("/tokens")), Role::Admin);
        assert_eq!(
            needed("reply", "post", &at("/complaints/{id}/reply")),
            Role::Agent
        );
        assert_eq!(needed("upload_media", "post", &at("/media")), Role::Agent);
        assert_eq!(needed("create_token", "post", &at("/tokens")), Role::Admin);
        assert_eq!(
            needed("patch_account", "patch", &at("/accounts/{id}")),
            Role::Admin
        );
        assert_eq!(
            needed(
                "replay_dead_letter",
                "post",
                &at("/dead-letters/{id}/replay")
            ),
            Role::Admin
        );
        assert_eq!(needed("x", "post", &at("/complaints/{id}")), Role::Admin);
    }

    #[test]
    fn a_head_needs_what_its_get_needs() {
        let doc =
            json!({"paths": {"/admin/v1/complaints": {"get": {"x-required-role": "viewer"}}}});
        let roles = Roles::from_document(&doc);
        let path = "/admin/v1/complaints";
        assert_eq!(roles.of(&Method::HEAD, path), Role::Viewer);
        assert_eq!(roles.of(&Method::GET, path), Role::Viewer);
        assert_eq!(
            roles.of(&Method::POST, path),
            Role::Admin,
            "not stated: admin"
        );
    }
}
