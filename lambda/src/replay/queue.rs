//! `--via-lambda`: history larger than a laptop is handed to the deployed function, not
//! read here. Each log file becomes the S3 event notification S3 itself would have sent,
//! on the stack's trail queue, so the function reads it exactly as a live delivery
//! (claims, DynamoDB state, SNS) and there is no second copy of the pipeline. Then the
//! queue is watched until it is drained.

use super::keys::notification_key;
use super::plan::Listed;
use super::progress::{bytes, Progress};
use super::walk::{Lister, Walk};
use super::ReplayError;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::time::{Duration, Instant};

/// An SQS call that failed, with what to fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{queue}: {message}")]
pub struct QueueError {
    pub queue: String,
    pub message: String,
}

/// Messages in a queue (SQS's approximate counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub waiting: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl Depth {
    pub fn total(&self) -> u64 {
        self.waiting + self.in_flight + self.delayed
    }
}

pub trait Queue: Send + Sync {
    /// Sends up to [`BATCH`] messages; per message, `None` or why it was refused.
    fn send(
        &self,
        bodies: &[String],
    ) -> impl Future<Output = Result<Vec<Option<String>>, QueueError>> + Send;
    fn depth(&self) -> impl Future<Output = Result<Depth, QueueError>> + Send;
}

/// SendMessageBatch takes at most 10 messages.
pub const BATCH: usize = 10;
/// Batches under way at once.
pub const SEND_CONCURRENCY: usize = 4;
/// Attempts at a message SQS refused.
pub const SEND_ATTEMPTS: u32 = 3;

pub struct SqsQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

fn sqs_error<E, R>(url: &str, e: aws_sdk_sqs::error::SdkError<E, R>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    let hint = match e.code() {
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist") => {
            " (check --queue-url: the stack's output TrailQueueUrl, in the stack's region)"
        }
        Some("AccessDenied" | "AccessDeniedException") => {
            " (replay needs sqs:SendMessage and sqs:GetQueueAttributes on the queue, and kms:GenerateDataKey if it uses a KMS key)"
        }
        _ => "",
    };
    QueueError {
        queue: url.into(),
        message: format!("{}{hint}", aws_sdk_sqs::error::DisplayErrorContext(&e)),
    }
}

impl Queue for SqsQueue {
    async fn send(&self, bodies: &[String]) -> Result<Vec<Option<String>>, QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b)
                    .build()
                    .map_err(|e| QueueError {
                        queue: self.url.clone(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sqs_error(&self.url, e))?;
        let mut results = vec![Some("SQS did not report this message".to_string()); bodies.len()];
        for ok in out.successful() {
            if let Some(r) = ok
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                *r = None;
            }
        }
        for f in out.failed() {
            if let Some(r) = f
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                *r = Some(format!("{}: {}", f.code(), f.message().unwrap_or("")));
            }
        }
        Ok(results)
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| sqs_error(&self.url, e))?;
        let attrs = out.attributes();
        let n = |a: A| {
            attrs
                .and_then(|m| m.get(&a))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(Depth {
            waiting: n(A::ApproximateNumberOfMessages),
            in_flight: n(A::ApproximateNumberOfMessagesNotVisible),
            delayed: n(A::ApproximateNumberOfMessagesDelayed),
        })
    }
}

/// The S3 event notification for one object, as S3 sends it (key URL-encoded).
pub fn notification(l: &Listed) -> String {
    serde_json::json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "trailwatch-replay"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": &*l.bucket, "arn": format!("arn:aws:s3:::{}", l.bucket)},
            "object": {"key": notification_key(&l.key), "size": l.size},
        },
    }]})
    .to_string()
}

/// What enqueueing did.
#[derive(Debug, Default, Clone)]
pub struct Enqueued {
    pub messages: u64,
    /// The objects' size (as stored).
    pub bytes: u64,
    /// Messages SQS would not take after [`SEND_ATTEMPTS`]: `(key, why)`.
    pub failed: Vec<(String, String)>,
    pub elapsed: Duration,
}

/// Sends one batch, again for the messages SQS refused (throttling, a lost answer).
async fn send_batch<Q: Queue>(queue: &Q, batch: Vec<Listed>) -> (u64, u64, Vec<(String, String)>) {
    let mut pending: Vec<(Listed, String)> = batch
        .into_iter()
        .map(|l| {
            let body = notification(&l);
            (l, body)
        })
        .collect();
    let (mut sent, mut size) = (0, 0);
    for attempt in 0..SEND_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        let bodies: Vec<String> = pending.iter().map(|(_, b)| b.clone()).collect();
        let results = match queue.send(&bodies).await {
            Ok(r) => r,
            Err(e) => vec![Some(e.to_string()); bodies.len()],
        };
        let mut again = Vec::new();
        for ((l, body), r) in pending.into_iter().zip(results) {
            match r {
                None => {
                    sent += 1;
                    size += l.size;
                }
                Some(why) => again.push((l, body, why)),
            }
        }
        if again.is_empty() {
            break;
        }
        if attempt + 1 == SEND_ATTEMPTS {
            let failed = again.into_iter().map(|(l, _, why)| (l.key, why)).collect();
            return (sent, size, failed);
        }
        pending = again.into_iter().map(|(l, b, _)| (l, b)).collect();
    }
    (sent, size, Vec::new())
}

