//! The console's action forms, built from the registered platforms' action schemas (the
//! registry the binary builds): a form per action whose fields are the body's properties as
//! the served OpenAPI document states them, the platforms' limits refused in words before
//! anything is sent, the HTML escaped, and every body a form builds taken by the action's own
//! route.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use desk_core::platform::Platforms;
use desk_core::staff_actions::StaffAction;
use desk_http::console::Lang;
use desk_http::console::forms::{ActionForm, Field, FormError, InputKind, Prefill};
use domain::complaint::{ActionKind, Complaint, Platform};
use serde_json::{Value, json};

fn platforms() -> Platforms {
    desk_core::platforms::builtin()
}

fn form(platform: Platform, action: &str) -> ActionForm {
    ActionForm::for_action(&platforms(), platform, action)
        .unwrap_or_else(|| panic!("{} has no {action} form", platform.as_str()))
}

fn submitted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The refusal of `values` (no images).
fn refused(form: &ActionForm, pairs: &[(&str, &str)]) -> FormError {
    match form.body(&submitted(pairs), Vec::new()) {
        Err(e) => e,
        Ok(body) => panic!("{}: {pairs:?} was taken as {body}", form.name),
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("med_{i}")).collect()
}

/// The served document's schema of `platform`'s body of `action`, with its `$ref`s at hand.
fn document_body<'a>(doc: &'a Value, platform: &str, action: &str) -> &'a Value {
    let op = &doc["paths"][format!("/admin/v1/complaints/{{id}}/{action}")]["post"];
    let schemas = &doc["components"]["schemas"];
    let name = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .expect("a body reference");
    // One body, or `anyOf` the platforms' bodies, named in the description in their order.
    let Some(any) = schemas[name]["anyOf"].as_array() else {
        return &schemas[name];
    };
    let description = schemas[name]["description"].as_str().unwrap_or_default();
    let own = description
        .split("; ")
        .position(|part| {
            part.trim_start_matches("The body of the complaint's platform: ")
                .starts_with(&format!("{platform} ("))
        })
        .expect("the platform among the bodies");
    let r = any[own]["$ref"].as_str().expect("a reference");
    &schemas[r.rsplit('/').next().expect("a name")]
}

fn enum_of(doc: &Value, prop: &Value) -> Option<Vec<Value>> {
    if let Some(e) = prop["enum"].as_array() {
        return Some(e.clone());
    }
    let r = prop["oneOf"]
        .as_array()?
        .iter()
        .find_map(|m| m["$ref"].as_str())?;
    doc["components"]["schemas"][r.rsplit('/').next()?]["enum"]
        .as_array()
        .cloned()
}

