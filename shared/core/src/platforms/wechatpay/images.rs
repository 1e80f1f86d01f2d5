//! The images of a WeChat Pay complaint: downloaded through the merchant's signed image API
//! (the complaint's `media` and each history entry's `image_list` hold the image URLs), one
//! call of the merchant's image-download budget each.

use super::admin::platform_error;
use crate::Error;
use crate::complaint_images::{ComplaintImage, ComplaintImages, entry_media, sniff};
use crate::platforms::wechatpay::limits as op;
use crate::repo::AccountRepo;
use crate::staff_actions::take_budget;
use crate::state::Services;
use async_trait::async_trait;
use domain::account::Account;
use domain::complaint::{Complaint, HistoryEntry};
use std::sync::Arc;

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
        let (account, client) = account_client(services, c).await?;
        let url = c
            .media
            .get(n)
            .ok_or_else(|| Error::NotFound(format!("complaint {} has no media {n}", c.id)))?;
        fetch(services, &account, &client, c, url).await
    }

    async fn history_image(
        &self,
        services: &Services,
        c: &Complaint,
        entry: &HistoryEntry,
        n: usize,
    ) -> Result<ComplaintImage, Error> {
        let (account, client) = account_client(services, c).await?;
        let url = entry_media(c, entry, n)?;
        fetch(services, &account, &client, c, url).await
    }

    fn serves_history_images(&self) -> bool {
        true
    }
}

/// The complaint's account and its WeChat Pay client.
async fn account_client(
    services: &Services,
    c: &Complaint,
) -> Result<(Account, Arc<wechatpay::Client>), Error> {
    let (account, _) = AccountRepo::new(&*services.ports.records)
        .get(&c.account_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("complaint {} not found", c.id)))?;
    let client = super::clients::client(services, &account).await?;
    Ok((account, client))
}

/// The image at `url` (one of complaint `c`'s), with its account's client: one call of the
/// account's image-download budget. A URL that is not one of WeChat Pay's complaint images
/// (another host, another path) is [`Error::NotFound`], and the merchant's signature never
/// leaves.
async fn fetch(
    services: &Services,
    account: &Account,
    client: &wechatpay::Client,
    c: &Complaint,
    url: &str,
) -> Result<ComplaintImage, Error> {
    take_budget(services, account.platform_id(), &[op::IMAGE_DOWNLOAD]).await?;
    let bytes = client.download_image(url).await.map_err(|e| match e {
        // Refused before anything was sent.
        wechatpay::PlatformError::Invalid(_) => Error::NotFound(format!(
            "complaint {} has no image we can download there",
            c.id
        )),
        e => platform_error(e),
    })?;
    Ok(ComplaintImage {
        content_type: sniff(&bytes)
            .unwrap_or("application/octet-stream")
            .to_string(),
        bytes,
        private_max_age: Some(KEEP),
    })
}
