//! Interim: the job-type names (typed payloads replace this).
pub mod wechatpay {
    pub const COMPLAINT: &str = "wechatpay.complaint";
    pub const VIOLATION: &str = "wechatpay.violation";
    pub const REFUND: &str = "wechatpay.refund";
}
pub mod alipay {
    pub const TRADE_COMPLAINT: &str = "alipay.trade_complaint";
    pub const RISK_COMPLAINT: &str = "alipay.risk_complaint";
}
pub mod wxmini {
    pub const COMPLAINT: &str = "wxmini.complaint";
    pub const AUTHORIZATION: &str = "wxopen.authorization";
}
