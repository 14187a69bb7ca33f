//! The skip gate (`source::skip`) against the full parse: every file of the real trails in
//! tests/corpora, and a synthetic trail from bench/gen_cloudtrail.py, give
//! exactly the same report (events, duplicates, malformed, time span, per-rule counts) and
//! the same alerts when the records no rule can match are only counted as when every
//! record is parsed — under the bundled rules, the SigmaHQ CloudTrail rules and rules on
//! errorCode and userIdentity.type that no index bucket holds.

mod common;

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use trailwatch::pipeline::{Pipeline, Report, DEFAULT_HORIZON};
use trailwatch::rules::{self, RuleFile, RuleSet};
use trailwatch::sink;
use trailwatch::source::{decode, Item, Limits};
use trailwatch::state::memory::Memory;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What a scan of `input` gives: the report, the alerts as JSON, and how many records
/// the gate passed over.
fn scan(set: &RuleSet, input: &[u8], gated: bool) -> (Report, Vec<String>, u64) {
    let limits = Limits {
        keep: Some(Arc::new(set.keep())),
        gate: if gated { set.gate() } else { None },
        ..Limits::default()
    };
    let mut pipeline = Pipeline::new(set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
    let mut alerts = sink::Memory::default();
    let mut skipped = 0;
    let _ = decode(input, &limits, &mut |item| {
        skipped += u64::from(matches!(item, Item::Unwanted(_)));
        pipeline
            .push(item, &mut alerts, &mut |_, _| {})
            .expect("in-memory state and sink");
    });
    pipeline
        .finish(&mut alerts)
        .expect("in-memory state and sink");
    let alerts = alerts
        .alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
    (pipeline.report, alerts, skipped)
}

/// Scans each input both ways and compares; returns (records skipped, records in all).
fn same_either_way(name: &str, set: &RuleSet, inputs: &[(String, Vec<u8>)]) -> (u64, u64) {
    let (mut skipped, mut events) = (0, 0);
    for (file, bytes) in inputs {
        let (full, full_alerts, none) = scan(set, bytes, false);
        assert_eq!(none, 0);
        let (gated, gated_alerts, n) = scan(set, bytes, true);
        assert_eq!(gated, full, "{name}: {file}: report");
        assert_eq!(gated_alerts, full_alerts, "{name}: {file}: alerts");
        skipped += n;
        events += full.events;
    }
    (skipped, events)
}

fn corpora() -> Vec<(String, Vec<u8>)> {
    common::files_below(&root().join("tests/corpora"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x != "md" && x != "yml"))
        .map(|p| {
            let shown = p.strip_prefix(root()).unwrap().display().to_string();
            (shown, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// A synthetic trail of 3,000 records from the benchmark's generator (gzipped).
fn synthetic() -> (String, Vec<u8>) {
    let bytes = common::synthetic_trail(3000, 14);
    ("gen_cloudtrail.py --events 3000".into(), bytes)
}

fn compile(dir: &rules::RuleDir) -> RuleSet {
    let (set, diags) = RuleSet::compile_dir(dir, &[], 1_795_478_400);
    set.unwrap_or_else(|| panic!("{diags:?}"))
}

#[test]
fn the_bundled_rules_give_the_same_outcome_with_records_skipped() {
    let set = compile(&rules::bundled());
    assert!(set.gate().is_some(), "the bundled rules can be gated");
    let mut inputs = corpora();
    inputs.push(synthetic());
    let (skipped, events) = same_either_way("bundled", &set, &inputs);
    assert!(
        skipped * 2 > events,
        "most records are skipped: {skipped} of {events}"
    );
}

#[test]
fn the_sigma_catalogue_gives_the_same_outcome_with_records_skipped() {
    let dir = rules::read_dir(&root().join("tests/corpora/sigmahq-cloudtrail-rules")).unwrap();
    let set = compile(&dir);
    assert!(
        set.gate().is_some(),
        "the SigmaHQ CloudTrail rules can be gated"
    );
    let mut inputs = corpora();
    inputs.push(synthetic());
    let (skipped, events) = same_either_way("sigma", &set, &inputs);
    assert!(skipped > 0 && skipped < events, "{skipped} of {events}");
}

#[test]
fn rules_indexed_nowhere_give_the_same_outcome_with_records_skipped() {
    // Only rules the index cannot place: each is gated on one field, the rest of its
    // condition decides as usual.
    let rule = |id: &str, m: &str| RuleFile {
        path: format!("{id}.yaml"),
        text: format!("id: {id}\ntitle: '{id} {{eventName}}'\nseverity: low\nmatch:\n{m}"),
    };
    let files = [
        rule("denied", "  errorCode: {prefix: [AccessDenied, Client.]}\n"),
        rule(
            "assumed",
            "  userIdentity.type: AssumedRole\n  sourceIPAddress: {not: {cidr: [10.0.0.0/8]}}\n",
        ),
        rule("region", "  awsRegion: {one_of: [eu-west-1, sa-east-1]}\n"),
        rule("agent", "  userAgent: {contains: [Boto3]}\n"),
    ];
    let (set, diags) = RuleSet::compile(&files, &[], &[], 1_795_478_400);
    let set = set.unwrap_or_else(|| panic!("{diags:?}"));
    assert!(set.gate().is_some());
    let mut inputs = corpora();
    inputs.push(synthetic());
    let (skipped, events) = same_either_way("indexed nowhere", &set, &inputs);
    assert!(skipped > 0 && skipped < events, "{skipped} of {events}");
}

#[test]
fn skipped_records_are_still_counted_in_a_time_range_and_as_copies() {
    // The same file twice in one run: every record of the second pass is a copy, skipped
    // or not; a range keeps part of each.
    let set = compile(&rules::bundled());
    let (_, bytes) = synthetic();
    let mut twice = bytes.clone();
    twice.extend_from_slice(&bytes);
    let run = |gated: bool| {
        let limits = Limits {
            keep: Some(Arc::new(set.keep())),
            gate: if gated { set.gate() } else { None },
            ..Limits::default()
        };
        let mut pipeline = Pipeline::new(&set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
        pipeline.set_range(
            trailwatch::event::parse_time("2024-05-14T10:00:30Z"),
            trailwatch::event::parse_time("2024-05-14T10:01:30Z"),
        );
        let mut alerts = sink::Memory::default();
        decode(BufReader::new(&twice[..]), &limits, &mut |item| {
            pipeline.push(item, &mut alerts, &mut |_, _| {}).unwrap();
        })
        .unwrap();
        pipeline.finish(&mut alerts).unwrap();
        (pipeline.report, alerts.alerts.len())
    };
    let (full, gated) = (run(false), run(true));
    assert_eq!(gated, full);
    let r = &full.0;
    assert!(r.duplicates > 0 && r.outside_range > 0, "{r:?}");
    assert_eq!(r.events, 6000);
}
