//! SecretStore contract cases.

use domain::ports::{SecretError, SecretStore};
use secrecy::{ExposeSecret, SecretString};

fn s(v: &str) -> SecretString {
    SecretString::from(v.to_string())
}

async fn read(store: &dyn SecretStore, name: &str) -> Option<String> {
    store
        .get(name)
        .await
        .expect("get")
        .map(|v| v.expose_secret().to_string())
}

pub async fn put_then_get_round_trips(store: &dyn SecretStore) {
    store
        .put("accounts/acc_1/credentials", s("{\"k\":\"v\"}"))
        .await
        .expect("put");
    assert_eq!(
        read(store, "accounts/acc_1/credentials").await.as_deref(),
        Some("{\"k\":\"v\"}")
    );
    assert_eq!(
        read(store, "accounts/acc_2/credentials").await,
        None,
        "names are separate"
    );
}

pub async fn put_replaces_and_delete_removes(store: &dyn SecretStore) {
    store.put("a/b", s("one")).await.expect("put");
    store.put("a/b", s("two")).await.expect("put again");
    assert_eq!(read(store, "a/b").await.as_deref(), Some("two"));
    store.delete("a/b").await.expect("delete");
    assert_eq!(read(store, "a/b").await, None);
    store
        .delete("a/b")
        .await
        .expect("deleting a missing secret is fine");
    store
        .put("a/b", s("three"))
        .await
        .expect("a deleted name can be used again");
    assert_eq!(read(store, "a/b").await.as_deref(), Some("three"));
}

pub async fn fresh_reads_see_the_newest_write(store: &dyn SecretStore) {
    let fresh = |name: &'static str| async move {
        store
            .get_fresh(name)
            .await
            .expect("get_fresh")
            .map(|v| v.expose_secret().to_string())
    };
    assert_eq!(fresh("f/one").await, None);
    store.put("f/one", s("a")).await.expect("put");
    assert_eq!(fresh("f/one").await.as_deref(), Some("a"));
    store.put("f/one", s("b")).await.expect("put again");
    assert_eq!(fresh("f/one").await.as_deref(), Some("b"));
    assert_eq!(read(store, "f/one").await.as_deref(), Some("b"));
    store.delete("f/one").await.expect("delete");
    assert_eq!(fresh("f/one").await, None);
    assert!(matches!(
        store.get_fresh("has space").await,
        Err(SecretError::InvalidName(_))
    ));
}

pub async fn missing_secret_is_none(store: &dyn SecretStore) {
    assert_eq!(read(store, "never/written").await, None);
}

pub async fn invalid_names_are_rejected(store: &dyn SecretStore) {
    for name in ["", "has space", "semi;colon"] {
        let err = store.put(name, s("x")).await.expect_err("invalid name");
        assert!(
            matches!(err, SecretError::InvalidName(_)),
            "{name:?}: {err:?}"
        );
    }
}

pub async fn large_and_unicode_values_survive(store: &dyn SecretStore) {
    let big = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n中文 ✓",
        "A".repeat(20_000)
    );
    store.put("big/one", s(&big)).await.expect("put");
    assert_eq!(read(store, "big/one").await.as_deref(), Some(big.as_str()));
}
