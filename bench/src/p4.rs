//! P4: admin reads on a large store, and callback acknowledgements while an admin client pages
//! deep. The data set is built once (see `seed`) and reused; the desk is started on it (a
//! restart: the time to the first healthy answer is measured).

use crate::ctx::Ctx;
use crate::desk::{Desk, Platform};
use crate::load::{self, Prepared};
use crate::report::{Check, Section, Table};
use crate::seed;
use crate::stats::{Samples, ms};
use anyhow::bail;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PAGE: usize = 50;
/// At most this long per measure (at least 3 requests), so a slow store still finishes.
const BUDGET: Duration = Duration::from_secs(30);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let sizes: &[usize] = if ctx.quick {
        &[10_000]
    } else {
        &[10_000, 1_000_000]
    };
    let mut s = Section::new("P4 admin reads and acknowledgements on a large store");
    s.para(format!(
        "Complaints across 10 accounts (WeChat Pay, Alipay, mini program), 20 sub-merchants and 5 \
         statuses, written through the app's repository into a cached data directory. Each \
         list request asks for {PAGE} items; each figure is over sequential requests. Deep \
         cursor: the page next to the oldest. Acknowledgements: 8 senders posting WeChat Pay \
         pushes while one admin client requests that deep page in a loop."
    ));
    let mut t = Table::new(&[
        "measure",
        "complaints",
        "requests",
        "p50 ms",
        "p99 ms",
        "max ms",
    ]);
    for &n in sizes {
        // A size that cannot be measured is reported; the others still are.
        if let Err(e) = measure(ctx, n, &mut s, &mut t).await {
            s.para(format!("{n} complaints: FAILED to measure: {e:#}"));
        }
    }
    s.table(t);
    Ok(s)
}

