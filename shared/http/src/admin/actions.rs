//! `POST /admin/v1/complaints/{id}/{action}`: the one handler of every staff action on a
//! complaint, whatever its platform. The routes are the actions the registered platforms offer
//! ([`offered`]); each request is checked in one order: the complaint (404, also outside the
//! caller's scope), then whether its platform has the action (409 naming the ones it has, from
//! the platform's own list), then the body (400 naming the field, by the platform's own type),
//! and the platform's answer (502 when it refuses, 409 when the complaint's state does not
//! allow it, 429 over the rate-limit budget).
//!
//! The routes platforms bring on accounts (`/accounts/{id}/{name}`) are served the same way, by
//! [`account_act`], dispatched by the account's kind to its platform.

use crate::ApiError;
use crate::caller::Caller;
use crate::http::JsonBytes;
use crate::state::AppState;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use desk_core::account_actions::{AccountAnswer, Method, no_such_route};
use desk_core::platform::Platforms;
use desk_core::repo::AccountRepo;
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
        token_name: caller.token_name.clone(),
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

/// The account routes the registered platforms offer (`/accounts/{id}/{name}`): each name once,
/// in the order first registered, with every method any platform offers on it.
pub fn account_routes(platforms: &Platforms) -> Vec<(&'static str, Vec<Method>)> {
    let mut routes: Vec<(&'static str, Vec<Method>)> = Vec::new();
    for p in platforms.iter() {
        for a in p.account_actions().actions() {
            if !super::path_ids::account_route_allowed(a.name) {
                continue;
            }
            match routes.iter_mut().find(|(n, _)| *n == a.name) {
                Some((_, methods)) if !methods.contains(&a.method) => methods.push(a.method),
                Some(_) => {}
                None => routes.push((a.name, vec![a.method])),
            }
        }
    }
    routes
}

/// Run the account route `name` (`method`) on account `id` through the platform of its kind.
/// Checked in one order: the account (404, also outside the caller's scope), whether its
/// kind has the route (409 naming those it has, from its platform's own list), the body (400
/// naming the field, only for a route that takes one), and the platform's answer.
#[tracing::instrument(skip_all, fields(account_id = %id, route = %name))]
pub async fn account_act(
    state: AppState,
    caller: Caller,
    id: String,
    (name, method): (&'static str, Method),
    body: Result<JsonBytes, ApiError>,
    query: Option<String>,
) -> Result<Response, ApiError> {
    caller.require_account(&id)?;
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {id} not found")))?;
    let kind = account.kind();
    let platforms = state.platforms();
    let platform = platforms
        .account_kind(kind)
        .and_then(|k| platforms.get(k.facts.platform))
        .ok_or_else(|| ApiError::Conflict(format!("this desk does not serve {kind} accounts")))?;
    let actions = platform.account_actions();
    let offered = actions.actions();
    let Some(spec) = offered
        .iter()
        .find(|a| a.name == name && a.method == method && a.serves(kind))
    else {
        return Err(no_such_route(kind, method, name, &offered).into());
    };
    // A route without a body ignores whatever was sent.
    let value: Option<Value> = match spec.body {
        Some(_) => Some(body?.parse()?),
        None => None,
    };
    let answer = actions
        .run(
            &state,
            &staff(&caller),
            &account,
            spec,
            ActionBody::new(value).with_query(query),
        )
        .await?;
    Ok(match answer {
        AccountAnswer::Json(v) => Json(v).into_response(),
        AccountAnswer::NoContent => StatusCode::NO_CONTENT.into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use desk_core::account_actions::{AccountAction, AccountActions};
    use desk_core::platform::Platform;
    use domain::account::{Account, AccountKind};

    const KIND: AccountKind = AccountKind::new("test_shop");

    struct Test;

    #[async_trait]
    impl AccountActions for Test {
        fn actions(&self) -> Vec<AccountAction> {
            vec![
                AccountAction::new("credentials", Method::Get, "test_credentials", &[KIND]),
                AccountAction::new("extra", Method::Get, "test_extra", &[KIND]),
                AccountAction::new("extra", Method::Delete, "test_unextra", &[KIND]),
            ]
        }

        async fn run(
            &self,
            _services: &desk_core::Services,
            _staff: &Staff,
            _account: &Account,
            _action: &AccountAction,
            _body: ActionBody,
        ) -> Result<AccountAnswer, desk_core::Error> {
            Ok(AccountAnswer::NoContent)
        }
    }

    impl Platform for Test {
        fn name(&self) -> domain::complaint::Platform {
            domain::complaint::Platform::new("test")
        }

        fn register_jobs(
            &self,
            _jobs: &mut desk_core::worker::JobRegistry,
            _services: &desk_core::Services,
        ) {
        }

        fn account_actions(&self) -> &dyn AccountActions {
            self
        }
    }

    #[test]
    fn a_platform_cannot_take_the_name_of_one_of_the_desks_own_account_routes() {
        let platforms = Platforms::new().with(Test);
        assert_eq!(
            account_routes(&platforms),
            vec![("extra", vec![Method::Get, Method::Delete])]
        );
        let mut doc = serde_json::json!({"paths": {}, "components": {"schemas": {}}});
        super::super::action_document::add_account_actions(&mut doc, &platforms);
        let paths: Vec<&String> = doc["paths"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        assert_eq!(paths, ["/admin/v1/accounts/{id}/extra"]);
    }
}
