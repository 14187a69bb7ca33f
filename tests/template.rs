//! The SAM template check really expands the SAM resources: it passes on template.yaml and
//! fails on copies broken only in what SAM generates.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// The project's virtual environment (`make venv`) when there is one, else `python3`.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

fn cfn_lint(path: &Path) -> (i32, String) {
    let out = Command::new(python())
        .args([
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
        ])
        .arg(path)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect(
            "python3 with cfn-lint (`make venv` installs it into .venv from requirements-dev.txt)",
        );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap()
}

fn broken(from: &str, to: &str) -> (i32, String) {
    let t = template();
    assert_eq!(t.matches(from).count(), 1, "{from:?}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("template.yaml");
    std::fs::write(&p, t.replace(from, to)).unwrap();
    cfn_lint(&p)
}

#[test]
fn the_template_passes() {
    let (code, out) = cfn_lint(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/template.yaml"
    )));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_broken_generated_resource_fails() {
    // Only the AWS::Lambda::EventInvokeConfig that SAM generates limits retries to 2.
    let (code, out) = broken(
        "        MaximumRetryAttempts: 2",
        "        MaximumRetryAttempts: 7",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("E3034"), "{out}");
    // A policy statement lands in the generated AWS::IAM::Role.
    let (code, out) = broken(
        "- Sid: PublishAlerts\n              Effect: Allow",
        "- Sid: PublishAlerts\n              Effect: Alow",
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("'Alow' is not one of ['Allow', 'Deny']"),
        "{out}"
    );
}

#[test]
fn the_function_is_built_the_way_sam_expects() {
    let t = template();
    for needle in [
        "Runtime: provided.al2023",
        "Architectures: [arm64]",
        "BuildMethod: rust-cargolambda",
        "Binary: trailwatch-lambda",
        "FunctionResponseTypes: [ReportBatchItemFailures]",
        "AttributeName: expires_at",
    ] {
        assert!(t.contains(needle), "template.yaml lacks {needle}");
    }
}

/// template.yaml as JSON, decoded by cfn-lint (short-form tags become their long forms:
/// `!Ref X` → `{"Ref": "X"}`), for assertions on structure rather than on text.
fn decoded() -> Value {
    let out = Command::new(python())
        .args([
            "-c",
            "import json, sys; from cfnlint.decode import decode; \
             t, m = decode(sys.argv[1]); \
             t is not None or sys.exit(str(m)); print(json.dumps(t))",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .output()
        .expect("python3 with cfn-lint (`make venv`)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    t.pointer(&format!("/Resources/{name}"))
        .unwrap_or_else(|| panic!("template.yaml has no resource {name}"))
}

fn prop<'a>(t: &'a Value, name: &str, path: &str) -> &'a Value {
    resource(t, name)
        .pointer(&format!("/Properties/{path}"))
        .unwrap_or_else(|| panic!("{name} has no {path}"))
}

fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

fn no_value_unless(condition: &str, value: Value) -> Value {
    json!({ "Fn::If": [condition, value, { "Ref": "AWS::NoValue" }] })
}

/// The statements of the function's policies that exist under `condition` (None: always).
fn function_statements<'a>(t: &'a Value, condition: Option<&str>) -> Vec<&'a Value> {
    let mut found = Vec::new();
    for policy in prop(t, "Function", "Policies").as_array().unwrap() {
        let statements = match (policy.get("Fn::If"), condition) {
            (Some(branches), Some(c)) if branches[0] == c => &branches[1]["Statement"],
            (None, None) => &policy["Statement"],
            _ => continue,
        };
        found.extend(statements.as_array().unwrap());
    }
    found
}

fn statement<'a>(t: &'a Value, condition: Option<&str>, sid: &str) -> &'a Value {
    function_statements(t, condition)
        .into_iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("the function's policies lack statement {sid}"))
}

