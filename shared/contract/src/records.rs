//! RecordStore contract cases.

use domain::ports::{
    Index, IndexKey, Item, Query, RecordStore, SECONDARY_INDEXES, StoreError, Write,
};
use serde_json::json;
use std::collections::HashSet;

fn item(pk: &str, sk: &str, n: i64) -> Item {
    Item::new(pk, sk, json!({ "n": n, "text": format!("{pk}/{sk}") }))
}

pub async fn create_then_get_round_trips(store: &dyn RecordStore) {
    let it = item("acct#1", "meta", 7)
        .with_gsi1(IndexKey::new("kind#x", "2026-01-01#1"))
        .with_gsi2(IndexKey::new("plat#y", "k"));
    let created = store.create(it.clone()).await.expect("create");
    assert_eq!(created.version, 1);
    let got = store
        .get("acct#1", "meta")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.version, 1);
    assert_eq!(got.data, it.data);
    assert_eq!(got.indexes, it.indexes);
    assert!(store.get("acct#1", "other").await.expect("get").is_none());
}

pub async fn create_conflicts_when_key_exists(store: &dyn RecordStore) {
    store.create(item("p", "s", 1)).await.expect("first create");
    let err = store
        .create(item("p", "s", 2))
        .await
        .expect_err("second create must conflict");
    assert!(
        matches!(err, StoreError::AlreadyExists { .. }),
        "unexpected: {err:?}"
    );
    let got = store.get("p", "s").await.expect("get").expect("present");
    assert_eq!(got.data["n"], 1, "the original is unchanged");
    assert_eq!(got.version, 1);
}

pub async fn update_with_stale_version_is_rejected(store: &dyn RecordStore) {
    store.create(item("p", "s", 1)).await.expect("create");
    let v2 = store.update(item("p", "s", 2), 1).await.expect("update v1");
    assert_eq!(v2.version, 2);
    let err = store
        .update(item("p", "s", 3), 1)
        .await
        .expect_err("stale version must fail");
    assert!(
        matches!(err, StoreError::VersionConflict { expected: 1, .. }),
        "unexpected: {err:?}"
    );
    let got = store.get("p", "s").await.expect("get").expect("present");
    assert_eq!((got.version, got.data["n"].as_i64()), (2, Some(2)));
    let missing = store.update(item("p", "nope", 1), 1).await;
    assert!(matches!(missing, Err(StoreError::VersionConflict { .. })));
}

pub async fn concurrent_compare_and_set_has_one_winner(store: &dyn RecordStore) {
    store.create(item("p", "s", 0)).await.expect("create");
    let attempts = (0..8).map(|i| store.update(item("p", "s", 100 + i), 1));
    let results = futures_join_all(attempts).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "exactly one CAS wins: {results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(matches!(r, Err(StoreError::VersionConflict { .. })));
    }
    let got = store.get("p", "s").await.expect("get").expect("present");
    assert_eq!(got.version, 2);
}

/// Join futures without an extra dependency (they run concurrently on the runtime).
async fn futures_join_all<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut pinned: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

pub async fn put_creates_or_replaces(store: &dyn RecordStore) {
    let a = store.put(item("p", "s", 1)).await.expect("put new");
    assert_eq!(a.version, 1);
    let b = store.put(item("p", "s", 2)).await.expect("put again");
    assert_eq!(b.version, 2);
    let got = store.get("p", "s").await.expect("get").expect("present");
    assert_eq!(got.data["n"], 2);
}

pub async fn delete_respects_version(store: &dyn RecordStore) {
    store.create(item("p", "s", 1)).await.expect("create");
    let err = store
        .delete("p", "s", Some(7))
        .await
        .expect_err("wrong version");
    assert!(matches!(err, StoreError::VersionConflict { .. }), "{err:?}");
    assert!(store.get("p", "s").await.expect("get").is_some());
    assert!(store.delete("p", "s", Some(1)).await.expect("delete"));
    assert!(store.get("p", "s").await.expect("get").is_none());
    assert!(!store.delete("p", "s", None).await.expect("delete missing"));
}

