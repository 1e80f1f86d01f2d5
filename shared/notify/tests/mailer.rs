//! The mailer keeps SMTP connections: a burst of mails to one server goes over one logged-in
//! connection (checked with NOOP before reuse), where a one-shot send opens one per mail. The
//! server is a small real SMTP server on a loopback port that counts connections and mails.

use notify::Notice;
use notify::email::{Mailer, Security, SmtpConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    mails: AtomicUsize,
}

/// Speak enough SMTP for a client without TLS or AUTH: EHLO, MAIL, RCPT, DATA, RSET, NOOP,
/// QUIT.
async fn serve(counts: Arc<Counts>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let counts = counts.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let answer: &[u8] = if in_data {
                        if line == "." {
                            in_data = false;
                            counts.mails.fetch_add(1, Ordering::SeqCst);
                            b"250 queued\r\n"
                        } else {
                            continue;
                        }
                    } else {
                        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                        match verb.as_str() {
                            "EHLO" | "HELO" => b"250 sink\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 OK\r\n",
                        }
                    };
                    if write.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

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

fn notice(n: usize) -> Notice {
    Notice {
        platform: "wechatpay".into(),
        event: "new complaint".into(),
        merchant: "门店".into(),
        reference: format!("20020182026112600000000{n:04}"),
        at: chrono::Utc::now(),
        amount_fen: Some(990),
        user_text: None,
        deadline: None,
        link: None,
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
