//! The routes staff call on an account that a platform brings (`/accounts/{id}/{name}`: WeChat
//! Pay's callback registration, a mini program's trade score), written once for every
//! platform the way complaint actions are ([`crate::staff_actions`]): what a route is
//! ([`AccountAction`]: its path segment, method, the account kinds it serves, its summary and
//! the schemas of its body and answer), what it answers ([`AccountAnswer`]) and the trait a
//! platform implements ([`AccountActions`]). The admin API mounts and documents the registered
//! platforms' routes and dispatches by the account's kind; nothing here knows a platform.

use crate::Error;
use crate::staff_actions::{ActionBody, SchemaOf, Staff};
use crate::state::Services;
use async_trait::async_trait;
use domain::account::{Account, AccountKind};
use serde::Serialize;
use serde_json::Value;

/// The HTTP method of an account route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    /// Lower case, as the OpenAPI document writes it (`get`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Delete => "delete",
        }
    }
}

/// One route a platform offers on (some of) its accounts.
#[derive(Debug, Clone)]
pub struct AccountAction {
    /// The path segment (`trade-score`): `/accounts/{id}/{name}`.
    pub name: &'static str,
    pub method: Method,
    /// The operation's id in the document (`trade_score`); unique in the document.
    pub operation_id: &'static str,
    /// The account kinds it serves (of its platform).
    pub kinds: Vec<AccountKind>,
    /// One line for the document, if any.
    pub summary: Option<&'static str>,
    /// How the document describes the `id` path parameter, if it says more than its name.
    pub id_description: Option<&'static str>,
    /// The request body (a JSON object), if it takes one.
    pub body: Option<SchemaOf>,
    /// Its query parameters, as the properties of one object schema, if it reads any.
    pub query: Option<SchemaOf>,
    /// The answer of a success; none: 204 without content.
    pub answer: Option<SchemaOf>,
    /// What the document says of a success, if more than its schema.
    pub answer_description: Option<&'static str>,
    /// Whether the route calls the platform, taking its calls from the shared rate-limit
    /// budgets (`staff_actions::take_budget`), so it may answer 429 (over budget, or the
    /// platform throttles). The document's 429 answers follow it. Yes unless the route says
    /// otherwise ([`AccountAction::spends_no_budget`]).
    pub spends_budget: bool,
}

impl AccountAction {
    /// A route without a body that answers 204 and calls the platform
    /// ([`AccountAction::spends_budget`]).
    pub fn new(
        name: &'static str,
        method: Method,
        operation_id: &'static str,
        kinds: &[AccountKind],
    ) -> Self {
        Self {
            name,
            method,
            operation_id,
            kinds: kinds.to_vec(),
            summary: None,
            id_description: None,
            body: None,
            query: None,
            answer: None,
            answer_description: None,
            spends_budget: true,
        }
    }

    /// The route calls no platform (it never answers 429).
    pub fn spends_no_budget(mut self) -> Self {
        self.spends_budget = false;
        self
    }

    /// Its success answers `A` (200).
    pub fn answered_with<A: utoipa::ToSchema>(mut self) -> Self {
        self.answer = Some(SchemaOf::of::<A>());
        self
    }

    /// Its request body is `B` (required).
    pub fn with_body<B: utoipa::ToSchema>(mut self) -> Self {
        self.body = Some(SchemaOf::of::<B>());
        self
    }

    /// Its query parameters are the properties of `Q` (read with
    /// [`crate::staff_actions::ActionBody::query`]).
    pub fn with_query<Q: utoipa::ToSchema>(mut self) -> Self {
        self.query = Some(SchemaOf::of::<Q>());
        self
    }

    pub fn summary(mut self, summary: &'static str) -> Self {
        self.summary = Some(summary);
        self
    }

    pub fn id_described(mut self, description: &'static str) -> Self {
        self.id_description = Some(description);
        self
    }

