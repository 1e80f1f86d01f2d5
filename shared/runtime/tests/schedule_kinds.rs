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
