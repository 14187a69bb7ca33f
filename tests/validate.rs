//! `trailwatch validate` through the real binary: every mistake in a rule file is reported
//! in one run as `path:line:col: message` (1-based), with a "did you mean" hint where one
//! exists, and the exit code says whether the rules compile.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// What one `validate` run printed and returned.
struct Run {
    code: i32,
    stderr: String,
    elapsed: Duration,
}

/// Named lists for the rules below (`in_list: break_glass_users`).
const LISTS: &str = "trusted_accounts: []\nbreak_glass_users: [breakglass, break-glass-admin]\n";

/// A rule with no mistakes, used as the base of the one-mistake tests.
const VALID: &str = r#"id: root-login-failure
title: "Failed console sign-in by {userIdentity.arn} from {sourceIPAddress}"
severity: high
match:
  eventSource: signin.amazonaws.com
  eventName: ConsoleLogin
  responseElements.ConsoleLogin: Failure
  any:
    - userIdentity.type: Root
    - userIdentity.userName: {in_list: break_glass_users}
tests:
  - name: root failure
    event: {eventSource: signin.amazonaws.com, eventName: ConsoleLogin, userIdentity: {type: Root}, responseElements: {ConsoleLogin: Failure}}
    expect: alert
"#;

/// Runs the binary with `args`, killing it if it takes longer than `limit`.
fn run_args(args: &[&std::ffi::OsStr], limit: Duration) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailwatch"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // List overrides from the environment would change what `in_list` resolves to.
    for (k, _) in std::env::vars() {
        if k.starts_with("TRAILWATCH_LIST_") {
            cmd.env_remove(k);
        }
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("start trailwatch");
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        pipe.read_to_string(&mut s).expect("stderr is UTF-8");
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for trailwatch") {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("trailwatch {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let stderr = reader.join().expect("stderr reader");
    Run {
        code: status
            .code()
            .expect("trailwatch exited with a code, not a signal"),
        stderr,
        elapsed,
    }
}

/// `trailwatch validate DIR`.
fn validate(dir: &Path) -> Run {
    run_args(
        &["validate".as_ref(), dir.as_os_str()],
        Duration::from_secs(60),
    )
}

/// A temporary rules directory holding `files` (relative path, text).
fn rules_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    dir
}

/// Validates a directory with `lists.yaml` and one rule file, `rule.yaml`.
fn validate_rule(rule: &str) -> (TempDir, PathBuf, Run) {
    let dir = rules_dir(&[("lists.yaml", LISTS), ("rule.yaml", rule)]);
    let path = dir.path().join("rule.yaml");
    let run = validate(dir.path());
    (dir, path, run)
}

/// Asserts that `run` printed exactly `message` for `file` at `line:col`.
#[track_caller]
fn assert_reported(run: &Run, file: &Path, line: usize, col: usize, message: &str) {
    let want = format!("{}:{line}:{col}: {message}", file.display());
    assert!(
        run.stderr.lines().any(|l| l == want),
        "expected the line\n  {want}\nin stderr:\n{}",
        run.stderr
    );
}

/// Asserts the run failed with exactly one error, `message` at `line:col` of `file`.
#[track_caller]
fn assert_only_error(run: &Run, file: &Path, line: usize, col: usize, message: &str) {
    assert_reported(run, file, line, col, message);
    assert!(
        run.stderr.ends_with("1 error(s), 0 warning(s)\n"),
        "expected exactly one error:\n{}",
        run.stderr
    );
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
}

/// `VALID` with `from` replaced by `to` (which must occur exactly once).
fn valid_with(from: &str, to: &str) -> String {
    assert_eq!(VALID.matches(from).count(), 1, "{from:?} must occur once");
    VALID.replace(from, to)
}

// ---------------------------------------------------------------------------------------
// 1. Many mistakes in one file: all reported in one run, each at its exact position.

