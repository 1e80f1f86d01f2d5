//! Who hears of every call this crate makes to a mini program's APIs ([`crate::mini::Mini`];
//! the desk counts them by API and outcome): the API's path (`wxaapi/minishop/
//! complaintOrderDetail`, never a query or a token) and how the call ended. One observer per
//! process, set once; without one, nothing is told.

use crate::error::WechatError;
use std::sync::OnceLock;

/// Told of each call: the API's path and its result.
pub type CallObserver = fn(operation: &'static str, result: Result<(), &WechatError>);

static OBSERVER: OnceLock<CallObserver> = OnceLock::new();

/// Set the process's observer (the first one set stays).
pub fn set_call_observer(observer: CallObserver) {
    let _ = OBSERVER.set(observer);
}

/// Tell the observer of a call's result, and hand the result on.
pub(crate) fn observed<T>(
    operation: &'static str,
    result: Result<T, WechatError>,
) -> Result<T, WechatError> {
    if let Some(tell) = OBSERVER.get() {
        tell(operation, result.as_ref().map(|_| ()));
    }
    result
}
