use super::describe::globs_of;
use super::*;
use crate::event::Event;
use crate::rules::{RuleFile, RuleSet};
use serde_json::json;

/// 2026-01-01T00:00:00Z: the suppressions below (2027) are in force.
const NOW: i64 = 1_767_225_600;

fn set_with_lists(rule: &str, lists: &str) -> RuleSet {
    let files = [RuleFile {
        path: "r.yaml".into(),
        text: format!("id: r\ntitle: 't {{eventName}}'\nseverity: medium\n{rule}"),
    }];
    let lists = [RuleFile {
        path: "lists.yaml".into(),
        text: lists.into(),
    }];
    let (set, diags) = RuleSet::compile(&files, &lists, &[], NOW);
    assert!(diags.is_empty(), "{diags:?}");
    set.expect("compiles")
}

fn set(rule: &str) -> RuleSet {
    set_with_lists(
        rule,
        "trusted: ['111122223333', '444455556666', '777788889999']\n",
    )
}

/// Low-severity rules titled `t`, one file each (`ID.yaml`), from `(id, body)` pairs.
fn rules_of(rules: &[(&str, &str)]) -> RuleSet {
    let files: Vec<RuleFile> = rules
        .iter()
        .map(|(id, body)| RuleFile {
            path: format!("{id}.yaml"),
            text: format!("id: {id}\ntitle: t\nseverity: low\n{body}"),
        })
        .collect();
    RuleSet::compile(&files, &[], &[], NOW).0.unwrap()
}

fn ev(v: serde_json::Value) -> Event {
    Event::from_value(v).expect("an object")
}

/// The first failure of the only rule of `set` on `e`, checking the verdict agrees.
fn why(set: &RuleSet, e: &serde_json::Value) -> Option<String> {
    let rule = &set.rules()[0];
    let e = ev(e.clone());
    let t = rule_trace(rule, &e, true);
    assert_eq!(t.matches, rule.matches(&e), "{t:#?}");
    assert_eq!(t.trace.holds, rule.cond.matches(&e));
    t.reason
}

#[test]
fn a_near_miss_names_the_failing_condition_and_the_value_found() {
    let s = set("match:\n  eventName: CreateAccessKey\n  requestParameters.userName: [alice]\n");
    let e = json!({"eventName":"CreateAccessKey","requestParameters":{"userName":"bob"}});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(r#"requestParameters.userName: found "bob", expected one of ["alice"]"#)
    );
    let e = json!({"eventName":"CreateAccessKey"});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(r#"requestParameters.userName: missing, expected one of ["alice"]"#)
    );
    let e = json!({"eventName":"CreateAccessKey","requestParameters":{"userName":"alice"}});
    assert_eq!(why(&s, &e), None);
}

#[test]
fn each_operator_says_why_it_failed() {
    let s = set(concat!(
        "match:\n",
        "  any:\n",
        "    - sourceIPAddress: {cidr: 10.0.0.0/8}\n",
        "    - userIdentity.accountId: {in_list: trusted}\n",
        "    - requestParameters.maxResults: {gt: 5}\n",
        "    - userAgent: {regex: '^curl/'}\n",
        "    - requestParameters.bucketName: {glob: 'prod-*-logs', ignore_case: true}\n",
        "    - userIdentity: {equals: x}\n",
    ));
    let e = json!({"sourceIPAddress":"ec2.amazonaws.com","userIdentity":{"accountId":"999999999999"},
        "requestParameters":{"maxResults":"many","bucketName":"dev-logs"},"userAgent":"aws-cli/2"});
    let t = trace(&s.rules()[0].cond, &ev(e));
    let TraceNode::Any { of } = &t.node else {
        panic!("{t:?}")
    };
    let reasons: Vec<String> = of.iter().filter_map(first_failure).collect();
    assert_eq!(
        reasons,
        [
            r#"sourceIPAddress: found "ec2.amazonaws.com" (not an IP address), expected cidr 10.0.0.0/8"#,
            r#"userIdentity.accountId: found "999999999999", not in list trusted (3 values)"#,
            r#"requestParameters.maxResults: found "many" (not a number), expected gt 5"#,
            r#"userAgent: found "aws-cli/2", expected regex '^curl/'"#,
            r#"requestParameters.bucketName: found "dev-logs", expected glob "prod-*-logs" (ignoring case)"#,
            r#"userIdentity: found an object (objects and arrays have no text), expected equals "x""#,
        ]
    );
    assert!(first_failure(&t)
        .unwrap()
        .starts_with("none of 6 alternatives held: sourceIPAddress: found"));
}

