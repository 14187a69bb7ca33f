//! In-process state for the CLI and tests: windows and alert keys in hash maps, pruned
//! by an event-time horizon. Copies of an event are already dropped by the pipeline's
//! own [`Seen`](super::seen::Seen) within a process, so every sighting here is the first.

use super::window::{Added, Entry, Spec, Window};
use super::{decide_key, Key, KeyRecord, State, StateError};
use std::collections::HashMap;

#[derive(Debug)]
pub struct Memory {
    horizon: i64,
    windows: HashMap<(String, String), (Window, Spec)>,
    keys: HashMap<(String, String), KeyRecord>,
    newest: i64,
    since_prune: usize,
}

impl Memory {
    pub fn new(horizon: i64) -> Memory {
        Memory {
            horizon,
            windows: HashMap::new(),
            keys: HashMap::new(),
            newest: i64::MIN,
            since_prune: 0,
        }
    }

    fn saw(&mut self, time: i64) {
        self.newest = self.newest.max(time);
        self.since_prune += 1;
        if self.since_prune < 4096 {
            return;
        }
        self.since_prune = 0;
        let cutoff = self.newest.saturating_sub(self.horizon);
        self.keys.retain(|_, k| k.since >= cutoff);
        let newest = self.newest;
        self.windows.retain(|_, (w, spec)| {
            w.prune(newest, spec);
            !w.is_empty() || !w.alerted.is_empty()
        });
    }
}

impl State for Memory {
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
        self.saw(entry.time);
        let (w, _) = self
            .windows
            .entry((rule.to_string(), group.to_string()))
            .or_insert_with(|| (Window::default(), *spec));
        Ok(w.add(entry, spec))
    }

    fn alert_key(
        &mut self,
        rule: &str,
        key: &str,
        identity: u64,
        time: i64,
        cooldown: Option<i64>,
    ) -> Result<Key, StateError> {
        self.saw(time);
        let k = (rule.to_string(), key.to_string());
        let (decision, store) = decide_key(self.keys.get(&k).copied(), identity, time, cooldown);
        if let Some(record) = store {
            self.keys.insert(k, record);
        }
        Ok(decision)
    }
}
