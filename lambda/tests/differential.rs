//! One pipeline, one answer: the same files and rules through `trailwatch scan` (the
//! library as the CLI drives it: in-memory state, one batch per input) and through the
//! real Lambda binary on moto (DynamoDB state, one invocation per file) give the same
//! alerts, field for field. The rules are the bundled catalogue plus a threshold of 2,500
//! events (beyond the old 2,000-event cap of a DynamoDB window), a `distinct` threshold,
//! and Sigma correlations (event_count, value_count, temporal and temporal_ordered).

mod support;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::*;
use trailwatch::pipeline::{Pipeline, DEFAULT_HORIZON};
use trailwatch::rules::{self, RuleSet};
use trailwatch::sink::Memory as Alerts;
use trailwatch::source::{decode, Limits};
use trailwatch::state::memory::Memory;

const EXTRA: &[(&str, &str)] = &[
    (
        "many-reads.yaml",
        r#"id: many-reads
title: "{count} GetObject calls by {userIdentity.arn} within an hour"
severity: medium
match:
  eventName: GetObject
threshold: {count: 2500, window: 1h, group_by: [userIdentity.arn]}
"#,
    ),
    (
        "many-buckets.yaml",
        r#"id: many-buckets
title: "{count} reads of at least 40 buckets by {userIdentity.arn} within 10 minutes"
severity: medium
match:
  eventName: GetObject
threshold: {count: 40, window: 10m, group_by: [userIdentity.arn], distinct: requestParameters.bucketName}
"#,
    ),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A copy of the bundled rules plus [`EXTRA`].
fn rules_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("rules"), dir.path());
    for (name, text) in EXTRA {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    // Sigma rules and correlations (thresholds, values, sequences) as the Lambda loads them.
    std::fs::copy(
        repo().join("tests/sigma/correlations/correlations.yml"),
        dir.path().join("sigma-correlations.yml"),
    )
    .unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &target);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// GetObject calls by two roles: `n` events in a file at minute `minute`, `buckets`
/// distinct buckets among them.
fn reads(file: u32, n: u32, minute: u32, buckets: u32) -> Vec<u8> {
    let recs: Vec<Value> = (0..n)
        .map(|i| {
            let who = if i % 10 == 0 { "etl" } else { "scanner" };
            json!({"eventVersion":"1.08","eventTime":format!("2024-06-01T10:{minute:02}:{:02}Z", i % 60),
                "eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1",
                "sourceIPAddress":format!("198.51.100.{}", i % 7),
                "userIdentity":{"type":"AssumedRole","arn":format!("arn:aws:sts::111122223333:assumed-role/{who}/s"),"accountId":"111122223333"},
                "requestParameters":{"bucketName":format!("bucket-{}", i % buckets),"key":format!("k{i}")},
                "eventID":format!("{file:08x}-0000-4000-8000-{i:012}"),"recipientAccountId":"111122223333","eventType":"AwsApiCall"})
        })
        .collect();
    gzip(&records(&recs))
}

/// `(S3 key, body)` of every input, in the order both sides read them.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let invictus = repo().join("tests/corpora/invictus-ir_aws_dataset/CloudTrail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&invictus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        out.push((
            format!("AWSLogs/invictus/{name}.gz"),
            gzip(&std::fs::read(&f).unwrap()),
        ));
    }
    for f in ["examples/attack-story", "examples/signin-burst"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(f))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for p in files {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            out.push((format!("AWSLogs/{f}/{name}"), std::fs::read(&p).unwrap()));
        }
    }
    let docs = repo().join("tests/corpora/awsdocs-examples/awsdocs_examples.Records.json");
    out.push((
        "AWSLogs/awsdocs.json.gz".into(),
        gzip(&std::fs::read(docs).unwrap()),
    ));
    // 3,000 reads over three files and 25 minutes (2,700 by one role: one alert at
    // 2,500), the files out of time order; 50 buckets, so the distinct rule crosses too.
    for (file, minute) in [(2, 20), (1, 5), (3, 30)] {
        out.push((
            format!("AWSLogs/reads/{file}.json.gz"),
            reads(file, 1000, minute, 50),
        ));
    }
    // Five failed sign-ins and then a success from one address, the success's file first:
    // the native sequence and the Sigma temporal_ordered correlation both cross.
    let signin = |i: u32, minute: u32, ok: bool| {
        json!({"eventVersion":"1.08","eventTime":format!("2024-06-02T08:{minute:02}:00Z"),
            "eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.77","eventType":"AwsConsoleSignIn",
            "userIdentity":{"type":"IAMUser","userName":"dana","accountId":"111122223333"},
            "responseElements":{"ConsoleLogin": if ok {"Success"} else {"Failure"}},
            "eventID":format!("5e900000-0000-4000-8000-{i:012}"),"recipientAccountId":"111122223333"})
    };
    out.push((
        "AWSLogs/sequence/2.json.gz".into(),
        gzip(&records(&[signin(6, 9, true)])),
    ));
    out.push((
        "AWSLogs/sequence/1.json.gz".into(),
        gzip(&records(
            &(1..=5).map(|i| signin(i, i, false)).collect::<Vec<_>>(),
        )),
    ));
    out
}

