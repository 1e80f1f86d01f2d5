//! `/console/violations`: the violation notices and records of one account (or one of its
//! sub-merchants), newest first, each in words: what happened, what the platform did, when,
//! for whom, and what staff should do. Read through the admin API's own list
//! ([`crate::admin::complaints::list_violations`]), so the caller's scope and role are the
//! API's (viewer and up; a token scoped to one account sees only it).
//!
//! The list is one partition per account (or sub-merchant), newest first. The kind filter
//! has no partition of its own: it is applied to the entries read, so a page reads on until
//! it has [`PAGE_SIZE`] entries, the list ends, or it has read [`READ_BOUND`] entries, and the
//! "more" link continues after the last entry read.
//!
//! A mini program's entries link to its trade-score page ([`super::score`]).

use super::lang::Lang;
use super::view;
use super::web::{BASE, Chrome, Signed, error_page, render};
use crate::ApiError;
use crate::admin::accounts::{AccountFilter, list_accounts};
use crate::admin::complaints::{ViolationQuery, list_violations};
use crate::admin::page::{PAGE_LIMIT_MAX, PageParams};
use crate::admin::path_ids::is_id_byte;
use crate::admin::roles::Roles;
use crate::console::web::UrlQuery;
use crate::extract::ApiQuery;
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use domain::account::Account;
use domain::complaint::Violation;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Entries a page shows (at least; the last read may add a few more).
pub const PAGE_SIZE: u32 = 50;
/// Entries one page reads at most while the kind filter leaves it short.
pub const READ_BOUND: u32 = 500;

/// The kinds of entries the page names, with their words: `(event type, 中文, English)`.
/// Anything else a platform sends shows its raw type.
pub const KINDS: [(&str, &str, &str); 4] = [
    ("VIOLATION.PUNISH", "处罚", "Penalty"),
    ("VIOLATION.INTERCEPT", "交易拦截", "Payments intercepted"),
    ("VIOLATION.APPEAL", "申诉进展", "Appeal update"),
    (
        "wxmini.illegal_record",
        "小程序违规记录",
        "Mini program violation",
    ),
];

/// The page's filters, as its form sends them (empty means "any" / "the default account").
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ViolationsQuery {
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub sub_mchid: String,
    /// An event type of [`KINDS`] (or any other raw type).
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub cursor: String,
}

impl ViolationsQuery {
    /// This page as a link.
    pub fn href(&self) -> String {
        let pairs = [
            ("account", &self.account),
            ("sub_mchid", &self.sub_mchid),
            ("kind", &self.kind),
            ("cursor", &self.cursor),
        ];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
            .finish();
        if query.is_empty() {
            format!("{BASE}/violations")
        } else {
            format!("{BASE}/violations?{query}")
        }
    }

    /// An id-like filter: empty, or our id characters, at most 64.
    fn check(field: &str, v: &str, lang: Lang) -> Result<(), ApiError> {
        if v.is_empty() || (v.len() <= 64 && v.bytes().all(is_id_byte)) {
            Ok(())
        } else {
            Err(ApiError::field(
                field,
                lang.t(
                    "只能是字母、数字、下划线、连字符或冒号，最多 64 个。",
                    "Use at most 64 letters, digits, '_', '-' or ':'.",
                ),
            ))
        }
    }
}

/// One entry as the page shows it.
pub struct Entry {
    pub kind_label: String,
    /// `punish`, `intercept`, `appeal`, `record` or `other` (its badge's colour).
    pub kind_class: &'static str,
    pub raw_kind: String,
    /// What happened, as the platform words it.
    pub what: String,
    /// What the platform did (the penalty), as it words it.
    pub did: Option<String>,
    /// When it happened (Beijing time), or when we received it.
    pub when: String,
    pub received: String,
    /// Whose: the account's name and id, and the sub-merchant.
    pub account: String,
    pub sub_mchid: Option<String>,
    /// The merchant's name the platform gave.
    pub company: Option<String>,
    pub record_id: String,
    /// What staff should do, in words.
    pub todo: &'static str,
    /// The latest appeal's state, in words.
    pub appeal: Option<String>,
    /// The platform's rule: its name and, when it is on a WeChat site, its address.
    pub rule: Option<String>,
    pub rule_url: Option<String>,
    /// The account's trade-score page (mini programs).
    pub score_href: Option<String>,
}