#[tokio::test]
async fn every_action_of_every_platform_has_a_form_whose_fields_are_its_schema_properties() {
    let h = harness();
    let (s, doc) = h
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let registry = platforms();
    let mut forms = 0;
    let mut fields = 0;
    for p in registry.iter() {
        let all = ActionForm::all_for(&registry, p.name());
        let names: Vec<&str> = all.iter().map(|f| f.name).collect();
        let offered: Vec<&str> = p.staff_actions().actions().iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            offered,
            "{}: the platform's actions, in its order",
            p.name().as_str()
        );
        for form in all {
            let body = document_body(&doc, p.name().as_str(), form.name);
            let props = body["properties"].as_object().cloned().unwrap_or_default();
            let mut expected: Vec<&str> = props.keys().map(String::as_str).collect();
            let mut got: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
            expected.sort_unstable();
            got.sort_unstable();
            let at = format!("{} {}", p.name().as_str(), form.name);
            assert_eq!(got, expected, "{at}");
            let required: Vec<&str> = body["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for f in &form.fields {
                let prop = &props[&f.name];
                let at = format!("{at}.{}", f.name);
                assert_eq!(f.required, required.contains(&f.name.as_str()), "{at}");
                assert_eq!(f.max_length, prop["maxLength"].as_u64(), "{at}");
                assert_eq!(f.min_length, prop["minLength"].as_u64(), "{at}");
                assert_eq!(f.max_items, prop["maxItems"].as_u64(), "{at}");
                let bound = |n: &Option<serde_json::Number>| n.as_ref().and_then(|n| n.as_u64());
                assert_eq!(bound(&f.minimum), prop["minimum"].as_u64(), "{at}");
                assert_eq!(bound(&f.maximum), prop["maximum"].as_u64(), "{at}");
                let kind_ok = match &f.kind {
                    InputKind::Money => f.name.ends_with("_fen") && prop["type"] == "integer",
                    InputKind::Images => f.name == "images" && prop["type"] == "array",
                    InputKind::Checkbox => prop["type"] == "boolean",
                    InputKind::Url => prop["format"] == "uri",
                    InputKind::Integer => prop["type"].to_string().contains("integer"),
                    InputKind::Select(choices) => {
                        let values: Vec<Value> = choices.iter().map(|c| c.json.clone()).collect();
                        enum_of(&doc, prop) == Some(values)
                    }
                    InputKind::Textarea => {
                        f.name == "text" || prop["maxLength"].as_u64().is_some_and(|m| m >= 100)
                    }
                    InputKind::Text | InputKind::Number => {
                        prop["type"].to_string().contains("string")
                    }
                };
                assert!(kind_ok, "{at}: {:?} for {prop}", f.kind);
                // Every amount in fen is typed in yuan.
                assert_eq!(f.name.ends_with("_fen"), f.kind == InputKind::Money, "{at}");
                fields += 1;
            }
            forms += 1;
        }
    }
    assert_eq!(
        forms, 14,
        "4 WeChat Pay, 5 Alipay and 5 mini-program actions"
    );
    assert!(fields >= 30, "{fields} fields");
    // The choices are labelled in words in both languages, never only as their values.
    for (platform, action, field) in [
        (Platform::Wechatpay, "refund-progress", "action"),
        (Platform::Alipay, "feedback", "code"),
        (Platform::Wxmini, "reply", "decision"),
    ] {
        let f = form(platform, action);
        let InputKind::Select(choices) = &f.field(field).expect("the field").kind else {
            panic!("{action}.{field} is a choice");
        };
        assert!(choices.len() >= 2);
        for c in choices {
            assert_ne!(c.label_zh, c.value, "{action}.{field}");
            assert_ne!(c.label_en, c.value, "{action}.{field}");
        }
    }
}

#[test]
fn a_wechatpay_refund_takes_yuan_and_sends_fen() {
    let refund = form(Platform::Wechatpay, "refund");
    let body = |amount: &str| refund.body(&submitted(&[("amount_fen", amount)]), Vec::new());
    assert_eq!(body("12.50"), Ok(json!({"amount_fen": 1250})));
    assert_eq!(body("12.5"), Ok(json!({"amount_fen": 1250})));
    assert_eq!(body(" 12 "), Ok(json!({"amount_fen": 1200})));
    assert_eq!(body("0.01"), Ok(json!({"amount_fen": 1})));
    for wrong in [
        "12.345",
        "-1",
        "abc",
        "1e3",
        "12.",
        ".5",
        "0",
        "0.00",
        "99999999999999999999",
        "184467440737095516.16",
        "18446744073709551616",
    ] {
        let e = body(wrong).expect_err(wrong);
        assert_eq!(e.field, "amount_fen", "{wrong}");
        assert!(
            e.message(Lang::Zh).starts_with("金额（元）："),
            "{wrong}: {e:?}"
        );
        assert!(
            e.message(Lang::En).starts_with("Amount (yuan): "),
            "{wrong}: {e:?}"
        );
    }
    assert!(
        body("12.345")
            .expect_err("3 decimals")
            .message_en
            .contains("two decimals")
    );
    assert!(
        body("0")
            .expect_err("zero")
            .message_en
            .contains("at least 0.01 yuan")
    );
    assert!(
        body("99999999999999999999")
            .expect_err("huge")
            .message_en
            .contains("too large")
    );
    // The other fields, and what the form does not have, ignored.
    assert_eq!(
        refund.body(
            &submitted(&[
                ("csrf", "token"),
                ("amount_fen", "1.00"),
                ("reason", "  "),
                ("transaction_id", "4200000000000000000000000001"),
                ("evil", "x"),
            ]),
            Vec::new()
        ),
        Ok(json!({"amount_fen": 100, "transaction_id": "4200000000000000000000000001"}))
    );
}

