//! Where a staff notice points: a page of the staff console under `CONSOLE_BASE_URL` (which
//! defaults to `PUBLIC_BASE_URL`; see [`Services::console_url`]). The one
//! place that writes the console's addresses for notices, so every notice (a complaint's, a
//! digest, an account alert, a violation) and every channel (the SMS link variable included)
//! follows the same scheme:
//!
//! - a complaint: `console/complaints/{id}` (our complaint id, as in the admin API);
//! - several complaints or an account: the inbox with its filters,
//!   `console/?account={id}&sub_mchid={sub}&due=overdue|soon`;
//! - a violation notice: the account's violations page,
//!   `console/violations?account={id}&sub_mchid={sub}`.
//!
//! Ids are percent-encoded; a complaint id that is not a plain id gets no link at all (nothing
//! from outside reaches a URL path unchecked). Without either base URL, or with
//! `CONSOLE_BASE_URL=off`, there is no link.

use crate::state::Services;
use chrono::{DateTime, Duration, Utc};

/// The inbox, unfiltered: what an SMS link variable falls back to.
pub const INBOX: &str = "console/";

/// "Due soon": a deadline not passed yet and due within this long. The inbox's `due=soon`
/// lists exactly these, and a notice offers a `due=soon` link only when it counts one.
pub const DUE_SOON: Duration = Duration::hours(24);

/// Is a complaint whose next deadline is `next_due_at` due soon at `now` ([`DUE_SOON`]: due at
/// or after `now` and at or before `now + DUE_SOON`, as the inbox's `due=soon` lists)?
pub fn due_soon(now: DateTime<Utc>, next_due_at: Option<DateTime<Utc>>) -> bool {
    next_due_at.is_some_and(|d| now <= d && d <= now + DUE_SOON)
}

/// The inbox's deadline filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Something is due soon: within [`DUE_SOON`].
    Soon,
    /// A deadline has passed.
    Overdue,
}

impl Due {
    fn as_str(self) -> &'static str {
        match self {
            Due::Soon => "soon",
            Due::Overdue => "overdue",
        }
    }
}

/// The filters an inbox link carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxFilter<'a> {
    pub account: Option<&'a str>,
    pub sub_mchid: Option<&'a str>,
    pub due: Option<Due>,
}

impl<'a> InboxFilter<'a> {
    /// An account's inbox (a sub-merchant's when `sub_mchid` is given and not empty).
    pub fn account(account: &'a str, sub_mchid: Option<&'a str>) -> Self {
        Self {
            account: Some(account),
            sub_mchid: sub_mchid.filter(|s| !s.is_empty()),
            due: None,
        }
    }