const MANY_MISTAKES: &str = r#"id: many-mistakes
titel: "Console sign-in by {userIdentity.arn}"
severity: urgent
match:
  eventSource: {equal: signin.amazonaws.com}
  eventname: ConsoleLogin
  userIdentity.userName: {in_list: break_glass_user}
  userAgent: {regex: "aws-cli/(["}
  sourceIPAddress: {cidr: [10.0.0.0/8, 10.0.0.0/33]}
threshold:
  count: five
  window: 10 minutes
tests:
  - name: a failure
    event: {eventSource: signin.amazonaws.com, eventName: ConsoleLogin}
    expect: alerts
"#;

#[test]
fn every_mistake_in_one_file_is_reported_at_its_position_in_one_run() {
    let (_dir, path, run) = validate_rule(MANY_MISTAKES);
    let p = path.display();
    // Positions counted by hand from MANY_MISTAKES: where the offending key or value starts.
    let expected = [
        // `titel` instead of `title`: the mapping (1:1) lacks `title`, and `titel` is unknown.
        format!("{p}:1:1: the rule is missing required key 'title'"),
        format!("{p}:2:1: unknown key 'titel' in a rule (did you mean 'title'?)"),
        format!("{p}:3:11: unknown severity 'urgent'; use info, low, medium, high or critical"),
        format!("{p}:5:17: unknown operator 'equal' (did you mean 'equals'?)"),
        format!("{p}:6:3: 'eventname' is not a CloudTrail field (did you mean 'eventName'?)"),
        format!(
            "{p}:7:36: unknown list 'break_glass_user' (did you mean 'break_glass_users'?); \
             lists are defined in lists.yaml"
        ),
        format!("{p}:8:22: invalid regex: unclosed character class"),
        // The second item of the list, not the list.
        format!("{p}:9:40: invalid cidr: '10.0.0.0/33': prefix length must be 0..=32"),
        format!("{p}:11:10: count must be a whole number from 1 to 100000, found 'five'"),
        format!(
            "{p}:12:11: window must be a duration such as 30s, 10m, 1h or 2d, found '10 minutes'"
        ),
        format!(
            "{p}:16:13: expect must be 'alert', 'no_alert' or {{alerts: N, severity: S, title: TEXT}}, found 'alerts' \
             (did you mean 'alert'?)"
        ),
        "11 error(s), 0 warning(s)".to_string(),
    ];
    let got: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(got, expected, "full stderr:\n{}", run.stderr);
    assert_eq!(run.code, 1);
}

#[test]
fn mistakes_in_several_files_are_all_reported() {
    let dir = rules_dir(&[
        ("lists.yaml", LISTS),
        ("a/broken.yaml", "id: broken\ntitle: [unclosed\n"),
        (
            "b/typo.yaml",
            &valid_with("severity: high", "severity: hihg"),
        ),
        ("c/ok.yaml", &valid_with("root-login-failure", "other-rule")),
    ]);
    let run = validate(dir.path());
    assert!(
        run.stderr.lines().any(|l| l
            .starts_with(&format!("{}:", dir.path().join("a/broken.yaml").display()))
            && l.contains("YAML syntax error")),
        "{}",
        run.stderr
    );
    assert_reported(
        &run,
        &dir.path().join("b/typo.yaml"),
        3,
        11,
        "unknown severity 'hihg' (did you mean 'high'?); use info, low, medium, high or critical",
    );
    assert!(
        run.stderr.ends_with("2 error(s), 0 warning(s)\n"),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 1);
}

// ---------------------------------------------------------------------------------------
// 2. One kind of mistake per test.

#[test]
fn yaml_syntax_error() {
    let rule = valid_with(
        "  eventName: ConsoleLogin\n",
        "  eventName: [ConsoleLogin, CheckMfa}\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    // Line 6 is `  eventName: [ConsoleLogin, CheckMfa}`; the stray `}` is at column 37.
    let want = format!("{}:6:37: YAML syntax error: ", path.display());
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&want)),
        "expected a line starting with {want:?}:\n{}",
        run.stderr
    );
    assert!(run.stderr.ends_with("1 error(s), 0 warning(s)\n"));
    assert_eq!(run.code, 1);
}

