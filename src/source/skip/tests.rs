use super::*;
use crate::event::Event;
use crate::rules::{RuleFile, RuleSet};
use crate::state::identity;
use serde_json::Value;

/// A login rule (indexed by name), a Lambda rule (by source, ignoring case), and two
/// indexed nowhere: denied calls (errorCode) and root (userIdentity.type).
fn set() -> RuleSet {
    let rule = |id: &str, m: &str| RuleFile {
        path: format!("{id}.yaml"),
        text: format!("id: {id}\ntitle: t\nseverity: low\nmatch:\n{m}"),
    };
    let files = [
        rule("login", "  eventName: ConsoleLogin\n"),
        rule(
            "lambda",
            "  eventSource: {equals: LAMBDA.amazonaws.com, ignore_case: true}\n",
        ),
        rule(
            "denied",
            "  errorCode: {glob: ['AccessDenied*']}\n  eventName: {not: HeadBucket}\n",
        ),
        rule(
            "root",
            "  userIdentity.invokedBy: {exists: false}\n  userIdentity.type: Root\n",
        ),
    ];
    let (set, diags) = RuleSet::compile(&files, &[], &[], 0);
    assert!(diags.is_empty(), "{diags:?}");
    set.unwrap()
}

/// The scan of `text`, checked against a full parse: a skip is valid JSON, its brief is
/// what the parsed record gives, and no rule matches it.
fn check(set: &RuleSet, text: &str) -> Scan {
    let gate = set.gate().expect("every rule of the set can be gated");
    let got = scan(text, &gate);
    if let Scan::Skip { brief, used } = &got {
        let parsed: Value = serde_json::from_str(&text[..*used])
            .unwrap_or_else(|e| panic!("skipped a record serde_json refuses ({e}): {text}"));
        let e = Event::from_value(parsed).expect("an object");
        assert_eq!(brief.time, e.time, "{text}");
        assert_eq!(brief.identity, e.event_id().map(|_| identity(&e)), "{text}");
        let mut verdicts = Vec::new();
        set.evaluate(&e, &mut verdicts);
        assert!(
            verdicts.is_empty(),
            "skipped a record a rule matches: {text}"
        );
        // The pruned parse (what the pipeline would have built) accepts it too.
        set.keep().parse(&text.as_bytes()[..*used]).unwrap();
    }
    got
}

fn skips(set: &RuleSet, text: &str) -> bool {
    matches!(check(set, text), Scan::Skip { .. })
}

const PLAIN: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},"eventTime":"2024-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","requestParameters":{"filterSet":{"items":[{"name":"x","valueSet":{"items":[{"value":"y"}]}}]},"maxResults":1000,"ratio":0.25,"on":true,"off":false,"none":null,"empty":{},"list":[]},"responseElements":null,"eventID":"e-1","recipientAccountId":"111122223333"}"#;

