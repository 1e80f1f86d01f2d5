//! `POST /admin/v1/complaints/{id}/{action}`: the one handler of every staff action on a
//! complaint, whatever its platform. The routes are the actions the registered platforms offer
//! ([`offered`]); each request is checked in one order: the complaint (404, also outside the
//! caller's scope), then whether its platform has the action (409 naming the ones it has, from
//! the platform's own list), then the body (400 naming the field, by the platform's own type),
//! and the platform's answer (502 when it refuses, 409 when the complaint's state does not
//! allow it, 429 over the rate-limit budget).

use crate::ApiError;
use crate::caller::Caller;
use crate::http::JsonBytes;
use crate::state::AppState;
use axum::Json;
use desk_core::platform::Platforms;
use desk_core::staff_actions::{ActionAnswer, ActionBody, Staff, no_such_action, visible};
use serde_json::Value;

/// The action names the registered platforms offer, each once, in the order they are first
/// registered: one route each.
pub fn offered(platforms: &Platforms) -> Vec<&'static str> {
    let mut names = Vec::new();
    for p in platforms.iter() {
        for a in p.staff_actions().actions() {
            if !names.contains(&a.name) {
                names.push(a.name);
            }
        }
    }
    names
}

/// Who the caller is, for the core.
pub fn staff(caller: &Caller) -> Staff {
    Staff {
        token_id: caller.token_id.clone(),
        scope: caller.scope.clone(),
    }
}

/// Run `action` on complaint `id` through its platform.
#[tracing::instrument(skip_all, fields(complaint_id = %id, action = %action))]
pub async fn act(
    state: AppState,
    caller: Caller,
    id: String,
    action: &'static str,
    body: JsonBytes,
) -> Result<Json<ActionAnswer>, ApiError> {
    let staff = staff(&caller);
    let complaint = visible(&state, &staff.scope, &id).await?;
    let platform = state.platforms().get(complaint.platform).ok_or_else(|| {
        ApiError::Conflict(format!(
            "this desk does not serve {} complaints",
            complaint.platform.as_str()
        ))
    })?;
    let actions = platform.staff_actions();
    let offered = actions.actions();
    let Some(spec) = offered.iter().find(|a| a.name == action) else {
        return Err(no_such_action(complaint.platform.as_str(), action, &offered).into());
    };
    // Not JSON, or not an object: 400 `invalid_json` (an empty body too, unless the action's
    // body is optional).
    let value: Option<Value> = if spec.body_required {
        Some(body.parse()?)
    } else {
        body.parse_or_default()?
    };
    let answer = actions
        .run(&state, &staff, &complaint, action, ActionBody::new(value))
        .await?;
    Ok(Json(answer))
}
