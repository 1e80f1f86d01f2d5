//! `complaint-desk try-it ...`: talk to a running server started with `--sandbox`, over its
//! admin API (`/admin/v1/sandbox/...`), with an access token of role agent or higher.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Server {
    /// The running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: url::Url,
    /// An access token (role agent or higher; the administrator token works).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum TryItCommand {
    /// Push a realistic test complaint for a sandbox account (through the server's own signed
    /// callback route), then show what the server did with it.
    Push(PushArgs),
    /// List the sandbox accounts of the running server.
    Accounts(Server),
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    server: Server,
    /// Our id of the sandbox account (see `try-it accounts`).
    #[arg(long, conflicts_with = "platform")]
    account: Option<String>,
    /// The sandbox account of this platform (default: wechatpay).
    #[arg(long, value_parser = ["wechatpay", "alipay", "wxmini"])]
    platform: Option<String>,
    /// The order's amount in yuan (the sandbox refunds automatically up to 5.00).
    #[arg(long, default_value = "1.00", value_parser = parse_yuan)]
    amount: u64,
    /// What the buyer wrote.
    #[arg(long)]
    text: Option<String>,
    /// Seconds to wait for the complaint to be handled (0: do not wait).
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

/// Yuan with at most two decimals (`1`, `1.5`, `12.50`) as fen, read as the console reads them.
pub fn parse_yuan(v: &str) -> Result<u64, String> {
    desk_http::console::forms::parse_yuan(v.trim())
        .map_err(|_| format!("{v:?} is not an amount in yuan (e.g. 1.00)"))
}

pub async fn run(command: TryItCommand) -> anyhow::Result<()> {
    crypto::tls::install_default();
    match command {
        TryItCommand::Accounts(server) => {
            let list = call(&server, reqwest::Method::GET, "/sandbox/accounts", None).await?;
            for a in list["items"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:<9}  {}  (automatic refund up to {} yuan)",
                    text(&a["account_id"]),
                    text(&a["platform"]),
                    text(&a["name"]),
                    crate::fixtures::yuan(a["refund_cap_fen"].as_u64().unwrap_or_default())
                );
            }
            Ok(())
        }
        TryItCommand::Push(args) => push(args).await,
    }
}

async fn push(args: PushArgs) -> anyhow::Result<()> {
    let mut body = json!({"amount_fen": args.amount});
    if let Some(a) = &args.account {
        body["account_id"] = json!(a);
    }
    if let Some(p) = &args.platform {
        body["platform"] = json!(p);
    }
    if let Some(t) = &args.text {
        body["text"] = json!(t);
    }
    let pushed = call(
        &args.server,
        reqwest::Method::POST,
        "/sandbox/push",
        Some(body),
    )
    .await?;
    println!(
        "pushed {} complaint {} ({} yuan, {}) for account {}: our callback route answered HTTP {}",
        text(&pushed["platform"]),
        text(&pushed["platform_complaint_id"]),
        crate::fixtures::yuan(pushed["amount_fen"].as_u64().unwrap_or_default()),
        if pushed["within_refund_cap"] == true {
            "within the automatic refund cap"
        } else {
            "above the automatic refund cap: staff decide"
        },
        text(&pushed["account_id"]),
        pushed["callback_status"],
    );
    let Some(id) = pushed["complaint_id"].as_str() else {
        return Ok(());
    };
    println!("complaint: /admin/v1/complaints/{id}  (console: /console/complaints/{id})");
    if args.wait > 0 {
        show_handling(
            &args.server,
            id,
            pushed["within_refund_cap"] == true,
            args.wait,
        )
        .await?;
    }
    Ok(())
}

/// Poll the complaint until it is replied to (and refunded, when within the cap) and its
/// staff notice is out, printing what happened; an error after `wait` seconds.
async fn show_handling(server: &Server, id: &str, refund: bool, wait: u64) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(wait);
    let path = format!("/complaints/{id}");
    loop {
        let (status, detail) = request(server, reqwest::Method::GET, &path, None).await?;
        let c = &detail["complaint"];
        let done = status == 200
            && c["replied"] == true
            && (!refund || c["refunded_fen"].as_u64().is_some_and(|f| f > 0))
            && detail["notifications"]
                .as_array()
                .is_some_and(|n| !n.is_empty());
        if done {
            println!("status: {}", text(&c["status"]));
            for a in detail["actions"].as_array().into_iter().flatten() {
                println!(
                    "  {}: {} ({})",
                    text(&a["action"]),
                    text(&a["outcome"]),
                    text(&a["detail"])
                );
            }
            println!(
                "  staff notices: {}",
                detail["notifications"].as_array().map_or(0, Vec::len)
            );
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bail!("the complaint was not handled within {wait} s (last seen: HTTP {status} {c})");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn request(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let url = server
        .url
        .join(&format!("admin/v1{path}"))
        .context("the server URL")?;
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(&server.token)
        .timeout(Duration::from_secs(30));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {}", server.url, e.without_url()))?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let (status, v) = request(server, method, path, body).await?;
    if !(200..300).contains(&status) {
        let message = v["error"]["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string());
        bail!("{path}: HTTP {status}: {message}");
    }
    Ok(v)
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(String::from)
        .unwrap_or_else(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_yuan;

    #[test]
    fn amounts_in_yuan_become_fen() {
        assert_eq!(parse_yuan("1.00"), Ok(100));
        assert_eq!(parse_yuan("1.5"), Ok(150));
        assert_eq!(parse_yuan("20"), Ok(2000));
        assert_eq!(parse_yuan("0.05"), Ok(5));
        for bad in [
            "",
            "1.234",
            "-1",
            "1,00",
            "abc",
            ".5",
            "99999999999999999999",
        ] {
            assert!(parse_yuan(bad).is_err(), "{bad}");
        }
    }
}