/// What `trailwatch scan --rules DIR` prints, as JSON, for `inputs` read in order.
fn scan(dir: &Path, inputs: &[(String, Vec<u8>)]) -> Vec<Value> {
    let (set, diags) = RuleSet::compile_dir(&rules::read_dir(dir).unwrap(), &[], trailwatch_now());
    let set = set.unwrap_or_else(|| panic!("{diags:?}"));
    let limits = Limits {
        keep: Some(Arc::new(set.keep())),
        ..Limits::default()
    };
    let mut pipeline = Pipeline::new(&set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
    let mut sink = Alerts::default();
    for (key, body) in inputs {
        pipeline.set_owner(key);
        decode(&body[..], &limits, &mut |item| {
            pipeline.push(item, &mut sink, &mut |_, _| {}).unwrap();
        })
        .unwrap();
        pipeline.flush(&mut sink).unwrap();
    }
    // The end of the run: every roll-up's follow-up.
    pipeline.send_follow_ups(i64::MAX, &mut sink).unwrap();
    sink.alerts
        .iter()
        .map(|a| serde_json::to_value(a).unwrap())
        .collect()
}

fn trailwatch_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn by_fingerprint(mut alerts: Vec<Value>) -> Vec<Value> {
    alerts.sort_by(|a, b| {
        (a["rule_id"].as_str(), a["fingerprint"].as_str())
            .cmp(&(b["rule_id"].as_str(), b["fingerprint"].as_str()))
    });
    alerts
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_and_the_lambda_give_the_same_alerts() {
    let dir = rules_dir();
    let inputs = inputs();
    let cli = by_fingerprint(scan(dir.path(), &inputs));

    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    let rt = Runtime::start();
    let d = dir.path().display().to_string();
    let _f = Function::start(
        &rt,
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &aws.topic_arn),
            ("STATE_TABLE", &aws.table),
            ("RULES_DIR", &d),
        ],
    );
    for (key, body) in &inputs {
        aws.put(key, body.clone()).await;
    }
    for (key, _) in &inputs {
        let r = rt
            .invoke(&s3_event(&aws.bucket, &[key]))
            .expect("invocation");
        assert!(r["bad_inputs"] == 0, "{key}: {r}");
    }
    // The schedule, as if an hour had passed: the follow-ups of every roll-up go out; a
    // second tick sends nothing more.
    let tick = |secs: i64| {
        let t = trailwatch::event::format_time(trailwatch_now() + secs);
        json!({"version":"0","id":"tick","detail-type":"Scheduled Event","source":"aws.events",
            "account":"111122223333","time":t,"region":"us-east-1","resources":[],"detail":{}})
    };
    let sent = rt.invoke(&tick(3600)).expect("schedule");
    assert!(sent["follow_ups"].as_u64().unwrap() >= 1, "{sent}");
    let again = rt.invoke(&tick(3900)).expect("schedule");
    assert_eq!(again["follow_ups"], 0, "{again}");
    let lambda = by_fingerprint(aws.alerts().await.into_iter().map(|(a, _)| a).collect());

    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|a| format!("{} {} x{}", a["rule_id"], a["fingerprint"], a["count"]))
            .collect()
    };
    assert_eq!(ids(&cli), ids(&lambda), "the same alerts");
    assert_eq!(cli, lambda, "field for field");
    // First alerts (follow-ups aside).
    let count = |id: &str| {
        cli.iter()
            .filter(|a| a["rule_id"] == id && a["follow_up_of"].is_null())
            .count()
    };
    assert_eq!(count("many-reads"), 1, "{:?}", ids(&cli));
    // Each file's 10 minutes hold 50 buckets: three spans of 40 distinct buckets.
    assert_eq!(count("many-buckets"), 3, "{:?}", ids(&cli));
    let reads = cli
        .iter()
        .find(|a| a["rule_id"] == "many-reads" && a["follow_up_of"].is_null())
        .unwrap();
    assert_eq!(reads["count"], 2500);
    // Up to 100 ids: the earliest of each page of the window the span covers.
    let n = reads["event_ids"].as_array().unwrap().len();
    assert!((16..=100).contains(&n), "{n}");
    let follow_ups = cli.iter().filter(|a| a["follow_up_of"].is_string()).count();
    assert!(follow_ups >= 3, "{follow_ups} follow-ups");
    // The sequence and the Sigma correlations crossed on both sides.
    assert!(
        count("console-login-success-after-failures") >= 1,
        "{:?}",
        ids(&cli)
    );
    // (The event_count "burst" is a step of the temporal_ordered one, which does not say
    // `generate: true`, so it does not alert on its own.)
    for sigma in [
        "9a000000-0000-4000-8000-000000000004", // temporal_ordered, with the burst as a step
        "9a000000-0000-4000-8000-000000000006", // temporal, 2 of 3
    ] {
        assert!(count(sigma) >= 1, "{sigma}: {:?}", ids(&cli));
    }
    eprintln!(
        "DIFFERENTIAL: {} inputs, {} alerts from {} rules, identical",
        inputs.len(),
        cli.len(),
        cli.iter()
            .map(|a| a["rule_id"].as_str().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
}
