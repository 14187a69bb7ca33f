//! The pipeline shared by the CLI and the Lambda: records in, alerts out, counts kept.
//!
//! Every record is counted; a copy of an already seen event is dropped; each rule that
//! matches is escalated on its own (thresholds, alert keys), and suppressed hits are
//! counted, never silently lost.

use crate::escalate::{escalate, Outcome};
use crate::rules::{RuleSet, Verdict};
use crate::sink::Sink;
use crate::source::{Item, Position};
use crate::state::seen::Seen;
use crate::state::{identity, State, StateError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;

/// Why the pipeline stopped: the alert sink or the state store failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("publishing an alert: {0}")]
    Sink(#[from] io::Error),
    #[error(transparent)]
    State(#[from] StateError),
}

/// How late (in event time) a copy, a window member or a keyed alert may arrive: 24 h.
pub const DEFAULT_HORIZON: i64 = 24 * 3600;

/// What a run did, printed as the CLI's summary and logged by the Lambda.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Records decoded (duplicates included).
    pub events: u64,
    /// Copies of an event already seen, dropped.
    pub duplicates: u64,
    /// Records that could not be used.
    pub malformed: u64,
    /// Rule hits covered by a suppression.
    pub suppressed: u64,
    pub alerts: u64,
    /// Rule hits that joined an alert already raised (same span or key).
    pub deduplicated: u64,
    /// Threshold-rule hits on records without a usable `eventTime`.
    pub untimed: u64,
    /// Follow-ups sent: the matches that came after an alert, summarised.
    #[serde(skip_serializing_if = "is_zero")]
    pub follow_ups: u64,
    /// The latest `eventTime` seen (Unix seconds), to measure delivery lag.
    pub newest_event: Option<i64>,
    /// The earliest `eventTime` seen (Unix seconds): with `newest_event`, the span a run
    /// covers (`scan --report` shows it).
    pub oldest_event: Option<i64>,
    /// Records outside the time range asked for (or without a usable `eventTime` when a
    /// range is set), not evaluated.
    #[serde(skip_serializing_if = "is_zero")]
    pub outside_range: u64,
    /// Per rule id, the rules that matched anything.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, RuleTotals>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one rule did in a run.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct RuleTotals {
    /// Events it matched (suppressed ones included).
    pub hits: u64,
    pub suppressed: u64,
    pub alerts: u64,
    pub deduplicated: u64,
    pub untimed: u64,
    pub follow_ups: u64,
}

/// Hits held before their batch is resolved against a state whose round trips cost (see
/// [`State::batch_size`]); a batch of this many is resolved at once even in the middle of
/// an input, so memory stays bounded.
pub const MAX_BATCH: usize = 2_000;
/// Attempts at a batch when other processes keep changing the same state.
pub const MAX_ATTEMPTS: usize = 25;

/// An event some rule matched, waiting for its batch.
struct Hit<'r> {
    event: crate::event::Event,
    identity: u64,
    rules: Vec<&'r crate::rules::Rule>,
}

pub struct Pipeline<'r, S: State> {
    rules: &'r RuleSet,
    seen: Seen,
    state: S,
    horizon: i64,
    owner: String,
    batch: Vec<Hit<'r>>,
    /// Fingerprints of the alerts published, with their event time: two crossings in one
    /// slot are one alert here as they are one claim in the Lambda.
    published: std::collections::HashMap<String, i64>,
    /// Only events within `[since, until]` (event time) are evaluated, when set.
    range: Option<(i64, i64)>,
    pub report: Report,
}

impl<'r, S: State> Pipeline<'r, S> {
    pub fn new(rules: &'r RuleSet, state: S, horizon: i64) -> Self {
        Pipeline {
            rules,
            seen: Seen::new(horizon),
            state,
            horizon,
            owner: String::new(),
            batch: Vec::new(),
            published: std::collections::HashMap::new(),
            range: None,
            report: Report::default(),
        }
    }

