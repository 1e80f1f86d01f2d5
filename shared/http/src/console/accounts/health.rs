//! An account's health (`GET /admin/v1/accounts/{id}/health`) in words: when the last push
//! came, how the last reconciliation went, complaints only reconciliation found (pushes that
//! never came), platform errors and throttling, and the callback URLs the platform holds.

use crate::admin::reconcile::account_health;
use crate::console::Lang;
use crate::console::view::beijing;
use crate::console::web::Signed;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use desk_core::reconcile::Outcome;
use desk_core::reconcile::health::Health;

/// The account's health, or why it could not be read (in words).
pub async fn read(state: &AppState, signed: &Signed, id: &str) -> Result<Health, String> {
    account_health(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.to_string()),
    )
    .await
    .map(|Json(h)| h)
    .map_err(|e| {
        e.log_cause();
        signed
            .visit
            .lang
            .t(
                "暂时读不到账户健康。",
                "The account's health cannot be read right now.",
            )
            .to_string()
    })
}

/// One line for the list.
pub async fn summary(state: &AppState, signed: &Signed, id: &str) -> String {
    let lang = signed.visit.lang;
    match read(state, signed, id).await {
        Ok(h) => {
            let problems = problems(lang, &h);
            match (problems.first(), h.last_push_at) {
                (Some(p), _) => p.clone(),
                (None, Some(at)) => match lang {
                    Lang::Zh => format!("正常 · 最近推送 {}", beijing(at)),
                    Lang::En => format!("Healthy · last push {}", beijing(at)),
                },
                (None, None) => lang
                    .t("还没有收到过推送", "No push received yet")
                    .to_string(),
            }
        }
        Err(why) => why,
    }
}

/// What needs attention, most important first.
fn problems(lang: Lang, h: &Health) -> Vec<String> {
    let mut out = Vec::new();
    for u in &h.callback_urls {
        if u.matches == Some(false) {
            out.push(match lang {
                Lang::Zh => format!(
                    "平台登记的回调地址不对（{}）：请重新登记。",
                    u.registered.as_deref().unwrap_or("未登记")
                ),
                Lang::En => format!(
                    "The platform holds the wrong callback URL ({}): register it again.",
                    u.registered.as_deref().unwrap_or("none")
                ),
            });
        }
    }
    if h.found_by_reconciliation_7d > 0 {
        out.push(match lang {
            Lang::Zh => format!(
                "近 7 天有 {} 条投诉是对账才发现的：平台的推送可能没有到达，请检查回调地址。",
                h.found_by_reconciliation_7d
            ),
            Lang::En => format!(
                "{} complaints in the last 7 days were found only by reconciliation: the platform's pushes may not arrive; check the callback URLs.",
                h.found_by_reconciliation_7d
            ),
        });
    }
    if h.platform_errors_24h > 0 {
        out.push(match lang {
            Lang::Zh => format!(
                "24 小时内平台调用失败 {} 次：请检查凭证是否仍然有效。",
                h.platform_errors_24h
            ),
            Lang::En => format!(
                "{} platform calls failed in the last 24 hours: check that the credentials still work.",
                h.platform_errors_24h
            ),
        });
    }
    if h.throttled_24h > 0 {
        out.push(match lang {
            Lang::Zh => format!("24 小时内被平台限流 {} 次（会自动重试）。", h.throttled_24h),
            Lang::En => format!(
                "Throttled by the platform {} times in the last 24 hours (retried automatically).",
                h.throttled_24h
            ),
        });
    }
    out
}

/// Every line for the account's page.
pub fn words(lang: Lang, h: &Health) -> Vec<String> {
    let mut out = problems(lang, h);
    out.push(match h.last_push_at {
        Some(at) => match lang {
            Lang::Zh => format!("最近一次收到平台推送：{}（北京时间）", beijing(at)),
            Lang::En => format!(
                "Last push from the platform: {} (Beijing time)",
                beijing(at)
            ),
        },
        None => lang
            .t(
                "还没有收到过平台推送：如果已有投诉，请检查回调地址。",
                "No push from the platform yet: if complaints exist, check the callback URLs.",
            )
            .to_string(),
    });
    match &h.last_reconciliation {
        Some(p) => {
            let outcome = match p.outcome {
                Outcome::Complete => lang.t("完成", "complete"),
                Outcome::Continues => lang.t("未完，继续排队", "continues on the queue"),
                Outcome::Throttled => lang.t("被限流，稍后继续", "throttled, continues later"),
                Outcome::Failed => lang.t("失败", "failed"),
                _ => lang.t("跳过", "skipped"),
            };
            out.push(match lang {
                Lang::Zh => format!("最近一次对账：{}，{}", beijing(p.finished_at), outcome),
                Lang::En => format!("Last reconciliation: {}, {outcome}", beijing(p.finished_at)),
            });
            if let Some(e) = &p.error {
                out.push(match lang {
                    Lang::Zh => format!("对账的错误：{e}"),
                    Lang::En => format!("Reconciliation error: {e}"),
                });
            }
        }
        None => out.push(lang.t("还没有对账过。", "Not reconciled yet.").to_string()),
    }
    if out.len() == 2 && h.last_push_at.is_some() {
        out.insert(0, lang.t("一切正常。", "All is well.").to_string());
    }
    out
}
