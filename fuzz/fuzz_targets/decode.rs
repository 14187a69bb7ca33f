//! Any bytes through the input decoder (plain and gzip, every envelope), with and without
//! field pruning, then through the pipeline: never a panic, memory bounded by the caps;
//! records the skip gate passes over give the same report and alerts as when parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use trailwatch::pipeline::Pipeline;
use trailwatch::rules::{self, RuleSet};
use trailwatch::sink::Memory as Alerts;
use trailwatch::source::{decode, Limits};
use trailwatch::state::memory::Memory;

fn rules() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| {
        RuleSet::compile_dir(&rules::bundled(), &[], 0)
            .0
            .expect("bundled rules compile")
    })
}

fuzz_target!(|data: &[u8]| {
    let set = rules();
    let keep = Some(Arc::new(set.keep()));
    let mut reports = Vec::new();
    for (keep, gate) in [(None, None), (keep.clone(), None), (keep, set.gate())] {
        let limits = Limits {
            max_record: 4096,
            max_envelope: 1 << 16,
            max_decompressed: 1 << 20,
            keep,
            gate,
        };
        let mut pipeline = Pipeline::new(set, Memory::new(3600), 3600);
        let mut sink = Alerts::default();
        let _ = decode(data, &limits, &mut |item| {
            let _ = pipeline.push(item, &mut sink, &mut |_, _| {});
        });
        let _ = pipeline.flush(&mut sink);
        let ids: Vec<String> = sink.alerts.iter().map(|a| a.fingerprint.clone()).collect();
        reports.push((pipeline.report, ids));
    }
    // Records the gate skips are counted exactly as when they are parsed.
    assert_eq!(reports[1], reports[2], "gate changed the outcome");
});
