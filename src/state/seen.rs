//! Drops identical copies of an event: CloudTrail writes global events (IAM, STS, sign-in)
//! to every trail that includes them, so the same record can arrive several times.
//!
//! A copy is the same `eventID`, `eventTime`, `eventName` and `recipientAccountId`; a record
//! without `eventID` is never taken for a copy. Each entry is an 8-byte fingerprint plus
//! its event time; entries older than the newest event time minus `horizon` are pruned.

use crate::event::Event;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Keys are already FNV fingerprints: hashing them again is wasted work.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub struct Seen {
    horizon: i64,
    entries: HashMap<u64, i64, BuildHasherDefault<Prehashed>>,
    newest: i64,
    since_prune: usize,
    /// The most entries held since the table was last sized to its contents: what its
    /// memory is sized for (`capacity()` after a `retain` undercounts it).
    peak: usize,
}

impl Seen {
    pub fn new(horizon: i64) -> Seen {
        Seen {
            horizon,
            entries: HashMap::default(),
            newest: i64::MIN,
            since_prune: 0,
            peak: 0,
        }
    }

    /// True if `e` was seen before (and so must be dropped); otherwise remembers it.
    /// `identity` is [`super::identity`] of `e`.
    pub fn is_duplicate(&mut self, e: &Event, identity: u64) -> bool {
        self.is_copy(e.event_id().map(|_| identity), e.time)
    }

    /// [`Seen::is_duplicate`] from what it reads: the identity when the record has an
    /// `eventID` (a record without one is never a copy), and its time.
    pub fn is_copy(&mut self, identity: Option<u64>, time: Option<i64>) -> bool {
        let Some(key) = identity else {
            return false;
        };
        let t = time.unwrap_or(self.newest);
        self.newest = self.newest.max(t);
        if self.entries.insert(key, t).is_some() {
            return true;
        }
        self.since_prune += 1;
        if self.since_prune >= 4096 && self.newest != i64::MIN {
            self.since_prune = 0;
            self.peak = self.peak.max(self.entries.len());
            let cutoff = self.newest.saturating_sub(self.horizon);
            self.entries.retain(|_, t| *t >= cutoff);
            if self.peak > 4 * self.entries.len().max(1024) {
                self.entries.shrink_to_fit();
                self.peak = self.entries.len();
            }
        }
        false
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(id: Option<&str>, t: &str, acct: &str) -> Event {
        let mut v = json!({"eventTime": t, "eventName": "GetUser", "recipientAccountId": acct});
        if let Some(id) = id {
            v["eventID"] = json!(id);
        }
        Event::from_value(v).unwrap()
    }

    fn dup(s: &mut Seen, e: &Event) -> bool {
        s.is_duplicate(e, crate::state::identity(e))
    }

    /// Every 4,096 new entries, those older than the newest time less the horizon go,
    /// and a table far larger than what is left gives its memory back.
    #[test]
    fn old_entries_go_every_4096_new_ones_and_the_table_shrinks() {
        let mut s = Seen::new(3_600);
        assert!(s.is_empty());
        for id in 0..100_000 {
            s.is_copy(Some(id), Some(0));
        }
        let big = s.entries.capacity();
        // The 4,096th entry since the last clean-up triggers the next one.
        let fresh = |s: &mut Seen, id: u64| s.is_copy(Some(1_000_000 + id), Some(10_000));
        let due = 4_096 - s.since_prune;
        for id in 0..due as u64 - 1 {
            fresh(&mut s, id);
        }
        assert_eq!(s.len(), 100_000 + due - 1, "not yet");
        s.is_copy(Some(999_999), Some(10_000));
        assert_eq!(s.len(), due, "the old ones went");
        assert!(!s.is_empty());
        assert!(
            s.entries.capacity() < 2 * s.len(),
            "rebuilt for what is left: {} of {big}",
            s.entries.capacity()
        );
        // An entry exactly a horizon old stays.
        let mut s = Seen::new(3_600);
        s.is_copy(Some(1), Some(0));
        for id in 2..=4_096 {
            s.is_copy(Some(id), Some(3_600));
        }
        assert_eq!(s.len(), 4_096);
    }

    /// The table is rebuilt when it was sized for more than four times what is left, and
    /// at least 4,096 entries: sized for 4,096 with 1 left, it stays; 4,097 with 2, rebuilt.
    #[test]
    fn the_table_is_rebuilt_past_four_times_what_is_left() {
        let mut s = Seen::new(3_600);
        let old = |s: &mut Seen, id: u64| s.is_copy(Some(id), Some(0));
        for id in 0..4_095 {
            old(&mut s, id);
        }
        s.is_copy(Some(100_000), Some(10_000)); // the 4,096th: a clean-up
        assert_eq!(s.len(), 1);
        assert!(s.entries.capacity() > 1_000, "{}", s.entries.capacity());
        for id in 10_000..14_095 {
            old(&mut s, id);
        }
        s.is_copy(Some(100_001), Some(10_000));
        assert_eq!(s.len(), 2);
        assert!(s.entries.capacity() < 16, "{}", s.entries.capacity());
    }

    #[test]
    fn drops_copies_only() {
        let mut s = Seen::new(3600);
        assert!(!dup(&mut s, &ev(Some("a"), "2024-01-01T00:00:00Z", "1")));
        assert!(dup(&mut s, &ev(Some("a"), "2024-01-01T00:00:00Z", "1")));
        assert!(!dup(&mut s, &ev(Some("a"), "2024-01-01T00:00:00Z", "2")));
        assert!(!dup(&mut s, &ev(None, "2024-01-01T00:00:00Z", "1")));
        assert!(!dup(&mut s, &ev(None, "2024-01-01T00:00:00Z", "1")));
    }

    #[test]
    fn memory_is_pruned_by_event_time() {
        let mut s = Seen::new(60);
        for i in 0..100_000i64 {
            let t = crate::event::format_time(1_700_000_000 + i);
            dup(&mut s, &ev(Some(&i.to_string()), &t, "1"));
        }
        assert!(s.len() < 4096 + 61, "{}", s.len());
    }
}
