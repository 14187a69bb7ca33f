//! What a Lambda invocation asks for, read from its payload: S3 objects to read (from S3
//! event notifications, the same wrapped in SNS or SQS, a trail's own SNS notification,
//! or EventBridge "Object Created"), or CloudTrail data carried inline (CloudWatch Logs
//! subscriptions, EventBridge "… via CloudTrail" events). Pure: no AWS calls here.

use serde_json::Value;

/// An S3 object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bucket: String,
    /// Decoded key (S3 notifications URL-encode keys; EventBridge and CloudTrail do not).
    pub key: String,
}

impl Object {
    /// Why this object is not a CloudTrail log file, if it is not one.
    pub fn skip_reason(&self) -> Option<&'static str> {
        let k = &self.key;
        if k.ends_with('/') {
            Some("folder marker")
        } else if k.contains("/CloudTrail-Digest/") {
            Some("CloudTrail digest file")
        } else if k.contains("/CloudTrail-Insight/") {
            Some("CloudTrail Insights file (insight events are not API activity)")
        } else if k.contains("ConfigWritabilityCheckFile") {
            Some("AWS Config writability check")
        } else {
            None
        }
    }
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Object(Object),
    /// CloudTrail data in the payload itself, for `source::decode`.
    Inline(Vec<u8>),
    /// A notification that carries nothing to read (e.g. `s3:TestEvent`).
    Nothing(&'static str),
}

/// A parsed invocation payload.
#[derive(Debug, PartialEq)]
pub enum Payload {
    /// Work from a direct trigger (S3, SNS, EventBridge, CloudWatch Logs).
    Direct(Vec<Work>),
    /// SQS messages, each with its `messageId` and its work (or why it is unreadable);
    /// answered with `batchItemFailures`.
    Sqs(Vec<(String, Result<Vec<Work>, String>)>),
    /// The schedule (an EventBridge "Scheduled Event"): send the follow-ups due by its
    /// `time` (Unix seconds; `None` when absent: the clock decides).
    Schedule { time: Option<i64> },
}

/// Reads a Lambda payload. An error means the payload shape is unknown or broken:
/// retrying cannot help.
pub fn parse(payload: &[u8]) -> Result<Payload, String> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        if records
            .iter()
            .any(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        {
            let msgs = records
                .iter()
                .map(|r| {
                    let id = r
                        .get("messageId")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let work = r
                        .get("body")
                        .and_then(Value::as_str)
                        .ok_or_else(|| "SQS message without a body".to_string())
                        .and_then(|body| {
                            let inner: Value = serde_json::from_str(body)
                                .map_err(|e| format!("SQS body is not JSON: {e}"))?;
                            work_of(&inner, body.as_bytes())
                        });
                    (id, work)
                })
                .collect();
            return Ok(Payload::Sqs(msgs));
        }
    }
    if v.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        && v.get("source").and_then(Value::as_str) == Some("aws.events")
    {
        let time = v
            .get("time")
            .and_then(Value::as_str)
            .and_then(crate::event::parse_time);
        return Ok(Payload::Schedule { time });
    }
    work_of(&v, payload).map(Payload::Direct)
}

/// Whether `v` looks like one CloudTrail record.
fn is_record(v: &Value) -> bool {
    ["eventVersion", "eventName", "eventSource"]
        .iter()
        .all(|k| v.get(k).is_some_and(Value::is_string))
        && (v.get("userIdentity").is_some() || v.get("eventTime").is_some())
        && v.get("s3").is_none()
}

