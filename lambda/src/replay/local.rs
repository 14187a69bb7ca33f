//! Replay on this machine: the walk's files, in name-time order, through one pipeline.
//!
//! Listing and GetObject run ahead on the async runtime ([`PREFETCH`] objects, their
//! bodies not yet read: bounded by the HTTP buffers) while this thread decodes the current
//! body as it streams in, so S3's latency overlaps the pipeline's CPU time. Each object is
//! one input as in `scan`: its hits are resolved as one batch and its alerts written (and
//! published) before the next one is opened.

use super::plan::{Listed, Skipped};
use super::progress::{bytes, Progress};
use super::walk::{s3_hint, ListError, Lister, Walk};
use super::{Publish, ReplayError, Summary};
use crate::publish::{deliver, Publisher};
use aws_sdk_s3::primitives::ByteStream;
use futures_util::stream::{self, StreamExt};
use std::io::{self, BufReader, Read, Write};
use std::time::Instant;
use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;
use trailwatch::event::format_time;
use trailwatch::pipeline::Pipeline;
use trailwatch::rules::RuleSet;
use trailwatch::sink::{self, Memory as Alerts, Sink, Writer};
use trailwatch::source::{self, DecodeError, Item, Limits};
use trailwatch::state::memory::Memory;

/// Objects requested ahead of the one being read.
pub const PREFETCH: usize = 8;

/// How to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// Event times evaluated.
    pub range: super::Range,
    pub limits: Limits,
    pub horizon: i64,
    pub format: sink::Format,
    /// Each day folder listed and each object read, on stderr.
    pub verbose: bool,
    /// Keep the first alerts in the summary (for `--report`).
    pub keep_alerts: bool,
}

enum Fetched {
    Object(Listed, Result<ByteStream, String>),
    End {
        skipped: Skipped,
        listings: u64,
        late: u64,
    },
    Failed(ListError),
}

enum Step {
    Key(Listed),
    End(Skipped, u64, u64),
    Failed(ListError),
}