#[test]
fn an_ordinary_unwatched_record_is_skipped_with_its_time_and_identity() {
    let set = set();
    let gate = set.gate().unwrap();
    match check(&set, PLAIN) {
        Scan::Skip { brief, used } => {
            assert_eq!(used, PLAIN.len());
            assert_eq!(brief.time, parse_time("2024-01-01T00:00:00Z"));
            assert!(brief.identity.is_some());
        }
        Scan::Parse => panic!("not skipped"),
    }
    // What follows the record is left to the caller.
    let text = format!("{PLAIN} , {PLAIN}]");
    assert_eq!(
        scan(&text, &gate),
        scan(PLAIN, &gate),
        "the scan stops at the record's end"
    );
    // No eventID: never a copy, so no identity.
    let no_id = PLAIN.replace(r#""eventID":"e-1","#, "");
    match check(&set, &no_id) {
        Scan::Skip { brief, .. } => assert_eq!(brief.identity, None),
        Scan::Parse => panic!("not skipped"),
    }
}

#[test]
fn records_some_rule_may_match_are_parsed() {
    let set = set();
    let with = |from: &str, to: &str| {
        assert!(PLAIN.contains(from), "{from}");
        PLAIN.replacen(from, to, 1)
    };
    let watched = [
        with("DescribeInstances", "ConsoleLogin"),
        with("ec2.amazonaws.com", "lambda.amazonaws.com"),
        with("ec2.amazonaws.com", "Lambda.AmazonAWS.com"),
        with(
            r#""responseElements":null"#,
            r#""errorCode":"AccessDeniedException""#,
        ),
        with(r#""type":"IAMUser""#, r#""type":"Root""#),
        // Key order does not matter.
        r#"{"eventID":"e","userIdentity":{"arn":"a","type":"Root"},"eventName":"X"}"#.to_string(),
        r#"{"errorCode":"AccessDenied","eventName":"X"}"#.to_string(),
    ];
    for text in &watched {
        assert!(!skips(&set, text), "{text}");
    }
    // Near misses are skipped: a denial code the glob does not take, another type.
    for text in [
        with(
            r#""responseElements":null"#,
            r#""errorCode":"ThrottlingException""#,
        ),
        with(r#""type":"IAMUser""#, r#""type":"AssumedRole""#),
        with("DescribeInstances", "consolelogin"),
    ] {
        assert!(skips(&set, &text), "{text}");
    }
}

#[test]
fn names_elsewhere_in_the_record_do_not_count() {
    let set = set();
    // A watched name nested below the top level, or inside a string, is not the record's.
    for text in [
        r#"{"eventName":"GetObject","requestParameters":{"eventName":"ConsoleLogin","userIdentity":{"type":"Root"}}}"#,
        r#"{"eventName":"GetObject","additionalEventData":{"errorCode":"AccessDenied"}}"#,
        r#"{"eventName":"GetObject","userAgent":"\"eventName\":\"ConsoleLogin\""}"#,
        r#"{"eventName":"GetObject","userIdentity":{"sessionContext":{"type":"Root"}}}"#,
        r#"{"eventName":"GetObject","resources":[{"eventName":"ConsoleLogin"}]}"#,
    ] {
        assert!(skips(&set, text), "{text}");
    }
}

#[test]
fn anything_unusual_is_left_to_the_full_parse() {
    let set = set();
    for text in [
        // Escapes in a read field or in a top-level key (it may spell a read key).
        r#"{"eventName":"Consol\u0065Login"}"#,
        r#"{"event\u004eame":"ConsoleLogin"}"#,
        r#"{"eventName":"GetObject","eventTime":"2024-01-01T00:00:00\u005a"}"#,
        r#"{"eventName":"GetObject","userIdentity":{"typ\u0065":"Root"}}"#,
        // A read key twice (a parse keeps the last), or a read object twice, even when
        // no value is wanted.
        r#"{"eventName":"GetObject","eventName":"ConsoleLogin"}"#,
        r#"{"eventName":"GetObject","userIdentity":{},"userIdentity":{"type":"Root"}}"#,
        r#"{"eventName":"GetObject","eventName":"ListBuckets"}"#,
        r#"{"eventName":"GetObject","userIdentity":{},"userIdentity":{}}"#,
        r#"{"eventName":"GetObject","userIdentity":{"type":"IAMUser","type":"IAMUser"}}"#,
        // Read fields that are not strings, an object that is a string (paths enter the
        // JSON a string holds).
        r#"{"eventName":7}"#,
        r#"{"eventName":"GetObject","eventTime":null}"#,
        r#"{"eventName":"GetObject","userIdentity":"{\"type\":\"Root\"}"}"#,
        r#"{"eventName":"GetObject","userIdentity":["Root"]}"#,
        // Numbers serde_json may refuse when it keeps them.
        r#"{"eventName":"GetObject","x":1e400}"#,
        r#"{"eventName":"GetObject","x":1E2}"#,
        r#"{"eventName":"GetObject","x":12345678901234567890}"#,
        // Surrogates: an error only where the string is kept.
        r#"{"eventName":"GetObject","userAgent":"\ud800"}"#,
        r#"{"eventName":"GetObject","userAgent":"\ud83d\ude00"}"#,
        // Not a record.
        r#"[{"eventName":"GetObject"}]"#,
        r#""eventName""#,
    ] {
        assert_eq!(check(&set, text), Scan::Parse, "{text}");
    }
    let deep = format!(
        r#"{{"eventName":"GetObject","x":{}1{}}}"#,
        "[".repeat(70),
        "]".repeat(70)
    );
    assert_eq!(check(&set, &deep), Scan::Parse);
    let fine = format!(
        r#"{{"eventName":"GetObject","x":{}1{}}}"#,
        "[".repeat(20),
        "]".repeat(20)
    );
    assert!(skips(&set, &fine));
}

#[test]
fn malformed_records_are_never_skipped() {
    let set = set();
    for text in [
        r#"{"eventName":"GetObject","x":tru}"#,
        r#"{"eventName":"GetObject","x":nul}"#,
        r#"{"eventName":"GetObject","x":truex}"#,
        r#"{"eventName":"GetObject","x":01}"#,
        r#"{"eventName":"GetObject","x":-}"#,
        r#"{"eventName":"GetObject","x":1.}"#,
        r#"{"eventName":"GetObject","x":.5}"#,
        r#"{"eventName":"GetObject","x":+1}"#,
        r#"{"eventName":"GetObject",}"#,
        r#"{"eventName":"GetObject","x":[1,]}"#,
        r#"{"eventName":"GetObject","x":[1 2]}"#,
        r#"{"eventName":"GetObject" "x":1}"#,
        r#"{"eventName":"GetObject","x"}"#,
        r#"{"eventName":"GetObject","x":{"a"}}"#,
        r#"{"eventName":"GetObject","x":"\x"}"#,
        r#"{"eventName":"GetObject","x":"\u12"}"#,
        r#"{"eventName":"GetObject","x":"\u12G4"}"#,
        r#"{"eventName":"GetObject","x":'a'}"#,
        r#"{"eventName":"GetObject","x":"a}"#,
        r#"{"eventName":"GetObject""#,
        "{\"eventName\":\"GetObject\",\"x\":\"a\tb\"}",
        "{\"eventName\":\"GetObject\",\"x\":\"a\nb\"}",
        "{\"eventName\":\"GetObject\",\"x\":\"a\u{1}b\"}",
        "{\"eventName\":\"GetObject\",\u{c}\"x\":1}",
        "{\"eventName\":\"GetObject\",\"x\":\u{7f}}",
    ] {
        assert_eq!(check(&set, text), Scan::Parse, "{text:?}");
        assert!(
            serde_json::from_str::<Value>(text).is_err() || !text.starts_with('{'),
            "the case is malformed: {text:?}"
        );
    }
    // Whitespace where JSON allows it is fine, control characters in strings are not.
    let spaced = "{ \"eventName\" :\t\"GetObject\" ,\r\n \"x\" : [ 1 , { } ] }";
    assert!(skips(&set, spaced));
}

#[test]
fn mutated_real_records_agree_with_serde_json() {
    // Every record of the repository's real trails, mutated at random a few thousand
    // times: whatever the scan skips must pass `check` (valid, same brief, no candidate).
    let set = set();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora");
    let mut records = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                if let Ok(Value::Object(mut doc)) =
                    serde_json::from_slice::<Value>(&std::fs::read(&p).unwrap())
                {
                    if let Some(Value::Array(rs)) = doc.remove("Records") {
                        records.extend(rs.into_iter().map(|r| r.to_string()));
                    }
                }
            }
        }
    }
    assert!(records.len() > 1000, "{} records", records.len());
    let (mut skipped, mut parsed) = (0, 0);
    for r in &records {
        match check(&set, r) {
            Scan::Skip { .. } => skipped += 1,
            Scan::Parse => parsed += 1,
        }
    }
    assert!(skipped > parsed, "{skipped} skipped, {parsed} parsed");
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    const BYTES: &[u8] = b"{}[]\":,\\ \t\nu0eE.-+1tfnrAZ";
    for i in 0..20_000 {
        let mut b = records[i % records.len()].clone().into_bytes();
        for _ in 0..1 + next(3) {
            let at = next(b.len());
            match next(3) {
                0 => b[at] = BYTES[next(BYTES.len())],
                1 => b.insert(at, BYTES[next(BYTES.len())]),
                _ => {
                    b.remove(at);
                }
            }
        }
        if let Ok(text) = String::from_utf8(b) {
            check(&set, &text);
        }
    }
}

