//! Alipay's call budgets for the shared limiter ([`crate::ratelimit`]), per app id and
//! method. Alipay publishes no rate for these APIs: reads and writes get the limiter's
//! defaults for a platform without published limits
//! ([`DEFAULT_READS_PER_MINUTE`], [`DEFAULT_WRITES_PER_MINUTE`]).

use crate::ratelimit::{DEFAULT_READS_PER_MINUTE, DEFAULT_WRITES_PER_MINUTE, Operation};
use domain::complaint::Platform;

const P: Platform = Platform::Alipay;
pub const QUERY: Operation = Operation::new(P, "complaint-query", Some(DEFAULT_READS_PER_MINUTE));
pub const BATCH_QUERY: Operation =
    Operation::new(P, "complaint-batchquery", Some(DEFAULT_READS_PER_MINUTE));
pub const REPLY: Operation = Operation::new(P, "complaint-reply", Some(DEFAULT_WRITES_PER_MINUTE));
pub const FEEDBACK: Operation =
    Operation::new(P, "complaint-feedback", Some(DEFAULT_WRITES_PER_MINUTE));
pub const IMAGE_UPLOAD: Operation =
    Operation::new(P, "image-upload", Some(DEFAULT_WRITES_PER_MINUTE));
/// The RiskGO list (Alipay limits each method on its own).
pub const RISK_BATCH_QUERY: Operation = Operation::new(
    P,
    "risk-complaint-batchquery",
    Some(DEFAULT_READS_PER_MINUTE),
);
pub const RISK_QUERY: Operation =
    Operation::new(P, "risk-complaint-query", Some(DEFAULT_READS_PER_MINUTE));
pub const RISK_FINISH: Operation =
    Operation::new(P, "risk-complaint-finish", Some(DEFAULT_WRITES_PER_MINUTE));
/// Staff's supplementary evidence on a trade complaint.
pub const SUPPLEMENT: Operation =
    Operation::new(P, "complaint-supplement", Some(DEFAULT_WRITES_PER_MINUTE));
/// `alipay.trade.refund` is a payment API built for far higher rates: not limited.
pub const TRADE_REFUND: Operation = Operation::new(P, "trade-refund", None);
