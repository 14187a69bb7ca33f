//! `trailwatch-replay` against moto S3: an organization trail and a plain trail in one
//! bucket, digest and Insights files beside them, files whose names' times are out of
//! listing order, a burst over two regions, one global event in two regions' files, a
//! time range, account and region filters; `--publish` to SNS; `--via-lambda` into a
//! queue that the real function drains. Alerts are compared field for field with the
//! library pipeline as `trailwatch scan` drives it, on the same files in the same order.

mod support;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use trailwatch::pipeline::{Pipeline, DEFAULT_HORIZON};
use trailwatch::rules::{self, RuleSet};
use trailwatch::sink::Memory as Alerts;
use trailwatch::source::{decode, Item, Limits};
use trailwatch::state::memory::Memory;

const ORG: &str = "o-abc123/AWSLogs/o-abc123/";
const PLAIN: &str = "legacy/AWSLogs/";
const A1: &str = "111111111111";
const A2: &str = "222222222222";
const A3: &str = "333333333333";
const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

fn log_key(root: &str, account: &str, region: &str, stamp: &str) -> String {
    let day = format!("{}/{}/{}", &stamp[0..4], &stamp[4..6], &stamp[6..8]);
    format!("{root}{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}_Ab3x.json.gz")
}

/// A failed console sign-in with a hidden user name (the sign-in endpoint's region).
fn hidden(id: u32, time: &str, account: &str) -> Value {
    json!({"eventVersion":"1.08","eventTime":time,"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
        "awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"Mozilla/5.0",
        "userIdentity":{"type":"IAMUser","accountId":account,"accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"},
        "responseElements":{"ConsoleLogin":"Failure"},"eventID":format!("00000000-0000-4000-8000-{id:012}"),
        "recipientAccountId":account,"eventType":"AwsConsoleSignIn"})
}

/// A failed root sign-in: one alert per event.
fn root(id: u32, time: &str, account: &str) -> Value {
    json!({"eventVersion":"1.08","eventTime":time,"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
        "awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","userAgent":"Mozilla/5.0",
        "userIdentity":{"type":"Root","arn":format!("arn:aws:iam::{account}:root"),"accountId":account},
        "responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"},
        "eventID":format!("10000000-0000-4000-8000-{id:012}"),"recipientAccountId":account,"eventType":"AwsConsoleSignIn"})
}

/// A call no rule wants.
fn noise(id: u32, time: &str, account: &str, region: &str) -> Value {
    json!({"eventVersion":"1.08","eventTime":time,"eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances",
        "awsRegion":region,"sourceIPAddress":"10.0.0.1","readOnly":true,
        "userIdentity":{"type":"AssumedRole","arn":format!("arn:aws:sts::{account}:assumed-role/app/i-1"),"accountId":account},
        "eventID":format!("20000000-0000-4000-8000-{id:012}"),"recipientAccountId":account,"eventType":"AwsApiCall"})
}

/// The log files, in the order of the times in their names (listing order differs:
/// `legacy/` < `o-abc123/`, account 111… < 222…, eu-west-1 < us-east-1).
fn trail() -> Vec<(String, Vec<u8>)> {
    let f = |root, account, region, stamp, recs: Vec<Value>| {
        (log_key(root, account, region, stamp), gzip(&records(&recs)))
    };
    vec![
        // F1: the first copy of a global event.
        f(
            ORG,
            A2,
            EAST,
            "20240501T1000Z",
            vec![
                root(1, "2024-05-01T09:55:00Z", A2),
                noise(1, "2024-05-01T09:56:00Z", A2, EAST),
            ],
        ),
        // F2 and F4: a burst of five over two regions' files.
        f(
            ORG,
            A1,
            WEST,
            "20240501T1005Z",
            vec![
                hidden(1, "2024-05-01T10:01:00Z", A1),
                hidden(2, "2024-05-01T10:02:00Z", A1),
            ],
        ),
        f(
            PLAIN,
            A3,
            EAST,
            "20240501T1007Z",
            vec![
                root(3, "2024-05-01T10:03:00Z", A3),
                noise(3, "2024-05-01T10:03:30Z", A3, EAST),
            ],
        ),
        f(
            ORG,
            A1,
            EAST,
            "20240501T1010Z",
            vec![
                hidden(3, "2024-05-01T10:04:00Z", A1),
                hidden(4, "2024-05-01T10:05:00Z", A1),
                hidden(5, "2024-05-01T10:06:00Z", A1),
            ],
        ),
        // F5: the same global event again, in another region's file.
        f(
            ORG,
            A2,
            WEST,
            "20240501T1012Z",
            vec![root(1, "2024-05-01T09:55:00Z", A2)],
        ),
        // F6: an event of May 1 in a file of May 2.
        f(
            ORG,
            A1,
            EAST,
            "20240502T0005Z",
            vec![
                root(4, "2024-05-01T23:58:00Z", A1),
                root(5, "2024-05-02T00:01:00Z", A1),
            ],
        ),
        f(
            ORG,
            A2,
            WEST,
            "20240502T1200Z",
            vec![root(6, "2024-05-02T11:55:00Z", A2)],
        ),
        f(
            ORG,
            A1,
            WEST,
            "20240503T0900Z",
            vec![root(7, "2024-05-03T08:55:00Z", A1)],
        ),
    ]
}