#[test]
fn rules_the_gate_cannot_decide_turn_it_off() {
    let (set, _) = RuleSet::compile(
        &[RuleFile {
            path: "x.yaml".into(),
            text: "id: x\ntitle: t\nseverity: low\nmatch:\n  userIdentity.invokedBy: {exists: false}\n".into(),
        }],
        &[],
        &[],
        0,
    );
    assert!(
        set.unwrap().gate().is_none(),
        "a test that holds on nothing"
    );
    let (set, _) = RuleSet::compile(
        &[RuleFile {
            path: "y.yaml".into(),
            text: "id: y\ntitle: t\nseverity: low\nmatch:\n  requestParameters.a.b: x\n".into(),
        }],
        &[],
        &[],
        0,
    );
    assert!(set.unwrap().gate().is_none(), "a path three keys deep");
}

/// The one field test of a rule whose match is `m`.
fn only_test(m: &str) -> FieldTest {
    let text = format!("id: x\ntitle: t\nseverity: low\nmatch:\n  {m}\n");
    let (set, diags) = RuleSet::compile(
        &[RuleFile {
            path: "x.yaml".into(),
            text,
        }],
        &[],
        &[],
        0,
    );
    assert!(diags.is_empty(), "{diags:?}");
    match &set.unwrap().rules()[0].cond {
        crate::rules::matcher::Cond::Test(t) => t.clone(),
        c => panic!("not one test: {c:?}"),
    }
}

