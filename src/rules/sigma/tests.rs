//! What a Sigma file's documents become: which keys warn, which logsources are read,
//! which problems stop a rule and which only warn.

use crate::rules::{Diagnostic, Level, RuleFile, RuleSet, Severity};

const LOGSOURCE: &str = "logsource: {product: aws, service: cloudtrail}\n";
const DETECTION: &str = "detection:\n  sel: {eventName: StopLogging}\n  condition: sel\n";

fn compile(text: &str) -> (Option<RuleSet>, Vec<Diagnostic>) {
    let file = RuleFile {
        path: "s.yml".into(),
        text: text.into(),
    };
    let lists = RuleFile {
        path: "lists.yaml".into(),
        text: "x: [a]\n".into(),
    };
    RuleSet::compile(&[file], &[lists], &[], 0)
}

fn rule(head: &str) -> String {
    format!("title: t\nid: 11111111-0000-4000-8000-000000000001\n{head}{DETECTION}")
}

fn messages(d: &[Diagnostic]) -> Vec<(Level, &str)> {
    d.iter().map(|d| (d.level, d.message.as_str())).collect()
}

#[test]
fn every_key_of_the_specification_is_read_without_a_word() {
    let head = concat!(
        "name: stop\nrelated: [{id: 22222222-0000-4000-8000-000000000002, type: similar}]\n",
        "status: test\ndescription: d\nreferences: [https://example.com]\nauthor: a\n",
        "date: 2024-01-01\nmodified: 2024-02-01\ntags: [attack.t1562]\n",
        "logsource: {product: aws, service: cloudtrail}\nfields: [eventName]\n",
        "falsepositives: [none]\nlevel: high\nlicense: DRL-1.1\n",
        "taxonomy: sigma\nscope: [server]\nrunbook: https://example.com/rb\n",
    );
    let (set, diags) = compile(&rule(head));
    assert!(diags.is_empty(), "{diags:?}");
    let set = set.expect("compiles");
    let r = &set.rules()[0];
    assert_eq!(r.severity, Severity::High);
    assert_eq!(r.references, ["https://example.com"]);
    assert_eq!(r.tags, ["attack.t1562"]);
    assert_eq!(r.falsepositives, ["none"]);
}

#[test]
fn a_near_miss_key_warns_and_a_custom_attribute_does_not() {
    let (set, diags) = compile(&rule(&format!("{LOGSOURCE}levle: high\nx_team: blue\n")));
    assert_eq!(
        messages(&diags),
        [
            (
                Level::Warning,
                "no 'level': alerts from this rule have severity medium"
            ),
            (
                Level::Warning,
                "unknown key 'levle' in a Sigma rule (did you mean 'level'?) (ignored as a custom attribute)"
            )
        ]
    );
    // Warnings do not stop a rule.
    assert_eq!(set.expect("compiles").rules()[0].severity, Severity::Medium);
}

#[test]
fn empty_lists_are_empty_and_not_errors() {
    let (set, diags) = compile(&rule(&format!(
        "{LOGSOURCE}level: low\nreferences:\ntags: [a, b]\nfalsepositives:\n"
    )));
    assert!(diags.is_empty(), "{diags:?}");
    let set = set.expect("compiles");
    let r = &set.rules()[0];
    assert!(r.references.is_empty() && r.falsepositives.is_empty());
    assert_eq!(r.tags, ["a", "b"]);
}

#[test]
fn only_cloudtrail_logsources_are_read_in_any_case() {
    for (product, service, read) in [
        ("aws", "cloudtrail", true),
        ("AWS", "CloudTrail", true),
        ("aws", "guardduty", false),
        ("gcp", "cloudtrail", false),
    ] {
        let ls = format!("logsource: {{product: {product}, service: {service}}}\nlevel: low\n");
        let (set, diags) = compile(&rule(&ls));
        let n = set.expect("compiles").rules().len();
        assert_eq!(n, usize::from(read), "{product}/{service}: {diags:?}");
        if read {
            assert!(diags.is_empty(), "{diags:?}");
        } else {
            assert_eq!(diags.len(), 1, "{diags:?}");
            assert_eq!(diags[0].level, Level::Warning);
            assert!(diags[0].message.starts_with(&format!(
                "skipped: logsource is product {}, service {}",
                product.to_ascii_lowercase(),
                service.to_ascii_lowercase()
            )));
        }
    }
}

#[test]
fn a_correlation_needs_no_logsource() {
    let text = format!(
        "{}name: stop\nlevel: low\n---\ntitle: c\nid: 33333333-0000-4000-8000-000000000003\ncorrelation:\n  type: event_count\n  rules: [stop]\n  group-by: [sourceIPAddress]\n  timespan: 5m\n  condition: {{gte: 3}}\nlevel: high\n",
        rule(LOGSOURCE)
    );
    let (set, diags) = compile(&text);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(set.expect("compiles").rules().len(), 2);
}

#[test]
fn a_sigma_test_without_lists_is_read_and_one_with_lists_is_refused() {
    let test = "tests:\n  - name: stopped\n    event: {eventName: StopLogging, eventTime: '2024-01-01T00:00:00Z'}\n    expect: 1\n";
    let (set, diags) = compile(&rule(&format!("{LOGSOURCE}level: low\n{test}")));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(set.expect("compiles").rules()[0].tests.len(), 1);
    let with_lists = test.replace("    expect: 1\n", "    lists: {x: [a]}\n    expect: 1\n");
    let (set, diags) = compile(&rule(&format!("{LOGSOURCE}level: low\n{with_lists}")));
    assert!(set.is_none());
    assert!(
        diags
            .iter()
            .any(|d| d.message == "a Sigma rule's test cannot set lists (Sigma rules use none)"),
        "{diags:?}"
    );
}

#[test]
fn a_document_without_detection_is_an_error_whatever_its_logsource() {
    let other = "---\ntitle: u\nid: 22222222-0000-4000-8000-000000000002\nlogsource: {product: windows}\nlevel: low\n";
    let (set, diags) = compile(&format!("{}level: low\n{other}", rule(LOGSOURCE)));
    assert!(set.is_none());
    assert_eq!(
        messages(&diags),
        [(
            Level::Error,
            "a Sigma document needs a 'detection' (or a 'correlation')"
        )]
    );
}
