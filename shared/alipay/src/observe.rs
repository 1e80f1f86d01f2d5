//! Who hears of every call this crate makes to Alipay's gateway (the desk counts them by
//! method and outcome): the gateway method (`alipay.merchant.tradecomplain.query`) and how
//! the call ended. One observer per process, set once; without one, nothing is told.

use crate::client::AlipayError;
use std::sync::OnceLock;

/// Told of each call: the gateway method and its result.
pub type CallObserver = fn(method: &str, result: Result<(), &AlipayError>);

static OBSERVER: OnceLock<CallObserver> = OnceLock::new();

/// Set the process's observer (the first one set stays).
pub fn set_call_observer(observer: CallObserver) {
    let _ = OBSERVER.set(observer);
}

/// Tell the observer of a call's result, and hand the result on.
pub(crate) fn observed<T>(method: &str, result: Result<T, AlipayError>) -> Result<T, AlipayError> {
    if let Some(tell) = OBSERVER.get() {
        tell(method, result.as_ref().map(|_| ()));
    }
    result
}
