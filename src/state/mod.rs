//! What trailwatch remembers between events: seen event fingerprints (to drop copies
//! delivered by several trails) and threshold windows. Both are keyed on event time and
//! pruned by an event-time horizon, so memory stays bounded however long the input.
//! This is the in-memory state the CLI uses; the Lambda keeps the same shapes in DynamoDB.

pub mod seen;
pub mod window;

/// Stable 64-bit FNV-1a over byte strings, separated so ("ab","c") ≠ ("a","bc").
pub fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
