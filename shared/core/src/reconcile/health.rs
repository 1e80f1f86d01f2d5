//! An account's health: last push received, last reconciliation and its outcome, complaints
//! found only by reconciliation, platform errors and 429s, callback URLs.
