//! The images of a mini-program complaint: fetched with the mini program's media API (the
//! complaint's `media` and each history item's `media` hold media ids), one call of its media
//! budget each.

use super::admin::{account, client, platform};
use crate::Error;
use crate::complaint_images::{ComplaintImage, ComplaintImages, entry_media};
use crate::platforms::wxmini::limits as op;
use crate::staff_actions::take_budget;
use crate::state::Services;
use async_trait::async_trait;
use domain::complaint::{Complaint, HistoryEntry};

pub struct Images;

#[async_trait]
impl ComplaintImages for Images {
    async fn image(
        &self,
        services: &Services,
        c: &Complaint,
        n: usize,
    ) -> Result<ComplaintImage, Error> {
        let media_id = c
            .media
            .get(n)
            .ok_or_else(|| Error::NotFound(format!("complaint {} has no media {n}", c.id)))?;
        fetch(services, c, media_id).await
    }

    async fn history_image(
        &self,
        services: &Services,
        c: &Complaint,
        entry: &HistoryEntry,
        n: usize,
    ) -> Result<ComplaintImage, Error> {
        let media_id = entry_media(c, entry, n)?;
        fetch(services, c, media_id).await
    }

    fn serves_history_images(&self) -> bool {
        true
    }
}

/// The media `media_id` (one of the complaint's), with the complaint's mini program: one call
/// of its media budget. An empty id is [`Error::NotFound`] and nothing is sent.
async fn fetch(
    services: &Services,
    c: &Complaint,
    media_id: &str,
) -> Result<ComplaintImage, Error> {
    if media_id.trim().is_empty() {
        return Err(Error::NotFound(format!(
            "complaint {} has no image we can download there",
            c.id
        )));
    }
    let a = account(services, c).await?;
    let client = client(services, &a).await?;
    // A mini program's calls are budgeted under our account id.
    take_budget(services, &a.id, &[op::MEDIA_GET]).await?;
    let (bytes, content_type) = client.get_media(media_id).await.map_err(platform)?;
    Ok(ComplaintImage {
        bytes,
        content_type,
        private_max_age: None,
    })
}
