//! Alipay jobs: trade complaints (`alipay.merchant.tradecomplain.*`) and RiskGO consumer
//! complaints (`alipay.security.risk.complaint.*`).
//!
//! A complaint message: query the complaint, then hand it to the automatic handling (recorded
//! with yuan strings converted exactly to fen, told to staff; if the app is enabled and the
//! complaint waits for the merchant, acted on with this platform's operations, see
//! [`super::auto`]: reply once with the app's text (the platform's reply list is the truth),
//! refund under the cap, finish with the refund code).

use super::auto::Ops;
use super::complaint::{Family, api_error, record_id, risk_facts, take, trade_facts};
use crate::automatic::{self, Shown, Snapshot, StaffNotice};
use crate::platforms::alipay::limits as op;
use crate::state::Services;
use crate::worker::{JobError, JobHandler, JobRegistry};
use alipay::client::{Client, ClientConfig, KeyMode};
use async_trait::async_trait;
use domain::account::{Account, AccountSettings, AlipayKeyMode, Credentials};
use domain::complaint::{Complaint, OrderRef, Platform};
use domain::job::{JobEnvelope, alipay as jobs};
use domain::notification::Audience;
use std::sync::Arc;

pub fn register(registry: &mut JobRegistry, state: &Services) {
    let h = Arc::new(Handlers {
        state: state.clone(),
    });
    registry.register(
        jobs::TRADE_COMPLAINT.name(),
        Arc::new(Job {
            h: h.clone(),
            family: Family::Trade,
        }),
    );
    registry.register(
        jobs::RISK_COMPLAINT.name(),
        Arc::new(Job {
            h,
            family: Family::Risk,
        }),
    );
}

struct Handlers {
    state: Services,
}

struct Job {
    h: Arc<Handlers>,
    family: Family,
}

/// The Alipay client of an app account, from its settings and credentials.
pub async fn client(state: &Services, account: &Account) -> Result<Client, String> {
    let AccountSettings::AlipayApp(s) = &account.settings else {
        return Err(format!("account {} is not an Alipay app", account.id));
    };
    let Ok(Some(Credentials::Alipay(c))) =
        crate::credentials::load(&*state.ports.secrets, &account.id).await
    else {
        return Err(format!(
            "account {}: Alipay credentials are not set",
            account.id
        ));
    };
    let key = c
        .app_private_key
        .as_ref()
        .and_then(|k| crate::credentials::parse_rsa_private_key(k.expose()))
        .ok_or("app_private_key is missing or unreadable")?;
    let mode = match c.mode {
        Some(AlipayKeyMode::Certificate) => {
            let pem = |f: &Option<domain::Sensitive>, name: &str| {
                f.as_ref()
                    .map(|p| p.expose().to_string())
                    .ok_or(format!("{name} is missing"))
            };
            let app_cert_sn = alipay::cert::first_cert_sn(&pem(&c.app_cert, "app_cert")?)
                .map_err(|e| format!("app_cert: {e}"))?;
            let alipay_root_cert_sn =
                alipay::cert::root_cert_sn(&pem(&c.alipay_root_cert, "alipay_root_cert")?)
                    .map_err(|e| format!("alipay_root_cert: {e}"))?;
            let mut alipay_keys = std::collections::HashMap::new();
            for cert in alipay::cert::certificates(&pem(&c.alipay_cert, "alipay_cert")?)
                .map_err(|e| format!("alipay_cert: {e}"))?
            {
                if let Ok(k) = alipay::cert::public_key(&cert) {
                    alipay_keys.insert(alipay::cert::cert_sn(&cert), k);
                }
            }
            KeyMode::Certificate {
                app_cert_sn,
                alipay_root_cert_sn,
                alipay_keys,
            }
        }
        _ => KeyMode::PublicKey(
            c.alipay_public_key
                .as_ref()
                .and_then(|k| crate::credentials::parse_rsa_public_key(k.expose()))
                .ok_or("alipay_public_key is missing or unreadable")?,
        ),
    };
    Ok(Client::new(ClientConfig {
        gateway: s
            .api_base_url
            .as_deref()
            .unwrap_or(alipay::client::PRODUCTION)
            .parse()
            .map_err(|e| format!("api_base_url: {e}"))?,
        app_id: s.app_id.clone(),
        private_key: key,
        mode,
    }))
}