async fn measure(ctx: &Ctx, n: usize, s: &mut Section, t: &mut Table) -> anyhow::Result<()> {
    let reps = if ctx.quick { 20 } else { 50 };
    let dir = seed::ensure(&ctx.cache, n).await?;
    let desk = Desk::start(&ctx.desk_binary, &dir, &[], Duration::from_secs(600)).await?;
    let size = format!("{n}");
    let restart = desk.time_to_healthy;
    t.row(vec![
        "restart → first 200 of /healthz".into(),
        size.clone(),
        "1".into(),
        format!("{:.2}", restart.as_secs_f64() * 1000.0),
        String::new(),
        String::new(),
    ]);
    let http = crate::desk::client();

    // /healthz
    let mut health = Samples::new();
    let spent = Instant::now();
    while health.len() < reps * 2 && (health.len() < 3 || spent.elapsed() < BUDGET) {
        let t0 = Instant::now();
        let r = http.get(desk.url("/healthz")).send().await?;
        let ok = r.status().as_u16() == 200;
        let _ = r.bytes().await;
        health.push(t0.elapsed());
        if !ok {
            bail!("/healthz did not answer 200");
        }
    }
    let health_p99 = health.percentile(99.0);
    row(t, "/healthz", &size, &mut health);

    // The deep cursor: the page that starts near the oldest complaint, found with an `until`
    // bound (a cursor is a position in the index, so it is valid without the bound).
    let deep_until = seed::received_at(n.saturating_sub(2 * PAGE).max(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let first = desk
        .admin_ok(
            reqwest::Method::GET,
            &format!("/complaints?limit={PAGE}&until={}", urlenc(&deep_until)),
            None,
        )
        .await?;
    let Some(deep) = first["next_cursor"].as_str().map(str::to_string) else {
        bail!("no cursor near the end of the list: {first}");
    };
    let detail_id = seed::complaint(n / 2).id;
    let queries: Vec<(&str, String)> = vec![
        ("list: first page", format!("/complaints?limit={PAGE}")),
        (
            "list: status",
            format!("/complaints?limit={PAGE}&status=processing"),
        ),
        (
            "list: platform",
            format!("/complaints?limit={PAGE}&platform=alipay"),
        ),
        (
            "list: account",
            format!("/complaints?limit={PAGE}&account={}", seed::FILTER_ACCOUNT),
        ),
        (
            "list: account + status",
            format!(
                "/complaints?limit={PAGE}&account={}&status=processing",
                seed::FILTER_ACCOUNT
            ),
        ),
        (
            "list: sub-merchant",
            format!("/complaints?limit={PAGE}&sub_mchid={}", seed::FILTER_SUB),
        ),
        (
            "list: sub-merchant + status",
            format!(
                "/complaints?limit={PAGE}&sub_mchid={}&status=processing",
                seed::FILTER_SUB
            ),
        ),
        (
            "list: filter matching nothing",
            format!("/complaints?limit={PAGE}&sub_mchid=1999999999"),
        ),
        (
            "list: deep cursor",
            format!("/complaints?limit={PAGE}&cursor={deep}"),
        ),
        ("detail", format!("/complaints/{detail_id}")),
    ];
    let mut worst_list: Option<(String, Duration)> = None;
    for (name, path) in &queries {
        println!("P4 {n}: {name}");
        let mut samples = Samples::new();
        let spent = Instant::now();
        while samples.len() < reps && (samples.len() < 3 || spent.elapsed() < BUDGET) {
            let t0 = Instant::now();
            let (status, _) = desk.admin(reqwest::Method::GET, path, None).await?;
            samples.push(t0.elapsed());
            if status != 200 {
                bail!("{name}: HTTP {status}");
            }
        }
        if let Some(p99) = samples.percentile(99.0)
            && name.starts_with("list")
            && worst_list.as_ref().is_none_or(|(_, w)| p99 > *w)
        {
            worst_list = Some((name.to_string(), p99));
        }
        row(t, name, &size, &mut samples);
    }

    // Acknowledgements while one admin client pages deep in a loop.
    println!("P4 {n}: acknowledgements while an admin client pages deep");
    let (pool, window) = if ctx.quick {
        (400, Duration::from_secs(15))
    } else {
        (2_000, Duration::from_secs(60))
    };
    let platform = Platform::start().await?;
    let mchid = format!("19{:08}", rand::random::<u32>() % 100_000_000);
    platform.add_merchant(&desk, &mchid, json!({})).await?;
    let ids: Vec<String> = (0..pool).map(|i| format!("2005{i:023}")).collect();
    for id in &ids {
        platform.add_complaint(&mchid, id, 100);
    }
    let url = desk.url(&format!("/callbacks/wechatpay/{mchid}/complaints"));
    let requests: Vec<Prepared> = platform
        .sign_pushes(ids)
        .await?
        .iter()
        .map(|p| Prepared::new(url.clone(), p))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let pages = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, pages, url) = (
            stop.clone(),
            pages.clone(),
            desk.url(&format!("/admin/v1/complaints?limit={PAGE}&cursor={deep}")),
        );
        let http = crate::desk::client();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = http
                    .get(&url)
                    .bearer_auth(crate::desk::ADMIN_TOKEN)
                    .send()
                    .await
                {
                    let _ = r.bytes().await;
                    pages.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let acks = load::run(&load::load_client(8), Arc::new(requests), 8, Some(window)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = reader.await;
    let mut ack_samples = acks.samples.clone();
    let ack_p99 = ack_samples.percentile(99.0);
    t.row(vec![
        format!(
            "callback ack while paging deep ({} deep pages read; failures: {})",
            pages.load(Ordering::Relaxed),
            acks.failure_text()
        ),
        size.clone(),
        acks.samples.len().to_string(),
        ms(ack_samples.percentile(50.0)),
        ms(ack_p99),
        ms(ack_samples.max()),
    ]);
    desk.stop();

    let label = |what: &str| format!("{what} ({n} complaints)");
    if let Some((name, p99)) = worst_list {
        s.check(Check::new(
            &label("every list page and filter, p99"),
            "≤ 20 ms",
            format!("{} ms (worst: {name})", ms(Some(p99))),
            p99 <= Duration::from_millis(20),
        ));
    }
    s.check(Check::new(
        &label("/healthz p99"),
        "≤ 5 ms",
        format!("{} ms", ms(health_p99)),
        health_p99.is_some_and(|d| d <= Duration::from_millis(5)),
    ));
    s.check(Check::new(
        &label("restart → healthy"),
        "≤ 2 s",
        format!("{:.2} s", restart.as_secs_f64()),
        restart <= Duration::from_secs(2),
    ));
    s.check(Check::new(
        &label("callback ack p99 while an admin client pages deep"),
        "≤ 50 ms",
        format!("{} ms", ms(ack_p99)),
        ack_p99.is_some_and(|d| d <= Duration::from_millis(50)) && acks.failures.is_empty(),
    ));
    Ok(())
}

fn row(t: &mut Table, name: &str, size: &str, s: &mut Samples) {
    t.row(vec![
        name.to_string(),
        size.to_string(),
        s.len().to_string(),
        ms(s.percentile(50.0)),
        ms(s.percentile(99.0)),
        ms(s.max()),
    ]);
}

/// Percent-encode the characters of an RFC 3339 time that a query string cannot hold as is.
fn urlenc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
