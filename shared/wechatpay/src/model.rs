//! Request and response bodies. Platform enums are open sets: kept as strings.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplaintOrder {
    #[serde(default)]
    pub transaction_id: String,
    #[serde(default)]
    pub out_trade_no: String,
    /// Fen.
    #[serde(default)]
    pub amount: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplaintMedia {
    #[serde(default)]
    pub media_type: String,
    #[serde(default)]
    pub media_url: Vec<String>,
}

/// A consumer complaint (list and detail).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Complaint {
    pub complaint_id: String,
    #[serde(default)]
    pub complaint_time: String,
    #[serde(default)]
    pub complaint_detail: String,
    /// `PENDING`, `PROCESSING`, `PROCESSED`, ...
    #[serde(default)]
    pub complaint_state: String,
    #[serde(default)]
    pub complainted_mchid: String,
    /// RSA-OAEP ciphertext; decrypt with [`crate::oaep::decrypt`], never log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_openid: Option<String>,
    #[serde(default)]
    pub complaint_order_info: Vec<ComplaintOrder>,
    #[serde(default)]
    pub complaint_media_list: Vec<ComplaintMedia>,
    #[serde(default)]
    pub complaint_full_refunded: bool,
    #[serde(default)]
    pub incoming_user_response: bool,
    #[serde(default)]
    pub problem_description: String,
    #[serde(default)]
    pub user_complaint_times: u32,
    /// `REFUND`, `SERVICE_NOT_WORK`, `OTHERS`, ...
    #[serde(default)]
    pub problem_type: String,
    #[serde(default)]
    pub apply_refund_amount: Option<u64>,
    #[serde(default)]
    pub user_tag_list: Vec<String>,
    #[serde(default)]
    pub in_platform_service: bool,
    #[serde(default)]
    pub need_immediate_service: bool,
}

/// One negotiation history entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NegotiationEntry {
    #[serde(default)]
    pub log_id: String,
    #[serde(default)]
    pub operator: String,
    #[serde(default)]
    pub operate_time: String,
    /// Kept verbatim, misspellings included (`MERCHANT_REFUSE_RERUND`).
    #[serde(default)]
    pub operate_type: String,
    #[serde(default)]
    pub operate_details: String,
    #[serde(default)]
    pub image_list: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
    #[serde(default)]
    pub total_count: Option<u32>,
}

/// `POST .../response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseRequest {
    pub complainted_mchid: String,
    pub response_content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump_url_text: Option<String>,
}

/// `POST .../update-refund-progress`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefundProgressRequest {
    /// `APPROVE` or `REJECT`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_refund_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reject_media_list: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefundAmount {
    pub refund: u64,
    pub total: u64,
    pub currency: String,
}

/// `POST /v3/refund/domestic/refunds`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefundRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_mchid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    /// Ours and deterministic: a retry reuses it, so a refund is never issued twice.
    pub out_refund_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    pub amount: RefundAmount,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    #[serde(default)]
    pub refund_id: String,
    #[serde(default)]
    pub out_refund_no: String,
    #[serde(default)]
    pub transaction_id: String,
    #[serde(default)]
    pub out_trade_no: String,
    /// `SUCCESS`, `CLOSED`, `PROCESSING`, `ABNORMAL`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub create_time: String,
    #[serde(default)]
    pub success_time: Option<String>,
    #[serde(default)]
    pub amount: Option<RefundResultAmount>,
}

/// Amounts of a refund as the platform reports them (fen).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefundResultAmount {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub refund: u64,
}

impl Refund {
    /// The refunded amount, when the platform said.
    pub fn amount_refund(&self) -> Option<u64> {
        self.amount.as_ref().map(|a| a.refund)
    }
}

/// A complaint push, decrypted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplaintNotice {
    pub complaint_id: String,
    #[serde(default)]
    pub action_type: String,
}

/// A violation push, decrypted (same shape for punish, intercept and appeal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViolationNotice {
    #[serde(default)]
    pub sub_mchid: String,
    #[serde(default)]
    pub company_name: String,
    #[serde(default)]
    pub record_id: String,
    #[serde(default)]
    pub punish_plan: String,
    #[serde(default)]
    pub punish_time: String,
    #[serde(default)]
    pub punish_description: String,
    #[serde(default)]
    pub risk_type: String,
    #[serde(default)]
    pub risk_description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CertificateList {
    pub data: Vec<CertificateEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CertificateEntry {
    pub serial_no: String,
    pub encrypt_certificate: EncryptedCertificate,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EncryptedCertificate {
    pub algorithm: String,
    pub nonce: String,
    #[serde(default)]
    pub associated_data: String,
    pub ciphertext: String,
}
