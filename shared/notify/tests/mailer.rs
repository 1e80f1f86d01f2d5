//! The mailer keeps SMTP connections: a burst of mails to one server goes over one logged-in
//! connection (checked with NOOP before reuse), where a one-shot send opens one per mail. The
//! server is a small real SMTP server on a loopback port that counts connections and mails.

use domain::notification::NotificationSummary;
use notify::email::{Mailer, Security, SmtpConfig};
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[path = "support/smtp_sink.rs"]
mod smtp_sink;
use smtp_sink::{Counts, serve};

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: "desk@example.com".into(),
        password: None,
        sender: "desk@example.com".into(),
        extra_roots_pem: None,
    }
}

fn notice(n: usize) -> NotificationSummary {
    NotificationSummary {
        platform: "wechatpay".into(),
        event: "new complaint".into(),
        merchant: "门店".into(),
        reference: format!("20020182026112600000000{n:04}"),
        at: chrono::Utc::now(),
        amount_fen: Some(990),
        user_text: None,
        deadline: None,
        link: None,
        extra_lines: vec![],
    }
}

#[tokio::test]
async fn a_burst_of_mails_reuses_one_connection() {
    let counts = Arc::new(Counts::default());
    let port = serve(counts.clone()).await;
    let cfg = config(port);
    let to = vec!["staff@example.com".to_string()];
    let mailer = Mailer::new();
    for n in 0..5 {
        mailer.send(&cfg, &to, &notice(n)).await.expect("send");
        // The connection goes back to the pool on a background task: let it run (a yield,
        // not a wait).
        tokio::task::yield_now().await;
    }
    assert_eq!(counts.mails.load(Ordering::SeqCst), 5);
    assert_eq!(
        counts.connections.load(Ordering::SeqCst),
        1,
        "one kept connection for five mails"
    );

    // A one-shot send opens (and closes) its own connection each time.
    for n in 0..2 {
        notify::email::send(&cfg, &to, &notice(10 + n))
            .await
            .expect("send");
    }
    assert_eq!(counts.mails.load(Ordering::SeqCst), 7);
    assert_eq!(counts.connections.load(Ordering::SeqCst), 3);
}
