//! A sliding event-time window for one rule and group, kept in pages.
//!
//! Events may arrive late and out of order, so the window keeps the matching events of the
//! recent past and, when one arrives, looks for *any* span of `window` seconds around it
//! that holds `count` events (or distinct values): a burst that straddles a clock boundary
//! is still one burst. Once a span has alerted, events inside it are absorbed (and not
//! stored) instead of raising another alert.
//!
//! The events are stored in **pages**: one per time bucket (an eighth of the window) and
//! shard (a slice of event identities, more shards for larger counts). A new event touches
//! one page and an evaluation reads the pages within a window of it, so the cost of a
//! write does not grow with the window, no single record takes every write of a group,
//! and a count of 100,000 fits in pages that a database item can hold. The CLI keeps the
//! pages in memory, the Lambda in DynamoDB items; both run this code, so they alert alike.
//!
//! Each stored event carries its identity, so an event delivered again (a Lambda retry of
//! the same file, a copy from another trail) is not counted twice; and if it is the event
//! that made a span cross, the span is handed out again, so an alert lost to a crash before
//! delivery is re-raised (delivery claims stop it from paging twice).

use crate::state::fnv;
use std::collections::{BTreeMap, BTreeSet};

/// One matching event, reduced to what an alert needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub time: i64,
    /// The event's identity fingerprint (see `state::identity`).
    pub identity: u64,
    pub event_id: Option<String>,
    pub source_ip: Option<String>,
    /// The value counted by `distinct`.
    pub distinct: Option<String>,
}

/// What adding an event did.
#[derive(Debug, PartialEq)]
pub enum Added {
    /// Not enough events (yet).
    Pending,
    /// Inside a span that has already alerted, the one starting at `start`.
    Absorbed { start: i64 },
    /// A span reached the threshold (or its triggering event came again): its events,
    /// earliest first. `event_id` and `source_ip` are kept for the earliest
    /// [`DETAILS_PER_PAGE`] events and [`IPS_PER_PAGE`] addresses of each page.
    Crossed(Vec<Entry>),
}

/// How a window counts.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub count: usize,
    /// Seconds of event time.
    pub window: i64,
    /// Count distinct values instead of events.
    pub distinct: bool,
    /// How late an event may arrive and still join.
    pub horizon: i64,
    /// A sequence: the events of each step (their `distinct` is [`step_value`]).
    pub steps: Steps,
}

/// Most steps a sequence has.
pub const MAX_STEPS: usize = 8;

/// The steps of a sequence (Sigma's `temporal`, `temporal_ordered`): within one span,
/// step `i` needs `counts[i]` events, `need` steps must be met, and when `ordered` they
/// are met one after another in event time (events of the same second in either order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steps {
    pub len: usize,
    pub counts: [u32; MAX_STEPS],
    pub need: usize,
    pub ordered: bool,
}

/// The `distinct` value that marks an event of step `i`.
pub fn step_value(i: usize) -> String {
    format!("step {i}")
}

impl Steps {
    /// Whether the events of `span` (earliest first) meet the steps.
    fn met(&self, span: &[(Slot, PageKey)]) -> bool {
        let marks: Vec<u64> = (0..self.len)
            .map(|i| fnv(&[step_value(i).as_bytes()]).max(1))
            .collect();
        let step_of = |s: &Slot| marks.iter().position(|m| *m == s.distinct);
        if !self.ordered {
            let mut seen = [0u32; MAX_STEPS];
            for (s, _) in span {
                if let Some(i) = step_of(s) {
                    seen[i] += 1;
                }
            }
            let met = (0..self.len)
                .filter(|i| seen[*i] >= self.counts[*i])
                .count();
            return met >= self.need;
        }
        // Greedy: each step takes its earliest events, so the next step may start as
        // early as possible; events of one second may count in any order.
        let (mut step, mut got) = (0usize, 0u32);
        let mut i = 0;
        while i < span.len() {
            let t = span[i].0.time;
            let end = i + span[i..].partition_point(|(s, _)| s.time == t);
            let mut used = vec![false; end - i];
            // This second's events, in any order, while one is of the step waited for.
            while let Some(k) =
                (0..end - i).find(|k| !used[*k] && step_of(&span[i + k].0) == Some(step))
            {
                used[k] = true;
                got += 1;
                if got >= self.counts[step] {
                    step += 1;
                    got = 0;
                    if step == self.len {
                        return true;
                    }
                }
            }
            i = end;
        }
        step >= self.need.min(self.len)
    }
}

