//! Pages of a list: the `?limit=&cursor=` parameters every list route takes and the page it
//! answers.

use crate::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The most items a page holds (`limit`).
pub const PAGE_LIMIT_MAX: u32 = 200;
/// Items a page holds when `limit` is not given.
pub const PAGE_LIMIT_DEFAULT: u32 = 50;

/// `?limit=&cursor=` on list routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    #[serde(default, deserialize_with = "crate::extract::empty_as_none")]
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(PAGE_LIMIT_DEFAULT),
            Some(n) if (1..=PAGE_LIMIT_MAX).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::field("limit", "must be 1 to 200")),
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
