//! `trailwatch scan` end to end: one state across inputs, exit codes, skipping, errors.

mod common;
use common::*;
use serde_json::json;

#[test]
fn burst_split_over_two_files_out_of_order_alerts_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = "2024-05-01T";
    // Five failures 09:57–10:04 straddle 10:00; the later file is read first.
    let late = records(&[
        hidden_failure(5, &format!("{d}10:03:55Z"), "123456789012", "198.51.100.1"),
        hidden_failure(2, &format!("{d}09:59:05Z"), "123456789012", "203.0.113.9"),
        hidden_failure(4, &format!("{d}10:02:30Z"), "123456789012", "198.51.100.1"),
    ]);
    let early = records(&[
        hidden_failure(3, &format!("{d}10:01:10Z"), "123456789012", "203.0.113.9"),
        hidden_failure(1, &format!("{d}09:57:40Z"), "123456789012", "203.0.113.9"),
    ]);
    let a = write(dir.path(), "a.json.gz", &gzip(&late));
    let b = write(dir.path(), "b.json", &early);
    let run = trailwatch(&["scan", &a, &b], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let alerts = run.alerts();
    assert_eq!(alerts.len(), 1, "{}", run.stdout);
    let alert = &alerts[0];
    assert_eq!(alert["rule_id"], "hidden-username-burst");
    assert_eq!(alert["count"], 5);
    assert_eq!(alert["account_id"], "123456789012");
    assert_eq!(alert["first_seen"], "2024-05-01T09:57:40Z");
    assert_eq!(alert["last_seen"], "2024-05-01T10:03:55Z");
    assert_eq!(alert["source_ips"], json!(["198.51.100.1", "203.0.113.9"]));
    assert_eq!(alert["group"], json!({"account_id": "123456789012"}));
    assert_eq!(alert["event_ids"].as_array().unwrap().len(), 5);
    assert!(
        !run.stdout.contains("HIDDEN_DUE_TO_SECURITY_REASONS is"),
        "no guessing"
    );
    // The same inputs in the other order give the same alert and fingerprint.
    let again = trailwatch(&["scan", &b, &a], None);
    assert_eq!(again.alerts()[0]["fingerprint"], alert["fingerprint"]);
}

#[test]
fn four_and_four_eleven_minutes_apart_do_not_alert() {
    let dir = tempfile::tempdir().unwrap();
    let times = ["10:00:00", "10:00:40", "10:01:20", "10:02:00"];
    let first: Vec<_> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            hidden_failure(
                i as u32,
                &format!("2024-05-01T{t}Z"),
                "123456789012",
                "192.0.2.9",
            )
        })
        .collect();
    let later = ["10:13:01", "10:13:30", "10:14:00", "10:14:30"];
    let second: Vec<_> = later
        .iter()
        .enumerate()
        .map(|(i, t)| {
            hidden_failure(
                10 + i as u32,
                &format!("2024-05-01T{t}Z"),
                "123456789012",
                "192.0.2.9",
            )
        })
        .collect();
    let a = write(dir.path(), "a.json", &records(&second));
    let b = write(dir.path(), "b.json", &records(&first));
    let run = trailwatch(&["scan", &a, &b], None);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn a_copy_in_another_file_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let ev = root_failure(1, "2024-05-01T10:00:00Z");
    let a = write(
        dir.path(),
        "us-east-1.json",
        &records(std::slice::from_ref(&ev)),
    );
    let b = write(dir.path(), "eu-west-1.json.gz", &gzip(&records(&[ev])));
    let run = trailwatch(&["scan", &a, &b], None);
    assert_eq!(run.code, 1);
    assert_eq!(run.alerts().len(), 1);
    assert!(
        run.stderr.contains("2 events, 1 duplicates"),
        "{}",
        run.stderr
    );
}

