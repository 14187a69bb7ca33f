//! From a rule hit to an alert: thresholds over event time, alert keys and cooldowns.
//!
//! Everything is keyed on `eventTime`, never the wall clock, so a replay, `scan` and the
//! Lambda agree. Fingerprints are computed from the rule, the group or key, and an
//! event-time slot, never from which process saw which events first.

use crate::alert::{Alert, MAX_EVENT_IDS};
use crate::event::{format_time, Event};
use crate::rules::matcher::FieldRef;
use crate::rules::Rule;
use crate::state::fnv;
use crate::state::window::{Added, Entry, Window};
use std::collections::{BTreeMap, HashMap};

/// What became of a rule hit.
#[derive(Debug)]
pub enum Outcome {
    Alert(Box<Alert>),
    /// Counted toward a threshold that is not reached yet.
    Pending,
    /// Part of a threshold span or key that already alerted.
    Deduplicated,
    /// A threshold rule matched an event without a usable `eventTime`.
    Untimed,
}

pub struct Escalator {
    horizon: i64,
    windows: HashMap<(usize, String), Window>,
    /// Alert keys: the event time of the last alert per (rule, key).
    keys: HashMap<(usize, String), i64>,
    newest: i64,
    since_prune: usize,
}

/// The key and shown values of `refs` in `e`. An absent field is the empty value when
/// `absent_ok` (threshold groups), else there is no key (alert keys fall back to the event).
fn key_of(
    refs: &[FieldRef],
    e: &Event,
    absent_ok: bool,
) -> Option<(String, BTreeMap<String, String>)> {
    let mut key = String::new();
    let mut shown = BTreeMap::new();
    for f in refs {
        let v = match f.first_text(e) {
            Some(v) => v.into_owned(),
            None if absent_ok => String::new(),
            None => return None,
        };
        key.push_str(&v);
        key.push('\u{1f}');
        shown.insert(f.label(), v);
    }
    Some((key, shown))
}

impl Escalator {
    /// `horizon`: how late (in event time) an event may arrive and still join a window or
    /// meet its alert key.
    pub fn new(horizon: i64) -> Escalator {
        Escalator {
            horizon,
            windows: HashMap::new(),
            keys: HashMap::new(),
            newest: i64::MIN,
            since_prune: 0,
        }
    }

    pub fn on_hit(&mut self, idx: usize, rule: &Rule, e: &Event) -> Outcome {
        if let Some(t) = e.time {
            self.newest = self.newest.max(t);
        }
        self.prune();
        match &rule.threshold {
            Some(th) => self.threshold(idx, rule, th, e),
            None => self.single(idx, rule, e),
        }
    }

    fn threshold(
        &mut self,
        idx: usize,
        rule: &Rule,
        th: &crate::rules::Threshold,
        e: &Event,
    ) -> Outcome {
        let Some(t) = e.time else {
            return Outcome::Untimed;
        };
        let (key, group) = key_of(&th.group_by, e, true).unwrap_or_default();
        let entry = Entry {
            time: t,
            event_id: e.event_id().map(str::to_string),
            source_ip: e.str("sourceIPAddress").map(str::to_string),
            distinct: th
                .distinct
                .as_ref()
                .and_then(|d| d.first_text(e))
                .map(|s| s.into_owned()),
        };
        if th.distinct.is_some() && entry.distinct.is_none() {
            return Outcome::Pending;
        }
        let window = self.windows.entry((idx, key.clone())).or_default();
        match window.add(
            entry,
            th.count,
            th.window,
            th.distinct.is_some(),
            self.horizon,
        ) {
            Added::Pending => Outcome::Pending,
            Added::Absorbed => Outcome::Deduplicated,
            Added::Crossed(span) => {
                let first = span.first().map_or(t, |x| x.time);
                let last = span.last().map_or(t, |x| x.time);
                let slot = first.div_euclid(th.window);
                let fp = fnv(&[rule.id.as_bytes(), key.as_bytes(), &slot.to_be_bytes()]);
                let mut alert = Alert::new(rule, e, span.len(), fp);
                alert.event_ids = span
                    .iter()
                    .filter_map(|x| x.event_id.clone())
                    .take(MAX_EVENT_IDS)
                    .collect();
                alert.first_seen = Some(format_time(first));
                alert.last_seen = Some(format_time(last));
                let mut ips: Vec<String> =
                    span.iter().filter_map(|x| x.source_ip.clone()).collect();
                ips.sort();
                ips.dedup();
                alert.source_ips = ips;
                alert.group = group;
                Outcome::Alert(Box::new(alert))
            }
        }
    }

    fn single(&mut self, idx: usize, rule: &Rule, e: &Event) -> Outcome {
        let keyed = rule
            .dedup
            .as_ref()
            .and_then(|d| key_of(&d.key, e, false).map(|k| (d, k)));
        let Some((dedup, (key, group))) = keyed else {
            // One alert per event: fingerprint from the event's identity.
            let ident = match e.event_id() {
                Some(id) => [
                    id,
                    e.str("eventTime").unwrap_or(""),
                    e.event_name().unwrap_or(""),
                    e.str("recipientAccountId").unwrap_or(""),
                ]
                .join("\u{1f}"),
                None => e.value().to_string(),
            };
            return Outcome::Alert(Box::new(Alert::new(
                rule,
                e,
                1,
                fnv(&[rule.id.as_bytes(), ident.as_bytes()]),
            )));
        };
        let t = e.time.unwrap_or(self.newest.max(0));
        let slot = match dedup.cooldown {
            Some(c) => {
                if let Some(prev) = self.keys.get(&(idx, key.clone())) {
                    if (t - prev).abs() < c {
                        return Outcome::Deduplicated;
                    }
                }
                t.div_euclid(c)
            }
            None => {
                if self.keys.contains_key(&(idx, key.clone())) {
                    return Outcome::Deduplicated;
                }
                0
            }
        };
        self.keys.insert((idx, key.clone()), t);
        let fp = fnv(&[rule.id.as_bytes(), key.as_bytes(), &slot.to_be_bytes()]);
        let mut alert = Alert::new(rule, e, 1, fp);
        alert.group = group;
        Outcome::Alert(Box::new(alert))
    }

    fn prune(&mut self) {
        self.since_prune += 1;
        if self.since_prune < 4096 || self.newest == i64::MIN {
            return;
        }
        self.since_prune = 0;
        let cutoff = self.newest.saturating_sub(self.horizon);
        self.keys.retain(|_, t| *t >= cutoff);
        self.windows.retain(|_, w| {
            w.newest()
                .is_some_and(|n| n >= cutoff.saturating_sub(self.horizon))
        });
    }
}
