//! The mini-program's call budgets for the shared limiter ([`crate::ratelimit`]): WeChat
//! server APIs, per mini-program account (one per appid) and method. No rate is published:
//! reads and writes get the limiter's defaults for a platform without published limits
//! ([`DEFAULT_READS_PER_MINUTE`], [`DEFAULT_WRITES_PER_MINUTE`]). Refunds are WeChat Pay's
//! and spend the paying merchant's budget (`wechatpay::limits::REFUND`).

use crate::ratelimit::{DEFAULT_READS_PER_MINUTE, DEFAULT_WRITES_PER_MINUTE, Operation};
use domain::complaint::Platform;

const P: Platform = Platform::Wxmini;
pub const DETAIL: Operation = Operation::new(P, "complaint-detail", Some(DEFAULT_READS_PER_MINUTE));
pub const HISTORY: Operation =
    Operation::new(P, "negotiation-history", Some(DEFAULT_READS_PER_MINUTE));
pub const RESPOND: Operation =
    Operation::new(P, "complaint-respond", Some(DEFAULT_WRITES_PER_MINUTE));
pub const MEDIA_UPLOAD: Operation =
    Operation::new(P, "media-upload", Some(DEFAULT_WRITES_PER_MINUTE));
/// Staff's evidence (`supplyProof`), refund evidence (`supplyRefund`) and appeal.
pub const EVIDENCE: Operation =
    Operation::new(P, "complaint-evidence", Some(DEFAULT_WRITES_PER_MINUTE));
/// Download of a buyer's image (media API).
pub const MEDIA_GET: Operation = Operation::new(P, "media-get", Some(DEFAULT_READS_PER_MINUTE));
/// The trade experience score and its penalty list, one call a page.
pub const PENALTY_LIST: Operation =
    Operation::new(P, "penalty-list", Some(DEFAULT_READS_PER_MINUTE));
/// Violation records and each one's appeal records.
pub const VIOLATION_RECORDS: Operation =
    Operation::new(P, "violation-records", Some(DEFAULT_READS_PER_MINUTE));