#[test]
fn unknown_top_level_key_suggests_the_right_one() {
    let rule = valid_with("tests:\n", "descriptoin: why it matters\ntests:\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        11,
        1,
        "unknown key 'descriptoin' in a rule (did you mean 'description'?)",
    );
}

#[test]
fn unknown_operator_suggests_the_right_one() {
    let rule = valid_with(
        "  eventName: ConsoleLogin\n",
        "  eventName: {equal: ConsoleLogin}\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        6,
        15,
        "unknown operator 'equal' (did you mean 'equals'?)",
    );
}

#[test]
fn nested_field_under_an_operator_map_is_explained() {
    // `userIdentity: {type: Root}` looks like a nested field but operator maps hold operators.
    let rule = valid_with(
        "    - userIdentity.type: Root\n",
        "    - userIdentity: {type: Root}\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        9,
        22,
        "unknown operator 'type' (operator maps hold operators only; for the nested field \
         write `userIdentity.type: …`)",
    );
}

#[test]
fn field_that_is_not_a_cloudtrail_field_suggests_the_real_one() {
    let rule = valid_with("  eventName: ConsoleLogin\n", "  eventname: ConsoleLogin\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        6,
        3,
        "'eventname' is not a CloudTrail field (did you mean 'eventName'?)",
    );

    let rule = valid_with("userIdentity.type: Root", "userIdentity.typ: Root");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        9,
        7,
        "'typ' is not a CloudTrail field of userIdentity (did you mean 'type'?)",
    );

    // Short unknown names get no far-fetched hint (`arn` is not `all`).
    let rule = valid_with("  eventName: ConsoleLogin\n", "  arn: ConsoleLogin\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(&run, &path, 6, 3, "'arn' is not a CloudTrail field");
}

#[test]
fn unknown_list_suggests_the_defined_one() {
    let rule = valid_with(
        "{in_list: break_glass_users}",
        "{in_list: breakglass_users}",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        10,
        40,
        "unknown list 'breakglass_users' (did you mean 'break_glass_users'?); \
         lists are defined in lists.yaml",
    );
}

#[test]
fn invalid_regex_points_at_the_pattern() {
    let rule = valid_with(
        "  eventName: ConsoleLogin\n",
        "  eventName: ConsoleLogin\n  userAgent: {regex: [\"^aws-cli/\", \"Mozilla/(5\"]}\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    // The second pattern of the list, at column 36 of line 7.
    assert_only_error(&run, &path, 7, 36, "invalid regex: unclosed group");
}

#[test]
fn invalid_cidr_points_at_the_network() {
    let rule = valid_with(
        "  eventName: ConsoleLogin\n",
        "  eventName: ConsoleLogin\n  sourceIPAddress: {cidr: [192.0.2.0/24, 198.51.100.300/24]}\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        7,
        42,
        "invalid cidr: '198.51.100.300/24' is not an IP network (e.g. 203.0.113.0/24)",
    );
}

#[test]
fn duplicate_rule_id_across_two_files() {
    let dir = rules_dir(&[
        ("lists.yaml", LISTS),
        ("signin/first.yaml", VALID),
        ("sts/second.yaml", VALID),
    ]);
    let run = validate(dir.path());
    let first = dir.path().join("signin/first.yaml");
    assert_only_error(
        &run,
        &dir.path().join("sts/second.yaml"),
        1,
        5,
        &format!(
            "duplicate rule id 'root-login-failure' (also in {})",
            first.display()
        ),
    );
}

#[test]
fn missing_required_key() {
    let rule = valid_with("severity: high\n", "");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        1,
        1,
        "the rule is missing required key 'severity'",
    );

    let rule = valid_with("tests:\n", "threshold:\n  count: 5\ntests:\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        12,
        3,
        "threshold is missing required key 'window'",
    );
}

