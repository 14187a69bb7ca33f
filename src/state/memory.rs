//! In-process state for the CLI and tests: windows and alert keys in hash maps. Copies of
//! an event are already dropped by the pipeline's own [`Seen`](super::seen::Seen) within a
//! process, so every sighting here is the first.
//!
//! What is kept follows the DynamoDB state's rules, so `scan` and the Lambda alert alike:
//! a window forgets events older than its own newest event less `window + horizon`, an
//! alert key is kept for `cooldown + horizon` of event time after its alert. Memory stays
//! bounded by also dropping windows and keys nobody touched for [`IDLE_CALLS`] calls.

use super::rollup::{Follow, Rollup};
use super::window::{Added, Entry, Spec, Window};
use super::{decide_key, Key, KeyRecord, State, StateError};
use crate::event::Event;
use crate::rules::Rule;
use std::collections::HashMap;

/// Calls after which an untouched window or key is dropped.
pub const IDLE_CALLS: u64 = 1_000_000;
/// Calls between two clean-ups.
const PRUNE_EVERY: u64 = 4096;

#[derive(Debug)]
pub struct Memory {
    horizon: i64,
    windows: HashMap<(String, String), (Window, Spec, u64)>,
    /// A key's last alert, its cooldown, and when it was last touched.
    keys: HashMap<(String, String), (KeyRecord, i64, u64)>,
    /// Roll-ups by the fingerprint of the alert they follow, until their follow-up goes out
    /// (one per alert: bounded by the alerts of the run).
    rollups: HashMap<String, Rollup>,
    newest: i64,
    calls: u64,
    batch: usize,
}

impl Memory {
    pub fn new(horizon: i64) -> Memory {
        Memory {
            horizon,
            windows: HashMap::new(),
            keys: HashMap::new(),
            rollups: HashMap::new(),
            newest: i64::MIN,
            calls: 0,
            batch: 64,
        }
    }

    /// Resolves hits `n` at a time instead of 64 (the answer is the same: see the tests).
    pub fn with_batch_size(mut self, n: usize) -> Memory {
        self.batch = n.max(1);
        self
    }

    fn tick(&mut self, time: i64) {
        self.newest = self.newest.max(time);
        self.calls += 1;
        if self.calls % PRUNE_EVERY != 0 {
            return;
        }
        let (calls, newest, horizon) = (self.calls, self.newest, self.horizon);
        let idle = |last: u64| calls.saturating_sub(last) > IDLE_CALLS;
        self.keys.retain(|_, (k, cooldown, last)| {
            !idle(*last) && k.since >= newest.saturating_sub(cooldown.saturating_add(horizon))
        });
        // Pruned by its own newest event, a window keeps that event: only idleness drops it.
        self.windows.retain(|_, (w, spec, last)| {
            if let Some(n) = w.newest() {
                w.prune(n, spec);
            }
            !idle(*last)
        });
    }
}

impl State for Memory {
    /// Nothing to save by waiting: hits are resolved while their events are fresh in cache.
    fn batch_size(&self) -> usize {
        self.batch
    }

    fn first_sighting(&mut self, _: u64, _: &str, _: Option<i64>) -> Result<bool, StateError> {
        Ok(true)
    }

    fn window_add(
        &mut self,
        rule: &str,
        group: &str,
        entry: Entry,
        spec: &Spec,
    ) -> Result<Added, StateError> {
        self.tick(entry.time);
        let calls = self.calls;
        let (w, _, last) = self
            .windows
            .entry((rule.to_string(), group.to_string()))
            .or_insert_with(|| (Window::default(), *spec, calls));
        *last = calls;
        Ok(w.add(entry, spec))
    }

    fn rollup_add(
        &mut self,
        rule: &Rule,
        follow: &Follow,
        e: &Event,
        identity: u64,
    ) -> Result<(), StateError> {
        self.rollups
            .entry(follow.follows.clone())
            .or_insert_with(|| Rollup::new(rule, follow, e))
            .add(e, identity);
        Ok(())
    }

    fn rollups_due(&mut self, before: i64) -> Result<Vec<Rollup>, StateError> {
        let due: Vec<String> = self
            .rollups
            .iter()
            .filter(|(_, r)| r.until <= before)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Rollup> = due.iter().filter_map(|k| self.rollups.remove(k)).collect();
        out.sort_by(|a, b| (a.until, &a.follows).cmp(&(b.until, &b.follows)));
        Ok(out)
    }

