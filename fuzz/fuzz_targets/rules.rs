//! Any text as a rule file and as a lists file: the checker reports, never panics, and
//! stays within its size, depth and node caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailwatch::rules::{RuleFile, RuleSet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = RuleFile {
        path: "fuzz.yaml".into(),
        text: text.to_string(),
    };
    let lists = RuleFile {
        path: "lists.yaml".into(),
        text: "trusted_accounts: ['1']\n".into(),
    };
    if let (Some(set), _) = RuleSet::compile(&[file.clone()], &[lists.clone()], &[], 0) {
        let _ = trailwatch::testing::run_all(set.rules());
    }
    let _ = RuleSet::compile(&[], &[file], &[], 0);
});
