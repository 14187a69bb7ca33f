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
    /// Claims taken over from an owner whose lease ran out (it may have published them:
    /// the one way left to page twice, counted so it can be seen).
    pub taken_over: usize,
    /// Fingerprints that could not be published, and why; their claims were released.
    pub failed: Vec<(String, Failure)>,
}

impl Delivery {
    fn add(&mut self, other: Delivery) {
        self.published += other.published;
        self.deduplicated += other.deduplicated;
        self.taken_over += other.taken_over;
        self.failed.extend(other.failed);
    }
}

/// Batches delivered at once.
pub const CONCURRENT_BATCHES: usize = 4;

/// Claims (as `owner`), publishes and completes each alert, a batch at a time: each
/// batch's claims are taken together just before it is published (at `now()`), its
/// completions (or, if publishing failed, releases) go out together, and up to
/// [`CONCURRENT_BATCHES`] batches are under way at once. An alert another owner is
/// publishing is a retryable failure. The same fingerprint twice in `alerts` (two crossings
/// in one slot) is published once.
pub async fn deliver<C: Claims, P: Publisher>(
    alerts: &[Alert],
    claims: &C,
    publisher: &P,
    owner: &str,
    now: impl Fn() -> i64,
    lease: i64,
) -> Delivery {
    use futures_util::stream::{self, StreamExt};
    let mut d = Delivery::default();
    let mut seen = std::collections::HashSet::new();
    let mut batches: Vec<Vec<(&Alert, SnsMessage)>> = vec![Vec::new()];
    let mut bytes = 0;
    for a in alerts {
        if !seen.insert(a.fingerprint.as_str()) {
            d.deduplicated += 1;
            continue;
        }
        let message = sns_message(a, now());
        let last = batches.last_mut().expect("never empty");
        if last.len() == BATCH_MAX_ENTRIES
            || (!last.is_empty() && bytes + message.size() > SNS_MAX_BYTES)
        {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += message.size();
        batches.last_mut().expect("never empty").push((a, message));
    }
    let now = &now;
    let results: Vec<Delivery> = stream::iter(batches.into_iter().filter(|b| !b.is_empty()))
        .map(|batch| deliver_batch(batch, claims, publisher, owner, now, lease))
        .buffer_unordered(CONCURRENT_BATCHES)
        .collect()
        .await;
    for r in results {
        d.add(r);
    }
    d
}

async fn deliver_batch<C: Claims, P: Publisher>(
    batch: Vec<(&Alert, SnsMessage)>,
    claims: &C,
    publisher: &P,
    owner: &str,
    now: &impl Fn() -> i64,
    lease: i64,
) -> Delivery {
    use futures_util::future::join_all;
    let mut d = Delivery::default();
    let t = now();
    let fps: Vec<&str> = batch.iter().map(|(a, _)| a.fingerprint.as_str()).collect();
    let claimed = claims.acquire_all(&fps, owner, t, lease).await;
    let mut mine = Vec::new();
    for ((a, message), claim) in batch.into_iter().zip(claimed) {
        match claim {
            Ok(Claim::Acquired) => mine.push((a, message)),
            Ok(Claim::TakenOver) => {
                tracing::warn!(fingerprint = %a.fingerprint, rule_id = %a.rule_id, "claim taken over after its lease ran out: its first owner may have published this alert already");
                d.taken_over += 1;
                mine.push((a, message));
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
    if mine.is_empty() {
        return d;
    }
    let messages: Vec<SnsMessage> = mine.iter().map(|(_, m)| m.clone()).collect();
    let results = publisher.publish(&messages).await;
    let outcomes: Vec<Result<String, Failure>> = (0..mine.len())
        .map(|i| match &results {
            Ok(r) => r[i].clone().map_err(|why| {
                Failure::Retryable(format!(
                    "SNS refused alert {}: {why}",
                    mine[i].0.fingerprint
                ))
            }),
            Err(Failure::Permanent(m)) => Err(Failure::Permanent(m.clone())),
            Err(Failure::Retryable(m)) => Err(Failure::Retryable(m.clone())),
        })
        .collect();
    let mut done = Vec::new();
    let mut releases = Vec::new();
    for ((a, _), outcome) in mine.iter().zip(&outcomes) {
        let fp = a.fingerprint.as_str();
        match outcome {
            Ok(message_id) => {
                // The audit trail: one line per alert that reached SNS.
                tracing::info!(fingerprint = %fp, rule_id = %a.rule_id, severity = %a.severity, message_id = %message_id, "alert published");
                done.push(fp);
            }
            Err(_) => releases.push(async move {
                if let Err(r) = claims.release(fp, owner).await {
                    tracing::warn!(fingerprint = %fp, error = %r, "could not release a claim; it frees itself when its lease ends");
                }
            }),
        }
    }
    join_all(releases).await;
    if let Err(f) = claims.complete_all(&done, now()).await {
        // Published, but the claims stay in progress until their lease ends: a retry
        // within the lease is stopped; after it, SNS may page again.
        tracing::warn!(alerts = done.len(), error = %f, "published but could not mark the claims completed");
    }
    for ((a, _), outcome) in mine.iter().zip(outcomes) {
        match outcome {
            Ok(_) => d.published += 1,
            Err(f) => d.failed.push((a.fingerprint.clone(), f)),
        }
    }
    d
}
