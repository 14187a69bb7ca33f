//! The rule's own small contracts: severities, sequences, failed calls, tags, aliases.

use super::*;
use serde_json::json;

fn compile(text: &str) -> RuleSet {
    let file = RuleFile {
        path: "x.yaml".into(),
        text: text.into(),
    };
    let (set, diags) = RuleSet::compile(&[file], &[], &[], 0);
    assert!(
        diags.iter().all(|d| d.level != diag::Level::Error),
        "{diags:?}"
    );
    set.unwrap()
}

fn event(v: serde_json::Value) -> Event {
    Event::from_value(v).unwrap()
}

#[test]
fn every_severity_name_parses_to_itself() {
    for name in Severity::NAMES {
        assert_eq!(
            Severity::parse(name).map(|s| s.to_string()).as_deref(),
            Some(*name)
        );
    }
    assert_eq!(Severity::parse("Info"), None);
    assert_eq!(Severity::parse("warning"), None);
}

const SEQUENCE: &str = "id: s\ntitle: t\nseverity: low\nsequence:\n  window: 15m\n  ordered: false\n  need: NEED\n  steps:\n    - {name: a, count: 3, match: {eventName: A}}\n    - {name: b, match: {eventName: B}}\n    - {name: c, count: 2, match: {eventName: C}}\n";

fn sequence(need: usize) -> Sequence {
    let set = compile(&SEQUENCE.replace("NEED", &need.to_string()));
    let th = set.rules()[0].threshold.clone().unwrap();
    th.sequence.unwrap()
}

#[test]
fn a_sequence_needs_at_least_its_cheapest_steps_events() {
    // Steps of 3, 1 and 2 events: any two need 1 + 2, all three 6.
    assert_eq!(sequence(2).min_events(), 3);
    assert_eq!(sequence(3).min_events(), 6);
    let seq = sequence(2);
    let named = |name: &str| seq.step_of(&event(json!({"eventName": name})));
    assert_eq!(named("A"), Some(0));
    assert_eq!(named("B"), Some(1));
    assert_eq!(named("C"), Some(2));
    assert_eq!(named("D"), None);
}

#[test]
fn on_failure_severity_applies_to_failed_calls_only() {
    let set = compile("id: f\ntitle: t\nseverity: low\non_failure: {severity: high}\nmatch:\n  eventName: DeleteTrail\n");
    let rule = &set.rules()[0];
    let ok = event(json!({"eventName": "DeleteTrail"}));
    let denied = event(json!({"eventName": "DeleteTrail", "errorCode": "AccessDenied"}));
    assert_eq!(rule.severity_for(&ok), Severity::Low);
    assert_eq!(rule.severity_for(&denied), Severity::High);
}

#[test]
fn sigma_rules_are_indexed_ignoring_case_and_native_rules_are_not() {
    let native = compile("id: n\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\n");
    assert!(!native.rules()[0].index_ignores_case());
    let sigma = compile("title: t\nid: 5f0b8d4e-1c2a-4b3d-9e8f-0a1b2c3d4e5f\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: ConsoleLogin}\n  condition: sel\nlevel: low\n");
    assert!(sigma.rules()[0].index_ignores_case());
}

#[test]
fn tags_name_attack_techniques_and_cis_controls() {
    let set = compile("id: g\ntitle: t\nseverity: low\ntags: [attack.defense_evasion, attack.t1562.008, attack.t1078, securityhub.cloudwatch.5, cis.4.5, other]\nmatch:\n  eventName: StopLogging\n");
    let rule = &set.rules()[0];
    assert_eq!(rule.attack_techniques(), ["T1562.008", "T1078"]);
    assert_eq!(rule.cis_controls(), ["CloudWatch.5", "CIS 4.5"]);
}

#[test]
fn a_set_keeps_the_account_aliases_it_was_given() {
    let (aliases, problems) =
        crate::aliases::AccountAliases::parse(&["111122223333=prod".to_string()]);
    assert!(problems.is_empty());
    let set = compile("id: a\ntitle: t\nseverity: low\nmatch:\n  eventName: X\n");
    assert_eq!(set.aliases().get("111122223333"), None);
    let set = set.with_aliases(aliases);
    assert_eq!(set.aliases().get("111122223333"), Some("prod"));
}

