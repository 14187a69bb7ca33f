//! Delivering alerts: claim, publish to SNS in batches, complete (or release) the claim.

use crate::claims::{Claim, Claims};
use crate::Failure;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use std::future::Future;
use std::sync::Mutex;
use trailwatch::alert::Alert;
use trailwatch::render::{sns_message, SnsMessage, SNS_MAX_BYTES};

/// PublishBatch takes at most 10 entries and 256 KiB in all.
pub const BATCH_MAX_ENTRIES: usize = 10;

pub trait Publisher: Send + Sync {
    /// Publishes up to [`BATCH_MAX_ENTRIES`] messages; one result per message, in order:
    /// the message id SNS gave it, or why it was refused.
    fn publish(
        &self,
        batch: &[SnsMessage],
    ) -> impl Future<Output = Result<Vec<Result<String, String>>, Failure>> + Send;
}

pub struct SnsPublisher {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

impl Publisher for SnsPublisher {
    async fn publish(&self, batch: &[SnsMessage]) -> Result<Vec<Result<String, String>>, Failure> {
        let mut entries = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            let mut e = PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .subject(&m.subject)
                .message(&m.message)
                .message_structure("json");
            for (name, value) in &m.attributes {
                let attr = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| Failure::Permanent(e.to_string()))?;
                e = e.message_attributes(*name, attr);
            }
            entries.push(e.build().map_err(|e| Failure::Permanent(e.to_string()))?);
        }
        let out = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                let permanent = matches!(
                    e.code(),
                    Some(
                        "InvalidParameter"
                            | "NotFound"
                            | "AuthorizationError"
                            | "InvalidParameterValue"
                    )
                );
                let msg = format!("publishing to SNS: {}", DisplayErrorContext(&e));
                if permanent {
                    Failure::Permanent(msg)
                } else {
                    Failure::Retryable(msg)
                }
            })?;
        let mut results = vec![Err("SNS did not report this entry".to_string()); batch.len()];
        for ok in out.successful() {
            if let Some(i) = ok
                .id()
                .and_then(|id| id.parse::<usize>().ok())
                .filter(|i| *i < batch.len())
            {
                results[i] = Ok(ok.message_id().unwrap_or("").to_string());
            }
        }
        for f in out.failed() {
            if let Ok(i) = f.id().parse::<usize>() {
                if i < batch.len() {
                    results[i] = Err(format!("{}: {}", f.code(), f.message().unwrap_or("")));
                }
            }
        }
        Ok(results)
    }
}

/// Published messages kept in memory (tests).
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    pub sent: Mutex<Vec<SnsMessage>>,
}

impl Publisher for MemoryPublisher {
    async fn publish(&self, batch: &[SnsMessage]) -> Result<Vec<Result<String, String>>, Failure> {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let ids = (sent.len()..sent.len() + batch.len())
            .map(|i| Ok(format!("memory-{i}")))
            .collect();
        sent.extend(batch.iter().cloned());
        Ok(ids)
    }
}

/// What delivering a set of alerts did.
#[derive(Debug, Default)]
pub struct Delivery {
    pub published: usize,
    /// Already published (or being published) by another invocation.
    pub deduplicated: usize,
    /// Fingerprints that could not be published, and why; their claims were released.
    pub failed: Vec<(String, Failure)>,
}

/// Claims (as `owner`), publishes and completes each alert, a batch at a time (each
/// claim is taken just before its batch is published, at `now()`); a failed publish
/// releases its claims. An alert another owner is publishing is a retryable failure.
/// The same fingerprint twice in `alerts` (two crossings in one slot) is published once.
pub async fn deliver<C: Claims, P: Publisher>(
    alerts: &[Alert],
    claims: &C,
    publisher: &P,
    owner: &str,
    now: impl Fn() -> i64,
    lease: i64,
) -> Delivery {
    let mut d = Delivery::default();
    let mut seen = std::collections::HashSet::new();
    let mut pending: Vec<&Alert> = Vec::new();
    for a in alerts {
        if seen.insert(a.fingerprint.as_str()) {
            pending.push(a);
        } else {
            d.deduplicated += 1;
        }
    }
    let mut next = 0;
    while next < pending.len() {
        // Claim up to a batch's worth, then publish what was claimed.
        let (mut fps, mut messages): (Vec<&Alert>, Vec<SnsMessage>) = (Vec::new(), Vec::new());
        let mut bytes = 0;
        while next < pending.len() && messages.len() < BATCH_MAX_ENTRIES {
            let a = pending[next];
            let t = now();
            let message = sns_message(a, t);
            if !messages.is_empty() && bytes + message.size() > SNS_MAX_BYTES {
                break;
            }
            next += 1;
            match claims.acquire(&a.fingerprint, owner, t, lease).await {
                Ok(Claim::Acquired) => {
                    bytes += message.size();
                    fps.push(a);
                    messages.push(message);
                }
                Ok(Claim::Completed) => d.deduplicated += 1,
                Ok(Claim::Busy) => d.failed.push((
                    a.fingerprint.clone(),
                    Failure::Retryable(format!(
                        "alert {} is being published by another invocation; retry once its claim completes or its lease ends",
                        a.fingerprint
                    )),
                )),
                Err(f) => d.failed.push((a.fingerprint.clone(), f)),
            }
        }
        if messages.is_empty() {
            continue;
        }
        let results = publisher.publish(&messages).await;
        for (i, alert) in fps.iter().enumerate() {
            let fp = alert.fingerprint.as_str();
            let outcome = match &results {
                Ok(r) => r[i]
                    .clone()
                    .map_err(|why| Failure::Retryable(format!("SNS refused alert {fp}: {why}"))),
                Err(Failure::Permanent(m)) => Err(Failure::Permanent(m.clone())),
                Err(Failure::Retryable(m)) => Err(Failure::Retryable(m.clone())),
            };
            match outcome {
                Ok(message_id) => {
                    // The audit trail: one line per alert that reached SNS.
                    tracing::info!(fingerprint = %fp, rule_id = %alert.rule_id, severity = %alert.severity, message_id = %message_id, "alert published");
                    if let Err(f) = claims.complete(fp, now()).await {
                        // Published, but the claim stays in progress until its lease ends:
                        // a retry within the lease is stopped; after it, SNS may page again.
                        tracing::warn!(fingerprint = %fp, error = %f, "published but could not mark the claim completed");
                    }
                    d.published += 1;
                }
                Err(f) => {
                    if let Err(r) = claims.release(fp, owner).await {
                        tracing::warn!(fingerprint = %fp, error = %r, "could not release a claim; it frees itself when its lease ends");
                    }
                    d.failed.push((fp.to_string(), f));
                }
            }
        }
    }
    d
}