/// Time buckets per window length.
pub const BUCKETS_PER_WINDOW: i64 = 8;
/// The count per shard: a count of 2,000 or less keeps one page per bucket.
pub const COUNT_PER_SHARD: usize = 2_000;
/// Most shards a bucket is split into (a count of 100,000 uses 50).
pub const MAX_SHARDS: u64 = 64;
/// Event ids kept per page (the earliest by event time).
pub const DETAILS_PER_PAGE: usize = 16;
/// Distinct source addresses kept per page.
pub const IPS_PER_PAGE: usize = 32;

/// A page: `(bucket, shard)`.
pub type PageKey = (i64, u64);

impl Spec {
    /// Seconds of event time per page.
    pub fn bucket_width(&self) -> i64 {
        ((self.window + BUCKETS_PER_WINDOW - 1) / BUCKETS_PER_WINDOW).max(1)
    }

    pub fn shards(&self) -> u64 {
        (self.count.div_ceil(COUNT_PER_SHARD) as u64).clamp(1, MAX_SHARDS)
    }

    pub fn page_of(&self, time: i64, identity: u64) -> PageKey {
        (
            time.div_euclid(self.bucket_width()),
            identity % self.shards(),
        )
    }

    /// Every page an event at `time` may be counted with: all shards of the buckets
    /// within `window` of it.
    pub fn pages_around(&self, time: i64) -> Vec<PageKey> {
        self.pages_between(
            time.saturating_sub(self.window),
            time.saturating_add(self.window),
        )
    }

    /// Every page holding events between `lo` and `hi`.
    pub fn pages_between(&self, lo: i64, hi: i64) -> Vec<PageKey> {
        let w = self.bucket_width();
        let (b0, b1) = (lo.div_euclid(w), hi.div_euclid(w));
        (b0..=b1)
            .flat_map(|b| (0..self.shards()).map(move |s| (b, s)))
            .collect()
    }
}

/// One stored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    pub time: i64,
    pub identity: u64,
    /// Hash of the `distinct` value, 0 when none.
    pub distinct: u64,
    /// Index into the page's `ips`, or [`NO_IP`].
    pub ip: u16,
}

pub const NO_IP: u16 = u16::MAX;

/// The events of one time bucket and shard.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Page {
    /// Sorted by `(time, identity)`.
    pub slots: Vec<Slot>,
    pub ips: Vec<String>,
    /// `(time, identity, event id)` of the earliest events, sorted.
    pub details: Vec<(i64, u64, String)>,
}

impl Page {
    fn position(&self, time: i64, identity: u64) -> Result<usize, usize> {
        self.slots
            .binary_search_by(|s| (s.time, s.identity).cmp(&(time, identity)))
    }

    fn insert(&mut self, e: &Entry) {
        let Err(at) = self.position(e.time, e.identity) else {
            return;
        };
        let ip = match &e.source_ip {
            Some(ip) => match self.ips.iter().position(|x| x == ip) {
                Some(i) => i as u16,
                None if self.ips.len() < IPS_PER_PAGE => {
                    self.ips.push(ip.clone());
                    (self.ips.len() - 1) as u16
                }
                None => NO_IP,
            },
            None => NO_IP,
        };
        let distinct = e
            .distinct
            .as_ref()
            .map_or(0, |d| fnv(&[d.as_bytes()]).max(1));
        self.slots.insert(
            at,
            Slot {
                time: e.time,
                identity: e.identity,
                distinct,
                ip,
            },
        );
        if let Some(id) = &e.event_id {
            // The slot was new, so is its key here: the search ends between two entries.
            let key = (e.time, e.identity);
            if let Err(at) = self.details.binary_search_by_key(&key, |d| (d.0, d.1)) {
                self.details.insert(at, (e.time, e.identity, id.clone()));
                self.details.truncate(DETAILS_PER_PAGE);
            }
        }
    }

