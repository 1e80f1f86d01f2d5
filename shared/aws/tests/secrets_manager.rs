//! Secrets Manager behaviour beyond the contract, on moto server.

use aws::SecretsManagerStore;
use domain::ports::SecretStore;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

use aws::testing as moto;

#[tokio::test]
async fn a_name_pending_deletion_can_be_written_again() {
    let cfg = moto::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&cfg);
    let prefix = format!("desk-{}/", uuid::Uuid::new_v4().simple());
    let store = SecretsManagerStore::new(client.clone(), prefix.clone(), Duration::ZERO);
    store
        .put(
            "accounts/a/credentials",
            SecretString::from("v1".to_string()),
        )
        .await
        .expect("put");
    // An operator deletes it with a recovery window: the name stays taken until it expires.
    client
        .delete_secret()
        .secret_id(format!("{prefix}accounts/a/credentials"))
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("schedule deletion");
    assert!(
        store
            .get("accounts/a/credentials")
            .await
            .expect("get")
            .is_none(),
        "pending deletion reads as absent"
    );
    store
        .put(
            "accounts/a/credentials",
            SecretString::from("v2".to_string()),
        )
        .await
        .expect("a name pending deletion is restored and overwritten");
    let got = store
        .get("accounts/a/credentials")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.expose_secret(), "v2");
}

#[tokio::test]
async fn reads_are_cached_for_the_ttl() {
    let cfg = moto::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&cfg);
    let prefix = format!("desk-{}/", uuid::Uuid::new_v4().simple());
    let writer = SecretsManagerStore::new(client.clone(), prefix.clone(), Duration::ZERO);
    let cached = SecretsManagerStore::new(client.clone(), prefix.clone(), Duration::from_secs(300));
    let fresh = SecretsManagerStore::new(client, prefix, Duration::ZERO);
    writer
        .put("k", SecretString::from("one".to_string()))
        .await
        .expect("put");
    assert_eq!(
        cached
            .get("k")
            .await
            .expect("get")
            .expect("set")
            .expose_secret(),
        "one"
    );
    writer
        .put("k", SecretString::from("two".to_string()))
        .await
        .expect("put");
    assert_eq!(
        cached
            .get("k")
            .await
            .expect("get")
            .expect("set")
            .expose_secret(),
        "one",
        "served from the cache"
    );
    assert_eq!(
        fresh
            .get("k")
            .await
            .expect("get")
            .expect("set")
            .expose_secret(),
        "two"
    );
    assert_eq!(
        cached
            .get_fresh("k")
            .await
            .expect("get_fresh")
            .expect("set")
            .expose_secret(),
        "two",
        "a fresh read passes the cache"
    );
    assert_eq!(
        cached
            .get("k")
            .await
            .expect("get")
            .expect("set")
            .expose_secret(),
        "two",
        "and refreshes it"
    );
}