#[test]
fn bad_severity() {
    let rule = valid_with("severity: high", "severity: Critical");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        3,
        11,
        "unknown severity 'Critical' (did you mean 'critical'?); use info, low, medium, high or critical",
    );

    let rule = valid_with("severity: high", "severity: [high]");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        3,
        11,
        "severity must be one of info, low, medium, high or critical, found a list",
    );
}

#[test]
fn bad_duration_in_threshold_window() {
    let rule = valid_with(
        "tests:\n",
        "threshold:\n  count: 5\n  window: 10min\ntests:\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        13,
        11,
        "window must be a duration such as 30s, 10m, 1h or 2d, found '10min'",
    );

    // A window so long it would overflow is refused with a message, not a crash.
    let rule = valid_with(
        "tests:\n",
        "threshold:\n  count: 5\n  window: 99999999999999999d\ntests:\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        13,
        11,
        "window is too long: 99999999999999999d is more than 366d",
    );
}

#[test]
fn wrong_type() {
    let rule = valid_with(
        "tests:\n",
        "threshold:\n  count: \"five\"\n  window: 10m\ntests:\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        12,
        10,
        "count must be a whole number from 1 to 100000, found 'five'",
    );

    // A quoted number is text; say so.
    let rule = valid_with(
        "tests:\n",
        "threshold:\n  count: \"5\"\n  window: 10m\ntests:\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        12,
        10,
        "count must be a whole number from 1 to 100000, found \"5\" (quoted, so it is text; \
         remove the quotes)",
    );

    let rule = valid_with("tests:\n", "enabled: yes\ntests:\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(&run, &path, 11, 10, "enabled takes true or false");
}

#[test]
fn yaml_alias_is_refused() {
    let rule = valid_with(
        "  eventSource: signin.amazonaws.com\n  eventName: ConsoleLogin\n",
        "  eventSource: &src signin.amazonaws.com\n  eventName: *src\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        6,
        14,
        "YAML aliases (*name) are not supported in rule files; write the value out",
    );
}

#[test]
fn duplicate_mapping_key() {
    let rule = valid_with(
        "  eventName: ConsoleLogin\n",
        "  eventName: ConsoleLogin\n  eventName: CheckMfa\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        7,
        3,
        "duplicate key 'eventName' (first at 6:3)",
    );
}

#[test]
fn operator_used_at_condition_level() {
    let rule = valid_with("  eventName: ConsoleLogin\n", "  equals: ConsoleLogin\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        6,
        3,
        "'equals' is an operator; put it under a field, e.g. `eventName: {equals: …}`",
    );
}

#[test]
fn and_or_suggest_all_any() {
    let rule = valid_with("  any:\n", "  or:\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(&run, &path, 8, 3, "unknown key 'or' (did you mean 'any'?)");
}

#[test]
fn bad_title_placeholder() {
    let rule = valid_with("{userIdentity.arn}", "{userIdentity.ARN}");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        2,
        8,
        "title: 'ARN' is not a CloudTrail field of userIdentity (did you mean 'arn'?)",
    );

    let rule = valid_with("{sourceIPAddress}\"", "{sourceIPAddress\"");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        2,
        8,
        "title: unclosed '{' in 'Failed console sign-in by {userIdentity.arn} from {sourceIPAddress'",
    );
}

