//! Any bytes through the input decoder (plain and gzip, every envelope), with and without
//! field pruning, then through the pipeline: never a panic, memory bounded by the caps.
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
    for keep in [None, Some(Arc::new(set.keep()))] {
        let limits = Limits {
            max_record: 4096,
            max_envelope: 1 << 16,
            max_decompressed: 1 << 20,
            keep,
        };
        let mut pipeline = Pipeline::new(set, Memory::new(3600), 3600);
        let mut sink = Alerts::default();
        let _ = decode(data, &limits, &mut |item| {
            let _ = pipeline.push(item, &mut sink, &mut |_, _| {});
        });
        let _ = pipeline.flush(&mut sink);
    }
});