#[test]
fn a_text_over_the_platforms_limit_is_refused_before_sending_with_the_limit_named() {
    for (platform, action, limit) in [
        (Platform::Alipay, "reply", 200),
        (Platform::Wechatpay, "reply", 200),
        (Platform::Wxmini, "reply", 500),
        (Platform::Alipay, "feedback", 200),
        (Platform::Wxmini, "appeal", 500),
    ] {
        let f = form(platform, action);
        let text = f.field("text").expect("text");
        assert_eq!(text.max_length, Some(limit), "{action}: the schema's limit");
        // Counted in characters (each of these is three bytes).
        let at_limit = "好".repeat(limit as usize);
        let over = "好".repeat(limit as usize + 1);
        let base: Vec<(&str, &str)> = match (platform, action) {
            (Platform::Wxmini, "reply") => vec![("decision", "agree")],
            _ => vec![],
        };
        let with = |t: &str| {
            let mut v = base.clone();
            v.push(("text", t));
            submitted(&v)
        };
        assert!(f.body(&with(&at_limit), Vec::new()).is_ok(), "{action}");
        let e = f
            .body(&with(&over), Vec::new())
            .expect_err("over the limit");
        assert_eq!(e.field, "text");
        assert!(
            e.message_zh.contains(&format!("最多 {limit} 个字")),
            "{e:?}"
        );
        assert!(
            e.message_en
                .contains(&format!("at most {limit} characters")),
            "{e:?}"
        );
        assert!(e.message_en.starts_with("Text: "), "{e:?}");
    }
    // A browser's line breaks (CR LF) count once and are sent as `\n`.
    let reply = form(Platform::Alipay, "reply");
    let text = format!("{}\r\n{}", "好".repeat(100), "好".repeat(99));
    assert_eq!(
        reply.body(&submitted(&[("text", &text)]), Vec::new()),
        Ok(json!({"text": format!("{}\n{}", "好".repeat(100), "好".repeat(99))}))
    );
}

#[test]
fn more_images_than_the_platform_takes_are_refused() {
    for (platform, action, max) in [
        (Platform::Wechatpay, "reply", 4),
        (Platform::Alipay, "supplement", 4),
        (Platform::Wxmini, "supplement", 9),
        (Platform::Wxmini, "refund-evidence", 9),
    ] {
        let f = form(platform, action);
        assert_eq!(f.max_images(), Some(max));
        let values = submitted(&[("text", "凭证")]);
        let body = f.body(&values, ids(max as usize)).expect("at the limit");
        assert_eq!(body["images"], json!(ids(max as usize)), "{action}");
        let e = f.body(&values, ids(max as usize + 1)).expect_err("over");
        assert_eq!(e.field, "images");
        assert!(
            e.message_en.contains(&format!("at most {max} images")),
            "{e:?}"
        );
        assert!(e.message_zh.starts_with("图片："), "{e:?}");
        // The page can ask before it uploads anything.
        assert!(f.check_image_count(max as usize + 1).is_err());
    }
    let complete = form(Platform::Wechatpay, "complete");
    assert_eq!(complete.max_images(), None);
    assert!(
        complete.body(&[], ids(1)).is_err(),
        "no images on a completion"
    );
    assert_eq!(complete.body(&[], Vec::new()), Ok(json!({})));
}