/// An option of a filter's select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/violations.html")]
struct ViolationsPage {
    c: Chrome,
    q: ViolationsQuery,
    /// The account shown (none: there is no account to show).
    account: Option<String>,
    accounts: Vec<Choice>,
    kinds: Vec<Choice>,
    /// Whether the sub-merchant filter applies (the account has sub-merchants).
    subs: bool,
    entries: Vec<Entry>,
    next_href: Option<String>,
    /// The list could not be read (the platform refused to give its records): why, in words.
    failed: Option<String>,
    /// The account's trade-score page, when it has one.
    score_href: Option<String>,
    filtered: bool,
}

/// `GET /console/violations`.
pub async fn list(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    UrlQuery(q): UrlQuery<ViolationsQuery>,
) -> Response {
    let lang = signed.visit.lang;
    if let Err(res) = signed.require(&roles, &Method::GET, "/violations") {
        return *res;
    }
    match page(&state, &signed, q).await {
        Ok(p) => render(&p),
        Err(e) => error_page(lang, &e),
    }
}

/// Whether violations are expected on this account: its kind reads records from its platform,
/// or it has sub-merchants (a provider is told about theirs).
fn has_violations(state: &AppState, account: &Account) -> bool {
    state
        .platforms()
        .account_kind(account.kind())
        .is_some_and(|k| k.refresh_violations.is_some() || k.facts.has_sub_merchants)
}

async fn page(
    state: &AppState,
    signed: &Signed,
    mut q: ViolationsQuery,
) -> Result<ViolationsPage, ApiError> {
    let lang = signed.visit.lang;
    q.account = q.account.trim().to_string();
    q.sub_mchid = q.sub_mchid.trim().to_string();
    ViolationsQuery::check("account", &q.account, lang)?;
    // A sub-merchant filter that cannot be one is said above the list, with the filters kept
    // for correcting it (as the delivery log does).
    let bad_sub = ViolationsQuery::check("sub_mchid", &q.sub_mchid, lang).err();
    let accounts = list_accounts(
        State(state.clone()),
        signed.caller.clone(),
        ApiQuery(AccountFilter { kind: None }),
        ApiQuery(PageParams {
            limit: Some(PAGE_LIMIT_MAX),
            cursor: None,
        }),
    )
    .await?
    .0
    .items;
    // The account shown: the one asked for, the token's own, or the first that has
    // violations at all (the first listed otherwise).
    let scoped = match &signed.caller.scope {
        domain::token::TokenScope::All => None,
        domain::token::TokenScope::Account { account_id }
        | domain::token::TokenScope::SubMerchant { account_id, .. } => Some(account_id.clone()),
    };
    let account = Some(q.account.clone())
        .filter(|a| !a.is_empty())
        .or(scoped)
        .or_else(|| {
            accounts
                .iter()
                .find(|a| has_violations(state, a))
                .or(accounts.first())
                .map(|a| a.id.clone())
        });
    let shown = account
        .as_deref()
        .and_then(|id| accounts.iter().find(|a| a.id == id));
    let name_of = |id: &str| match accounts.iter().find(|a| a.id == id) {
        Some(a) => format!("{} ({})", a.name, a.id),
        None => id.to_string(),
    };
    let score_href = shown
        .filter(|a| super::score::has_score(state, a))
        .map(|a| format!("{BASE}/accounts/{}/score", view::path_segment(&a.id)));

    let (mut entries, mut next_href, mut failed) = (Vec::new(), None, None);
    if let Some(e) = bad_sub {
        failed = Some(format!(
            "{}{}",
            lang.t("子商户号有误：", "The sub-merchant number is not valid: "),
            e.message()
        ));
    } else if let Some(account_id) = &account {
        match fill(state, signed, &q, account_id).await {
            Ok((items, next)) => {
                entries = items
                    .iter()
                    .map(|v| entry(lang, v, name_of(&v.account_id), score_href.clone()))
                    .collect();
                next_href = next.map(|cursor| {
                    ViolationsQuery {
                        account: account_id.clone(),
                        cursor,
                        ..q.clone()
                    }
                    .href()
                });
            }
            // The filters were checked above: what fails here is reading the platform's own
            // records first (a mini program's), said as the platform said it, with the
            // filters still on the page.
            Err(e) => {
                e.log_cause();
                failed = Some(match lang {
                    Lang::Zh => format!("暂时无法读取违规记录：{}。请稍后刷新。", e.message()),
                    Lang::En => format!(
                        "The violation records cannot be read right now: {}. Reload in a while.",
                        e.message()
                    ),
                });
            }
        }
    }

    let mut account_options: Vec<(String, String)> = accounts
        .iter()
        .map(|a| (a.id.clone(), format!("{} ({})", a.name, a.id)))
        .collect();
    if let Some(a) = &account
        && !account_options.iter().any(|(v, _)| v == a)
    {
        account_options.push((a.clone(), a.clone()));
    }
    let accounts_choices = account_options
        .into_iter()
        .map(|(value, label)| Choice {
            selected: Some(&value) == account.as_ref(),
            value,
            label,
        })
        .collect();
    let mut kinds: Vec<Choice> = std::iter::once((String::new(), lang.t("全部类型", "Any kind")))
        .chain(
            KINDS
                .iter()
                .map(|(k, zh, en)| (k.to_string(), lang.t(zh, en))),
        )
        .map(|(value, label)| Choice {
            selected: value == q.kind,
            value,
            label: label.to_string(),
        })
        .collect();
    if !q.kind.is_empty() && !kinds.iter().any(|k| k.value == q.kind) {
        kinds.push(Choice {
            value: q.kind.clone(),
            label: q.kind.clone(),
            selected: true,
        });
    }
    let subs = shown.is_none_or(|a| {
        state
            .platforms()
            .account_kind(a.kind())
            .is_some_and(|k| k.facts.has_sub_merchants)
    }) || !q.sub_mchid.is_empty();
    let filtered = !(q.sub_mchid.is_empty() && q.kind.is_empty());
    Ok(ViolationsPage {
        c: signed.chrome(
            state,
            lang.t("违规与评分", "Violations & score").to_string(),
        ),
        q,
        account,
        accounts: accounts_choices,
        kinds,
        subs,
        entries,
        next_href,
        failed,
        score_href,
        filtered,
    })
}

