//! A correlation's keys at their edges: each timespan unit and the longest span, the
//! bounds of `gte`/`gt`, and which mistakes are reported (each once).

use crate::rules::{RuleFile, RuleSet, Threshold};

/// Two rules (named `fail` and `ok`), then a correlation with `body` under `correlation:`.
fn compile(body: &str) -> (Option<RuleSet>, Vec<String>) {
    let rule = |name: &str, n: u8| {
        format!("title: {name}\nname: {name}\nid: 00000000-0000-4000-8000-00000000000{n}\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n  sel: {{eventName: {name}}}\n  condition: sel\nlevel: low\n")
    };
    let text = format!(
        "{}---\n{}---\ntitle: c\nid: c1\ncorrelation:\n{body}level: high\n",
        rule("fail", 1),
        rule("ok", 2)
    );
    let file = RuleFile {
        path: "c.yml".into(),
        text,
    };
    let (set, diags) = RuleSet::compile(&[file], &[], &[], 0);
    (set, diags.into_iter().map(|d| d.message).collect())
}

/// The correlation's threshold, which must compile without a word.
fn threshold(body: &str) -> Threshold {
    let (set, diags) = compile(body);
    assert!(diags.is_empty(), "{body}: {diags:#?}");
    let set = set.expect("compiles");
    let rule = set.rules().iter().find(|r| r.id == "c1").expect("c1");
    rule.threshold.clone().expect("a threshold")
}

fn errors(body: &str) -> Vec<String> {
    let (set, diags) = compile(body);
    assert!(set.is_none(), "{body} compiled");
    diags
}

fn count(span: &str, cond: &str) -> String {
    format!("  type: event_count\n  rules: [fail]\n  group-by: [sourceIPAddress]\n  timespan: {span}\n  condition: {cond}\n")
}

#[test]
fn every_timespan_unit_and_the_longest_span() {
    for (span, secs) in [
        ("30s", 30),
        ("10m", 600),
        ("1h", 3_600),
        ("2d", 172_800),
        ("1w", 604_800),
        ("1M", 2_629_746),
        ("1y", 31_556_952),
        ("366d", 366 * 86_400),
    ] {
        assert_eq!(threshold(&count(span, "{gte: 3}")).window, secs, "{span}");
    }
    let wrong = |t: &str| {
        format!(
            "timespan must be a number and a unit (s, m, h, d, w, M, y) such as 10m, found '{t}'"
        )
    };
    for span in ["0m", "10", "m", "10x", "'-5m'", "1.5h"] {
        let t = span.trim_matches('\'');
        assert_eq!(errors(&count(span, "{gte: 3}")), [wrong(t)], "{span}");
    }
    assert_eq!(
        errors(&count("367d", "{gte: 3}")),
        ["timespan 367d is longer than 366 days"]
    );
    assert_eq!(
        errors(&count("8785h", "{gte: 3}")),
        ["timespan 8785h is longer than 366 days"]
    );
}

#[test]
fn gte_and_gt_are_lower_bounds_below_100000() {
    for (cond, n) in [
        ("{gte: 5}", 5),
        ("{gt: 5}", 6),
        ("{gte: 0}", 1),
        ("{gt: 0}", 1),
        ("{gte: 99999}", 99_999),
    ] {
        assert_eq!(threshold(&count("10m", cond)).count, n, "{cond}");
    }
    for (cond, op) in [
        ("{gte: 100000}", "gte"),
        ("{gt: -1}", "gt"),
        ("{gte: '5'}", "gte"),
        ("{gte: 2.5}", "gte"),
    ] {
        assert_eq!(
            errors(&count("10m", cond)),
            [format!("{op} takes a whole number below 100000")],
            "{cond}"
        );
    }
}

#[test]
fn a_refused_condition_is_reported_once() {
    assert_eq!(
        errors(&count("10m", "{gte: 5, lt: 9}")),
        ["condition 'lt' is not supported: an alert is raised as events arrive, so only a lower bound (gte, gt) can be decided before the timespan has passed"]
    );
    assert_eq!(
        errors(&count("10m", "{gtee: 5}")),
        ["unknown condition 'gtee' (did you mean 'gte'?)"]
    );
    assert_eq!(errors(&count("10m", "{}")), ["condition needs gte or gt"]);
    // `field` belongs to value_count.
    assert_eq!(
        errors(&count("10m", "{gte: 5, field: userAgent}")),
        ["unknown condition 'field': 'field' names what a value_count correlation counts"]
    );
}

#[test]
fn value_count_counts_distinct_values_of_its_field() {
    let vc = |cond: &str| {
        format!("  type: value_count\n  rules: [fail]\n  group-by: [sourceIPAddress]\n  timespan: 10m\n  condition: {cond}\n")
    };
    let t = threshold(&vc("{gte: 4, field: userAgent}"));
    assert_eq!(t.count, 4);
    assert!(t.distinct.is_some() && t.sequence.is_none());
    assert!(threshold(&count("10m", "{gte: 4}")).distinct.is_none());
    assert_eq!(
        errors(&vc("{gte: 4, feild: userAgent}")),
        ["unknown condition 'feild' (did you mean 'field'?)"]
    );
    assert_eq!(
        errors(&vc("{gte: 4}")),
        ["a value_count condition names the counted 'field'"]
    );
    // One mistake, one error: no second complaint about the field.
    let diags = errors(&vc("{gte: 4, lt: 9}"));
    assert_eq!(diags.len(), 1, "{diags:?}");
}

