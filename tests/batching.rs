//! A scan resolves hits against its state in batches (64 in memory, 2,000 against
//! DynamoDB: `State::batch_size`). The batch size is a matter of cost, never of outcome:
//! the bundled rules give the same report and the same alerts, in the same order, over
//! the real trails of tests/corpora and a synthetic trail whether hits are resolved one at
//! a time, a few at a time, 64 or 2,000 at a time.

mod common;

use std::path::Path;
use std::sync::Arc;
use trailwatch::pipeline::{Pipeline, Report, DEFAULT_HORIZON};
use trailwatch::rules::{self, RuleSet};
use trailwatch::sink;
use trailwatch::source::{decode, Limits};
use trailwatch::state::memory::Memory;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One run over every input in turn, hits resolved `batch` at a time.
fn scan(set: &RuleSet, inputs: &[Vec<u8>], batch: usize) -> (Report, Vec<String>) {
    let limits = Limits {
        keep: Some(Arc::new(set.keep())),
        gate: set.gate(),
        ..Limits::default()
    };
    let state = Memory::new(DEFAULT_HORIZON).with_batch_size(batch);
    let mut pipeline = Pipeline::new(set, state, DEFAULT_HORIZON);
    let mut alerts = sink::Memory::default();
    for (i, input) in inputs.iter().enumerate() {
        pipeline.set_owner(&format!("input-{i}"));
        let _ = decode(&input[..], &limits, &mut |item| {
            pipeline.push(item, &mut alerts, &mut |_, _| {}).unwrap();
        });
        pipeline.flush(&mut alerts).unwrap();
    }
    pipeline.finish(&mut alerts).unwrap();
    let alerts = alerts
        .alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    (pipeline.report, alerts)
}

#[test]
fn the_batch_size_changes_nothing_but_cost() {
    let (set, diags) = RuleSet::compile_dir(&rules::bundled(), &[], 1_795_478_400);
    let set = set.unwrap_or_else(|| panic!("{diags:?}"));
    let mut inputs: Vec<Vec<u8>> = common::files_below(&root().join("tests/corpora"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "gz"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    inputs.push(common::synthetic_trail(3000, 7));
    let (report, alerts) = scan(&set, &inputs, 2_000);
    // Enough happens for batching to matter: thresholds cross, keys deduplicate, copies.
    assert!(
        report.alerts > 100 && report.deduplicated > 100 && report.duplicates > 0,
        "{report:?}"
    );
    for batch in [1, 5, 64] {
        let (r, a) = scan(&set, &inputs, batch);
        assert_eq!(r, report, "report with batches of {batch}");
        assert!(a == alerts, "alerts with batches of {batch} differ");
    }
}
