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
        Ok(outcomes(
            batch.len(),
            out.successful().iter().map(|ok| (ok.id(), ok.message_id())),
            out.failed().iter().map(|f| {
                let why = format!("{}: {}", f.code(), f.message().unwrap_or(""));
                (f.id(), why)
            }),
        ))
    }
}

/// Each of `n` entries' outcome from PublishBatch's answer: its message id, or why SNS
/// refused it. An entry SNS did not report stays failed; ids out of range are ignored.
fn outcomes<'a>(
    n: usize,
    successful: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
    failed: impl IntoIterator<Item = (&'a str, String)>,
) -> Vec<Result<String, String>> {
    let mut results = vec![Err("SNS did not report this entry".to_string()); n];
    let index = |id: &str| id.parse::<usize>().ok().filter(|i| *i < n);
    for (id, message_id) in successful {
        if let Some(i) = id.and_then(index) {
            results[i] = Ok(message_id.unwrap_or("").to_string());
        }
    }
    for (id, why) in failed {
        if let Some(i) = index(id) {
            results[i] = Err(why);
        }
    }
    results
}

/// SNS in memory (tests): each batch as it was handed over, in order of
/// arrival; an entry whose subject contains `refuse` is refused as SNS refuses one entry
/// of a batch, and `down` fails every batch as a call that did not get through.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    pub batches: Mutex<Vec<Vec<SnsMessage>>>,
    pub refuse: Option<String>,
    pub down: bool,
}

impl MemoryPublisher {
    /// Every message published, batch after batch.
    pub fn sent(&self) -> Vec<SnsMessage> {
        let batches = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        batches.iter().flatten().cloned().collect()
    }
}