#[async_trait]
impl JobHandler for Job {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let h = &self.h;
        let account = crate::automatic::job_account(&h.state, job).await?;
        let AccountSettings::AlipayApp(settings) = account.settings.clone() else {
            return Err(JobError::Permanent("not an Alipay app".into()));
        };
        let client = client(&h.state, &account)
            .await
            .map_err(JobError::Permanent)?;
        let message = self.family.kind().payload(job)?;
        let biz = &message.biz;
        let detail = match self.family {
            Family::Trade => {
                let id = biz["complain_event_id"]
                    .as_str()
                    .ok_or_else(|| JobError::Permanent("no complain_event_id".into()))?;
                if !domain::ids::is_platform_id(id) {
                    return Err(JobError::Permanent(
                        "complain_event_id in the message is not an Alipay id (1 to 64 letters, digits, _ or -)".into(),
                    ));
                }
                take(&h.state, op::QUERY, &settings.app_id).await?;
                client.tradecomplain_query(id).await.map_err(api_error)?
            }
            Family::Risk => {
                let id = biz["complaint_id"]
                    .as_i64()
                    .or_else(|| biz["complaint_id"].as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| JobError::Permanent("no complaint_id".into()))?;
                take(&h.state, op::RISK_QUERY, &settings.app_id).await?;
                client.risk_complaint_query(id).await.map_err(api_error)?
            }
        };
        let f = match self.family {
            Family::Trade => trade_facts(&detail),
            Family::Risk => risk_facts(&detail),
        };
        let now = h.state.ports.clock.now();
        let id = record_id(&account.id, self.family, &f.platform_id);
        let family = self.family.as_str();
        let shown = Shown {
            new: Complaint::new(
                id.clone(),
                Platform::Alipay,
                Some(family.into()),
                account.id.clone(),
                f.platform_id.clone(),
                now,
            ),
            fill: Box::new(|c: &mut Complaint| {
                c.raw_status = f.raw_status.clone();
                c.status = f.status;
                c.orders = vec![OrderRef {
                    transaction_id: Some(f.trade_no.clone()).filter(|s| !s.is_empty()),
                    out_trade_no: f.out_trade_no.clone(),
                    amount_fen: f.amount_fen,
                }];
                c.complaint_amount_fen = f.amount_fen;
                c.description = f.description.clone();
                c.complained_at = f.complained_at;
                // Re-read every time: the deadline rules read it (see `super::deadlines`).
                c.platform_due_at = f.due_at;
                c.replied |= f.replied;
                c.completed |= f.finished;
            }),
            history: Box::new(|_: &Complaint| Vec::new()),
            now,
        };
        let notice = StaffNotice {
            // What happened to the complaint (new; the status it moved to, our own finishing
            // counting as the status it finished from; a new entry by the buyer or the
            // platform), never the notify_id: the same change notified again, or found by
            // reconciliation and then pushed, is told once.
            event_key: if f.is_new() {
                format!("alipay:{id}:new")
            } else {
                format!("alipay:{id}:{}:{}", f.told_status(), f.others_wrote)
            },
            event: if f.is_new() {
                "new complaint".into()
            } else {
                "complaint updated".into()
            },
            merchant: account.name.clone(),
            user_text: f.description.clone(),
            audiences: account
                .enabled
                .then(|| Audience {
                    account_id: account.id.clone(),
                    sub_mchid: None,
                })
                .into_iter()
                .collect(),
        };
        let ops = (account.enabled && f.waiting_for_merchant).then(|| Ops {
            state: &h.state,
            client: &client,
            settings: &settings,
            account_id: &account.id,
            family: self.family,
            facts: &f,
        });
        automatic::handle(
            &h.state,
            &job.id,
            Snapshot {
                shown,
                notice: Some(notice),
                ops,
            },
        )
        .await
    }
}
