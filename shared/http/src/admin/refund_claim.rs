//! Refunds made by hand: the bound on what is left of an order, and the claim of the next
//! refund number that is taken before the platform is asked (and withdrawn when it refuses).

use crate::ApiError;
use crate::state::AppState;
use desk_core::complaints::{ComplaintRepo, RefundRecord};

/// Refuse (400 naming `amount_fen`, before any platform call) a refund of `amount` that is
/// zero or more than is left of an order of `total` after the `counted` refunds. Checked
/// arithmetic: an amount near `u64::MAX` cannot wrap round to a small sum.
pub fn refundable<'a>(
    total: u64,
    counted: impl IntoIterator<Item = &'a RefundRecord>,
    amount: u64,
) -> Result<u64, ApiError> {
    domain::money::check_refund(total, counted.into_iter().map(|r| r.amount_fen), amount)
        .map_err(|e| ApiError::field("amount_fen", e.to_string()))
}

/// The order a refund by hand is taken from: its amount and platform order id.
pub struct RefundedOrder {
    pub total: u64,
    pub transaction_id: Option<String>,
}

/// How many times a manual refund re-reads and takes the next number after losing a race.
const CLAIM_ATTEMPTS: usize = 8;

/// Claim the next refund of a complaint for `amount` fen of an order of `total` fen: read the
/// refunds, check the bound over those of the order (`of_order`) that count, and create the
/// next number's `REFUND#` record (status `PROCESSING`) only if nobody holds it. A request that
/// loses the race (the number is taken, or its claim was withdrawn) re-reads (the winner's
/// claim now counts) and tries again: 400 when nothing is left, 409 after [`CLAIM_ATTEMPTS`]. The claim is made before the platform is asked, so two
/// requests at once never send the same number and never both pass the bound.
pub async fn claim_refund(
    state: &AppState,
    account_id: &str,
    complaint_id: &str,
    order: RefundedOrder,
    amount: u64,
    of_order: impl Fn(&RefundRecord) -> bool,
    number: impl Fn(u32) -> String,
) -> Result<RefundRecord, ApiError> {
    let RefundedOrder {
        total,
        transaction_id,
    } = order;
    let repo = ComplaintRepo::new(&*state.ports.records);
    for _ in 0..CLAIM_ATTEMPTS {
        let existing = repo.refunds(complaint_id).await?;
        refundable(
            total,
            existing
                .iter()
                .filter(|r| of_order(r) && desk_core::complaints::counts_against_order(r)),
            amount,
        )?;
        let sequence = next_sequence(&existing)?;
        let now = state.ports.clock.now();
        let claim = RefundRecord {
            complaint_id: complaint_id.to_string(),
            out_refund_no: number(sequence),
            sequence,
            transaction_id: transaction_id.clone(),
            amount_fen: amount,
            refund_id: None,
            status: "PROCESSING".into(),
            created_at: now,
            updated_at: now,
        };
        if repo
            .claim_refund(account_id, &claim, total, &of_order)
            .await?
            == desk_core::complaints::Claim::Made
        {
            return Ok(claim);
        }
    }
    Err(ApiError::Conflict(
        "another refund is being made; try again".into(),
    ))
}

/// Close a claimed refund the platform refused outright ([`ComplaintRepo::close_claim`]).
pub async fn release_claim(
    state: &AppState,
    account_id: &str,
    claim: &RefundRecord,
) -> Result<(), ApiError> {
    ComplaintRepo::new(&*state.ports.records)
        .close_claim(
            account_id,
            &claim.complaint_id,
            &claim.out_refund_no,
            state.ports.clock.now(),
        )
        .await?;
    Ok(())
}

/// The sequence of the next refund of a complaint (its request number derives from it).
pub fn next_sequence(existing: &[RefundRecord]) -> Result<u32, ApiError> {
    existing
        .iter()
        .map(|r| r.sequence)
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| ApiError::Conflict("this complaint has no refund numbers left".into()))
}
