//! The README's tour runs as written: its shell block (between `<!-- tour:begin -->` and
//! `<!-- tour:end -->`) is run with bash against a fresh binary, and what it created is then read
//! back through the admin API.

use e2e_tests::{Server, workspace_root};
use reqwest::Method;
use std::process::Command;

const TOKEN: &str = "readme-tour-admin-token-0123456789";

/// The tour's shell text, fences removed.
fn tour() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let begin = readme
        .find("<!-- tour:begin -->")
        .expect("README has a tour:begin marker");
    let end = readme
        .find("<!-- tour:end -->")
        .expect("README has a tour:end marker");
    let block = &readme[begin..end];
    let body_start = block.find("```sh\n").expect("the tour is a ```sh block") + "```sh\n".len();
    let body_end = block.rfind("```").expect("the tour block is closed");
    block[body_start..body_end].to_string()
}

#[test]
fn the_tour_has_no_placeholders() {
    let t = tour();
    assert!(
        !t.contains("..."),
        "the tour must run as written, without placeholders:\n{t}"
    );
    assert!(
        t.contains("B=http://127.0.0.1:8080"),
        "the tour names the default address"
    );
}

#[tokio::test]
async fn the_readme_tour_runs_as_written() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[("ADMIN_TOKEN", TOKEN)]);
    let script = tour().replace("http://127.0.0.1:8080", &server.base_url);
    let work = tempfile::tempdir().expect("tempdir");
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .env("T", TOKEN)
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the tour failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        out.status,
        server.output_text()
    );

    // What the tour made is there, as it says.
    let (s, accounts) = server.admin(TOKEN, Method::GET, "/accounts", None).await;
    assert_eq!(s, 200);
    let items = accounts["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{accounts}");
    let id = items[0]["id"].as_str().expect("id");
    assert_eq!(items[0]["kind"], "wechatpay_provider");
    assert!(
        stdout.contains(&format!("provider account: {id}")),
        "{stdout}"
    );
    let (s, sub) = server
        .admin(
            TOKEN,
            Method::GET,
            &format!("/accounts/{id}/sub-merchants/1900000201"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{sub}");
    assert_eq!(sub["auto_refund"], true);
    assert_eq!(sub["refund_cap_fen"], 5000);
    let (s, n) = server
        .admin(
            TOKEN,
            Method::GET,
            &format!("/accounts/{id}/sub-merchants/1900000201/notifications"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{n}");
    assert_eq!(n["email"]["auth_code"]["set"], true, "{n}");
    let (s, tokens) = server.admin(TOKEN, Method::GET, "/tokens", None).await;
    assert_eq!(s, 200);
    assert!(
        tokens["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["name"] == "shop 1 service desk"
                && t["role"] == "agent"
                && t["scope"]["type"] == "sub_merchant"),
        "{tokens}"
    );
    // Nothing secret was printed: no key material, no stored authorisation code.
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
    assert!(
        !stdout.contains("the mailbox authorisation code"),
        "{stdout}"
    );
}
