//! The invocation: payload → work → the shared pipeline → claimed SNS delivery.

use crate::claims::Claims;
use crate::config::Config;
use crate::dynamo::DynamoState;
use crate::lists::Catalogue;
use crate::publish::{deliver, Publisher};
use crate::{metrics, now, Failure};
use serde_json::{json, Value};
use std::io::{self, BufReader, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;
use tracing::{error, info, warn};
use trailwatch::alert::Alert;
use trailwatch::pipeline::{Pipeline, Report};
use trailwatch::rules::RuleSet;
use trailwatch::sink::Memory as Alerts;
use trailwatch::source::{self, DecodeError};
use trailwatch::state::memory::Memory;
use trailwatch::state::{fnv, State};
use trailwatch::trigger::{self, Object, Payload, Work};

/// Everything built once per cold start.
pub struct App<C: Claims, P: Publisher> {
    pub rules: Catalogue,
    pub config: Config,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub claims: C,
    pub publisher: P,
    pub function: String,
}

/// SQS messages of one batch processed at once.
const CONCURRENT_MESSAGES: usize = 4;

/// Stop reading this long before the invocation's deadline, so the error is ours.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// What one unit of input did.
#[derive(Debug, Default)]
pub struct Summary {
    pub report: Report,
    pub published: usize,
    pub claimed_elsewhere: usize,
    pub skipped: usize,
    pub bad_inputs: usize,
    /// Alerts whose claim was taken over after another owner's lease ran out.
    pub taken_over: usize,
    /// The first input that could not be read for a reason a retry may cure; the other
    /// inputs were still read and their alerts delivered.
    pub unread: Option<Failure>,
}

/// Handles one invocation. `Err` makes Lambda retry (then the on-failure destination).
/// The invocation's alert claims are owned by `request_id` and a nonce (one owner per
/// attempt: a duplicate or a retry of this event is another owner).
pub async fn handle<C: Claims + 'static, P: Publisher + 'static>(
    app: Arc<App<C, P>>,
    payload: Value,
    request_id: &str,
    deadline_ms: u64,
) -> Result<Value, Failure> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let owner = format!("{request_id}/{nanos:x}");
    let bytes = serde_json::to_vec(&payload).map_err(|e| Failure::Permanent(e.to_string()))?;
    match trigger::parse(&bytes) {
        Err(why) => {
            error!(reason = %why, "unknown payload: dropped, not retried");
            metrics::emit(&app.function, &[("BadPayloads", 1.0, "Count")]);
            Ok(json!({"ignored": why}))
        }
        Ok(Payload::Schedule { time }) => {
            let s = follow_ups(app.clone(), &owner, deadline_ms, time).await?;
            Ok(json!({"follow_ups": s.report.follow_ups, "alerts_published": s.published}))
        }
        Ok(Payload::Direct(works)) => {
            let s = run(app.clone(), works, &owner, deadline_ms).await?;
            Ok(
                json!({"events": s.report.events, "duplicates": s.report.duplicates, "alerts_published": s.published, "skipped": s.skipped, "bad_inputs": s.bad_inputs}),
            )
        }
        Ok(Payload::Sqs(messages)) => {
            use futures_util::stream::{self, StreamExt};
            // Messages run side by side (each its own pipeline and claims), so ten slow
            // files do not share one deadline one after another.
            let results: Vec<(String, Result<(), Failure>)> = stream::iter(messages)
                .map(|(id, works)| {
                    let app = app.clone();
                    let claimer = format!("{owner}/{id}");
                    async move {
                        let result = match works {
                            Ok(w) => run(app, w, &claimer, deadline_ms).await.map(|_| ()),
                            Err(why) => Err(Failure::Permanent(why)),
                        };
                        (id, result)
                    }
                })
                .buffer_unordered(CONCURRENT_MESSAGES)
                .collect()
                .await;
            let mut failures = Vec::new();
            for (id, result) in results {
                match result {
                    Ok(()) => {}
                    Err(Failure::Permanent(why)) => {
                        error!(message_id = %id, reason = %why, "bad SQS message: dropped, not retried");
                        metrics::emit(&app.function, &[("BadPayloads", 1.0, "Count")]);
                    }
                    Err(f) => {
                        warn!(message_id = %id, error = %f, "SQS message failed; it will be retried");
                        failures.push(json!({"itemIdentifier": id}));
                    }
                }
            }
            metrics::emit(
                &app.function,
                &[("FailedBatchItems", failures.len() as f64, "Count")],
            );
            Ok(json!({"batchItemFailures": failures}))
        }
    }
}