    fn alert_key(
        &mut self,
        rule: &str,
        key: &str,
        identity: u64,
        time: i64,
        cooldown: Option<i64>,
    ) -> Result<Key, StateError> {
        self.tick(time);
        let k = (rule.to_string(), key.to_string());
        let prev = self.keys.get(&k).map(|(r, _, _)| *r);
        let (decision, store) = decide_key(prev, identity, time, cooldown);
        let calls = self.calls;
        match (store, self.keys.get_mut(&k)) {
            (Some(record), _) => {
                self.keys.insert(k, (record, cooldown.unwrap_or(0), calls));
            }
            (None, Some(entry)) => entry.2 = calls,
            (None, None) => {}
        }
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::window::{Steps, MAX_STEPS};

    const HORIZON: i64 = 3_600;

    fn key(m: &mut Memory, name: &str, time: i64) {
        m.alert_key("r", name, 1, time, Some(600)).unwrap();
    }

    /// Filler calls on one busy key until `calls` calls were made in all.
    fn calls_until(m: &mut Memory, calls: u64, time: i64) {
        while m.calls < calls {
            key(m, "busy", time);
        }
    }

    #[test]
    fn keys_are_dropped_once_out_of_reach_in_event_time() {
        let mut m = Memory::new(HORIZON);
        key(&mut m, "old", 0);
        key(&mut m, "edge", 100_000 - 600 - HORIZON); // alerted exactly at the reach
        calls_until(&mut m, PRUNE_EVERY - 1, 100_000);
        assert_eq!(m.keys.len(), 3, "no clean-up before {PRUNE_EVERY} calls");
        key(&mut m, "busy", 100_000);
        let mut left: Vec<&str> = m.keys.keys().map(|(_, k)| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["busy", "edge"]);
    }

    #[test]
    fn keys_untouched_for_a_million_calls_are_dropped() {
        let mut m = Memory::new(HORIZON);
        // The clean-up at call 245 × 4096 = 1,003,520 sees "quiet" exactly IDLE_CALLS calls
        // after its last touch (kept); the next one, later (dropped).
        let touched = 245 * PRUNE_EVERY - IDLE_CALLS;
        calls_until(&mut m, touched - 1, 0);
        key(&mut m, "quiet", 0);
        calls_until(&mut m, 245 * PRUNE_EVERY, 0);
        assert!(m.keys.contains_key(&("r".into(), "quiet".into())));
        calls_until(&mut m, 246 * PRUNE_EVERY, 0);
        assert!(!m.keys.contains_key(&("r".into(), "quiet".into())));
        assert!(m.keys.contains_key(&("r".into(), "busy".into())));
    }

    #[test]
    fn windows_are_pruned_by_their_own_newest_event_and_dropped_when_idle() {
        let spec = Spec {
            count: 5,
            window: 600,
            distinct: false,
            horizon: HORIZON,
            steps: Steps {
                len: 0,
                counts: [0; MAX_STEPS],
                need: 0,
                ordered: false,
            },
        };
        let add = |m: &mut Memory, group: &str, time: i64| {
            let entry = Entry {
                time,
                identity: time as u64,
                event_id: None,
                source_ip: None,
                distinct: None,
            };
            m.window_add("r", group, entry, &spec).unwrap();
        };
        let mut m = Memory::new(HORIZON);
        add(&mut m, "old", 0);
        add(&mut m, "old", 100_000); // its newest: the older event is pruned, the window kept
        add(&mut m, "gone", 0);
        calls_until(&mut m, PRUNE_EVERY - 1, 100_000);
        add(&mut m, "new", 100_000);
        let mut left: Vec<(&str, usize)> = m
            .windows
            .iter()
            .map(|((_, g), (w, _, _))| (g.as_str(), w.len()))
            .collect();
        left.sort();
        // Pruning is per window, by its own newest event: "old" lost its first event,
        // "gone" keeps its only one.
        assert_eq!(left, [("gone", 1), ("new", 1), ("old", 1)]);
        // Untouched for a million calls, they go.
        calls_until(&mut m, IDLE_CALLS + 2 * PRUNE_EVERY, 100_000);
        assert!(m.windows.is_empty());
    }
}