/// Sends a notification for every file the walk lists, in its order, [`BATCH`] per call.
pub async fn enqueue<L: Lister, Q: Queue>(
    walk: &mut Walk<L>,
    queue: &Q,
    progress: &Progress,
    verbose: bool,
) -> Result<Enqueued, ReplayError> {
    let started = Instant::now();
    let mut e = Enqueued::default();
    let mut inflight = FuturesUnordered::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut done = false;
    while !done {
        match walk.next().await? {
            Some(l) => {
                if verbose {
                    progress.println(&format!("enqueueing s3://{}/{}", l.bucket, l.key));
                }
                batch.push(l);
            }
            None => done = true,
        }
        if batch.len() == BATCH || (done && !batch.is_empty()) {
            inflight.push(send_batch(queue, std::mem::take(&mut batch)));
        }
        while inflight.len() >= SEND_CONCURRENCY || (done && !inflight.is_empty()) {
            let Some((sent, size, failed)) = inflight.next().await else {
                break;
            };
            e.messages += sent;
            e.bytes += size;
            e.failed.extend(failed);
            progress.set(
                0,
                format!("{} file(s) enqueued ({})", e.messages, bytes(e.bytes)),
            );
        }
    }
    e.elapsed = started.elapsed();
    Ok(e)
}

/// When the queue is drained: SQS's counts are approximate and lag, so only two empty
/// readings in a row count.
#[derive(Debug, Default)]
pub struct Drain {
    empty: u32,
}

impl Drain {
    pub const EMPTY_READINGS: u32 = 2;

    pub fn observe(&mut self, d: &Depth) -> bool {
        if d.total() == 0 {
            self.empty += 1;
        } else {
            self.empty = 0;
        }
        self.empty >= Self::EMPTY_READINGS
    }
}

/// What following the queue saw.
#[derive(Debug, Default, Clone)]
pub struct Followed {
    /// Messages the dead-letter queue gained while following.
    pub dead_letters: u64,
    pub elapsed: Duration,
}

/// Polls the queue (and the dead-letter queue, against its depth `dlq_before`) every
/// `poll` until it is drained.
pub async fn follow<Q: Queue>(
    queue: &Q,
    dlq: Option<(&Q, u64)>,
    poll: Duration,
    total: u64,
    progress: &Progress,
) -> Result<Followed, QueueError> {
    let started = Instant::now();
    let mut drain = Drain::default();
    let mut f = Followed::default();
    progress.set_length(total);
    loop {
        let d = queue.depth().await?;
        if let Some((q, before)) = dlq {
            f.dead_letters = q.depth().await?.total().saturating_sub(before);
        }
        let line = format!(
            "queue: {} waiting, {} in flight, {} delayed; dead-letter queue: +{}",
            d.waiting, d.in_flight, d.delayed, f.dead_letters
        );
        progress.set(total.saturating_sub(d.total()), line.clone());
        if progress.is_hidden() {
            progress.println(&format!("trailwatch replay: {line}"));
        }
        if drain.observe(&d) {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    progress.finish();
    f.elapsed = started.elapsed();
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A queue that refuses the first attempt at every message whose key has "flaky".
    #[derive(Default)]
    struct Mem {
        got: Mutex<Vec<String>>,
        refused: Mutex<std::collections::HashSet<String>>,
        calls: Mutex<Vec<usize>>,
    }

    impl Queue for Mem {
        async fn send(&self, bodies: &[String]) -> Result<Vec<Option<String>>, QueueError> {
            self.calls.lock().unwrap().push(bodies.len());
            let mut out = Vec::new();
            for b in bodies {
                if b.contains("flaky") && self.refused.lock().unwrap().insert(b.clone()) {
                    out.push(Some("ThrottlingException".into()));
                } else if b.contains("never") {
                    out.push(Some("InvalidMessageContents".into()));
                } else {
                    self.got.lock().unwrap().push(b.clone());
                    out.push(None);
                }
            }
            Ok(out)
        }
        async fn depth(&self) -> Result<Depth, QueueError> {
            Ok(Depth::default())
        }
    }

    fn listed(key: &str) -> Listed {
        Listed {
            bucket: "b".into(),
            key: key.into(),
            size: 5,
            time: 0,
        }
    }

    #[tokio::test]
    async fn refused_messages_are_sent_again_and_failures_named() {
        let q = Mem::default();
        let (sent, size, failed) =
            send_batch(&q, vec![listed("a"), listed("flaky b"), listed("c")]).await;
        assert_eq!((sent, size), (3, 15));
        assert!(failed.is_empty());
        assert_eq!(
            *q.calls.lock().unwrap(),
            [3, 1],
            "only the refused one again"
        );
        let (sent, _, failed) = send_batch(&q, vec![listed("never"), listed("d")]).await;
        assert_eq!(sent, 1);
        assert_eq!(
            failed,
            [("never".to_string(), "InvalidMessageContents".to_string())]
        );
    }

    #[test]
    fn notifications_are_what_the_function_reads() {
        let body = notification(&listed("AWSLogs/1/CloudTrail/eu-west-1/2024/05/01/1_CloudTrail_eu-west-1_20240501T1000Z_a b+c.json.gz"));
        match trailwatch::trigger::parse(body.as_bytes()).unwrap() {
            trailwatch::trigger::Payload::Direct(w) => assert_eq!(
                w,
                [trailwatch::trigger::Work::Object(trailwatch::trigger::Object {
                    bucket: "b".into(),
                    key: "AWSLogs/1/CloudTrail/eu-west-1/2024/05/01/1_CloudTrail_eu-west-1_20240501T1000Z_a b+c.json.gz".into()
                })]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drained_after_two_empty_readings_in_a_row() {
        let mut d = Drain::default();
        let empty = Depth::default();
        let busy = Depth {
            in_flight: 3,
            ..Depth::default()
        };
        assert!(!d.observe(&empty));
        assert!(!d.observe(&busy), "a message in flight resets the count");
        assert!(!d.observe(&empty));
        assert!(d.observe(&empty));
    }
}
