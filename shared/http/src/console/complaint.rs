//! A complaint's page (`/console/complaints/{id}`): what the buyer said, the order and amount,
//! the masked phone, the platform's history as a timeline with its images, our action log
//! (automatic and by hand: who, when, outcome), the staff notices and their deliveries, the
//! deadlines with their source, and the forms of the actions the complaint's platform offers
//! (only those the staff member's role may take). Every read and action goes through the admin
//! API's own handlers, so scope, role and the platform's checks are the API's.

use super::forms::{ActionForm, FormError, Prefill};
use super::lang::Lang;
use super::view::{self, DueView};
use super::web::{BASE, Chrome, Signed, error_page, render_with, see_other};
use crate::ApiError;
use crate::admin::path_ids::check_path_param;
use crate::admin::roles::Roles;
use crate::admin::{actions, complaints, media};
use crate::console::web::UrlQuery;
use crate::extract::ApiPath;
use crate::http::JsonBytes;
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Multipart, Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use desk_core::complaints::ComplaintDetail;
use domain::complaint::{ActionOutcome, ActionTrigger};
use serde::Deserialize;
use std::sync::Arc;

/// A submitted text field is at most this long (the longest platform text is 500 characters).
const FIELD_LIMIT: usize = 16 * 1024;
/// At most this many images in one form (the platforms allow 9 at most).
const MAX_IMAGES: usize = 9;

#[derive(Deserialize, Default)]
pub struct ActQuery {
    /// The form's one-time id ([`desk_core::sessions::new_form_id`]).
    #[serde(default)]
    form: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    /// The action just done (after a form).
    #[serde(default)]
    done: Option<String>,
}

pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

pub struct DeadlineRow {
    pub due: DueView,
    pub met: Option<String>,
    pub source: String,
    pub consequence: String,
}

pub struct HistoryRow {
    pub at: String,
    pub who: String,
    pub operation: String,
    pub content: String,
    /// Links to the images of this entry: every one when the platform serves history images
    /// (`history/{entry_id}/media/{n}`, or `media/{n}` of the complaint for one it holds too),
    /// else those the complaint's own `media` holds.
    pub images: Vec<String>,
    /// Images the platform attached that we cannot show (a platform without history images).
    pub other_media: usize,
}

pub struct ActionRow {
    pub at: String,
    pub action: String,
    pub who: String,
    pub outcome: &'static str,
    pub outcome_class: &'static str,
    pub detail: String,
}

pub struct NoticeRow {
    pub at: String,
    pub event: String,
    pub deliveries: Vec<DeliveryRow>,
}

pub struct DeliveryRow {
    pub channel: String,
    pub recipients: String,
    pub status: String,
    pub failed: bool,
    pub attempts: u32,
    pub error: String,
}

pub struct RefundRow {
    pub at: String,
    pub amount: String,
    pub status: String,
    pub number: String,
}

/// An action's form as the page shows it.
pub struct FormView {
    pub title: &'static str,
    pub html: String,
    /// Open (after a refusal of this form).
    pub open: bool,
}

/// A form the action refused: what staff typed (shown again) and why, at its field.
pub struct Refused {
    pub action: &'static str,
    pub values: Vec<(String, String)>,
    pub error: FormError,
}

#[derive(Template)]
#[template(path = "console/complaint.html")]
struct ComplaintPage {
    c: Chrome,
    platform: &'static str,
    status_label: &'static str,
    status_class: &'static str,
    raw_status: String,
    text: String,
    facts: Vec<Fact>,
    images: Vec<String>,
    deadlines: Vec<DeadlineRow>,
    history: Vec<HistoryRow>,
    actions: Vec<ActionRow>,
    notices: Vec<NoticeRow>,
    refunds: Vec<RefundRow>,
    forms: Vec<FormView>,
    viewer: bool,
    done: Option<&'static str>,
    error: Option<String>,
}

/// `GET /console/complaints/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    let done = q.done.as_deref().map(|a| done_label(signed.visit.lang, a));
    page(&state, &roles, &signed, &id, done, None, None).await
}

