//! What the demo and the sandbox accounts both put into the platform simulators: realistic
//! complaints as each platform holds them, and random tokens.

use serde_json::{Value, json};

/// A WeChat Pay complaint about `sub_mchid`'s order, made now, waiting for the merchant.
pub struct WechatpayComplaint<'a> {
    pub complaint_id: &'a str,
    pub sub_mchid: &'a str,
    pub text: &'a str,
    pub transaction_id: &'a str,
    pub out_trade_no: &'a str,
    pub amount_fen: u64,
}

impl WechatpayComplaint<'_> {
    pub fn to_json(&self) -> Value {
        json!({"complaint_id": self.complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
               "complaint_detail": self.text, "complaint_state": "PENDING", "complainted_mchid": self.sub_mchid,
               "complaint_order_info": [{"transaction_id": self.transaction_id, "out_trade_no": self.out_trade_no, "amount": self.amount_fen}],
               "problem_type": "SERVICE_NOT_WORK", "need_immediate_service": false})
    }
}

/// An Alipay trade complaint (`alipay.merchant.tradecomplain.*`) the merchant is to process;
/// without `gmt_create` it was made at the simulator's now.
pub fn alipay_trade_complaint(
    complain_event_id: &str,
    trade_no: &str,
    text: &str,
    amount_fen: u64,
    gmt_create: Option<&str>,
) -> Value {
    let mut c = json!({"complain_event_id": complain_event_id, "status": "MERCHANT_PROCESSING",
        "trade_no": trade_no, "content": text, "trade_amount": yuan(amount_fen)});
    if let Some(at) = gmt_create {
        c["gmt_create"] = json!(at);
    }
    c
}

/// A mini-program trade complaint (status 201, waiting for the merchant, 48 hours from `now`).
pub struct WxminiComplaint<'a> {
    pub complaint_order_id: u64,
    pub now: i64,
    pub text: &'a str,
    pub order_id: &'a str,
    pub out_trade_no: &'a str,
    pub product_name: &'a str,
    pub amount_fen: u64,
}

impl WxminiComplaint<'_> {
    pub fn to_json(&self) -> Value {
        json!({"complaintOrderId": self.complaint_order_id, "createTime": self.now, "status": 201, "type": 3,
               "phoneNumber": "13800001234",
               "customerMaterial": {"content": self.text, "mediaIdList": []},
               "orderId": self.order_id, "outTradeNo": self.out_trade_no,
               "productName": self.product_name, "totalCost": self.amount_fen, "expireTime": self.now + 48 * 3600})
    }
}

/// Fen as yuan with two decimals, as Alipay writes amounts (`12.50`).
pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// 64 random hex characters.
pub fn hex_token() -> String {
    (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn yuan_has_two_decimals() {
        assert_eq!(super::yuan(1250), "12.50");
        assert_eq!(super::yuan(5), "0.05");
        assert_eq!(super::yuan(100), "1.00");
    }
}
