//! One function per fuzz target, each driving the entry points the server uses on untrusted
//! input and asserting what must hold for any input (a panic is a finding):
//!
//! - [`xml_reader`]: message bodies as XML or JSON within the size, depth and element bounds.
//! - [`wxmsg_plaintext`], [`wxmsg_compatible`], [`wxmsg_safe`]: opening a message push in each
//!   mode, from the raw wire and from messages signed and encrypted with the test keys here.
//! - [`wechatpay_notify`]: a WeChat Pay notification through signature verification, envelope
//!   parsing, AES-GCM decryption and the resource models.
//! - [`alipay_notify`]: an Alipay message's form body and its signature.
//! - [`alipay_response`]: the raw `*_response` extraction and verification of gateway answers.
//! - [`admin_json`]: the admin API's JSON bodies through the extractor and the checks the
//!   handlers make.
//!
//! The first byte of an input picks a mode where a target has several: the raw wire bytes, or
//! the rest of the input as the content that the target signs or encrypts with its test key
//! first, so the parsers behind the cryptography are fuzzed too. The keys are test keys made
//! for this crate; nothing here is a real credential.

mod admin;
mod alipay_targets;
mod input;
mod keys;
mod wechatpay_targets;
mod wxmsg;
mod xml;

pub use admin::admin_json;
pub use alipay_targets::{alipay_notify, alipay_response};
pub use wechatpay_targets::wechatpay_notify;
pub use wxmsg::{wxmsg_compatible, wxmsg_plaintext, wxmsg_safe};
pub use xml::xml_reader;

/// A fuzz target: any bytes in, a panic when something that must hold does not.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("xml_reader", xml_reader),
    ("wxmsg_plaintext", wxmsg_plaintext),
    ("wxmsg_compatible", wxmsg_compatible),
    ("wxmsg_safe", wxmsg_safe),
    ("wechatpay_notify", wechatpay_notify),
    ("alipay_notify", alipay_notify),
    ("alipay_response", alipay_response),
    ("admin_json", admin_json),
];