/// The work a (possibly wrapped) notification asks for.
fn work_of(v: &Value, raw: &[u8]) -> Result<Vec<Work>, String> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    // Lambda's on-failure destination record (or a dead-letter queue's copy of it): the
    // original event, redriven after its retries were exhausted.
    if let (Some(ctx), Some(original)) = (v.get("requestContext"), v.get("requestPayload")) {
        if ctx.get("functionArn").is_some() || ctx.get("condition").is_some() {
            let raw = serde_json::to_vec(original).map_err(|e| e.to_string())?;
            return work_of(original, &raw);
        }
    }
    // One bare CloudTrail record: what an EventBridge target with InputPath $.detail sends.
    if is_record(v) {
        return Ok(vec![Work::Inline(raw.to_vec())]);
    }
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        let mut out = Vec::new();
        for r in records {
            if let Some(s3) = r.get("s3") {
                let bucket = s3.get("bucket").and_then(|b| s(b, "name"));
                let key = s3.get("object").and_then(|o| s(o, "key"));
                match (bucket, key) {
                    (Some(bucket), Some(key)) => out.push(Work::Object(Object {
                        bucket,
                        key: url_decode(&key)?,
                    })),
                    _ => {
                        return Err(
                            "S3 notification record without bucket name or object key".into()
                        )
                    }
                }
            } else if let Some(sns) = r.get("Sns") {
                let msg = s(sns, "Message").ok_or("SNS record without a Message")?;
                let inner: Value = serde_json::from_str(&msg)
                    .map_err(|e| format!("SNS message is not JSON: {e}"))?;
                out.extend(work_of(&inner, msg.as_bytes())?);
            } else if is_record(r) {
                // A CloudTrail Records document passed directly.
                return Ok(vec![Work::Inline(raw.to_vec())]);
            } else {
                return Err("a Records entry that is neither an S3 nor an SNS notification".into());
            }
        }
        return Ok(out);
    }
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        // An SNS envelope delivered to SQS without raw message delivery.
        let msg = s(v, "Message").ok_or("SNS notification without a Message")?;
        let inner: Value =
            serde_json::from_str(&msg).map_err(|e| format!("SNS message is not JSON: {e}"))?;
        return work_of(&inner, msg.as_bytes());
    }
    if let (Some(bucket), Some(keys)) = (
        s(v, "s3Bucket"),
        v.get("s3ObjectKey").and_then(Value::as_array),
    ) {
        // A trail's own SNS notification: keys are not URL-encoded.
        return Ok(keys
            .iter()
            .filter_map(Value::as_str)
            .map(|k| {
                Work::Object(Object {
                    bucket: bucket.clone(),
                    key: k.to_string(),
                })
            })
            .collect());
    }
    if s(v, "Event").as_deref() == Some("s3:TestEvent") {
        return Ok(vec![Work::Nothing("s3:TestEvent")]);
    }
    if v.get("awslogs").is_some() || v.get("messageType").is_some() {
        return Ok(vec![Work::Inline(raw.to_vec())]);
    }
    if let Some(dt) = s(v, "detail-type") {
        if dt == "Object Created" && s(v, "source").as_deref() == Some("aws.s3") {
            let d = v.get("detail");
            let bucket = d.and_then(|d| d.get("bucket")).and_then(|b| s(b, "name"));
            let key = d.and_then(|d| d.get("object")).and_then(|o| s(o, "key"));
            return match (bucket, key) {
                (Some(bucket), Some(key)) => Ok(vec![Work::Object(Object { bucket, key })]),
                _ => {
                    Err("EventBridge Object Created event without bucket name or object key".into())
                }
            };
        }
        if v.get("detail").is_some_and(Value::is_object) {
            return Ok(vec![Work::Inline(raw.to_vec())]);
        }
    }
    let mut keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(6).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    Err(format!(
        "unknown payload shape (keys: [{}])",
        keys.join(", ")
    ))
}