#[test]
fn new_constructs_report_their_mistakes_in_place() {
    // A title fallback after the quoted text, and a misspelt field among the fallbacks.
    let rule = valid_with(
        "{sourceIPAddress}\"",
        "{sourceIPAddress|'somewhere'|userAgent}\"",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        2,
        8,
        "title: 'userAgent' follows the fallback text in {sourceIPAddress|'somewhere'|userAgent}; the quoted text comes last",
    );
    let rule = valid_with("{sourceIPAddress}\"", "{sourceIPAdress|'?'}\"");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        2,
        8,
        "title: 'sourceIPAdress' is not a CloudTrail field (did you mean 'sourceIPAddress'?)",
    );
    // on_failure takes alert, ignore or a severity.
    let rule = valid_with("severity: high\n", "severity: high\non_failure: ignored\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        4,
        13,
        "on_failure must be 'alert', 'ignore' or {severity: info|low|medium|high|critical}, found 'ignored' (did you mean 'ignore'?)",
    );
    // `where` reads fields of the element (no schema check), but its operators are checked.
    let rule = valid_with(
        "  responseElements.ConsoleLogin: Failure\n",
        "  responseElements.ConsoleLogin: Failure\n  resources[*]: {where: {ARN: {prefx: x}}, some: {equal: 1}}\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_reported(
        &run,
        &path,
        8,
        32,
        "unknown operator 'prefx' (did you mean 'prefix'?)",
    );
    assert_reported(
        &run,
        &path,
        8,
        51,
        "unknown operator 'equal' (did you mean 'equals'?)",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn test_events_from_samples_report_unknown_names_and_keys() {
    let rule = valid_with(
        "    event: {eventSource: signin.amazonaws.com, eventName: ConsoleLogin, userIdentity: {type: Root}, responseElements: {ConsoleLogin: Failure}}\n",
        "    event: {sample: root-fail, with: {userIdentity.type: Root}, eventName: X}\n",
    );
    let samples = "root-failure:\n  eventSource: signin.amazonaws.com\n  eventName: ConsoleLogin\n";
    let dir = rules_dir(&[
        ("lists.yaml", LISTS),
        ("samples/records.yaml", samples),
        ("rule.yaml", &rule),
    ]);
    let path = dir.path().join("rule.yaml");
    let run = validate(dir.path());
    assert_reported(
        &run,
        &path,
        13,
        21,
        "unknown sample 'root-fail' (did you mean 'root-failure'?)",
    );
    assert_reported(
        &run,
        &path,
        13,
        65,
        "unknown key 'eventName' in a test event from a sample; put record fields under 'with'",
    );
    // The same name twice across sample files.
    let dir = rules_dir(&[
        ("lists.yaml", LISTS),
        ("samples.yaml", samples),
        ("samples/more.yaml", samples),
        ("rule.yaml", VALID),
    ]);
    let run = validate(dir.path());
    // Folders sort before files beside them: samples/more.yaml is read first.
    assert_only_error(
        &run,
        &dir.path().join("samples.yaml"),
        1,
        1,
        &format!(
            "sample 'root-failure' is defined twice (also in {})",
            dir.path().join("samples/more.yaml").display()
        ),
    );
}

#[test]
fn expired_suppression_is_a_warning_only() {
    let rule = valid_with(
        "tests:\n",
        "suppress:\n  - match: {sourceIPAddress: 192.0.2.10}\n    reason: yearly pentest\n    owner: secops\n    expires: 2020-01-31\ntests:\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_reported(
        &run,
        &path,
        15,
        14,
        "warning: suppression expired on 2020-01-31: it no longer applies (owner: secops); \
         renew or delete it",
    );
    assert!(
        run.stderr.ends_with("1 rule(s) OK, 1 warning(s)\n"),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 0, "a warning must not fail validation");
}

#[test]
fn empty_any_list() {
    let rule = valid_with(
        "  any:\n    - userIdentity.type: Root\n    - userIdentity.userName: {in_list: break_glass_users}\n",
        "  any: []\n",
    );
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(&run, &path, 8, 8, "'any' has an empty list");
}

#[test]
fn test_with_bad_expect() {
    let rule = valid_with("    expect: alert\n", "    expect: yes please\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        14,
        13,
        "expect must be 'alert', 'no_alert' or {alerts: N, severity: S, title: TEXT}, found 'yes please'",
    );

    let rule = valid_with("    expect: alert\n", "    expect: {alerts: -1}\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        14,
        22,
        "expect's alerts must be a whole number, found '-1'",
    );
}

#[test]
fn second_yaml_document_is_refused() {
    let rule = format!("{VALID}---\nid: another\n");
    let (_dir, path, run) = validate_rule(&rule);
    assert_only_error(
        &run,
        &path,
        15,
        1,
        "only one YAML document per file (remove the second `---`)",
    );
}

#[test]
fn empty_file() {
    let (_dir, path, run) = validate_rule("");
    assert_only_error(&run, &path, 1, 1, "empty file");
}

#[test]
fn valid_directory_is_ok() {
    let dir = rules_dir(&[
        ("lists.yaml", LISTS),
        ("signin/root.yaml", VALID),
        (
            "sts/other.yaml",
            &valid_with("root-login-failure", "other-rule"),
        ),
    ]);
    let run = validate(dir.path());
    assert_eq!(run.stderr, "2 rule(s) OK, 0 warning(s)\n");
    assert_eq!(run.code, 0);
}

#[test]
fn bundled_rules_are_valid() {
    let run = run_args(&["validate".as_ref()], Duration::from_secs(60));
    assert!(run.stderr.contains(" rule(s) OK, "), "{}", run.stderr);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);

    // The rules/ directory of the repository is what gets bundled; it validates too.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let run = validate(&dir);
    assert!(run.stderr.contains(" rule(s) OK, "), "{}", run.stderr);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
}

