//! "Try it without a platform account": the seam between the pages and routes that offer
//! sandbox accounts (the console's `/console/try`, the admin API's `/sandbox/...`) and the
//! engine that runs them. The all-in-one binary started with `--sandbox` provides the engine
//! (the platform simulators in its own process, one sandbox account per platform); every other
//! composition root leaves [`crate::AppState::try_it`] empty, and the routes then answer 404.
//!
//! Nothing here names a platform: the engine says which accounts it has and pushes a test
//! complaint for one of them over the real, signed callback route of our own server, so what
//! follows (recording, automatic reply and refund, staff notices) is the real path.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How every sandbox account's name starts, so a list, a notice or a page that shows only the
/// name still shows that it is a sandbox (an account record carries no other free field).
pub const SANDBOX_NAME_PREFIX: &str = "沙箱 Sandbox · ";

/// The test complaint's amount when none is asked for: 1.00 yuan, under every sandbox
/// account's automatic refund cap.
pub const DEFAULT_AMOUNT_FEN: u64 = 100;

/// The largest test complaint: 10,000.00 yuan.
pub const MAX_AMOUNT_FEN: u64 = 1_000_000;

/// The most characters a test complaint's text has.
pub const MAX_TEXT_CHARS: usize = 300;

/// What a buyer says in a test complaint when no text is asked for.
pub const DEFAULT_TEXT: &str = "充电宝无法使用，要求退款（沙箱测试投诉）";

/// A sandbox account: an account of this instance whose platform is a built-in simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SandboxAccount {
    /// Our account id (as in `/admin/v1/accounts/{id}`).
    pub account_id: String,
    /// Its platform (`wechatpay`, `alipay`, `wxmini`, ...).
    pub platform: String,
    /// Its name, starting with [`SANDBOX_NAME_PREFIX`].
    pub name: String,
    /// What a test complaint above this amount is not refunded automatically (fen).
    pub refund_cap_fen: u64,
}

/// One test complaint to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestComplaint {
    /// The order's (and the complaint's) amount, fen: 1 to [`MAX_AMOUNT_FEN`].
    pub amount_fen: u64,
    /// What the buyer wrote: 1 to [`MAX_TEXT_CHARS`] characters.
    pub text: String,
}

impl Default for TestComplaint {
    fn default() -> Self {
        Self {
            amount_fen: DEFAULT_AMOUNT_FEN,
            text: DEFAULT_TEXT.to_string(),
        }
    }
}

impl TestComplaint {
    /// The test complaint, or what is wrong with it: (field, message).
    pub fn new(
        amount_fen: Option<u64>,
        text: Option<&str>,
    ) -> Result<Self, (&'static str, String)> {
        let amount_fen = amount_fen.unwrap_or(DEFAULT_AMOUNT_FEN);
        if !(1..=MAX_AMOUNT_FEN).contains(&amount_fen) {
            return Err(("amount_fen", format!("must be 1 to {MAX_AMOUNT_FEN} (fen)")));
        }
        // As the document states it: 1 to MAX_TEXT_CHARS characters, at least one of them
        // visible, no control character but a line break; stored trimmed.
        let text = match text {
            None => DEFAULT_TEXT.to_string(),
            Some(t) => {
                if t.trim().is_empty() || t.chars().count() > MAX_TEXT_CHARS {
                    return Err((
                        "text",
                        format!("must be 1 to {MAX_TEXT_CHARS} characters, not all blank"),
                    ));
                }
                if t.chars().any(|c| c.is_control() && c != '\n') {
                    return Err((
                        "text",
                        "must not contain control characters other than line breaks (\\n)".into(),
                    ));
                }
                t.trim().to_string()
            }
        };
        Ok(Self { amount_fen, text })
    }
}

/// What was pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pushed {
    /// The sandbox account it was pushed for.
    pub account_id: String,
    pub platform: String,
    /// The complaint's id on the (simulated) platform.
    pub platform_complaint_id: String,
    /// Our complaint id (`/admin/v1/complaints/{id}`, `/console/complaints/{id}`) once the
    /// worker has read the complaint; known in advance, since it is derived from the platform's.
    pub complaint_id: Option<String>,
    pub amount_fen: u64,
    /// Whether the amount is within the account's automatic refund cap (it is refunded
    /// automatically) or above it (it is not; staff decide).
    pub within_refund_cap: bool,
    /// What our callback route answered the simulated platform (HTTP status).
    pub callback_status: u16,
}

/// Why a push did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TryItError {
    /// No sandbox account has this id.
    #[error("{0} is not a sandbox account")]
    UnknownAccount(String),
    /// Our own callback route refused the push (the message says what it answered).
    #[error("our callback route refused the test complaint: {0}")]
    Refused(String),
    /// Our own server could not be reached, or the simulator failed.
    #[error("the test complaint could not be pushed: {0}")]
    Failed(String),
}

/// The engine behind the sandbox accounts.
#[async_trait::async_trait]
pub trait TryIt: Send + Sync {
    /// The sandbox accounts, in a stable order.
    async fn accounts(&self) -> Vec<SandboxAccount>;
    /// Push one realistic test complaint for the account (over the real signed callback path
    /// of our own server, exactly as the platform would): what was pushed.
    async fn push(&self, account_id: &str, test: TestComplaint) -> Result<Pushed, TryItError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_complaint_defaults_under_the_cap_and_refuses_what_a_platform_would() {
        let t = TestComplaint::new(None, None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(t, TestComplaint::default());
        assert_eq!(
            TestComplaint::new(Some(0), None).err().map(|e| e.0),
            Some("amount_fen")
        );
        assert_eq!(
            TestComplaint::new(Some(MAX_AMOUNT_FEN + 1), None)
                .err()
                .map(|e| e.0),
            Some("amount_fen")
        );
        assert_eq!(
            TestComplaint::new(None, Some("  ")).err().map(|e| e.0),
            Some("text")
        );
        assert_eq!(
            TestComplaint::new(None, Some("a\u{7}b")).err().map(|e| e.0),
            Some("text")
        );
        let long = "字".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(
            TestComplaint::new(None, Some(&long)).err().map(|e| e.0),
            Some("text")
        );
        let ok = TestComplaint::new(Some(2000), Some(" 第一行\n第二行 "))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((ok.amount_fen, ok.text.as_str()), (2000, "第一行\n第二行"));
    }
}