#[test]
fn a_missing_required_field_or_rule_is_refused_naming_the_field() {
    let e = refused(&form(Platform::Wechatpay, "reply"), &[("text", " \r\n ")]);
    assert_eq!(
        (e.field.as_str(), e.message_en.as_str()),
        ("text", "Text: required")
    );
    assert_eq!(e.message_zh, "内容：必填");
    let e = refused(&form(Platform::Alipay, "refund"), &[("reason", "x")]);
    assert_eq!(e.field, "amount_fen");
    let progress = form(Platform::Wechatpay, "refund-progress");
    assert_eq!(refused(&progress, &[]).field, "action");
    assert_eq!(
        refused(&progress, &[("action", "maybe")]).message_en,
        "Decision: choose one of the options"
    );
    // Rules between fields the platform states: a rejection needs its reason, a link its
    // words.
    let e = refused(&progress, &[("action", "reject")]);
    assert_eq!(e.field, "reason");
    assert_eq!(e.message_en, "Reason: required when Decision is Reject");
    assert_eq!(
        progress.body(&submitted(&[("action", "approve")]), Vec::new()),
        Ok(json!({"action": "approve"}))
    );
    let reply = form(Platform::Wechatpay, "reply");
    let e = refused(
        &reply,
        &[("text", "好"), ("jump_url", "https://example.com/a")],
    );
    assert_eq!(
        (e.field.as_str(), e.message_en.as_str()),
        ("jump_url_text", "Link text: required with Link")
    );
    let e = refused(
        &reply,
        &[
            ("text", "好"),
            ("jump_url", "javascript:alert(1)"),
            ("jump_url_text", "看"),
        ],
    );
    assert_eq!(e.field, "jump_url");
    // A required yes-or-no is sent either way: unticked is absent from what a browser sends.
    let evidence = form(Platform::Wxmini, "refund-evidence");
    assert_eq!(
        evidence.body(&[], Vec::new()),
        Ok(json!({"goods_received": false}))
    );
    assert_eq!(
        evidence.body(&submitted(&[("goods_received", "on")]), Vec::new()),
        Ok(json!({"goods_received": true}))
    );
    // A whole number within the schema's bounds.
    let e = refused(
        &progress,
        &[("action", "approve"), ("launch_refund_day", "-1")],
    );
    assert_eq!(
        (e.field.as_str(), e.message_en.as_str()),
        ("launch_refund_day", "Days until the refund: at least 0")
    );
    assert_eq!(
        refused(
            &progress,
            &[("action", "approve"), ("launch_refund_day", "1.5")]
        )
        .field,
        "launch_refund_day"
    );
}

