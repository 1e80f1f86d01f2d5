//! "Send a test notice": one short message, now, through every channel an audience's staff
//! notification settings configure (e-mail, official-account template message, SMS, each
//! group bot), by the very senders and stored secrets real notices use, with each channel's
//! and recipient's result in words (Chinese and English).
//!
//! - **A disabled audience** still gets the test (an administrator asked for it explicitly);
//!   the report says real notices are off while it is disabled.
//! - **Cost**: at most one test per audience per [`WINDOW`], durable across processes and
//!   Lambda instances: a record `NOTIFYTEST#{account}#{sub}` / `META` claimed by conditional
//!   create or compare-and-set ([`claim`]); a second test within the window is
//!   [`crate::Error::RateLimited`] with the time left. An audience with no channel is
//!   [`crate::Error::Conflict`] and takes nothing from the window.
//! - **The delivery log** gets one delivery per channel, as real notices do, with a job id
//!   starting `test_` ([`TEST_JOB_PREFIX`]) and the subject "account, topic `test`": the log
//!   lists them, marked a test notice (a test is sent once, never retried).
//!
//! Secrets never appear in a report: a bot is named by its id, and the services' messages
//! carry no secret ([`notify::SendError`]).

mod report;
#[cfg(feature = "notifier")]
mod send;
mod window;

pub use report::{
    ChannelResult, RecipientResult, TEST_JOB_PREFIX, TestAudience, TestNoticeReport, Words,
};
pub use window::{WINDOW, claim};

use crate::Error;

pub use crate::state::TEST_NOTICE_DEADLINE as CHANNEL_DEADLINE;

/// Send a test notice to `to` now (see the module documentation). Without the notifier in
/// this build: unavailable.
pub async fn send_test_notice(
    state: &crate::state::Services,
    to: &TestAudience,
) -> Result<TestNoticeReport, Error> {
    #[cfg(feature = "notifier")]
    {
        send::send(state, to).await
    }
    #[cfg(not(feature = "notifier"))]
    {
        let _ = (state, to);
        Err(Error::Unavailable(
            "this build has no notifier: test notices are sent by the admin API".into(),
        ))
    }
}
