//! Any bytes as a Lambda payload: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = trailwatch::trigger::parse(data);
});