#[test]
fn directories_skip_what_is_not_cloudtrail_but_named_files_fail() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "README.md", b"# notes\n");
    write(dir.path(), "rule.yaml", b"id: x\n");
    write(
        dir.path(),
        "package.json",
        br#"{"name":"x","version":"1.0.0"}"#,
    );
    write(
        dir.path(),
        "labels.jsonl",
        b"{\"eventName\":\"A\",\"i\":0}\n{\"eventName\":\"B\",\"i\":1}\n",
    );
    let sub = dir.path().join("nested");
    std::fs::create_dir(&sub).unwrap();
    write(
        &sub,
        "trail.json.gz",
        &gzip(&records(&[root_failure(1, "2024-05-01T10:00:00Z")])),
    );
    let d = dir.path().display().to_string();
    let run = trailwatch(&["scan", &d], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.alerts().len(), 1);
    assert_eq!(
        run.stderr.matches("skipped: not CloudTrail input").count(),
        4,
        "{}",
        run.stderr
    );

    let named = dir.path().join("package.json").display().to_string();
    let trail = sub.join("trail.json.gz").display().to_string();
    let run = trailwatch(&["scan", &named, &trail], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("package.json: error: not CloudTrail input"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.alerts().len(),
        1,
        "alerts from the readable input are still printed"
    );

    let missing = dir.path().join("nope.json").display().to_string();
    assert_eq!(trailwatch(&["scan", &missing], None).code, 2);
}

#[test]
fn malformed_records_are_reported_not_fatal() {
    let good = serde_json::to_string(&root_failure(1, "2024-05-01T10:00:00Z")).unwrap();
    let input = format!(
        "{good}\n{{\"eventName\": broken\n{}\n",
        serde_json::to_string(&root_failure(2, "2024-05-01T10:01:00Z")).unwrap()
    );
    let run = trailwatch(&["scan", "-"], Some(input.as_bytes()));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.alerts().len(), 2);
    assert!(
        run.stderr.contains("malformed record at line 2"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("1 malformed"), "{}", run.stderr);
}

#[test]
fn a_truncated_file_is_an_error_after_its_first_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = records(&[
        root_failure(1, "2024-05-01T10:00:00Z"),
        root_failure(2, "2024-05-01T10:05:00Z"),
    ]);
    data.truncate(data.len() - 40);
    let f = write(dir.path(), "cut.json", &data);
    let run = trailwatch(&["scan", &f], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("broken input at byte"),
        "{}",
        run.stderr
    );
    assert_eq!(run.alerts().len(), 1);
}

#[test]
fn alerts_carry_the_documented_schema() {
    let run = trailwatch(
        &["scan", "-"],
        Some(&records(&[root_failure(7, "2024-05-01T10:00:00Z")])),
    );
    let a = &run.alerts()[0];
    for key in [
        "rule_id",
        "title",
        "severity",
        "account_id",
        "region",
        "count",
        "event_ids",
        "first_seen",
        "last_seen",
        "group",
        "fingerprint",
        "event_name",
        "event_source",
        "actor",
        "source_ips",
        "user_agent",
        "description",
        "runbook",
        "references",
        "tags",
    ] {
        assert!(a.get(key).is_some(), "missing {key}: {a}");
    }
    assert_eq!(a["severity"], "high");
    assert_eq!(
        a["event_ids"],
        json!(["10000000-0000-4000-8000-000000000007"])
    );
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
    let text = trailwatch(
        &["scan", "--format", "text", "-"],
        Some(&records(&[root_failure(7, "2024-05-01T10:00:00Z")])),
    );
    assert!(
        text.stdout
            .starts_with("[HIGH] Failed console sign-in by Root"),
        "{}",
        text.stdout
    );
}

#[test]
fn account_aliases_name_the_accounts_of_alerts() {
    let input = records(&[root_failure(7, "2024-05-01T10:00:00Z")]);
    let plain = trailwatch(&["scan", "-"], Some(&input)).alerts();
    assert_eq!(plain.len(), 1);
    assert!(plain[0].get("account_alias").is_none(), "{}", plain[0]);
    assert!(plain[0].get("account_aliases").is_none(), "{}", plain[0]);

    let run = trailwatch(
        &[
            "scan",
            "--list",
            "account_aliases=111122223333=prod-payments,777788889999=x",
            "-",
        ],
        Some(&input),
    );
    let a = &run.alerts()[0];
    assert_eq!(a["account_id"], "111122223333");
    assert_eq!(a["account_alias"], "prod-payments");
    assert_eq!(
        a["account_aliases"],
        json!({"111122223333": "prod-payments"})
    );

    let text = trailwatch(
        &[
            "scan",
            "--format",
            "text",
            "--list",
            "account_aliases=111122223333=prod-payments",
            "-",
        ],
        Some(&input),
    );
    assert!(
        text.stdout
            .contains("  account 111122223333 (prod-payments)  region us-east-1"),
        "{}",
        text.stdout
    );

    // The environment variable does the same; a bad entry is a warning naming the override.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"));
    let out = cmd
        .args(["scan", "-"])
        .env(
            "TRAILWATCH_LIST_ACCOUNT_ALIASES",
            "111122223333=prod-payments,oops",
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(&input).unwrap();
    let out = out.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stdout.contains("\"account_alias\":\"prod-payments\""),
        "{stdout}"
    );
    assert!(
        stderr.contains("--list account_aliases (or TRAILWATCH_LIST_ACCOUNT_ALIASES):1:1: warning: account_aliases entry 2: 'oops' is not ACCOUNT_ID=ALIAS"),
        "{stderr}"
    );
}