#[test]
fn the_new_parameters_have_their_defaults_and_bounds() {
    let t = decoded();
    let p = |name: &str| {
        t.pointer(&format!("/Parameters/{name}"))
            .unwrap_or_else(|| panic!("no parameter {name}"))
            .clone()
    };
    let reserved = p("ReservedConcurrency");
    assert_eq!(reserved["Type"], "Number");
    assert_eq!(reserved["Default"], 0);
    let queue = p("QueueMaximumConcurrency");
    assert_eq!(
        (
            &queue["Type"],
            &queue["Default"],
            &queue["MinValue"],
            &queue["MaxValue"]
        ),
        (&json!("Number"), &json!(5), &json!(2), &json!(1000))
    );
    let retention = p("LogRetentionDays");
    assert_eq!(retention["Default"], 90);
    // Exactly the values CloudWatch Logs accepts for RetentionInDays.
    assert_eq!(
        retention["AllowedValues"],
        json!([
            1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
            2922, 3288, 3653
        ])
    );
    let lists = p("ListsS3Uri");
    assert_eq!(lists["Default"], "");
    assert!(lists["AllowedPattern"].as_str().unwrap().contains("s3://"));
    let lag = p("DeliveryLagMinutes");
    assert_eq!(
        (&lag["Type"], &lag["Default"]),
        (&json!("Number"), &json!(30))
    );

    // Reserved concurrency only when > 0 (the parameter's MinValue is 0).
    assert_eq!(reserved["MinValue"], 0);
    assert_eq!(
        t.pointer("/Conditions/HasReservedConcurrency").unwrap(),
        &json!({ "Fn::Not": [{ "Fn::Equals": [reference("ReservedConcurrency"), "0"] }] })
    );
    assert_eq!(
        prop(&t, "Function", "ReservedConcurrentExecutions"),
        &no_value_unless("HasReservedConcurrency", reference("ReservedConcurrency"))
    );
    assert_eq!(
        prop(&t, "TrailQueueMapping", "ScalingConfig"),
        &json!({ "MaximumConcurrency": reference("QueueMaximumConcurrency") })
    );
}

#[test]
fn the_lists_object_is_passed_and_readable_and_nothing_else() {
    let t = decoded();
    assert_eq!(
        prop(&t, "Function", "Environment/Variables/TRAILWATCH_LISTS_S3"),
        &no_value_unless("HasLists", reference("ListsS3Uri"))
    );
    let read = statement(&t, Some("HasLists"), "ReadLists");
    assert_eq!(read["Action"], "s3:GetObject");
    let sub = read["Resource"]["Fn::Sub"].as_array().unwrap();
    assert_eq!(sub[0], "arn:${AWS::Partition}:s3:::${Object}");
    assert_eq!(
        sub[1]["Object"],
        json!({ "Fn::Select": [1, { "Fn::Split": ["s3://", { "Fn::Sub": "${ListsS3Uri}s3://" }] }] })
    );
    // What that Select/Split yields (CloudFormation's Split keeps empty strings, as Rust's).
    let object = |uri: &str| {
        format!("{uri}s3://")
            .split("s3://")
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(
        object("s3://lists-bucket/trailwatch/lists.yaml"),
        "lists-bucket/trailwatch/lists.yaml"
    );
    assert_eq!(object(""), "", "in range when the parameter is empty");
}

#[test]
fn the_function_logs_to_its_own_group_with_a_retention() {
    let t = decoded();
    assert_eq!(
        resource(&t, "FunctionLogGroup")["Type"],
        "AWS::Logs::LogGroup"
    );
    assert_eq!(
        prop(&t, "FunctionLogGroup", "RetentionInDays"),
        &reference("LogRetentionDays")
    );
    let logging = prop(&t, "Function", "LoggingConfig");
    assert_eq!(logging["LogGroup"], reference("FunctionLogGroup"));
    assert_eq!(logging["LogFormat"], "JSON");
}

#[test]
fn stateful_resources_are_retained() {
    let t = decoded();
    let named = [
        "TopicKey",
        "StateTable",
        "DeadLetterQueue",
        "TrailQueueDeadLetters",
        "TrailQueue",
        "FunctionLogGroup",
    ];
    let kinds = [
        "AWS::KMS::Key",
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::Logs::LogGroup",
    ];
    let mut checked = 0;
    for (name, r) in t["Resources"].as_object().unwrap() {
        if named.contains(&name.as_str()) || kinds.contains(&r["Type"].as_str().unwrap()) {
            assert_eq!(r["DeletionPolicy"], "Retain", "{name}");
            assert_eq!(r["UpdateReplacePolicy"], "Retain", "{name}");
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        named.len(),
        "a kept resource type is missing a name here"
    );
}

#[test]
fn queue_retention_is_coherent() {
    let t = decoded();
    let retention = |q: &str| {
        prop(&t, q, "MessageRetentionPeriod")
            .as_u64()
            .unwrap_or_else(|| panic!("{q}: retention must be explicit"))
    };
    // 14 days, the SQS maximum, for both dead-letter queues.
    assert_eq!(retention("DeadLetterQueue"), 14 * 86400);
    assert_eq!(retention("TrailQueueDeadLetters"), 14 * 86400);
    // A message keeps its enqueue time when SQS moves it: the source must keep less.
    assert!(retention("TrailQueue") < retention("TrailQueueDeadLetters"));
    assert_eq!(
        prop(&t, "TrailQueue", "RedrivePolicy/deadLetterTargetArn"),
        &json!({ "Fn::GetAtt": ["TrailQueueDeadLetters", "Arn"] })
    );
}

#[test]
fn chatbot_is_fenced_in() {
    let t = decoded();
    assert_eq!(
        prop(&t, "SlackChannel", "GuardrailPolicies"),
        &json!([{ "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll" }])
    );
    let trust = prop(&t, "ChatbotRole", "AssumeRolePolicyDocument/Statement")
        .as_array()
        .unwrap();
    assert!(!trust.is_empty());
    for s in trust {
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:SourceAccount"],
            reference("AWS::AccountId"),
            "{s}"
        );
    }
}

/// Every `.rs` file under `dir`, concatenated.
fn rust_sources(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all += &rust_sources(&path);
        } else if path.extension().is_some_and(|e| e == "rs") {
            all += &std::fs::read_to_string(&path).unwrap();
        }
    }
    all
}

