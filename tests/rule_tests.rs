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
    assert_eq!(run.stdout.lines().last(), Some("1 passed, 1 failed"));
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