// ---------------------------------------------------------------------------------------
// 3. Hostile files are refused with a message, quickly.

/// Generous for a debug binary on a busy machine; the real cost is milliseconds.
const QUICK: Duration = Duration::from_secs(10);

#[test]
fn huge_rule_file_is_refused_quickly() {
    // A valid rule padded past 1 MiB by its description.
    let huge = valid_with(
        "tests:\n",
        &format!("description: \"{}\"\ntests:\n", "x".repeat(2 << 20)),
    );
    assert!(huge.len() > 1 << 20);
    let dir = rules_dir(&[
        ("lists.yaml", LISTS),
        ("huge.yaml", &huge),
        ("ok.yaml", &valid_with("root-login-failure", "other-rule")),
    ]);
    let run = validate(dir.path());
    assert_only_error(
        &run,
        &dir.path().join("huge.yaml"),
        1,
        1,
        &format!(
            "file is {} bytes, larger than the limit of 1048576 bytes (1 MiB)",
            huge.len()
        ),
    );
    assert!(run.elapsed < QUICK, "took {:?}", run.elapsed);
}

#[test]
fn deeply_nested_flow_yaml_is_refused_quickly() {
    let deep = valid_with(
        "  eventName: ConsoleLogin\n",
        &format!(
            "  eventName: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    );
    let (_dir, path, run) = validate_rule(&deep);
    let want = format!("{}:6:", path.display());
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with(&want) && l.ends_with(": nesting deeper than 64 levels")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.ends_with("1 error(s), 0 warning(s)\n"));
    assert_eq!(run.code, 1);
    assert!(run.elapsed < QUICK, "took {:?}", run.elapsed);
}

#[test]
fn deeply_nested_block_yaml_is_refused_quickly() {
    // `not:` inside `not:` … 1000 levels, each indented one more step.
    let mut deep = String::from("id: deep\ntitle: t\nseverity: low\nmatch:\n");
    for level in 1..=1000 {
        deep.push_str(&" ".repeat(level));
        deep.push_str("not:\n");
    }
    deep.push_str(&" ".repeat(1001));
    deep.push_str("eventName: ConsoleLogin\n");
    let (_dir, path, run) = validate_rule(&deep);
    // Line 4 + k holds the k-th `not:` at column k + 1. With the root and `match:` mappings,
    // the 65th mapping, one too many, starts on line 68 (k = 64) at column 65.
    assert_only_error(&run, &path, 68, 65, "nesting deeper than 64 levels");
    assert!(run.elapsed < QUICK, "took {:?}", run.elapsed);
}

#[test]
fn too_many_nodes_are_refused_quickly() {
    // Under 1 MiB, but 300 000 list items.
    let wide = valid_with(
        "  eventName: ConsoleLogin\n",
        &format!("  eventName: [{}]\n", vec!["a"; 300_000].join(",")),
    );
    assert!(wide.len() < 1 << 20);
    let (_dir, path, run) = validate_rule(&wide);
    let want = format!("{}:6:", path.display());
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with(&want) && l.ends_with(": more than 200000 YAML nodes")),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 1);
    assert!(run.elapsed < QUICK, "took {:?}", run.elapsed);
}

