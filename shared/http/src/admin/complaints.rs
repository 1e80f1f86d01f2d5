//! `/admin/v1/complaints`, `/violations` and `/deliveries`: the complaint list and detail, the
//! violation and delivery lists. The actions staff take on a complaint: [`super::actions`];
//! evidence images: [`super::media`].

use super::page::{ListPage, PageParams};
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, SubsecRound, Utc};
use desk_core::complaints::{
    ComplaintDetail, ComplaintRepo,
    list::{ComplaintFilter, ListSort},
};
use desk_core::repo::AccountRepo;
use desk_core::staff_actions::visible;
use domain::complaint::{Complaint, ComplaintStatus, Platform, Violation};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Filters of `GET /complaints`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplaintQuery {
    /// A platform this build serves (`wechatpay`, `alipay`, `wxmini`, ...).
    #[param(value_type = Option<Platform>)]
    pub platform: Option<String>,
    /// Our account id.
    pub account: Option<String>,
    pub sub_mchid: Option<String>,
    /// `pending`, `processing`, `awaiting_platform`, `resolved`, `closed`.
    #[param(value_type = Option<ComplaintStatus>)]
    pub status: Option<String>,
    /// Received at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Received at or before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// `true`: only complaints whose next deadline (`next_due_at`, the earliest deadline not
    /// met) passed before now; `false`: only those not overdue (due at or after now, or nothing
    /// due). A deadline may be an estimate: see each deadline's `source`.
    #[param(value_type = Option<bool>)]
    pub overdue: Option<String>,
    /// Only complaints with a deadline not met due at or before this time (`next_due_at <= T`,
    /// RFC 3339). A deadline may be an estimate: see each deadline's `source`.
    #[param(value_type = Option<String>, format = DateTime)]
    pub due_before: Option<String>,
    /// `received` (the default: newest first) or `deadline` (earliest `next_due_at` first,
    /// then the complaints with nothing due, oldest first). `overdue` and `due_before` list by
    /// deadline (`sort=received` with them is refused). A deadline list applies `status`,
    /// `since` and `until` to each page it reads: a page may then hold fewer than `limit`
    /// complaints, even none, while `next_cursor` says more may follow. A cursor belongs to the
    /// list that gave it.
    #[param(value_type = Option<ComplaintOrder>)]
    pub sort: Option<String>,
    pub limit: Option<u32>,
    #[serde(default, deserialize_with = "crate::extract::empty_as_none")]
    pub cursor: Option<String>,
}

/// The orders of the complaint list (the document's values of `sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintOrder {
    /// Newest received first.
    Received,
    /// Earliest `next_due_at` first, then the complaints with nothing due.
    Deadline,
}

/// The list order asked for, and whether a deadline filter allows it.
fn sort_param(q: &ComplaintQuery) -> Result<ListSort, ApiError> {
    let deadline_filter = q.overdue.is_some() || q.due_before.is_some();
    let order = q
        .sort
        .as_deref()
        .map(|s| {
            serde_json::from_value::<ComplaintOrder>(serde_json::Value::String(s.to_string()))
                .map_err(|_| {
                    ApiError::field(
                        "sort",
                        format!("unknown value {s:?}; use received or deadline"),
                    )
                })
        })
        .transpose()?;
    match (order, deadline_filter) {
        (Some(ComplaintOrder::Received), true) => Err(ApiError::field(
            "sort",
            "overdue and due_before list by deadline: use sort=deadline or leave sort out",
        )),
        (Some(ComplaintOrder::Received), false) | (None, false) => Ok(ListSort::Received),
        (Some(ComplaintOrder::Deadline), _) | (None, true) => Ok(ListSort::Deadline),
    }
}

fn bool_param(field: &str, v: &Option<String>) -> Result<Option<bool>, ApiError> {
    v.as_deref()
        .map(|s| match s {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ApiError::field(
                field,
                format!("unknown value {other:?}; use true or false"),
            )),
        })
        .transpose()
}

fn enum_param<T: serde::de::DeserializeOwned>(
    field: &str,
    v: &Option<String>,
) -> Result<Option<T>, ApiError> {
    v.as_deref()
        .map(|s| {
            serde_json::from_value(serde_json::Value::String(s.to_string()))
                .map_err(|_| ApiError::field(field, format!("unknown value {s:?}")))
        })
        .transpose()
}

fn time_param(field: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    v.as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::field(field, "must be an RFC 3339 time"))
        })
        .transpose()
}