/// Starts listing and fetching on `handle`; the objects arrive in order on the receiver.
fn fetch<L: Lister>(
    handle: &Handle,
    s3: aws_sdk_s3::Client,
    walk: Walk<L>,
) -> tokio::sync::mpsc::Receiver<Fetched> {
    let (tx, rx) = tokio::sync::mpsc::channel(PREFETCH);
    handle.spawn(async move {
        let steps = stream::unfold(Some(walk), |w| async move {
            let mut w = w?;
            Some(match w.next().await {
                Ok(Some(l)) => (Step::Key(l), Some(w)),
                Ok(None) => (Step::End(w.skipped.clone(), w.listings, w.late()), None),
                Err(e) => (Step::Failed(e), None),
            })
        });
        let fetched = steps
            .map(|step| {
                let s3 = s3.clone();
                async move {
                    match step {
                        Step::Key(l) => {
                            let got = s3.get_object().bucket(&*l.bucket).key(&l.key).send().await;
                            Fetched::Object(l, got.map(|o| o.body).map_err(s3_hint))
                        }
                        Step::End(skipped, listings, late) => Fetched::End {
                            skipped,
                            listings,
                            late,
                        },
                        Step::Failed(e) => Fetched::Failed(e),
                    }
                }
            })
            .buffered(PREFETCH);
        futures_util::pin_mut!(fetched);
        while let Some(f) = fetched.next().await {
            if tx.send(f).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Counts the bytes read from S3.
struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// Replays what `walk` lists. Call from outside the runtime (this thread blocks on it).
/// Alerts go to `out` as `scan` writes them, and to SNS with `publish`.
#[allow(clippy::too_many_arguments)]
pub fn run<L: Lister, P: Publisher>(
    handle: &Handle,
    s3: aws_sdk_s3::Client,
    walk: Walk<L>,
    rules: &RuleSet,
    opts: &Options,
    publish: Option<&Publish<P>>,
    out: &mut dyn Write,
    progress: &Progress,
) -> Result<Summary, ReplayError> {
    let started = Instant::now();
    let mut rx = fetch(handle, s3, walk);
    let mut pipeline = Pipeline::new(rules, Memory::new(opts.horizon), opts.horizon);
    let mut collected = Alerts::default();
    let mut writer = Writer::new(out, opts.format);
    let mut s = Summary::default();
    let mut axis_start = None;
    let range = opts.range;
    loop {
        let listed = match rx.blocking_recv() {
            Some(Fetched::Object(l, body)) => (l, body),
            Some(Fetched::End {
                skipped,
                listings,
                late,
            }) => {
                s.skipped = skipped;
                s.listings = listings;
                s.late = late;
                break;
            }
            Some(Fetched::Failed(e)) => return Err(e.into()),
            None => return Err(ReplayError::Stopped),
        };
        let (l, body) = listed;
        let owner = format!("s3://{}/{}", l.bucket, l.key);
        if opts.verbose {
            progress.println(&format!("reading {owner}"));
        }
        let start = *axis_start.get_or_insert_with(|| {
            let start = range.since.unwrap_or(l.time);
            progress.set_length(u64::try_from(range.until - start).unwrap_or(1));
            start
        });
        let body = match body {
            Ok(b) => b,
            Err(why) => {
                s.unreadable += 1;
                progress.println(&format!("{owner}: error: {why}"));
                continue;
            }
        };
        pipeline.set_owner(&owner);
        let mut reader = BufReader::with_capacity(
            256 * 1024,
            Counting {
                inner: SyncIoBridge::new_with_handle(body.into_async_read(), handle.clone()),
                n: 0,
            },
        );
        let file_in_range = range.contains(l.time);
        let (mut stopped, mut bad, mut outside) = (None, 0u64, 0u64);
        let result = source::decode(&mut reader, &opts.limits, &mut |item| {
            if stopped.is_some() {
                return;
            }
            let time = match &item {
                Item::Record(e) => Some(e.time),
                Item::Unwanted(brief) => Some(brief.time),
                Item::Malformed { .. } => None,
            };
            // An event without a usable time goes with its file's name.
            if time.is_some_and(|t| !t.map_or(file_in_range, |t| range.contains(t))) {
                outside += 1;
                return;
            }
            let r = pipeline.push(item, &mut collected, &mut |at, why| {
                bad += 1;
                if bad <= 20 {
                    progress.println(&format!("{owner}: malformed record at {at}: {why}"));
                }
            });
            if let Err(e) = r {
                stopped = Some(e);
            }
        });
        s.bytes += reader.get_ref().n;
        s.outside += outside;
        if stopped.is_none() {
            // One object is one batch of hits, as one file in `scan`.
            stopped = pipeline.flush(&mut collected).err();
        }
        if let Some(e) = stopped {
            return Err(e.into());
        }
        if bad > 20 {
            progress.println(&format!("{owner}: … {} more malformed records", bad - 20));
        }
        let alerts = std::mem::take(&mut collected.alerts);
        emit(
            &alerts,
            &mut writer,
            publish,
            handle,
            &mut s,
            progress,
            &owner,
        )?;
        if opts.keep_alerts {
            s.alerts.extend(alerts);
        }
        match result {
            Ok(_) => s.objects += 1,
            Err(DecodeError::NotCloudTrail(_) | DecodeError::Empty) => {
                s.not_cloudtrail += 1;
                progress.println(&format!("{owner}: skipped: not CloudTrail input"));
            }
            Err(e) => {
                s.unreadable += 1;
                let hint = match &e {
                    DecodeError::Broken { reason, .. }
                        if reason.starts_with("decompressed size") =>
                    {
                        " (raise --max-decompressed if this file is genuine)"
                    }
                    _ => "",
                };
                progress.println(&format!("{owner}: error: {e}{hint}"));
            }
        }
        let r = &pipeline.report;
        progress.set(
            u64::try_from(l.time - start).unwrap_or(0),
            format!(
                "{} objects, {}, {} events, {} alerts; at {}",
                s.objects + s.unreadable + s.not_cloudtrail,
                bytes(s.bytes),
                r.events,
                r.alerts,
                &format_time(l.time)[..16]
            ),
        );
    }
    // All the history asked for has been read: every roll-up's follow-up goes out.
    pipeline.send_follow_ups(i64::MAX, &mut collected)?;
    let alerts = std::mem::take(&mut collected.alerts);
    emit(
        &alerts,
        &mut writer,
        publish,
        handle,
        &mut s,
        progress,
        "follow-ups",
    )?;
    progress.finish();
    s.report = pipeline.report.clone();
    s.elapsed = started.elapsed();
    Ok(s)
}

/// Prints `alerts` as `scan` does and, with `publish`, sends them to SNS.
fn emit<P: Publisher>(
    alerts: &[trailwatch::alert::Alert],
    writer: &mut Writer<&mut dyn Write>,
    publish: Option<&Publish<P>>,
    handle: &Handle,
    s: &mut Summary,
    progress: &Progress,
    owner: &str,
) -> Result<(), ReplayError> {
    for a in alerts {
        writer.publish(a)?;
    }
    if let (Some(p), false) = (publish, alerts.is_empty()) {
        let d = handle.block_on(deliver(
            alerts,
            &p.claims,
            &p.publisher,
            "trailwatch-replay",
            crate::now,
            120,
        ));
        s.published += d.published as u64;
        s.unpublished += d.failed.len() as u64;
        for (fp, why) in d.failed {
            progress.println(&format!("{owner}: alert {fp} not published: {why}"));
        }
    }
    Ok(())
}
