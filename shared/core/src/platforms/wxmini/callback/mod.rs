//! Mini-program message push and third-party platform events.
//!
//! - `GET /callbacks/wxmini/{appid}`: the URL check (echo `echostr` when the signature holds).
//! - `POST /callbacks/wxmini/{appid}`: pushes of a mini program onboarded by hand (its own Token
//!   and EncodingAESKey).
//! - `POST /callbacks/wxopen/{component_appid}/messages/{appid}`: pushes of an authorised mini
//!   program (the third-party platform's Token and key; the ciphertext names the component).
//! - `POST /callbacks/wxopen/{component_appid}/events`: `component_verify_ticket` (kept in the
//!   token cache) and authorized / updateauthorized / unauthorized (queued for the worker); see
//!   [`wxopen`].
//!
//! The first two are the endpoint family `wxmini`, the last two `wxopen` (one callback
//! function each).
//!
//! Safe and compatible modes (only the decrypted copy is read), XML or JSON. The third-party
//! platform's endpoints accept nothing else. A manual mini program accepts plaintext only when
//! its settings say `allow_plaintext` (unsafe: the signature covers no body): then the
//! timestamp must be within the window (`PLAINTEXT_PUSH_WINDOW_SECS`, default 15 minutes) and a
//! (timestamp, nonce, signature) seen before must carry the same body (see [`replay`]).
//! Encrypted pushes have no window (WeChat retries later). A `complaint_callback` is deduped on
//! complaint id + status + `CreateTime` and durably queued before `success`. Answers:
//! `success`; 401 bad signature, another app's ciphertext, plaintext where
//! encryption is required, a stale plaintext push, or a replayed one with another body; 400
//! malformed (or over the size, depth and element limits) or undecryptable; 404 unknown app;
//! 503 store or queue unavailable.

mod push;
pub mod replay;
mod shared;
mod wxopen;

use crate::callback::CallbackRoute;
use shared::answer;

/// The platform's routes: the manual mini programs' (`wxmini`) and the third-party
/// platform's (`wxopen`).
pub fn routes() -> Vec<CallbackRoute> {
    let malformed = answer(400, "fail");
    vec![
        CallbackRoute::get("/callbacks/wxmini/{appid}", push::UrlCheck),
        CallbackRoute::post("/callbacks/wxmini/{appid}", push::Receive)
            .body_refused(malformed.clone()),
        CallbackRoute::post(
            "/callbacks/wxopen/{component_appid}/messages/{appid}",
            push::ReceiveAuthorised,
        )
        .body_refused(malformed.clone()),
        CallbackRoute::post("/callbacks/wxopen/{component_appid}/events", wxopen::Events)
            .body_refused(malformed),
    ]
}
