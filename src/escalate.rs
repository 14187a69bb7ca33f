//! From a rule hit to an alert: thresholds over event time, alert keys and cooldowns.
//!
//! Everything is keyed on `eventTime`, never the wall clock, so a replay, `scan` and the
//! Lambda agree. Fingerprints are computed from the rule, the group or key, and an
//! event-time slot, never from which process saw which events first.

use crate::alert::{Alert, MAX_EVENT_IDS};
use crate::event::{format_time, Event};
use crate::rules::matcher::FieldRef;
use crate::rules::{Rule, Threshold};
use crate::state::rollup::Follow;
use crate::state::window::{step_value, Added, Entry, Spec, Steps, MAX_STEPS};
use crate::state::{fnv, Key, State, StateError};
use std::collections::BTreeMap;

/// What became of a rule hit.
#[derive(Debug)]
pub enum Outcome {
    Alert(Box<Alert>),
    /// Counted toward a threshold that is not reached yet.
    Pending,
    /// Part of a threshold span or key that already alerted: it joins that alert's
    /// roll-up (see [`crate::state::rollup`]), unless the key has no cooldown (a key that
    /// names one action recorded several times, such as `sharedEventID`: a copy).
    Deduplicated(Option<Follow>),
    /// A threshold rule matched an event without a usable `eventTime`.
    Untimed,
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
        let display = if f.is_sensitive() {
            "[redacted]".to_string()
        } else {
            v.clone()
        };
        shown.insert(f.label(), display);
    }
    Some((key, shown))
}

/// Escalates one rule hit against `state`. `identity` is the event's (see
/// [`crate::state::identity`]); `horizon` bounds how late an event may join a window.
pub fn escalate<S: State + ?Sized>(
    state: &mut S,
    rule: &Rule,
    e: &Event,
    identity: u64,
    horizon: i64,
) -> Result<Outcome, StateError> {
    match &rule.threshold {
        Some(th) => threshold(state, rule, th, e, identity, horizon),
        None => single(state, rule, e, identity),
    }
}

fn threshold<S: State + ?Sized>(
    state: &mut S,
    rule: &Rule,
    th: &Threshold,
    e: &Event,
    identity: u64,
    horizon: i64,
) -> Result<Outcome, StateError> {
    let Some(t) = e.time else {
        return Ok(Outcome::Untimed);
    };
    let (key, group) = key_of(&th.group_by, e, true).unwrap_or_default();
    let entry = Entry {
        time: t,
        identity,
        event_id: e.event_id().map(str::to_string),
        source_ip: e.str("sourceIPAddress").map(str::to_string),
        distinct: match &th.sequence {
            Some(seq) => seq.step_of(e).map(step_value),
            None => th
                .distinct
                .as_ref()
                .and_then(|d| d.first_text(e))
                .map(|s| s.into_owned()),
        },
    };
    let counts_values = th.distinct.is_some() || th.sequence.is_some();
    if counts_values && entry.distinct.is_none() {
        return Ok(Outcome::Pending);
    }
    let mut steps = Steps::default();
    if let Some(seq) = &th.sequence {
        steps.len = seq.steps.len().min(MAX_STEPS);
        steps.need = seq.need;
        steps.ordered = seq.ordered;
        for (c, s) in steps.counts.iter_mut().zip(&seq.steps) {
            *c = u32::try_from(s.count).unwrap_or(u32::MAX);
        }
    }
    let spec = Spec {
        count: th.sequence.as_ref().map_or(th.count, |s| s.min_events()),
        window: th.window,
        distinct: counts_values,
        horizon,
        steps,
    };
    Ok(match state.window_add(&rule.id, &key, entry, &spec)? {
        Added::Pending => Outcome::Pending,
        Added::Absorbed { start } => {
            let slot = start.div_euclid(th.window);
            let fp = fnv(&[rule.id.as_bytes(), key.as_bytes(), &slot.to_be_bytes()]);
            Outcome::Deduplicated(Some(Follow {
                follows: format!("{fp:016x}"),
                until: start.saturating_add(th.window),
                group,
            }))
        }
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
            let mut ips: Vec<String> = span.iter().filter_map(|x| x.source_ip.clone()).collect();
            ips.sort();
            ips.dedup();
            alert.source_ips = ips;
            alert.group = group;
            Outcome::Alert(Box::new(alert))
        }
    })
}

fn single<S: State + ?Sized>(
    state: &mut S,
    rule: &Rule,
    e: &Event,
    identity: u64,
) -> Result<Outcome, StateError> {
    let keyed = rule
        .dedup
        .as_ref()
        .and_then(|d| key_of(&d.key, e, false).map(|k| (d, k)));
    let Some((dedup, (mut key, group))) = keyed else {
        // One alert per event: its fingerprint is the event's identity.
        let fp = fnv(&[rule.id.as_bytes(), &identity.to_be_bytes()]);
        return Ok(Outcome::Alert(Box::new(Alert::new(rule, e, 1, fp))));
    };
    // Failed calls are keyed apart: a denied attempt never stands for a later success.
    if e.failure().is_some() {
        key.push_str("failed\u{1f}");
    }
    // Without a usable eventTime a cooldown cannot be measured: the key alone decides.
    let (time, cooldown) = match e.time {
        Some(t) => (t, dedup.cooldown),
        None => (0, None),
    };
    Ok(
        match state.alert_key(&rule.id, &key, identity, time, cooldown)? {
            Key::Deduplicated { since } => Outcome::Deduplicated(dedup.cooldown.map(|c| {
                let slot = since.div_euclid(c);
                let fp = fnv(&[rule.id.as_bytes(), key.as_bytes(), &slot.to_be_bytes()]);
                Follow {
                    follows: format!("{fp:016x}"),
                    until: since.saturating_add(c),
                    group,
                }
            })),
            Key::Alert { since } => {
                let slot = dedup.cooldown.map_or(0, |c| since.div_euclid(c));
                let fp = fnv(&[rule.id.as_bytes(), key.as_bytes(), &slot.to_be_bytes()]);
                let mut alert = Alert::new(rule, e, 1, fp);
                alert.group = group;
                Outcome::Alert(Box::new(alert))
            }
        },
    )
}