#[test]
fn a_rule_file_that_is_not_utf8_is_reported_with_the_others() {
    let dir = rules_dir(&[("lists.yaml", LISTS), ("ok.yaml", VALID)]);
    let bad = dir.path().join("latin1.yaml");
    std::fs::write(&bad, b"id: caf\xe9\n").unwrap();
    let run = validate(dir.path());
    assert_only_error(
        &run,
        &bad,
        1,
        1,
        "not UTF-8 text (invalid byte at offset 7)",
    );
}

#[test]
fn dedup_on_a_threshold_rule_is_refused() {
    let rule = valid_with(
        "tests:\n",
        "threshold: {count: 2, window: 1m}\ndedup: {key: [sharedEventID]}\ntests:\n",
    );
    let (_d, path, run) = validate_rule(&rule);
    assert_reported(&run, &path, 12, 8, "dedup does not apply to a threshold rule: a threshold already alerts once per group and span");
}

#[test]
fn distinct_takes_one_field_and_arn_functions_take_record_fields() {
    let rule = valid_with(
        "tests:\n",
        "threshold: {count: 2, window: 1m, distinct: [sourceIPAddress, userAgent]}\ntests:\n",
    );
    let (_d, path, run) = validate_rule(&rule);
    assert_reported(&run, &path, 11, 45, "distinct takes one field path");
    let rule = valid_with(
        "  eventName: ConsoleLogin\n",
        "  eventName: ConsoleLogin\n  arn_account(account_id): '1'\n",
    );
    let (_d, path, run) = validate_rule(&rule);
    assert_reported(
        &run,
        &path,
        7,
        3,
        "arn_account() reads an ARN field of the record; 'account_id' is computed, not an ARN",
    );
}

#[test]
fn ignore_case_must_be_a_boolean_even_inside_not() {
    let rule = valid_with(
        "  eventName: ConsoleLogin\n",
        "  eventName: {not: {equals: x, ignore_case: maybe}}\n",
    );
    let (_d, path, run) = validate_rule(&rule);
    assert_only_error(&run, &path, 6, 45, "ignore_case takes true or false");
}

// ---------------------------------------------------------------------------------------
// The AWS API model: requestParameters keys the pinned operations do not take.

/// A rule on one IAM call; `requestParameters.userName` is what CloudTrail writes for it.
const API_RULE: &str = r#"id: access-key-for-bob
title: "Access key for {requestParameters.userName}"
severity: medium
match:
  eventSource: iam.amazonaws.com
  eventName: CreateAccessKey
  requestParameters.userName: bob
"#;

fn api_rule_with(from: &str, to: &str) -> String {
    assert_eq!(
        API_RULE.matches(from).count(),
        1,
        "{from:?} must occur once"
    );
    API_RULE.replace(from, to)
}

#[test]
fn request_parameter_the_operation_does_not_take_is_a_warning_with_the_member() {
    let rule = api_rule_with(
        "requestParameters.userName: bob",
        "requestParameters.usrName: bob",
    );
    let (_d, path, run) = validate_rule(&rule);
    assert_reported(
        &run,
        &path,
        7,
        3,
        "warning: 'requestParameters.usrName' is not a request parameter of iam CreateAccessKey \
         (did you mean 'userName'?)",
    );
    assert!(
        run.stderr.ends_with("1 rule(s) OK, 1 warning(s)\n"),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 0, "a warning must not fail validation");

    // The model's spelling is not CloudTrail's; a title placeholder is checked too.
    let rule = api_rule_with(
        "{requestParameters.userName}",
        "{requestParameters.UserName}",
    );
    let (_d, path, run) = validate_rule(&rule);
    assert_reported(
        &run,
        &path,
        2,
        8,
        "warning: 'requestParameters.UserName' is not a request parameter of iam CreateAccessKey \
         (did you mean 'userName'?)",
    );
}