#[test]
fn a_number_beyond_what_the_actions_type_holds_is_refused() {
    // `launch_refund_day` is a u32: its format bounds it where the schema states no maximum.
    let progress = form(Platform::Wechatpay, "refund-progress");
    let days = |d: &str| {
        progress.body(
            &submitted(&[("action", "approve"), ("launch_refund_day", d)]),
            Vec::new(),
        )
    };
    assert_eq!(
        days("4294967295"),
        Ok(json!({"action": "approve", "launch_refund_day": 4294967295u64}))
    );
    let e = days("4294967296").expect_err("over u32");
    assert_eq!(e.message_en, "Days until the refund: at most 4294967295");
    let e = days("99999999999999999999999999999999999999999").expect_err("over everything");
    assert_eq!(
        e.message_en,
        "Days until the refund: the number is too large"
    );
    let html = progress.render(Lang::En, "t", "/p");
    assert!(
        html.contains(r#"min="0" max="4294967295" step="1""#),
        "{html}"
    );
}

#[test]
fn the_schemas_patterns_are_checked_before_sending() {
    // The link's words may not break a line (their pattern says so), though long enough for a
    // text area: one line.
    let reply = form(Platform::Wechatpay, "reply");
    let words = reply.field("jump_url_text").expect("the link's words");
    assert_eq!(words.max_length, Some(200));
    assert_eq!(words.kind, InputKind::Text);
    assert_eq!(reply.field("text").expect("text").kind, InputKind::Textarea);
    let link = [("text", "好"), ("jump_url", "https://example.com/a")];
    let with = |extra: (&'static str, &'static str)| {
        let mut v = link.to_vec();
        v.push(extra);
        v
    };
    let e = refused(&reply, &with(("jump_url_text", "看\r\n这里")));
    assert_eq!(e.message_en, "Link text: must be on one line");
    // A tab (a browser sends what is pasted) is refused in the reply's text.
    let e = refused(&reply, &[("text", "好\t的")]);
    assert_eq!(
        e.message_en,
        "Text: must not contain control characters (such as tabs)"
    );
    // A link the platform's pattern refuses (a query string), and a code that is not one.
    let e = refused(
        &reply,
        &[
            ("text", "好"),
            ("jump_url", "https://example.com/a?b=c"),
            ("jump_url_text", "看"),
        ],
    );
    assert_eq!(e.message_en, "Link: is not in the form the platform takes");
    let e = refused(&form(Platform::Alipay, "complete"), &[("code", "不是代码")]);
    assert_eq!(
        (e.field.as_str(), e.message_zh.as_str()),
        ("code", "处理结果：格式不符合平台的要求")
    );
    assert_eq!(
        form(Platform::Alipay, "complete")
            .body(&submitted(&[("code", "CONSENSUS_WITH_CLIENT")]), Vec::new()),
        Ok(json!({"code": "CONSENSUS_WITH_CLIENT"}))
    );
}

/// `POST /complaints/{id}/note` on a test complaint.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct HostileBody {
    /// Say <script>alert(1)</script> and "><img src=x onerror=x>.
    #[schema(max_length = 20)]
    text: String,
    /// A "quoted" <b>choice</b>.
    #[serde(default)]
    amount_fen: Option<u64>,
}

#[test]
fn the_rendered_form_escapes_descriptions_prefill_and_the_token() {
    let hostile = "\"><img src=x onerror=x><script>alert(1)</script>";
    let f = ActionForm::from_action(&StaffAction::new::<HostileBody>(
        "note<script>",
        ActionKind::Reply,
        "Note <script>alert(2)</script>",
    ));
    for lang in [Lang::Zh, Lang::En] {
        let error = FormError {
            field: "text".into(),
            message_zh: hostile.into(),
            message_en: hostile.into(),
        };
        let html = f.render_with(
            lang,
            hostile,
            &format!("/console/complaints/x{hostile}"),
            &Prefill::new()
                .with("text", hostile)
                .with("amount_fen", hostile),
            Some(&error),
        );
        for raw in ["<script", "<img", "\"><", "<b>"] {
            assert!(!html.contains(raw), "{lang:?}: {raw} in {html}");
        }
        // Shown as text (askama writes numeric character references).
        let shown = html
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#34;", "\"");
        assert!(
            shown.contains(&format!("value=\"{hostile}\"")),
            "the token: {html}"
        );
        assert!(
            shown.contains("Say <script>alert(1)</script>"),
            "the description: {html}"
        );
        assert!(
            shown.matches(hostile).count() >= 4,
            "token, action, prefills, error: {html}"
        );
        assert!(!html.contains("style="), "no inline style");
    }
}

