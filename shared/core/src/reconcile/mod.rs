//! Reconciliation: finding the complaints whose push never came, and saying why pushes stopped.
//!
//! Pushes are not guaranteed (a wrong URL, a firewall, an expired key, a disabled mini-program
//! push; our own actions produce none). A **pass** per account, on the scheduler's clock and
//! on demand (`POST /admin/v1/accounts/{id}/reconcile`), asks the platform what it has:
//! - **list**: the complaints created in a window (WeChat Pay complaints-v2, Alipay's batch
//!   queries), page by page within the platform's paging rules ([`Reconciler::list_page`]);
//! - **re-read**: the detail of locally open complaints created before the window (the list
//!   shows only the window), nearest deadline first, capped per pass, continuing where the
//!   previous pass stopped ([`Reconciler::reread`]). A platform with no list API (mini
//!   programs) re-reads every open complaint and may name ids it learnt elsewhere.
//! - **callback URLs**: where the platform lets us read the registered notification URL, it
//!   is compared with the one we expect ([`Reconciler::callback_urls`]).
//!
//! A complaint we do not know, or whose state moved in a way a push would have told
//! ([`Reconciler::pushed_change`]), goes through exactly the job a push would have queued
//! ([`Reconciler::job`]), through the inbox under a key of (complaint, state, and the change
//! where the platform tells one from another: [`Seen::change`]), so passes that see it again
//! queue nothing more, and the job's own idempotence (state-derived notice keys,
//! leased replies, derived refund numbers) makes the push arriving later change nothing.
//!
//! **Grace**: a push may still be on its way. A difference counts (and is acted on) only
//! once [`GRACE`] has passed since the platform says it happened (creation or change time),
//! or, when the platform gives no time, since the pass first saw it. A difference acted on is
//! "found by reconciliation" — logged on the account's health record, and the account's staff
//! told once per Beijing day that pushes are not arriving, with the platform's likely causes —
//! unless it happened before the account was added here, or the platform shows it as the
//! merchant's own (made in its console): those bring our record up to date, no push was missed.
//!
//! Every platform call goes through the shared rate limiter ([`crate::ratelimit`]); a throttled
//! pass (our limiter or the platform's 429) puts its continuation back on the queue to finish
//! later. A per-account watermark (the creation time up to which listing is complete) keeps a
//! restart or the next pass from re-listing everything.
//!
//! Generic: this module never names a platform; each brings its [`Reconciler`] through
//! [`crate::platform::Platform::reconciler`].

pub mod health;
pub mod pass;
pub mod reconciler;
pub mod record;

use crate::state::Services;
use crate::worker::JobRegistry;
use std::sync::Arc;

pub use pass::{Report, run, run_now};
pub use reconciler::{GRACE, ListPage, Reconciler, Seen, UrlCheck, Window};
pub use record::Outcome;

/// Register the pass's handler.
pub fn register(
    registry: &mut JobRegistry,
    state: &Services,
    platforms: &crate::platform::Platforms,
) {
    registry.register(
        domain::job::reconcile::PASS.name(),
        Arc::new(pass::PassJob::new(state.clone(), platforms.clone())),
    );
    registry.observe(Arc::new(health::HealthObserver::new(
        state.ports.records.clone(),
        state.ports.clock.clone(),
    )));
}
