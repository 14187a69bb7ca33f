//! The pipeline shared by the CLI and the Lambda: records in, alerts out, counts kept.
//!
//! Every record is counted; a copy of an already seen event is dropped; each rule that
//! matches is escalated on its own (thresholds, alert keys), and suppressed hits are
//! counted, never silently lost.

use crate::escalate::{Escalator, Outcome};
use crate::rules::{RuleSet, Verdict};
use crate::sink::Sink;
use crate::source::{Item, Position};
use crate::state::seen::Seen;
use serde::Serialize;
use std::io;

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
}

pub struct Pipeline<'r> {
    rules: &'r RuleSet,
    seen: Seen,
    escalator: Escalator,
    pub report: Report,
}

impl<'r> Pipeline<'r> {
    pub fn new(rules: &'r RuleSet, horizon: i64) -> Self {
        Pipeline {
            rules,
            seen: Seen::new(horizon),
            escalator: Escalator::new(horizon),
            report: Report::default(),
        }
    }

    /// Handles one decoded item; `on_malformed` hears about bad records.
    pub fn push(
        &mut self,
        item: Item,
        sink: &mut dyn Sink,
        on_malformed: &mut dyn FnMut(&Position, &str),
    ) -> io::Result<()> {
        let event = match item {
            Item::Record(e) => e,
            Item::Malformed { at, reason } => {
                self.report.malformed += 1;
                on_malformed(&at, &reason);
                return Ok(());
            }
        };
        self.report.events += 1;
        if self.seen.is_duplicate(&event) {
            self.report.duplicates += 1;
            return Ok(());
        }
        let mut verdicts = Vec::new();
        self.rules.evaluate(&event, &mut verdicts);
        for (idx, verdict) in verdicts {
            let rule = match verdict {
                Verdict::Suppressed(..) => {
                    self.report.suppressed += 1;
                    continue;
                }
                Verdict::Hit(rule) => rule,
            };
            match self.escalator.on_hit(idx, rule, &event) {
                Outcome::Alert(alert) => {
                    self.report.alerts += 1;
                    sink.publish(&alert)?;
                }
                Outcome::Pending => {}
                Outcome::Deduplicated => self.report.deduplicated += 1,
                Outcome::Untimed => self.report.untimed += 1,
            }
        }
        Ok(())
    }
}
