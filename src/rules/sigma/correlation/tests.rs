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
    assert_eq!(
        errors(&vc("{gte: 4, lt: 9}")).len(),
        1,
        "{:?}",
        errors(&vc("{gte: 4, lt: 9}"))
    );
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
