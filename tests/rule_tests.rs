//! `trailwatch test`: shows what differed and ends with `N passed, M failed`.

mod common;
use common::*;

const RULE: &str = "id: delete-trail\ntitle: Trail deleted\nseverity: high\nmatch:\n  eventName: DeleteTrail\ntests:\n  - name: deletes\n    event: {eventName: DeleteTrail, eventTime: '2024-01-01T00:00:00Z'}\n    expect: alert\n  - name: wrong on purpose\n    event: {eventName: StopLogging, eventTime: '2024-01-01T00:00:00Z'}\n    expect: {alerts: 1}\n";

#[test]
fn failures_are_shown_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "delete-trail.yaml", RULE.as_bytes());
    let d = dir.path().display().to_string();
    let run = trailwatch(&["test", &d], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("ok   delete-trail :: deletes"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("delete-trail.yaml:10: delete-trail :: wrong on purpose"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("expected 1 alert(s), got 0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "\n      event 1: eventName: found \"StopLogging\", expected equals \"DeleteTrail\"\n"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().last(), Some("1 passed, 1 failed"));
}

/// A rule whose tests use lists, alternatives, `outcome` and the full `expect` form.
const CHECKS: &str = r#"id: trail-stop
title: "Logging stopped on {requestParameters.trailName|requestParameters.name|'a trail'}"
severity: critical
on_failure: {severity: medium}
match:
  eventName: StopLogging
  "userIdentity.sessionContext.sessionIssuer.arn|userIdentity.arn": {not: {in_list: automation_principals}}
dedup: {key: [userIdentity.arn, outcome], cooldown: 1h}
tests:
  - name: a denied attempt is medium and says it failed
    event: {eventName: StopLogging, errorCode: AccessDenied, userIdentity: {arn: "arn:aws:iam::1:user/eve"}, requestParameters: {name: main}}
    expect: {alerts: 1, severity: medium, title: "on main (failed: AccessDenied)"}
  - name: the deploy role is automation when the list says so
    event: {eventName: StopLogging, userIdentity: {arn: "arn:aws:sts::1:assumed-role/deploy/run-1", sessionContext: {sessionIssuer: {arn: "arn:aws:iam::1:role/deploy"}}}}
    lists: {automation_principals: ["arn:aws:iam::1:role/deploy"]}
    expect: no_alert
  - name: wrong severity on purpose
    event: {eventName: StopLogging, userIdentity: {arn: "arn:aws:iam::1:user/eve"}}
    expect: {alerts: 1, severity: high}
  - name: wrong title on purpose
    event: {eventName: StopLogging, userIdentity: {arn: "arn:aws:iam::1:user/eve"}}
    expect: {title: "(failed"}
"#;

#[test]
fn lists_and_expectations_of_severity_and_title() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "trail-stop.yaml", CHECKS.as_bytes());
    write(dir.path(), "lists.yaml", b"automation_principals: []\n");
    let d = dir.path().display().to_string();
    let run = trailwatch(&["test", &d], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    for line in [
        "ok   trail-stop :: a denied attempt is medium and says it failed",
        "ok   trail-stop :: the deploy role is automation when the list says so",
        "expected alerts of severity high, got: Logging stopped on a trail [critical]",
        "expected alerts whose title contains \"(failed\", got: Logging stopped on a trail [critical]",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
    assert_eq!(run.stdout.lines().last(), Some("2 passed, 2 failed"));

    // Without the test's list, the deploy role is not automation.
    let open = CHECKS.replace(
        "    lists: {automation_principals: [\"arn:aws:iam::1:role/deploy\"]}\n",
        "",
    );
    write(dir.path(), "trail-stop.yaml", open.as_bytes());
    let run = trailwatch(&["test", &d], None);
    assert!(
        run.stdout.contains("trail-stop :: the deploy role is automation when the list says so\n     expected 0 alert(s), got 1"),
        "{}",
        run.stdout
    );

    // A list the rules do not know is an error at its place.
    let bad = CHECKS.replace(
        "lists: {automation_principals:",
        "lists: {automation_principal:",
    );
    write(dir.path(), "trail-stop.yaml", bad.as_bytes());
    let run = trailwatch(&["validate", &d], None);
    assert!(
        run.stderr.contains("trail-stop.yaml:15:13: unknown list 'automation_principal' (did you mean 'automation_principals'?)"),
        "{}",
        run.stderr
    );
}

#[test]
fn bundled_rules_pass_their_tests() {
    let run = trailwatch(&["test"], None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let last = run.stdout.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 15, "{last}");
}

/// Cases that fail on purpose, to show what the explanation says.
const EXPLAINED: &str = r#"id: key-for-watched-user
title: "Access key created for {requestParameters.userName}"
severity: high
match:
  eventSource: iam.amazonaws.com
  eventName: CreateAccessKey
  requestParameters.userName: [alice]
suppress:
  - match: {userIdentity.arn: {suffix: /provisioner}}
    reason: the provisioner creates alice's first key
    owner: iam-team@example.com
    expires: 2099-01-31
tests:
  - name: fewer alerts than expected
    events:
      - {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, eventID: k1, requestParameters: {userName: alice}}
      - {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, eventID: k2, requestParameters: {userName: bob}}
      - {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, eventID: k1, requestParameters: {userName: alice}}
      - {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, eventID: k3}
      - {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, eventID: k4, requestParameters: {userName: alice}, userIdentity: {arn: "arn:aws:iam::1:user/provisioner"}}
    expect: {alerts: 5}
  - name: more alerts than expected
    events:
      - {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, eventID: k1, requestParameters: {userName: bob}}
      - {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, eventID: k2, requestParameters: {userName: alice}}
    expect: no_alert
"#;

#[test]
fn a_failed_case_says_which_condition_failed_for_each_event() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "key.yaml", EXPLAINED.as_bytes());
    let d = dir.path().display().to_string();
    let run = trailwatch(&["test", &d], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    // The existing lines stay; the explanation follows them.
    let fewer = concat!(
        "key-for-watched-user :: fewer alerts than expected\n",
        "     expected 5 alert(s), got 1 (events 5, duplicates 1, suppressed 1, deduplicated 0, untimed 0)\n",
        "      got: Access key created for alice [1 event(s)]\n",
        "      event 2: requestParameters.userName: found \"bob\", expected one of [\"alice\"]\n",
        "      event 3: a copy of event 1 (same eventID, eventTime, eventName and recipientAccountId): dropped\n",
        "      event 4: requestParameters.userName: missing, expected one of [\"alice\"]\n",
        "      event 5: matched, but suppressed: the provisioner creates alice's first key (owner iam-team@example.com, through 2099-01-31)\n",
    );
    assert!(run.stdout.contains(fewer), "{}", run.stdout);
    let more = concat!(
        "key-for-watched-user :: more alerts than expected\n",
        "     expected 0 alert(s), got 1 (events 2, duplicates 0, suppressed 0, deduplicated 0, untimed 0)\n",
        "      got: Access key created for alice [1 event(s)]\n",
        "      event 2: matched\n",
        "0 passed, 2 failed\n",
    );
    assert!(run.stdout.ends_with(more), "{}", run.stdout);
}

#[test]
fn a_threshold_short_of_its_count_says_every_event_matched() {
    let rule = "id: burst\ntitle: t\nseverity: low\nmatch:\n  eventName: GetSecretValue\nthreshold: {count: 3, window: 1m}\ntests:\n  - name: two are not three\n    events:\n      - {eventName: GetSecretValue, eventTime: '2024-01-01T00:00:00Z', eventID: a}\n      - {eventName: GetSecretValue, eventTime: '2024-01-01T00:00:10Z', eventID: b}\n    expect: alert\n";
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "burst.yaml", rule.as_bytes());
    let d = dir.path().display().to_string();
    let run = trailwatch(&["test", &d], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "      every event matched; counts towards a threshold: 3 matches within 1m\n"
        ),
        "{}",
        run.stdout
    );
}
