//! Money in fen. Amounts are `u64`; they are only ever added with checked arithmetic, so a sum
//! that does not fit is refused instead of wrapping round to a small number.

/// A refund amount outside what is left of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {left} fen (order {total} fen, refunded {refunded} fen)")]
pub struct NotRefundable {
    /// What may still be refunded.
    pub left: u64,
    /// The order amount.
    pub total: u64,
    /// Already refunded (`u64::MAX` when the recorded refunds do not even add up).
    pub refunded: u64,
}

/// The sum of `amounts`; `None` when it does not fit in a `u64`.
pub fn sum(amounts: impl IntoIterator<Item = u64>) -> Option<u64> {
    amounts.into_iter().try_fold(0u64, u64::checked_add)
}

/// Check a refund of `amount` of an order of `total` fen of which `refunded` were refunded
/// already: the refunded total after it, or why it cannot be made (nothing, or more than is
/// left; a sum that overflows is more than is left).
pub fn check_refund(
    total: u64,
    refunded: impl IntoIterator<Item = u64>,
    amount: u64,
) -> Result<u64, NotRefundable> {
    let already = sum(refunded).unwrap_or(u64::MAX);
    let refused = NotRefundable {
        left: total.saturating_sub(already),
        total,
        refunded: already,
    };
    if amount == 0 {
        return Err(refused);
    }
    already
        .checked_add(amount)
        .filter(|after| *after <= total)
        .ok_or(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_amount_that_would_overflow_is_refused() {
        let e = check_refund(3000, [1000], u64::MAX - 500).expect_err("refused");
        assert_eq!(e.left, 2000);
        assert_eq!(e.refunded, 1000);
        assert_eq!(check_refund(3000, [1000], 2000), Ok(3000));
        assert!(check_refund(3000, [1000], 0).is_err());
        assert!(check_refund(3000, [u64::MAX, 2], 1).is_err());
        assert_eq!(sum([u64::MAX, 1]), None);
    }

    fn amount() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..5_000,
            (0u64..1_000).prop_map(|d| u64::MAX - d),
            any::<u64>(),
        ]
    }

    proptest! {
        /// Random partial refunds, huge ones included: whatever is accepted keeps the refunded
        /// total within the order and growing; whatever is refused changes nothing.
        #[test]
        fn refunds_never_exceed_the_order(
            total in prop_oneof![1u64..10_000, any::<u64>()],
            asks in proptest::collection::vec(amount(), 1..12),
        ) {
            let mut made: Vec<u64> = Vec::new();
            for ask in asks {
                let before = sum(made.iter().copied());
                match check_refund(total, made.iter().copied(), ask) {
                    Ok(after) => {
                        prop_assert!(ask > 0);
                        prop_assert!(after <= total);
                        prop_assert_eq!(Some(after), before.and_then(|b| b.checked_add(ask)));
                        made.push(ask);
                    }
                    Err(e) => {
                        prop_assert_eq!(Some(e.refunded), before);
                        prop_assert!(ask == 0 || ask > e.left);
                    }
                }
                prop_assert!(sum(made.iter().copied()).is_some_and(|s| s <= total));
            }
        }
    }
}