/// Reads every unit of work through one pipeline and delivers each one's alerts as soon as
/// it is read.
pub async fn run<C: Claims + 'static, P: Publisher + 'static>(
    app: Arc<App<C, P>>,
    works: Vec<Work>,
    owner: &str,
    deadline_ms: u64,
) -> Result<Summary, Failure> {
    let handle = Handle::current();
    let worker = app.clone();
    let claimer = owner.to_string();
    let rules = app.rules.rules(&app.s3, now()).await;
    // Reading stops DEADLINE_MARGIN before the deadline; state and delivery may use all
    // but the last second of what is left.
    let stop_ms = deadline_ms.saturating_sub(1000);
    let mut summary = tokio::task::spawn_blocking(move || match &worker.config.state_table {
        Some(table) => {
            let state = DynamoState::new(
                worker.dynamodb.clone(),
                table,
                handle.clone(),
                worker.config.horizon,
            )
            .with_deadline(stop_ms)
            .with_rollup_delay(worker.config.follow_up_delay);
            process(
                &worker,
                &rules,
                &handle,
                state,
                &works,
                &claimer,
                deadline_ms,
            )
        }
        None => process(
            &worker,
            &rules,
            &handle,
            Memory::new(worker.config.horizon),
            &works,
            &claimer,
            deadline_ms,
        ),
    })
    .await
    .map_err(|e| Failure::Retryable(format!("worker thread: {e}")))?;
    let t = now();
    let r = &summary.report;
    let lag = r.newest_event.map_or(0.0, |n| (t - n).max(0) as f64);
    metrics::emit(
        &app.function,
        &[
            ("EventsEvaluated", r.events as f64, "Count"),
            ("Alerts", summary.published as f64, "Count"),
            (
                "Duplicates",
                (r.duplicates + summary.claimed_elsewhere as u64) as f64,
                "Count",
            ),
            ("Suppressed", r.suppressed as f64, "Count"),
            ("MalformedRecords", r.malformed as f64, "Count"),
            ("SkippedFiles", summary.skipped as f64, "Count"),
            ("BadInputs", summary.bad_inputs as f64, "Count"),
            ("DeliveryLag", lag, "Seconds"),
            ("ClaimsTakenOver", summary.taken_over as f64, "Count"),
        ],
    );
    info!(
        events = r.events,
        duplicates = r.duplicates,
        malformed = r.malformed,
        suppressed = r.suppressed,
        alerts = summary.published,
        claimed_elsewhere = summary.claimed_elsewhere,
        "invocation done"
    );
    if let Some(f) = summary.unread.take() {
        return Err(f);
    }
    Ok(summary)
}

/// Fails reads once the deadline is near, so a slow file ends in a retryable error.
struct Deadline<R> {
    inner: R,
    deadline_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if now_ms() + DEADLINE_MARGIN.as_millis() as u64 >= self.deadline_ms {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "invocation deadline reached mid-file",
            ));
        }
        self.inner.read(buf)
    }
}