#[utoipa::path(
    get, path = "/admin/v1/complaints", tag = "complaints",
    params(ComplaintQuery),
    responses((status = 200, body = ListPage<Complaint>), (status = 400, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_complaints(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ComplaintQuery>,
) -> Result<Json<ListPage<Complaint>>, ApiError> {
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let mut f = ComplaintFilter {
        platform: q
            .platform
            .as_deref()
            .map(|p| {
                state.platforms().named(p).ok_or_else(|| {
                    ApiError::field(
                        "platform",
                        format!(
                            "unknown value {p:?}; this build serves {}",
                            state.platforms().names().join(", ")
                        ),
                    )
                })
            })
            .transpose()?,
        account_id: q.account.clone(),
        sub_mchid: q.sub_mchid.clone(),
        status: enum_param::<ComplaintStatus>("status", &q.status)?,
        since: time_param("since", &q.since)?,
        until: time_param("until", &q.until)?,
        due_before: time_param("due_before", &q.due_before)?,
        sort: sort_param(&q)?,
        ..Default::default()
    };
    if let Some(overdue) = bool_param("overdue", &q.overdue)? {
        // Now, to the millisecond the deadline keys hold.
        let now = state.ports.clock.now().trunc_subsecs(3);
        f = if overdue {
            ComplaintFilter {
                overdue_at: Some(now),
                ..f
            }
        } else if q.cursor.is_some() {
            // A later page of "not overdue": every complaint after the cursor was not overdue
            // when the first page was read (the list runs by deadline, ascending, from that
            // page's now), and now has moved on since; raising the bound to this request's now
            // would put the cursor outside the range (refused), so it stays below everything.
            ComplaintFilter {
                not_overdue_at: Some(DateTime::UNIX_EPOCH),
                ..f
            }
        } else {
            ComplaintFilter {
                not_overdue_at: Some(now),
                ..f
            }
        };
    }
    // A scoped token lists its own scope; naming something outside it finds nothing.
    match &caller.scope {
        domain::token::TokenScope::All => {}
        domain::token::TokenScope::Account { account_id } => {
            if f.account_id.get_or_insert_with(|| account_id.clone()) != account_id {
                return Ok(Json(ListPage {
                    items: vec![],
                    next_cursor: None,
                }));
            }
        }
        domain::token::TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => {
            if f.account_id.get_or_insert_with(|| account_id.clone()) != account_id
                || f.sub_mchid.get_or_insert_with(|| sub_mchid.clone()) != sub_mchid
            {
                return Ok(Json(ListPage {
                    items: vec![],
                    next_cursor: None,
                }));
            }
        }
    }
    let (items, next_cursor) = ComplaintRepo::new(&*state.ports.records)
        .list(
            &f,
            |c| {
                caller
                    .scope
                    .covers(Some(&c.account_id), c.sub_mchid.as_deref())
            },
            limit as usize,
            q.cursor.clone(),
        )
        .await?;
    Ok(Json(ListPage { items, next_cursor }))
}

#[utoipa::path(
    get, path = "/admin/v1/complaints/{id}", tag = "complaints",
    params(("id" = String, Path, description = "Our complaint id")),
    responses((status = 200, body = ComplaintDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_complaint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ComplaintDetail>, ApiError> {
    visible(&state, &caller.scope, &id).await?;
    ComplaintRepo::new(&*state.ports.records)
        .detail(&id)
        .await?
        .map(|d| Json(detail_shown(&caller, d)))
        .ok_or_else(|| ApiError::not_found(format!("complaint {id} not found")))
}

/// A complaint's detail as `caller` may read it: the staff contacts its notices went to (an
/// escalation's extra recipients, the e-mail addresses and openids of deliveries) are shown in
/// full only to an `admin`, as the notification settings and the delivery list are, and
/// masked for other roles (SMS numbers are always masked).
fn detail_shown(caller: &Caller, mut d: ComplaintDetail) -> ComplaintDetail {
    if caller.role == domain::token::Role::Admin {
        return d;
    }
    for n in &mut d.notifications {
        if let Some(r) = &n.extra_recipients {
            n.extra_recipients = Some(r.masked());
        }
    }
    for delivery in &mut d.deliveries {
        if matches!(
            delivery.channel,
            domain::notification::Channel::Email | domain::notification::Channel::OaTemplate
        ) {
            // A server's refusal echoes the address (`550 5.1.1 <a@b.example>: no such
            // user`): mask it there too, before the recipients themselves are masked.
            for r in &mut delivery.recipients {
                if r.is_empty() {
                    continue;
                }
                let masked = domain::deadline::mask_contact(r);
                delivery.idempotency_key = delivery.idempotency_key.replace(r.as_str(), &masked);
                if let Some(e) = &mut delivery.last_error {
                    *e = replace_ignoring_case(e, r, &masked);
                }
                for v in delivery.results.values_mut() {
                    *v = replace_ignoring_case(v, r, &masked);
                }
                *r = masked;
            }
            delivery.results = std::mem::take(&mut delivery.results)
                .into_iter()
                .map(|(k, v)| (domain::deadline::mask_contact(&k), v))
                .collect();
        }
    }
    d
}

/// `text` with every occurrence of `needle` (ASCII case ignored: mail servers echo addresses
/// as they like) replaced by `with`.
fn replace_ignoring_case(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_string();
    }
    let (lower, needle) = (text.to_ascii_lowercase(), needle.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    // ASCII lower-casing keeps every byte offset, so offsets in `lower` are offsets in `text`.
    while let Some(found) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + found]);
        out.push_str(with);
        at += found + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

/// `GET /violations?account=&sub_mchid=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViolationQuery {
    /// Our account id (required unless the token is scoped to one).
    pub account: Option<String>,
    pub sub_mchid: Option<String>,
    pub limit: Option<u32>,
    #[serde(default, deserialize_with = "crate::extract::empty_as_none")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/admin/v1/violations", tag = "complaints",
    params(ViolationQuery),
    responses((status = 200, body = ListPage<Violation>), (status = 400, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_violations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ViolationQuery>,
) -> Result<Json<ListPage<Violation>>, ApiError> {
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let (scope_account, scope_sub) = match &caller.scope {
        domain::token::TokenScope::All => (None, None),
        domain::token::TokenScope::Account { account_id } => (Some(account_id.clone()), None),
        domain::token::TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => (Some(account_id.clone()), Some(sub_mchid.clone())),
    };
    let account = q
        .account
        .clone()
        .or(scope_account)
        .ok_or_else(|| ApiError::field("account", "name the provider account"))?;
    let sub = q.sub_mchid.clone().or(scope_sub);
    if !caller.scope.covers(Some(&account), sub.as_deref()) {
        return Ok(Json(ListPage {
            items: vec![],
            next_cursor: None,
        }));
    }
    if q.cursor.is_none()
        && let Some((a, _)) = AccountRepo::new(&*state.ports.records)
            .get(&account)
            .await?
        && a.enabled
        && let Some(refresh) = state
            .platforms()
            .account_kind(a.kind())
            .and_then(|k| k.refresh_violations)
    {
        // Violation records that live on the platform (its kind says so): read them first.
        refresh(&state, &a).await?;
    }
    let (items, next_cursor) = ComplaintRepo::new(&*state.ports.records)
        .list_violations(
            &account,
            sub.as_deref(),
            |_| true,
            limit as usize,
            q.cursor.clone(),
        )
        .await?;
    Ok(Json(ListPage { items, next_cursor }))
}

/// `GET /deliveries?complaint=&status=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Our complaint id.
    pub complaint: Option<String>,
    /// `pending`, `retrying`, `sent`, `failed`.
    #[param(value_type = Option<domain::notification::DeliveryStatus>)]
    pub status: Option<String>,
    pub limit: Option<u32>,
    #[serde(default, deserialize_with = "crate::extract::empty_as_none")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/admin/v1/deliveries", tag = "complaints",
    params(DeliveryQuery),
    responses((status = 200, body = ListPage<domain::notification::Delivery>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<ListPage<domain::notification::Delivery>>, ApiError> {
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let status = enum_param::<domain::notification::DeliveryStatus>("status", &q.status)?;
    let (items, next_cursor) = match &q.complaint {
        Some(id) => {
            // One complaint's deliveries (a few per event and channel), read together; the
            // caller sees the complaint or gets a 404.
            visible(&state, &caller.scope, id).await?;
            let all = desk_core::deliveries::deliveries_of(
                &*state.ports.records,
                &domain::notification::NotificationSubject::Complaint {
                    complaint_id: id.clone(),
                },
            )
            .await?;
            let shown = |d: &domain::notification::Delivery| {
                status.is_none_or(|s| d.status == s)
                    && match &d.audience {
                        Some(a) => caller
                            .scope
                            .covers(Some(&a.account_id), a.sub_mchid.as_deref()),
                        None => caller.scope.is_all(),
                    }
            };
            (all.into_iter().filter(|d| shown(d)).collect(), None)
        }
        None => {
            // The caller's scope is the list's partition: one query per page.
            desk_core::deliveries::list_deliveries(
                &*state.ports.records,
                &caller.scope,
                status,
                limit,
                q.cursor.clone(),
            )
            .await?
        }
    };
    Ok(Json(ListPage { items, next_cursor }))
}
