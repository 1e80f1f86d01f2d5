//! Contract suites for the ports, written once and run against every adapter.
//!
//! An adapter's test file calls the suite macros with an async factory that returns a fresh,
//! empty [`Fixture`]:
//!
//! ```text
//! async fn records() -> contract::Fixture<dyn RecordStore> { ... }
//! contract::record_store_suite!(records);
//! ```
//!
//! Queue fixtures must dead-letter after [`queue::MAX_RECEIVES`] receives.

pub mod blobs;
pub mod inbox;
pub mod queue;
pub mod records;
pub mod secrets;

use std::sync::Arc;

/// A fresh adapter and whatever must live as long as it (a temp dir, an emulator handle).
pub struct Fixture<P: ?Sized> {
    pub port: Arc<P>,
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

impl<P: ?Sized> Fixture<P> {
    pub fn new(port: Arc<P>, guard: impl std::any::Any + Send + Sync) -> Self {
        Self {
            port,
            guard: Box::new(guard),
        }
    }
}

/// Generates one `#[tokio::test]` per case of a suite module, each with a fresh fixture.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite {
    ($suite:ident, $factory:ident, [$($case:ident),* $(,)?]) => {
        mod $suite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = super::$factory().await;
                    $crate::$suite::$case(&*fixture.port).await;
                    drop(fixture);
                }
            )*
        }
    };
}

/// The record store contract.
#[macro_export]
macro_rules! record_store_suite {
    ($factory:ident) => {
        $crate::__suite!(
            records,
            $factory,
            [
                create_then_get_round_trips,
                every_secondary_index_holds_its_keys,
                cursors_resume_inside_a_range,
                create_conflicts_when_key_exists,
                update_with_stale_version_is_rejected,
                concurrent_compare_and_set_has_one_winner,
                put_creates_or_replaces,
                delete_respects_version,
                transaction_is_all_or_nothing,
                transaction_check_guards_other_writes,
                primary_query_paginates_in_order,
                gsi_query_filters_and_paginates,
                expired_items_are_absent_and_can_be_recreated,
                foreign_cursor_is_rejected,
                empty_key_conditions_are_refused,
                probe_write_succeeds_and_leaves_no_visible_record,
            ]
        );
    };
}

/// The queue contract.
#[macro_export]
macro_rules! queue_suite {
    ($factory:ident) => {
        $crate::__suite!(
            queue,
            $factory,
            [
                received_message_is_hidden_until_visibility_ends,
                redelivers_after_visibility_timeout_with_receive_count_plus_one,
                stale_receipt_cannot_delete_redelivered_message,
                dead_letters_after_max_receives,
                concurrent_receivers_never_get_the_same_message,
                delay_is_honoured,
                dead_letter_keeps_reason_and_replay_puts_it_back,
                change_visibility_hides_and_reveals,
                deleted_message_never_returns,
                dead_letters_paginate,
                replay_of_unknown_dead_letter_is_not_found,
                queues_are_separate,
            ]
        );
    };
}

/// The secret store contract.
#[macro_export]
macro_rules! secret_store_suite {
    ($factory:ident) => {
        $crate::__suite!(
            secrets,
            $factory,
            [
                put_then_get_round_trips,
                put_replaces_and_delete_removes,
                missing_secret_is_none,
                invalid_names_are_rejected,
                large_and_unicode_values_survive,
                fresh_reads_see_the_newest_write,
            ]
        );
    };
}

/// The blob store contract.
#[macro_export]
macro_rules! blob_store_suite {
    ($factory:ident) => {
        $crate::__suite!(
            blobs,
            $factory,
            [
                put_then_get_round_trips,
                put_replaces_and_delete_removes,
                missing_blob_is_none,
                invalid_keys_are_rejected,
            ]
        );
    };
}

/// The inbox contract (fixture port: [`inbox::InboxUnderTest`]).
#[macro_export]
macro_rules! inbox_suite {
    ($factory:ident) => {
        $crate::__suite!(
            inbox,
            $factory,
            [
                first_accept_queues_the_job,
                redelivery_queues_nothing_more,
                different_keys_are_separate,
                concurrent_deliveries_queue_at_least_once_and_then_dedupe,
                unknown_queue_is_refused_and_not_remembered,
            ]
        );
    };
}