async fn page(
    state: &AppState,
    roles: &Roles,
    signed: &Signed,
    id: &str,
    done: Option<&'static str>,
    error: Option<ApiError>,
    refused: Option<Refused>,
) -> Response {
    let lang = signed.visit.lang;
    let detail = match complaints::get_complaint(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.to_string()),
    )
    .await
    {
        Ok(d) => d.0,
        Err(e) => return error_page(lang, &e),
    };
    let status = error
        .as_ref()
        .map(ApiError::status)
        .unwrap_or(StatusCode::OK);
    if let Some(e) = &error {
        e.log_cause();
    }
    let page = build(
        state,
        roles,
        signed,
        detail,
        done,
        error.map(|e| e.message()),
        refused.as_ref(),
    );
    render_with(status, &page)
}

/// The label of an action ("回复", "Reply"), from its name in the path.
fn action_label(lang: Lang, action: &str) -> String {
    match action {
        "reply" => lang.t("回复", "Reply").into(),
        "complete" => lang.t("完结", "Complete").into(),
        "refund" => lang.t("退款", "Refund").into(),
        "refund_progress" | "refund-progress" => lang.t("处理退款申请", "Refund request").into(),
        "feedback" => lang.t("反馈", "Feedback").into(),
        "supplement" => lang.t("补充凭证", "Supplement").into(),
        "refund_evidence" | "refund-evidence" => lang.t("退款凭证", "Refund evidence").into(),
        "appeal" => lang.t("申诉", "Appeal").into(),
        "notify" => lang.t("通知员工", "Staff notice").into(),
        other => other.to_string(),
    }
}

fn done_label(lang: Lang, action: &str) -> &'static str {
    match action {
        "reply" => lang.t("已回复。", "Replied."),
        "complete" => lang.t("已完结。", "Completed."),
        "refund" => lang.t("退款已提交。", "Refund requested."),
        _ => lang.t("已完成。", "Done."),
    }
}