pub async fn transaction_is_all_or_nothing(store: &dyn RecordStore) {
    store.create(item("p", "taken", 1)).await.expect("create");
    let err = store
        .transact(vec![
            Write::Create(item("p", "new", 1)),
            Write::Create(item("p", "taken", 2)),
        ])
        .await
        .expect_err("second write conflicts");
    match err {
        StoreError::TransactionConflict { index, .. } => assert_eq!(index, 1),
        other => panic!("unexpected: {other:?}"),
    }
    assert!(
        store.get("p", "new").await.expect("get").is_none(),
        "nothing of a failed transaction is written"
    );
    store
        .transact(vec![
            Write::Create(item("p", "new", 1)),
            Write::Update {
                item: item("p", "taken", 3),
                expected_version: 1,
            },
        ])
        .await
        .expect("valid transaction");
    assert!(store.get("p", "new").await.expect("get").is_some());
    let taken = store
        .get("p", "taken")
        .await
        .expect("get")
        .expect("present");
    assert_eq!((taken.version, taken.data["n"].as_i64()), (2, Some(3)));
}

pub async fn transaction_check_guards_other_writes(store: &dyn RecordStore) {
    store.create(item("p", "guard", 1)).await.expect("create");
    let err = store
        .transact(vec![
            Write::Check {
                pk: "p".into(),
                sk: "guard".into(),
                expected_version: 9,
            },
            Write::Put(item("p", "x", 1)),
        ])
        .await
        .expect_err("check fails");
    assert!(
        matches!(err, StoreError::TransactionConflict { index: 0, .. }),
        "{err:?}"
    );
    assert!(store.get("p", "x").await.expect("get").is_none());
    store
        .transact(vec![
            Write::Check {
                pk: "p".into(),
                sk: "guard".into(),
                expected_version: 1,
            },
            Write::Put(item("p", "x", 1)),
        ])
        .await
        .expect("check passes");
    assert!(store.get("p", "x").await.expect("get").is_some());
}

pub async fn primary_query_paginates_in_order(store: &dyn RecordStore) {
    for i in 0..25 {
        store
            .create(item("part", &format!("x#{i:03}"), i))
            .await
            .expect("create");
    }
    store
        .create(item("part", "y#000", 99))
        .await
        .expect("create");
    store
        .create(item("other", "x#000", 98))
        .await
        .expect("create");

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .query(
                &Query::partition(Index::Primary, "part")
                    .begins_with("x#")
                    .limit(10)
                    .after(cursor.take()),
            )
            .await
            .expect("query");
        pages += 1;
        assert!(page.items.len() <= 10);
        seen.extend(page.items.iter().map(|i| i.sk.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "pagination must end");
    }
    let expected: Vec<String> = (0..25).map(|i| format!("x#{i:03}")).collect();
    assert_eq!(seen, expected, "all items once, in sort-key order");
    assert!(pages >= 3);

    let back = store
        .query(&Query::partition(Index::Primary, "part").backward().limit(3))
        .await
        .expect("query");
    let sks: Vec<_> = back.items.iter().map(|i| i.sk.as_str()).collect();
    assert_eq!(sks, vec!["y#000", "x#024", "x#023"]);
    assert!(back.next_cursor.is_some());
    let next = store
        .query(
            &Query::partition(Index::Primary, "part")
                .backward()
                .limit(3)
                .after(back.next_cursor),
        )
        .await
        .expect("query");
    let sks: Vec<_> = next.items.iter().map(|i| i.sk.as_str()).collect();
    assert_eq!(sks, vec!["x#022", "x#021", "x#020"]);
}

pub async fn gsi_query_filters_and_paginates(store: &dyn RecordStore) {
    // Ten items in one GSI partition with two items sharing a sort key: order is stable and
    // pagination neither skips nor repeats across equal sort keys.
    for i in 0..10 {
        let day = if i < 5 { "2026-11-01" } else { "2026-11-02" };
        let sk = if i == 3 || i == 4 {
            format!("{day}#same")
        } else {
            format!("{day}#{i:02}")
        };
        store
            .create(item(&format!("c#{i}"), "meta", i).with_gsi1(IndexKey::new("acct#A", sk)))
            .await
            .expect("create");
    }
    store
        .create(item("c#other", "meta", 0).with_gsi1(IndexKey::new("acct#B", "2026-11-01#00")))
        .await
        .expect("create");
    store
        .create(item("c#nogsi", "meta", 0))
        .await
        .expect("create");

    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .query(
                &Query::partition(Index::Gsi1, "acct#A")
                    .limit(2)
                    .after(cursor.take()),
            )
            .await
            .expect("query");
        for it in &page.items {
            assert!(seen.insert(it.pk.clone()), "{} repeated", it.pk);
            order.push(it.index_key(Index::Gsi1).expect("gsi1").sk.clone());
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "ascending by index sort key");

    let day2 = store
        .query(&Query::partition(Index::Gsi1, "acct#A").begins_with("2026-11-02"))
        .await
        .expect("query");
    assert_eq!(day2.items.len(), 5);
    let range = store
        .query(&Query::partition(Index::Gsi1, "acct#A").between("2026-11-01#00", "2026-11-01#02"))
        .await
        .expect("query");
    let pks: HashSet<_> = range.items.iter().map(|i| i.pk.as_str()).collect();
    assert_eq!(pks, HashSet::from(["c#0", "c#1", "c#2"]));
    let none = store
        .query(&Query::partition(Index::Gsi2, "acct#A"))
        .await
        .expect("query");
    assert!(none.items.is_empty());
}