#[test]
fn not_some_and_same_as_explain_their_inside() {
    let s = set(concat!(
        "match:\n",
        "  userIdentity.type: {not: AWSService}\n",
        "  userIdentity.accountId: {not: {in_list: trusted}}\n",
    ));
    let e = json!({"userIdentity":{"type":"IAMUser","accountId":"444455556666"}});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(
            r#"userIdentity.accountId: found "444455556666", expected not in list trusted (3 values: "111122223333", "444455556666", "777788889999"); the inner test held"#
        )
    );

    let s = set(concat!(
        "match:\n",
        "  arn_account(requestParameters.policyDocument.Statement[*].Principal.AWS[*]):\n",
        "    some: {not: {in_list: trusted}, differs_from: recipientAccountId}\n",
    ));
    let doc = r#"{"Statement":[{"Principal":{"AWS":["arn:aws:iam::111122223333:root","222233334444"]}}]}"#;
    let e = json!({"recipientAccountId":"222233334444","requestParameters":{"policyDocument":doc}});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(concat!(
            r#"arn_account(requestParameters.policyDocument.Statement[*].Principal.AWS[*]): found "111122223333", "222233334444", "#,
            r#"but no single value meets (not in list trusted (3 values: "111122223333", "444455556666", "777788889999") and differs from recipientAccountId): "#,
            r#""111122223333" fails not in list trusted (3 values: "111122223333", "444455556666", "777788889999"); "222233334444" fails differs from recipientAccountId"#
        ))
    );

    let s = set("match:\n  userIdentity.accountId: {same_as: recipientAccountId}\n");
    let e = json!({"userIdentity":{"accountId":"1"}});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(
            r#"userIdentity.accountId: found "1", but recipientAccountId is missing (both must be present)"#
        )
    );
}

#[test]
fn a_negated_condition_says_what_held_inside_it() {
    let s = set("match:\n  eventName: GetUser\n  not: {userIdentity.type: AWSService}\n");
    let e = json!({"eventName":"GetUser","userIdentity":{"type":"AWSService"}});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(
            r#"not: the inner condition held (userIdentity.type: found "AWSService" (equals "AWSService"))"#
        )
    );
}

