//! Staff actions take their platform calls from the same rate-limit budget as the workers
//! (per platform, merchant and operation; see `desk_core::ratelimit`), keyed the same way: by
//! the account's platform id (WeChat Pay's calling mchid, a provider's for its sub-merchants;
//! Alipay's app id), or by our account id when its kind's platform says so (a mini program).
//!
//! A staff request does not wait for budget: a call frees up only when an old one leaves the
//! 60 s window, which is usually seconds to a minute away, longer than an HTTP request should
//! hold its connection (or an admin Lambda invocation its time). It answers 429 at once with
//! `Retry-After`, before anything is sent or written, and the person retries when it says.
//! Every call of an action is taken before the first one is made (a reply with images takes
//! the reply and each upload), so an action over budget calls nothing on the platform.
//!
//! A platform's own "too many requests" answer during a staff action is a 429 too, with
//! [`PLATFORM_RETRY_AFTER`].

use crate::ApiError;
use crate::state::AppState;
use desk_core::ratelimit::Operation;
use domain::account::Account;

/// Take one call of each of `calls` for `merchant`, or answer 429 (see
/// [`desk_core::staff_actions::take_budget`]).
pub async fn take_all(
    state: &AppState,
    merchant: &str,
    calls: &[Operation],
) -> Result<(), ApiError> {
    Ok(desk_core::staff_actions::take_budget(state, merchant, calls).await?)
}

/// Take one call of `operation` for `merchant`, or answer 429.
pub async fn take(state: &AppState, merchant: &str, operation: Operation) -> Result<(), ApiError> {
    take_all(state, merchant, &[operation]).await
}

/// The merchant key of an account's calls: its platform id, or our account id when its kind
/// is declared to count them so ([`domain::account::AccountKindFacts::budget_by_account_id`],
/// as its worker keys them).
pub fn merchant_of(account: &Account) -> &str {
    if account
        .kind()
        .facts()
        .is_some_and(|f| f.budget_by_account_id)
    {
        &account.id
    } else {
        account.platform_id()
    }
}

/// 429 for a platform's throttling answer.
pub fn throttled(e: impl std::fmt::Display) -> ApiError {
    desk_core::staff_actions::throttled(e).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::account::{AccountKind, AccountKindFacts};
    use domain::complaint::Platform;

    fn declared(kind: &'static str, budget_by_account_id: bool) -> Account {
        AccountKind::declare(AccountKindFacts {
            kind: AccountKind::new(kind),
            platform: Platform::new("budget_test"),
            has_complaints: true,
            callback_family: kind,
            platform_id_field: "shop_no",
            has_sub_merchants: false,
            budget_by_account_id,
        });
        let account = serde_json::json!({
            "id": format!("acc_{kind}"), "name": "Shop", "enabled": true,
            "kind": kind, "settings": {"shop_no": "42"},
            "credentials": {"complete": true, "fields": {}},
            "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:00:00Z",
        });
        serde_json::from_value(account).expect("an account of a declared kind")
    }

    #[test]
    fn calls_are_counted_under_the_key_the_kind_declares() {
        let by_platform_id = declared("budget_test_by_shop", false);
        assert_eq!(merchant_of(&by_platform_id), "42");
        let by_account = declared("budget_test_by_account", true);
        assert_eq!(merchant_of(&by_account), "acc_budget_test_by_account");
    }
}