/// Read a page: entries of the kind asked for, reading on while the page is short and the
/// list goes on, up to [`READ_BOUND`] entries. The cursor after the last entry read.
async fn fill(
    state: &AppState,
    signed: &Signed,
    q: &ViolationsQuery,
    account_id: &str,
) -> Result<(Vec<Violation>, Option<String>), ApiError> {
    let mut out = Vec::new();
    let mut cursor = Some(q.cursor.clone()).filter(|c| !c.is_empty());
    let mut read = 0;
    loop {
        let got = list_violations(
            State(state.clone()),
            signed.caller.clone(),
            ApiQuery(ViolationQuery {
                account: Some(account_id.to_string()),
                sub_mchid: Some(q.sub_mchid.clone()).filter(|s| !s.is_empty()),
                limit: Some(PAGE_SIZE),
                cursor: cursor.clone(),
            }),
        )
        .await?
        .0;
        read += PAGE_SIZE;
        out.extend(
            got.items
                .into_iter()
                .filter(|v| q.kind.is_empty() || v.event_type == q.kind),
        );
        cursor = got.next_cursor;
        if out.len() >= PAGE_SIZE as usize || cursor.is_none() || read >= READ_BOUND {
            return Ok((out, cursor));
        }
    }
}

/// A string field of the platform's record, when present and not empty.
fn text(details: &Value, key: &str) -> Option<String> {
    details
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The words of a kind.
pub fn kind_label(lang: Lang, event_type: &str) -> String {
    KINDS
        .iter()
        .find(|(k, _, _)| *k == event_type)
        .map(|(_, zh, en)| lang.t(zh, en).to_string())
        .unwrap_or_else(|| event_type.to_string())
}

/// A mini program's appeal state (`appeal_status`) in words.
fn appeal_state(lang: Lang, status: i64) -> String {
    match status {
        1 => lang.t("申诉处理中", "Appeal being reviewed").into(),
        2 => lang.t("申诉通过", "Appeal accepted").into(),
        3 => lang.t("申诉未通过", "Appeal rejected").into(),
        4 => lang.t("申诉已撤销", "Appeal withdrawn").into(),
        other => match lang {
            Lang::Zh => format!("申诉状态 {other}"),
            Lang::En => format!("Appeal state {other}"),
        },
    }
}

/// A rule's address, if it is an HTTPS page on a WeChat (qq.com) site: anything else is not
/// linked.
fn wechat_link(url: Option<String>) -> Option<String> {
    let parsed = url::Url::parse(url.as_deref()?).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    (parsed.scheme() == "https" && (host == "qq.com" || host.ends_with(".qq.com")))
        .then(|| parsed.to_string())
}

fn entry(lang: Lang, v: &Violation, account: String, score_href: Option<String>) -> Entry {
    let d = &v.details;
    let (kind_class, todo) = match v.event_type.as_str() {
        "VIOLATION.PUNISH" => (
            "punish",
            lang.t(
                "到微信支付商户平台（pay.weixin.qq.com）查看处置详情，整改后按页面提示申诉。微信支付没有公布申诉期限：有异议请尽早申诉。",
                "Read the details in the WeChat Pay merchant platform (pay.weixin.qq.com), fix the cause, and appeal there if you disagree. WeChat Pay publishes no appeal deadline: appeal soon.",
            ),
        ),
        "VIOLATION.INTERCEPT" => (
            "intercept",
            lang.t(
                "这个商户的交易正被拦截（累计被拦截的订单超过 10 笔；同一子商户每天最多通知一次）。核实这些交易，到微信支付商户平台查看拦截记录并处理。",
                "This merchant's payments are being intercepted (more than 10 orders intercepted in all; WeChat Pay tells at most once a day per sub-merchant). Check those payments and see the interception records in the WeChat Pay merchant platform.",
            ),
        ),
        "VIOLATION.APPEAL" => (
            "appeal",
            lang.t(
                "申诉状态有变化：到微信支付商户平台查看结果。",
                "The appeal changed state: see the result in the WeChat Pay merchant platform.",
            ),
        ),
        "wxmini.illegal_record" => (
            "record",
            lang.t(
                "到微信公众平台（mp.weixin.qq.com）小程序后台查看违规记录，有异议可在那里申诉。平台没有给出申诉期限：请尽早处理。",
                "See the violation record in the mini program's back office (mp.weixin.qq.com) and appeal there if you disagree. The platform gives no appeal deadline: act soon.",
            ),
        ),
        _ => (
            "other",
            lang.t(
                "到平台后台查看这条记录。",
                "See this record in the platform's back office.",
            ),
        ),
    };
    // What happened: the platform's description of the risk or reason; the summary otherwise.
    let what = [
        text(d, "risk_description"),
        text(d, "illegal_reason"),
        text(d, "illegal_content"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    let what = if what.is_empty() {
        v.summary.clone()
    } else {
        what.join(" · ")
    };
    let did = [text(d, "punish_plan"), text(d, "punish_description")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let appeal = d
        .get("appeal_records")
        .and_then(Value::as_array)
        .and_then(|records| {
            records
                .iter()
                .max_by_key(|r| r.get("appeal_time").and_then(Value::as_i64).unwrap_or(0))
        })
        .map(|r| {
            let state = appeal_state(
                lang,
                r.get("appeal_status").and_then(Value::as_i64).unwrap_or(0),
            );
            match text(r, "audit_reason") {
                Some(why) => format!("{state}: {why}"),
                None => state,
            }
        });
    Entry {
        kind_label: kind_label(lang, &v.event_type),
        kind_class,
        raw_kind: v.event_type.clone(),
        what,
        did: (!did.is_empty()).then(|| did.join(" · ")),
        when: view::beijing(v.occurred_at.unwrap_or(v.received_at)),
        received: view::beijing(v.received_at),
        account,
        sub_mchid: v.sub_mchid.clone(),
        company: text(d, "company_name"),
        record_id: v.record_id.clone(),
        todo,
        appeal,
        rule: text(d, "rule_name"),
        rule_url: wechat_link(text(d, "rule_url")),
        score_href: (kind_class == "record").then_some(score_href).flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_pages_on_wechat_sites_are_linked() {
        let link = |u: &str| wechat_link(Some(u.to_string()));
        assert!(link("https://developers.weixin.qq.com/rule").is_some());
        assert!(link("https://qq.com/x").is_some());
        assert_eq!(link("http://developers.weixin.qq.com/rule"), None);
        assert_eq!(link("https://evil.example/qq.com"), None);
        assert_eq!(link("https://qq.com.evil.example/"), None);
        assert_eq!(link("javascript:alert(1)"), None);
    }

    #[test]
    fn the_page_link_keeps_only_the_filters_given() {
        let q = ViolationsQuery {
            account: "acc_1".into(),
            kind: "VIOLATION.PUNISH".into(),
            ..Default::default()
        };
        assert_eq!(
            q.href(),
            "/console/violations?account=acc_1&kind=VIOLATION.PUNISH"
        );
        assert_eq!(ViolationsQuery::default().href(), "/console/violations");
    }
}