#[test]
fn lists_can_be_overridden_and_rules_replaced() {
    let assume = json!({"eventVersion":"1.05","eventTime":"2014-07-18T15:07:39Z","eventSource":"sts.amazonaws.com",
        "eventName":"AssumeRole","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::777788889999:user/JohnDoe","accountId":"777788889999"},
        "requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/EC2-dev"},"sharedEventID":"s-1","eventID":"e-1","recipientAccountId":"111122223333"});
    let input = records(std::slice::from_ref(&assume));
    assert_eq!(trailwatch(&["scan", "-"], Some(&input)).alerts().len(), 1);
    // The same call from an account that is not trusted, beside it: only that one alerts.
    let mut other = assume.clone();
    other["userIdentity"] = json!({"type":"IAMUser","arn":"arn:aws:iam::444455556666:user/Mallory","accountId":"444455556666"});
    other["sharedEventID"] = json!("s-2");
    other["eventID"] = json!("e-2");
    let both = records(&[assume, other]);
    let run = trailwatch(
        &["scan", "--list", "trusted_accounts=777788889999", "-"],
        Some(&both),
    );
    let alerts = run.alerts();
    assert_eq!(alerts.len(), 1, "{}", run.stderr);
    assert_eq!(alerts[0]["rule_id"], "cross-account-assume-role");
    assert_eq!(alerts[0]["actor"]["account_id"], "444455556666");
    assert_eq!(alerts[0]["event_ids"], json!(["e-2"]));
    assert!(!run.stdout.contains("777788889999"), "{}", run.stdout);

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "any-sts.yaml", b"id: any-sts\ntitle: STS {eventName}\nseverity: low\nmatch:\n  eventSource: sts.amazonaws.com\n");
    let d = dir.path().display().to_string();
    let run = trailwatch(&["scan", "--rules", &d, "-"], Some(&input));
    let alerts = run.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["rule_id"], "any-sts");
    assert_eq!(alerts[0]["title"], "STS AssumeRole");

    // @bundled keeps the bundled rules beside one's own, for scan, validate and test.
    let run = trailwatch(
        &["scan", "--rules", "@bundled", "--rules", &d, "-"],
        Some(&input),
    );
    let mut ids: Vec<String> = run
        .alerts()
        .iter()
        .map(|a| a["rule_id"].to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["\"any-sts\"", "\"cross-account-assume-role\""]);
    let run = trailwatch(&["validate", "@bundled", &d], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // "N rule(s) OK": one more than the bundled rules alone.
    let rules_ok = |r: &common::Run| {
        let last = r.stderr.lines().last()?;
        last.split(' ').next()?.parse::<usize>().ok()
    };
    let bundled = trailwatch(&["validate"], None);
    assert_eq!(
        rules_ok(&run),
        rules_ok(&bundled).map(|n| n + 1),
        "{}",
        run.stderr
    );
    let run = trailwatch(&["test", "@bundled", &d], None);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("warning: "),
        "any-sts has no tests: {}",
        run.stdout
    );
}

