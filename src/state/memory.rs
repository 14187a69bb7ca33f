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
        self.windows.retain(|_, (w, spec, last)| {
            if let Some(n) = w.newest() {
                w.prune(n, spec);
            }
            !idle(*last) && (!w.is_empty() || !w.alerted.is_empty())
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
