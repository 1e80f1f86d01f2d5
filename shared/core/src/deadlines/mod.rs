//! Complaint deadlines over time: the account's deadline sweep (reminders, escalation) and,
//! once a day, its daily pass (the platform's daily work and the digest).

pub mod daily;
pub mod digest;
