//! One run of the automatic handling: record what the platform shows, tell staff, then under
//! the complaint's policy lease reply → refund under the cap → complete, each step in the
//! action log.
//!
//! The run decides from the complaint's state as the platform reports it and from our own
//! records, never from the event that started it, so a repeated, late or concurrent event
//! changes nothing that is already done. The refund's number is deterministic and claimed in
//! our records before the platform is asked; a run always looks the number up on the platform
//! first, so a retry after a crash right after the refund finds it (never asks twice) and goes
//! on to complete.

use super::actions::Actions;
use super::ops::{AutoOps, Found, Made, NoRefund, RefundTarget, Sent, Shown, Snapshot};
use crate::complaints::{AUTO_REFUND_SEQUENCE, AutoRefund, ComplaintRepo, RefundRecord};
use crate::notices::{self, Notice, store_error};
use crate::state::Services;
use crate::worker::JobError;
use domain::complaint::{ActionKind, ActionOutcome, Complaint};
use domain::notification::{NotificationSubject, NotificationSummary};

/// Record, tell staff and, when the account acts, run the automatic steps. Fails (to be
/// retried) when a step must be tried again, and permanently when a step failed (after the
/// action log says which).
pub async fn handle<O: AutoOps>(
    state: &Services,
    job_id: &str,
    s: Snapshot<'_, O>,
) -> Result<(), JobError> {
    let now = s.shown.now;
    let record = record(state, &s.shown).await?;
    if let Some(n) = s.notice {
        let summary = NotificationSummary {
            platform: record.platform.as_str().into(),
            event: n.event,
            merchant: n.merchant,
            reference: record.platform_complaint_id.clone(),
            at: now,
            amount_fen: record.complaint_amount_fen,
            user_text: n.user_text.map(|t| t.chars().take(200).collect()),
            deadline: record.deadline,
            link: crate::console_links::complaint(state, &record.id),
            extra_lines: vec![],
        };
        notices::send(
            &state.ports,
            Notice {
                owner_pk: ComplaintRepo::complaint_owner(&record.id),
                event_key: n.event_key,
                subject: NotificationSubject::Complaint {
                    complaint_id: record.id.clone(),
                },
                summary,
                audiences: &n.audiences,
                now,
                record_only_when_queued: false,
                extra_recipients: None,
                only_channels: None,
            },
        )
        .await?;
    }
    let Some(ops) = s.ops else {
        tracing::info!(complaint_id = %record.id, "recorded; no automatic action now");
        return Ok(());
    };
    let mut log = Actions::begin(state, &record.id, job_id, now).await?;
    let result = act(state, &ops, &record, &mut log).await;
    log.release(state).await;
    result?;
    // Record what the platform now shows (its state, our reply in its history).
    if let Some(shown) = ops.refresh().await {
        self::record(state, &shown).await?;
    }
    log.outcome()
}

/// Create or update the record and its history from what the platform shows.
async fn record(state: &Services, shown: &Shown<'_>) -> Result<Complaint, JobError> {
    let repo = ComplaintRepo::of(&state.ports);
    let record = repo
        .upsert(shown.new.clone(), |c| {
            (shown.fill)(c);
            c.updated_at = shown.now;
        })
        .await
        .map_err(store_error)?;
    for entry in (shown.history)(&record) {
        repo.put_history(&entry).await.map_err(store_error)?;
    }
    Ok(record)
}

