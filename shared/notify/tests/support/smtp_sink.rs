//! A small real SMTP server on a loopback port for the tests: it speaks enough SMTP for a
//! client without TLS or AUTH (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), counts connections
//! and mails, and keeps each mail's DATA.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Default)]
pub struct Counts {
    pub connections: AtomicUsize,
    pub mails: AtomicUsize,
    /// The DATA of each mail received, lines joined with `\n`.
    pub data: Mutex<Vec<String>>,
}

impl Counts {
    #[allow(dead_code)] // not every test file reads the mails
    pub fn mails_received(&self) -> Vec<String> {
        self.data.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Start the server; its port.
pub async fn serve(counts: Arc<Counts>) -> u16 {
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
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let answer: &[u8] = if in_data {
                        if line == "." {
                            in_data = false;
                            counts
                                .data
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(std::mem::take(&mut data));
                            counts.mails.fetch_add(1, Ordering::SeqCst);
                            b"250 queued\r\n"
                        } else {
                            data.push_str(&line);
                            data.push('\n');
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