impl Publisher for MemoryPublisher {
    async fn publish(&self, batch: &[SnsMessage]) -> Result<Vec<Result<String, String>>, Failure> {
        if self.down {
            return Err(Failure::Retryable("SNS is down".into()));
        }
        let mut batches = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        let n = batches.len();
        batches.push(batch.to_vec());
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, m)| match &self.refuse {
                Some(r) if m.subject.contains(r.as_str()) => Err(format!("refused: {r}")),
                _ => Ok(format!("memory-{n}-{i}")),
            })
            .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::MemoryClaims;
    use trailwatch::event::Event;
    use trailwatch::rules::{RuleFile, RuleSet};

    /// PublishBatch answers per entry id: each entry gets its own outcome, one SNS did not
    /// mention stays failed, and ids that name no entry change nothing.
    #[test]
    fn each_entry_gets_the_outcome_sns_reported_for_its_id() {
        let got = outcomes(
            4,
            [
                (Some("0"), Some("m-0")),
                (Some("3"), None),
                (Some("4"), Some("beyond")),
                (None, Some("no id")),
                (Some("x"), Some("not a number")),
            ],
            [
                ("2".to_string(), "InvalidParameter: too big".to_string()),
                ("4".to_string(), "beyond".to_string()),
            ]
            .iter()
            .map(|(id, why)| (id.as_str(), why.clone())),
        );
        assert_eq!(
            got,
            [
                Ok("m-0".to_string()),
                Err("SNS did not report this entry".to_string()),
                Err("InvalidParameter: too big".to_string()),
                Ok(String::new()),
            ]
        );
    }

    /// SNS's PublishBatch limits: 10 entries, 256 KiB in all.
    const SNS_ENTRIES: usize = 10;
    const SNS_BATCH_BYTES: usize = 262_144;
    const NOW: i64 = 1_714_557_600;

    fn alert(n: usize, title: &str) -> Alert {
        let file = RuleFile {
            path: "a.yaml".into(),
            text: format!("id: a\ntitle: '{title}'\nseverity: high\nmatch:\n  eventName: A\n"),
        };
        let set = RuleSet::compile(&[file], &[], &[], 0).0.unwrap();
        let e = Event::from_value(serde_json::json!({"eventName": "A"})).unwrap();
        Alert::new(&set.rules()[0], &e, 1, n as u64)
    }

    /// An alert whose SNS message is exactly `bytes` long (as SNS counts them).
    fn alert_of_size(n: usize, bytes: usize) -> Alert {
        let mut a = alert(n, "sized");
        // A letter costs a few bytes (it is in several forms), a quote a few more (escaped
        // in the JSON forms): with a few quotes every size is within reach. Below a
        // third of `bytes` letters the message is not cut, so its size grows with them.
        for quotes in 0..8 {
            let (mut lo, mut hi) = (0, bytes / 3);
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                a.description = format!("{}{}", "\"".repeat(quotes), "d".repeat(mid));
                if sns_message(&a, NOW).size() <= bytes {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            a.description = format!("{}{}", "\"".repeat(quotes), "d".repeat(lo));
            if sns_message(&a, NOW).size() == bytes {
                return a;
            }
        }
        panic!("no alert of {bytes} bytes");
    }

    async fn deliver_all(
        alerts: &[Alert],
        claims: &MemoryClaims,
        publisher: &MemoryPublisher,
    ) -> Delivery {
        deliver(alerts, claims, publisher, "me", || NOW, 120).await
    }

    fn batch_lens(p: &MemoryPublisher) -> Vec<usize> {
        let mut lens: Vec<usize> = p.batches.lock().unwrap().iter().map(Vec::len).collect();
        lens.sort_unstable();
        lens
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_ten_messages() {
        for (n, want) in [(10, vec![10]), (11, vec![1, 10]), (25, vec![5, 10, 10])] {
            let alerts: Vec<Alert> = (0..n).map(|i| alert(i, "small")).collect();
            let p = MemoryPublisher::default();
            let d = deliver_all(&alerts, &MemoryClaims::default(), &p).await;
            assert_eq!(d.published, n);
            assert_eq!(batch_lens(&p), want, "{n} alerts");
            assert!(want.iter().all(|l| *l <= SNS_ENTRIES));
        }
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_256_kib() {
        let half = SNS_BATCH_BYTES / 2;
        let exact = [alert_of_size(1, half), alert_of_size(2, half)];
        let p = MemoryPublisher::default();
        deliver_all(&exact, &MemoryClaims::default(), &p).await;
        assert_eq!(batch_lens(&p), [2], "256 KiB exactly is one batch");
        let over = [alert_of_size(1, half), alert_of_size(2, half + 1)];
        let p = MemoryPublisher::default();
        let d = deliver_all(&over, &MemoryClaims::default(), &p).await;
        assert_eq!(batch_lens(&p), [1, 1], "one byte more is two batches");
        assert_eq!(d.published, 2);
        // Many large alerts: every batch within the limit, every alert sent once.
        let large: Vec<Alert> = (0..7).map(|i| alert_of_size(i, 100_000)).collect();
        let p = MemoryPublisher::default();
        let d = deliver_all(&large, &MemoryClaims::default(), &p).await;
        assert_eq!((d.published, p.sent().len()), (7, 7));
        for b in p.batches.lock().unwrap().iter() {
            let bytes: usize = b.iter().map(SnsMessage::size).sum();
            assert!(bytes <= SNS_BATCH_BYTES, "{bytes}");
        }
        assert_eq!(batch_lens(&p), [1, 2, 2, 2]);
    }

    #[tokio::test]
    async fn each_message_has_its_own_outcome() {
        let alerts = [alert(1, "fine"), alert(2, "refuse-me"), alert(3, "fine")];
        let claims = MemoryClaims::default();
        let p = MemoryPublisher {
            refuse: Some("refuse-me".into()),
            ..MemoryPublisher::default()
        };
        let d = deliver_all(&alerts, &claims, &p).await;
        assert_eq!(d.published, 2);
        assert_eq!(d.failed.len(), 1);
        assert_eq!(d.failed[0].0, alerts[1].fingerprint);
        assert!(d.failed[0].1.retryable(), "{:?}", d.failed[0].1);
        // The refused alert's claim was released (a retry publishes it); the others are
        // completed (a retry does not page again).
        let again = MemoryPublisher::default();
        let d = deliver(&alerts, &claims, &again, "retry", || NOW + 1, 120).await;
        assert_eq!((d.published, d.deduplicated), (1, 2));
        assert_eq!(
            again.sent()[0].subject,
            sns_message(&alerts[1], NOW).subject
        );
    }

    #[tokio::test]
    async fn a_failed_call_releases_its_claims_for_a_retry() {
        let alerts = [alert(1, "a"), alert(2, "b")];
        let claims = MemoryClaims::default();
        let down = MemoryPublisher {
            down: true,
            ..MemoryPublisher::default()
        };
        let d = deliver_all(&alerts, &claims, &down).await;
        assert_eq!(d.published, 0);
        assert_eq!(d.failed.len(), 2);
        assert!(d.failed.iter().all(|(_, f)| f.retryable()));
        let up = MemoryPublisher::default();
        let d = deliver(&alerts, &claims, &up, "retry", || NOW + 1, 120).await;
        assert_eq!(d.published, 2, "{d:?}");
    }

    #[tokio::test]
    async fn claims_decide_what_is_published() {
        let alerts = [
            alert(1, "done"),
            alert(2, "busy"),
            alert(3, "stale"),
            alert(4, "new"),
        ];
        let claims = MemoryClaims::default();
        let fp = |i: usize| alerts[i].fingerprint.as_str();
        claims.acquire(fp(0), "other", NOW - 10, 120).await.unwrap();
        claims.complete(fp(0), NOW - 5).await.unwrap();
        claims.acquire(fp(1), "other", NOW - 10, 120).await.unwrap();
        claims
            .acquire(fp(2), "other", NOW - 500, 120)
            .await
            .unwrap();
        let p = MemoryPublisher::default();
        // The same alert twice (two crossings in one slot) is one page.
        let twice: Vec<Alert> = alerts.iter().chain(&alerts[3..]).cloned().collect();
        let d = deliver_all(&twice, &claims, &p).await;
        assert_eq!(d.published, 2, "the taken-over and the new one");
        assert_eq!(d.taken_over, 1);
        assert_eq!(d.deduplicated, 2, "the completed one and the repeat");
        assert_eq!(d.failed.len(), 1);
        assert_eq!(d.failed[0].0, fp(1));
        assert!(d.failed[0].1.retryable());
        let mut subjects: Vec<String> = p.sent().into_iter().map(|m| m.subject).collect();
        subjects.sort();
        assert_eq!(subjects, ["[HIGH] new", "[HIGH] stale"]);
    }
}