#[test]
fn a_gate_refuses_a_test_that_holds_on_an_absent_field() {
    let gate = |m: &str| {
        let none = HashSet::new;
        let test = (vec!["errorCode".to_string()], only_test(m));
        Gate::new(none(), none(), none(), none(), vec![test])
    };
    assert!(gate("errorCode: AccessDenied").is_some());
    assert!(
        gate("errorCode: {exists: false}").is_none(),
        "the scan would skip the records lacking errorCode"
    );
}

#[test]
fn special_bytes_are_found_at_every_offset() {
    // Bytes next to the special ones (and their high-bit twins, as in UTF-8) are not.
    let plain = [
        b'a', b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xa2, 0xdc, 0xff, 0x20,
    ];
    for len in 0..40 {
        let filler: Vec<u8> = (0..len).map(|i| plain[i % plain.len()]).collect();
        assert_eq!(special(&filler), None, "{filler:?}");
        for at in 0..len {
            for b in [b'"', b'\\', 0, 0x1f, b'\n', b'\t'] {
                let mut v = filler.clone();
                v[at] = b;
                // A second special byte later does not hide the first.
                if at + 3 < len {
                    v[at + 3] = b'"';
                }
                assert_eq!(special(&v), Some(at), "{v:?}");
            }
        }
    }
}

#[test]
fn escapes_and_empty_objects_where_nothing_is_read_are_skipped() {
    let set = set();
    for text in [
        r#"{"eventName":"GetObject","userAgent":"caf\u00e9 \u00E9 \"q\" \\ \/ \b\f\n\r\t"}"#,
        r#"{"eventName":"GetObject","requestParameters":{"k\u0065y":["\u2603",{}]}}"#,
        r#"{"eventName":"GetObject","userIdentity":{}}"#,
        r#"{"eventName":"GetObject","userIdentity":{ },"x":[ ],"y":{ }}"#,
        // Numbers serde_json keeps exactly: signs, fractions, zero, up to 15 digits.
        r#"{"eventName":"GetObject","x":[-12,-0.5,0,0.25,123456789012345,1234567.12345678]}"#,
    ] {
        assert!(skips(&set, text), "{text}");
    }
    // Sixteen digits may not be exact: the full parse decides.
    for text in [
        r#"{"eventName":"GetObject","x":1234567890123456}"#,
        r#"{"eventName":"GetObject","x":-12345678.12345678}"#,
    ] {
        assert_eq!(check(&set, text), Scan::Parse, "{text}");
    }
}

#[test]
fn nesting_is_passed_over_up_to_the_depth_limit_and_no_further() {
    let set = set();
    // The top-level member's value is at depth 1: `levels` containers put the innermost
    // value at depth `levels + 1`.
    let arrays = |levels: usize| {
        format!(
            r#"{{"eventName":"GetObject","x":{}1{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    let objects = |levels: usize| {
        format!(
            r#"{{"eventName":"GetObject","x":{}1{}}}"#,
            r#"{"a":"#.repeat(levels),
            "}".repeat(levels)
        )
    };
    for nest in [arrays, objects] {
        assert!(skips(&set, &nest(MAX_DEPTH - 1)), "{}", nest(MAX_DEPTH - 1));
        assert_eq!(check(&set, &nest(MAX_DEPTH)), Scan::Parse);
    }
}
