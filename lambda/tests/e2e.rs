//! End to end on real HTTP APIs: moto_server on loopback, the real `trailwatch-lambda`
//! binary behind a Lambda Runtime API, alerts read back from an SQS queue subscribed to
//! the SNS topic.

mod support;
use serde_json::json;
use support::*;

const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T1000Z_a b.json.gz";

#[tokio::test(flavor = "multi_thread")]
async fn alert_reaches_sqs_once_even_when_the_notification_repeats() {
    let Stack { aws, rt, .. } = &stack(true).await;
    aws.put(KEY, gzip(&records(&[root_failure(1)]))).await;
    let event = s3_event(&aws.bucket, &[KEY]);
    let first = rt.invoke(&event).expect("first invocation succeeds");
    assert_eq!(first["alerts_published"], 1, "{first}");
    // The same notification again (S3 is at-least-once): no second page.
    let again = rt.invoke(&event).expect("second invocation succeeds");
    assert_eq!(again["alerts_published"], 0, "{again}");
    // A digest file is skipped by its key, never read: this one holds a record that
    // would page.
    let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240501T1000Z.json.gz";
    aws.put(digest, gzip(&records(&[root_failure(2)]))).await;
    let r = rt.invoke(&s3_event(&aws.bucket, &[digest])).unwrap();
    assert_eq!(
        (&r["skipped"], &r["events"], &r["alerts_published"]),
        (&json!(1), &json!(0), &json!(0)),
        "{r}"
    );
    // A copy of the event in another region's file is dropped by the function's
    // duplicate check (the alert's claim alone would also stop the page: the count shows
    // the check did it).
    let copy = "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/111122223333_CloudTrail_eu-west-1_20240501T1005Z_copy.json.gz";
    aws.put(copy, gzip(&records(&[root_failure(1)]))).await;
    let r = rt.invoke(&s3_event(&aws.bucket, &[copy])).unwrap();
    assert_eq!(
        (&r["events"], &r["duplicates"], &r["alerts_published"]),
        (&json!(1), &json!(1), &json!(0)),
        "{r}"
    );

    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (alert, attrs) = &alerts[0];
    assert_eq!(alert["rule_id"], "root-adjacent-login-failure");
    assert_eq!(
        alert["event_ids"],
        json!(["10000000-0000-4000-8000-000000000001"])
    );
    assert_eq!(alert["actor"]["type"], "Root");
    assert_eq!(attrs["severity"], "high");
    assert_eq!(attrs["rule_id"], "root-adjacent-login-failure");
    assert_eq!(attrs["account_id"], "111122223333");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_split_over_two_files_and_invocations_alerts_once() {
    let Stack { aws, rt, .. } = &stack(true).await;
    let d = "2024-05-01T";
    aws.put(
        "AWSLogs/1/CloudTrail/us-east-1/b.json.gz",
        gzip(&records(&[
            hidden_failure(4, &format!("{d}10:02:30Z")),
            hidden_failure(5, &format!("{d}10:03:55Z")),
            hidden_failure(2, &format!("{d}09:59:05Z")),
        ])),
    )
    .await;
    aws.put(
        "AWSLogs/1/CloudTrail/us-east-1/a.json.gz",
        gzip(&records(&[
            hidden_failure(1, &format!("{d}09:57:40Z")),
            hidden_failure(3, &format!("{d}10:01:10Z")),
            hidden_failure(2, &format!("{d}09:59:05Z")),
        ])),
    )
    .await;
    let r1 = rt
        .invoke(&s3_event(
            &aws.bucket,
            &["AWSLogs/1/CloudTrail/us-east-1/b.json.gz"],
        ))
        .unwrap();
    assert_eq!(r1["alerts_published"], 0, "{r1}");
    let r2 = rt
        .invoke(&s3_event(
            &aws.bucket,
            &["AWSLogs/1/CloudTrail/us-east-1/a.json.gz"],
        ))
        .unwrap();
    assert_eq!(r2["alerts_published"], 1, "{r2}");
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].0["rule_id"], "hidden-username-burst");
    assert_eq!(alerts[0].0["count"], 5, "the copy of event 2 counts once");
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_logs_with_a_malformed_message() {
    use base64::Engine;
    let Stack { aws, rt, .. } = &stack(false).await;
    let msg = json!({"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"trail","logStream":"s",
        "subscriptionFilters":["f"],"logEvents":[
            {"id":"1","timestamp":0,"message":"{not json"},
            {"id":"2","timestamp":0,"message":root_failure(9).to_string()}]});
    let data = base64::engine::general_purpose::STANDARD.encode(gzip(msg.to_string().as_bytes()));
    let r = rt
        .invoke(&json!({"awslogs":{"data":data}}))
        .expect("a malformed message does not fail the batch");
    assert_eq!(r["events"], 1, "{r}");
    assert_eq!(r["alerts_published"], 1, "{r}");
    assert_eq!(aws.alerts().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sns_failing_is_an_invocation_error_and_the_retry_delivers() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    let rt = Runtime::start();
    aws.put(KEY, gzip(&records(&[root_failure(3)]))).await;
    let event = s3_event(&aws.bucket, &[KEY]);
    {
        let missing = format!("{}-missing", aws.topic_arn);
        let _f = Function::start(
            &rt,
            &moto,
            &[("ALERT_TOPIC_ARN", &missing), ("STATE_TABLE", &aws.table)],
        );
        let err = rt
            .invoke(&event)
            .expect_err("publishing fails, so the invocation fails");
        assert!(err.to_string().contains("SNS"), "{err}");
    }
    assert!(aws.alerts().await.is_empty());
    // The claim was released: the retry (with SNS working again) publishes the alert.
    let rt2 = Runtime::start();
    let _f = Function::start(
        &rt2,
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &aws.topic_arn),
            ("STATE_TABLE", &aws.table),
        ],
    );
    assert_eq!(rt2.invoke(&event).unwrap()["alerts_published"], 1);
    assert_eq!(aws.alerts().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqs_batches_report_only_failed_items_and_unknown_payloads_are_dropped() {
    let Stack { aws, rt, .. } = &stack(true).await;
    aws.put(KEY, gzip(&records(&[root_failure(4)]))).await;
    let other = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/other.json.gz";
    aws.put(other, gzip(&records(&[root_failure(6)]))).await;
    let sns_wrapped =
        json!({"Type":"Notification","Message": s3_event(&aws.bucket, &[KEY]).to_string()});
    let batch = json!({"Records":[
        {"messageId":"ok","eventSource":"aws:sqs","body": sns_wrapped.to_string()},
        {"messageId":"gone","eventSource":"aws:sqs","body": s3_event("no-such-bucket", &["x.json.gz"]).to_string()},
        {"messageId":"garbage","eventSource":"aws:sqs","body": "not a notification"},
        {"messageId":"ok-2","eventSource":"aws:sqs","body": s3_event(&aws.bucket, &[other]).to_string()}]});
    let r = rt.invoke(&batch).unwrap();
    // A missing bucket is a wiring mistake, not bad input: that message is kept for a retry
    // (and the queue's alarmed dead-letter queue); a body nobody can read is dropped, not
    // retried; the two readable messages succeeded, each with its alert.
    assert_eq!(
        r["batchItemFailures"],
        json!([{"itemIdentifier": "gone"}]),
        "{r}"
    );
    let mut ids: Vec<String> = aws
        .alerts()
        .await
        .iter()
        .map(|(a, _)| a["event_ids"][0].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "10000000-0000-4000-8000-000000000004",
            "10000000-0000-4000-8000-000000000006"
        ]
    );
    let r = rt
        .invoke(&json!({"hello":"world"}))
        .expect("an unknown payload is dropped, not retried");
    assert!(r["ignored"]
        .as_str()
        .unwrap()
        .contains("unknown payload shape"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cold_start_reaches_the_runtime_api() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    let rt = Runtime::start();
    let f = Function::start(
        &rt,
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &aws.topic_arn),
            ("STATE_TABLE", &aws.table),
        ],
    );
    let polled = rt
        .first_poll(std::time::Duration::from_secs(30))
        .expect("the function polls for events");
    // Reported, not asserted: a timed test is no benchmark (this is a debug build).
    eprintln!(
        "cold start (process start to first poll, rules compiled): {:?}",
        polled - f.started
    );
}

