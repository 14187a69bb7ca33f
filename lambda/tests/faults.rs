//! Faults, retries, duplicates, concurrency and deadlines, end to end: the real function
//! behind a fault-injecting proxy in front of moto_server, invoked as Lambda does
//! (asynchronous invocations retried twice with the same request id), alerts counted per
//! fingerprint in an SQS queue subscribed to the topic. Each test prints its figures.

mod support;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use support::proxy::{Fault, Plan, Proxy, Stats};
use support::*;

/// A cross-account AssumeRole as logged in `recipient` (both copies share one id).
fn assume_role(id: u32, recipient: &str) -> Value {
    json!({"eventVersion":"1.08","eventTime":"2024-05-01T10:05:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole",
        "awsRegion":"us-east-1","sourceIPAddress":"192.0.2.101",
        "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::777788889999:user/JohnDoe","accountId":"777788889999","userName":"JohnDoe"},
        "requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/EC2-dev","roleSessionName":"JohnDoe"},
        "sharedEventID":"bEXAMPLE-efea-4a70-b951-19a88EXAMPLE",
        "eventID":format!("20000000-0000-4000-8000-{id:012}"),"recipientAccountId":recipient})
}

const EXPECTED: [&str; 3] = [
    "cross-account-assume-role",
    "hidden-username-burst",
    "root-adjacent-login-failure",
];

/// Files that hold exactly the three alerts of [`EXPECTED`], with the copies CloudTrail
/// makes: a global event in two regions' files, a burst split over two files (one event
/// in both), an AssumeRole logged in both accounts.
fn trail_files() -> Vec<(&'static str, Vec<u8>)> {
    let t = |m: u32| format!("2024-05-01T10:0{m}:00Z");
    let files = [
        (
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/root.json.gz",
            vec![root_failure(1)],
        ),
        (
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/burst-a.json.gz",
            vec![
                hidden_failure(1, &t(0)),
                hidden_failure(2, &t(1)),
                hidden_failure(3, &t(2)),
            ],
        ),
        (
            "AWSLogs/777788889999/CloudTrail/us-east-1/2024/05/01/assume.json.gz",
            vec![assume_role(1, "777788889999")],
        ),
        (
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/burst-b.json.gz",
            vec![
                hidden_failure(3, &t(2)),
                hidden_failure(4, &t(3)),
                hidden_failure(5, &t(4)),
            ],
        ),
        (
            "AWSLogs/111122223333/CloudTrail/us-west-2/2024/05/01/root-copy.json.gz",
            vec![root_failure(1)],
        ),
        (
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/assume.json.gz",
            vec![assume_role(2, "111122223333")],
        ),
    ];
    files
        .into_iter()
        .map(|(k, recs)| (k, gzip(&records(&recs))))
        .collect()
}

/// moto, its resources, a proxy before it, a Runtime API and `functions` copies of the
/// function (concurrent instances) sending their AWS calls through the proxy.
struct Faulty {
    aws: Aws,
    rt: Runtime,
    proxy: Proxy,
    _functions: Vec<Function>,
    _moto: Moto,
}

async fn faulty(seed: u64, functions: usize) -> Faulty {
    faulty_with(seed, functions, &[("TRAILWATCH_CLAIM_LEASE_SECONDS", "2")]).await
}

async fn faulty_with(seed: u64, functions: usize, extra: &[(&str, &str)]) -> Faulty {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    let proxy = Proxy::start(&moto.endpoint, seed);
    let rt = Runtime::start();
    let mut env = vec![
        ("ALERT_TOPIC_ARN", aws.topic_arn.as_str()),
        ("STATE_TABLE", aws.table.as_str()),
    ];
    env.extend_from_slice(extra);
    let fns = (0..functions)
        .map(|_| Function::start_at(&rt, &proxy.endpoint, &env))
        .collect();
    Faulty {
        aws,
        rt,
        proxy,
        _functions: fns,
        _moto: moto,
    }
}

/// What one run delivered.
#[derive(Debug, Default)]
struct Outcome {
    expected: usize,
    /// Messages per fingerprint.
    copies: BTreeMap<String, usize>,
    invocations: usize,
    attempts: usize,
    dead_letters: usize,
    /// Copies delivered, per rule.
    delivered: BTreeMap<String, usize>,
    /// Distinct fingerprints delivered.
    fingerprints: usize,
    stats: Stats,
}

