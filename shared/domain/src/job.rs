//! The job envelope that flows between functions through the queues, and the kinds of job it
//! carries: each kind is a [`JobKind`] constant naming the job type, defined once next to the
//! payload type that the producer writes and the consumer reads ([`wechatpay`], [`alipay`],
//! [`wxmini`], [`wxopen`], [`notify`], [`deadlines`]).
//!
//! The wire format is the envelope below with the payload serialised as a JSON object: jobs
//! written by an earlier version (queued or dead-lettered) parse into today's payload types.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

pub mod alipay;
pub mod deadlines;
pub mod notify;
pub mod reconcile;
pub mod wechatpay;
pub mod wxmini;
pub mod wxopen;

/// Queue names. Adapters map them to SQS queue URLs or embedded queue names.
pub mod queues {
    /// Platform events for the worker.
    pub const EVENTS: &str = "events";
    /// Notification jobs for the notifier.
    pub const NOTIFY: &str = "notify";
    pub const ALL: [&str; 2] = [EVENTS, NOTIFY];
}

/// A unit of work on a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnvelope {
    /// Unique per job (idempotency of the job itself).
    pub id: String,
    /// Selects the handler, e.g. `wechatpay.complaint`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The account the job belongs to (scopes dead-letter visibility).
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub sub_mchid: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Type-specific data. Ids and platform facts, never secrets. Written and read through
    /// the job's [`JobKind`].
    #[serde(default)]
    pub payload: serde_json::Value,
    /// Where a platform event's job came from (a push, or reconciliation finding what a push
    /// missed); None for every other job. The account's health counts by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// Where a platform event's job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A platform's notification, accepted by a callback.
    Push,
    /// A reconciliation pass found what no push told us.
    Reconcile,
}

impl JobEnvelope {
    /// An envelope of any type with an untyped payload. Jobs of our own kinds are built with
    /// [`JobKind::envelope`]; this is for jobs we do not define (tests, other versions).
    pub fn new(
        job_type: impl Into<String>,
        payload: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            job_type: job_type.into(),
            account_id: None,
            sub_mchid: None,
            created_at: now,
            payload,
            origin: None,
        }
    }

    pub fn for_account(mut self, account_id: impl Into<String>, sub_mchid: Option<String>) -> Self {
        self.account_id = Some(account_id.into());
        self.sub_mchid = sub_mchid;
        self
    }
}

/// A kind of job: its type name on the wire and the type of its payload. Producers build the
/// envelope with [`JobKind::envelope`], consumers read the payload with [`JobKind::payload`],
/// and the worker's registry keys its handlers by [`JobKind::name`].
pub struct JobKind<P> {
    name: &'static str,
    payload: PhantomData<fn() -> P>,
}

impl<P> JobKind<P> {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            payload: PhantomData,
        }
    }

    /// The job type on the wire, e.g. `wechatpay.complaint`.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<P: Serialize> JobKind<P> {
    /// A new envelope of this kind carrying `payload` (a fresh job id; no account yet: see
    /// [`JobEnvelope::for_account`]).
    pub fn envelope(&self, payload: &P, now: DateTime<Utc>) -> Result<JobEnvelope, PayloadError> {
        let value = serde_json::to_value(payload).map_err(|source| PayloadError::Unwritable {
            kind: self.name,
            source,
        })?;
        Ok(JobEnvelope::new(self.name, value, now))
    }
}

impl<P: DeserializeOwned> JobKind<P> {
    /// The payload of an envelope of this kind; an error names the kind and the field.
    pub fn payload(&self, envelope: &JobEnvelope) -> Result<P, PayloadError> {
        if envelope.job_type != self.name {
            return Err(PayloadError::WrongKind {
                expected: self.name,
                found: envelope.job_type.clone(),
            });
        }
        serde_path_to_error::deserialize(&envelope.payload).map_err(|e| PayloadError::Invalid {
            kind: self.name,
            path: e.path().to_string(),
            source: e.into_inner(),
        })
    }
}

impl<P> Clone for JobKind<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for JobKind<P> {}

impl<P> fmt::Debug for JobKind<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JobKind").field(&self.name).finish()
    }
}

impl<P> fmt::Display for JobKind<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A payload that does not fit its kind. Trying again cannot help.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The envelope is of another type than the kind asked for.
    #[error("a {found:?} job is not a {expected} job")]
    WrongKind {
        expected: &'static str,
        found: String,
    },
    /// The payload does not parse as the kind's payload type.
    #[error("{kind} payload{}: {source}", at(path))]
    Invalid {
        kind: &'static str,
        /// Where in the payload (`resource.complaint_id`); `.` for the payload itself (a
        /// missing field is named in the message).
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// The payload cannot be written as JSON.
    #[error("{kind} payload cannot be written: {source}")]
    Unwritable {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

fn at(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        format!(" at `{path}`")
    }
}
