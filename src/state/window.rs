//! A sliding event-time window for one rule and group.
//!
//! Events may arrive late and out of order, so the window keeps every matching event of
//! the recent past sorted by event time and, when one arrives, looks for *any* span of
//! `window` seconds around it that holds `count` events (or distinct values): a burst
//! that straddles a clock boundary is still one burst. Once a span has alerted, events
//! inside it are absorbed instead of raising another alert.

/// One matching event, reduced to what an alert needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub time: i64,
    pub event_id: Option<String>,
    pub source_ip: Option<String>,
    pub distinct: Option<String>,
}

/// What adding an event did.
#[derive(Debug, PartialEq)]
pub enum Added {
    /// Not enough events (yet).
    Pending,
    /// Inside a span that has already alerted.
    Absorbed,
    /// A new span reached the threshold: its events, earliest first.
    Crossed(Vec<Entry>),
}

/// Most events kept per group; older ones are dropped first.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct Window {
    entries: Vec<Entry>,
    /// Start times of spans that alerted; each covers `[start, start + window]`.
    alerted: Vec<i64>,
}

impl Window {
    pub fn add(
        &mut self,
        e: Entry,
        count: usize,
        window: i64,
        distinct: bool,
        horizon: i64,
    ) -> Added {
        let t = e.time;
        let at = self.entries.partition_point(|x| x.time <= t);
        self.entries.insert(at, e);
        self.prune(window, horizon);
        let covered = |x: i64, alerted: &[i64]| alerted.iter().any(|s| *s <= x && x <= s + window);
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
            let n = if distinct {
                let mut vals: Vec<&str> =
                    span.iter().filter_map(|x| x.distinct.as_deref()).collect();
                vals.sort_unstable();
                vals.dedup();
                vals.len()
            } else {
                span.len()
            };
            if n >= count {
                self.alerted.push(start);
                return Added::Crossed(span.iter().map(|x| (*x).clone()).collect());
            }
        }
        Added::Pending
    }

    fn prune(&mut self, window: i64, horizon: i64) {
        let newest = self.entries.last().map_or(i64::MIN, |x| x.time);
        let cutoff = newest.saturating_sub(window.saturating_add(horizon));
        let old = self.entries.partition_point(|x| x.time < cutoff);
        let over = self.entries.len().saturating_sub(MAX_ENTRIES);
        self.entries.drain(..old.max(over));
        self.alerted.retain(|s| s.saturating_add(window) >= cutoff);
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

    fn add(w: &mut Window, t: i64) -> Added {
        let e = Entry {
            time: t,
            event_id: Some(t.to_string()),
            source_ip: None,
            distinct: None,
        };
        w.add(e, 5, 600, false, 3600)
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
    fn distinct_counts_values() {
        let mut w = Window::default();
        for (t, v) in [(0, "a"), (1, "a"), (2, "b")] {
            let e = Entry {
                time: t,
                event_id: None,
                source_ip: None,
                distinct: Some(v.into()),
            };
            assert_eq!(w.add(e, 3, 60, true, 60), Added::Pending);
        }
        let e = Entry {
            time: 3,
            event_id: None,
            source_ip: None,
            distinct: Some("c".into()),
        };
        assert!(matches!(w.add(e, 3, 60, true, 60), Added::Crossed(_)));
    }
}
