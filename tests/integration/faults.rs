//! A few cycles of each fault-harness mode (the harness is the `faults`
//! bench target's; long runs go through `cargo bench --bench faults`):
//! leader kills on a 3-broker cluster and a crash loop of one broker, each
//! under an idempotent producer, must lose, duplicate and reorder nothing;
//! every kind of segment damage must leave a broker that starts, serves the
//! partition to its end with valid records, and keeps every record before the
//! damaged point.

use std::time::Duration;

use crate::common::gregor_bin;

#[path = "../../benches/faults/harness.rs"]
#[allow(dead_code)]
mod harness;

fn settings(cycles: usize) -> harness::Settings {
    let mut s = harness::Settings::new(gregor_bin());
    s.cycles = cycles;
    s.partitions = 3;
    // A debug broker on a loaded 2-core machine: a moderate stream keeps the
    // read-back short while every kill still lands on batches in flight.
    s.rate = 0;
    s.window = 500;
    s.message_timeout = Duration::from_secs(120);
    s.records_per_cycle = 200;
    s
}

fn check_stream(r: &harness::Report, kills: usize) {
    eprintln!("{}", r.text());
    assert_eq!(r.kills, kills, "every planned kill happened");
    assert!(r.acknowledged > 0, "something was acknowledged");
    assert_eq!(r.lost, 0, "acknowledged records lost (seed {})", r.seed);
    assert_eq!(r.duplicated, 0, "records duplicated (seed {})", r.seed);
    assert_eq!(r.reordered, 0, "records reordered (seed {})", r.seed);
    assert!(r.problems.is_empty(), "problems: {:?}", r.problems);
}

#[test]
fn leader_kills_lose_duplicate_and_reorder_nothing() {
    let r = harness::leader_kills(&settings(3)).expect("harness set-up");
    check_stream(&r, 3);
}

#[test]
fn a_crash_loop_loses_duplicates_and_reorders_nothing() {
    let r = harness::crash_loop(&settings(3)).expect("harness set-up");
    check_stream(&r, 3);
}

#[test]
fn every_kind_of_segment_damage_is_recovered() {
    let s = settings(harness::Damage::ALL.len());
    let r = harness::corrupt(&s).expect("harness set-up");
    eprintln!("{}", r.text());
    assert_eq!(r.kills, harness::Damage::ALL.len(), "one kill per damage kind");
    assert!(r.problems.is_empty(), "problems: {:?}", r.problems);
    assert_eq!(r.lost, 0, "records before a damaged point lost (seed {})", r.seed);
    // The final round produced after the last restart and read it all back.
    assert!(r.read > 0);
}