/// Reads each unit of work, resolves its hits as one batch, delivers its alerts (claimed
/// as `claimer`) and only then records its sightings. A unit that fails leaves the others
/// to finish; the first failure is kept in `Summary::unread`.
#[allow(clippy::too_many_arguments)]
fn process<C: Claims, P: Publisher, S: State>(
    app: &App<C, P>,
    rules: &RuleSet,
    handle: &Handle,
    state: S,
    works: &[Work],
    claimer: &str,
    deadline_ms: u64,
) -> Summary {
    let mut pipeline = Pipeline::new(rules, state, app.config.horizon);
    let mut sink = Alerts::default();
    let mut summary = Summary::default();
    for work in works {
        let (owner, result) = match work {
            Work::Nothing(why) => {
                info!(reason = why, "nothing to read");
                summary.skipped += 1;
                continue;
            }
            Work::Object(o) => {
                if let Some(why) = o.skip_reason() {
                    info!(bucket = %o.bucket, key = %o.key, reason = why, "skipped");
                    summary.skipped += 1;
                    continue;
                }
                let owner = format!("s3://{}/{}", o.bucket, o.key);
                pipeline.set_owner(&owner);
                let result = match open(app, handle, o) {
                    Ok(Some(body)) => {
                        let reader = BufReader::with_capacity(
                            256 * 1024,
                            Deadline {
                                inner: body,
                                deadline_ms,
                            },
                        );
                        decode(app, &mut pipeline, &mut sink, reader)
                    }
                    Ok(None) => {
                        warn!(bucket = %o.bucket, key = %o.key, "object no longer exists: skipped");
                        summary.skipped += 1;
                        continue;
                    }
                    Err(f) => Err(f),
                };
                (owner, result)
            }
            Work::Inline(bytes) => {
                let owner = format!("inline#{:016x}", fnv(&[bytes]));
                pipeline.set_owner(&owner);
                (owner, decode(app, &mut pipeline, &mut sink, &bytes[..]))
            }
        };
        // The input's hits as one batch (what was read of it, even if reading failed),
        // then its alerts out at once.
        let flushed = pipeline
            .flush(&mut sink)
            .map_err(|e| Failure::Retryable(e.to_string()));
        let result = result.and(flushed);
        let alerts = std::mem::take(&mut sink.alerts);
        let delivered = deliver_now(app, handle, &alerts, claimer, deadline_ms, &mut summary);
        let result = match (result, delivered) {
            (Ok(()), Ok(())) => pipeline
                .state_mut()
                .delivered(&owner)
                .map_err(|e| Failure::Retryable(e.to_string())),
            (Err(f), _) | (Ok(()), Err(f)) => Err(f),
        };
        match result {
            Ok(()) => {}
            Err(Failure::Permanent(why)) => {
                error!(input = %owner, reason = %why, "input not read: reported, not retried");
                summary.bad_inputs += 1;
            }
            // Each input stands on its own: the others are read and their alerts delivered,
            // then the invocation fails so this one is retried.
            Err(f) => {
                warn!(input = %owner, error = %f, "input not read; it will be retried");
                summary.unread.get_or_insert(f);
            }
        }
    }
    // Without a state table nothing outlives the invocation: its roll-ups' follow-ups go
    // out now. With one, the schedule sends them when they are due.
    if app.config.state_table.is_none() && summary.unread.is_none() {
        let sent = pipeline
            .send_follow_ups(i64::MAX, &mut sink)
            .map_err(|e| Failure::Retryable(e.to_string()));
        let alerts = std::mem::take(&mut sink.alerts);
        let delivered = deliver_now(app, handle, &alerts, claimer, deadline_ms, &mut summary);
        if let Err(f) = sent.and(delivered) {
            summary.unread.get_or_insert(f);
        }
    }
    summary.report = pipeline.report.clone();
    summary
}

/// The schedule: sends the follow-ups due by the schedule's `time` (else now), then
/// forgets their roll-ups.
pub async fn follow_ups<C: Claims + 'static, P: Publisher + 'static>(
    app: Arc<App<C, P>>,
    owner: &str,
    deadline_ms: u64,
    time: Option<i64>,
) -> Result<Summary, Failure> {
    let Some(table) = app.config.state_table.clone() else {
        info!("no state table: follow-ups go out with their invocation, nothing is due");
        return Ok(Summary::default());
    };
    let handle = Handle::current();
    let rules = app.rules.rules(&app.s3, now()).await;
    let worker = app.clone();
    let claimer = owner.to_string();
    let summary = tokio::task::spawn_blocking(move || {
        let state = DynamoState::new(
            worker.dynamodb.clone(),
            &table,
            handle.clone(),
            worker.config.horizon,
        )
        .with_deadline(deadline_ms.saturating_sub(1000))
        .with_rollup_delay(worker.config.follow_up_delay)
        .with_schedule_time(time);
        let mut pipeline = Pipeline::new(&rules, state, worker.config.horizon);
        let mut sink = Alerts::default();
        let mut summary = Summary::default();
        pipeline
            .send_follow_ups(i64::MAX, &mut sink)
            .map_err(|e| Failure::Retryable(e.to_string()))?;
        deliver_now(
            &worker,
            &handle,
            &sink.alerts,
            &claimer,
            deadline_ms,
            &mut summary,
        )?;
        pipeline
            .state_mut()
            .delivered("follow-ups")
            .map_err(|e| Failure::Retryable(e.to_string()))?;
        summary.report = pipeline.report.clone();
        Ok::<_, Failure>(summary)
    })
    .await
    .map_err(|e| Failure::Retryable(format!("worker thread: {e}")))??;
    metrics::emit(
        &app.function,
        &[("FollowUps", summary.published as f64, "Count")],
    );
    info!(
        follow_ups = summary.report.follow_ups,
        published = summary.published,
        "follow-ups sent"
    );
    Ok(summary)
}

