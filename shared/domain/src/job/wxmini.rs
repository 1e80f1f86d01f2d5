//! Mini-program complaint pushes: the callback opens them, the worker handles them.

use super::JobKind;
use serde::{Deserialize, Serialize};

/// A `complaint_callback` push.
pub const COMPLAINT: JobKind<ComplaintPush> = JobKind::new("wxmini.complaint");

/// A complaint push of one mini program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplaintPush {
    /// The mini program in the callback path.
    #[serde(default)]
    pub appid: String,
    /// The platform's complaint id (checked by the worker before it goes into a URL).
    pub complaint_order_id: String,
    /// The complaint's status code as pushed, e.g. `201`.
    #[serde(default)]
    pub status: String,
    /// The envelope's `CreateTime` (unix seconds, as pushed).
    #[serde(default)]
    pub create_time: String,
    /// `BussiCallBackInfo`: the platform's fields, kept as they are (a disabled account's
    /// complaint is recorded from them alone).
    #[serde(default)]
    pub info: serde_json::Value,
}
