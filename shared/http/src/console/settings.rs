//! `/console/settings`: where an administrator sets the desk up: accounts and sub-merchants,
//! staff notifications, tokens, and operations (dead letters, the delivery log). An agent or a
//! viewer sees no settings (403, and no link to them).

use super::web::{Chrome, Signed, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    c: Chrome,
}

/// `GET /console/settings`.
pub async fn show(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    let lang = signed.visit.lang;
    render(&SettingsPage {
        c: signed.chrome(&state, lang.t("设置", "Settings").into()),
    })
}