#[test]
fn a_member_of_the_operation_is_not_warned() {
    let (_d, _path, run) = validate_rule(API_RULE);
    assert_eq!(run.stderr, "1 rule(s) OK, 0 warning(s)\n");
    // Lambda's event names carry the API version; its members are still known.
    let rule = api_rule_with("iam.amazonaws.com", "lambda.amazonaws.com")
        .replace(
            "eventName: CreateAccessKey",
            "eventName: UpdateFunctionCode20150331v2",
        )
        .replace("userName", "functionName");
    let (_d, _path, run) = validate_rule(&rule);
    assert_eq!(run.stderr, "1 rule(s) OK, 0 warning(s)\n");
    let (_d, path, run) = validate_rule(&rule.replace("functionName: bob", "functionNme: bob"));
    assert_reported(
        &run,
        &path,
        7,
        3,
        "warning: 'requestParameters.functionNme' is not a request parameter of lambda \
         UpdateFunctionCode (did you mean 'functionName'?)",
    );
}

#[test]
fn an_event_that_is_no_api_operation_is_not_checked() {
    // ConsoleLogin is written by the sign-in service, not an SDK call.
    let rule = api_rule_with("iam.amazonaws.com", "signin.amazonaws.com")
        .replace("eventName: CreateAccessKey", "eventName: ConsoleLogin")
        .replace(
            "requestParameters.userName: bob",
            "requestParameters.anything: bob",
        );
    let (_d, _path, run) = validate_rule(&rule);
    assert_eq!(run.stderr, "1 rule(s) OK, 0 warning(s)\n");
    // Nor is a service whose records do not follow the model (S3's bucketName).
    let rule = api_rule_with("iam.amazonaws.com", "s3.amazonaws.com")
        .replace("eventName: CreateAccessKey", "eventName: PutBucketPolicy")
        .replace("userName", "bucketName");
    let (_d, _path, run) = validate_rule(&rule);
    assert_eq!(run.stderr, "1 rule(s) OK, 0 warning(s)\n");
}

#[test]
fn a_misspelt_operation_of_the_pinned_service_is_a_warning() {
    let rule = api_rule_with("eventName: CreateAccessKey", "eventName: CreateAccesKey");
    let (_d, path, run) = validate_rule(&rule);
    assert_reported(
        &run,
        &path,
        6,
        3,
        "warning: eventName 'CreateAccesKey' is not an operation of iam.amazonaws.com \
         (did you mean 'CreateAccessKey'?)",
    );
    assert!(
        run.stderr.ends_with("1 rule(s) OK, 1 warning(s)\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn bundled_rules_read_only_request_parameters_their_calls_take() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let run = validate(&dir);
    for l in run.stderr.lines() {
        assert!(
            !l.contains("is not a request parameter") && !l.contains("is not an operation"),
            "{l}"
        );
    }
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
}

#[test]
fn bad_account_aliases_are_located_warnings_and_the_rules_still_load() {
    let lists = format!(
        "{LISTS}account_aliases:\n  - 111122223333=prod-payments\n  - 12345=short\n  - \"444455556666\"\n  - 111122223333=other\n"
    );
    let dir = rules_dir(&[("lists.yaml", &lists), ("rule.yaml", VALID)]);
    let file = dir.path().join("lists.yaml");
    let run = validate(dir.path());
    assert_reported(
        &run,
        &file,
        5,
        5,
        "warning: account_aliases entry 2: '12345' is not an account id (12 digits); it is not shown",
    );
    assert_reported(
        &run,
        &file,
        6,
        5,
        "warning: account_aliases entry 3: '444455556666' is not ACCOUNT_ID=ALIAS (e.g. 111122223333=prod-payments); it is not shown",
    );
    assert_reported(
        &run,
        &file,
        7,
        5,
        "warning: account_aliases entry 4: account 111122223333 already has the alias 'prod-payments' (entry 1); 'other' is ignored; it is not shown",
    );
    assert!(
        run.stderr.ends_with("1 rule(s) OK, 3 warning(s)\n"),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}
