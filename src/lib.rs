//! trailwatch: watches CloudTrail and pages the on-call when something dangerous happens.
//!
//! ```text
//! bytes ──source::decode──▶ Event ──RuleSet (indexed matcher)──▶ Verdict
//!        ──escalate (dedup, thresholds, cooldowns over eventTime)──▶ Alert ──▶ Sink
//! ```
//! The CLI and the Lambda run the same [`pipeline::Pipeline`]; they differ only in where
//! bytes come from and where alerts go. Everything here is pure and synchronous.

pub mod alert;
pub mod aliases;
pub mod escalate;
pub mod event;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod rules;
pub mod sink;
pub mod source;
pub mod state;
pub mod testing;
pub mod trigger;