/// The messages of a rule whose match is `m`, one per line.
fn errors(m: &str) -> String {
    let text = format!("id: c\ntitle: t\nseverity: low\nmatch:\n  {m}\n");
    let (_, diags) = RuleSet::compile(
        &[RuleFile {
            path: "c.yaml".into(),
            text,
        }],
        &[],
        &[],
        0,
    );
    diags
        .into_iter()
        .map(|d| d.message)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_misspelt_combinator_is_named_as_one_but_a_dotted_path_as_a_field() {
    let e = errors("alll: [{eventName: X}]");
    assert!(
        e.contains("unknown key 'alll' (did you mean 'all'?)"),
        "{e}"
    );
    let e = errors("al.l: x");
    assert!(!e.contains("unknown key") && e.contains("'al'"), "{e}");
    // The words other languages use are mapped, not matched by spelling ('and' is near 'any').
    assert_eq!(
        errors("and: [{eventName: X}]"),
        "unknown key 'and' (did you mean 'all'?)"
    );
    assert_eq!(
        errors("or: [{eventName: X}]"),
        "unknown key 'or' (did you mean 'any'?)"
    );
    assert_eq!(
        errors("one_of: [X]"),
        "'one_of' is an operator; put it under a field, e.g. `eventName: {one_of: …}`"
    );
}

#[test]
fn lists_of_values_refuse_nulls_and_texts_refuse_booleans() {
    let e = errors("eventName: {one_of: [a, null]}");
    assert!(e.contains("list items must be values, found null"), "{e}");
    for m in [
        "eventName: {prefix: [a, true]}",
        "eventName: {suffix: null}",
    ] {
        let e = errors(m);
        assert!(
            e.contains("takes text or a list of texts, found"),
            "{m}: {e}"
        );
    }
}

#[test]
fn an_unknown_operator_suggests_a_nested_field_only_when_it_would_be_one() {
    let e = errors("userIdentity: {type: Root}");
    assert!(
        e.contains("for the nested field write `userIdentity.type: …`"),
        "{e}"
    );
    let e = errors("userIdentity: {'a b': x}");
    assert!(
        e.contains("unknown operator 'a b'") && !e.contains("nested field"),
        "{e}"
    );
}

/// The messages of a whole rule file.
fn file_errors(text: &str) -> String {
    let file = RuleFile {
        path: "c.yaml".into(),
        text: text.into(),
    };
    let (_, diags) = RuleSet::compile(&[file], &[], &[], 0);
    diags
        .into_iter()
        .map(|d| d.message)
        .collect::<Vec<_>>()
        .join("\n")
}

const HEAD: &str = "id: c\ntitle: t\nseverity: low\nmatch:\n  eventName: X\n";

#[test]
fn text_fields_take_numbers_as_text_and_refuse_blank_text() {
    let set = compile(&format!("{HEAD}description: 12\n"));
    assert_eq!(set.rules()[0].description, "12");
    let e = file_errors(&format!("{HEAD}description: '  '\n"));
    assert!(e.contains("description must be non-empty text"), "{e}");
}

#[test]
fn a_wrong_value_is_shown_as_written() {
    for (v, shown) in [
        ("'5'", "\"5\" (quoted, so it is text; remove the quotes)"),
        ("5", "found '5'"),
        ("nope", "found 'nope'"),
        ("'nope'", "found 'nope'"),
        ("[a]", "found a list"),
    ] {
        let e = file_errors(&format!("{HEAD}on_failure: {v}\n"));
        assert!(e.contains(shown), "{v}: {e}");
    }
}

#[test]
fn durations_reach_a_year_and_no_further() {
    let rule = |cooldown: &str| {
        format!("id: c\ntitle: t\nseverity: low\nmatch:\n  eventName: X\ndedup:\n  key: [eventID]\n  cooldown: {cooldown}\n")
    };
    assert_eq!(file_errors(&rule("366d")), "");
    assert_eq!(file_errors(&rule("2d")), "");
    assert!(
        file_errors(&rule("367d")).contains("366d"),
        "{}",
        file_errors(&rule("367d"))
    );
}

#[test]
fn same_as_names_a_cloudtrail_field_at_the_top_and_any_field_inside_where() {
    assert_eq!(
        errors("userIdentity.accountId: {same_as: recipientAccountID}"),
        errors("recipientAccountID: x")
    );
    assert!(!errors("recipientAccountID: x").is_empty());
    assert_eq!(
        errors("userIdentity.accountId: {same_as: recipientAccountId}"),
        ""
    );
    assert_eq!(
        errors("resources[*]: {where: {ARN: {same_as: accountIdOfOwner}}}"),
        ""
    );
}

#[test]
fn a_title_keeps_the_text_around_its_placeholders() {
    let title = |t: &str| {
        let set = compile(&format!(
            "id: t\ntitle: '{t}'\nseverity: low\nmatch: {{eventName: A}}\n"
        ));
        set.rules()[0].render_title(&event(json!({"eventName": "A"})), 3)
    };
    assert_eq!(title("before {eventName} after"), "before A after");
    assert_eq!(title("{eventName}"), "A");
    assert_eq!(title("{count} x {eventName}"), "3 x A");
    assert_eq!(title("plain"), "plain");
}

#[test]
fn a_title_joins_the_values_of_a_list_and_falls_back_when_there_are_none() {
    let set = compile("id: t\ntitle: \"{requestParameters.names[*]|'none'}\"\nseverity: low\nmatch: {eventName: A}\n");
    let title = |names: serde_json::Value| {
        set.rules()[0].render_title(
            &event(json!({"eventName": "A", "requestParameters": {"names": names}})),
            1,
        )
    };
    assert_eq!(title(json!([])), "none");
    assert_eq!(title(json!(["a", "b", "a"])), "a, b");
    assert_eq!(
        title(json!(["1", "2", "3", "4", "5", "6", "7"])),
        "1, 2, 3, 4, 5 and 2 more"
    );
}

#[test]
fn comparisons_read_numbers_held_in_text() {
    let set =
        compile("id: n\ntitle: t\nseverity: low\nmatch: {requestParameters.maxResults: {gt: 5}}\n");
    let with = |v: serde_json::Value| {
        set.rules()[0].matches(&event(json!({"requestParameters": {"maxResults": v}})))
    };
    assert!(with(json!(6)) && with(json!("6")) && with(json!(" 6.5 ")));
    assert!(!with(json!(5)) && !with(json!("5")) && !with(json!("six")));
}

#[test]
fn decoding_keeps_what_a_where_reads_below_its_field() {
    let set = compile("id: w\ntitle: t\nseverity: low\nmatch:\n  resources[*]: {where: {type: 'AWS::S3::Object', ARN: {suffix: .env}}}\n");
    let record = br#"{"eventName": "GetObject", "userAgent": "x", "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/.env", "accountId": "1"}]}"#;
    let kept = set.keep().parse(record).unwrap();
    // What the where reads is kept; the element's other fields are not.
    assert_eq!(
        kept["resources"],
        json!([{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/.env"}])
    );
    assert!(set.rules()[0].matches(&Event::from_value(kept).unwrap()));
}

#[test]
fn some_asks_one_value_to_pass_where_not_asks_all() {
    let rule = |ops: &str| {
        compile(&format!(
            "id: s\ntitle: t\nseverity: low\nmatch:\n  requestParameters.ids[*]: {ops}\n"
        ))
    };
    let some = rule("{some: {not: {prefix: a}}}");
    let not = rule("{not: {prefix: a}}");
    let ids = |ids: serde_json::Value| event(json!({"requestParameters": {"ids": ids}}));
    let mixed = ids(json!(["a1", "b2"]));
    assert!(some.rules()[0].matches(&mixed) && !not.rules()[0].matches(&mixed));
    let all_a = ids(json!(["a1", "a2"]));
    assert!(!some.rules()[0].matches(&all_a) && !not.rules()[0].matches(&all_a));
    let none_a = ids(json!(["b1"]));
    assert!(some.rules()[0].matches(&none_a) && not.rules()[0].matches(&none_a));
}

/// A rule with `dedup: {key: [eventID], cooldown: C}`, as its cooldown in seconds or its errors.
fn cooldown(c: &str) -> Result<i64, String> {
    let text = format!("{HEAD}dedup:\n  key: [eventID]\n  cooldown: {c}\n");
    let e = file_errors(&text);
    if !e.is_empty() {
        return Err(e);
    }
    Ok(compile(&text).rules()[0]
        .dedup
        .as_ref()
        .unwrap()
        .cooldown
        .unwrap())
}

#[test]
fn a_duration_is_whole_positive_seconds_with_an_optional_unit() {
    assert_eq!(cooldown("90"), Ok(90));
    assert_eq!(cooldown("'90'"), Ok(90));
    assert_eq!(cooldown("90s"), Ok(90));
    assert_eq!(cooldown("2m"), Ok(120));
    assert_eq!(cooldown("31622400"), Ok(366 * 86_400));
    for zero in ["0", "-5", "0s", "'0'", "0m"] {
        let e = cooldown(zero).unwrap_err();
        assert!(e.contains("cooldown must be a duration"), "{zero}: {e}");
    }
    assert!(cooldown("31622401").unwrap_err().contains("366d"));
}

#[test]
fn counts_run_from_1_to_100000() {
    let threshold =
        |n: &str| file_errors(&format!("{HEAD}threshold:\n  count: {n}\n  window: 5m\n"));
    let step = |n: &str| {
        file_errors(&format!(
            "id: s\ntitle: t\nseverity: low\nsequence:\n  window: 5m\n  steps:\n    - {{name: a, count: {n}, match: {{eventName: A}}}}\n    - {{name: b, match: {{eventName: B}}}}\n"
        ))
    };
    for check in [threshold, step] {
        assert_eq!(check("1"), "");
        assert_eq!(check("100000"), "");
        for bad in ["0", "100001"] {
            let e = check(bad);
            assert!(
                e.contains("count must be a whole number from 1 to 100000"),
                "{bad}: {e}"
            );
        }
    }
}

#[test]
fn need_is_for_unordered_sequences_and_counts_their_steps() {
    let rule = |ordered: &str, need: &str| {
        file_errors(
            &SEQUENCE
                .replace("  ordered: false\n", &format!("  ordered: {ordered}\n"))
                .replace("NEED", need),
        )
    };
    assert_eq!(rule("false", "1"), "");
    assert_eq!(rule("false", "3"), "");
    for bad in ["0", "4", "-1"] {
        let e = rule("false", bad);
        assert!(
            e.contains("need must be a number of steps from 1 to 3"),
            "{bad}: {e}"
        );
    }
    let e = rule("true", "2");
    assert!(e.contains("need applies to an unordered sequence"), "{e}");
}

/// A rule reading the list `admins`, with one test whose lines after `name` are `test`.
fn with_test(test: &str) -> (Option<RuleSet>, String) {
    let rule = format!("id: c\ntitle: t\nseverity: low\nmatch:\n  userIdentity.arn: {{in_list: admins}}\ntests:\n  - name: n\n{test}");
    let files = |path: &str, text: &str| RuleFile {
        path: path.into(),
        text: text.into(),
    };
    let (set, diags) = RuleSet::compile(
        &[files("c.yaml", &rule)],
        &[files("lists.yaml", "admins: [a]\n")],
        &[],
        0,
    );
    let messages = diags.into_iter().map(|d| d.message).collect::<Vec<_>>();
    (set, messages.join("\n"))
}

#[test]
fn a_tests_null_list_is_empty_and_its_events_and_expected_count_are_checked() {
    let (set, e) = with_test("    event: {eventName: X}\n    lists: {admins: ~}\n    expect: 0\n");
    assert_eq!(e, "");
    let set = set.unwrap();
    let lists = &set.rules()[0].tests[0].lists;
    assert_eq!(lists, &[("admins".to_string(), Vec::<String>::new())]);

    let (_, e) = with_test("    events: []\n    expect: 0\n");
    assert!(
        e.contains("events must be a non-empty list of events"),
        "{e}"
    );
    for bad in ["-1", "{alerts: -1}"] {
        let (_, e) = with_test(&format!("    event: {{eventName: X}}\n    expect: {bad}\n"));
        assert!(!e.is_empty(), "{bad} was taken");
    }
}
