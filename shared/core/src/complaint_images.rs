//! The buyer's images of a complaint, fetched from its platform when staff open them
//! (`GET /complaints/{id}/media/{n}`): what a platform answers ([`ComplaintImage`]) and the trait
//! it implements ([`ComplaintImages`]). A platform without images answers with [`NoImages`]; the
//! admin API serves the answer whatever the platform.

use crate::Error;
use crate::state::Services;
use async_trait::async_trait;
use domain::complaint::Complaint;

/// One image as the platform gave it.
#[derive(Debug, Clone)]
pub struct ComplaintImage {
    pub bytes: Vec<u8>,
    /// Its content type (`image/png`; `application/octet-stream` when it is not known).
    pub content_type: String,
    /// How long the caller's browser may keep it (private to the caller), if at all.
    pub private_max_age: Option<std::time::Duration>,
}

/// How a platform fetches the images of its complaints: the buyer's (the complaint's `media`)
/// and those of its history's entries (the buyer's later images, our replies'), all through
/// `GET /complaints/{id}/media/{n}` and `GET /complaints/{id}/history/{entry_id}/media/{n}`.
#[async_trait]
pub trait ComplaintImages: Send + Sync {
    /// Image `n` (from 0) of the complaint's `media` list, which the caller may see:
    /// [`Error::NotFound`] when it has no image `n`, [`Error::RateLimited`] over the budget
    /// (before anything is sent), [`Error::Platform`] when the platform refuses.
    async fn image(
        &self,
        services: &Services,
        complaint: &Complaint,
        n: usize,
    ) -> Result<ComplaintImage, Error>;

    /// Image `n` (from 0) of `entry`'s `media`, an entry of the complaint's history, which the
    /// caller may see: the same answers as [`ComplaintImages::image`], and
    /// [`Error::NotFound`] for an image of the entry the platform's download cannot fetch
    /// (nothing is sent). By default, what [`NoImages`] answers.
    async fn history_image(
        &self,
        _services: &Services,
        complaint: &Complaint,
        _entry: &domain::complaint::HistoryEntry,
        _n: usize,
    ) -> Result<ComplaintImage, Error> {
        Err(no_images(complaint.platform.as_str()))
    }

    /// Whether [`ComplaintImages::history_image`] fetches the images of history entries (a
    /// page links them only then).
    fn serves_history_images(&self) -> bool {
        false
    }
}

/// The images of a platform that offers no download (the default of
/// [`crate::platform::Platform::complaint_images`]).
pub struct NoImages;

#[async_trait]
impl ComplaintImages for NoImages {
    async fn image(
        &self,
        _services: &Services,
        complaint: &Complaint,
        _n: usize,
    ) -> Result<ComplaintImage, Error> {
        Err(no_images(complaint.platform.as_str()))
    }
}

/// Media item `n` of a history entry of `complaint`, or [`Error::NotFound`] naming it.
pub fn entry_media<'a>(
    complaint: &Complaint,
    entry: &'a domain::complaint::HistoryEntry,
    n: usize,
) -> Result<&'a str, Error> {
    entry.media.get(n).map(String::as_str).ok_or_else(|| {
        Error::NotFound(format!(
            "history entry {} of complaint {} has no media {n}",
            entry.entry_id, complaint.id
        ))
    })
}

/// The one answer for a platform whose complaints have no images to fetch.
pub fn no_images(platform: &str) -> Error {
    Error::Conflict(format!("{platform} complaints have no media download"))
}

/// The image type of `bytes` from their first bytes (jpg, png, gif, bmp or webp), if it is one
/// of these.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.starts_with(b"BM") {
        Some("image/bmp")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_known_by_their_first_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"BMxx"), Some("image/bmp"));
        assert_eq!(sniff(b"GIF89a\x01\x00"), Some("image/gif"));
        assert_eq!(sniff(b"GIF87a"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\x24\x00\x00\x00WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\x24\x00\x00\x00WAVEfmt "), None);
        assert_eq!(sniff(b"<!doctype html><script>"), None);
        assert_eq!(sniff(b"GIF"), None);
        assert_eq!(
            no_images("toy").to_string(),
            "toy complaints have no media download"
        );
    }
}
