//! The buyer's images of a WeChat Pay complaint: downloaded through the merchant's signed
//! image API (the complaint's `media` holds the image URLs), one call of the merchant's
//! image-download budget each.

use super::admin::platform_error;
use crate::Error;
use crate::complaint_images::{ComplaintImage, ComplaintImages, sniff};
use crate::platforms::wechatpay::limits as op;
use crate::repo::AccountRepo;
use crate::staff_actions::take_budget;
use crate::state::Services;
use async_trait::async_trait;
use domain::complaint::Complaint;

/// How long a browser may keep a downloaded image.
const KEEP: std::time::Duration = std::time::Duration::from_secs(300);

pub struct Images;

#[async_trait]
impl ComplaintImages for Images {
    async fn image(
        &self,
        services: &Services,
        c: &Complaint,
        n: usize,
    ) -> Result<ComplaintImage, Error> {
        let (account, _) = AccountRepo::new(&*services.ports.records)
            .get(&c.account_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("complaint {} not found", c.id)))?;
        let client = super::clients::client(services, &account).await?;
        let url = c
            .media
            .get(n)
            .ok_or_else(|| Error::NotFound(format!("complaint {} has no media {n}", c.id)))?;
        take_budget(services, account.platform_id(), &[op::IMAGE_DOWNLOAD]).await?;
        let bytes = client.download_image(url).await.map_err(platform_error)?;
        Ok(ComplaintImage {
            content_type: sniff(&bytes)
                .unwrap_or("application/octet-stream")
                .to_string(),
            bytes,
            private_max_age: Some(KEEP),
        })
    }
}