#[test]
fn the_rendered_form_carries_the_limits_names_and_token() {
    let refund = form(Platform::Wechatpay, "refund");
    let html = refund.render_with(
        Lang::Zh,
        "csrf-123",
        "/console/complaints/cmp_1/refund",
        &Prefill::new().with("amount_fen", desk_http::console::forms::yuan(2550)),
        None,
    );
    for want in [
        r#"<form method="post" action="/console/complaints/cmp_1/refund" enctype="multipart/form-data" id="action-refund""#,
        r#"<input type="hidden" name="csrf" value="csrf-123">"#,
        r#"name="amount_fen" value="25.50""#,
        r#"min="0.01""#,
        r#"step="0.01""#,
        r#"inputmode="decimal""#,
        "金额（元）",
        r#"name="transaction_id""#,
        r#"<button type="submit">提交</button>"#,
        "<h3>退款</h3>",
    ] {
        assert!(html.contains(want), "{want} in {html}");
    }
    let reply =
        form(Platform::Alipay, "reply").render(Lang::En, "t", "/console/complaints/c/reply");
    for want in [
        "<h3>Reply</h3>",
        r#"<textarea id="action-reply-text" name="text""#,
        " required",
        r#"minlength="1" maxlength="200""#,
        r#"<input type="file" id="action-reply-images" name="images" multiple"#,
        r#"accept="image/jpeg,image/png,image/bmp" data-max-items="4""#,
        "At most 200 characters",
        "JPEG, PNG or BMP, at most 4",
    ] {
        assert!(reply.contains(want), "{want} in {reply}");
    }
    let progress = form(Platform::Wechatpay, "refund-progress").render(Lang::Zh, "t", "/p");
    for want in [
        r#"<select id="action-refund-progress-action" name="action""#,
        r#"<option value="reject">拒绝退款</option>"#,
        r#"type="number" id="action-refund-progress-launch_refund_day""#,
        "「处理」为「拒绝退款」时必填",
    ] {
        assert!(progress.contains(want), "{want} in {progress}");
    }
    let evidence = form(Platform::Wxmini, "refund-evidence").render(Lang::Zh, "t", "/p");
    assert!(evidence.contains(r#"type="checkbox" id="action-refund-evidence-goods_received" name="goods_received" value="true""#), "{evidence}");
    // After a refusal the form is drawn again with what was typed and the error at its field.
    let typed = submitted(&[("amount_fen", "12.345"), ("reason", "部分退款")]);
    let e = refund.body(&typed, Vec::new()).expect_err("three decimals");
    let again = refund.render_with(
        Lang::En,
        "t",
        "/p",
        &Prefill::from_submitted(&typed),
        Some(&e),
    );
    for want in [
        r#"<div class="field invalid">"#,
        r#"value="12.345""#,
        r#"value="部分退款""#,
        r#"<p class="error" role="alert">Amount (yuan): enter an amount in yuan with at most two decimals, such as 12.50</p>"#,
    ] {
        assert!(again.contains(want), "{want} in {again}");
    }
    // The action's own refusal, at the field it names or above the fields.
    let reply = form(Platform::Alipay, "reply");
    let e = reply.refusal(Some("images[1]"), "no media med_x");
    assert_eq!(
        (e.field.as_str(), e.message_zh.as_str()),
        ("images", "图片：no media med_x")
    );
    let e = reply.refusal(
        None,
        "the complaint is not in a state that allows this action (<b>)",
    );
    let html = reply.render_with(Lang::Zh, "t", "/p", &Prefill::new(), Some(&e));
    assert!(
        html.contains(r#"<p class="error" role="alert">未发送：the complaint is not in a state that allows this action (&#60;b&#62;)</p>"#),
        "{html}"
    );
    // An action we have no words for is titled with its summary.
    let f = ActionForm::from_action(&StaffAction::new::<HostileBody>(
        "note",
        ActionKind::Reply,
        "Leave a note",
    ));
    assert_eq!(f.title(Lang::Zh), "Leave a note");
}

/// A valid value for `f`, as a browser sends it.
fn filled(f: &Field) -> String {
    match (&f.kind, f.name.as_str()) {
        (InputKind::Money, _) => "1.50".into(),
        (InputKind::Integer, _) => "2".into(),
        (InputKind::Number, _) => "2".into(),
        (InputKind::Checkbox, _) => "on".into(),
        (InputKind::Select(choices), _) => {
            choices.first().map(|c| c.value.clone()).unwrap_or_default()
        }
        (InputKind::Url, _) => "https://example.com/help".into(),
        (_, "code") => "05".into(),
        (_, "transaction_id") => "4200000000000000000000000001".into(),
        (InputKind::Textarea, _) => "已为您处理\r\n请查收".into(),
        _ => "协商一致".into(),
    }
}

#[tokio::test]
async fn each_body_a_form_builds_is_taken_by_the_actions_own_route() {
    let h = harness();
    // An image uploaded as the page uploads it, its id sent with the form.
    let (s, media) = h
        .raw(
            Method::POST,
            "/admin/v1/media?filename=receipt.bmp",
            Some(ADMIN),
            Some("BM evidence".into()),
            "image/bmp",
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&media)
    );
    let media: Value = serde_json::from_slice(&media).expect("json");
    let media = media["id"].as_str().expect("media id").to_string();
    let registry = platforms();
    let mut sent = 0;
    for (n, p) in registry.iter().enumerate() {
        // A complaint recorded directly, of an account that does not exist: the action parses
        // and checks its body, then finds no account to call (nothing reaches a platform).
        // Checked in this order: the complaint (404), the action (409), the body (400).
        let id = format!("cmp_{}_{n}", p.name().as_str());
        let c = Complaint::new(
            id.clone(),
            p.name(),
            None,
            "acc_none".into(),
            format!("{n}"),
            chrono::Utc::now(),
        );
        desk_core::complaints::ComplaintRepo::new(&*h.state.ports.records)
            .save(&c, 0)
            .await
            .expect("save");
        for form in ActionForm::all_for(&registry, p.name()) {
            let at = format!("{} {}", p.name().as_str(), form.name);
            let values: Vec<(String, String)> = form
                .fields
                .iter()
                .filter(|f| f.kind != InputKind::Images)
                .map(|f| (f.name.clone(), filled(f)))
                .collect();
            let images = match form.max_images() {
                Some(_) => vec![media.clone()],
                None => Vec::new(),
            };
            let body = form
                .body(&values, images)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(
                body.as_object().map(|o| o.len()),
                Some(form.fields.len()),
                "{at}: every field sent: {body}"
            );
            let path = format!("/admin/v1/complaints/{id}/{}", form.name);
            let (s, answer) = h.admin(Method::POST, &path, Some(body.clone())).await;
            assert_ne!(s, StatusCode::BAD_REQUEST, "{at}: {body} refused: {answer}");
            assert!(
                answer["error"]["field"].is_null(),
                "{at}: {body} refused at a field: {answer}"
            );
            // Past the body: its account is not found (404, as for a complaint out of scope).
            assert_eq!(s, StatusCode::NOT_FOUND, "{at}: {body}: {answer}");
            // The same route refuses a body the form would not build (400 comes before the
            // account is looked up): the check above can fail.
            let mut wrong = body.clone();
            wrong["unknown"] = json!(1);
            let (s, _) = h.admin(Method::POST, &path, Some(wrong)).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{at}");
            sent += 1;
        }
    }
    assert_eq!(sent, 14);
}

const PROVIDER: &str = "1900000109";
const SUB: &str = "1900000201";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

/// What `form` builds from `pairs` (and `images`), sent through the admin route.
async fn send(
    h: &Harness,
    cid: &str,
    form: &ActionForm,
    pairs: &[(&str, &str)],
    images: Vec<String>,
) -> Value {
    let body = form
        .body(&submitted(pairs), images)
        .unwrap_or_else(|e| panic!("{}: {e}", form.name));
    let path = format!("/admin/v1/complaints/{cid}/{}", form.name);
    let (s, answer) = h.admin(Method::POST, &path, Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK, "{}: {body}: {answer}", form.name);
    body
}

#[tokio::test]
async fn the_wechatpay_simulator_receives_what_the_forms_build() {
    use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
    let (h, base, stop) = served(|_| {}).await;
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    sim.add_merchant(SimMerchant {
        mchid: PROVIDER.into(),
        serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut account = provider_body(PROVIDER);
    account["settings"]["api_base_url"] = json!(sim.base_url());
    account["credentials"] = json!({
        "private_key": private_pem(rsa_key()),
        "apiv3_key": APIV3,
        "wechatpay_public_key": sim.keys().public_key_pem(),
        "wechatpay_public_key_id": sim.keys().pub_key_id,
    });
    let provider = h.create(account).await;
    // Staff decide the refund for this sub-merchant.
    let (s, b) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{provider}/sub-merchants"),
            Some(json!({"sub_mchid": SUB, "name": "门店", "auto_refund": false})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    spawn_worker(&h, domain::job::queues::EVENTS, &stop);
    let id = "200201820261127080000000001";
    sim.add_complaint_for(
        PROVIDER,
        json!({
            "complaint_id": id, "complaint_time": chrono::Utc::now().to_rfc3339(),
            "complaint_detail": "充电宝无法使用", "complaint_state": "PENDING", "complainted_mchid": SUB,
            "complaint_order_info": [{"transaction_id": "4200000000000000000000000001", "out_trade_no": "T1", "amount": 3000}],
            "complaint_media_list": [], "problem_type": "OTHERS", "need_immediate_service": false
        }),
    );
    let push = sim.notification(
        APIV3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": id, "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    );
    let url = format!("{base}/callbacks/wechatpay/{PROVIDER}/complaints");
    assert_eq!(push.post(&url).await, Ok(204));
    // The automatic reply goes first; staff act after it.
    let d = h
        .wait_for_complaint(id, "the automatic reply", |d| {
            d["complaint"]["replied"] == true
        })
        .await;
    let cid = d["complaint"]["id"].as_str().expect("id").to_string();
    let replies_before = sim.writes_to("/response").len();

    // A reply with a browser's line break, a link and an uploaded image.
    let (s, media) = h
        .raw(
            Method::POST,
            "/admin/v1/media?filename=receipt.bmp",
            Some(ADMIN),
            Some("BM merchant-evidence".into()),
            "image/bmp",
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let media: Value = serde_json::from_slice(&media).expect("json");
    let media = media["id"].as_str().expect("media id").to_string();
    let reply = form(Platform::Wechatpay, "reply");
    send(
        &h,
        &cid,
        &reply,
        &[
            ("csrf", "x"),
            ("text", "已为您补发\r\n请查收"),
            ("jump_url", "https://example.com/help"),
            ("jump_url_text", "查看说明"),
        ],
        vec![media],
    )
    .await;
    let responses = sim.writes_to("/response");
    assert_eq!(responses.len(), replies_before + 1, "one reply sent");
    let sent = &responses.last().expect("the reply").body;
    assert_eq!(sent["response_content"], "已为您补发\n请查收");
    assert_eq!(sent["jump_url"], "https://example.com/help");
    assert_eq!(sent["jump_url_text"], "查看说明");
    assert_eq!(sent["response_images"].as_array().map(Vec::len), Some(1));

    // A part refund typed in yuan reaches the platform in fen.
    let refund = form(Platform::Wechatpay, "refund");
    send(
        &h,
        &cid,
        &refund,
        &[("amount_fen", "12.50"), ("reason", "部分退款")],
        Vec::new(),
    )
    .await;
    let refunds = sim.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"]["refund"], 1250);
    assert_eq!(refunds[0]["amount"]["total"], 3000);

    // Completing sends an empty form.
    let complete = form(Platform::Wechatpay, "complete");
    assert_eq!(
        send(&h, &cid, &complete, &[("csrf", "x")], Vec::new()).await,
        json!({})
    );
    assert_eq!(sim.writes_to("/complete").len(), 1);
    stop.cancel();
}