pub async fn expired_items_are_absent_and_can_be_recreated(store: &dyn RecordStore) {
    let past = chrono::Utc::now().timestamp() - 60;
    let future = chrono::Utc::now().timestamp() + 3600;
    store
        .put(item("ttl", "old", 1).expiring_at(past))
        .await
        .expect("put expired");
    store
        .put(item("ttl", "live", 1).expiring_at(future))
        .await
        .expect("put live");
    assert!(store.get("ttl", "old").await.expect("get").is_none());
    assert!(store.get("ttl", "live").await.expect("get").is_some());
    let page = store
        .query(&Query::partition(Index::Primary, "ttl"))
        .await
        .expect("query");
    let sks: Vec<_> = page.items.iter().map(|i| i.sk.as_str()).collect();
    assert_eq!(sks, vec!["live"]);
    let again = store
        .create(item("ttl", "old", 2))
        .await
        .expect("an expired key can be created again");
    assert_eq!(again.version, 1);
    let err = store
        .create(item("ttl", "live", 2))
        .await
        .expect_err("live key");
    assert!(matches!(err, StoreError::AlreadyExists { .. }));
}

pub async fn foreign_cursor_is_rejected(store: &dyn RecordStore) {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for cursor in [
        "not-a-cursor!".to_string(),
        b64("not json"),
        b64("{\"pk\": 7}"),
        b64("{\"nope\": \"x\"}"),
        b64("[1, 2]"),
        b64(""),
    ] {
        let err = store
            .query(&Query::partition(Index::Primary, "p").after(Some(cursor.clone())))
            .await
            .expect_err("garbage cursor");
        assert!(
            matches!(err, StoreError::InvalidCursor),
            "{cursor}: {err:?}"
        );
    }
    // A cursor issued for one partition does not open another.
    for i in 0..3 {
        store
            .create(item("cur-a", &format!("s{i}"), i))
            .await
            .expect("create");
    }
    let page = store
        .query(&Query::partition(Index::Primary, "cur-a").limit(1))
        .await
        .expect("first page");
    let issued = page.next_cursor.expect("a next cursor");
    let err = store
        .query(&Query::partition(Index::Primary, "cur-b").after(Some(issued)))
        .await
        .expect_err("cursor of another partition");
    assert!(matches!(err, StoreError::InvalidCursor), "{err:?}");
}

pub async fn empty_key_conditions_are_refused(store: &dyn RecordStore) {
    for q in [
        Query::partition(Index::Primary, ""),
        Query::partition(Index::Gsi1, "p").between("", "z"),
        Query::partition(Index::Gsi1, "p").begins_with(""),
    ] {
        let err = store.query(&q).await.expect_err("empty key condition");
        assert!(matches!(err, StoreError::Invalid(_)), "{q:?}: {err:?}");
    }
}

/// The health check's probe write works on a healthy store, again and again, and writes
/// nothing a query over user partitions could see.
pub async fn probe_write_succeeds_and_leaves_no_visible_record(store: &dyn RecordStore) {
    store.probe_write().await.expect("probe");
    store.probe_write().await.expect("second probe");
    let page = store
        .query(&Query::partition(Index::Primary, "p"))
        .await
        .expect("query");
    assert!(page.items.is_empty(), "{:?}", page.items);
    if let Some(w) = store.last_write() {
        assert_eq!(w.failure, None, "the adapter saw the probe succeed");
    }
}