#[test]
fn where_traces_the_elements() {
    let s = set(concat!(
        "match:\n",
        "  requestParameters.bucketPolicy.Statement[*]:\n",
        "    where: {Effect: Allow, Principal: '*'}\n",
    ));
    let e = json!({"requestParameters":{"bucketPolicy":{"Statement":[
        {"Effect":"Deny","Principal":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"}}]}}});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(
            r#"requestParameters.bucketPolicy.Statement[*]: no element meets the condition (element 1: Effect: found "Deny", expected equals "Allow")"#
        )
    );
    let open = json!({"requestParameters":{"bucketPolicy":{"Statement":[
        {"Effect":"Deny","Principal":"*"},{"Effect":"Allow","Principal":"*"}]}}});
    let t = rule_trace(&s.rules()[0], &ev(open), true);
    assert!(t.matches);
    let TraceNode::Test(test) = &t.trace.node else {
        panic!()
    };
    assert_eq!(test.ops[0].elements.len(), 1, "the element that met it");
    assert!(test.ops[0].elements[0].holds);
}

#[test]
fn secrets_are_never_shown() {
    let s = set(concat!(
        "match:\n",
        "  responseElements.credentials.sessionToken: {prefix: FQoG}\n",
    ));
    let e = json!({"responseElements":{"credentials":{"sessionToken":"IQoSECRET-TOKEN"}}});
    let t = rule_trace(&s.rules()[0], &ev(e), true);
    let json = serde_json::to_string(&t).unwrap();
    let reason = t.reason.clone().unwrap();
    assert_eq!(
        reason,
        r#"responseElements.credentials.sessionToken: found [redacted], expected prefix "FQoG""#
    );
    let mut tree = String::new();
    text::trace_tree(&mut tree, &t.trace, 0, &[]);
    for out in [&json, &reason, &tree] {
        assert!(!out.contains("SECRET"), "{out}");
    }
    assert!(json.contains(r#""redacted":true"#), "{json}");

    // An object compared as JSON text (as Sigma does) keeps its secrets hidden too.
    let files = [RuleFile {
        path: "s.yml".into(),
        text: "title: s\nid: s\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    responseElements|contains: nothing-like-this\n  condition: sel\nlevel: low\n".into(),
    }];
    let (sigma, diags) = RuleSet::compile(&files, &[], &[], NOW);
    assert!(diags.is_empty(), "{diags:?}");
    let sigma = sigma.unwrap();
    let e = ev(
        json!({"responseElements":{"credentials":{"secretAccessKey":"wJalrSECRET","accessKeyId":"ASIA1"},"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/s"}}}),
    );
    let t = rule_trace(&sigma.rules()[0], &e, true);
    let json = serde_json::to_string(&t).unwrap();
    assert!(!json.contains("wJalr"), "{json}");
    assert!(
        json.contains("assumed-role"),
        "other values are shown: {json}"
    );
    assert!(!t.reason.unwrap().contains("wJalr"));
}

#[test]
fn on_failure_suppressions_and_steps_are_reported() {
    let s = set("match:\n  eventName: StopLogging\non_failure: ignore\n");
    let e = json!({"eventName":"StopLogging","errorCode":"AccessDenied"});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some("on_failure: ignore drops failed calls, and this one failed (AccessDenied)")
    );

    let s = set(concat!(
        "match:\n  eventName: StopLogging\n",
        "suppress:\n",
        "  - match: {userIdentity.arn: {suffix: /ci}}\n",
        "    reason: CI rotates trails\n",
        "    owner: secops@example.com\n",
        "    expires: 2027-06-30\n",
    ));
    let e = ev(json!({"eventName":"StopLogging","userIdentity":{"arn":"arn:aws:iam::1:user/ci"}}));
    let t = rule_trace(&s.rules()[0], &e, true);
    assert_eq!(t.verdict, "suppressed");
    let hit = t.suppressed_by.unwrap();
    assert_eq!(
        (
            hit.reason.as_str(),
            hit.owner.as_str(),
            hit.expires.as_str()
        ),
        (
            "CI rotates trails",
            "secops@example.com",
            "through 2027-06-30"
        )
    );
    assert!(hit.trace.holds);

    let s = set(concat!(
        "match: {eventName: ConsoleLogin}\n",
        "sequence:\n  window: 15m\n  steps:\n",
        "    - {name: failures, count: 3, match: {responseElements.ConsoleLogin: Failure}}\n",
        "    - {name: success, match: {responseElements.ConsoleLogin: Success}}\n",
    ));
    let e = ev(json!({"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Success"}}));
    let t = rule_trace(&s.rules()[0], &e, true);
    assert_eq!(t.step.as_deref(), Some("success"));
    assert_eq!(t.steps, ["failures", "success"]);
    assert_eq!(
        t.escalation.as_deref(),
        Some("a step of a sequence: 2 steps in order within 15m")
    );
}

#[test]
fn describing_shows_lists_by_name_and_operators_with_their_values() {
    let s = set_with_lists(
        concat!(
            "match:\n",
            "  eventName: [RunInstances, StartInstances]\n",
            "  userIdentity.userName: {in_list: many}\n",
            "  userAgent: {glob: ['*boto*', 'a?c'], ignore_case: true}\n",
            "  requestParameters.instanceType: {regex: '^p[0-9]\\.'}\n",
            "threshold: {count: 5, window: 10m, group_by: account_id, distinct: sourceIPAddress}\n",
            "suppress:\n",
            "  - match: {sourceIPAddress: 192.0.2.1}\n",
            "    reason: office\n",
            "    owner: it@example.com\n",
            "    expires: '2027-06-30T12:00:00Z'\n",
        ),
        "many: [j, i, h, g, f, e, d, c, b, a]\n",
    );
    let v = describe(&s.rules()[0]);
    assert_eq!(
        (v.index.field.as_str(), &v.index.values[..]),
        (
            "eventName",
            &["RunInstances".to_string(), "StartInstances".to_string()][..]
        )
    );
    let out = text::rule(&v);
    for line in [
        "indexed on: eventName RunInstances, StartInstances\n",
        "    eventName: one of [\"RunInstances\", \"StartInstances\"]\n",
        "    userIdentity.userName: in list many (10 values: \"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", …)\n",
        "    userAgent: glob any of [\"*boto*\", \"a?c\"] (ignoring case)\n",
        "    requestParameters.instanceType: regex '^p[0-9]\\.'\n",
        "threshold:  5 distinct sourceIPAddress within 10m, per account_id\n",
        "  - office (owner it@example.com, until 2027-06-30T12:00:00Z)\n",
        "      sourceIPAddress: equals \"192.0.2.1\"\n",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    let json = serde_json::to_value(&v).unwrap();
    let ops = &json["condition"]["of"][1]["ops"][0];
    assert_eq!(ops["op"], "in_list");
    assert_eq!(ops["list"], "many");
    assert_eq!(ops["total"], 10);
}

#[test]
fn globs_read_back_as_written() {
    for g in [
        "prod-*-logs",
        "a?c",
        "*",
        "x.y+(z)[1]{2}|$^\\*",
        "arn:aws:iam::*:role/*",
    ] {
        let re = crate::rules::cond::glob_to_regex(g);
        assert_eq!(globs_of(&re), Some(vec![g.to_string()]), "{re}");
    }
    assert_eq!(globs_of("^abc$"), None, "no wildcard: shown as the regex");
    assert_eq!(globs_of("^a.*$"), None, "a regex, not a glob");
    assert_eq!(
        globs_of("(?:^a(?s:.*)$)|(?:^(?s:.)b$)"),
        Some(vec!["a*".to_string(), "?b".to_string()])
    );
}

#[test]
fn copies_point_at_the_first_record() {
    let mut c = Copies::new(crate::pipeline::DEFAULT_HORIZON);
    let a = ev(json!({"eventID":"1","eventTime":"2024-01-01T00:00:00Z","eventName":"A"}));
    let b = ev(json!({"eventID":"2","eventTime":"2024-01-01T00:00:00Z","eventName":"A"}));
    let no_id = ev(json!({"eventName":"A"}));
    assert_eq!(c.check(&a, 1), None);
    assert_eq!(c.check(&b, 2), None);
    assert_eq!(c.check(&no_id, 3), None);
    assert_eq!(c.check(&no_id, 4), None, "without eventID, never a copy");
    assert_eq!(c.check(&a, 5), Some(1));
    assert_eq!(c.check(&a, 6), Some(1));
}

#[test]
fn the_index_says_why_it_skips_a_rule() {
    let set = rules_of(&[
        ("a", "match: {eventName: [DeleteTrail, StopLogging]}\n"),
        ("b", "enabled: false\nmatch: {eventName: GetUser}\n"),
        ("c", "match: {errorCode: AccessDenied}\n"),
    ]);
    let e = ev(json!({"eventName":"GetUser","errorCode":"AccessDenied"}));
    let all = record_trace(&set, &e, 1, None, None);
    let ids: Vec<&str> = all.rules.iter().map(|t| t.rule.as_str()).collect();
    assert_eq!(ids, ["c"]);
    assert_eq!((all.skipped, all.disabled), (1, 1));
    let a = record_trace(&set, &e, 1, None, Some(0));
    assert!(!a.rules[0].offered);
    assert_eq!(
        a.rules[0].skipped_because.as_deref(),
        Some(r#"eventName "GetUser" is not one of ["DeleteTrail", "StopLogging"]"#)
    );
    let b = record_trace(&set, &e, 1, None, Some(1));
    assert_eq!(
        b.rules[0].skipped_because.as_deref(),
        Some("the rule is disabled (enabled: false)")
    );
}

#[test]
fn ignore_case_is_said_once_and_where_it_applies() {
    let s = set(concat!(
        "match:\n",
        "  eventName: {not: {prefix: delete}, ignore_case: true}\n",
        "  eventSource: {not: {prefix: x, ignore_case: false}, ignore_case: true}\n",
        "  userAgent: {not: {prefix: Boto, ignore_case: true}}\n",
    ));
    let out = text::rule(&describe(&s.rules()[0]));
    for line in [
        "    eventName: not prefix \"delete\" (ignoring case)\n",
        "    eventSource: not prefix \"x\" (case-sensitive) (ignoring case)\n",
        "    userAgent: not prefix \"boto\" (ignoring case)\n",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    let e = json!({"eventName":"DeleteTrail","eventSource":"s","userAgent":"u"});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(
            r#"eventName: found "DeleteTrail", expected not prefix "delete" (ignoring case); the inner test held"#
        )
    );
    let e = json!({"eventName":"GetUser","eventSource":"s","userAgent":"boto3"});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(
            r#"userAgent: found "boto3", expected not prefix "boto" (ignoring case); the inner test held"#
        )
    );
}

#[test]
fn describing_not_and_where_shows_what_is_inside() {
    let s = set_with_lists(
        concat!(
            "match:\n",
            "  eventName: A\n",
            "  userIdentity.accountId: {not: {in_list: many}}\n",
            "  resources[*]: {where: {type: 'AWS::S3::Object'}}\n",
        ),
        "many: [a, b]\n",
    );
    fn find<'a>(v: &'a serde_json::Value, op: &str) -> Option<&'a serde_json::Value> {
        if v["op"] == op {
            return Some(v);
        }
        match v {
            serde_json::Value::Array(a) => a.iter().find_map(|x| find(x, op)),
            serde_json::Value::Object(o) => o.values().find_map(|x| find(x, op)),
            _ => None,
        }
    }
    let json = serde_json::to_value(describe(&s.rules()[0])).unwrap();
    let not = find(&json, "not").unwrap_or_else(|| panic!("{json}"));
    assert_eq!(not["inner"][0]["op"], "in_list", "{not}");
    assert_eq!(not["inner"][0]["list"], "many", "{not}");
    let place = find(&json, "where").unwrap_or_else(|| panic!("{json}"));
    assert!(
        place["cond"].to_string().contains("AWS::S3::Object"),
        "{place}"
    );
}

#[test]
fn numbers_read_as_written() {
    for (n, text) in [
        (5.0, "5"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (-0.0, "0"),
        (1e15, "1000000000000000"),
        (1e20, "100000000000000000000"),
    ] {
        assert_eq!(number(n), text, "{n:?}");
    }
}

#[test]
fn value_lists_count_what_they_do_not_show() {
    let items: Vec<String> = (0..=SHOWN_VALUES).map(|i| i.to_string()).collect();
    let list = |n: usize| quoted_list(items.iter().take(n).map(String::as_str), n);
    let all = list(SHOWN_VALUES);
    assert!(!all.contains("in all"), "{all}");
    assert!(
        all.ends_with(&format!("\"{}\"]", SHOWN_VALUES - 1)),
        "{all}"
    );
    let one_more = list(SHOWN_VALUES + 1);
    assert!(
        one_more.ends_with(&format!(
            "\"{}\", … {} in all]",
            SHOWN_VALUES - 1,
            SHOWN_VALUES + 1
        )),
        "{one_more}"
    );
}

#[test]
fn a_disabled_rule_says_so_and_an_enabled_one_says_nothing() {
    let on = text::rule(&describe(&set("match: {eventName: X}\n").rules()[0]));
    assert!(!on.contains("enabled:"), "{on}");
    let off = text::rule(&describe(
        &set("enabled: false\nmatch: {eventName: X}\n").rules()[0],
    ));
    assert!(
        off.contains("enabled:    false (it never evaluates live records"),
        "{off}"
    );
}

const NESTED: &str = concat!(
    "match:\n",
    "  eventName: A\n",
    "  any:\n",
    "    - sourceIPAddress: 192.0.2.1\n",
    "    - not: {userAgent: x}\n",
    "  resources[*]: {where: {type: T}}\n",
);

#[test]
fn nested_conditions_read_as_an_indented_tree() {
    let out = text::rule(&describe(&set(NESTED).rules()[0]));
    let head = "rule:       r\nfile:       r.yaml\ntitle:      t {eventName}\nseverity:   medium\n";
    assert!(out.starts_with(head), "{out}");
    let want = concat!(
        "match:\n",
        "  all of:\n",
        "    eventName: equals \"A\"\n",
        "    any of:\n",
        "      sourceIPAddress: equals \"192.0.2.1\"\n",
        "      not:\n",
        "        userAgent: equals \"x\"\n",
        "    resources[*]: where an element meets the condition\n",
        "      type: equals \"T\"\n",
        "suppress:   none\n",
    );
    assert!(out.ends_with(want), "{out}");
}

#[test]
fn a_record_reads_as_its_heading_its_copy_line_and_each_rule() {
    let s = set(NESTED);
    let e = ev(json!({
        "eventName": "A", "eventSource": "s.amazonaws.com", "eventTime": "2024-01-01T00:00:00Z",
        "eventID": "e1", "sourceIPAddress": "192.0.2.9", "userAgent": "x",
        "resources": [{"type": "T"}]
    }));
    let miss = record_trace(&s, &e, 2, Some(1), None);
    let head = concat!(
        "record 2: A (s.amazonaws.com) at 2024-01-01T00:00:00Z, eventID e1\n",
        "  a copy of record 1 (same eventID, eventTime, eventName and recipientAccountId): scan drops it before any rule sees it\n",
    );
    let why = "none of 2 alternatives held: sourceIPAddress: found \"192.0.2.9\", expected equals \"192.0.2.1\" | not: the inner condition held (userAgent: found \"x\" (equals \"x\"))";
    assert_eq!(
        text::record_summary(&miss),
        format!(
            "{head}  matches: none\n  no match (1 candidate):\n    r: {why}\n  the index skipped 0 rules (their eventName or eventSource cannot match)\n"
        )
    );
    let detail = text::record_detail(&miss);
    let tree = concat!(
        "  condition:\n",
        "    ✗ all of:\n",
        "      ✓ eventName: found \"A\"; equals \"A\"\n",
        "      ✗ any of:\n",
        "        ✗ sourceIPAddress: found \"192.0.2.9\", expected equals \"192.0.2.1\"\n",
        "        ✗ not:\n",
        "          ✓ userAgent: found \"x\"; equals \"x\"\n",
        "      ✓ resources[*]: found an object\n",
        "        ✓ where an element meets the condition\n",
        "          the element that meets it:\n",
        "            ✓ type: found \"T\"; equals \"T\"\n",
    );
    assert!(
        detail.starts_with(&format!(
            "{head}rule r: no match\n  index:      offered (indexed on eventName A)\n  why:        {why}\n{tree}"
        )),
        "{detail}"
    );
    let e = ev(json!({"eventName": "A", "userAgent": "y", "resources": [{"type": "T"}]}));
    let hit = record_trace(&s, &e, 1, None, None);
    assert_eq!(
        text::record_summary(&hit),
        "record 1: A\n  matches (1):\n    r (medium)\n  the index skipped 0 rules (their eventName or eventSource cannot match)\n"
    );
    let detail = text::record_detail(&hit);
    assert!(
        detail.starts_with("record 1: A\nrule r: match\n  index:      offered (indexed on eventName A)\n  severity:   medium\n  condition:\n    ✓ all of:\n"),
        "{detail}"
    );
}

#[test]
fn a_suppressed_match_and_disabled_rules_are_said() {
    let set = rules_of(&[
        (
            "s",
            "suppress:\n  - match: {userAgent: y}\n    reason: lab\n    owner: it@example.com\n    expires: '2027-06-30'\nmatch: {eventName: A}\n",
        ),
        ("d", "enabled: false\nmatch: {eventName: A}\n"),
        ("o", "match: {eventName: A}\n"),
        ("e", "enabled: false\nmatch: {eventName: A}\n"),
    ]);
    let r = record_trace(
        &set,
        &ev(json!({"eventName": "A", "userAgent": "y"})),
        1,
        None,
        None,
    );
    assert_eq!(
        text::record_summary(&r),
        concat!(
            "record 1: A\n",
            "  matches (2):\n",
            "    s (low): suppressed: lab (owner it@example.com, through 2027-06-30)\n",
            "    o (low)\n",
            "  the index skipped 0 rules (their eventName or eventSource cannot match); 2 disabled\n",
        )
    );
    assert_eq!(
        text::record_detail(&r),
        concat!(
            "record 1: A\n",
            "rule s: match, suppressed\n",
            "  index:      offered (indexed on eventName A)\n",
            "  severity:   low\n",
            "  suppressed: lab (owner it@example.com, through 2027-06-30)\n",
            "  condition:\n",
            "    ✓ eventName: found \"A\"; equals \"A\"\n",
            "  suppression:\n",
            "    ✓ userAgent: found \"y\"; equals \"y\"\n",
            "rule o: match\n",
            "  index:      offered (indexed on eventName A)\n",
            "  severity:   low\n",
            "  condition:\n",
            "    ✓ eventName: found \"A\"; equals \"A\"\n",
        )
    );
}

#[test]
fn a_list_shows_its_first_values_and_says_when_there_are_more_or_none() {
    let eight = (1..=SHOWN_VALUES)
        .map(|i| format!("v{i}"))
        .collect::<Vec<_>>();
    let lists = format!(
        "eight: [{}]\nnine: [{}, v9]\nnone: []\n",
        eight.join(", "),
        eight.join(", ")
    );
    let rule = "match:\n  eventName: {in_list: eight}\n  userAgent: {in_list: nine}\n  sourceIPAddress: {in_list: none}\n";
    let out = text::rule(&describe(&set_with_lists(rule, &lists).rules()[0]));
    let quoted = eight
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    for line in [
        format!("    eventName: in list eight (8 values: {quoted})\n"),
        format!("    userAgent: in list nine (9 values: {quoted}, …)\n"),
        "    sourceIPAddress: in list none (empty)\n".to_string(),
    ] {
        assert!(out.contains(&line), "{line}\n{out}");
    }
}

#[test]
fn values_found_say_how_many_were_not_shown() {
    let found = |values: &[&str], total| {
        super::trace::Found {
            values: values.iter().map(|v| json!(v)).collect(),
            total,
            redacted: false,
            whole_record: false,
        }
        .shown()
    };
    assert_eq!(found(&["a", "b"], 2), r#""a", "b""#);
    assert_eq!(found(&["a", "b"], 3), r#""a", "b" and 1 more"#);
    assert_eq!(found(&[], 0), "nothing");
}

#[test]
fn a_sigma_test_on_an_object_shows_the_json_text_it_compared() {
    let files = [RuleFile {
        path: "s.yml".into(),
        text: "title: s\nid: 11111111-0000-4000-8000-000000000001\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {requestParameters|contains: zzz}\n  condition: sel\nlevel: low\n".into(),
    }];
    let set = RuleSet::compile(&files, &[], &[], NOW).0.unwrap();
    let e = json!({"eventName": "A", "requestParameters": {"bucketName": "b"}});
    assert_eq!(
        why(&set, &e).as_deref(),
        Some(
            r#"requestParameters: found "{\"bucketName\":\"b\"}", expected contains "zzz" (ignoring case)"#
        )
    );
}

#[test]
fn secrets_inside_json_text_are_never_shown() {
    let s = set("match:\n  requestParameters.environment: {prefix: zzz}\n");
    for text in [
        r#"{"Variables": {"password": "SECRET-1", "stage": "prod"}}"#,
        r#"  [{"name": "db", "secretString": "SECRET-2"}]"#,
    ] {
        let e = json!({"requestParameters": {"environment": text}});
        let t = rule_trace(&s.rules()[0], &ev(e), true);
        let json = serde_json::to_string(&t).unwrap();
        assert!(!json.contains("SECRET"), "{json}");
        assert!(json.contains("[redacted]"), "{json}");
    }
    // Text that is not a JSON document is shown as it is.
    let e = json!({"requestParameters": {"environment": "{not json"}});
    assert_eq!(
        why(&s, &e).as_deref(),
        Some(r#"requestParameters.environment: found "{not json", expected prefix "zzz""#)
    );
}

#[test]
fn near_misses_of_values_of_the_right_kind_and_of_not_and_exists() {
    let s = set(concat!(
        "match:\n",
        "  any:\n",
        "    - sourceIPAddress: {cidr: 10.0.0.0/8}\n",
        "    - requestParameters.maxResults: {gt: 5}\n",
        "    - errorCode: {exists: true}\n",
        "    - userIdentity.userName: {exists: false}\n",
        "    - eventSource: {not: {prefix: x, ignore_case: false}, ignore_case: true}\n",
        "    - userAgent: {not: {prefix: boto}}\n",
    ));
    let e = json!({"sourceIPAddress": "192.0.2.1", "requestParameters": {"maxResults": 3},
        "userIdentity": {"userName": "bob"}, "eventSource": "xyz", "userAgent": "boto3"});
    let t = trace(&s.rules()[0].cond, &ev(e));
    let TraceNode::Any { of } = &t.node else {
        panic!("{t:?}")
    };
    let reasons: Vec<String> = of.iter().filter_map(first_failure).collect();
    assert_eq!(
        reasons,
        [
            r#"sourceIPAddress: found "192.0.2.1", expected cidr 10.0.0.0/8"#,
            "requestParameters.maxResults: found 3, expected gt 5",
            "errorCode: missing, expected exists",
            r#"userIdentity.userName: found "bob", expected it absent"#,
            r#"eventSource: found "xyz", expected not prefix "x"; the inner test held"#,
            r#"userAgent: found "boto3", expected not prefix "boto"; the inner test held"#,
        ]
    );
    // A `not` carries the trace of the test inside it.
    let json = serde_json::to_value(&of[5]).unwrap();
    let inner = &json["ops"][0]["inner"];
    assert_eq!(
        (&inner[0]["op"], &inner[0]["holds"]),
        (&json!("prefix"), &json!(true)),
        "{json:#}"
    );
}

#[test]
fn one_line_reasons_name_three_parts_then_count_the_rest() {
    let any = |n: usize| {
        let alts: String = (0..n).map(|i| format!("    - eventName: E{i}\n")).collect();
        let s = set(&format!("match:\n  any:\n{alts}"));
        why(&s, &json!({"eventName": "X"})).unwrap()
    };
    let three = any(3);
    assert!(
        three.starts_with("none of 3 alternatives held: "),
        "{three}"
    );
    assert!(!three.contains("in all"), "{three}");
    assert!(any(4).ends_with(" | … 4 in all"), "{}", any(4));
    let not_all = |n: usize| {
        let tests: String = (0..n)
            .map(|i| format!("    requestParameters.f{i}: v\n"))
            .collect();
        let s = set(&format!("match:\n  eventName: A\n  not:\n{tests}"));
        let mut e = json!({"eventName": "A", "requestParameters": {}});
        for i in 0..n {
            e["requestParameters"][format!("f{i}")] = json!("v");
        }
        why(&s, &e).unwrap()
    };
    let held = |i: usize| format!(r#"requestParameters.f{i}: found "v" (equals "v")"#);
    assert_eq!(
        not_all(3),
        format!(
            "not: the inner condition held ({}; {}; {})",
            held(0),
            held(1),
            held(2)
        )
    );
    assert_eq!(
        not_all(4),
        format!(
            "not: the inner condition held ({}; {}; {}; …)",
            held(0),
            held(1),
            held(2)
        )
    );
}

#[test]
fn matches_come_first_and_an_event_source_index_says_why_it_skips() {
    let set = rules_of(&[
        ("a", "match: {eventName: A, userAgent: never}\n"),
        ("b", "match: {eventName: A}\n"),
        ("c", "match: {eventSource: s3.amazonaws.com}\n"),
    ]);
    let e = ev(json!({"eventName": "A", "eventSource": "iam.amazonaws.com"}));
    let all = record_trace(&set, &e, 1, None, None);
    let order: Vec<(&str, bool)> = all
        .rules
        .iter()
        .map(|t| (t.rule.as_str(), t.matches))
        .collect();
    assert_eq!(order, [("b", true), ("a", false)]);
    let c = record_trace(&set, &e, 1, None, Some(2));
    assert_eq!(
        c.rules[0].skipped_because.as_deref(),
        Some(r#"eventSource "iam.amazonaws.com" is not one of ["s3.amazonaws.com"]"#)
    );
}

#[test]
fn a_sequence_traces_each_step_by_name() {
    let s = set("sequence:\n  window: 15m\n  steps:\n    - {name: first, match: {eventName: A}}\n    - {name: then, match: {eventName: B}}\n");
    let r = record_trace(&s, &ev(json!({"eventName": "B"})), 1, None, Some(0));
    let detail = text::record_detail(&r);
    let tree = concat!(
        "  condition:\n",
        "    ✓ any step:\n",
        "      step \"first\":\n",
        "        ✗ eventName: found \"B\", expected equals \"A\"\n",
        "      step \"then\":\n",
        "        ✓ eventName: found \"B\"; equals \"B\"\n",
    );
    assert!(detail.contains(tree), "{detail}");
}

#[test]
fn exists_says_no_case_and_everything_under_a_secret_is_redacted() {
    let s = set("match:\n  errorCode: {exists: true, ignore_case: true}\n");
    assert_eq!(
        why(&s, &json!({"eventName": "A"})).as_deref(),
        Some("errorCode: missing, expected exists")
    );
    // `expiration` is no secret, but it sits under `credentials`.
    let s = set("match:\n  responseElements.credentials[*]: {where: {expiration: {prefix: X}}}\n");
    let e = ev(json!({"responseElements": {"credentials": [{"expiration": "SECRET-EXP"}]}}));
    let t = rule_trace(&s.rules()[0], &e, true);
    let json = serde_json::to_string(&t).unwrap();
    assert!(!json.contains("SECRET"), "{json}");
    assert_eq!(
        t.reason.as_deref(),
        Some("responseElements.credentials[*]: no element meets the condition (element 1: expiration: found [redacted], expected prefix \"X\")")
    );
}