#[test]
fn a_correlation_with_a_mistake_says_only_that() {
    let aliases = "  type: event_count\n  rules: [nope]\n  group-by: [sourceIPAddress]\n  timespan: 10m\n  aliases: {}\n  condition: {gte: 3}\n";
    assert_eq!(
        errors(aliases),
        ["correlation 'aliases' (a field named differently in each rule) are not supported: group by a field the rules share"]
    );
    let one_step =
        "  type: temporal\n  rules: [fail]\n  group-by: [sourceIPAddress]\n  timespan: 10m\n";
    assert_eq!(
        errors(one_step),
        [format!(
            "a temporal correlation names 2 to {} rules",
            crate::state::window::MAX_STEPS
        )]
    );
    let two = one_step.replace("[fail]", "[fail, ok]");
    let t = threshold(&two);
    assert_eq!(t.sequence.map(|s| s.steps.len()), Some(2));
    assert_eq!(
        errors("  type: event_count\n  rules: [[fail]]\n  timespan: 10m\n  condition: {gte: 3}\n"),
        ["rules lists rule names or ids"]
    );
}

/// The rules of a compiled file by id, with whether each alerts on its own.
fn enabled(body: &str) -> Vec<(String, bool)> {
    let (set, diags) = compile(body);
    let set = set.unwrap_or_else(|| panic!("{diags:#?}"));
    set.rules()
        .iter()
        .map(|r| (r.id.clone(), r.enabled))
        .collect()
}

#[test]
fn rules_a_correlation_uses_stop_alerting_alone_unless_it_generates() {
    let body = count("10m", "{gte: 3}");
    let ids = |v: &[(String, bool)]| {
        v.iter()
            .map(|(id, on)| format!("{}={on}", &id[id.len() - 2..]))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&enabled(&body)), ["01=false", "02=true", "c1=true"]);
    let generate = format!("{body}  generate: true\n");
    assert_eq!(ids(&enabled(&generate)), ["01=true", "02=true", "c1=true"]);
}

/// `burst` (an event_count over `fail`), then a temporal correlation `c1` using it.
fn burst_then(span: &str, group: &str, temporal: &str) -> (Option<RuleSet>, Vec<String>) {
    compile(&format!(
        "  type: {temporal}\n  rules: [burst, ok]\n  group-by: [sourceIPAddress]\n  timespan: 10m\nlevel: low\n---\ntitle: b\nname: burst\nid: b1\ncorrelation:\n  type: event_count\n  rules: [fail]\n  group-by: [{group}]\n  timespan: {span}\n  condition: {{gte: 3}}\n"
    ))
}

#[test]
fn a_burst_is_a_step_only_with_the_same_timespan_and_group() {
    let (set, diags) = burst_then("10m", "sourceIPAddress", "temporal_ordered");
    let set = set.unwrap_or_else(|| panic!("{diags:#?}"));
    let c1 = set.rules().iter().find(|r| r.id == "c1").unwrap();
    let seq = c1.threshold.as_ref().unwrap().sequence.as_ref().unwrap();
    assert_eq!(
        seq.steps
            .iter()
            .map(|s| (s.name.as_str(), s.count))
            .collect::<Vec<_>>(),
        [("burst", 3), ("ok", 1)]
    );
    // The burst used as a step does not alert on its own.
    let b1 = set.rules().iter().find(|r| r.id == "b1").unwrap();
    assert!(!b1.enabled);
    let mismatch = "'burst' is an event_count correlation: as a step it must have the same timespan and group-by as this correlation";
    for (span, group) in [("11m", "sourceIPAddress"), ("10m", "userAgent")] {
        let (set, diags) = burst_then(span, group, "temporal");
        assert!(set.is_none());
        assert_eq!(diags, [mismatch], "{span} {group}");
    }
}

#[test]
fn a_temporal_condition_asks_for_at_most_its_rules_and_ordered_for_all() {
    let temporal = |kind: &str, cond: &str| {
        format!("  type: {kind}\n  rules: [fail, ok]\n  group-by: [sourceIPAddress]\n  timespan: 10m\n  condition: {cond}\n")
    };
    let need = |body: &str| threshold(body).sequence.map(|s| s.need);
    assert_eq!(need(&temporal("temporal", "{gte: 1}")), Some(1));
    assert_eq!(need(&temporal("temporal", "{gte: 2}")), Some(2));
    assert_eq!(need(&temporal("temporal_ordered", "{gte: 2}")), Some(2));
    assert_eq!(
        errors(&temporal("temporal", "{gte: 3}")),
        ["condition asks for 3 of 2 rules"]
    );
    assert_eq!(
        errors(&temporal("temporal_ordered", "{gte: 1}")),
        ["condition asks for 1 of 2 rules; an ordered correlation needs every rule"]
    );
}

#[test]
fn only_a_temporal_correlation_uses_a_correlation() {
    let (_, diags) = compile("  type: event_count\n  rules: [fail]\n  timespan: 10m\n  condition: {gte: 3}\nlevel: low\n---\ntitle: x\nid: x1\ncorrelation:\n  type: event_count\n  rules: [c1]\n  timespan: 10m\n  condition: {gte: 2}\n");
    assert_eq!(
        diags,
        ["'c1' is a correlation: only a temporal correlation may use one (as a step)"]
    );
    // A value_count is no step: it is not among the names a step can use.
    let body = "  type: temporal\n  rules: [vc, ok]\n  group-by: [sourceIPAddress]\n  timespan: 10m\nlevel: low\n---\ntitle: v\nname: vc\nid: v1\ncorrelation:\n  type: value_count\n  rules: [fail]\n  group-by: [sourceIPAddress]\n  timespan: 10m\n  condition: {gte: 3, field: userAgent}\n";
    let diags = errors(body);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0].starts_with("unknown rule 'vc'"), "{diags:?}");
}