    fn entry(&self, s: &Slot) -> Entry {
        let event_id = self
            .details
            .iter()
            .find(|d| d.0 == s.time && d.1 == s.identity)
            .map(|d| d.2.clone());
        Entry {
            time: s.time,
            identity: s.identity,
            event_id,
            source_ip: self.ips.get(usize::from(s.ip)).cloned(),
            distinct: None,
        }
    }
}

/// A span that alerted: it covers `[start, start + window]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alerted {
    pub start: i64,
    /// Identity of the event that made it cross.
    pub trigger: u64,
}

/// The pages of one group that are loaded, and its alerted spans. What changed since the
/// last [`Window::take_changes`] is tracked, so a store writes back only that.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Window {
    pub pages: BTreeMap<PageKey, Page>,
    pub alerted: Vec<Alerted>,
    dirty: BTreeSet<PageKey>,
    alerted_dirty: bool,
}

impl Window {
    /// A window of stored pages and spans (nothing changed yet).
    pub fn from_parts(pages: BTreeMap<PageKey, Page>, alerted: Vec<Alerted>) -> Window {
        Window {
            pages,
            alerted,
            ..Window::default()
        }
    }

    /// Pages changed since the last call, and whether the alerted spans changed.
    pub fn take_changes(&mut self) -> (Vec<PageKey>, bool) {
        let pages = std::mem::take(&mut self.dirty).into_iter().collect();
        (pages, std::mem::take(&mut self.alerted_dirty))
    }

    /// The earliest alerted span that covers `t`.
    fn covering(&self, t: i64, window: i64) -> Option<Alerted> {
        self.alerted
            .iter()
            .filter(|a| a.start <= t && t <= a.start.saturating_add(window))
            .min_by_key(|a| a.start)
            .copied()
    }

    fn covered(&self, t: i64, window: i64, except: Option<&Alerted>) -> bool {
        self.alerted
            .iter()
            .filter(|a| Some(*a) != except)
            .any(|a| a.start <= t && t <= a.start.saturating_add(window))
    }

