//! Third-party platform authorisation events: the callback opens them, the worker onboards or
//! withdraws the mini program.

use super::JobKind;
use serde::{Deserialize, Serialize};

/// `authorized`, `updateauthorized` or `unauthorized`.
pub const AUTHORIZATION: JobKind<Authorization> = JobKind::new("wxopen.authorization");

/// An authorisation event of one mini program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    /// The third-party platform in the callback path.
    #[serde(default)]
    pub component_appid: String,
    /// `authorized`, `updateauthorized` or `unauthorized`.
    #[serde(default)]
    pub info_type: String,
    /// The mini program.
    pub authorizer_appid: String,
    /// `AuthorizationCode` (written as `null` when the event has none, as on `unauthorized`).
    #[serde(default)]
    pub authorization_code: Option<String>,
}