    pub fn answer_described(mut self, description: &'static str) -> Self {
        self.answer_description = Some(description);
        self
    }

    /// Whether it serves accounts of `kind`.
    pub fn serves(&self, kind: AccountKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// What an account route answers on success.
#[derive(Debug)]
pub enum AccountAnswer {
    /// 200 with this JSON (of the route's answer schema).
    Json(Value),
    /// 204 without content.
    NoContent,
}

impl AccountAnswer {
    /// 200 with `answer` (of the route's answer type).
    pub fn json<T: Serialize>(answer: &T) -> Result<Self, Error> {
        serde_json::to_value(answer)
            .map(AccountAnswer::Json)
            .map_err(Error::internal)
    }
}

/// A platform's account routes: the list it offers and how each is run.
#[async_trait]
pub trait AccountActions: Send + Sync {
    fn actions(&self) -> Vec<AccountAction>;

    /// Run `action` (one of [`AccountActions::actions`] that serves the account's kind) on
    /// `account`, which the caller may see. Body errors are [`Error::Invalid`] naming the
    /// field; the platform's refusals [`Error::Platform`]; what the stored state lacks
    /// [`Error::Conflict`]; over budget [`Error::RateLimited`], before anything is sent.
    async fn run(
        &self,
        services: &Services,
        staff: &Staff,
        account: &Account,
        action: &AccountAction,
        body: ActionBody,
    ) -> Result<AccountAnswer, Error>;
}

/// The account routes of a platform that offers none (the default of
/// [`crate::platform::Platform::account_actions`]).
pub struct NoAccountActions;

#[async_trait]
impl AccountActions for NoAccountActions {
    fn actions(&self) -> Vec<AccountAction> {
        Vec::new()
    }

    async fn run(
        &self,
        _services: &Services,
        _staff: &Staff,
        account: &Account,
        action: &AccountAction,
        _body: ActionBody,
    ) -> Result<AccountAnswer, Error> {
        Err(no_such_route(
            account.kind(),
            action.method,
            action.name,
            &[],
        ))
    }
}

/// The one answer to a route the account's kind lacks: which routes it has, from its
/// platform's own list (those that serve the kind).
pub fn no_such_route(
    kind: AccountKind,
    method: Method,
    name: &str,
    offered: &[AccountAction],
) -> Error {
    let mut names: Vec<String> = Vec::new();
    for a in offered.iter().filter(|a| a.serves(kind)) {
        let n = format!("{} {}", a.method.as_str().to_uppercase(), a.name);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let list = match names.split_last() {
        None => " (it has no account routes)".to_string(),
        Some((last, [])) => format!(": use {last}"),
        Some((last, rest)) => format!(": use {} and {last}", rest.join(", ")),
    };
    Error::Conflict(format!(
        "{kind} accounts have no {} {name}{list}",
        method.as_str().to_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: AccountKind = AccountKind::new("toy_shop");
    const OTHER: AccountKind = AccountKind::new("toy_other");

    #[test]
    fn the_conflict_names_the_routes_of_the_accounts_kind() {
        let offered = [
            AccountAction::new("score", Method::Get, "score", &[SHOP]),
            AccountAction::new("hook", Method::Post, "hook", &[SHOP, OTHER]),
            AccountAction::new("hook", Method::Delete, "unhook", &[SHOP, OTHER]),
        ];
        assert_eq!(
            no_such_route(SHOP, Method::Post, "score", &offered).to_string(),
            "toy_shop accounts have no POST score: use GET score, POST hook and DELETE hook"
        );
        assert_eq!(
            no_such_route(OTHER, Method::Get, "score", &offered[..2]).to_string(),
            "toy_other accounts have no GET score: use POST hook"
        );
        assert_eq!(
            no_such_route(OTHER, Method::Get, "score", &[]).to_string(),
            "toy_other accounts have no GET score (it has no account routes)"
        );
    }
}