/// Every secondary index the port offers (gsi1 ..= gsi15) holds what is written to it, sparse:
/// an item is in the indexes it has a key for, moves when its key changes and leaves when the
/// key goes.
pub async fn every_secondary_index_holds_its_keys(store: &dyn RecordStore) {
    let mut it = item("multi", "meta", 1);
    for index in Index::SECONDARY {
        let n = index.number().expect("secondary");
        it = it.with_index(
            index,
            IndexKey::new(format!("part#{n}"), format!("2026#{n}")),
        );
    }
    store.create(it.clone()).await.expect("create");
    let got = store
        .get("multi", "meta")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.indexes, it.indexes);
    for index in Index::SECONDARY {
        let n = index.number().expect("secondary");
        let page = store
            .query(&Query::partition(index, format!("part#{n}")))
            .await
            .expect("query");
        assert_eq!(page.items.len(), 1, "gsi{n}");
        assert_eq!(page.items[0].indexes, it.indexes, "gsi{n}");
        // Another index's partition name finds nothing here.
        let other = store
            .query(&Query::partition(
                index,
                format!("part#{}", n % SECONDARY_INDEXES + 1),
            ))
            .await
            .expect("query");
        assert!(other.items.is_empty(), "gsi{n}");
    }
    // Move the item in gsi3 and gsi13, take it out of gsi10 and gsi15.
    let mut moved = got.clone();
    moved.indexes[2] = Some(IndexKey::new("part#3b", "2026#3"));
    moved.indexes[9] = None;
    moved.indexes[12] = Some(IndexKey::new("part#13b", "2026#13"));
    moved.indexes[14] = None;
    store
        .update(moved.clone(), got.version)
        .await
        .expect("update");
    for (index, part, found) in [
        (Index::Gsi3, "part#3", 0),
        (Index::Gsi3, "part#3b", 1),
        (Index::Gsi10, "part#10", 0),
        (Index::Gsi9, "part#9", 1),
        (Index::Gsi13, "part#13", 0),
        (Index::Gsi13, "part#13b", 1),
        (Index::Gsi15, "part#15", 0),
        (Index::Gsi14, "part#14", 1),
        (Index::Gsi11, "part#11", 1),
    ] {
        let page = store
            .query(&Query::partition(index, part))
            .await
            .expect("query");
        assert_eq!(page.items.len(), found, "{index:?} {part}");
    }
}

/// Newest first within a time range, in pages: every page resumes exactly after the previous
/// one (no skip, no repeat, equal sort keys included), the range holds on every page, and a
/// cursor that does not belong to the range or was altered is refused.
pub async fn cursors_resume_inside_a_range(store: &dyn RecordStore) {
    for i in 0..12 {
        // Days 01..=04, three items a day, two of them sharing a sort key.
        let day = i / 3 + 1;
        let sort = if i % 3 == 2 {
            format!("2026-11-0{day}#same")
        } else {
            format!("2026-11-0{day}#{i:02}")
        };
        store
            .create(
                item(&format!("r#{i:02}"), "meta", i)
                    .with_index(Index::Gsi5, IndexKey::new("R", sort)),
            )
            .await
            .expect("create");
    }
    let range = || {
        Query::partition(Index::Gsi5, "R")
            .between("2026-11-02", "2026-11-03#~")
            .backward()
    };
    let mut got = Vec::new();
    let mut cursor = None;
    let mut cursors = Vec::new();
    loop {
        let page = store
            .query(&range().limit(2).after(cursor.take()))
            .await
            .expect("page");
        got.extend(page.items.iter().map(|i| {
            let k = i.index_key(Index::Gsi5).expect("key");
            (k.sk.clone(), i.pk.clone())
        }));
        match page.next_cursor {
            Some(c) => {
                cursors.push(c.clone());
                cursor = Some(c)
            }
            None => break,
        }
    }
    let pks: Vec<&str> = got.iter().map(|(_, pk)| pk.as_str()).collect();
    // Newest first: by sort key, then by pk, both descending.
    assert_eq!(
        pks,
        ["r#08", "r#07", "r#06", "r#05", "r#04", "r#03"],
        "{got:?}"
    );
    // A cursor of this partition used for a range it does not lie in.
    let first = cursors.first().cloned().expect("a cursor");
    let err = store
        .query(
            &Query::partition(Index::Gsi5, "R")
                .between("2026-11-04", "2026-11-04#~")
                .backward()
                .after(Some(first.clone())),
        )
        .await;
    assert!(
        matches!(err, Err(StoreError::InvalidCursor))
            || err.as_ref().is_ok_and(|p| p.items.is_empty()),
        "{err:?}"
    );
    // Altered cursors.
    let mut flipped = first.clone().into_bytes();
    if let Some(b) = flipped.get_mut(3) {
        *b = if *b == b'A' { b'B' } else { b'A' };
    }
    for bad in [
        "not a cursor".to_string(),
        String::from_utf8(flipped).unwrap_or_default(),
        format!("{first}x"),
    ] {
        let err = store.query(&range().after(Some(bad.clone()))).await;
        assert!(
            matches!(err, Err(StoreError::InvalidCursor)),
            "{bad}: {err:?}"
        );
    }
}