/// The S3 body is streamed (gunzip and records as they arrive), so the function's memory
/// does not grow with the object: ~200 MB of records through a 256 MB function.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_object_streams_in_bounded_memory() {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    let Stack {
        aws, rt, function, ..
    } = &stack(true).await;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(b"{\"Records\":[").unwrap();
    let (mut written, mut n) = (0usize, 0u32);
    while written < 200 << 20 {
        let rec = json!({"eventVersion":"1.08","eventTime":trailwatch::event::format_time(1_714_550_000 + i64::from(n)),
            "eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1",
            "sourceIPAddress":format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255),
            "userIdentity":{"type":"AssumedRole","accountId":"111122223333","arn":format!("arn:aws:sts::111122223333:assumed-role/app/i-{n:08x}")},
            "requestParameters":{"bucketName":"data","key":format!("part-{n:012}.parquet")},
            "eventID":format!("40000000-0000-4000-8000-{n:012}"),"recipientAccountId":"111122223333"})
        .to_string();
        if n > 0 {
            gz.write_all(b",").unwrap();
        }
        gz.write_all(rec.as_bytes()).unwrap();
        written += rec.len() + 1;
        n += 1;
    }
    gz.write_all(b"]}").unwrap();
    let body = gz.finish().unwrap();
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/large.json.gz";
    aws.put(key, body.clone()).await;
    let r = rt.invoke(&s3_event(&aws.bucket, &[key])).unwrap();
    assert_eq!(r["events"], n, "{r}");
    let peak = function.peak_rss_mib().expect("/proc/<pid>/status");
    eprintln!(
        "LAMBDA RSS: {written} bytes ({} gzipped), {n} records streamed from S3; function peak RSS {peak:.1} MiB",
        body.len()
    );
    assert!(peak < 64.0, "peak RSS {peak:.1} MiB");
}