impl Outcome {
    fn messages(&self) -> usize {
        self.delivered.values().sum()
    }
    fn duplicates(&self) -> usize {
        self.messages() - self.fingerprints
    }
    fn report(&self, what: &str) {
        eprintln!(
            "FAULTS {what}: {} targeted calls ({}), {} faults injected ({:?}; by call {:?}); \
             {} invocations, {} attempts, {} dead letters; alerts expected {}, delivered {} \
             distinct in {} messages, {} duplicated (publish answers lost after SNS accepted: {})",
            self.stats.targeted(),
            fmt_map(&self.stats.calls),
            self.stats.injected(),
            self.stats.faults,
            self.stats.faults_by_op,
            self.invocations,
            self.attempts,
            self.dead_letters,
            self.expected,
            self.fingerprints,
            self.messages(),
            self.duplicates(),
            self.stats.publish_entries_after_fault,
        );
    }
}

fn fmt_map(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Puts the trail files, invokes the function once per file as S3 would (each retried as
/// Lambda's async invocation does) and reads back every alert.
async fn run(s: &Faulty) -> Outcome {
    let mut out = Outcome {
        expected: EXPECTED.len(),
        ..Outcome::default()
    };
    let files = trail_files();
    for (key, body) in &files {
        s.aws.put(key, body.clone()).await;
    }
    for (i, (key, _)) in files.iter().enumerate() {
        let event = s3_event(&s.aws.bucket, &[key]);
        let attempts =
            s.rt.invoke_async(&format!("s3-{i}"), &event, Duration::from_millis(300));
        out.invocations += 1;
        out.attempts += attempts.len();
        if let Some(Err(e)) = attempts.last() {
            eprintln!("dead letter for {key}: {e}");
            out.dead_letters += 1;
        }
    }
    collect(s, &mut out).await;
    out
}

/// Reads (and removes) every alert in the queue into `out`; returns them.
async fn collect(s: &Faulty, out: &mut Outcome) -> Vec<Value> {
    let alerts: Vec<Value> = s.aws.alerts().await.into_iter().map(|(a, _)| a).collect();
    for alert in &alerts {
        *out.delivered
            .entry(alert["rule_id"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        *out.copies
            .entry(alert["fingerprint"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    out.fingerprints = out.copies.len();
    out.stats = s.proxy.stats();
    alerts
}

fn assert_every_alert_once_or_lost_answer(out: &Outcome) {
    let rules: Vec<&str> = out.delivered.keys().map(String::as_str).collect();
    assert_eq!(rules, EXPECTED, "every expected alert arrives: {out:?}");
    assert_eq!(out.fingerprints, EXPECTED.len(), "{out:?}");
    assert_eq!(out.dead_letters, 0, "{out:?}");
    assert!(
        out.duplicates() as u64 <= out.stats.publish_entries_after_fault,
        "a duplicate only where SNS accepted a publish whose answer was lost: {out:?}"
    );
    for (fp, n) in &out.copies {
        assert!(
            *n == 1 || out.stats.after_fault_fingerprints.contains(fp),
            "alert {fp} delivered {n} times, but no publish of it lost its answer: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_faults_baseline() {
    let s = faulty(0, 1).await;
    let out = run(&s).await;
    out.report("none");
    assert_every_alert_once_or_lost_answer(&out);
    assert_eq!(out.duplicates(), 0);
    assert_eq!(out.attempts, out.invocations, "nothing failed: {out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn half_the_calls_fail_before_moto_sees_them_and_every_alert_arrives_once() {
    for seed in [11, 12] {
        let s = faulty(seed, 1).await;
        s.proxy.set_plan(Plan {
            rate: 0.5,
            kinds: Fault::BEFORE.to_vec(),
            ..Plan::none()
        });
        let out = run(&s).await;
        out.report(&format!("before-request 50% seed {seed}"));
        assert!(out.stats.failures() > 10, "{out:?}");
        assert_every_alert_once_or_lost_answer(&out);
        assert_eq!(out.duplicates(), 0, "exactly once: {out:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn half_the_calls_fail_before_or_after_and_every_alert_arrives() {
    for seed in [21, 22] {
        let s = faulty(seed, 1).await;
        s.proxy.set_plan(Plan {
            rate: 0.5,
            kinds: Fault::ALL.to_vec(),
            ..Plan::none()
        });
        let out = run(&s).await;
        out.report(&format!("before+after 50% seed {seed}"));
        assert!(out.stats.faults.contains_key("LostAnswer"), "{out:?}");
        assert_every_alert_once_or_lost_answer(&out);
    }
}

/// Faults that do not stop: every attempt fails, nothing is reported as done, the event
/// is left for the dead-letter queue; redriven once the faults end, it alerts once.
#[tokio::test(flavor = "multi_thread")]
async fn persistent_faults_fail_every_attempt_and_the_redrive_alerts_once() {
    for only in ["SNS.", "DynamoDB."] {
        let s = faulty(31, 1).await;
        let (key, body) = trail_files().remove(0);
        s.aws.put(key, body).await;
        s.proxy.set_plan(Plan {
            rate: 1.0,
            kinds: vec![Fault::Error500, Fault::Throttle, Fault::Drop],
            only: vec![only],
            ..Plan::none()
        });
        let event = s3_event(&s.aws.bucket, &[key]);
        let attempts =
            s.rt.invoke_async("stuck", &event, Duration::from_millis(300));
        assert_eq!(attempts.len(), 3, "{attempts:?}");
        for a in &attempts {
            let err = a.as_ref().expect_err("no attempt reports success");
            assert_eq!(err["errorType"], "trailwatch.Retryable", "{err}");
        }
        let mut out = Outcome {
            expected: 1,
            invocations: 1,
            attempts: 3,
            dead_letters: 1,
            ..Outcome::default()
        };
        collect(&s, &mut out).await;
        out.report(&format!("persistent {only}"));
        assert_eq!(out.messages(), 0, "{out:?}");

        // The dead-letter queue redriven later: a new request id, the faults gone.
        s.proxy.set_plan(Plan::none());
        std::thread::sleep(Duration::from_secs(3));
        let r = s.rt.invoke_as("redrive", &event).expect("redrive succeeds");
        assert_eq!(r["alerts_published"], 1, "{r}");
        let again = s.rt.invoke_as("redrive-2", &event).unwrap();
        assert_eq!(again["alerts_published"], 0, "{again}");
        let mut after = Outcome::default();
        collect(&s, &mut after).await;
        assert_eq!(after.messages(), 1, "{after:?}");
    }
}

/// Several instances at once on files that together hold one burst (and copies of its
/// events): one alert. The same notification delivered to two instances at once: one.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_invocations_share_one_burst_and_alert_once() {
    let s = faulty(41, 4).await;
    let mut keys = Vec::new();
    for f in 0..4u32 {
        let key = format!("AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/part-{f}.json.gz");
        // Parts hold events 1-2, 2-3, 3-4, 4-5 (each shared event is a copy).
        let recs = [f + 1, f + 2].map(|i| hidden_failure(i, &format!("2024-05-01T10:0{i}:00Z")));
        s.aws.put(&key, gzip(&records(&recs))).await;
        keys.push(key);
    }
    let root = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/root.json.gz";
    s.aws.put(root, gzip(&records(&[root_failure(7)]))).await;
    let mut jobs: Vec<(String, Value)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("part-{i}"), s3_event(&s.aws.bucket, &[k])))
        .collect();
    for copy in 0..2 {
        jobs.push((format!("dup-{copy}"), s3_event(&s.aws.bucket, &[root])));
    }
    let at_once: Vec<(&str, &Value)> = jobs.iter().map(|(id, ev)| (id.as_str(), ev)).collect();
    let results =
        s.rt.invoke_async_at_once(&at_once, Duration::from_millis(2500));
    let mut out = Outcome {
        expected: 2,
        invocations: jobs.len(),
        attempts: results.iter().map(Vec::len).sum(),
        dead_letters: results
            .iter()
            .filter(|r| matches!(r.last(), Some(Err(_))))
            .count(),
        ..Outcome::default()
    };
    let alerts = collect(&s, &mut out).await;
    out.report("concurrency: 4 instances, 6 invocations at once");
    assert_eq!(out.dead_letters, 0, "{results:?}");
    let burst: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule_id"] == "hidden-username-burst")
        .collect();
    assert_eq!(burst.len(), 1, "{alerts:?}");
    assert_eq!(burst[0]["count"], 5, "{:?}", burst[0]);
    let root_alerts = alerts
        .iter()
        .filter(|a| a["rule_id"] == "root-adjacent-login-failure")
        .count();
    assert_eq!(root_alerts, 1, "{alerts:?}");
    assert_eq!(alerts.len(), 2);
}

/// The deadline arrives while the file is still being read: the invocation fails with a
/// retryable error after delivering the alerts of what it did read, and the retry delivers
/// the rest, each alert once.
#[tokio::test(flavor = "multi_thread")]
async fn a_deadline_mid_file_fails_for_a_retry_not_a_half_done_success() {
    let s = faulty(51, 1).await;
    // An alerting event, ~6,000 harmless ones, then another alerting one at the very end.
    let mut recs: Vec<Value> = vec![root_failure(9)];
    recs.extend((0..6000u32)
        .map(|i| {
            json!({"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com",
                "eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":format!("10.0.{}.{}", i / 256, i % 256),
                "userIdentity":{"type":"AssumedRole","accountId":"111122223333"},
                "eventID":format!("30000000-0000-4000-8000-{i:012}"),"recipientAccountId":"111122223333"})
        }));
    recs.push(root_failure(8));
    let body = gzip(&records(&recs));
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/slow.json.gz";
    s.aws.put(key, body.clone()).await;
    // The body trickles in for ~4 s; the invocation is told it has 4.5 s (and stops 3 s
    // before its deadline).
    let chunk = body.len() / 40 + 1;
    s.proxy
        .set_trickle(Some((chunk, Duration::from_millis(100))));
    s.rt.set_budget(Duration::from_millis(4500));
    let event = s3_event(&s.aws.bucket, &[key]);
    let err =
        s.rt.invoke_as("slow", &event)
            .expect_err("the deadline fails the invocation");
    let text = err.to_string();
    assert_eq!(err["errorType"], "trailwatch.Retryable", "{text}");
    assert!(text.contains("deadline"), "{text}");
    let early = s.aws.alerts().await;
    assert_eq!(
        early.len(),
        1,
        "the first event's alert is not held back: {early:?}"
    );
    assert_eq!(
        early[0].0["event_ids"],
        json!(["10000000-0000-4000-8000-000000000009"])
    );
    eprintln!(
        "DEADLINE: {} compressed bytes trickled over ~4 s, budget 4.5 s: {text}",
        body.len()
    );

    s.proxy.set_trickle(None);
    s.rt.set_budget(Duration::from_secs(60));
    let ok = s.rt.invoke_as("slow", &event).expect("the retry completes");
    assert_eq!(
        ok["alerts_published"], 1,
        "the first alert is not paged again: {ok}"
    );
    assert_eq!(ok["events"], 6002, "{ok}");
    let late = s.aws.alerts().await;
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(
        late[0].0["event_ids"],
        json!(["10000000-0000-4000-8000-000000000008"])
    );
}

/// The answer to the claim's conditional write is lost after DynamoDB applied it: the
/// SDK's retry finds the claim already there, and it is ours (same owner), so the alert
/// is still published, once. Without owners this alert was silently lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_the_claim_still_publishes_once() {
    let s = faulty(61, 1).await;
    s.proxy.set_plan(Plan {
        rate: 1.0,
        kinds: vec![Fault::LostAnswer],
        // A batch's claims go in one transaction (single claims when it is refused).
        only: vec!["DynamoDB.PutItem", "DynamoDB.TransactWriteItems"],
        body_contains: Some("claim#"),
        limit: Some(1),
    });
    let (key, body) = trail_files().remove(0);
    s.aws.put(key, body).await;
    let r = s.rt.invoke(&s3_event(&s.aws.bucket, &[key]));
    let r = r.unwrap_or_else(|e| panic!("{e}\n{:?}", s.proxy.stats()));
    assert_eq!(r["alerts_published"], 1, "{r}");
    let mut out = Outcome {
        expected: 1,
        invocations: 1,
        attempts: 1,
        ..Outcome::default()
    };
    collect(&s, &mut out).await;
    out.report("lost claim answer");
    assert_eq!(out.stats.faults.get("LostAnswer"), Some(&1), "{out:?}");
    assert_eq!(out.messages(), 1, "{out:?}");
}

/// A publish fails and so does the release of its claim: the claim is left in progress.
/// Lambda's retry is another owner and finds it busy (a retryable failure, not a silent
/// success); the next retry, after the lease, publishes the alert once.
#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_claim_fails_retries_until_its_lease_ends_then_publishes_once() {
    let s = faulty_with(
        71,
        1,
        &[
            // Retry 2 (5 s after a failure that takes well under 4 s) falls within the
            // lease, retry 3 (5 s later again) after it, however loaded the machine.
            ("TRAILWATCH_CLAIM_LEASE_SECONDS", "9"),
            ("AWS_MAX_ATTEMPTS", "3"),
        ],
    )
    .await;
    let (key, body) = trail_files().remove(0);
    s.aws.put(key, body).await;
    // The first invocation's 3 publish attempts and its 3 release attempts fail.
    s.proxy.set_plan(Plan {
        rate: 1.0,
        kinds: vec![Fault::Error500],
        only: vec!["SNS.", "DynamoDB.DeleteItem"],
        limit: Some(6),
        ..Plan::none()
    });
    let attempts = s.rt.invoke_async(
        "stuck-claim",
        &s3_event(&s.aws.bucket, &[key]),
        Duration::from_secs(5),
    );
    let errors: Vec<String> = attempts
        .iter()
        .filter_map(|a| a.as_ref().err().map(|e| e["errorMessage"].to_string()))
        .collect();
    let mut out = Outcome {
        expected: 1,
        invocations: 1,
        attempts: attempts.len(),
        dead_letters: usize::from(attempts.last().is_some_and(Result::is_err)),
        ..Outcome::default()
    };
    collect(&s, &mut out).await;
    out.report("stuck claim");
    eprintln!(
        "STUCK CLAIM attempts: {errors:?} then {:?}",
        attempts.last()
    );
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(errors[0].contains("SNS"), "{errors:?}");
    assert!(
        errors[1].contains("being published by another invocation"),
        "{errors:?}"
    );
    assert_eq!(attempts[2].as_ref().unwrap()["alerts_published"], 1);
    assert_eq!(out.messages(), 1, "{out:?}");
}

/// The same notification reaches two instances at once while SNS answers slowly: one
/// publishes; the other finds the alert claimed and busy, fails with a retryable error
/// instead of reporting success, and its retry finds the alert completed. One page.
#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_that_finds_the_alert_being_published_fails_then_deduplicates() {
    let s = faulty(81, 2).await;
    let (key, body) = trail_files().remove(0);
    s.aws.put(key, body).await;
    s.proxy.set_plan(Plan {
        rate: 1.0,
        kinds: vec![Fault::Slow],
        only: vec!["SNS."],
        limit: Some(1),
        ..Plan::none()
    });
    let event = s3_event(&s.aws.bucket, &[key]);
    let results = s.rt.invoke_async_at_once(
        &[("copy-a", &event), ("copy-b", &event)],
        Duration::from_millis(2500),
    );
    let busy: Vec<&Value> = results
        .iter()
        .flatten()
        .filter_map(|r| r.as_ref().err())
        .collect();
    let mut out = Outcome {
        expected: 1,
        invocations: 2,
        attempts: results.iter().map(Vec::len).sum(),
        ..Outcome::default()
    };
    collect(&s, &mut out).await;
    out.report("same notification on two instances, slow SNS");
    assert_eq!(busy.len(), 1, "{results:?}");
    assert!(
        busy[0]["errorMessage"]
            .to_string()
            .contains("being published by another invocation"),
        "{busy:?}"
    );
    assert!(results.iter().all(|r| r.last().is_some_and(Result::is_ok)));
    assert_eq!(out.messages(), 1, "{out:?}");
}
