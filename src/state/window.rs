//! A sliding event-time window for one rule and group.
//!
//! Events may arrive late and out of order, so the window keeps every matching event of
//! the recent past sorted by event time and, when one arrives, looks for *any* span of
//! `window` seconds around it that holds `count` events (or distinct values): a burst
//! that straddles a clock boundary is still one burst. Once a span has alerted, events
//! inside it are absorbed instead of raising another alert.
//!
//! Each entry carries its event's identity, so an event delivered again (a Lambda retry
//! of the same file) is not counted twice; and if it is the event that made a span cross,
//! the span is handed out again, so an alert lost to a crash before delivery is re-raised
//! (delivery claims stop it from paging twice).

use serde::{Deserialize, Serialize};

/// One matching event, reduced to what an alert needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "t")]
    pub time: i64,
    /// The event's identity fingerprint (see `state::identity`).
    #[serde(rename = "h")]
    pub identity: u64,
    #[serde(rename = "id", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(rename = "ip", default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<String>,
}

/// What adding an event did.
#[derive(Debug, PartialEq)]
pub enum Added {
    /// Not enough events (yet).
    Pending,
    /// Inside a span that has already alerted.
    Absorbed,
    /// A span reached the threshold (or its triggering event came again): its events,
    /// earliest first.
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
    /// Most entries kept; the oldest go first.
    pub max_entries: usize,
}

/// Most events kept per group in memory; older ones are dropped first.
pub const MAX_ENTRIES: usize = 10_000;

/// A span that alerted: it covers `[start, start + window]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alerted {
    #[serde(rename = "s")]
    pub start: i64,
    /// Identity of the event that made it cross.
    #[serde(rename = "by")]
    pub trigger: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    #[serde(rename = "e")]
    entries: Vec<Entry>,
    #[serde(rename = "a")]
    alerted: Vec<Alerted>,
}

impl Window {
    pub fn add(&mut self, e: Entry, spec: &Spec) -> Added {
        let window = spec.window;
        let t = e.time;
        let covered = |x: i64, alerted: &[Alerted]| {
            alerted
                .iter()
                .any(|a| a.start <= x && x <= a.start + window)
        };
        if self.entries.iter().any(|x| x.identity == e.identity) {
            // Seen before: never counted twice, but a crossing's trigger re-raises its span.
            if let Some(a) = self.alerted.iter().find(|a| a.trigger == e.identity) {
                let (lo, hi) = (a.start, a.start + window);
                return Added::Crossed(
                    self.entries
                        .iter()
                        .filter(|x| x.time >= lo && x.time <= hi)
                        .cloned()
                        .collect(),
                );
            }
            return if covered(t, &self.alerted) {
                Added::Absorbed
            } else {
                Added::Pending
            };
        }
        let identity = e.identity;
        let at = self.entries.partition_point(|x| x.time <= t);
        self.entries.insert(at, e);
        self.prune(spec);
        if covered(t, &self.alerted) {
            return Added::Absorbed;
        }
        let eligible: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|x| {
                x.time >= t - window && x.time <= t + window && !covered(x.time, &self.alerted)
            })
            .collect();
        let mut j = 0;
        for i in 0..eligible.len() {
            let start = eligible[i].time;
            if start > t {
                break;
            }
            j = j.max(i);
            while j < eligible.len() && eligible[j].time <= start + window {
                j += 1;
            }
            let span = &eligible[i..j];
            let n = if spec.distinct {
                let mut vals: Vec<&str> =
                    span.iter().filter_map(|x| x.distinct.as_deref()).collect();
                vals.sort_unstable();
                vals.dedup();
                vals.len()
            } else {
                span.len()
            };
            if n >= spec.count {
                let span: Vec<Entry> = span.iter().map(|x| (*x).clone()).collect();
                self.alerted.push(Alerted {
                    start,
                    trigger: identity,
                });
                return Added::Crossed(span);
            }
        }
        Added::Pending
    }

    fn prune(&mut self, spec: &Spec) {
        let newest = self.entries.last().map_or(i64::MIN, |x| x.time);
        let cutoff = newest.saturating_sub(spec.window.saturating_add(spec.horizon));
        let old = self.entries.partition_point(|x| x.time < cutoff);
        let over = self.entries.len().saturating_sub(spec.max_entries);
        self.entries.drain(..old.max(over));
        self.alerted
            .retain(|a| a.start.saturating_add(spec.window) >= cutoff);
    }

    /// The latest event time held.
    pub fn newest(&self) -> Option<i64> {
        self.entries.last().map(|x| x.time)
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

    const SPEC: Spec = Spec {
        count: 5,
        window: 600,
        distinct: false,
        horizon: 3600,
        max_entries: MAX_ENTRIES,
    };

    fn entry(t: i64, d: Option<&str>) -> Entry {
        Entry {
            time: t,
            identity: t as u64,
            event_id: Some(t.to_string()),
            source_ip: None,
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
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(add(&mut w, 36_100), Added::Absorbed);
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
        assert_eq!(add(&mut w, 2), Added::Absorbed);
        assert_eq!(w.len(), 5);
    }

    #[test]
    fn distinct_counts_values() {
        let spec = Spec {
            count: 3,
            window: 60,
            distinct: true,
            horizon: 60,
            max_entries: 100,
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

    #[test]
    fn round_trips_through_json() {
        let mut w = Window::default();
        for t in [0, 1, 2, 3, 4] {
            add(&mut w, t);
        }
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), w);
    }
}
