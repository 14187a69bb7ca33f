//! What trailwatch remembers between events: seen event fingerprints (to drop copies
//! delivered by several trails), threshold windows and alert keys. All of it is keyed on
//! event time and pruned by an event-time horizon, so memory stays bounded.
//!
//! [`State`] is the seam between the pure pipeline and where that memory lives: in the
//! process ([`memory::Memory`], for the CLI and tests) or in DynamoDB, shared by the
//! Lambda's concurrent copies (the `trailwatch-lambda` crate).

pub mod memory;
pub mod rollup;
pub mod seen;
pub mod window;

use crate::event::Event;
use crate::rules::Rule;
use rollup::{Follow, Rollup};
use window::{Added, Entry, Spec};

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

/// The identity of an event: its `eventID`, `eventTime`, `eventName` and
/// `recipientAccountId`; without `eventID`, the whole record (so it is never taken for a
/// copy of another).
pub fn identity(e: &Event) -> u64 {
    let field = |k: &str| e.str(k).unwrap_or("").as_bytes();
    match e.event_id() {
        Some(id) => fnv(&[
            id.as_bytes(),
            field("eventTime"),
            field("eventName"),
            field("recipientAccountId"),
        ]),
        None => fnv(&[b"record", e.value().to_string().as_bytes()]),
    }
}

/// A state store failed; `retryable` says whether trying the invocation again can help.
#[derive(Debug, thiserror::Error)]
#[error("state store: {message}")]
pub struct StateError {
    pub message: String,
    pub retryable: bool,
}

/// What an alert key said about a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Alert: the key is new (or its cooldown has passed), or this is the event that
    /// raised the key's alert, delivered again. `since` is that alert's event time.
    Alert { since: i64 },
    /// An alert for this key was raised by another event within the cooldown, at `since`
    /// (event time).
    Deduplicated { since: i64 },
}

/// The last alert raised for an alert key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyRecord {
    /// Event time of the event that raised it.
    pub since: i64,
    /// That event's identity.
    pub trigger: u64,
}

/// Decides an alert key from its last record; returns the record to store, if it changes.
/// Shared by every [`State`] so the CLI and the Lambda decide alike.
pub fn decide_key(
    prev: Option<KeyRecord>,
    identity: u64,
    time: i64,
    cooldown: Option<i64>,
) -> (Key, Option<KeyRecord>) {
    let fresh = KeyRecord {
        since: time,
        trigger: identity,
    };
    match prev {
        None => (Key::Alert { since: time }, Some(fresh)),
        Some(k) if k.trigger == identity => (Key::Alert { since: k.since }, None),
        Some(k) => match cooldown {
            Some(c) if (time - k.since).abs() >= c => (Key::Alert { since: time }, Some(fresh)),
            _ => (Key::Deduplicated { since: k.since }, None),
        },
    }
}

/// Where windows, alert keys and cross-process sightings live.
///
/// The pipeline works in batches (an input, or part of a large one): [`State::begin`],
/// then the batch's hits one by one, then [`State::commit`]. A store shared between
/// processes may read lazily and keep its writes until `commit`; if another process changed
/// the same state meanwhile, `commit` says so and the pipeline runs the batch again (every
/// step is idempotent per event identity). Once the alerts of a batch were delivered,
/// [`State::delivered`] lets the store record the batch's sightings for other inputs.
pub trait State {
    /// How many hits to hold before resolving them as one batch. A store with round trips
    /// (DynamoDB) wants large batches; one in memory gains nothing from waiting, and each
    /// held event costs memory and cache (a scan resolves hits 64 at a time).
    fn batch_size(&self) -> usize {
        crate::pipeline::MAX_BATCH
    }

    /// Starts a batch whose hits are the events `identities` (a store may fetch what it
    /// knows of them at once).
    fn begin(&mut self, _identities: &[u64]) -> Result<(), StateError> {
        Ok(())
    }

    /// Makes the batch's changes durable: `Ok(false)` if another process changed the same
    /// state meanwhile (the batch must run again, from `begin`).
    fn commit(&mut self) -> Result<bool, StateError> {
        Ok(true)
    }

    /// The alerts of the committed batches read as `owner` were delivered.
    fn delivered(&mut self, _owner: &str) -> Result<(), StateError> {
        Ok(())
    }

    /// Is this the first time any process sees the event `identity`? `owner` names the
    /// input being read (an S3 object, a log batch): the same input read again, as a
    /// retry does, still counts as the first sighting, so nothing is lost to a retry; and
    /// a sighting whose alerts were not delivered yet hides no other copy.
    fn first_sighting(
        &mut self,
        identity: u64,
        owner: &str,
        time: Option<i64>,
    ) -> Result<bool, StateError>;

    /// Adds a matching event to the window of `(rule, group)`.
    fn window_add(
        &mut self,
        rule: &str,
        group: &str,
        entry: Entry,
        spec: &Spec,
    ) -> Result<Added, StateError>;

    /// Counts the event `e` (`identity`) in the roll-up of the alert it follows, which
    /// starts with this event if it is the first (see [`rollup`]).
    fn rollup_add(
        &mut self,
        rule: &Rule,
        follow: &Follow,
        e: &Event,
        identity: u64,
    ) -> Result<(), StateError>;

    /// Takes out the roll-ups whose span or cooldown ended at or before `before` (event
    /// time), earliest first, for their follow-ups to be sent.
    fn rollups_due(&mut self, before: i64) -> Result<Vec<Rollup>, StateError>;

    /// Checks and records an alert key of `rule` for the event `identity` at `time`.
    fn alert_key(
        &mut self,
        rule: &str,
        key: &str,
        identity: u64,
        time: i64,
        cooldown: Option<i64>,
    ) -> Result<Key, StateError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAISED: KeyRecord = KeyRecord {
        since: 1_000,
        trigger: 7,
    };

    #[test]
    fn a_key_alerts_once_per_cooldown_and_again_for_its_own_event() {
        assert_eq!(
            decide_key(None, 7, 1_000, Some(600)),
            (Key::Alert { since: 1_000 }, Some(RAISED))
        );
        // The event that raised it, again (a retry): the same alert again, nothing stored.
        assert_eq!(
            decide_key(Some(RAISED), 7, 1_000, Some(600)),
            (Key::Alert { since: 1_000 }, None)
        );
        // Another event: deduplicated within the cooldown, either side in event time.
        for t in [1_599, 401] {
            assert_eq!(
                decide_key(Some(RAISED), 8, t, Some(600)),
                (Key::Deduplicated { since: 1_000 }, None),
                "{t}"
            );
        }
        // A cooldown later (or earlier), a new alert.
        for t in [1_600, 400] {
            let fresh = KeyRecord {
                since: t,
                trigger: 8,
            };
            assert_eq!(
                decide_key(Some(RAISED), 8, t, Some(600)),
                (Key::Alert { since: t }, Some(fresh)),
                "{t}"
            );
        }
        // No cooldown: once per key.
        assert_eq!(
            decide_key(Some(RAISED), 8, 1_000_000, None),
            (Key::Deduplicated { since: 1_000 }, None)
        );
    }
}