#[test]
fn failed_calls_say_so_and_follow_on_failure() {
    let stop = |id: &str, error: Option<&str>| {
        let mut r = json!({"eventVersion":"1.08","eventTime":"2023-07-10T11:45:03Z","eventSource":"cloudtrail.amazonaws.com",
            "eventName":"StopLogging","awsRegion":"us-east-1","requestParameters":{"name":"main"},
            "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/eve","accountId":"111122223333"},
            "eventID":id,"recipientAccountId":"111122223333"});
        if let Some(code) = error {
            r["errorCode"] = json!(code);
            r["errorMessage"] = json!("Unknown trail: main for the user: 111122223333");
        }
        r
    };
    let input = records(&[
        stop("ok-1", None),
        stop("failed-1", Some("TrailNotFoundException")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let rule = |on_failure: &str| {
        format!("id: stop\ntitle: \"Logging stopped on {{requestParameters.trailName|requestParameters.name|'a trail'}}\"\nseverity: critical\n{on_failure}match:\n  eventName: StopLogging\n")
    };
    write(
        dir.path(),
        "stop.yaml",
        rule("on_failure: {severity: medium}\n").as_bytes(),
    );
    let d = dir.path().display().to_string();
    let run = trailwatch(&["scan", "--rules", &d, "-"], Some(&input));
    let alerts = run.alerts();
    assert_eq!(alerts.len(), 2, "{}", run.stderr);
    let (ok, failed) = (&alerts[0], &alerts[1]);
    assert_eq!(ok["title"], "Logging stopped on main");
    assert_eq!(
        (&ok["severity"], &ok["outcome"], &ok["error_code"]),
        (&json!("critical"), &json!("success"), &json!(null))
    );
    assert_eq!(
        failed["title"],
        "Logging stopped on main (failed: TrailNotFoundException)"
    );
    assert_eq!(
        (
            &failed["severity"],
            &failed["outcome"],
            &failed["error_code"]
        ),
        (
            &json!("medium"),
            &json!("failure"),
            &json!("TrailNotFoundException")
        )
    );
    assert_eq!(
        failed["error_message"],
        "Unknown trail: main for the user: 111122223333"
    );
    let text = trailwatch(
        &["scan", "--format", "text", "--rules", &d, "-"],
        Some(&input),
    );
    assert!(
        text.stdout
            .contains("  outcome failed: TrailNotFoundException: Unknown trail"),
        "{}",
        text.stdout
    );

    write(
        dir.path(),
        "stop.yaml",
        rule("on_failure: ignore\n").as_bytes(),
    );
    let run = trailwatch(&["scan", "--rules", &d, "-"], Some(&input));
    let alerts = run.alerts();
    assert_eq!(alerts.len(), 1, "{}", run.stderr);
    assert_eq!(alerts[0]["event_ids"], json!(["ok-1"]));
}

#[test]
fn cloudwatch_and_eventbridge_inputs() {
    use base64::Engine;
    let ev = serde_json::to_string(&root_failure(3, "2024-05-01T10:00:00Z")).unwrap();
    let msg = json!({"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"g","logStream":"s",
        "subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":0,"message":ev},{"id":"2","timestamp":0,"message":"{oops"}]});
    let data = base64::engine::general_purpose::STANDARD.encode(gzip(msg.to_string().as_bytes()));
    let lambda_event = json!({"awslogs":{"data":data}}).to_string();
    let run = trailwatch(&["scan", "-"], Some(lambda_event.as_bytes()));
    assert_eq!(run.alerts().len(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("malformed record at logEvents[1]"),
        "{}",
        run.stderr
    );

    let eb = json!({"version":"0","detail-type":"AWS Console Sign In via CloudTrail","source":"aws.signin",
        "detail": root_failure(4, "2024-05-01T10:00:00Z")}).to_string();
    let run = trailwatch(&["scan", "-"], Some(eb.as_bytes()));
    assert_eq!(run.alerts().len(), 1, "{}", run.stderr);
}

/// `make run`: the attack story of examples/README.md, alert by alert.
#[test]
fn make_run_tells_the_attack_story() {
    let run = trailwatch(
        &[
            "scan",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/attack-story"),
        ],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let got: Vec<(String, String, String)> = run
        .alerts()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            (s("rule_id"), s("severity"), s("outcome"))
        })
        .collect();
    let want = [
        ("hidden-username-burst", "high", "failure"),
        ("console-login-success-after-failures", "high", "success"),
        ("console-login-without-mfa", "medium", "success"),
        ("cis-iam-policy-changes", "low", "success"),
        ("admin-policy-attached", "high", "success"),
        ("access-key-created-for-another-user", "high", "success"),
        ("cloudtrail-logging-stopped", "medium", "failure"),
        ("cloudtrail-logging-stopped", "critical", "success"),
        ("secrets-read-burst", "medium", "success"),
        ("ebs-snapshot-shared", "high", "success"),
        ("role-trust-policy-opened", "high", "success"),
        // The two secrets read after the sweep alerted, summarised once the run is over.
        ("secrets-read-burst", "medium", "success"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want, "{}", run.stdout);
    assert!(run.stderr.ends_with("29 events, 0 duplicates, 0 malformed, 0 suppressed, 11 alerts (2 deduplicated, 0 untimed), 1 follow-up(s)\n"), "{}", run.stderr);
    let follow = run.alerts().pop().unwrap();
    assert_eq!(follow["count"], 2);
    assert!(follow["follow_up_of"].is_string(), "{follow}");
}

#[test]
fn make_run_examples_alert() {
    let run = trailwatch(
        &["scan", concat!(env!("CARGO_MANIFEST_DIR"), "/examples")],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let ids: Vec<String> = run
        .alerts()
        .iter()
        .map(|a| a["rule_id"].as_str().unwrap().to_string())
        .collect();
    for id in [
        "root-adjacent-login-failure",
        "hidden-username-burst",
        "cross-account-assume-role",
    ] {
        assert!(ids.contains(&id.to_string()), "{id} missing from {ids:?}");
    }
}

#[test]
fn a_symlink_loop_is_read_once_and_a_fifo_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("trail")).unwrap();
    // A record without an eventID: read twice, it would alert twice.
    let mut rec = root_failure(1, "2024-05-01T10:00:00Z");
    rec.as_object_mut().unwrap().remove("eventID");
    write(&root.join("trail"), "a.json", &records(&[rec]));
    std::os::unix::fs::symlink(root, root.join("trail/loop")).unwrap();
    let fifo = std::ffi::CString::new(root.join("pipe").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let d = root.display().to_string();
    let run = trailwatch(&["scan", &d], None);
    assert_eq!(run.alerts().len(), 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("loop: skipped: a folder already read (symbolic link)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("pipe: skipped: not a regular file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 input(s) read, 2 skipped"),
        "{}",
        run.stderr
    );
}

#[test]
fn concatenated_gzip_files_on_stdin_are_read_like_the_files() {
    // `cat a.json.gz b.json.gz | trailwatch scan -` and the same through zcat.
    let a = records(&[root_failure(1, "2024-05-01T10:00:00Z")]);
    let b = records(&[root_failure(2, "2024-05-01T10:05:00Z")]);
    let mut gz = gzip(&a);
    gz.extend(gzip(&b));
    let mut plain = a.clone();
    plain.extend(&b);
    for input in [gz, plain] {
        let run = trailwatch(&["scan", "-"], Some(&input));
        assert_eq!(run.alerts().len(), 2, "{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("2 events"), "{}", run.stderr);
    }
}

#[test]
fn since_and_until_limit_evaluation_to_event_time_and_totals_are_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "t.json",
        &records(&[
            root_failure(1, "2024-04-30T23:59:59Z"),
            root_failure(2, "2024-05-01T00:00:00Z"),
            root_failure(3, "2024-05-01T23:59:59Z"),
            root_failure(4, "2024-05-02T00:00:00Z"),
        ]),
    );
    // A date means the whole day: both ends included.
    let run = trailwatch(
        &[
            "scan",
            "--since",
            "2024-05-01",
            "--until",
            "2024-05-01",
            "--totals",
            &f,
        ],
        None,
    );
    let ids: Vec<String> = run
        .alerts()
        .iter()
        .map(|a| a["event_ids"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "10000000-0000-4000-8000-000000000002",
            "10000000-0000-4000-8000-000000000003"
        ],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("4 events, 2 outside --since/--until"),
        "{}",
        run.stderr
    );
    let row = run
        .stderr
        .lines()
        .find(|l| l.starts_with("root-adjacent-login-failure"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1..], ["2", "2", "0", "0", "0", "0"], "{row}");
    let run = trailwatch(&["scan", "--since", "2024-05-01T23:59:59Z", &f], None);
    assert_eq!(run.alerts().len(), 2, "{}", run.stderr);
    let bad = trailwatch(&["scan", "--until", "tomorrow", &f], None);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("'tomorrow' is not a time"),
        "{}",
        bad.stderr
    );
}
