//! BlobStore contract cases.

use domain::ports::{Blob, BlobError, BlobStore};

fn png(bytes: &[u8]) -> Blob {
    Blob {
        bytes: bytes.to_vec(),
        content_type: "image/png".into(),
    }
}

pub async fn put_then_get_round_trips(store: &dyn BlobStore) {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    store
        .put("media/acc_1/a.png", png(&bytes))
        .await
        .expect("put");
    let got = store
        .get("media/acc_1/a.png")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.bytes, bytes);
    assert_eq!(got.content_type, "image/png");
}

pub async fn put_replaces_and_delete_removes(store: &dyn BlobStore) {
    store.put("k", png(b"one")).await.expect("put");
    store
        .put(
            "k",
            Blob {
                bytes: b"two".to_vec(),
                content_type: "image/jpeg".into(),
            },
        )
        .await
        .expect("put again");
    let got = store.get("k").await.expect("get").expect("present");
    assert_eq!(
        (got.bytes.as_slice(), got.content_type.as_str()),
        (&b"two"[..], "image/jpeg")
    );
    store.delete("k").await.expect("delete");
    assert!(store.get("k").await.expect("get").is_none());
    store
        .delete("k")
        .await
        .expect("deleting a missing blob is fine");
}

pub async fn missing_blob_is_none(store: &dyn BlobStore) {
    assert!(store.get("no/such/blob").await.expect("get").is_none());
}

pub async fn invalid_keys_are_rejected(store: &dyn BlobStore) {
    for key in ["../escape", "a//b", "", "with space"] {
        let err = store.put(key, png(b"x")).await.expect_err("invalid key");
        assert!(matches!(err, BlobError::InvalidKey(_)), "{key:?}: {err:?}");
    }
}
