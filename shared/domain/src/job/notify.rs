//! Jobs on the `notify` queue: a notice for some staff (fanned out into deliveries) and one
//! delivery to send now (its first attempt after an SMS fold, or a retry).

use super::JobKind;
use serde::{Deserialize, Serialize};

pub use crate::notification::NotificationJob;

/// A notice for one audience's staff.
pub const STAFF: JobKind<NotificationJob> = JobKind::new("notify.staff");
/// A delivery to attempt (again).
pub const DELIVERY: JobKind<DeliveryDue> = JobKind::new("notify.delivery");

/// The delivery to attempt; everything else is in its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryDue {
    pub delivery_id: String,
}
