//! The console's words for the actions, fields and choices the platforms' schemas name (a
//! name without words is shown as it is).

/// The actions' names in words.
pub fn action_title(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "reply" => ("回复", "Reply"),
        "refund" => ("退款", "Refund"),
        "complete" => ("完结", "Complete"),
        "refund-progress" => ("处理退款申请", "Refund request"),
        "feedback" => ("反馈", "Feedback"),
        "supplement" => ("补充凭证", "Supplement"),
        "refund-evidence" => ("退款凭证", "Refund evidence"),
        "appeal" => ("申诉", "Appeal"),
        _ => return None,
    })
}

/// The fields' names in words.
pub fn field_label(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "text" => ("内容", "Text"),
        "images" => ("图片", "Images"),
        "amount_fen" => ("金额（元）", "Amount (yuan)"),
        "reason" => ("原因", "Reason"),
        "transaction_id" => ("支付订单号", "Transaction id"),
        "code" => ("处理结果", "Result code"),
        "decision" => ("是否和解", "Settlement"),
        "action" => ("处理", "Decision"),
        "launch_refund_day" => ("几天后退款", "Days until the refund"),
        "reject_reason" => ("拒绝原因", "Reason for rejecting"),
        "remark" => ("备注", "Remark"),
        "goods_received" => ("已收到退货", "Returned goods received"),
        "jump_url" => ("跳转链接", "Link"),
        "jump_url_text" => ("链接文字", "Link text"),
        _ => return None,
    })
}

/// The words of a choice's value, by its field.
pub fn choice_label(field: &str, value: &str) -> Option<(&'static str, &'static str)> {
    Some(match (field, value) {
        ("action", "approve") => ("同意退款", "Approve"),
        ("action", "reject") => ("拒绝退款", "Reject"),
        ("decision", "agree") => ("同意和解", "Agree to settle"),
        ("decision", "refuse") => ("拒绝和解", "Refuse to settle"),
        // Alipay's `feedback_code`.
        ("code", "00") => (
            "00 使用体验保障金退款",
            "00 Refunded from the guarantee fund",
        ),
        ("code", "02") => ("02 通过其他方式退款", "02 Refunded another way"),
        ("code", "03") => ("03 已发货", "03 Shipped"),
        ("code", "04") => ("04 其他", "04 Other"),
        ("code", "05") => ("05 已完成售后服务", "05 After-sales service done"),
        ("code", "06") => ("06 非我方责任范围", "06 Not our responsibility"),
        _ => return None,
    })
}