/// Objects that are not log files, each holding an event that would alert if read.
fn not_logs() -> Vec<(String, Vec<u8>)> {
    let alerting = |id| gzip(&records(&[root(id, "2024-05-01T10:15:00Z", A1)]));
    vec![
        (format!("{ORG}{A1}/CloudTrail-Digest/{EAST}/2024/05/01/{A1}_CloudTrail-Digest_{EAST}_org_{EAST}_20240501T101500Z.json.gz"), alerting(90)),
        (format!("{ORG}{A2}/CloudTrail-Insight/{EAST}/2024/05/01/{A2}_CloudTrail-Insight_{EAST}_20240501T1015Z_i.json.gz"), alerting(91)),
        (format!("{ORG}{A1}/CloudTrail/{EAST}/2024/05/01/notes.txt"), alerting(92)),
    ]
}

async fn upload(aws: &Aws) {
    for (k, body) in trail().into_iter().chain(not_logs()) {
        aws.put(&k, body).await;
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn alerts(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
    /// The objects read, in order (`--verbose`).
    fn read(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("reading s3://trail-logs/"))
            .map(str::to_string)
            .collect()
    }
}

fn replay_cmd(endpoint: &str, args: &[&str]) -> Command {
    replay_cmd_of(env!("CARGO_BIN_EXE_trailwatch-replay"), endpoint, args)
}

/// `bin` (a `trailwatch-replay`) with AWS pointed at moto and nothing else of ours.
fn replay_cmd_of(bin: &str, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

fn replay(moto: &Moto, args: &[&str]) -> Run {
    let out = replay_cmd(&moto.endpoint, args)
        .output()
        .expect("run trailwatch-replay");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// The bundled rules through the library pipeline, one input per file in the given order,
/// as `trailwatch scan FILE…` runs them; records with an eventTime outside `range` are
/// left out (replay's --since/--until).
fn scan(files: &[&(String, Vec<u8>)], range: Option<(&str, &str)>) -> Vec<Value> {
    let now = trailwatch_lambda::now();
    let (set, diags) = RuleSet::compile_dir_to_run(&rules::bundled(), &[], now);
    let set = set.unwrap_or_else(|| panic!("{diags:?}"));
    let limits = Limits {
        keep: Some(Arc::new(set.keep())),
        ..Limits::default()
    };
    let range = range.map(|(a, b)| {
        (
            trailwatch::event::parse_time(a).unwrap(),
            trailwatch::event::parse_time(b).unwrap(),
        )
    });
    let mut pipeline = Pipeline::new(&set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
    let mut sink = Alerts::default();
    for (key, body) in files {
        pipeline.set_owner(&format!("s3://trail-logs/{key}"));
        decode(&body[..], &limits, &mut |item| {
            if let (Item::Record(e), Some((since, until))) = (&item, range) {
                let t = e.time.unwrap();
                if t < since || t >= until {
                    return;
                }
            }
            pipeline.push(item, &mut sink, &mut |_, _| {}).unwrap();
        })
        .unwrap();
        pipeline.flush(&mut sink).unwrap();
    }
    sink.alerts
        .iter()
        .map(|a| serde_json::to_value(a).unwrap())
        .collect()
}

fn ids(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| format!("{} {} {}", a["rule_id"], a["count"], a["event_ids"]))
        .collect()
}

fn sorted(mut alerts: Vec<Value>) -> Vec<Value> {
    alerts.sort_by(|a, b| {
        (a["rule_id"].as_str(), a["fingerprint"].as_str())
            .cmp(&(b["rule_id"].as_str(), b["fingerprint"].as_str()))
    });
    alerts
}

#[tokio::test(flavor = "multi_thread")]
async fn an_org_and_a_plain_trail_replay_in_name_time_order_as_scan_would() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    upload(&aws).await;
    // The digest, Insights and stray objects really are in the bucket.
    let listed = aws
        .s3
        .list_objects_v2()
        .bucket(&aws.bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    for (k, _) in not_logs() {
        assert!(keys.contains(&k.as_str()), "{k} was uploaded");
    }
    assert_eq!(keys.len(), trail().len() + not_logs().len());

    let run = replay(&moto, &["s3://trail-logs", "--verbose"]);
    assert_eq!(run.code, 1, "alerts: exit 1\n{}", run.stderr);
    let files = trail();
    let expected_order: Vec<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        run.read(),
        expected_order,
        "name-time order, not listing order"
    );
    let mut listing_order = expected_order.clone();
    listing_order.sort();
    assert_ne!(
        listing_order, expected_order,
        "the fixture's names are out of listing order"
    );

    let got = run.alerts();
    let want = scan(&files.iter().collect::<Vec<_>>(), None);
    assert_eq!(ids(&got), ids(&want));
    assert_eq!(got, want, "field for field, in the same order");
    // What the fixture is about.
    let rule = |id: &str| {
        got.iter()
            .filter(|a| a["rule_id"] == id)
            .collect::<Vec<_>>()
    };
    let burst = rule("hidden-username-burst");
    assert_eq!(burst.len(), 1, "{:?}", ids(&got));
    assert_eq!(burst[0]["count"], 5, "two regions' files make one burst");
    let roots: Vec<&Value> = rule("root-adjacent-login-failure");
    let global = roots
        .iter()
        .filter(|a| a["event_ids"][0] == "10000000-0000-4000-8000-000000000001")
        .count();
    assert_eq!(
        global, 1,
        "one global event in two regions' files alerts once"
    );
    assert_eq!(roots.len(), 6, "{:?}", ids(&got));
    let all = serde_json::to_string(&got).unwrap();
    for skipped in ["000000000090", "000000000091", "000000000092"] {
        assert!(
            !all.contains(skipped),
            "digest, Insights and stray objects are not read"
        );
    }
    assert!(
        run.stderr.contains("trailwatch replay: 8 object(s) read")
            && run.stderr.contains(
                ", 1 skipped, 0 unreadable; 14 events, 0 outside the range, 1 duplicates"
            ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("1 CloudTrail-Digest folder(s), 1 CloudTrail-Insight folder(s)")
            && run
                .stderr
                .contains("notes.txt: no _CloudTrail_ in the file name"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(
            "listing s3://trail-logs/o-abc123/AWSLogs/o-abc123/111111111111/CloudTrail-Digest"
        ),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_time_range_lists_only_its_days_and_evaluates_only_its_events() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    upload(&aws).await;
    let run = replay(
        &moto,
        &[
            "s3://trail-logs/o-abc123/",
            "--since",
            "2024-05-02",
            "--until",
            "2024-05-02",
            "-v",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let files = trail();
    assert_eq!(run.read(), [files[5].0.as_str(), files[6].0.as_str()]);
    let want = scan(
        &[&files[5], &files[6]],
        Some(("2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z")),
    );
    assert_eq!(run.alerts(), want);
    assert_eq!(ids(&want).len(), 2, "{:?}", ids(&want));
    assert!(
        run.stderr.contains("2 events, 1 outside the range"),
        "{}",
        run.stderr
    );
    // Day folders listed: the range's day and the margin's neighbours, nothing else.
    let days: std::collections::BTreeSet<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("listing s3://trail-logs/"))
        .map(|p| &p[p.len() - 11..])
        .collect();
    assert_eq!(days, ["2024/05/01/", "2024/05/02/", "2024/05/03/"].into());
    // Without a margin the day before is not even listed.
    let run = replay(
        &moto,
        &[
            "s3://trail-logs/o-abc123/",
            "--since",
            "2024-05-02T00:00:00Z",
            "--until",
            "2024-05-02T23:00:00Z",
            "--margin",
            "0",
            "-v",
        ],
    );
    assert!(!run.stderr.contains("/2024/05/01/\n"), "{}", run.stderr);
    assert!(run.stderr.contains("listing s3://trail-logs/o-abc123/AWSLogs/o-abc123/111111111111/CloudTrail/us-east-1/2024/05/02/"), "{}", run.stderr);
    assert_eq!(run.read(), [files[5].0.as_str(), files[6].0.as_str()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_writes_the_page_of_the_replayed_alerts() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    upload(&aws).await;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("run.html");
    let run = replay(
        &moto,
        &["s3://trail-logs", "--report", page.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let first = run
        .alerts()
        .iter()
        .filter(|a| a["follow_up_of"].is_null())
        .count();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(&format!("id=\"alert-count\">{first}</p>")),
        "{first} alerts; the page: {}",
        html.split("alert-count")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(40)
            .collect::<String>()
    );
    assert!(html.contains("s3://trail-logs"), "the page names the input");
    assert!(run.stderr.contains("report written to"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn account_and_region_filters() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    upload(&aws).await;
    let files = trail();
    let run = replay(
        &moto,
        &["s3://trail-logs", "--account", A2, "--region", EAST, "-v"],
    );
    assert_eq!(run.read(), [files[0].0.as_str()]);
    assert_eq!(run.alerts(), scan(&[&files[0]], None));
    let run = replay(
        &moto,
        &[
            "s3://trail-logs",
            "--region",
            WEST,
            "--format",
            "text",
            "-v",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let west: Vec<&str> = [1, 4, 6, 7].iter().map(|&i| files[i].0.as_str()).collect();
    assert_eq!(run.read(), west);
    assert!(
        run.stdout.contains("Failed console sign-in"),
        "text alerts: {}",
        run.stdout
    );
    // A prefix inside the layout narrows it too; a bad account id is refused.
    let run = replay(
        &moto,
        &[
            &format!("s3://trail-logs/{ORG}{A1}/CloudTrail/{WEST}/"),
            "-v",
        ],
    );
    assert_eq!(run.read(), [files[1].0.as_str(), files[7].0.as_str()]);
    let run = replay(&moto, &["s3://trail-logs", "--account", "1234"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("'1234' is not a 12-digit AWS account id"),
        "{}",
        run.stderr
    );
    let run = replay(&moto, &["s3://trail-logs/elsewhere"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no AWSLogs/ folder"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_sends_the_printed_alerts_to_sns() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    upload(&aws).await;
    let run = replay(&moto, &["s3://trail-logs", "--publish", &aws.topic_arn]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let printed = sorted(run.alerts());
    let published = sorted(aws.alerts().await.into_iter().map(|(a, _)| a).collect());
    assert_eq!(printed.len(), 7);
    assert_eq!(published, printed, "what SNS delivered is what was printed");
    assert!(
        run.stderr
            .contains("7 alert(s) published to SNS, 0 not published"),
        "{}",
        run.stderr
    );
    // A topic that does not exist: the alerts are still printed, the exit code says 2.
    let run = replay(
        &moto,
        &[
            "s3://trail-logs",
            "--publish",
            &format!("{}-missing", aws.topic_arn),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.alerts().len(), 7);
    assert!(run.stderr.contains("not published"), "{}", run.stderr);
}

async fn queue(
    aws: &Aws,
    name: &str,
    attrs: &[(aws_sdk_sqs::types::QueueAttributeName, String)],
) -> String {
    let mut q = aws.sqs.create_queue().queue_name(name);
    for (k, v) in attrs {
        q = q.attributes(k.clone(), v);
    }
    q.send().await.unwrap().queue_url.unwrap()
}

/// What the function did with the messages replay enqueued.
struct Drained {
    code: Option<i32>,
    stderr: String,
    messages: usize,
    invocations: usize,
    retried: usize,
    secs: f64,
}

/// Runs `replay --via-lambda` into a trail queue (with a dead-letter queue) and plays the
/// event source mapping: receives up to 10 messages, invokes the real function with
/// batches of `batch` of them, deletes what it did not report in `batchItemFailures`
/// (those come back after the 2 s visibility timeout), until replay sees the queue drained.
async fn via_lambda(stack: &Stack, batch: usize) -> Drained {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let Stack { aws, rt, moto, .. } = stack;
    let dlq = queue(aws, "trail-dead-letters", &[]).await;
    let dlq_arn = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&A::QueueArn]
        .clone();
    let trail_queue = queue(
        aws,
        "trail-queue",
        &[
            (A::VisibilityTimeout, "2".into()),
            (
                A::RedrivePolicy,
                json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}).to_string(),
            ),
        ],
    )
    .await;
    let mut child = replay_cmd(
        &moto.endpoint,
        &[
            "s3://trail-logs",
            "--via-lambda",
            "--queue-url",
            &trail_queue,
            "--dead-letter-url",
            &dlq,
            "--poll-seconds",
            "1",
            "-v",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let started = Instant::now();
    let (mut messages, mut invocations, mut retried) = (0, 0, 0);
    loop {
        let got = aws
            .sqs
            .receive_message()
            .queue_url(&trail_queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the queue never drained"
            );
            continue;
        }
        for chunk in msgs.chunks(batch) {
            let event = json!({"Records": chunk.iter().map(|m| json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:trail-queue",
                "awsRegion": "us-east-1", "attributes": {}, "messageAttributes": {}})).collect::<Vec<_>>()});
            let r = rt
                .invoke(&event)
                .expect("the function answers with batchItemFailures");
            invocations += 1;
            let failed: Vec<&str> = r["batchItemFailures"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str())
                .collect();
            retried += failed.len();
            for m in chunk {
                if !failed.contains(&m.message_id().unwrap()) {
                    messages += 1;
                    aws.sqs
                        .delete_message()
                        .queue_url(&trail_queue)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    Drained {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        messages,
        invocations,
        retried,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// The function drains what replay enqueued, one file per invocation, and publishes what
/// a local replay prints.
#[tokio::test(flavor = "multi_thread")]
async fn via_lambda_the_function_publishes_what_a_local_replay_prints() {
    let stack = stack(true).await;
    upload(&stack.aws).await;
    let d = via_lambda(&stack, 1).await;
    assert_eq!(d.code, Some(0), "{}", d.stderr);
    assert_eq!(d.messages, 8, "one message per log file");
    assert!(
        d.stderr.contains("8 file(s)") && d.stderr.contains("the queue is drained"),
        "{}",
        d.stderr
    );
    assert!(d.stderr.contains("dead-letter queue: +0"), "{}", d.stderr);
    eprintln!(
        "VIA LAMBDA: {} files in {} invocations, {} message(s) retried, {:.1} s",
        d.messages, d.invocations, d.retried, d.secs
    );
    let lambda = sorted(
        stack
            .aws
            .alerts()
            .await
            .into_iter()
            .map(|(a, _)| a)
            .collect(),
    );
    let local = replay(&stack.moto, &["s3://trail-logs"]);
    assert_eq!(local.code, 1, "{}", local.stderr);
    let local = sorted(local.alerts());
    assert_eq!(ids(&lambda), ids(&local));
    assert_eq!(lambda, local, "field for field");
}

/// Two files of one burst read at the same time (two messages of one SQS batch): their
/// events fall in different pages of one window. Each invocation also bumps the window's
/// head version, so the second to commit runs its batch again and sees the first one's
/// events: the burst (2 + 3 of 5) crosses. (Before that fix, each checked only the page it
/// wrote and the burst was missed.)
#[tokio::test(flavor = "multi_thread")]
async fn via_lambda_in_batches_of_ten_still_sees_a_burst_split_over_two_files() {
    let stack = stack(true).await;
    upload(&stack.aws).await;
    let d = via_lambda(&stack, 10).await;
    assert_eq!(d.code, Some(0), "{}", d.stderr);
    let lambda = stack.aws.alerts().await;
    assert!(
        lambda
            .iter()
            .any(|(a, _)| a["rule_id"] == "hidden-username-burst"),
        "{} alerts, no burst",
        lambda.len()
    );
}

/// Real CloudTrail records (the invictus trail), each copy with its own eventID.
fn corpus() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpora/invictus-ir_aws_dataset/CloudTrail");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            v["Records"].as_array().unwrap().clone()
        })
        .collect()
}

/// Figures for README.md (printed, not asserted: moto on loopback, and a debug build
/// unless TRAILWATCH_REPLAY_BIN names another): 200 files of 500 real records over two
/// accounts and two regions, every event read locally; then the same files enqueued with
/// --via-lambda and drained by the real function (DynamoDB state) in batches of 10.
#[tokio::test(flavor = "multi_thread")]
async fn throughput_on_moto() {
    let stack = stack(true).await;
    let (aws, moto) = (&stack.aws, &stack.moto);
    let corpus = corpus();
    let (files, per_file) = (200usize, 500usize);
    let (mut raw, mut stored) = (0usize, 0usize);
    for f in 0..files {
        let account = [A1, A2][f % 2];
        let region = [EAST, WEST][f / 2 % 2];
        let minute = f / 4;
        let stamp = format!("20240501T{:02}{:02}Z", 8 + minute / 60, minute % 60);
        let recs: Vec<Value> = (0..per_file)
            .map(|i| {
                let mut r = corpus[(f * per_file + i) % corpus.len()].clone();
                r["eventID"] = json!(format!(
                    "{f:04}-{i:04}-{}",
                    r["eventID"].as_str().unwrap_or("")
                ));
                r
            })
            .collect();
        let json = records(&recs);
        raw += json.len();
        let body = gzip(&json);
        stored += body.len();
        aws.put(&log_key(ORG, account, region, &stamp), body).await;
    }
    let (mb_stored, mb_raw) = (stored as f64 / 1e6, raw as f64 / 1e6);
    let bin = std::env::var("TRAILWATCH_REPLAY_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_trailwatch-replay").to_string());
    let t = Instant::now();
    let out = replay_cmd_of(&bin, &moto.endpoint, &["s3://trail-logs"])
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{stderr}");
    assert!(
        stderr.contains(&format!("{files} object(s) read"))
            && stderr.contains(&format!("; {} events,", files * per_file)),
        "{stderr}"
    );
    eprintln!(
        "REPLAY LOCAL ({bin}): {files} objects, {mb_stored:.1} MB stored ({mb_raw:.1} MB of JSON, {} events) in {secs:.2} s: {:.0} objects/s, {:.2} MB/s stored, {:.1} MB/s of JSON",
        files * per_file,
        files as f64 / secs,
        mb_stored / secs,
        mb_raw / secs
    );
    for l in stderr
        .lines()
        .filter(|l| l.starts_with("trailwatch replay:"))
    {
        eprintln!("  {l}");
    }

    let trail_queue = queue(aws, "trail-queue", &[]).await;
    let out = replay_cmd_of(
        &bin,
        &moto.endpoint,
        &[
            "s3://trail-logs",
            "--via-lambda",
            "--queue-url",
            &trail_queue,
            "--no-wait",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let enqueued = stderr
        .lines()
        .find(|l| l.contains("enqueued"))
        .unwrap_or("");
    eprintln!("REPLAY VIA LAMBDA, enqueue: {enqueued}");
    let t = Instant::now();
    let mut drained = 0;
    while drained < files {
        let msgs = aws
            .sqs
            .receive_message()
            .queue_url(&trail_queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        let event = json!({"Records": msgs.iter().map(|m| json!({
            "messageId": m.message_id(), "body": m.body(), "eventSource": "aws:sqs"})).collect::<Vec<_>>()});
        let r = stack.rt.invoke(&event).expect("invocation");
        assert_eq!(r["batchItemFailures"], json!([]), "{r}");
        for m in &msgs {
            aws.sqs
                .delete_message()
                .queue_url(&trail_queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        drained += msgs.len();
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "REPLAY VIA LAMBDA, drain: the function (debug build, DynamoDB state on moto, batches of 10) read {files} files, {mb_raw:.1} MB of JSON in {secs:.1} s: {:.1} files/s, {:.1} MB/s of JSON",
        files as f64 / secs,
        mb_raw / secs
    );
}

#[test]
fn help_and_usage_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_trailwatch-replay"))
        .arg("--help")
        .env("TRAILWATCH_REPLAY_AS", "trailwatch replay")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Usage: trailwatch replay") && help.contains("--via-lambda"),
        "{help}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_trailwatch-replay"))
        .args(["/tmp/trail"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("write s3://BUCKET or s3://BUCKET/PREFIX")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_trailwatch-replay"))
        .args([
            "s3://trail-logs",
            "--since",
            "2024-05-03",
            "--until",
            "2024-05-01",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the range is empty"));
}