/// Namespace, metric, dimensions, statistic, comparison and threshold of an alarm.
fn alarm(t: &Value, name: &str) -> (String, String, Value, String, String, Value) {
    let p = &resource(t, name)["Properties"];
    assert_eq!(p["AlarmActions"], json!([reference("OpsTopic")]), "{name}");
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        s(&p["Namespace"]),
        s(&p["MetricName"]),
        p["Dimensions"].clone(),
        s(&p["Statistic"]),
        s(&p["ComparisonOperator"]),
        p["Threshold"].clone(),
    )
}

#[test]
fn every_alarm_watches_what_it_says() {
    let t = decoded();
    let function = json!([{ "Name": "FunctionName", "Value": reference("Function") }]);
    let queue =
        |q: &str| json!([{ "Name": "QueueName", "Value": { "Fn::GetAtt": [q, "QueueName"] } }]);
    let s = String::from;
    for (name, expected) in [
        (
            "TrailQueueDeadLettersAlarm",
            (
                s("AWS/SQS"),
                s("ApproximateNumberOfMessagesVisible"),
                queue("TrailQueueDeadLetters"),
                s("Maximum"),
                s("GreaterThanOrEqualToThreshold"),
                json!(1),
            ),
        ),
        (
            "FailedBatchItemsAlarm",
            (
                s("trailwatch"),
                s("FailedBatchItems"),
                function.clone(),
                s("Sum"),
                s("GreaterThanThreshold"),
                json!(0),
            ),
        ),
        (
            "ThrottlesAlarm",
            (
                s("AWS/Lambda"),
                s("Throttles"),
                function.clone(),
                s("Sum"),
                s("GreaterThanThreshold"),
                json!(0),
            ),
        ),
        (
            "BadInputsAlarm",
            (
                s("trailwatch"),
                s("BadInputs"),
                function.clone(),
                s("Sum"),
                s("GreaterThanThreshold"),
                json!(0),
            ),
        ),
        // The alarms that were there before.
        (
            "ErrorsAlarm",
            (
                s("AWS/Lambda"),
                s("Errors"),
                function.clone(),
                s("Sum"),
                s("GreaterThanOrEqualToThreshold"),
                json!(1),
            ),
        ),
        (
            "DeadLetterAlarm",
            (
                s("AWS/SQS"),
                s("ApproximateNumberOfMessagesVisible"),
                queue("DeadLetterQueue"),
                s("Maximum"),
                s("GreaterThanOrEqualToThreshold"),
                json!(1),
            ),
        ),
        (
            "NoEventsAlarm",
            (
                s("trailwatch"),
                s("EventsEvaluated"),
                function.clone(),
                s("Sum"),
                s("LessThanThreshold"),
                json!(1),
            ),
        ),
    ] {
        assert_eq!(alarm(&t, name), expected, "{name}");
    }
    assert_eq!(
        resource(&t, "TrailQueueDeadLettersAlarm")["Condition"],
        "HasTrailTopic"
    );

    // DeliveryLag's Maximum, in minutes by metric math, above DeliveryLagMinutes.
    let lag = &resource(&t, "DeliveryLagAlarm")["Properties"];
    assert_eq!(lag["AlarmActions"], json!([reference("OpsTopic")]));
    let metrics = lag["Metrics"].as_array().unwrap();
    let stat = metrics
        .iter()
        .find(|m| m.get("MetricStat").is_some())
        .unwrap();
    assert_eq!(
        stat["MetricStat"]["Metric"],
        json!({ "Namespace": "trailwatch", "MetricName": "DeliveryLag", "Dimensions": function })
    );
    assert_eq!(stat["MetricStat"]["Stat"], "Maximum");
    let expression = metrics.iter().find(|m| m["ReturnData"] == true).unwrap();
    assert_eq!(
        expression["Expression"],
        format!("{} / 60", stat["Id"].as_str().unwrap())
    );
    assert_eq!(lag["Threshold"], reference("DeliveryLagMinutes"));
    assert_eq!(lag["ComparisonOperator"], "GreaterThanThreshold");

    // Every alarm goes to the operations topic, and every trailwatch metric is one the
    // function writes, in the namespace and with the one dimension metrics.rs gives it.
    let metrics_rs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/lambda/src/metrics.rs"
    ))
    .unwrap();
    assert!(metrics_rs.contains(r#""Namespace": "trailwatch""#));
    assert!(metrics_rs.contains(r#""Dimensions": [["FunctionName"]]"#));
    // The function's sources (metric names are string literals where it emits them).
    let sources = rust_sources(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/lambda/src"
    )));
    let mut alarms = 0;
    for (name, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        alarms += 1;
        let p = &r["Properties"];
        assert_eq!(p["AlarmActions"], json!([reference("OpsTopic")]), "{name}");
        let metric = p.get("MetricName").map_or_else(
            || {
                p["Metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find_map(|m| m.pointer("/MetricStat/Metric"))
                    .unwrap()
                    .clone()
            },
            |_| p.clone(),
        );
        if metric["Namespace"] == "trailwatch" {
            assert_eq!(metric["Dimensions"], function, "{name}");
            let emitted = format!("(\"{}\",", metric["MetricName"].as_str().unwrap());
            assert!(
                sources.contains(&emitted),
                "{name}: the function never emits {emitted}"
            );
        }
    }
    assert_eq!(alarms, 8);
}

#[test]
fn the_on_failure_queue_has_a_disabled_redrive() {
    let t = decoded();
    let m = resource(&t, "RedriveMapping");
    assert_eq!(m["Type"], "AWS::Lambda::EventSourceMapping");
    assert!(m.get("Condition").is_none());
    let p = &m["Properties"];
    assert_eq!(p["Enabled"], false);
    assert_eq!(
        p["EventSourceArn"],
        json!({ "Fn::GetAtt": ["DeadLetterQueue", "Arn"] })
    );
    assert_eq!(p["FunctionName"], reference("Function"));
    assert_eq!(
        p["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert!(p["BatchSize"].as_u64().unwrap() <= 5, "a small batch");
    // The on-failure destination is that same queue.
    assert_eq!(
        prop(
            &t,
            "Function",
            "EventInvokeConfig/DestinationConfig/OnFailure/Destination"
        ),
        &p["EventSourceArn"]
    );
    // What Lambda needs to poll it, on that queue only.
    let grant = statement(&t, None, "RedriveDeadLetters");
    assert_eq!(
        grant["Action"],
        json!([
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes"
        ])
    );
    assert_eq!(grant["Resource"], p["EventSourceArn"]);
    // Lambda refuses an SQS source whose visibility timeout is below the function's timeout.
    let timeout = prop(&t, "Function", "Timeout").as_u64().unwrap();
    for q in ["DeadLetterQueue", "TrailQueue"] {
        assert!(
            prop(&t, q, "VisibilityTimeout").as_u64().unwrap() >= timeout,
            "{q}"
        );
    }
    // `make redrive` finds the mapping by this output.
    assert_eq!(
        t.pointer("/Outputs/RedriveMappingId/Value").unwrap(),
        &reference("RedriveMapping")
    );
    let makefile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Makefile")).unwrap();
    for needle in [
        "\nredrive:",
        "output RedriveMappingId",
        "OutputKey=='$$1'",
        "update-event-source-mapping",
        "--enabled",
        "--no-enabled",
    ] {
        assert!(makefile.contains(needle), "Makefile lacks {needle}");
    }
}

#[test]
fn broken_additions_fail() {
    // The redrive mapping's concurrency below the SQS minimum of 2.
    let (code, out) = broken(
        "        MaximumConcurrency: 2\n",
        "        MaximumConcurrency: 1\n",
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("E3034") && out.contains("1 is less than the minimum of 2"),
        "{out}"
    );
    // A retention CloudWatch Logs does not offer, reaching the log group through the parameter.
    let (code, out) = broken("AllowedValues: [1, 3, 5,", "AllowedValues: [2, 3, 5,");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("W1030") && out.contains("LogRetentionDays"),
        "{out}"
    );
    // A queue concurrency the event source mapping cannot take.
    let (code, out) = broken("    MaxValue: 1000\n", "    MaxValue: 1001\n");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("QueueMaximumConcurrency"), "{out}");
    // The redrive mapping left without a boolean Enabled.
    let (code, out) = broken("      Enabled: false\n", "      Enabled: later\n");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("E3012"), "{out}");
}
