//! WeChat Pay's call budgets for the shared limiter ([`crate::ratelimit`]), per merchant
//! (mchid; a provider's calls for its sub-merchants share its budget, as the platform counts
//! by the calling merchant).
//!
//! WeChat Pay publishes its limits per merchant: complaint list and negotiation history 200 a
//! minute, reply (`response`) and image upload 60, complete 1,500. The other operations
//! (detail, refund progress, immediate-service reply, refunds) have no published limit and are
//! not limited here (a throttling answer still backs off, see `JobError::Throttled`).

use crate::ratelimit::Operation;
use domain::complaint::Platform;

const P: Platform = Platform::Wechatpay;
pub const LIST: Operation = Operation::new(P, "complaints-list", Some(200));
pub const HISTORY: Operation = Operation::new(P, "negotiation-history", Some(200));
pub const RESPONSE: Operation = Operation::new(P, "response", Some(60));
pub const IMAGE_UPLOAD: Operation = Operation::new(P, "image-upload", Some(60));
pub const COMPLETE: Operation = Operation::new(P, "complete", Some(1500));
/// No published limit.
pub const DETAIL: Operation = Operation::new(P, "complaint-detail", None);
/// No published limit.
pub const REFUND_PROGRESS: Operation = Operation::new(P, "update-refund-progress", None);
/// No published limit.
pub const RESPONSE_IMMEDIATE: Operation = Operation::new(P, "response-immediate-service", None);
/// Refund create and query: no limit published with the complaint APIs.
pub const REFUND: Operation = Operation::new(P, "refund", None);
/// Download of a buyer's image (staff's image proxy): no published limit.
pub const IMAGE_DOWNLOAD: Operation = Operation::new(P, "image-download", None);
/// Read, set or delete the callback (notification) URL: no published limit.
pub const NOTIFICATION_URL: Operation = Operation::new(P, "notification-url", None);
