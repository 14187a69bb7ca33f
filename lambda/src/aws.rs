//! AWS clients, built once per cold start, every call with a timeout. The endpoint comes
//! from the standard `AWS_ENDPOINT_URL` the SDK already honours.
//!
//! Retries: the SDK's standard mode with up to [`DEFAULT_MAX_ATTEMPTS`] attempts (the
//! standard `AWS_MAX_ATTEMPTS` overrides it) and a short first backoff, as AWS's own
//! DynamoDB clients do: a state write that hits throttling or a dropped connection is
//! tried again within the call, not by replaying the whole file. SNS keeps the SDK's 3
//! attempts: a publish whose answer was lost may have gone out, so every extra attempt
//! is a possible duplicate page. The operation timeout bounds each call.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use std::time::Duration;

#[derive(Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

/// Attempts per call (the SDK default is 3; state writes deserve more).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

fn max_attempts() -> u32 {
    std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_ATTEMPTS)
}

/// Attempts per SNS publish.
pub const SNS_MAX_ATTEMPTS: u32 = 3;

fn retries(attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(5))
}

/// The shared SDK configuration: the standard credential and region chain, the endpoint
/// from `AWS_ENDPOINT_URL`, timeouts and retries as above.
pub async fn config() -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(25))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries(max_attempts()))
        .load()
        .await
}

/// S3 with path-style addressing when an endpoint is set (it works with every endpoint,
/// including a local one).
pub fn s3(shared: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(std::env::var_os("AWS_ENDPOINT_URL").is_some())
            .build(),
    )
}

/// SNS with [`SNS_MAX_ATTEMPTS`].
pub fn sns(shared: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(shared)
            .retry_config(retries(SNS_MAX_ATTEMPTS))
            .build(),
    )
}

pub async fn clients() -> Clients {
    let shared = config().await;
    Clients {
        s3: s3(&shared),
        sns: sns(&shared),
        dynamodb: aws_sdk_dynamodb::Client::new(&shared),
    }
}
