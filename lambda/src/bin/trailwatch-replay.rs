//! `trailwatch-replay`, also run as `trailwatch replay` (and `trailwatch scan s3://…`):
//! evaluates a trail's history from its S3 bucket through one pipeline, or enqueues it for
//! the deployed function (`--via-lambda`). Wiring only; the logic is `trailwatch_lambda::replay`.

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use trailwatch::pipeline::DEFAULT_HORIZON;
use trailwatch::rules::{self, RuleSet};
use trailwatch::sink;
use trailwatch::source::Limits;
use trailwatch_lambda::claims::MemoryClaims;
use trailwatch_lambda::publish::SnsPublisher;
use trailwatch_lambda::replay::keys::{is_account, parse_since, parse_until, ArgError};
use trailwatch_lambda::replay::local::{self, Options};
use trailwatch_lambda::replay::progress::{bytes, Progress};
use trailwatch_lambda::replay::queue::{enqueue, follow, Queue, SqsQueue};
use trailwatch_lambda::replay::walk::discover;
use trailwatch_lambda::replay::{Filter, Publish, Range, S3Lister, S3Uri, Skipped, Walk};
use trailwatch_lambda::{aws, now};

/// Replays CloudTrail history from S3: every log file in the time range, in the order of
/// the times in their names across accounts, regions and trails, through one pipeline
/// (thresholds, alert keys and duplicates as in `trailwatch scan`). Credentials and region
/// come from the standard AWS chain (AWS_PROFILE, AWS_REGION, …; AWS_ENDPOINT_URL too).
/// Exit: 0 no alerts, 1 alerts, 2 errors.
#[derive(Parser)]
#[command(name = "trailwatch-replay", version)]
struct Args {
    /// s3://BUCKET[/PREFIX]: the trail's bucket, its prefix, or a folder inside
    /// AWSLogs/ (an organization, an account, a region). Several are read as one.
    #[arg(required = true, value_name = "S3_URI")]
    uris: Vec<String>,
    /// First event time evaluated: RFC 3339 (2024-05-01T10:00:00Z) or a date (its
    /// midnight, UTC). Default: the oldest file.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// End of the range (exclusive): RFC 3339, or a date, which includes that day.
    /// Default: now.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only this account (repeatable, or comma-separated).
    #[arg(long = "account", value_name = "ID", value_delimiter = ',')]
    accounts: Vec<String>,
    /// Only this region (repeatable, or comma-separated).
    #[arg(long = "region", value_name = "REGION", value_delimiter = ',')]
    regions: Vec<String>,
    /// Rules directory; repeatable; replaces the bundled rules (@bundled keeps them).
    #[arg(long = "rules", value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Replace a named list, e.g. --list trusted_accounts=111122223333,444455556666.
    #[arg(long = "list", value_name = "NAME=A,B")]
    lists: Vec<String>,
    /// Alert output on stdout: JSON lines, or text for people.
    #[arg(long, value_enum, default_value_t = OutFormat::Json)]
    format: OutFormat,
    /// Largest record accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_record)]
    max_record: usize,
    /// Most bytes a gzip object may inflate to.
    #[arg(long, default_value_t = Limits::default().max_decompressed)]
    max_decompressed: u64,
    /// How late, in seconds of event time, a duplicate or window member may arrive.
    #[arg(long, default_value_t = DEFAULT_HORIZON)]
    horizon: i64,
    /// Minutes by which the file-name times listed and read extend the range on each side
    /// (files are named when written, up to ~15 minutes after their events).
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    margin: i64,
    /// Also publish each alert to this SNS topic, as the function does.
    #[arg(long, value_name = "TOPIC_ARN")]
    publish: Option<String>,
    /// Do not read the files here: send an S3 notification for each to the deployed
    /// stack's trail queue (--queue-url), then follow the queue until it is drained.
    #[arg(long, requires = "queue_url", conflicts_with_all = ["publish", "dirs", "lists"])]
    via_lambda: bool,
    /// The stack's trail queue (output TrailQueueUrl), with --via-lambda.
    #[arg(long, value_name = "URL", requires = "via_lambda")]
    queue_url: Option<String>,
    /// The trail queue's dead-letter queue (output TrailQueueDeadLettersUrl): messages it
    /// gains while following are reported and make the exit code 2.
    #[arg(long, value_name = "URL", requires = "via_lambda")]
    dead_letter_url: Option<String>,
    /// Seconds between two looks at the queue.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    poll_seconds: u64,
    /// With --via-lambda: enqueue and exit, without following the queue.
    #[arg(long, requires = "via_lambda")]
    no_wait: bool,
    /// Each folder listed and each object read (or enqueued), on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Also write a self-contained HTML page about the run (as `scan --report`).
    #[arg(long, value_name = "FILE.html", conflicts_with = "via_lambda")]
    report: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutFormat {
    Json,
    Text,
}

fn main() -> ExitCode {
    let mut cmd = Args::command();
    // `trailwatch replay` passes its own name, so help and errors show what was typed.
    if let Ok(name) = std::env::var("TRAILWATCH_REPLAY_AS") {
        cmd = cmd.bin_name(name);
    }
    let args = match Args::from_arg_matches(&cmd.get_matches()) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("trailwatch replay: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The `--rules` value that stands for the rules bundled into the binary.
const BUNDLED: &str = "@bundled";

/// Rules as `trailwatch scan` loads them.
fn compile(dirs: &[PathBuf], lists: &[String]) -> Result<RuleSet> {
    let mut dir = rules::RuleDir::default();
    let bundled = [PathBuf::from(BUNDLED)];
    for d in if dirs.is_empty() { &bundled[..] } else { dirs } {
        dir.extend(if d == Path::new(BUNDLED) {
            rules::bundled()
        } else {
            rules::read_dir(d).with_context(|| format!("reading rules from {}", d.display()))?
        });
    }
    let mut overrides = rules::list_overrides_from_env();
    for l in lists {
        let Some((name, values)) = l.split_once('=') else {
            bail!("--list takes NAME=VALUE,VALUE (got '{l}')");
        };
        overrides.push((name.trim().to_string(), rules::split_list(values)));
    }
    let (set, diags) = RuleSet::compile_dir_to_run(&dir, &overrides, now());
    for d in &diags {
        eprintln!("{d}");
    }
    set.context("rules have errors; run `trailwatch validate`")
}

fn run(args: Args) -> Result<u8> {
    let uris = args
        .uris
        .iter()
        .map(|u| u.parse::<S3Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let until = args.until.as_deref().map(parse_until).transpose()?;
    let range = Range::new(since, until.unwrap_or_else(now))?;
    if let Some(bad) = args.accounts.iter().find(|a| !is_account(a)) {
        return Err(ArgError::BadAccount(bad.clone()).into());
    }
    if args.margin < 0 {
        bail!("--margin takes minutes, 0 or more");
    }
    if let Some(arn) = &args.publish {
        if !arn.starts_with("arn:") || !arn.contains(":sns:") {
            bail!("--publish takes the topic's ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got '{arn}'");
        }
    }
    let filter = Filter {
        accounts: args.accounts.iter().cloned().collect(),
        regions: args.regions.iter().cloned().collect(),
    };
    // Rules first: a mistake in them is found before any listing.
    let rules = if args.via_lambda {
        None
    } else {
        Some(compile(&args.dirs, &args.lists)?)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shared = rt.block_on(aws::config());
    if shared.region().is_none() {
        bail!(
            "no AWS region: set AWS_REGION to the bucket's region (or use a profile that has one)"
        );
    }
    let s3 = aws::s3(&shared);
    let lister = Arc::new(S3Lister { client: s3.clone() });
    let progress = Progress::new(true);

    let mut skipped = Skipped::default();
    let mut streams = Vec::new();
    for uri in &uris {
        streams.extend(rt.block_on(discover(&*lister, uri, &filter, &mut skipped))?);
    }
    streams.sort();
    streams.dedup();
    if args.verbose {
        for s in &streams {
            progress.println(&format!("walking s3://{}/{}", s.bucket, s.base));
        }
    }
    if streams.is_empty() {
        progress.println("trailwatch replay: no CloudTrail/<region>/ folder matched: check the URI, --account and --region");
    }
    let window = range.widened(args.margin * 60);
    let mut walk = Walk::new(lister, &streams, window);
    if args.verbose {
        let p = progress.clone();
        walk = walk.on_listing(move |prefix| p.println(&format!("listing {prefix}")));
    }

    let Some(rules) = rules else {
        return via_lambda(&rt, &shared, &args, walk, skipped, &progress);
    };
    let opts = Options {
        range,
        limits: Limits {
            max_record: args.max_record,
            max_decompressed: args.max_decompressed,
            keep: Some(Arc::new(rules.keep())),
            gate: rules.gate(),
            ..Limits::default()
        },
        horizon: args.horizon,
        format: match args.format {
            OutFormat::Json => sink::Format::Json,
            OutFormat::Text => sink::Format::Text,
        },
        verbose: args.verbose,
        keep_alerts: args.report.is_some(),
    };
    let publish = args.publish.as_ref().map(|arn| Publish {
        publisher: SnsPublisher {
            client: aws::sns(&shared),
            topic_arn: arn.clone(),
        },
        claims: MemoryClaims::default(),
    });
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut summary = local::run(
        rt.handle(),
        s3,
        walk,
        &rules,
        &opts,
        publish.as_ref(),
        &mut out,
        &progress,
    )?;
    out.flush().context("writing alerts")?;
    summary.skipped.add(&skipped);
    eprintln!("{}", summary.line());
    for line in summary.details() {
        eprintln!("{line}");
    }
    if let Some(file) = &args.report {
        let sources: Vec<String> = if args.dirs.is_empty() {
            vec!["@bundled".to_string()]
        } else {
            args.dirs.iter().map(|d| d.display().to_string()).collect()
        };
        let page = trailwatch::report::html(&trailwatch::report::ReportInput {
            named: &args.uris,
            inputs: trailwatch::report::Inputs {
                read: summary.objects,
                skipped: summary.not_cloudtrail,
                unreadable: summary.unreadable,
            },
            rule_sources: &sources,
            rules: rules.rules(),
            alerts: &summary.alerts,
            run: &summary.report,
            generated: Some(now()),
        });
        std::fs::write(file, &page)
            .with_context(|| format!("writing the report {}", file.display()))?;
        eprintln!(
            "trailwatch replay: report written to {} ({} bytes)",
            file.display(),
            page.len()
        );
    }
    Ok(summary.exit_code())
}

fn via_lambda(
    rt: &tokio::runtime::Runtime,
    shared: &aws_config::SdkConfig,
    args: &Args,
    mut walk: Walk<S3Lister>,
    skipped: Skipped,
    progress: &Progress,
) -> Result<u8> {
    let sqs = aws_sdk_sqs::Client::new(shared);
    let url = args
        .queue_url
        .clone()
        .context("--via-lambda needs --queue-url")?;
    let queue = SqsQueue {
        client: sqs.clone(),
        url: url.clone(),
    };
    let dlq = args.dead_letter_url.clone().map(|url| SqsQueue {
        client: sqs.clone(),
        url,
    });
    // Both queues are looked at before anything is sent: a wrong URL fails now.
    rt.block_on(queue.depth())?;
    let dlq_before = match &dlq {
        Some(q) => rt.block_on(q.depth())?.total(),
        None => 0,
    };
    let e = rt.block_on(enqueue(&mut walk, &queue, progress, args.verbose))?;
    progress.finish();
    let mut skipped_all = skipped;
    skipped_all.add(&walk.skipped);
    let secs = e.elapsed.as_secs_f64().max(1e-3);
    eprintln!(
        "trailwatch replay: {} file(s) ({}) enqueued to {url} in {secs:.1} s ({:.0} messages/s), {} not enqueued; {} listing(s)",
        e.messages,
        bytes(e.bytes),
        e.messages as f64 / secs,
        e.failed.len(),
        walk.listings
    );
    let s = &skipped_all;
    if s.digest_folders + s.insight_folders + s.digest + s.insight + s.malformed_keys > 0 {
        eprintln!(
            "trailwatch replay: skipped {} CloudTrail-Digest and {} CloudTrail-Insight folder(s), {} digest/Insights file(s), {} object(s) whose name is not a log file's",
            s.digest_folders, s.insight_folders, s.digest + s.insight, s.malformed_keys
        );
    }
    for (key, why) in e.failed.iter().take(10) {
        eprintln!("trailwatch replay: not enqueued: {key}: {why}");
    }
    let mut code = if e.failed.is_empty() { 0 } else { 2 };
    if args.no_wait {
        return Ok(code);
    }
    let followed = rt.block_on(follow(
        &queue,
        dlq.as_ref().map(|q| (q, dlq_before)),
        Duration::from_secs(args.poll_seconds.max(1)),
        e.messages,
        progress,
    ))?;
    eprintln!(
        "trailwatch replay: the queue is drained after {:.1} s; the function published the alerts to its topic{}",
        followed.elapsed.as_secs_f64(),
        match &dlq {
            Some(_) => format!("; dead-letter queue: +{}", followed.dead_letters),
            None => String::new(),
        }
    );
    if followed.dead_letters > 0 {
        eprintln!("trailwatch replay: {} message(s) reached the dead-letter queue: read the function's log, fix the cause, then move them back (README: Dead letters, redrive and retention)", followed.dead_letters);
        code = 2;
    }
    Ok(code)
}