/// Decodes an S3 notification key: `+` is a space, `%XX` a byte.
pub fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .ok_or_else(|| format!("bad escape in key '{s}'"))?;
                out.push(
                    u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape in key '{s}'"))?,
                );
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("key '{s}' decodes to invalid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(b: &str, k: &str) -> Work {
        Work::Object(Object {
            bucket: b.into(),
            key: k.into(),
        })
    }

    /// Each shape is recognised by all of its marks, not by one of them: a look-alike
    /// from another source is not taken for it.
    #[test]
    fn look_alikes_are_not_taken_for_the_real_thing() {
        let parse_v = |v: Value| parse(v.to_string().as_bytes());
        // A schedule is EventBridge's, not any app's "Scheduled Event".
        let tick = parse_v(
            json!({"detail-type":"Scheduled Event","source":"my.app","time":"2024-05-01T00:00:00Z"}),
        );
        assert!(!matches!(tick, Ok(Payload::Schedule { .. })), "{tick:?}");
        // "Object Created" is S3's only from aws.s3.
        let created = parse_v(json!({"detail-type":"Object Created","source":"my.app",
            "detail":{"bucket":{"name":"b"},"object":{"key":"k.json.gz"}}}));
        assert!(
            !matches!(&created, Ok(Payload::Direct(w)) if w.contains(&obj("b", "k.json.gz"))),
            "{created:?}"
        );
        // A CloudTrail record has eventVersion, eventName and eventSource as strings and a
        // userIdentity or an eventTime: either will do, neither will not.
        let record = |extra: Value| {
            let mut r = json!({"eventVersion":"1.08","eventName":"GetObject","eventSource":"s3.amazonaws.com"});
            r.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            r
        };
        for extra in [
            json!({"eventTime":"2024-05-01T00:00:00Z"}),
            json!({"userIdentity":{"type":"Root"}}),
        ] {
            let r = record(extra);
            assert_eq!(
                parse_v(r.clone()),
                Ok(Payload::Direct(vec![Work::Inline(
                    r.to_string().into_bytes()
                )]))
            );
        }
        assert!(
            !matches!(parse_v(record(json!({}))), Ok(Payload::Direct(w)) if matches!(w[..], [Work::Inline(_)]))
        );
        let no_name = json!({"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventTime":"2024-05-01T00:00:00Z","userIdentity":{}});
        assert!(
            !matches!(parse_v(no_name), Ok(Payload::Direct(w)) if matches!(w[..], [Work::Inline(_)]))
        );
    }

    /// A destination record is unwrapped whether it names the function or only the
    /// condition that sent it (a dead-letter copy may keep either).
    #[test]
    fn a_destination_record_with_only_its_condition_is_unwrapped() {
        let original = s3_notification("k/f.json.gz");
        for ctx in [
            json!({"condition":"RetriesExhausted"}),
            json!({"functionArn":"arn:aws:lambda:us-east-1:1:function:tw"}),
        ] {
            let v = json!({"requestContext": ctx, "requestPayload": original});
            assert_eq!(
                parse(v.to_string().as_bytes()),
                Ok(Payload::Direct(vec![obj("trail", "k/f.json.gz")]))
            );
        }
    }

    fn s3_notification(key: &str) -> Value {
        json!({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"trail"},"object":{"key":key,"size":10}}}]})
    }

    #[test]
    fn s3_notifications_decode_keys() {
        let p = parse(
            s3_notification("AWSLogs/1/CloudTrail/us-east-1/2024/05/01/a+b%3Ac.json.gz")
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            p,
            Payload::Direct(vec![obj(
                "trail",
                "AWSLogs/1/CloudTrail/us-east-1/2024/05/01/a b:c.json.gz"
            )])
        );
        assert!(url_decode("%zz").is_err());
        assert!(url_decode("%+1").is_err(), "a sign is not a hex digit");
    }

    #[test]
    fn wrapped_in_sns_and_sqs() {
        let inner = s3_notification("k%2Fx.json.gz").to_string();
        let sns = json!({"Records":[{"EventSource":"aws:sns","Sns":{"Type":"Notification","Message":inner}}]});
        assert_eq!(
            parse(sns.to_string().as_bytes()).unwrap(),
            Payload::Direct(vec![obj("trail", "k/x.json.gz")])
        );

        let envelope = json!({"Type":"Notification","Message": json!({"s3Bucket":"b","s3ObjectKey":["AWSLogs/x.json.gz"]}).to_string()});
        let sqs = json!({"Records":[
            {"messageId":"m1","eventSource":"aws:sqs","body": envelope.to_string()},
            {"messageId":"m2","eventSource":"aws:sqs","body": "not json"},
            {"messageId":"m3","eventSource":"aws:sqs","body": json!({"Service":"Amazon S3","Event":"s3:TestEvent"}).to_string()}]});
        match parse(sqs.to_string().as_bytes()).unwrap() {
            Payload::Sqs(msgs) => {
                assert_eq!(
                    msgs[0],
                    ("m1".to_string(), Ok(vec![obj("b", "AWSLogs/x.json.gz")]))
                );
                assert!(msgs[1].1.is_err());
                assert_eq!(msgs[2].1, Ok(vec![Work::Nothing("s3:TestEvent")]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn eventbridge_and_logs() {
        let created = json!({"detail-type":"Object Created","source":"aws.s3",
            "detail":{"bucket":{"name":"b"},"object":{"key":"raw/2023-08-08T14:03:40.json.gz"}}});
        assert_eq!(
            parse(created.to_string().as_bytes()).unwrap(),
            Payload::Direct(vec![obj("b", "raw/2023-08-08T14:03:40.json.gz")])
        );
        let api = json!({"detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":{"eventVersion":"1.08","eventName":"CreateUser"}}).to_string();
        assert_eq!(
            parse(api.as_bytes()).unwrap(),
            Payload::Direct(vec![Work::Inline(api.clone().into_bytes())])
        );
        let logs = json!({"awslogs":{"data":"H4sI"}}).to_string();
        assert_eq!(
            parse(logs.as_bytes()).unwrap(),
            Payload::Direct(vec![Work::Inline(logs.clone().into_bytes())])
        );
        assert!(parse(br#"{"hello":"world"}"#)
            .unwrap_err()
            .contains("unknown payload shape"));
        assert!(parse(b"[").is_err());
    }

    #[test]
    fn on_failure_records_and_bare_records() {
        let original = s3_notification("AWSLogs/1/CloudTrail/us-east-1/2024/05/01/f.json.gz");
        let on_failure = json!({"version":"1.0","timestamp":"2024-05-01T10:00:00.000Z",
            "requestContext":{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:1:function:tw:$LATEST",
                "condition":"RetriesExhausted","approximateInvokeCount":3},
            "requestPayload": original,
            "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
            "responsePayload":{"errorType":"trailwatch.Retryable","errorMessage":"alert not delivered"}});
        let want = vec![obj(
            "trail",
            "AWSLogs/1/CloudTrail/us-east-1/2024/05/01/f.json.gz",
        )];
        assert_eq!(
            parse(on_failure.to_string().as_bytes()).unwrap(),
            Payload::Direct(want.clone())
        );
        // The same record as the body of an SQS message from the dead-letter queue.
        let sqs = json!({"Records":[{"messageId":"m-1","eventSource":"aws:sqs","body":on_failure.to_string()}]});
        assert_eq!(
            parse(sqs.to_string().as_bytes()).unwrap(),
            Payload::Sqs(vec![("m-1".into(), Ok(want))])
        );
        // A bare CloudTrail record (EventBridge target with InputPath $.detail).
        let bare = json!({"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"signin.amazonaws.com",
            "eventName":"ConsoleLogin","userIdentity":{"type":"Root"}});
        let raw = bare.to_string();
        assert_eq!(
            parse(raw.as_bytes()).unwrap(),
            Payload::Direct(vec![Work::Inline(raw.into_bytes())])
        );
    }

    #[test]
    fn skips_what_is_not_a_log_file() {
        let o = |k: &str| Object {
            bucket: "b".into(),
            key: k.into(),
        };
        assert!(o("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/x.json.gz")
            .skip_reason()
            .is_some());
        assert!(o("AWSLogs/1/CloudTrail-Insight/us-east-1/2024/x.json.gz")
            .skip_reason()
            .is_some());
        assert!(o("AWSLogs/1/CloudTrail/").skip_reason().is_some());
        assert!(o("AWSLogs/ConfigWritabilityCheckFile")
            .skip_reason()
            .is_some());
        assert!(o("AWSLogs/1/CloudTrail/us-east-1/2024/05/01/x.json.gz")
            .skip_reason()
            .is_none());
    }

    #[test]
    fn the_schedule_is_its_own_payload() {
        let tick = json!({"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events",
            "account":"111122223333","time":"2024-05-01T10:05:00Z","region":"us-east-1",
            "resources":["arn:aws:events:us-east-1:111122223333:rule/follow-ups"],"detail":{}});
        assert!(matches!(
            parse(tick.to_string().as_bytes()),
            Ok(Payload::Schedule {
                time: Some(1_714_557_900)
            })
        ));
    }
}