    pub fn due(self, due: Due) -> Self {
        Self {
            due: Some(due),
            ..self
        }
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A complaint's page, relative to the public base; None for an id that is not a plain id.
pub fn complaint_path(complaint_id: &str) -> Option<String> {
    domain::ids::is_platform_id(complaint_id)
        .then(|| format!("console/complaints/{}", encode(complaint_id)))
}

/// The inbox with `filter`, relative to the public base.
pub fn inbox_path(filter: &InboxFilter<'_>) -> String {
    let mut query = Vec::new();
    if let Some(a) = filter.account {
        query.push(format!("account={}", encode(a)));
    }
    if let Some(s) = filter.sub_mchid {
        query.push(format!("sub_mchid={}", encode(s)));
    }
    if let Some(d) = filter.due {
        query.push(format!("due={}", d.as_str()));
    }
    if query.is_empty() {
        INBOX.to_string()
    } else {
        format!("{INBOX}?{}", query.join("&"))
    }
}

/// The violations page of an account (or one of its sub-merchants), relative to the public
/// base: `console/violations?account={id}&sub_mchid={sub}`.
pub fn violations_path(account_id: &str, sub_mchid: Option<&str>) -> String {
    let mut path = format!("console/violations?account={}", encode(account_id));
    if let Some(s) = sub_mchid.filter(|s| !s.is_empty()) {
        path.push_str(&format!("&sub_mchid={}", encode(s)));
    }
    path
}

/// The full address of an account's (sub-merchant's) violations page; None without a console
/// base.
pub fn violations(
    services: &Services,
    account_id: &str,
    sub_mchid: Option<&str>,
) -> Option<String> {
    services.console_url(&violations_path(account_id, sub_mchid))
}

/// The full address of a complaint's page; None without a console base
/// ([`Services::console_url`]).
pub fn complaint(services: &Services, complaint_id: &str) -> Option<String> {
    complaint_path(complaint_id).and_then(|p| services.console_url(&p))
}

/// The full address of the inbox with `filter`; None without a console base.
pub fn inbox(services: &Services, filter: &InboxFilter<'_>) -> Option<String> {
    services.console_url(&inbox_path(filter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ConsoleBase;

    fn services(base: Option<&str>) -> (tempfile::TempDir, Services) {
        let dir = tempfile::tempdir().expect("dir");
        let s = crate::test_support::embedded_services(&dir)
            .with_public_base_url(base.map(|b| b.parse().expect("url")));
        (dir, s)
    }

    #[test]
    fn a_complaint_links_to_its_console_page() {
        let (_d, s) = services(Some("https://desk.example.com/"));
        assert_eq!(
            complaint(&s, "cmp_0123456789abcdef01234567").as_deref(),
            Some("https://desk.example.com/console/complaints/cmp_0123456789abcdef01234567")
        );
        for bad in ["..", "a/b", "a b", "", "cmp_%2e"] {
            assert_eq!(complaint(&s, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_inbox_link_carries_its_filters_encoded() {
        let (_d, s) = services(Some("https://desk.example.com/desk/"));
        assert_eq!(
            inbox(&s, &InboxFilter::account("acc_1", None)).as_deref(),
            Some("https://desk.example.com/desk/console/?account=acc_1")
        );
        assert_eq!(
            inbox(
                &s,
                &InboxFilter::account("acc 1&x=y", Some("1900000201")).due(Due::Overdue)
            )
            .as_deref(),
            Some(
                "https://desk.example.com/desk/console/?account=acc%201%26x%3Dy&sub_mchid=1900000201&due=overdue"
            )
        );
        assert_eq!(
            inbox_path(&InboxFilter::account("acc_1", Some("")).due(Due::Soon)),
            "console/?account=acc_1&due=soon",
            "an empty sub-merchant is no filter"
        );
        assert_eq!(inbox_path(&InboxFilter::default()), "console/");
    }

    #[test]
    fn a_violation_links_to_the_violations_page_of_its_account() {
        let (_d, s) = services(Some("https://desk.example.com/"));
        assert_eq!(
            violations(&s, "acc 1&x", Some("1900000201")).as_deref(),
            Some(
                "https://desk.example.com/console/violations?account=acc%201%26x&sub_mchid=1900000201"
            )
        );
        assert_eq!(
            violations_path("acc_1", Some("")),
            "console/violations?account=acc_1"
        );
        let (_d, none) = services(None);
        assert_eq!(violations(&none, "acc_1", None), None);
    }

    #[test]
    fn due_soon_is_a_deadline_ahead_within_the_window() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2030, 3, 1, 2, 0, 0)
            .single()
            .expect("time");
        assert!(due_soon(now, Some(now)));
        assert!(due_soon(now, Some(now + DUE_SOON)));
        assert!(!due_soon(
            now,
            Some(now + DUE_SOON + Duration::milliseconds(1))
        ));
        assert!(!due_soon(now, Some(now + Duration::hours(40))));
        assert!(
            !due_soon(now, Some(now - Duration::milliseconds(1))),
            "overdue"
        );
        assert!(!due_soon(now, None));
    }

    #[test]
    fn console_links_are_under_the_console_base_and_callbacks_stay_public() {
        let (_d, s) = services(Some("https://desk.example.com/"));
        // A REST API stage given without its final `/`: the stage stays in every link.
        let s = s.with_console_base(
            "https://a1b2c3.execute-api.ap-east-1.amazonaws.com/prod"
                .parse()
                .expect("url"),
        );
        let console = "https://a1b2c3.execute-api.ap-east-1.amazonaws.com/prod/";
        assert_eq!(
            complaint(&s, "cmp_1").as_deref(),
            Some(format!("{console}console/complaints/cmp_1").as_str())
        );
        assert_eq!(
            inbox(&s, &InboxFilter::default()).as_deref(),
            Some(format!("{console}console/").as_str())
        );
        assert_eq!(
            violations(&s, "acc_1", None).as_deref(),
            Some(format!("{console}console/violations?account=acc_1").as_str())
        );
        assert_eq!(s.console_url("").as_deref(), Some(console));
        assert_eq!(
            s.public_url("callbacks/wechatpay/1900000109/refunds")
                .as_deref(),
            Some("https://desk.example.com/callbacks/wechatpay/1900000109/refunds"),
            "what the platforms call stays under PUBLIC_BASE_URL"
        );
        // Only a console base: links without a public base.
        let (_d, s) = services(None);
        let s = s.with_console_base(console.parse().expect("url"));
        assert_eq!(
            complaint(&s, "cmp_1").as_deref(),
            Some(format!("{console}console/complaints/cmp_1").as_str())
        );
        assert_eq!(s.public_url("callbacks/x"), None);
    }

    #[test]
    fn no_public_base_url_no_link() {
        let (_d, s) = services(None);
        assert_eq!(complaint(&s, "cmp_1"), None);
        assert_eq!(inbox(&s, &InboxFilter::account("acc_1", None)), None);
    }

    #[test]
    fn every_link_starts_with_the_base_an_sms_template_holds() {
        // The SMS link variable carries what follows `console_url("")`. A base with a path
        // but no final `/` is the folder it names, whichever variable gives it.
        for (base, folder) in [
            ("https://desk.example.com/", "https://desk.example.com/"),
            (
                "https://desk.example.com/desk/",
                "https://desk.example.com/desk/",
            ),
            (
                "https://desk.example.com/desk",
                "https://desk.example.com/desk/",
            ),
        ] {
            let (_d, public) = services(Some(base));
            let (_d2, own) = services(None);
            let own = own.with_console_base(base.parse().expect("a console base"));
            for s in [public, own] {
                let prefix = s.console_url("").expect("base");
                assert_eq!(prefix, folder, "{base}");
                let link = complaint(&s, "cmp_1").expect("link");
                assert_eq!(
                    link.strip_prefix(&prefix),
                    Some("console/complaints/cmp_1"),
                    "{base}"
                );
            }
        }
    }

    /// What the platforms are given stays under a public base's path as well (the callback
    /// URLs a proxy under `/desk/` forwards, the authorisation pages).
    #[test]
    fn a_public_base_with_a_path_keeps_it_in_every_address() {
        let (_d, s) = services(Some("https://host.example.com/desk"));
        assert_eq!(
            s.public_url("callbacks/wechatpay/1900000109/refunds")
                .as_deref(),
            Some("https://host.example.com/desk/callbacks/wechatpay/1900000109/refunds")
        );
        assert_eq!(
            inbox(&s, &InboxFilter::account("acc_1", None)).as_deref(),
            Some("https://host.example.com/desk/console/?account=acc_1")
        );
        let base = s.public_base_url.as_ref().expect("base");
        assert_eq!(
            crate::platforms::wxmini::pages::launch_url(base, "wx0123456789abcdef")
                .expect("url")
                .as_str(),
            "https://host.example.com/desk/wxopen/wx0123456789abcdef/authorize"
        );
    }

    /// `CONSOLE_BASE_URL=off`: no console link in any notice (the console is at no address a
    /// notice can name), while what the platforms call stays under `PUBLIC_BASE_URL`.
    #[test]
    fn console_links_off_gives_no_link_and_keeps_the_public_addresses() {
        let (_d, s) = services(Some("https://desk.example.com/"));
        let s = s.with_console_base("off".parse().expect("off"));
        assert_eq!(s.console_base, ConsoleBase::Off);
        assert_eq!(complaint(&s, "cmp_1"), None);
        assert_eq!(inbox(&s, &InboxFilter::default()), None);
        assert_eq!(violations(&s, "acc_1", None), None);
        assert_eq!(s.console_url(""), None);
        assert_eq!(
            s.public_url("callbacks/x").as_deref(),
            Some("https://desk.example.com/callbacks/x")
        );
        assert_eq!("OFF".parse::<ConsoleBase>().ok(), Some(ConsoleBase::Off));
        assert_eq!("".parse::<ConsoleBase>().ok(), Some(ConsoleBase::Public));
        let error = "admin.example.com"
            .parse::<ConsoleBase>()
            .expect_err("not a URL");
        assert!(error.to_string().contains("`off`"), "{error}");
    }
}
