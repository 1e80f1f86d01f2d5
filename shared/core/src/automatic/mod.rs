//! The automatic handling, written once for every platform: a platform's job handler fetches
//! the complaint and hands over a [`Snapshot`] (the record as the platform shows it, its
//! history, the staff notice, and, when the account acts, the complaint's [`AutoOps`]);
//! [`handle`] records it, tells staff, and under the complaint's policy lease replies, refunds
//! under the cap with a deterministic request number, completes, and writes the action log.
//! Also here: the account a job names, and the action log of one run ([`Actions`]).

mod actions;
mod ops;
mod run;
#[cfg(test)]
mod tests;

pub use actions::{Actions, job_account};
pub use ops::{
    AutoOps, Found, HistoryOf, Made, NoRefund, RefundTarget, Refusal, Sent, Shown, Snapshot,
    StaffNotice,
};
pub use run::handle;
