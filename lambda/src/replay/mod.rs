//! Replay: evaluate a trail's history from its S3 bucket, either here through one pipeline
//! (`trailwatch-replay s3://…`) or by enqueueing its files for the deployed function
//! (`--via-lambda`).
//!
//! Why it reads files in the time order of their names, across every account, region and
//! trail, through ONE pipeline with in-memory state: thresholds, alert keys and the
//! duplicate filter then see the events as `scan` would see the same files given in that
//! order, and as the live function saw them arrive. Why it lives here and not in the CLI's
//! crate: it needs the AWS SDK, which the CLI deliberately does without; `trailwatch replay`
//! runs this crate's `trailwatch-replay` binary.
//!
//! The pure parts — reading keys and the time range (`keys`), which folders to list and
//! the merge order (`plan`) — do no I/O; `walk` lists S3 behind a trait, `local` drives
//! the pipeline, `queue` feeds the function's trail queue.

pub mod keys;
pub mod local;
pub mod plan;
pub mod progress;
pub mod queue;
pub mod walk;

use crate::publish;
use std::io;
use std::time::Duration;
use trailwatch::pipeline::{self, Report};

pub use keys::{Range, S3Uri, Window};
pub use plan::Skipped;
pub use walk::{Filter, Lister, S3Lister, Walk};

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Walk(#[from] walk::WalkError),
    #[error(transparent)]
    List(#[from] walk::ListError),
    #[error("writing alerts: {0}")]
    Pipeline(#[from] pipeline::Error),
    #[error("writing alerts: {0}")]
    Output(#[from] io::Error),
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
    #[error("the S3 reader stopped before the walk ended")]
    Stopped,
}

/// What a local replay did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Log files read to the end.
    pub objects: u64,
    /// The first alerts, when asked for (`--report`); follow-ups are counted in `report`.
    pub alerts: Vec<trailwatch::alert::Alert>,
    /// Bytes read from S3 (as stored: gzipped).
    pub bytes: u64,
    /// Objects in a log file's place that are not CloudTrail input (skipped, as `scan`
    /// skips them in a directory).
    pub not_cloudtrail: u64,
    /// Objects that could not be read (or read to the end).
    pub unreadable: u64,
    pub skipped: Skipped,
    /// Files read after one with a later name time.
    pub late: u64,
    /// ListObjectsV2 calls.
    pub listings: u64,
    /// Records whose `eventTime` is outside the range: not evaluated.
    pub outside: u64,
    pub report: Report,
    /// With `--publish`: alerts SNS took, and alerts it did not.
    pub published: u64,
    pub unpublished: u64,
    pub elapsed: Duration,
}

impl Summary {
    /// `scan`'s summary plus objects and bytes.
    pub fn line(&self) -> String {
        let r = &self.report;
        let s = &self.skipped;
        let skipped = s.digest + s.insight + s.malformed_keys + self.not_cloudtrail;
        format!(
            "trailwatch replay: {} object(s) read ({}), {skipped} skipped, {} unreadable; {} events, {} outside the range, {} duplicates, {} malformed, {} suppressed, {} alerts ({} deduplicated, {} untimed){}",
            self.objects,
            progress::bytes(self.bytes),
            self.unreadable,
            r.events,
            self.outside,
            r.duplicates,
            r.malformed,
            r.suppressed,
            r.alerts,
            r.deduplicated,
            r.untimed,
            if r.follow_ups > 0 {
                format!(", {} follow-up(s)", r.follow_ups)
            } else {
                String::new()
            }
        )
    }

    /// What was passed over, throughput and delivery: lines for stderr.
    pub fn details(&self) -> Vec<String> {
        let s = &self.skipped;
        let mut out = Vec::new();
        let mut parts = Vec::new();
        let mut part = |n: u64, what: &str| {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        };
        part(s.digest_folders, "CloudTrail-Digest folder(s)");
        part(s.insight_folders, "CloudTrail-Insight folder(s)");
        part(s.digest, "digest file(s)");
        part(s.insight, "Insights file(s)");
        part(s.malformed_keys, "object(s) whose name is not a log file's");
        part(
            self.not_cloudtrail,
            "object(s) that are not CloudTrail input",
        );
        part(s.other_folders, "folder(s) outside the layout");
        if !parts.is_empty() {
            out.push(format!("trailwatch replay: skipped {}", parts.join(", ")));
        }
        for e in &s.malformed_examples {
            out.push(format!("trailwatch replay: skipped {e}"));
        }
        if self.late > 0 {
            out.push(format!(
                "trailwatch replay: {} file(s) were listed after a file with a later name and read late",
                self.late
            ));
        }
        if self.published + self.unpublished > 0 {
            out.push(format!(
                "trailwatch replay: {} alert(s) published to SNS, {} not published",
                self.published, self.unpublished
            ));
        }
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        out.push(format!(
            "trailwatch replay: {} listing(s), {:.1} s, {:.1} objects/s, {}/s",
            self.listings,
            secs,
            self.objects as f64 / secs,
            progress::bytes((self.bytes as f64 / secs) as u64)
        ));
        out
    }

    /// As `scan`: 2 if anything could not be read (or published), else 1 with alerts.
    pub fn exit_code(&self) -> u8 {
        if self.unreadable > 0 || self.unpublished > 0 {
            2
        } else if self.report.alerts > 0 {
            1
        } else {
            0
        }
    }
}

/// SNS publishing for `--publish`: the Lambda's publisher, claims kept in memory (the
/// pipeline already publishes each fingerprint once per replay).
pub struct Publish<P: publish::Publisher> {
    pub publisher: P,
    pub claims: crate::claims::MemoryClaims,
}