/// Delivers `alerts` before the deadline; an alert that could not go out fails the unit
/// (the input is kept for a retry, then the dead-letter queue: never dropped).
fn deliver_now<C: Claims, P: Publisher>(
    app: &App<C, P>,
    handle: &Handle,
    alerts: &[Alert],
    claimer: &str,
    deadline_ms: u64,
    summary: &mut Summary,
) -> Result<(), Failure> {
    if alerts.is_empty() {
        return Ok(());
    }
    let left = deadline_ms.saturating_sub(now_ms() + 1000);
    let delivery = handle
        .block_on(async {
            tokio::time::timeout(
                Duration::from_millis(left),
                deliver(
                    alerts,
                    &app.claims,
                    &app.publisher,
                    claimer,
                    now,
                    app.config.claim_lease,
                ),
            )
            .await
        })
        .map_err(|_| {
            Failure::Retryable("invocation deadline reached while delivering alerts".into())
        })?;
    summary.published += delivery.published;
    summary.claimed_elsewhere += delivery.deduplicated;
    summary.taken_over += delivery.taken_over;
    match delivery.failed.into_iter().next() {
        None => Ok(()),
        Some((fp, f)) => {
            error!(fingerprint = %fp, error = %f, "alert not delivered");
            // Whatever SNS or DynamoDB said (even a policy mistake), the input is kept.
            let (Failure::Permanent(m) | Failure::Retryable(m)) = f;
            Err(Failure::Retryable(format!("alert not delivered: {m}")))
        }
    }
}

/// The object's body as a blocking reader; `None` if it was deleted.
fn open<C: Claims, P: Publisher>(
    app: &App<C, P>,
    handle: &Handle,
    o: &Object,
) -> Result<Option<Box<dyn Read + Send>>, Failure> {
    let got = handle.block_on(app.s3.get_object().bucket(&o.bucket).key(&o.key).send());
    match got {
        Ok(out) => {
            let reader = out.body.into_async_read();
            Ok(Some(Box::new(SyncIoBridge::new_with_handle(
                reader,
                handle.clone(),
            ))))
        }
        Err(e) => {
            let se = e.into_service_error();
            if se.is_no_such_key() {
                return Ok(None);
            }
            let msg = format!(
                "reading s3://{}/{}: {}",
                o.bucket,
                o.key,
                aws_sdk_s3::error::DisplayErrorContext(&se)
            );
            use aws_sdk_s3::error::ProvideErrorMetadata;
            // Only an object that can never be read as it is (archived) is permanent.
            // AccessDenied (a missing KMS grant, a bucket policy) and NoSuchBucket (another
            // region, a typo in the wiring) are configuration errors: retried and alarmed,
            // never dropped as bad input.
            Err(match se.code() {
                Some("InvalidObjectState") => Failure::Permanent(msg),
                _ => Failure::Retryable(msg),
            })
        }
    }
}

fn decode<C: Claims, P: Publisher, S: State>(
    app: &App<C, P>,
    pipeline: &mut Pipeline<'_, S>,
    sink: &mut Alerts,
    input: impl io::BufRead,
) -> Result<(), Failure> {
    let mut stopped = None;
    let mut malformed = 0u32;
    // The gate of the rules in use: lists (and so the index's values) change at run time.
    let limits = source::Limits {
        gate: pipeline.rules().gate(),
        ..app.config.limits.clone()
    };
    let result = source::decode(input, &limits, &mut |item| {
        if stopped.is_some() {
            return;
        }
        let r = pipeline.push(item, sink, &mut |at, why| {
            malformed += 1;
            if malformed <= 20 {
                warn!(at = %at, reason = %why, "malformed record");
            }
        });
        if let Err(e) = r {
            stopped = Some(e);
        }
    });
    if let Some(e) = stopped {
        // State failures (even a missing table or a denied call) keep the input for a retry
        // and then the dead-letter queue; only the input itself can be "permanent".
        return Err(Failure::Retryable(e.to_string()));
    }
    match result {
        Ok(_) => Ok(()),
        Err(DecodeError::Io(e)) => Err(Failure::Retryable(format!("reading input: {e}"))),
        Err(e) => Err(Failure::Permanent(e.to_string())),
    }
}
