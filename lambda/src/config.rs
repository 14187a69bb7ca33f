//! Every environment variable the Lambda reads, in one place (documented in README.md).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use trailwatch::pipeline::DEFAULT_HORIZON;
use trailwatch::source::Limits;

#[derive(Debug, Clone)]
pub struct Config {
    /// `ALERT_TOPIC_ARN`: the SNS topic alerts are published to.
    pub topic_arn: String,
    /// `STATE_TABLE`: DynamoDB table for windows, sightings and claims; unset = in memory.
    pub state_table: Option<String>,
    /// `RULES_DIR`: rules to use instead of the bundled ones.
    pub rules_dir: Option<PathBuf>,
    /// `TRAILWATCH_HORIZON_SECONDS`: how late an event may arrive (default 86400).
    pub horizon: i64,
    /// `TRAILWATCH_MAX_RECORD_BYTES`, `TRAILWATCH_MAX_DECOMPRESSED_BYTES`.
    pub limits: Limits,
    /// `TRAILWATCH_CLAIM_LEASE_SECONDS`: how long a claimed alert waits for its publisher
    /// before another invocation may publish it (default 120).
    pub claim_lease: i64,
    /// `TRAILWATCH_FOLLOW_UP_DELAY_SECONDS`: how long after a span or cooldown ends its
    /// follow-up waits for late files (default 900).
    pub follow_up_delay: i64,
    /// `TRAILWATCH_LISTS_S3` (`s3://bucket/key` of a lists.yaml) and
    /// `TRAILWATCH_LISTS_REFRESH_SECONDS` (default 300): named lists read from S3.
    pub lists: Option<crate::lists::Source>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .with_context(|| format!("{name}={v} is not a number")),
    }
}

impl Config {
    pub fn from_env() -> Result<Config> {
        let Some(topic_arn) = var("ALERT_TOPIC_ARN") else {
            bail!("ALERT_TOPIC_ARN is not set: it must name the SNS topic for alerts");
        };
        let defaults = Limits::default();
        Ok(Config {
            topic_arn,
            state_table: var("STATE_TABLE"),
            rules_dir: var("RULES_DIR").map(PathBuf::from),
            horizon: number("TRAILWATCH_HORIZON_SECONDS", DEFAULT_HORIZON)?,
            limits: Limits {
                max_record: number("TRAILWATCH_MAX_RECORD_BYTES", defaults.max_record)?,
                max_decompressed: number(
                    "TRAILWATCH_MAX_DECOMPRESSED_BYTES",
                    defaults.max_decompressed,
                )?,
                ..defaults
            },
            claim_lease: number("TRAILWATCH_CLAIM_LEASE_SECONDS", 120)?,
            follow_up_delay: number("TRAILWATCH_FOLLOW_UP_DELAY_SECONDS", 900)?,
            lists: var("TRAILWATCH_LISTS_S3")
                .map(|uri| {
                    crate::lists::Source::parse(
                        &uri,
                        number("TRAILWATCH_LISTS_REFRESH_SECONDS", 300)?,
                    )
                })
                .transpose()?,
        })
    }
}