/// Two crossings of one threshold in the same fingerprint slot (a burst, then an earlier
/// one delivered after it in the same file) are one alert to SNS, not two pages.
#[tokio::test(flavor = "multi_thread")]
async fn one_fingerprint_twice_in_a_file_pages_once() {
    let Stack { aws, rt, .. } = &stack(true).await;
    let mut recs: Vec<serde_json::Value> = (0..5)
        .map(|i| hidden_failure(10 + i, &format!("2024-05-01T10:05:{:02}Z", 5 + 5 * i)))
        .collect();
    recs.extend(
        (0..5).map(|i| hidden_failure(20 + i, &format!("2024-05-01T10:00:{:02}Z", 5 + 5 * i))),
    );
    let key = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/two-crossings.json.gz";
    aws.put(key, gzip(&records(&recs))).await;
    let r = rt.invoke(&s3_event(&aws.bucket, &[key])).unwrap();
    assert_eq!(r["alerts_published"], 1, "{r}");
    assert_eq!(aws.alerts().await.len(), 1);
}

/// An alert SNS refuses for good (here: no such topic) keeps its SQS message for a retry
/// and then the queue's dead-letter queue; it is never dropped as a "bad message".
#[tokio::test(flavor = "multi_thread")]
async fn an_undeliverable_alert_keeps_its_sqs_message() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    let rt = Runtime::start();
    aws.put(KEY, gzip(&records(&[root_failure(5)]))).await;
    let missing = format!("{}-missing", aws.topic_arn);
    let _f = Function::start(
        &rt,
        &moto,
        &[("ALERT_TOPIC_ARN", &missing), ("STATE_TABLE", &aws.table)],
    );
    let batch = json!({"Records":[
        {"messageId":"m1","eventSource":"aws:sqs","body": s3_event(&aws.bucket, &[KEY]).to_string()}]});
    let r = rt.invoke(&batch).unwrap();
    assert_eq!(
        r["batchItemFailures"],
        json!([{"itemIdentifier": "m1"}]),
        "{r}"
    );
}

/// Lambda's on-failure destination record for `event` (what lands in the dead-letter queue
/// after the async retries are exhausted).
fn on_failure_record(event: &serde_json::Value) -> serde_json::Value {
    json!({"version":"1.0","timestamp":"2024-05-01T10:10:00.000Z",
        "requestContext":{"requestId":"req-failed","functionArn":"arn:aws:lambda:us-east-1:111122223333:function:trailwatch:$LATEST",
            "condition":"RetriesExhausted","approximateInvokeCount":3},
        "requestPayload": event,
        "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
        "responsePayload":{"errorType":"trailwatch.Retryable","errorMessage":"alert not delivered"}})
}