    /// Evaluates only events whose `eventTime` is within `since..=until` (either side open
    /// when `None`); the others are counted as `outside_range`.
    pub fn set_range(&mut self, since: Option<i64>, until: Option<i64>) {
        self.range = (since.is_some() || until.is_some())
            .then(|| (since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX)));
    }

    /// Names the input being read (see [`State::first_sighting`]); call [`Pipeline::flush`]
    /// before switching to another input.
    pub fn set_owner(&mut self, owner: &str) {
        self.owner = owner.to_string();
    }

    /// Handles one decoded item; `on_malformed` hears about bad records. Hits wait for
    /// their batch: call [`Pipeline::flush`] at the end of each input.
    pub fn push(
        &mut self,
        item: Item,
        sink: &mut dyn Sink,
        on_malformed: &mut dyn FnMut(&Position, &str),
    ) -> Result<(), Error> {
        let event = match item {
            Item::Record(e) => e,
            // Counted and checked for copies as any record; no rule can match it.
            Item::Unwanted(brief) => {
                if self.count(brief.time) && self.seen.is_copy(brief.identity, brief.time) {
                    self.report.duplicates += 1;
                }
                return Ok(());
            }
            Item::Malformed { at, reason } => {
                self.report.malformed += 1;
                on_malformed(&at, &reason);
                return Ok(());
            }
        };
        if !self.count(event.time) {
            return Ok(());
        }
        let id = identity(&event);
        if self.seen.is_duplicate(&event, id) {
            self.report.duplicates += 1;
            return Ok(());
        }
        let mut verdicts = Vec::new();
        self.rules.evaluate(&event, &mut verdicts);
        let mut rules = Vec::new();
        for (_, verdict) in verdicts {
            match verdict {
                Verdict::Suppressed(rule, _) => {
                    self.report.suppressed += 1;
                    let t = self.report.rules.entry(rule.id.clone()).or_default();
                    t.hits += 1;
                    t.suppressed += 1;
                }
                Verdict::Hit(rule) => {
                    self.report.rules.entry(rule.id.clone()).or_default().hits += 1;
                    rules.push(rule);
                }
            }
        }
        if rules.is_empty() {
            return Ok(());
        }
        self.batch.push(Hit {
            event,
            identity: id,
            rules,
        });
        if self.batch.len() >= self.state.batch_size() {
            self.flush(sink)?;
        }
        Ok(())
    }

    /// Counts a record with this event time; false if it is outside the range asked for.
    fn count(&mut self, time: Option<i64>) -> bool {
        self.report.events += 1;
        if let Some((since, until)) = self.range {
            if !time.is_some_and(|t| since <= t && t <= until) {
                self.report.outside_range += 1;
                return false;
            }
        }
        if let Some(t) = time {
            self.report.newest_event = Some(self.report.newest_event.map_or(t, |n| n.max(t)));
            self.report.oldest_event = Some(self.report.oldest_event.map_or(t, |o| o.min(t)));
        }
        true
    }

    /// Resolves the waiting hits against the state (thresholds, alert keys, other
    /// processes' sightings) as one batch and publishes the alerts that result.
    pub fn flush(&mut self, sink: &mut dyn Sink) -> Result<(), Error> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        // Only hits of rules without a threshold need other processes' sightings: a window
        // never counts an event twice anyway, so a burst costs no sighting per event.
        let sighted = |h: &Hit| h.rules.iter().any(|r| r.threshold.is_none());
        let ids: Vec<u64> = batch
            .iter()
            .filter(|h| sighted(h))
            .map(|h| h.identity)
            .collect();
        for _ in 0..MAX_ATTEMPTS {
            self.state.begin(&ids)?;
            let mut report = Report::default();
            let mut alerts = Vec::new();
            let count = |report: &mut Report, id: &str, f: fn(&mut RuleTotals)| {
                f(report.rules.entry(id.to_string()).or_default())
            };
            for hit in &batch {
                // Only events some rule wants are checked against other processes' sightings.
                if sighted(hit)
                    && !self
                        .state
                        .first_sighting(hit.identity, &self.owner, hit.event.time)?
                {
                    report.duplicates += 1;
                    continue;
                }
                for rule in &hit.rules {
                    match escalate(
                        &mut self.state,
                        rule,
                        &hit.event,
                        hit.identity,
                        self.horizon,
                    )? {
                        Outcome::Alert(alert) => alerts.push(alert),
                        Outcome::Pending => {}
                        Outcome::Deduplicated(follow) => {
                            report.deduplicated += 1;
                            count(&mut report, &rule.id, |t| t.deduplicated += 1);
                            if let Some(follow) = follow {
                                self.state
                                    .rollup_add(rule, &follow, &hit.event, hit.identity)?;
                            }
                        }
                        Outcome::Untimed => {
                            report.untimed += 1;
                            count(&mut report, &rule.id, |t| t.untimed += 1);
                        }
                    }
                }
            }
            if !self.state.commit()? {
                continue;
            }
            self.report.duplicates += report.duplicates;
            self.report.deduplicated += report.deduplicated;
            self.report.untimed += report.untimed;
            for (id, t) in report.rules {
                let mine = self.report.rules.entry(id).or_default();
                mine.deduplicated += t.deduplicated;
                mine.untimed += t.untimed;
            }
            for mut alert in alerts {
                alert.name_accounts(self.rules.aliases());
                let t = alert
                    .last_seen
                    .as_deref()
                    .and_then(crate::event::parse_time)
                    .unwrap_or(i64::MIN);
                if self
                    .published
                    .insert(alert.fingerprint.clone(), t)
                    .is_some()
                {
                    self.report.deduplicated += 1;
                    let t = self.report.rules.entry(alert.rule_id.clone()).or_default();
                    t.deduplicated += 1;
                    continue;
                }
                self.report.alerts += 1;
                let t = self.report.rules.entry(alert.rule_id.clone()).or_default();
                t.alerts += 1;
                sink.publish(&alert)?;
            }
            if self.published.len() > 4096 {
                let cutoff = self
                    .report
                    .newest_event
                    .unwrap_or(i64::MIN)
                    .saturating_sub(self.horizon);
                self.published.retain(|_, t| *t >= cutoff);
            }
            return Ok(());
        }
        Err(Error::State(StateError {
            message: format!(
                "{MAX_ATTEMPTS} attempts at a batch of {} events: other processes keep changing the same state",
                batch.len()
            ),
            retryable: true,
        }))
    }

    /// The end of a run: resolves what waits and sends every roll-up's follow-up (the
    /// history read is all there is). The Lambda sends them on a schedule instead.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), Error> {
        self.flush(sink)?;
        self.send_follow_ups(i64::MAX, sink)
    }

    /// Sends the follow-ups of the roll-ups whose span or cooldown ended at or before
    /// `before` (event time).
    pub fn send_follow_ups(&mut self, before: i64, sink: &mut dyn Sink) -> Result<(), Error> {
        for r in self.state.rollups_due(before)? {
            let mut alert = r.to_alert(self.rules.rule(&r.rule));
            alert.name_accounts(self.rules.aliases());
            sink.publish(&alert)?;
            self.report.follow_ups += 1;
            self.report
                .rules
                .entry(r.rule.clone())
                .or_default()
                .follow_ups += 1;
        }
        Ok(())
    }

    /// The rules this pipeline evaluates.
    pub fn rules(&self) -> &'r RuleSet {
        self.rules
    }

    /// The state, e.g. to record delivered sightings.
    pub fn state_mut(&mut self) -> &mut S {
        &mut self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::rules::RuleFile;
    use crate::sink::Memory as Alerts;
    use crate::state::memory::Memory;
    use serde_json::json;

    fn set(rules: &[(&str, &str)]) -> RuleSet {
        let files: Vec<RuleFile> = rules
            .iter()
            .map(|(id, body)| RuleFile {
                path: format!("{id}.yaml"),
                text: format!("id: {id}\ntitle: t {{eventName}}\nseverity: low\n{body}"),
            })
            .collect();
        let (set, diags) = RuleSet::compile(&files, &[], &[], 1_700_000_000);
        assert!(diags.is_empty(), "{diags:?}");
        set.unwrap()
    }

    /// Pushes the record `e` into `p`.
    fn push<S: State>(p: &mut Pipeline<S>, sink: &mut Alerts, e: serde_json::Value) {
        let item = Item::Record(Event::from_value(e).unwrap());
        p.push(item, sink, &mut |_, _| {}).unwrap();
    }

    fn run(set: &RuleSet, events: &[serde_json::Value]) -> (Report, Alerts) {
        let mut p = Pipeline::new(set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
        let mut sink = Alerts::default();
        for e in events {
            push(&mut p, &mut sink, e.clone());
        }
        p.flush(&mut sink).unwrap();
        (p.report, sink)
    }

    /// Deduplicated and untimed hits are counted in all and per rule.
    #[test]
    fn deduplicated_and_untimed_hits_are_counted_per_rule() {
        let s = set(&[(
            "burst",
            "match:\n  eventName: A\nthreshold:\n  count: 2\n  window: 10m\n",
        )]);
        let ev = |i: u32| json!({"eventName":"A","eventTime":format!("2024-01-01T00:00:0{i}Z"),"eventID":format!("e{i}")});
        let (r, sink) = run(
            &s,
            &[
                ev(1),
                ev(2),
                ev(3),
                json!({"eventName":"A","eventID":"untimed"}),
            ],
        );
        assert_eq!(sink.alerts.len(), 1);
        let t = &r.rules["burst"];
        assert_eq!((r.deduplicated, r.untimed), (1, 1));
        assert_eq!(
            (t.hits, t.alerts, t.deduplicated, t.untimed),
            (4, 1, 1, 1),
            "{t:?}"
        );
    }

    /// A dedup key deduplicates records that hold it; a record lacking a key field alerts
    /// on its own (rules/README.md, `dedup`).
    #[test]
    fn records_without_the_dedup_key_alert_on_their_own() {
        let s = set(&[(
            "d",
            "match:\n  eventName: A\ndedup:\n  key: [sharedEventID]\n",
        )]);
        let ev = |id: &str, shared: Option<&str>| {
            let mut e = json!({"eventName":"A","eventTime":"2024-01-01T00:00:00Z","eventID":id});
            if let Some(k) = shared {
                e["sharedEventID"] = json!(k);
            }
            e
        };
        let (r, sink) = run(
            &s,
            &[
                ev("1", Some("k")),
                ev("2", Some("k")),
                ev("3", None),
                ev("4", None),
            ],
        );
        let ids: Vec<&str> = sink
            .alerts
            .iter()
            .map(|a| a.event_ids[0].as_str())
            .collect();
        assert_eq!(ids, ["1", "3", "4"]);
        assert_eq!(r.deduplicated, 1);
    }

    /// `distinct` counts values of its field; a match without the field is ignored, not
    /// counted as one more value.
    #[test]
    fn distinct_ignores_matches_without_its_field() {
        let s = set(&[(
            "spray",
            "match:\n  eventName: A\nthreshold:\n  count: 2\n  window: 10m\n  distinct: sourceIPAddress\n",
        )]);
        let ev = |i: u32, ip: Option<&str>| {
            let mut e = json!({"eventName":"A","eventTime":format!("2024-01-01T00:00:0{i}Z"),"eventID":format!("e{i}")});
            if let Some(ip) = ip {
                e["sourceIPAddress"] = json!(ip);
            }
            e
        };
        let (_, sink) = run(&s, &[ev(1, Some("192.0.2.1")), ev(2, None), ev(3, None)]);
        assert!(sink.alerts.is_empty(), "{:?}", sink.alerts);
        let (_, sink) = run(
            &s,
            &[
                ev(1, Some("192.0.2.1")),
                ev(2, None),
                ev(3, Some("192.0.2.2")),
            ],
        );
        assert_eq!(sink.alerts.len(), 1);
    }

    /// `since` and `until` each bound the range alone; with neither, every record counts.
    #[test]
    fn either_end_of_the_range_bounds_it_alone() {
        let s = set(&[("a", "match:\n  eventName: A\n")]);
        let t0 = crate::event::parse_time("2024-01-01T00:00:00Z").unwrap();
        let events: Vec<_> = (0..4)
            .map(|i| json!({"eventName":"A","eventTime":format!("2024-01-01T00:00:0{i}Z"),"eventID":format!("e{i}")}))
            .collect();
        for (since, until, evaluated) in [
            (Some(t0 + 1), None, 3),
            (None, Some(t0 + 1), 2),
            (Some(t0 + 1), Some(t0 + 2), 2),
            (None, None, 4),
        ] {
            let mut p = Pipeline::new(&s, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
            p.set_range(since, until);
            let mut sink = Alerts::default();
            for e in &events {
                push(&mut p, &mut sink, e.clone());
            }
            p.flush(&mut sink).unwrap();
            assert_eq!(sink.alerts.len(), evaluated, "{since:?}..{until:?}");
            assert_eq!(p.report.outside_range, 4 - evaluated as u64);
        }
    }

    /// A record no rule can match is still counted, and its copy is a duplicate.
    #[test]
    fn unwanted_records_are_counted_and_their_copies_found() {
        let s = set(&[("a", "match:\n  eventName: A\n")]);
        let mut p = Pipeline::new(&s, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
        let mut sink = Alerts::default();
        let brief = crate::source::skip::Brief {
            time: Some(1_700_000_000),
            identity: Some(42),
        };
        for _ in 0..2 {
            p.push(Item::Unwanted(brief), &mut sink, &mut |_, _| {})
                .unwrap();
        }
        assert_eq!((p.report.events, p.report.duplicates), (2, 1));
    }

    /// A copy is recognised up to a day of event time after the first: the default
    /// horizon outlasts the duplicate map's clean-ups in between.
    #[test]
    fn a_copy_a_day_later_is_still_a_duplicate() {
        let s = set(&[("a", "match:\n  eventName: Nothing\n")]);
        let ev = |id: &str, t: &str| json!({"eventName":"A","eventTime":t,"eventID":id});
        let mut events = vec![ev("first", "2024-01-01T00:00:00Z")];
        events.extend((0..5_000).map(|i| ev(&format!("e{i}"), "2024-01-01T23:59:00Z")));
        events.push(ev("first", "2024-01-01T00:00:00Z"));
        let (r, _) = run(&s, &events);
        assert_eq!(r.duplicates, 1);
    }

    /// The summary leaves out the counts that are usually zero, and shows them otherwise.
    #[test]
    fn the_summary_shows_follow_ups_and_range_only_when_there_are_some() {
        let quiet = serde_json::to_value(Report::default()).unwrap();
        assert!(quiet.get("follow_ups").is_none() && quiet.get("outside_range").is_none());
        assert_eq!(quiet["alerts"], 0, "the main counts always show");
        let busy = serde_json::to_value(Report {
            follow_ups: 2,
            outside_range: 3,
            ..Report::default()
        })
        .unwrap();
        assert_eq!(
            (busy["follow_ups"].as_u64(), busy["outside_range"].as_u64()),
            (Some(2), Some(3))
        );
    }

    /// A store shared by processes, as DynamoDB's is: it remembers which input saw each
    /// event first, so the same input read again (a retry) is still the first sighting and
    /// another input's copy is not. The rest is [`Memory`], one per process.
    struct Shared {
        inner: Memory,
        first: std::rc::Rc<std::cell::RefCell<BTreeMap<u64, String>>>,
        asked: Vec<u64>,
    }

    impl State for Shared {
        fn first_sighting(
            &mut self,
            identity: u64,
            owner: &str,
            _: Option<i64>,
        ) -> Result<bool, StateError> {
            self.asked.push(identity);
            let mut first = self.first.borrow_mut();
            Ok(first.entry(identity).or_insert_with(|| owner.to_string()) == owner)
        }
        fn window_add(
            &mut self,
            rule: &str,
            group: &str,
            entry: crate::state::window::Entry,
            spec: &crate::state::window::Spec,
        ) -> Result<crate::state::window::Added, StateError> {
            self.inner.window_add(rule, group, entry, spec)
        }
        fn rollup_add(
            &mut self,
            rule: &crate::rules::Rule,
            follow: &crate::state::rollup::Follow,
            e: &Event,
            identity: u64,
        ) -> Result<(), StateError> {
            self.inner.rollup_add(rule, follow, e, identity)
        }
        fn rollups_due(
            &mut self,
            before: i64,
        ) -> Result<Vec<crate::state::rollup::Rollup>, StateError> {
            self.inner.rollups_due(before)
        }
        fn alert_key(
            &mut self,
            rule: &str,
            key: &str,
            identity: u64,
            time: i64,
            cooldown: Option<i64>,
        ) -> Result<crate::state::Key, StateError> {
            self.inner.alert_key(rule, key, identity, time, cooldown)
        }
    }

    /// Two processes reading two inputs holding the same event: the second input's copy
    /// is a duplicate (no alert, counted); the first input read again, as a retry reads
    /// it, alerts again. Only hits of rules without a threshold ask about sightings.
    #[test]
    fn another_inputs_copy_is_a_duplicate_and_a_retry_is_not() {
        let s = set(&[
            ("a", "match:\n  eventName: A\n"),
            (
                "burst",
                "match:\n  eventName: B\nthreshold:\n  count: 1\n  window: 10m\n",
            ),
        ]);
        let first = std::rc::Rc::default();
        let read = |owner: &str| {
            let state = Shared {
                inner: Memory::new(DEFAULT_HORIZON),
                first: std::rc::Rc::clone(&first),
                asked: Vec::new(),
            };
            let mut p = Pipeline::new(&s, state, DEFAULT_HORIZON);
            p.set_owner(owner);
            let mut sink = Alerts::default();
            for name in ["A", "B"] {
                let e = json!({"eventName":name,"eventTime":"2024-01-01T00:00:00Z","eventID":name});
                push(&mut p, &mut sink, e);
            }
            p.flush(&mut sink).unwrap();
            let rules: Vec<String> = sink.alerts.iter().map(|a| a.rule_id.clone()).collect();
            (p.report.duplicates, rules, p.state.asked.len())
        };
        assert_eq!(read("x"), (0, vec!["a".into(), "burst".into()], 1));
        assert_eq!(
            read("y"),
            (1, vec!["burst".into()], 1),
            "another input's copy"
        );
        assert_eq!(
            read("x"),
            (0, vec!["a".into(), "burst".into()], 1),
            "a retry"
        );
    }

    /// Two crossings of one threshold in the same fingerprint slot (a burst, then an earlier
    /// one read after it) are one alert, as they are one claim in the Lambda; the second
    /// is counted as deduplicated, in all and for its rule.
    #[test]
    fn two_crossings_in_one_slot_are_one_alert() {
        let s = set(&[(
            "burst",
            "match:\n  eventName: A\nthreshold:\n  count: 5\n  window: 10m\n",
        )]);
        let ev =
            |id: u32, t: &str| json!({"eventName":"A","eventTime":t,"eventID":format!("e{id}")});
        let mut events: Vec<_> = (0..5)
            .map(|i| ev(10 + i, &format!("2024-05-01T10:05:{:02}Z", 5 + 5 * i)))
            .collect();
        events.extend((0..5).map(|i| ev(20 + i, &format!("2024-05-01T10:00:{:02}Z", 5 + 5 * i))));
        let (r, sink) = run(&s, &events);
        assert_eq!(sink.alerts.len(), 1);
        let t = &r.rules["burst"];
        assert_eq!((r.alerts, t.alerts), (1, 1));
        assert_eq!((r.deduplicated, t.deduplicated), (1, 1), "{r:?}");
    }

    /// The fingerprints of published alerts are bounded: once more than 4,096 are held,
    /// those older than the newest event time less the horizon go.
    #[test]
    fn published_fingerprints_are_pruned_past_4096_by_event_time() {
        let s = set(&[("a", "match:\n  eventName: A\n")]);
        let mut p = Pipeline::new(&s, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
        let mut sink = Alerts::default();
        let mut alert = |p: &mut Pipeline<Memory>, id: u32, t: &str| {
            let e = json!({"eventName":"A","eventTime":t,"eventID":format!("e{id}")});
            push(p, &mut sink, e);
            p.flush(&mut sink).unwrap();
        };
        for id in 0..4_095 {
            alert(&mut p, id, "2024-01-01T00:00:00Z");
        }
        alert(&mut p, 5_000, "2024-01-03T00:00:00Z");
        assert_eq!(p.published.len(), 4_096, "4,096 held: none go");
        alert(&mut p, 5_001, "2024-01-03T00:00:00Z");
        assert_eq!(p.published.len(), 2, "the old ones went, the recent stayed");
        assert_eq!(p.report.alerts, 4_097);
    }

    /// In memory, hits wait for their batch of 64 (or the end of the input): the 64th
    /// resolves them all at once.
    #[test]
    fn hits_wait_for_their_batch_of_sixty_four() {
        let s = set(&[("a", "match:\n  eventName: A\n")]);
        let mut p = Pipeline::new(&s, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
        let mut sink = Alerts::default();
        for i in 0..64 {
            assert_eq!(sink.alerts.len(), 0, "published before hit {i}");
            let e = json!({"eventName":"A","eventTime":"2024-01-01T00:00:00Z","eventID":format!("e{i}")});
            push(&mut p, &mut sink, e);
        }
        assert_eq!(sink.alerts.len(), 64);
    }

    /// An absent group_by field groups under the empty value: the other fields still
    /// separate the groups, and the alert shows the field as empty.
    #[test]
    fn an_absent_group_field_is_an_empty_value_not_a_lost_group() {
        let s = set(&[(
            "burst",
            "match:\n  eventName: A\nthreshold:\n  count: 3\n  window: 10m\n  group_by: [userIdentity.arn, sourceIPAddress]\n",
        )]);
        let ev = |arn: &str, i: u32| {
            json!({"eventName":"A","eventTime":format!("2024-01-01T00:00:0{i}Z"),
            "eventID":format!("{arn}-{i}"),"userIdentity":{"arn":arn}})
        };
        let events: Vec<_> = (1..=3)
            .flat_map(|i| {
                [
                    ev("arn:aws:iam::1:user/a", i),
                    ev("arn:aws:iam::1:user/b", i),
                ]
            })
            .collect();
        let (r, sink) = run(&s, &events);
        assert_eq!(r.alerts, 2, "one per principal");
        for (a, who) in sink.alerts.iter().zip(["a", "b"]) {
            assert_eq!(
                a.group["userIdentity.arn"],
                format!("arn:aws:iam::1:user/{who}")
            );
            assert_eq!(a.group["sourceIPAddress"], "");
        }
    }

    #[test]
    fn rules_alert_independently_and_suppressions_are_counted() {
        let s = set(&[
            ("a", "match:\n  eventName: DeleteTrail\n"),
            ("b", "match:\n  eventSource: cloudtrail.amazonaws.com\nsuppress:\n  - match: {userIdentity.arn: {suffix: /ci}}\n    reason: CI rotates trails\n    owner: secops\n    expires: 2099-01-01\n"),
        ]);
        let ev = |arn: &str, id: &str| {
            json!({"eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com",
            "eventTime":"2024-01-01T00:00:00Z","eventID":id,"userIdentity":{"arn":arn}})
        };
        let (r, sink) = run(
            &s,
            &[
                ev("arn:aws:iam::1:user/alice", "1"),
                ev("arn:aws:iam::1:user/ci", "2"),
            ],
        );
        let ids: Vec<&str> = sink.alerts.iter().map(|a| a.rule_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "a"]);
        assert_eq!((r.events, r.alerts, r.suppressed), (2, 3, 1));
        let b = &r.rules["b"];
        assert_eq!((b.hits, b.suppressed, b.alerts), (2, 1, 1), "{b:?}");
        assert_eq!((r.rules["a"].hits, r.rules["a"].suppressed), (2, 0));
    }

    #[test]
    fn expired_suppressions_stop_applying() {
        let files = [RuleFile {
            path: "x.yaml".into(),
            text: "id: x\ntitle: t\nseverity: low\nmatch:\n  eventName: A\nsuppress:\n  - match: {eventName: A}\n    reason: r\n    owner: o\n    expires: 2020-01-01\n".into(),
        }];
        let (set, diags) = RuleSet::compile(&files, &[], &[], 1_700_000_000);
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0]
                .to_string()
                .starts_with("x.yaml:10:14: warning: suppression expired on 2020-01-01"),
            "{}",
            diags[0]
        );
        let (r, _) = run(&set.unwrap(), &[json!({"eventName":"A"})]);
        assert_eq!((r.alerts, r.suppressed), (1, 0));
    }

    #[test]
    fn the_span_of_event_time_is_kept_whatever_the_order() {
        let s = set(&[("a", "match:\n  eventName: Nothing\n")]);
        let at = |t: &str| json!({"eventName":"A","eventTime":t});
        let (r, _) = run(
            &s,
            &[
                at("2024-01-01T10:00:00Z"),
                at("2024-01-01T09:00:00Z"),
                json!({"eventName":"A","eventTime":"not a date"}),
                at("2024-01-01T11:30:00Z"),
            ],
        );
        let t = |s: &str| crate::event::parse_time(s);
        assert_eq!(r.oldest_event, t("2024-01-01T09:00:00Z"));
        assert_eq!(r.newest_event, t("2024-01-01T11:30:00Z"));
        assert_eq!(run(&s, &[json!({"eventName":"A"})]).0.oldest_event, None);
    }

    #[test]
    fn untimed_records_skip_windows_but_not_plain_rules() {
        let s = set(&[
            (
                "burst",
                "match:\n  eventName: A\nthreshold: {count: 2, window: 1m}\n",
            ),
            ("plain", "match:\n  eventName: A\n"),
        ]);
        let (r, sink) = run(
            &s,
            &[
                json!({"eventName":"A","eventTime":"not a date"}),
                json!({"eventName":"A"}),
            ],
        );
        assert_eq!(sink.alerts.len(), 2);
        assert!(sink.alerts.iter().all(|a| a.rule_id == "plain"));
        assert_eq!(r.untimed, 2);
    }

    #[test]
    fn a_failed_call_never_stands_for_a_later_success() {
        let s = set(&[(
            "keyed",
            "match:\n  eventName: A\ndedup: {key: userIdentity.arn, cooldown: 1h}\n",
        )]);
        let ev = |id: &str, minute: u32, error: Option<&str>| {
            let mut e = json!({"eventName":"A","eventID":id,"userIdentity":{"arn":"arn:aws:iam::1:user/eve"},
                "eventTime":format!("2024-01-01T00:{minute:02}:00Z")});
            if let Some(code) = error {
                e["errorCode"] = json!(code);
            }
            e
        };
        let (r, sink) = run(
            &s,
            &[
                ev("1", 0, Some("AccessDenied")),
                ev("2", 5, Some("AccessDenied")),
                ev("3", 10, None),
                ev("4", 15, None),
            ],
        );
        let got: Vec<(&str, &str)> = sink
            .alerts
            .iter()
            .map(|a| (a.outcome, a.event_ids[0].as_str()))
            .collect();
        assert_eq!(got, [("failure", "1"), ("success", "3")]);
        assert_eq!(r.deduplicated, 2);
    }

    #[test]
    fn cooldown_uses_event_time() {
        let s = set(&[(
            "k",
            "match:\n  eventName: A\ndedup: {key: [userIdentity.arn], cooldown: 1h}\n",
        )]);
        let ev = |t: &str, id: &str| json!({"eventName":"A","eventTime":t,"eventID":id,"userIdentity":{"arn":"x"}});
        let (r, sink) = run(
            &s,
            &[
                ev("2024-01-01T10:00:00Z", "1"),
                ev("2024-01-01T10:59:00Z", "2"),
                ev("2024-01-01T09:30:00Z", "3"),
                ev("2024-01-01T11:00:00Z", "4"),
            ],
        );
        assert_eq!(sink.alerts.len(), 2);
        assert_eq!(r.deduplicated, 2);
    }

    #[test]
    fn nested_not_honours_its_own_ignore_case_and_disabled_rules_stay_quiet() {
        let s = set(&[
            (
                "n",
                "match:\n  eventName: {not: {equals: consolelogin, ignore_case: true}}\n",
            ),
            ("off", "enabled: false\nmatch:\n  eventName: ConsoleLogin\n"),
        ]);
        let (r, _) = run(
            &s,
            &[
                json!({"eventName":"ConsoleLogin"}),
                json!({"eventName":"GetUser"}),
            ],
        );
        assert_eq!(
            r.alerts, 1,
            "only GetUser alerts, and only from the enabled rule"
        );
        assert_eq!(
            s.rules().len(),
            2,
            "disabled rules are kept so their tests still run"
        );
    }

    #[test]
    fn alerts_never_carry_credentials() {
        let files = [RuleFile {
            path: "leak.yaml".into(),
            text: "id: leak\ntitle: 'token {responseElements.credentials.sessionToken} for {userIdentity.arn}'\nseverity: low\nmatch:\n  eventName: AssumeRole\ndedup: {key: [responseElements.credentials.accessKeyId]}\n".into(),
        }];
        let set = RuleSet::compile(&files, &[], &[], 0).0.unwrap();
        let ev = json!({"eventName":"AssumeRole","eventTime":"2024-01-01T00:00:00Z","eventID":"1",
            "userIdentity":{"arn":"arn:aws:iam::1:user/a"},
            "responseElements":{"credentials":{"sessionToken":"SECRET-TOKEN","accessKeyId":"ASIASECRETKEY"}}});
        let (_, sink) = run(&set, &[ev]);
        let a = &sink.alerts[0];
        assert_eq!(a.title, "token [redacted] for arn:aws:iam::1:user/a");
        let json = serde_json::to_string(a).unwrap();
        assert!(
            !json.contains("SECRET-TOKEN") && !json.contains("ASIASECRETKEY"),
            "{json}"
        );
        assert_eq!(
            a.group["responseElements.credentials.accessKeyId"],
            "[redacted]"
        );
    }

    #[test]
    fn matches_after_an_alert_are_rolled_up_into_one_follow_up() {
        let s = set(&[
            ("burst", "match:\n  eventName: A\nthreshold: {count: 2, window: 10m, group_by: [userIdentity.arn]}\n"),
            ("keyed", "match:\n  eventName: B\ndedup: {key: [userIdentity.arn], cooldown: 1h}\n"),
        ]);
        let ev = |name: &str, id: u32, min: u32, who: &str| {
            json!({"eventName":name,"eventTime":format!("2024-01-01T00:{min:02}:00Z"),
                "eventID":format!("{name}{id}"),"sourceIPAddress":format!("192.0.2.{id}"),
                "userIdentity":{"arn":format!("arn:aws:iam::1:user/{who}")}})
        };
        let events = [
            ev("A", 1, 0, "x"),
            ev("A", 2, 1, "x"), // crosses: the alert
            ev("A", 3, 2, "x"), // inside the span: rolled up
            ev("A", 3, 2, "x"), // a copy: dropped before it counts
            ev("A", 4, 9, "x"),
            ev("A", 5, 30, "x"), // a new span
            ev("B", 1, 0, "y"),  // the key's alert
            ev("B", 2, 5, "y"),
            ev("B", 3, 59, "y"),
            ev("B", 4, 0, "z"), // another key: its own alert
        ];
        let mut p = Pipeline::new(&s, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
        let mut sink = Alerts::default();
        for e in events {
            push(&mut p, &mut sink, e);
        }
        p.flush(&mut sink).unwrap();
        assert_eq!(
            sink.alerts.len(),
            3,
            "two first alerts and one new key, no follow-up yet"
        );
        p.finish(&mut sink).unwrap();
        let follow: Vec<_> = sink
            .alerts
            .iter()
            .filter(|a| a.follow_up_of.is_some())
            .collect();
        assert_eq!(follow.len(), 2, "{follow:#?}");
        let burst = follow.iter().find(|a| a.rule_id == "burst").unwrap();
        let first_burst = sink
            .alerts
            .iter()
            .find(|a| a.rule_id == "burst" && a.follow_up_of.is_none())
            .unwrap();
        assert_eq!(
            burst.follow_up_of.as_deref(),
            Some(first_burst.fingerprint.as_str())
        );
        assert_eq!(
            (burst.count, burst.event_ids.clone()),
            (2, vec!["A3".to_string(), "A4".to_string()])
        );
        assert_eq!(burst.first_seen.as_deref(), Some("2024-01-01T00:02:00Z"));
        assert_eq!(burst.last_seen.as_deref(), Some("2024-01-01T00:09:00Z"));
        assert_eq!(burst.source_ips, ["192.0.2.3", "192.0.2.4"]);
        assert_eq!(burst.principals, ["arn:aws:iam::1:user/x"]);
        let keyed = follow.iter().find(|a| a.rule_id == "keyed").unwrap();
        assert_eq!(keyed.count, 2);
        assert_ne!(keyed.fingerprint, burst.fingerprint);
        assert_eq!((p.report.follow_ups, p.report.deduplicated), (2, 4));
        assert_eq!(p.report.rules["burst"].follow_ups, 1);
        // Nothing is sent twice.
        p.finish(&mut sink).unwrap();
        assert_eq!(p.report.follow_ups, 2);
    }

    /// rules/README.md: `expires: D` holds through 23:59:59 UTC of D; a timestamp holds
    /// until that instant.
    #[test]
    fn suppressions_hold_through_their_last_second_and_not_one_more() {
        let suppressed_at = |expires: &str, now: &str| {
            let files = [RuleFile {
                path: "x.yaml".into(),
                text: format!("id: x\ntitle: t\nseverity: low\nmatch:\n  eventName: A\nsuppress:\n  - match: {{eventName: A}}\n    reason: r\n    owner: o\n    expires: {expires}\n"),
            }];
            let now = crate::event::parse_time(now).unwrap();
            let (set, _) = RuleSet::compile(&files, &[], &[], now);
            let (r, _) = run(&set.unwrap(), &[json!({"eventName":"A"})]);
            assert_eq!(r.alerts + r.suppressed, 1);
            r.suppressed == 1
        };
        let cases = [
            ("2024-05-01", "2024-05-01T00:00:00Z", true),
            ("2024-05-01", "2024-05-01T23:59:59Z", true),
            ("2024-05-01", "2024-05-02T00:00:00Z", false),
            ("'2024-05-01T12:00:00Z'", "2024-05-01T11:59:59Z", true),
            ("'2024-05-01T12:00:00Z'", "2024-05-01T12:00:00Z", false),
        ];
        for (expires, now, applies) in cases {
            assert_eq!(
                suppressed_at(expires, now),
                applies,
                "expires {expires} at {now}"
            );
        }
    }

    /// README.md: a title placeholder or group/key value that reads a secret shows
    /// `[redacted]`, whatever the case CloudTrail's services write its name in.
    #[test]
    fn every_secret_name_is_redacted_in_every_case_style() {
        let names = [
            "credentials",
            "sessionToken",
            "secretAccessKey",
            "password",
            "masterUserPassword",
            "privateKey",
            "keyMaterial",
            "secretString",
            "secretBinary",
        ];
        for name in names {
            let pascal = name[..1].to_uppercase() + &name[1..];
            for key in [
                name.to_string(),
                pascal,
                name.to_lowercase(),
                name.to_uppercase(),
            ] {
                let files = [RuleFile {
                    path: "leak.yaml".into(),
                    text: format!("id: leak\ntitle: 'x {{requestParameters.{key}}}'\nseverity: low\nmatch:\n  eventName: A\ndedup: {{key: [requestParameters.{key}]}}\n"),
                }];
                let set = RuleSet::compile(&files, &[], &[], 0).0.unwrap();
                let ev = json!({"eventName":"A","eventID":"1","requestParameters":{key.as_str():"S3CR3T-VALUE"}});
                let (_, sink) = run(&set, &[ev]);
                let a = &sink.alerts[0];
                assert_eq!(a.title, "x [redacted]", "{key}");
                assert_eq!(
                    a.group[&format!("requestParameters.{key}")],
                    "[redacted]",
                    "{key}"
                );
                let json = serde_json::to_string(a).unwrap();
                assert!(!json.contains("S3CR3T-VALUE"), "{key}: {json}");
            }
        }
        // A field that only resembles a secret's name is shown.
        let files = [RuleFile {
            path: "plain.yaml".into(),
            text: "id: plain\ntitle: 'x {requestParameters.passwordPolicy}'\nseverity: low\nmatch:\n  eventName: A\n".into(),
        }];
        let set = RuleSet::compile(&files, &[], &[], 0).0.unwrap();
        let ev = json!({"eventName":"A","requestParameters":{"passwordPolicy":"strict"}});
        assert_eq!(run(&set, &[ev]).1.alerts[0].title, "x strict");
    }

    /// rules/README.md: a `[*]` placeholder shows every distinct value, joined with ", ",
    /// at most five, then "and N more"; a secret among them shows `[redacted]`.
    #[test]
    fn titles_join_the_distinct_values_of_a_list_five_at_most() {
        let files = [RuleFile {
            path: "list.yaml".into(),
            text: "id: list\ntitle: 'on {resources[*].ARN}; {requestParameters.items[*].password}'\nseverity: low\nmatch:\n  eventName: A\n".into(),
        }];
        let set = RuleSet::compile(&files, &[], &[], 0).0.unwrap();
        let title = |arns: &[&str]| {
            let resources: Vec<serde_json::Value> =
                arns.iter().map(|a| json!({"ARN": a})).collect();
            let ev = json!({"eventName":"A","resources":resources,
                "requestParameters":{"items":[{"password":"hunter2"},{"password":"letmein"}]}});
            run(&set, &[ev]).1.alerts[0].title.clone()
        };
        assert_eq!(title(&["a", "b", "a", "c"]), "on a, b, c; [redacted]");
        assert_eq!(
            title(&["a", "b", "c", "d", "e"]),
            "on a, b, c, d, e; [redacted]"
        );
        assert_eq!(
            title(&["a", "b", "c", "d", "e", "f", "a"]),
            "on a, b, c, d, e and 1 more; [redacted]"
        );
    }

    /// rules/README.md: a span of `window` seconds includes both ends, for the crossing
    /// and for the matches it absorbs afterwards.
    #[test]
    fn a_threshold_span_includes_both_ends() {
        let s = set(&[(
            "burst",
            "match:\n  eventName: A\nthreshold: {count: 5, window: 10m}\n",
        )]);
        let at = |id: u32, secs: i64| {
            json!({"eventName":"A","eventID":format!("e{id}"),
                "eventTime":crate::event::format_time(1_714_557_600 + secs)})
        };
        let burst = |last: i64| {
            run(
                &s,
                &[at(1, 0), at(2, 60), at(3, 120), at(4, 180), at(5, last)],
            )
            .0
        };
        assert_eq!(burst(600).alerts, 1, "five events in 10 min 0 s");
        assert_eq!(burst(601).alerts, 0, "five events in 10 min 1 s");
        // After the span [0, 600] alerted, a match at 600 is inside it, one at 601 not.
        let (r, _) = run(
            &s,
            &[at(1, 0), at(2, 1), at(3, 2), at(4, 3), at(5, 4), at(6, 600)],
        );
        assert_eq!((r.alerts, r.deduplicated), (1, 1));
        let (r, _) = run(
            &s,
            &[at(1, 0), at(2, 1), at(3, 2), at(4, 3), at(5, 4), at(6, 601)],
        );
        assert_eq!((r.alerts, r.deduplicated), (1, 0));
    }
}