fn snake(v: impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn when(t: DateTime<Utc>) -> String {
    view::beijing(t)
}

fn build(
    state: &AppState,
    roles: &Roles,
    signed: &Signed,
    d: ComplaintDetail,
    done: Option<&'static str>,
    error: Option<String>,
    refused: Option<&Refused>,
) -> ComplaintPage {
    let lang = signed.visit.lang;
    let now = state.ports.clock.now();
    let c = &d.complaint;
    let mut facts = vec![
        Fact {
            label: lang.t("平台投诉号", "Platform complaint id"),
            value: c.platform_complaint_id.clone(),
        },
        Fact {
            label: lang.t("账户", "Account"),
            value: c.account_id.clone(),
        },
    ];
    if let Some(s) = &c.sub_mchid {
        facts.push(Fact {
            label: lang.t("子商户", "Sub-merchant"),
            value: s.clone(),
        });
    }
    if let Some(a) = c.complaint_amount_fen {
        facts.push(Fact {
            label: lang.t("投诉金额（元）", "Amount (yuan)"),
            value: view::yuan(a),
        });
    }
    facts.push(Fact {
        label: lang.t("已退款（元）", "Refunded (yuan)"),
        value: view::yuan(c.refunded_fen),
    });
    for o in &c.orders {
        let id = o
            .transaction_id
            .clone()
            .or_else(|| o.out_trade_no.clone())
            .unwrap_or_default();
        let amount = o
            .amount_fen
            .map(|f| format!(" · {} {}", view::yuan(f), lang.t("元", "yuan")))
            .unwrap_or_default();
        facts.push(Fact {
            label: lang.t("订单", "Order"),
            value: format!("{id}{amount}"),
        });
    }
    if let Some(p) = &c.payer_phone_masked {
        facts.push(Fact {
            label: lang.t("买家手机", "Buyer's phone"),
            value: p.clone(),
        });
    }
    if let Some(p) = &c.problem_type {
        facts.push(Fact {
            label: lang.t("问题类型", "Problem"),
            value: p.clone(),
        });
    }
    facts.push(Fact {
        label: lang.t("投诉时间", "Complained"),
        value: c
            .complained_at
            .map(when)
            .unwrap_or_else(|| when(c.received_at)),
    });
    facts.push(Fact {
        label: lang.t("收到时间", "Received"),
        value: when(c.received_at),
    });
    if c.need_immediate_service {
        facts.push(Fact {
            label: lang.t("平台标记", "Platform flag"),
            value: lang.t("需立即处理", "Immediate service").into(),
        });
    }
    if !c.tags.is_empty() {
        facts.push(Fact {
            label: lang.t("标签", "Tags"),
            value: c.tags.join(", "),
        });
    }
    let media_href =
        |n: usize| format!("{BASE}/complaints/{}/media/{n}", view::path_segment(&c.id));
    let images = (0..c.media.len()).map(media_href).collect();
    let mut deadlines: Vec<DeadlineRow> = c
        .deadlines
        .iter()
        .map(|dl| DeadlineRow {
            due: view::due_view(lang, now, dl.label.clone(), dl.due_at),
            met: dl.met_at.map(when),
            source: format!(
                "{} · {}",
                match dl.source.kind.as_str() {
                    "platform_field" => lang.t("平台字段", "platform field"),
                    "published_rule" => lang.t("平台规则", "published rule"),
                    _ => lang.t("估算", "estimate"),
                },
                dl.source.detail
            ),
            consequence: dl.consequence.clone(),
        })
        .collect();
    deadlines.sort_by(|a, b| a.due.iso.cmp(&b.due.iso));
    let history_images = state
        .platforms()
        .get(c.platform)
        .is_some_and(|p| p.complaint_images().serves_history_images());
    let history = d
        .history
        .iter()
        .map(|h| {
            let shown: Vec<String> =
                if history_images && check_path_param("entry_id", &h.entry_id).is_ok() {
                    // Every image of the entry: one the complaint's own media holds too through
                    // that route (the browser keeps it once), the others through the entry's.
                    h.media
                        .iter()
                        .enumerate()
                        .map(|(n, m)| match c.media.iter().position(|x| x == m) {
                            Some(k) => media_href(k),
                            None => format!(
                                "{BASE}/complaints/{}/history/{}/media/{n}",
                                view::path_segment(&c.id),
                                view::path_segment(&h.entry_id)
                            ),
                        })
                        .collect()
                } else {
                    h.media
                        .iter()
                        .filter_map(|m| c.media.iter().position(|x| x == m).map(media_href))
                        .collect()
                };
            HistoryRow {
                at: when(h.at),
                who: h.operator.clone().unwrap_or_default(),
                operation: h.operation.clone(),
                content: h.content.clone().unwrap_or_default(),
                other_media: h.media.len() - shown.len(),
                images: shown,
            }
        })
        .collect();
    let actions_log = d
        .actions
        .iter()
        .map(|a| ActionRow {
            at: when(a.at),
            action: action_label(lang, &snake(a.action)),
            who: match &a.trigger {
                ActionTrigger::Policy => lang.t("自动", "automatic").into(),
                ActionTrigger::Admin {
                    token_id,
                    token_name,
                } => token_name.clone().unwrap_or_else(|| token_id.clone()),
            },
            outcome: match a.outcome {
                ActionOutcome::Succeeded => lang.t("成功", "succeeded"),
                ActionOutcome::AlreadyDone => lang.t("已完成过", "already done"),
                ActionOutcome::Failed => lang.t("失败", "failed"),
                ActionOutcome::Skipped => lang.t("未执行", "skipped"),
            },
            outcome_class: match a.outcome {
                ActionOutcome::Succeeded | ActionOutcome::AlreadyDone => "ok",
                ActionOutcome::Failed => "bad",
                ActionOutcome::Skipped => "muted",
            },
            detail: a.detail.clone(),
        })
        .collect();
    let notices = d
        .notifications
        .iter()
        .map(|n| NoticeRow {
            at: when(n.created_at),
            event: n.summary.event.clone(),
            deliveries: d
                .deliveries
                .iter()
                .filter(|dl| dl.job_id == n.id)
                .map(|dl| DeliveryRow {
                    channel: match snake(dl.channel).as_str() {
                        "email" => lang.t("邮件", "e-mail").into(),
                        "oa_template" => lang.t("公众号模板消息", "OA template").into(),
                        "sms" => lang.t("短信", "SMS").into(),
                        "bot" => lang.t("群机器人", "group bot").into(),
                        other => other.to_string(),
                    },
                    recipients: dl.recipients.join(", "),
                    failed: snake(dl.status) == "failed",
                    status: match snake(dl.status).as_str() {
                        "sent" => lang.t("已送达", "sent").into(),
                        "failed" => lang.t("失败", "failed").into(),
                        "retrying" => lang.t("重试中", "retrying").into(),
                        other => other.to_string(),
                    },
                    attempts: dl.attempts,
                    error: dl.last_error.clone().unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let refunds = d
        .refunds
        .iter()
        .map(|r| RefundRow {
            at: when(r.created_at),
            amount: view::yuan(r.amount_fen),
            status: r.status.clone(),
            number: r.out_refund_no.clone(),
        })
        .collect();
    let forms = action_forms(state, roles, signed, c, refused);
    ComplaintPage {
        c: signed.chrome(
            state,
            format!(
                "{} · {}",
                view::platform_label(lang, c.platform),
                c.platform_complaint_id
            ),
        ),
        platform: view::platform_label(lang, c.platform),
        status_label: view::status_label(lang, c.status),
        status_class: view::status_class(c.status),
        raw_status: c.raw_status.clone(),
        text: c.description.clone().unwrap_or_default(),
        facts,
        images,
        deadlines,
        history,
        actions: actions_log,
        notices,
        refunds,
        viewer: forms.is_empty(),
        forms,
        done,
        error,
    }
}

/// The admin API route of an action (what the role table knows it by).
fn action_route(action: &str) -> String {
    format!("{}/complaints/{{id}}/{action}", crate::http::ADMIN_BASE)
}

/// What is left to refund of the complaint (its amount, or its orders', less our refunds).
fn left_to_refund(c: &domain::complaint::Complaint) -> Option<u64> {
    let orders: Option<u64> = c
        .orders
        .iter()
        .filter_map(|o| o.amount_fen)
        .try_fold(0u64, |sum, a| sum.checked_add(a));
    c.complaint_amount_fen
        .or(orders)
        .map(|a| a.saturating_sub(c.refunded_fen))
        .filter(|left| *left > 0)
}

/// The forms of the actions the complaint's platform offers that this staff member's role
/// allows (none for a viewer); a refused one open, with what was typed and why.
fn action_forms(
    state: &AppState,
    roles: &Roles,
    signed: &Signed,
    c: &domain::complaint::Complaint,
    refused: Option<&Refused>,
) -> Vec<FormView> {
    let Some(platform) = state.platforms().get(c.platform) else {
        return vec![];
    };
    let lang = signed.visit.lang;
    let left = left_to_refund(c).map(super::forms::yuan);
    platform
        .staff_actions()
        .actions()
        .iter()
        .filter(|a| signed.caller.role >= roles.of(&Method::POST, &action_route(a.name)))
        .filter_map(|a| ActionForm::for_action(state.platforms(), c.platform, a.name))
        .map(|form| {
            // A one-time id in the form's address: sending it twice acts once.
            let post_to = format!(
                "{BASE}/complaints/{}/act/{}?form={}",
                view::path_segment(&c.id),
                form.name(),
                desk_core::sessions::new_form_id()
            );
            let this = refused.filter(|r| r.action == form.name());
            let prefill = match (this, &left) {
                (Some(r), _) => Prefill::from_submitted(&r.values),
                (None, Some(left)) if form.field("amount_fen").is_some() => {
                    Prefill::new().with("amount_fen", left.clone())
                }
                _ => Prefill::new(),
            };
            FormView {
                title: form.title(lang),
                html: form.render_with(
                    lang,
                    &signed.session.csrf,
                    &post_to,
                    &prefill,
                    this.map(|r| &r.error),
                ),
                open: this.is_some(),
            }
        })
        .collect()
}

/// What a form sent: its text fields and its images.
struct Submitted {
    values: Vec<(String, String)>,
    images: Vec<(Option<String>, axum::body::Bytes)>,
}

async fn read_multipart(mut m: Multipart) -> Result<Submitted, ApiError> {
    let mut s = Submitted {
        values: vec![],
        images: vec![],
    };
    let unreadable = |_| ApiError::field("form", "the form could not be read");
    while let Some(field) = m.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() || name == "images" {
            let filename = field
                .file_name()
                .map(|f| {
                    f.chars()
                        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                        .take(100)
                        .collect::<String>()
                })
                .filter(|f| !f.is_empty());
            let bytes = field.bytes().await.map_err(unreadable)?;
            // An empty file input sends an empty part.
            if bytes.is_empty() {
                continue;
            }
            if s.images.len() >= MAX_IMAGES {
                return Err(ApiError::field(
                    "images",
                    format!("at most {MAX_IMAGES} images"),
                ));
            }
            s.images.push((filename, bytes));
        } else {
            let text = field.text().await.map_err(unreadable)?;
            if text.len() > FIELD_LIMIT {
                return Err(ApiError::field(name, "too long"));
            }
            s.values.push((name, text));
        }
    }
    Ok(s)
}

/// `POST /console/complaints/{id}/act/{action}`: the action's form → the admin API's action,
/// with the images uploaded first (as `POST /media` would). The platform's refusal comes back
/// on the complaint's page, in words.
pub async fn act(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    UrlQuery(once): UrlQuery<ActQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let lang = signed.visit.lang;
    let submitted = match multipart {
        Ok(m) => read_multipart(m).await,
        Err(_) => Err(ApiError::UnsupportedMediaType(
            "send the form as multipart/form-data".into(),
        )),
    };
    let submitted = match submitted {
        Ok(s) => s,
        Err(e) => return error_page(lang, &e),
    };
    let csrf = submitted
        .values
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    if let Err(res) = signed.check_csrf(csrf) {
        return *res;
    }
    // The action by its name in the path: one the registered platforms offer.
    let Some(name) = actions::offered(state.platforms())
        .into_iter()
        .find(|a| *a == action)
    else {
        return error_page(lang, &ApiError::not_found(format!("no action {action}")));
    };
    if let Err(e) = signed
        .caller
        .require_role(roles.of(&Method::POST, &action_route(name)), name)
    {
        tracing::info!(token_id = %signed.caller.token_id, action = name, "console action refused: role too low");
        return error_page(lang, &e);
    }
    let complaint = match desk_core::staff_actions::visible(&state, &signed.caller.scope, &id).await
    {
        Ok(c) => c,
        Err(e) => return error_page(lang, &e.into()),
    };
    let Some(form) = ActionForm::for_action(state.platforms(), complaint.platform, name) else {
        return page(
            &state,
            &roles,
            &signed,
            &id,
            None,
            Some(ApiError::Conflict(format!(
                "{} complaints have no action {name}",
                complaint.platform.as_str()
            ))),
            None,
        )
        .await;
    };
    // The page again with the form open, what was typed, and why it was refused (at its
    // field where it names one); `status` from the refusal.
    let refuse = |status: ApiError, error: FormError| {
        let refused = Refused {
            action: name,
            values: submitted.values.clone(),
            error,
        };
        page(
            &state,
            &roles,
            &signed,
            &id,
            None,
            Some(status),
            Some(refused),
        )
    };
    // The form's own limits first, with as many stand-in ids as images: nothing is uploaded
    // for a form the platform would refuse anyway.
    let stand_ins = vec!["med_pending".to_string(); submitted.images.len()];
    if let Err(e) = form.body(&submitted.values, stand_ins) {
        return refuse(ApiError::field(e.field.clone(), e.message(lang)), e).await;
    }
    // The form's one-time id: a form sent twice (a double tap, the browser's resubmission)
    // acts once.
    let sessions = desk_core::sessions::SessionRepo::new(&*state.ports.records);
    match sessions
        .claim_form(
            once.form.as_deref().unwrap_or_default(),
            state.ports.clock.now(),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(complaint_id = %id, action = name, "console form sent again: not acted on");
            let message = lang.t(
                "这张表单之前已提交过（或已过期），这次没有执行。请先查看下方的操作记录；如果没有执行，请再次提交。",
                "This form was sent before (or is out of date): nothing was done this time. Check the action log below; if the action is missing, send it again.",
            );
            let why = form.refusal(None, message);
            return refuse(ApiError::Conflict(message.into()), why).await;
        }
        Err(e) => return error_page(lang, &e.into()),
    }
    let mut ids = Vec::new();
    for (filename, bytes) in &submitted.images {
        match media::store(&state, &signed.caller, filename.clone(), bytes).await {
            Ok(m) => ids.push(m.id),
            Err(e) => {
                forget_uploads(&state, &ids).await;
                let why = form.refusal(Some("images"), &e.message());
                return refuse(e, why).await;
            }
        }
    }
    let body = match form.body(&submitted.values, ids.clone()) {
        Ok(b) => b,
        Err(e) => {
            forget_uploads(&state, &ids).await;
            return refuse(ApiError::field(e.field.clone(), e.message(lang)), e).await;
        }
    };
    match actions::act(
        state.clone(),
        signed.caller.clone(),
        id.clone(),
        name,
        JsonBytes::of_value(&body),
    )
    .await
    {
        Ok(_) => {
            tracing::info!(token_id = %signed.caller.token_id, complaint_id = %id, action = name, "console action done");
            see_other(&format!(
                "{BASE}/complaints/{}?done={}",
                view::path_segment(&id),
                view::path_segment(name)
            ))
        }
        Err(e) => {
            tracing::info!(complaint_id = %id, action = name, status = e.status().as_u16(), "console action refused");
            forget_uploads(&state, &ids).await;
            let why = form.refusal(e.field_name(), &e.message());
            refuse(e, why).await
        }
    }
}

/// Remove the images a refused form uploaded (best effort): the form comes back without them,
/// and they are not kept for nothing.
async fn forget_uploads(state: &AppState, ids: &[String]) {
    let repo = desk_core::complaints::ComplaintRepo::new(&*state.ports.records);
    for id in ids {
        if let Err(e) = repo.delete_media(id).await {
            tracing::warn!(media_id = %id, error = %e, "refused form's upload not removed");
        }
        if let Err(e) = state.ports.blobs.delete(&format!("media/{id}")).await {
            tracing::warn!(media_id = %id, error = %e, "refused form's image not removed");
        }
    }
}

/// `GET /console/complaints/{id}/media/{n}`: a complaint's image, through the admin API's
/// download proxy (the platform's URL is never sent to the browser).
pub async fn image(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, n)): Path<(String, usize)>,
) -> Response {
    match media::download_media(State(state), signed.caller, ApiPath((id, n))).await {
        Ok(res) => res,
        Err(e) => {
            e.log_cause();
            (e.status(), e.message()).into_response()
        }
    }
}

/// `GET /console/complaints/{id}/history/{entry_id}/media/{n}`: an image of an entry of the
/// complaint's platform history (the buyer's later images, our replies'), through the admin
/// API's download proxy, its entry id checked as the admin API checks it.
pub async fn history_image(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, entry_id, n)): Path<(String, String, usize)>,
) -> Response {
    let answer = match check_path_param("entry_id", &entry_id) {
        Ok(()) => {
            media::download_history_media(State(state), signed.caller, ApiPath((id, entry_id, n)))
                .await
        }
        Err(what) => Err(ApiError::field("entry_id", what)),
    };
    match answer {
        Ok(res) => res,
        Err(e) => {
            e.log_cause();
            (e.status(), e.message()).into_response()
        }
    }
}