#[tokio::test(flavor = "multi_thread")]
async fn each_object_stands_on_its_own_and_dead_letters_redrive() {
    let Stack { aws, rt, .. } = &stack(true).await;
    let readable = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/readable.json.gz";
    aws.put(readable, gzip(&records(&[root_failure(21)]))).await;
    // One notification naming a readable object and one in a bucket that does not exist
    // (a wiring mistake): the readable one's alert is delivered, the invocation fails so
    // the other is retried.
    let mut event = s3_event(&aws.bucket, &[readable]);
    let mut missing = s3_event("no-such-bucket-here", &["AWSLogs/1/CloudTrail/x.json.gz"]);
    event["Records"]
        .as_array_mut()
        .unwrap()
        .push(missing["Records"][0].take());
    let err = rt
        .invoke(&event)
        .expect_err("the unreadable object fails the invocation");
    assert_eq!(err["errorType"], "trailwatch.Retryable", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no-such-bucket-here"),
        "{err}"
    );
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].0["event_ids"],
        json!(["10000000-0000-4000-8000-000000000021"])
    );

    // The dead-letter queue's record of an event, redriven to the function directly...
    let first = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/redrive-1.json.gz";
    aws.put(first, gzip(&records(&[root_failure(22)]))).await;
    let direct = rt
        .invoke(&on_failure_record(&s3_event(&aws.bucket, &[first])))
        .expect("an on-failure record is a payload like its event");
    assert_eq!(direct["alerts_published"], 1, "{direct}");
    // ... and as an SQS message from the dead-letter queue (the redrive mapping).
    let second = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/redrive-2.json.gz";
    aws.put(second, gzip(&records(&[root_failure(23)]))).await;
    let body = on_failure_record(&s3_event(&aws.bucket, &[second])).to_string();
    let sqs = json!({"Records":[{"messageId":"dlq-1","receiptHandle":"r","body":body,
        "attributes":{},"messageAttributes":{},"md5OfBody":"","eventSource":"aws:sqs",
        "eventSourceARN":"arn:aws:sqs:us-east-1:111122223333:trailwatch-dlq","awsRegion":"us-east-1"}]});
    let r = rt.invoke(&sqs).expect("the redrive batch succeeds");
    assert_eq!(r["batchItemFailures"], json!([]), "{r}");
    let ids: Vec<serde_json::Value> = aws
        .alerts()
        .await
        .into_iter()
        .map(|(a, _)| a["event_ids"][0].clone())
        .collect();
    // (alerts() takes what arrived since the last call)
    assert_eq!(ids.len(), 2, "{ids:?}");
    for n in [22, 23] {
        assert!(
            ids.contains(&json!(format!("10000000-0000-4000-8000-0000000000{n}"))),
            "{ids:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bare_cloudtrail_record_is_accepted() {
    let Stack { aws, rt, .. } = &stack(false).await;
    // What an EventBridge rule target with InputPath $.detail delivers.
    let r = rt
        .invoke(&root_failure(31))
        .expect("a bare record is a payload");
    assert_eq!(r["events"], 1, "{r}");
    assert_eq!(r["alerts_published"], 1, "{r}");
    assert_eq!(aws.alerts().await.len(), 1);
}

/// A cross-account AssumeRole from `caller` into 111122223333.
fn assume_from(caller: &str, id: u32) -> serde_json::Value {
    json!({"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"sts.amazonaws.com",
        "eventName":"AssumeRole","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1",
        "userIdentity":{"type":"IAMUser","arn":format!("arn:aws:iam::{caller}:user/ci"),"accountId":caller},
        "requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/deploy","roleSessionName":"ci"},
        "eventID":format!("20000000-0000-4000-8000-{id:012}"),"recipientAccountId":"111122223333"})
}

#[tokio::test(flavor = "multi_thread")]
async fn named_lists_come_from_s3_and_change_without_a_redeploy() {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    let rt = Runtime::start();
    // Thousands of trusted accounts: far beyond what environment variables can hold.
    let many: Vec<String> = (0..5000u64)
        .map(|i| format!("\"{:012}\"", 400_000_000_000 + i))
        .collect();
    // Account aliases come from the same file and name the accounts of the alerts.
    let lists = |extra: &str| {
        format!(
            "trusted_accounts: [{}{extra}]\naccount_aliases: [111122223333=prod-payments, 777788889999=ci]\n",
            many.join(", ")
        )
        .into_bytes()
    };
    aws.put("config/lists.yaml", lists(", \"777788889999\""))
        .await;
    let uri = format!("s3://{}/config/lists.yaml", aws.bucket);
    let _f = Function::start(
        &rt,
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &aws.topic_arn),
            ("STATE_TABLE", &aws.table),
            ("TRAILWATCH_LISTS_S3", &uri),
            ("TRAILWATCH_LISTS_REFRESH_SECONDS", "1"),
        ],
    );
    let r = rt.invoke(&assume_from("777788889999", 1)).unwrap();
    assert_eq!(r["alerts_published"], 0, "a trusted account: {r}");
    // The account leaves the list: the next invocation after the refresh interval alerts.
    aws.put("config/lists.yaml", lists("")).await;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let r = rt.invoke(&assume_from("777788889999", 2)).unwrap();
    assert_eq!(r["alerts_published"], 1, "no longer trusted: {r}");
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0].0;
    assert_eq!(a["account_alias"], "prod-payments", "{a}");
    assert_eq!(a["account_aliases"]["777788889999"], "ci", "{a}");
    // A broken lists file is refused and the lists in use are kept.
    aws.put("config/lists.yaml", b"trusted_accounts: [\n".to_vec())
        .await;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let r = rt.invoke(&assume_from("400000000007", 3)).unwrap();
    assert_eq!(
        r["alerts_published"], 0,
        "still trusted by the lists in use: {r}"
    );
}
