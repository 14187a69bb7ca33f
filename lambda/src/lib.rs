//! trailwatch on AWS Lambda.
//!
//! The handler reads what the payload asks for (`trailwatch::trigger`), streams S3
//! objects through the same pipeline the CLI runs, and delivers alerts to SNS after
//! claiming each one, so a retry or a duplicate notification never pages twice. AWS sits
//! behind small traits ([`claims::Claims`], [`publish::Publisher`]) with an AWS and an
//! in-memory implementation; the pipeline's `State` is DynamoDB when `STATE_TABLE` is set.
//! [`replay`] (the `trailwatch-replay` binary) walks a trail's bucket for `trailwatch replay`.

pub mod aws;
pub mod claims;
pub mod config;
pub mod dynamo;
pub mod handler;
pub mod lists;
pub mod metrics;
pub mod publish;
pub mod replay;

/// Why an invocation (or one SQS message) failed, and whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Throttling, 5xx, timeouts, a dropped connection, an alert SNS or DynamoDB would not
    /// take: Lambda should retry (then the dead-letter queue keeps the input).
    #[error("retryable: {0}")]
    Retryable(String),
    /// A bad payload or object: retrying cannot help; it is reported and dropped (or, for
    /// SQS, left to the queue's redrive policy).
    #[error("permanent: {0}")]
    Permanent(String),
}

impl Failure {
    pub fn retryable(&self) -> bool {
        matches!(self, Failure::Retryable(_))
    }

    /// The error Lambda records: `errorType` says whether a retry can help.
    pub fn diagnostic(self) -> lambda_runtime::Diagnostic {
        let error_type = if self.retryable() {
            "trailwatch.Retryable"
        } else {
            "trailwatch.Permanent"
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_string(),
            error_message: self.to_string(),
        }
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
