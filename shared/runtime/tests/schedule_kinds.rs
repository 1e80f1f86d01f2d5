//! The scheduler links no platform, so it names the account kinds without complaints itself;
//! this keeps that list equal to what the platforms declare.

use std::collections::BTreeSet;

#[test]
fn the_scheduler_skips_exactly_the_kinds_the_platforms_declare_without_complaints() {
    let platforms = desk_core::platforms::builtin();
    let declared: BTreeSet<&str> = platforms
        .account_kinds()
        .filter(|k| !k.facts.has_complaints)
        .map(|k| k.facts.kind.as_str())
        .collect();
    let listed: BTreeSet<&str> = runtime::schedule::KINDS_WITHOUT_COMPLAINTS
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        listed, declared,
        "runtime::schedule::KINDS_WITHOUT_COMPLAINTS must name exactly the kinds whose platform \
         declares `has_complaints: false`"
    );
}

/// A scheduled run that cannot finish before Lambda's deadline (here: a queue that takes 10 s
/// per message) stops in time and fails, so Lambda runs it again, instead of timing out.
mod out_of_time {
    use async_trait::async_trait;
    use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
    use domain::ports::{DeadLetterPage, Queue, QueueError, QueueMessage};
    use std::time::{Duration, Instant};

    struct SlowQueue;

    #[async_trait]
    impl Queue for SlowQueue {
        async fn send(&self, _: &str, _: &str, _: Duration) -> Result<String, QueueError> {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok("sent".into())
        }
        async fn receive(
            &self,
            _: &str,
            _: u32,
            _: Duration,
            _: Duration,
        ) -> Result<Vec<QueueMessage>, QueueError> {
            Ok(vec![])
        }
        async fn delete(&self, _: &str, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
        async fn change_visibility(&self, _: &str, _: &str, _: Duration) -> Result<(), QueueError> {
            Ok(())
        }
        async fn dead_letter(&self, _: &str, _: &str, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
        async fn list_dead_letters(
            &self,
            _: &str,
            _: u32,
            _: Option<String>,
        ) -> Result<DeadLetterPage, QueueError> {
            Ok(DeadLetterPage::default())
        }
        async fn replay(&self, _: &str, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
        async fn ping(&self) -> Result<(), QueueError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_run_that_cannot_finish_in_time_stops_before_the_deadline_and_fails() {
        desk_core::platforms::builtin();
        let dir = tempfile::tempdir().expect("dir");
        let db = embedded::Db::open(dir.path().join("desk.db")).expect("db");
        let records = embedded::SqliteRecordStore::new(db);
        let account = serde_json::from_value(serde_json::json!({
            "id": "acc_a", "name": "acc_a", "enabled": true, "kind": "alipay_app",
            "settings": {"app_id": "2021000000000001"},
            "credentials": {"complete": false, "fields": {}},
            "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:00:00Z",
        }))
        .expect("account");
        desk_core::repo::AccountRepo::new(&records)
            .create(&account)
            .await
            .expect("create");
        let mut context = lambda_runtime::Context::default();
        let deadline = Duration::from_millis(2500);
        context.deadline = (std::time::SystemTime::now() + deadline)
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let event: CloudWatchEvent = serde_json::from_value(serde_json::json!({
            "detail-type": "Scheduled Event", "source": "aws.events",
            "time": chrono::Utc::now(), "resources": [], "detail": {},
        }))
        .expect("a scheduled event");
        let started = Instant::now();
        let result = runtime::schedule::invocation(
            lambda_runtime::LambdaEvent::new(event, context),
            &records,
            &SlowQueue,
            desk_core::schedule::ALL,
            &runtime::emf::Emf::to_writer(std::io::sink()),
        )
        .await;
        let took = started.elapsed();
        let error = result.expect_err("a run out of time fails, so Lambda retries it");
        assert!(error.to_string().contains("ran out of time"), "{error}");
        assert!(
            took < Duration::from_secs(2),
            "stopped {took:?} after the start"
        );
    }
}

/// A run for many accounts sends its jobs 16 at a time: with a queue that takes 1 s per send,
/// 32 accounts take about 2 s, not 32 (a run for thousands fits the scheduler's minute).
mod concurrent_sends {
    use async_trait::async_trait;
    use domain::ports::{DeadLetterPage, Queue, QueueError, QueueMessage};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// A queue taking 1 s per send, noting how many sends were in flight at most.
    #[derive(Default)]
    struct SecondPerSend {
        in_flight: AtomicUsize,
        most: AtomicUsize,
        sent: AtomicUsize,
    }

    #[async_trait]
    impl Queue for SecondPerSend {
        async fn send(&self, _: &str, _: &str, _: Duration) -> Result<String, QueueError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.sent.fetch_add(1, Ordering::SeqCst);
            Ok("sent".into())
        }
        async fn receive(
            &self,
            _: &str,
            _: u32,
            _: Duration,
            _: Duration,
        ) -> Result<Vec<QueueMessage>, QueueError> {
            Ok(vec![])
        }
        async fn delete(&self, _: &str, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
        async fn change_visibility(&self, _: &str, _: &str, _: Duration) -> Result<(), QueueError> {
            Ok(())
        }
        async fn dead_letter(&self, _: &str, _: &str, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
        async fn list_dead_letters(
            &self,
            _: &str,
            _: u32,
            _: Option<String>,
        ) -> Result<DeadLetterPage, QueueError> {
            Ok(DeadLetterPage::default())
        }
        async fn replay(&self, _: &str, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
        async fn ping(&self) -> Result<(), QueueError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn per_account_jobs_are_sent_sixteen_at_a_time() {
        desk_core::platforms::builtin();
        let dir = tempfile::tempdir().expect("dir");
        let db = embedded::Db::open(dir.path().join("desk.db")).expect("db");
        let records = embedded::SqliteRecordStore::new(db);
        const ACCOUNTS: usize = 32;
        for i in 0..ACCOUNTS {
            let account = serde_json::from_value(serde_json::json!({
                "id": format!("acc_{i:02}"), "name": "a", "enabled": true, "kind": "alipay_app",
                "settings": {"app_id": format!("20210000000000{i:02}")},
                "credentials": {"complete": false, "fields": {}},
                "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:00:00Z",
            }))
            .expect("account");
            desk_core::repo::AccountRepo::new(&records)
                .create(&account)
                .await
                .expect("create");
        }
        let queue = SecondPerSend::default();
        let now = chrono::Utc::now();
        let started = Instant::now();
        let tally = desk_core::schedule::enqueue_per_account(
            &records,
            &queue,
            &desk_core::schedule::ALL[..1],
            now,
            now,
            &[],
        )
        .await
        .expect("every job sent");
        let took = started.elapsed();
        assert_eq!(tally.enqueued, ACCOUNTS);
        assert_eq!(queue.sent.load(Ordering::SeqCst), ACCOUNTS);
        assert_eq!(queue.most.load(Ordering::SeqCst), 16, "at most 16 at once");
        assert!(
            took < Duration::from_millis(3500),
            "{ACCOUNTS} sends of 1 s took {took:?}"
        );
    }
}
