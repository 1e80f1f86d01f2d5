//! Who hears of every call this crate makes to WeChat Pay (the desk counts them by API and
//! outcome): the API's fixed name and how the call ended. One observer per process, set once;
//! without one, nothing is told.

use crate::error::PlatformError;
use reqwest::Method;
use std::sync::OnceLock;

/// Told of each call: the API's fixed name ([`operation`]) and its result.
pub type CallObserver = fn(operation: &'static str, result: Result<(), &PlatformError>);

static OBSERVER: OnceLock<CallObserver> = OnceLock::new();

/// Set the process's observer (the first one set stays).
pub fn set_call_observer(observer: CallObserver) {
    let _ = OBSERVER.set(observer);
}

/// Tell the observer of a call's result, and hand the result on.
pub(crate) fn observed<T>(
    operation: &'static str,
    result: Result<T, PlatformError>,
) -> Result<T, PlatformError> {
    if let Some(tell) = OBSERVER.get() {
        tell(operation, result.as_ref().map(|_| ()));
    }
    result
}

/// The fixed name of the API a request goes to (no id, no query): `complaint_detail`,
/// `reply`, `refund`, ...; `other` for a path this crate does not call.
pub fn operation(method: &Method, path_and_query: &str) -> &'static str {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let complaints = "/v3/merchant-service/complaints-v2";
    if path == complaints {
        return "complaint_list";
    }
    if let Some(rest) = path
        .strip_prefix(complaints)
        .and_then(|r| r.strip_prefix('/'))
    {
        return match rest.split_once('/').map(|(_, tail)| tail) {
            None => "complaint_detail",
            Some("negotiation-historys") => "negotiation_history",
            Some("response") => "reply",
            Some("response-immediate-service") => "respond_immediate",
            Some("complete") => "complete",
            Some("update-refund-progress") => "update_refund_progress",
            Some(_) => "other",
        };
    }
    match path {
        "/v3/refund/domestic/refunds" => "refund",
        p if p.starts_with("/v3/refund/domestic/refunds/") => "refund_query",
        "/v3/merchant-service/complaint-notifications"
        | "/v3/merchant-risk-manage/violation-notifications" => {
            if method == Method::GET {
                "notification_url_get"
            } else {
                "notification_url_set"
            }
        }
        "/v3/certificates" => "certificates",
        "/v3/merchant-service/images/upload" => "image_upload",
        p if p.starts_with("/v3/merchant-service/images/") => "image_download",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_has_one_name_whatever_its_ids() {
        let cases = [
            (
                Method::GET,
                "/v3/merchant-service/complaints-v2?limit=50&offset=0",
                "complaint_list",
            ),
            (
                Method::GET,
                "/v3/merchant-service/complaints-v2/200000020221020220032",
                "complaint_detail",
            ),
            (
                Method::GET,
                "/v3/merchant-service/complaints-v2/2000/negotiation-historys?limit=300",
                "negotiation_history",
            ),
            (
                Method::POST,
                "/v3/merchant-service/complaints-v2/2000/response",
                "reply",
            ),
            (
                Method::POST,
                "/v3/merchant-service/complaints-v2/2000/complete",
                "complete",
            ),
            (Method::POST, "/v3/refund/domestic/refunds", "refund"),
            (
                Method::GET,
                "/v3/refund/domestic/refunds/R1?sub_mchid=1",
                "refund_query",
            ),
            (
                Method::PUT,
                "/v3/merchant-service/complaint-notifications",
                "notification_url_set",
            ),
            (
                Method::GET,
                "/v3/merchant-service/images/abc",
                "image_download",
            ),
            (Method::GET, "/v3/somewhere-else", "other"),
        ];
        for (method, path, name) in cases {
            assert_eq!(operation(&method, path), name, "{path}");
        }
    }
}