/// The automatic steps: reply, refund, complete.
async fn act<O: AutoOps>(
    state: &Services,
    ops: &O,
    record: &Complaint,
    log: &mut Actions<'_>,
) -> Result<(), JobError> {
    let repo = ComplaintRepo::of(&state.ports);
    // 1. Reply, once: the platform's state (in the record) says whether we already did.
    if !record.replied
        && let Some(sent) = ops.reply(record).await?
    {
        let sent_now = matches!(sent, Sent::Done(_));
        if settle(ops, log, ActionKind::Reply, sent).await? {
            if sent_now {
                crate::metrics::automatic_reply(record.platform, &record.account_id);
            }
            repo.modify(&record.id, |c| ops.mark_replied(c))
                .await
                .map_err(store_error)?;
        }
    }
    // 2. Refund, once per (complaint, order), under the automatic refund's own number.
    let target = match ops.refund_target(record).await? {
        Ok(t) => t,
        Err(why) => return log_no_refund(log, why, None).await,
    };
    let Some(refunded) = refund(state, ops, record, &target, log).await? else {
        return Ok(());
    };
    // 3. Complete, after the refund.
    let current = repo
        .get(&record.id)
        .await
        .map_err(store_error)?
        .map(|(c, _)| c)
        .ok_or_else(|| JobError::Permanent("complaint record vanished".into()))?;
    if current.completed {
        return Ok(());
    }
    if let Some(sent) = ops.complete(&current, refunded).await?
        && settle(ops, log, ops.completion(), sent).await?
    {
        repo.modify(&record.id, |c| ops.mark_completed(c))
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// Log the outcome of a platform write; true when it is done. A refusal counts as done when
/// the platform now shows the state wanted ("already processed").
async fn settle<O: AutoOps>(
    ops: &O,
    log: &mut Actions<'_>,
    action: ActionKind,
    sent: Sent,
) -> Result<bool, JobError> {
    let (outcome, detail) = match sent {
        Sent::Done(detail) => (ActionOutcome::Succeeded, detail),
        Sent::AlreadyDone(detail) => (ActionOutcome::AlreadyDone, detail),
        Sent::Refused(r) if ops.platform_shows(action).await? => (
            ActionOutcome::AlreadyDone,
            format!("the platform already shows it done ({})", r.error),
        ),
        Sent::Refused(r) => (ActionOutcome::Failed, r.error),
    };
    log.log(action, outcome, detail, None).await?;
    Ok(outcome != ActionOutcome::Failed)
}

async fn log_no_refund(
    log: &mut Actions<'_>,
    why: NoRefund,
    number: Option<&str>,
) -> Result<(), JobError> {
    let (outcome, detail) = match why {
        NoRefund::Skipped(why) => (ActionOutcome::Skipped, why),
        NoRefund::Failed(why) => (ActionOutcome::Failed, why),
        NoRefund::Silent => return Ok(()),
    };
    log.log(
        ActionKind::Refund,
        outcome,
        detail,
        number.map(String::from),
    )
    .await
}

/// The refund step: our record of the number, then the platform's (a refund asked for before
/// a crash is found, recorded and completed, never asked again); the amount refunded when the
/// complaint may be completed.
async fn refund<O: AutoOps>(
    state: &Services,
    ops: &O,
    record: &Complaint,
    t: &RefundTarget<O::Order>,
    log: &mut Actions<'_>,
) -> Result<Option<u64>, JobError> {
    let repo = ComplaintRepo::of(&state.ports);
    let number = t.number.as_str();
    let skip = |why: String| NoRefund::Skipped(why);
    let stored = repo
        .refund(&record.id, number)
        .await
        .map_err(store_error)?
        .map(|(r, _)| r);
    let closed = || {
        skip(format!(
            "the automatic refund {number} is closed (withdrawn, or refused or closed by the platform); not asked again"
        ))
    };
    match &stored {
        Some(r) if r.status == "CLOSED" => {
            log_no_refund(log, closed(), Some(number)).await?;
            return Ok(None);
        }
        // Confirmed by the platform (it gave it an id): on to completion.
        Some(r) if r.refund_id.is_some() => return Ok(Some(r.amount_fen)),
        _ => {}
    }
    // Claimed, or not: a refund asked for before a crash is found by its number.
    match ops.find_refund(t).await? {
        // The platform closed it (no money left): recorded so it stops counting, and the
        // complaint is left to staff, as when our record already says so.
        Found::Made(m) if m.status == "CLOSED" => {
            let asked = stored.as_ref().map_or(t.total, |r| r.amount_fen);
            store_refund(state, record, t, m, asked, log.now).await?;
            log_no_refund(log, closed(), Some(number)).await?;
            return Ok(None);
        }
        Found::Made(m) => {
            let asked = stored.as_ref().map_or(t.total, |r| r.amount_fen);
            return record_refund(state, record, t, m, asked, true, log)
                .await
                .map(Some);
        }
        Found::NotFound => {}
        Found::Refused(e) => {
            let why = format!("cannot query refund {number}: {e}");
            log_no_refund(log, NoRefund::Failed(why), Some(number)).await?;
            return Ok(None);
        }
    }
    ask_for_refund(state, ops, record, t, stored.map(|r| r.amount_fen), log).await
}

/// No refund under the number yet: decide the amount (an earlier run's `claimed` amount, or what
/// is left of the order), check the cap, take the platform's step before the refund, claim the
/// number and ask. The amount refunded when the complaint may be completed.
async fn ask_for_refund<O: AutoOps>(
    state: &Services,
    ops: &O,
    record: &Complaint,
    t: &RefundTarget<O::Order>,
    claimed: Option<u64>,
    log: &mut Actions<'_>,
) -> Result<Option<u64>, JobError> {
    let repo = ComplaintRepo::of(&state.ports);
    let number = t.number.as_str();
    let skip = |why: String| NoRefund::Skipped(why);
    let wanted = match &t.wanted {
        Ok(w) => *w,
        Err(why) => {
            log_no_refund(log, why.clone(), None).await?;
            return Ok(None);
        }
    };
    let claim = AutoRefund {
        account_id: &t.payer,
        number,
        transaction_id: t.transaction_id.clone(),
        per_order: t.per_order,
        total: t.total,
        now: log.now,
    };
    // Our claim from an earlier run is asked again with the same amount; otherwise what is
    // left of the order after the refunds made by hand.
    let amount = match claimed {
        Some(amount) => amount,
        None => match repo
            .auto_refund_left(&record.id, &claim, wanted)
            .await
            .map_err(store_error)?
        {
            Ok(amount) => amount,
            Err(why) => {
                log_no_refund(log, skip(why), None).await?;
                return Ok(None);
            }
        },
    };
    if let Some(cap) = t.cap
        && amount > cap
    {
        let why = format!("refund of {amount} fen is above the cap of {cap} fen; left to staff");
        log_no_refund(log, skip(why), Some(number)).await?;
        return Ok(None);
    }
    if let Some((action, sent)) = ops.before_refund(t, amount).await?
        && !settle(ops, log, action, sent).await?
    {
        return Ok(None);
    }
    if claimed.is_none()
        && let Err(why) = repo
            .claim_auto_refund(&record.id, &claim, amount)
            .await
            .map_err(store_error)?
    {
        log_no_refund(log, skip(why), Some(number)).await?;
        return Ok(None);
    }
    match ops.refund(t, amount).await? {
        Ok(m) => {
            // A crash here leaves the claim unconfirmed and the money gone: the next run finds
            // the refund by its number.
            state.fault("after_refund").map_err(JobError::retryable)?;
            record_refund(state, record, t, m, amount, false, log)
                .await
                .map(Some)
        }
        Err(refusal) => {
            if refusal.outright {
                repo.close_claim(&t.payer, &record.id, number, log.now)
                    .await
                    .map_err(store_error)?;
            }
            let failed = NoRefund::Failed(refusal.error);
            log_no_refund(log, failed, Some(number)).await?;
            Ok(None)
        }
    }
}

/// Record a refund the platform has (made now, or `found` from before) and log it; its amount.
async fn record_refund<O>(
    state: &Services,
    record: &Complaint,
    t: &RefundTarget<O>,
    m: Made,
    asked: u64,
    found: bool,
    log: &mut Actions<'_>,
) -> Result<u64, JobError> {
    let number = t.number.clone();
    let status = m.status.clone();
    let amount = store_refund(state, record, t, m, asked, log.now).await?;
    // Counted when asked for now; a run that finds it made before (a retry) counts nothing.
    if !found {
        crate::metrics::automatic_refund(record.platform, &record.account_id, amount);
    }
    let (outcome, detail) = if found {
        (
            ActionOutcome::AlreadyDone,
            format!(
                "refund {number} of {amount} fen was already asked for ({status}); not asked again"
            ),
        )
    } else {
        (
            ActionOutcome::Succeeded,
            format!("refund of {amount} fen asked for ({status})"),
        )
    };
    log.log(ActionKind::Refund, outcome, detail, Some(number))
        .await?;
    Ok(amount)
}

/// Keep the refund the platform has under the automatic number (its status and id); its amount.
async fn store_refund<O>(
    state: &Services,
    record: &Complaint,
    t: &RefundTarget<O>,
    m: Made,
    asked: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, JobError> {
    let amount = m.amount.unwrap_or(asked);
    ComplaintRepo::of(&state.ports)
        .record_refund(
            &t.payer,
            &RefundRecord {
                complaint_id: record.id.clone(),
                out_refund_no: t.number.clone(),
                sequence: AUTO_REFUND_SEQUENCE,
                transaction_id: t.transaction_id.clone(),
                amount_fen: amount,
                refund_id: m.refund_id,
                status: m.status,
                created_at: now,
                updated_at: now,
            },
        )
        .await
        .map_err(store_error)?;
    Ok(amount)
}