    /// Stored events between `lo` and `hi` (both included), earliest first, not inside an
    /// alerted span other than `except`.
    fn between(
        &self,
        lo: i64,
        hi: i64,
        spec: &Spec,
        except: Option<&Alerted>,
    ) -> Vec<(Slot, PageKey)> {
        let mut out = Vec::new();
        for (key, p) in self.pages_in(lo, hi, spec) {
            let from = p.slots.partition_point(|s| s.time < lo);
            for s in &p.slots[from..] {
                if s.time > hi {
                    break;
                }
                if !self.covered(s.time, spec.window, except) {
                    out.push((*s, *key));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The loaded pages of the buckets holding `lo..=hi`.
    fn pages_in(&self, lo: i64, hi: i64, spec: &Spec) -> impl Iterator<Item = (&PageKey, &Page)> {
        let w = spec.bucket_width();
        self.pages
            .range((lo.div_euclid(w), 0)..=(hi.div_euclid(w), u64::MAX))
    }

    fn entries(&self, slots: &[(Slot, PageKey)]) -> Vec<Entry> {
        slots
            .iter()
            .map(|(s, key)| self.pages[key].entry(s))
            .collect()
    }

    /// Adds a matching event. The pages around it ([`Spec::pages_around`]) must be loaded.
    pub fn add(&mut self, e: Entry, spec: &Spec) -> Added {
        let window = spec.window;
        let t = e.time;
        if let Some(a) = self
            .alerted
            .iter()
            .find(|a| a.trigger == e.identity)
            .copied()
        {
            // The event that made a span cross, again: hand the span out again.
            let span = self.between(a.start, a.start.saturating_add(window), spec, Some(&a));
            return Added::Crossed(self.entries(&span));
        }
        if let Some(a) = self.covering(t, window) {
            return Added::Absorbed { start: a.start };
        }
        let key = spec.page_of(t, e.identity);
        let page = self.pages.entry(key).or_default();
        // An event stored before is not counted again, but the spans around it are still
        // looked at: the write that stored it may have landed without the write of the
        // span it completed (a store writes pages and spans separately).
        if page.position(t, e.identity).is_err() {
            page.insert(&e);
            self.dirty.insert(key);
        }
        let (lo, hi) = (t.saturating_sub(window), t.saturating_add(window));
        // Fewer events around than the count (an upper bound): no span can cross.
        let around: usize = self
            .pages_in(lo, hi, spec)
            .map(|(_, p)| p.slots.len())
            .sum();
        if around < spec.count {
            return Added::Pending;
        }
        let eligible = self.between(lo, hi, spec, None);
        let mut j = 0;
        for i in 0..eligible.len() {
            let start = eligible[i].0.time;
            if start > t {
                break;
            }
            j = j.max(i);
            while j < eligible.len() && eligible[j].0.time <= start.saturating_add(window) {
                j += 1;
            }
            let span = &eligible[i..j];
            let n = if spec.steps.len > 0 {
                if spec.steps.met(span) {
                    spec.count
                } else {
                    0
                }
            } else if spec.distinct {
                let mut vals: Vec<u64> = span
                    .iter()
                    .map(|(s, _)| s.distinct)
                    .filter(|d| *d != 0)
                    .collect();
                vals.sort_unstable();
                vals.dedup();
                vals.len()
            } else {
                span.len()
            };
            if n >= spec.count {
                self.alerted.push(Alerted {
                    start,
                    trigger: e.identity,
                });
                self.alerted_dirty = true;
                return Added::Crossed(self.entries(span));
            }
        }
        Added::Pending
    }

    /// Drops pages and spans older than `newest - window - horizon` (in-memory windows).
    pub fn prune(&mut self, newest: i64, spec: &Spec) {
        let cutoff = newest.saturating_sub(spec.window.saturating_add(spec.horizon));
        let w = spec.bucket_width();
        self.pages
            .retain(|(b, _), _| b.saturating_add(1).saturating_mul(w) > cutoff);
        self.alerted
            .retain(|a| a.start.saturating_add(spec.window) >= cutoff);
    }

    /// The latest event time held.
    pub fn newest(&self) -> Option<i64> {
        self.pages
            .values()
            .filter_map(|p| p.slots.last())
            .map(|s| s.time)
            .max()
    }

    /// Events stored.
    pub fn len(&self) -> usize {
        self.pages.values().map(|p| p.slots.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Compact bytes of a page's slots for a store: per slot the time as an offset from
/// `base`, the identity, and (when `distinct`) the value's hash and the address index.
pub fn encode_slots(slots: &[Slot], base: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(slots.len() * 22);
    for s in slots {
        out.extend_from_slice(&((s.time - base) as u32).to_le_bytes());
        out.extend_from_slice(&s.identity.to_le_bytes());
        out.extend_from_slice(&s.distinct.to_le_bytes());
        out.extend_from_slice(&s.ip.to_le_bytes());
    }
    out
}

/// The slots [`encode_slots`] wrote; `None` if the bytes are not such a list.
pub fn decode_slots(bytes: &[u8], base: i64) -> Option<Vec<Slot>> {
    const SIZE: usize = 22;
    if bytes.len() % SIZE != 0 {
        return None;
    }
    let mut out: Vec<Slot> = bytes
        .chunks_exact(SIZE)
        .map(|c| Slot {
            time: base + i64::from(u32::from_le_bytes(c[0..4].try_into().unwrap_or_default())),
            identity: u64::from_le_bytes(c[4..12].try_into().unwrap_or_default()),
            distinct: u64::from_le_bytes(c[12..20].try_into().unwrap_or_default()),
            ip: u16::from_le_bytes(c[20..22].try_into().unwrap_or_default()),
        })
        .collect();
    out.sort_unstable();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        count: 5,
        window: 600,
        distinct: false,
        horizon: 3600,
        steps: Steps {
            len: 0,
            counts: [0; MAX_STEPS],
            need: 0,
            ordered: false,
        },
    };

    fn page_entry(time: i64, identity: u64, ip: &str) -> Entry {
        Entry {
            time,
            identity,
            event_id: Some(format!("id-{time}-{identity}")),
            source_ip: Some(ip.to_string()),
            distinct: None,
        }
    }

    /// A page keeps the first IPS_PER_PAGE distinct addresses, each once; later new ones
    /// are not shown, known ones still are.
    #[test]
    fn a_page_keeps_its_first_addresses_each_once() {
        let mut page = Page::default();
        for i in 0..IPS_PER_PAGE as i64 {
            page.insert(&page_entry(i, 1, &format!("198.51.100.{i}")));
            page.insert(&page_entry(i, 2, &format!("198.51.100.{i}"))); // a known address
        }
        assert_eq!(page.ips.len(), IPS_PER_PAGE);
        page.insert(&page_entry(100, 1, "203.0.113.1")); // one address too many
        page.insert(&page_entry(101, 1, "198.51.100.0"));
        assert_eq!(page.ips.len(), IPS_PER_PAGE);
        let ip = |time: i64, identity: u64| {
            let slot = page.slots[page.position(time, identity).unwrap()];
            page.entry(&slot).source_ip
        };
        assert_eq!(ip(3, 2).as_deref(), Some("198.51.100.3"));
        assert_eq!(ip(100, 1), None);
        assert_eq!(ip(101, 1).as_deref(), Some("198.51.100.0"));
    }

    /// Event ids are kept for the DETAILS_PER_PAGE earliest events of a page, whatever
    /// order they arrive in, and each slot gets its own id (same second, other event).
    #[test]
    fn a_page_keeps_the_ids_of_its_earliest_events() {
        let mut page = Page::default();
        let n = DETAILS_PER_PAGE as i64;
        for t in (0..n + 4).rev() {
            page.insert(&page_entry(10 * t, 7, "192.0.2.1"));
        }
        page.insert(&page_entry(0, 8, "192.0.2.1")); // same second as the earliest
        page.insert(&page_entry(10 * n + 50, 9, "192.0.2.1")); // later than every kept one
        let times: Vec<i64> = page.details.iter().map(|d| d.0).collect();
        let mut want: Vec<i64> = (0..n - 1).map(|t| 10 * t).collect();
        want.insert(0, 0);
        assert_eq!(times, want, "the earliest, in order");
        let id = |time: i64, identity: u64| {
            let slot = page.slots[page.position(time, identity).unwrap()];
            page.entry(&slot).event_id
        };
        assert_eq!(id(0, 7).as_deref(), Some("id-0-7"));
        assert_eq!(id(0, 8).as_deref(), Some("id-0-8"));
        assert_eq!(id(10 * (n - 1), 7), None, "pushed out by an earlier one");
        assert_eq!(id(10 * n + 50, 9), None);
        assert_eq!(page.slots.len(), n as usize + 6);
    }

    /// A store loads these pages before adding an event: every shard of every bucket an
    /// event within the window on either side can sit in, and no other.
    #[test]
    fn the_pages_around_an_event_cover_the_window_on_both_sides() {
        let spec = Spec {
            count: 4_001, // three shards
            ..SPEC
        };
        let w = spec.bucket_width(); // 75 s: eight buckets per 600 s window
        assert_eq!((w, spec.shards()), (75, 3));
        let t = 10 * w + 5;
        let pages = spec.pages_around(t);
        let buckets: std::collections::BTreeSet<i64> = pages.iter().map(|p| p.0).collect();
        let (first, last) = ((t - 600).div_euclid(w), (t + 600).div_euclid(w));
        assert_eq!(buckets, (first..=last).collect());
        assert_eq!(pages.len(), buckets.len() * 3);
        for near in [t - 600, t, t + 600] {
            for identity in 0..3 {
                assert!(
                    pages.contains(&spec.page_of(near, identity)),
                    "{near} {identity}"
                );
            }
        }
        assert!(!pages.contains(&spec.page_of(t - 600 - w, 0)));
        assert!(!pages.contains(&spec.page_of(t + 600 + w, 0)));
    }

    fn entry(t: i64, d: Option<&str>) -> Entry {
        Entry {
            time: t,
            identity: t as u64,
            event_id: Some(t.to_string()),
            source_ip: Some(format!("10.0.0.{}", t % 3)),
            distinct: d.map(str::to_string),
        }
    }

    fn add(w: &mut Window, t: i64) -> Added {
        w.add(entry(t, None), &SPEC)
    }

    #[test]
    fn burst_straddling_a_boundary_out_of_order() {
        let mut w = Window::default();
        // 5 failures from 09:56 to 10:04, delivered out of order.
        for t in [-60, 240, -240, 120] {
            assert_eq!(add(&mut w, 36_000 + t), Added::Pending);
        }
        match add(&mut w, 36_000) {
            Added::Crossed(span) => {
                assert_eq!(span.len(), 5);
                assert_eq!(span[0].time, 36_000 - 240);
                assert_eq!(span[0].event_id.as_deref(), Some("35760"));
                assert!(span.iter().all(|e| e.source_ip.is_some()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(add(&mut w, 36_100), Added::Absorbed { start: 35_760 });
        assert_eq!(w.len(), 5, "an absorbed event is not stored");
    }

    /// A late event completes a span whose other end, exactly one window later, arrived
    /// first.
    #[test]
    fn a_late_event_completes_a_span_ending_exactly_one_window_later() {
        let mut w = Window::default();
        for t in [600, 400, 300, 200] {
            assert_eq!(add(&mut w, t), Added::Pending);
        }
        match add(&mut w, 0) {
            Added::Crossed(span) => {
                let times: Vec<i64> = span.iter().map(|e| e.time).collect();
                assert_eq!(times, [0, 200, 300, 400, 600]);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Pruning drops the pages and alerted spans no event within window + horizon of the
    /// newest can reach, and keeps the rest.
    #[test]
    fn pruning_keeps_what_a_late_event_can_still_reach() {
        // Nothing before newest - window - horizon can share a span with an event still to
        // come: here 10,050 - 4,200 = 5,850, the first second of a 75 s page.
        let (newest, cutoff) = (10_050, 5_850);
        assert_eq!(cutoff % SPEC.bucket_width(), 0);
        let mut w = Window::default();
        assert!(w.is_empty() && w.newest().is_none());
        for t in [0, 1_000, cutoff - 1, cutoff, newest] {
            add(&mut w, t);
        }
        w.alerted.push(Alerted {
            start: 100,
            trigger: 1,
        });
        w.alerted.push(Alerted {
            start: cutoff - SPEC.window,
            trigger: 2,
        });
        assert_eq!((w.len(), w.newest()), (5, Some(newest)));
        assert!(!w.is_empty());
        w.prune(newest, &SPEC);
        let times: Vec<i64> = w
            .pages
            .values()
            .flat_map(|p| p.slots.iter().map(|s| s.time))
            .collect();
        assert_eq!(times, [cutoff, newest]);
        assert_eq!(
            w.alerted.len(),
            1,
            "a span ending exactly at the cutoff is kept"
        );
        assert_eq!(w.alerted[0].trigger, 2);
        w.prune(newest + 4_200 + SPEC.bucket_width(), &SPEC);
        assert!(w.is_empty() && w.newest().is_none());
    }

    /// A store keeps slot times as offsets from the page's base time.
    #[test]
    fn slots_survive_encoding_with_a_base_time() {
        let base = 1_700_000_000;
        let slots = [
            Slot {
                time: base,
                identity: 7,
                distinct: 0,
                ip: NO_IP,
            },
            Slot {
                time: base + 599,
                identity: u64::MAX,
                distinct: 42,
                ip: 3,
            },
        ];
        let bytes = encode_slots(&slots, base);
        assert_eq!(bytes.len(), 44);
        assert_eq!(decode_slots(&bytes, base).as_deref(), Some(&slots[..]));
    }

    #[test]
    fn both_ends_of_the_window_are_included() {
        let mut w = Window::default();
        for t in [0, 100, 200, 300] {
            assert_eq!(add(&mut w, t), Added::Pending);
        }
        assert!(
            matches!(add(&mut w, 600), Added::Crossed(_)),
            "0 and 600 are 600 s apart"
        );
        let mut w = Window::default();
        for t in [0, 100, 200, 300] {
            add(&mut w, t);
        }
        assert_eq!(add(&mut w, 601), Added::Pending, "601 s apart is too far");
    }

    #[test]
    fn four_and_four_eleven_minutes_apart_do_not_alert() {
        let mut w = Window::default();
        for t in [0, 10, 20, 30, 690, 700, 710, 720] {
            assert_eq!(add(&mut w, t), Added::Pending, "at {t}");
        }
    }

    #[test]
    fn a_later_burst_alerts_again() {
        let mut w = Window::default();
        for t in [0, 1, 2, 3] {
            add(&mut w, t);
        }
        assert!(matches!(add(&mut w, 4), Added::Crossed(_)));
        for t in [700, 701, 702, 703] {
            assert_eq!(add(&mut w, t), Added::Pending);
        }
        assert!(matches!(add(&mut w, 704), Added::Crossed(_)));
    }

    #[test]
    fn an_event_delivered_again_counts_once_and_its_crossing_is_handed_out_again() {
        let mut w = Window::default();
        for t in [0, 1, 2, 3] {
            add(&mut w, t);
            assert_eq!(add(&mut w, t), Added::Pending, "a copy does not count");
        }
        let first = add(&mut w, 4);
        assert!(matches!(first, Added::Crossed(_)));
        assert_eq!(
            add(&mut w, 4),
            first,
            "a retry of the trigger re-raises the same span"
        );
        assert_eq!(add(&mut w, 2), Added::Absorbed { start: 0 });
        assert_eq!(w.len(), 5);
    }

    #[test]
    fn a_span_whose_write_was_lost_is_found_again() {
        let mut w = Window::default();
        for t in 0..5 {
            add(&mut w, t);
        }
        // A store kept the pages but not the span they completed: the trigger, read again,
        // still crosses, with the same events.
        let mut again = Window::from_parts(w.pages.clone(), Vec::new());
        match again.add(entry(4, None), &SPEC) {
            Added::Crossed(span) => assert_eq!(span.len(), 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_window_read_back_from_a_store_keeps_its_alerted_spans() {
        let mut w = Window::default();
        for t in 0..5 {
            add(&mut w, t);
        }
        let mut back = Window::from_parts(w.pages.clone(), w.alerted.clone());
        assert_eq!(back.take_changes(), (vec![], false), "nothing changed yet");
        assert_eq!(add(&mut back, 300), Added::Absorbed { start: 0 });
    }

    #[test]
    fn distinct_counts_values() {
        let spec = Spec {
            count: 3,
            window: 60,
            distinct: true,
            horizon: 60,
            steps: Steps::default(),
        };
        let mut w = Window::default();
        for (t, v) in [(0, "a"), (1, "a"), (2, "b")] {
            assert_eq!(w.add(entry(t, Some(v)), &spec), Added::Pending);
        }
        assert!(matches!(
            w.add(entry(3, Some("c")), &spec),
            Added::Crossed(_)
        ));
    }

    fn sequence(counts: &[u32], ordered: bool) -> Spec {
        let mut steps = Steps {
            len: counts.len(),
            need: counts.len(),
            ordered,
            ..Steps::default()
        };
        steps.counts[..counts.len()].copy_from_slice(counts);
        Spec {
            count: counts.iter().sum::<u32>() as usize,
            window: 600,
            distinct: true,
            horizon: 3600,
            steps,
        }
    }

    fn step(t: i64, i: usize) -> Entry {
        Entry {
            identity: (t as u64) * 10 + i as u64,
            ..entry(t, Some(&step_value(i)))
        }
    }

    #[test]
    fn ordered_sequence_needs_its_steps_in_order() {
        // Three failures, then a success: out of order delivery, in order event time.
        let spec = sequence(&[3, 1], true);
        let mut w = Window::default();
        for (t, i) in [(10, 0), (500, 1), (20, 0)] {
            assert_eq!(w.add(step(t, i), &spec), Added::Pending, "{t}");
        }
        match w.add(step(30, 0), &spec) {
            Added::Crossed(span) => assert_eq!(span.len(), 4),
            other => panic!("{other:?}"),
        }
        // A success before the failures is not the sequence.
        let mut w = Window::default();
        for (t, i) in [(5, 1), (10, 0), (20, 0)] {
            assert_eq!(w.add(step(t, i), &spec), Added::Pending, "{t}");
        }
        assert_eq!(w.add(step(30, 0), &spec), Added::Pending);
        // Events of one second count in either order.
        let mut w = Window::default();
        for (t, i) in [(10, 0), (11, 0), (12, 1)] {
            assert_eq!(w.add(step(t, i), &spec), Added::Pending, "{t}");
        }
        assert!(matches!(w.add(step(12, 0), &spec), Added::Crossed(_)));
        // Too far apart: 601 s.
        let mut w = Window::default();
        for (t, i) in [(0, 0), (1, 0), (2, 0)] {
            w.add(step(t, i), &spec);
        }
        assert_eq!(w.add(step(601, 1), &spec), Added::Pending);
    }

    #[test]
    fn unordered_sequence_needs_each_step_in_any_order() {
        let spec = sequence(&[1, 1, 1], false);
        let mut w = Window::default();
        assert_eq!(w.add(step(30, 2), &spec), Added::Pending);
        assert_eq!(w.add(step(20, 2), &spec), Added::Pending);
        assert_eq!(w.add(step(10, 1), &spec), Added::Pending);
        assert!(matches!(w.add(step(40, 0), &spec), Added::Crossed(_)));
        // `need`: two of the three steps are enough.
        let mut spec = sequence(&[1, 1, 1], false);
        spec.steps.need = 2;
        spec.count = 2;
        let mut w = Window::default();
        assert_eq!(w.add(step(0, 1), &spec), Added::Pending);
        assert_eq!(w.add(step(1, 1), &spec), Added::Pending);
        assert!(matches!(w.add(step(2, 2), &spec), Added::Crossed(_)));
    }

    #[test]
    fn large_counts_spread_over_shards_and_buckets() {
        let spec = Spec {
            count: 100_000,
            window: 3600,
            distinct: false,
            horizon: 60,
            steps: Steps::default(),
        };
        assert_eq!((spec.shards(), spec.bucket_width()), (50, 450));
        let mut w = Window::default();
        for i in 0..99_999u64 {
            let e = Entry {
                time: (i % 3600) as i64,
                identity: fnv(&[&i.to_le_bytes()]),
                event_id: Some(i.to_string()),
                source_ip: None,
                distinct: None,
            };
            assert_eq!(w.add(e, &spec), Added::Pending);
        }
        let biggest = w.pages.values().map(|p| p.slots.len()).max().unwrap();
        assert!(biggest < 400, "pages stay small: {biggest}");
        let last = Entry {
            time: 3599,
            identity: 7,
            event_id: Some("last".into()),
            source_ip: None,
            distinct: None,
        };
        match w.add(last, &spec) {
            Added::Crossed(span) => {
                assert_eq!(span.len(), 100_000);
                let ids = span.iter().filter(|e| e.event_id.is_some()).count();
                assert!(ids >= 100, "enough ids for an alert: {ids}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_changed_pages_are_reported() {
        let mut w = Window::default();
        add(&mut w, 0);
        add(&mut w, 500);
        let (pages, alerted) = w.take_changes();
        assert_eq!(pages, vec![(0, 0), (6, 0)]);
        assert!(!alerted);
        add(&mut w, 0);
        assert_eq!(w.take_changes(), (vec![], false), "a copy changes nothing");
    }

    #[test]
    fn slots_round_trip_through_bytes() {
        let mut w = Window::default();
        for t in [7, 8, 9] {
            w.add(
                entry(t, Some("x")),
                &Spec {
                    distinct: true,
                    ..SPEC
                },
            );
        }
        let page = &w.pages[&(0, 0)];
        let bytes = encode_slots(&page.slots, 0);
        assert_eq!(decode_slots(&bytes, 0).unwrap(), page.slots);
        assert_eq!(decode_slots(&bytes[1..], 0), None);
    }
}
