use super::*;
use base64::Engine;
use flate2::{write::GzEncoder, Compression};
use std::io::Write;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Out {
    names: Vec<String>,
    malformed: Vec<(Position, String)>,
}

fn run(input: &[u8]) -> (Result<Format, DecodeError>, Out) {
    run_with(input, &Limits::default())
}

fn run_with(input: &[u8], limits: &Limits) -> (Result<Format, DecodeError>, Out) {
    let mut out = Out {
        names: vec![],
        malformed: vec![],
    };
    let r = decode(input, limits, &mut |i| match i {
        Item::Record(e) => out.names.push(e.event_name().unwrap_or("-").to_string()),
        Item::Unwanted(_) => out.names.push("(unwanted)".into()),
        Item::Malformed { at, reason } => out.malformed.push((at, reason)),
    });
    (r, out)
}

const REC: &str = r#"{"eventVersion":"1.08","eventName":"A","eventTime":"2023-01-01T00:00:00Z"}"#;

#[test]
fn records_file_plain_and_gzip() {
    let doc = format!(r#"{{"Records":[{REC}, {{"eventName":"B"}}]}}"#);
    for input in [doc.as_bytes().to_vec(), gz(doc.as_bytes())] {
        let (r, out) = run(&input);
        assert_eq!(r.unwrap(), Format::Records);
        assert_eq!(out.names, ["A", "B"]);
    }
}

#[test]
fn malformed_record_in_records_file_is_reported_with_offset() {
    let doc = format!(r#"{{"Records":[{REC},{{"eventName":tru}},7,{REC}]}}"#);
    let (r, out) = run(doc.as_bytes());
    assert_eq!(r.unwrap(), Format::Records);
    assert_eq!(out.names, ["A", "A"]);
    let offset = doc.find("{\"eventName\":tru").unwrap() as u64;
    assert_eq!(out.malformed[0].0, Position::Byte(offset));
    assert!(out.malformed[1].1.contains("found a number"));
}

#[test]
fn broken_records_file_gives_byte_offset_after_earlier_records() {
    let doc = format!(r#"{{"Records":[{REC},{REC} x"#);
    let (r, out) = run(doc.as_bytes());
    assert_eq!(out.names, ["A", "A"]);
    match r {
        Err(DecodeError::Broken { offset, .. }) => assert_eq!(offset, doc.len() as u64 - 1),
        other => panic!("{other:?}"),
    }
    let (r, _) = run(&gz(doc.as_bytes())[..30]);
    assert!(matches!(r, Err(DecodeError::Broken { .. })), "{r:?}");
}

#[test]
fn oversized_record_is_skipped_and_the_rest_read() {
    let big = format!(r#"{{"eventName":"X","pad":"{}"}}"#, "a".repeat(1000));
    let doc = format!(r#"{{"Records":[{big},{REC}]}}"#);
    let limits = Limits {
        max_record: 500,
        ..Limits::default()
    };
    let (r, out) = run_with(doc.as_bytes(), &limits);
    assert_eq!(r.unwrap(), Format::Records);
    assert_eq!(out.names, ["A"]);
    assert!(
        out.malformed[0].1.contains("exceeds the limit of 500"),
        "{:?}",
        out.malformed
    );
}

#[test]
fn decompressed_cap_is_enforced() {
    let doc = format!(r#"{{"Records":[{}]}}"#, vec![REC; 1000].join(","));
    let limits = Limits {
        max_decompressed: 10_000,
        ..Limits::default()
    };
    let (r, _) = run_with(&gz(doc.as_bytes()), &limits);
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("decompressed size exceeds the limit of 10000"),
        "{msg}"
    );
}

#[test]
fn ndjson_with_a_bad_line() {
    let doc = format!("{REC}\n\n{{\"eventName\": nope}}\n{REC}\n");
    let (r, out) = run(doc.as_bytes());
    assert_eq!(r.unwrap(), Format::Ndjson);
    assert_eq!(out.names, ["A", "A"]);
    assert_eq!(out.malformed.len(), 1);
    assert_eq!(out.malformed[0].0, Position::Line(3));
}

#[test]
fn bare_array_and_single_record() {
    let (r, out) = run(format!("[{REC},{REC}]").as_bytes());
    assert_eq!(r.unwrap(), Format::Array);
    assert_eq!(out.names.len(), 2);
    let (r, out) = run(format!("  {REC}\n").as_bytes());
    assert_eq!(r.unwrap(), Format::Record);
    assert_eq!(out.names, ["A"]);
}

fn logs_message(messages: &[&str]) -> String {
    let events: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"id": i.to_string(), "timestamp": 0, "message": m}))
        .collect();
    serde_json::json!({"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"g",
        "logStream":"s","subscriptionFilters":["f"],"logEvents":events})
    .to_string()
}

#[test]
fn cloudwatch_logs_payloads() {
    let data = logs_message(&[REC, "{broken", REC]);
    let (r, out) = run(data.as_bytes());
    assert_eq!(r.unwrap(), Format::CloudWatchLogs);
    assert_eq!(out.names, ["A", "A"]);
    assert_eq!(out.malformed[0].0, Position::LogEvent(1));

    let b64 = base64::engine::general_purpose::STANDARD.encode(gz(data.as_bytes()));
    let event = serde_json::json!({"awslogs": {"data": b64}}).to_string();
    let (r, out) = run(event.as_bytes());
    assert_eq!(r.unwrap(), Format::CloudWatchLogs);
    assert_eq!(out.names, ["A", "A"]);

    let control =
        r#"{"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL MESSAGE"}]}"#;
    let (r, out) = run(control.as_bytes());
    assert_eq!(r.unwrap(), Format::CloudWatchControl);
    assert!(out.names.is_empty() && out.malformed.is_empty());
}

#[test]
fn eventbridge_events() {
    for dt in [
        "AWS API Call via CloudTrail",
        "AWS Console Sign In via CloudTrail",
    ] {
        let ev = format!(
            r#"{{"version":"0","detail-type":"{dt}","source":"aws.signin","detail":{REC}}}"#
        );
        let (r, out) = run(ev.as_bytes());
        assert_eq!(r.unwrap(), Format::EventBridge);
        assert_eq!(out.names, ["A"]);
    }
    let ev =
        r#"{"detail-type":"EC2 Instance State-change Notification","detail":{"state":"running"}}"#;
    assert!(matches!(
        run(ev.as_bytes()).0,
        Err(DecodeError::NotCloudTrail(_))
    ));
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let (r, out) = run(format!("\u{FEFF}{{\"Records\":[{REC}]}}").as_bytes());
    assert_eq!(r.unwrap(), Format::Records);
    assert_eq!(out.names, ["A"]);
}

#[test]
fn not_cloudtrail_and_empty() {
    assert!(matches!(run(b"").0, Err(DecodeError::Empty)));
    assert!(matches!(run(b"  \n").0, Err(DecodeError::Empty)));
    assert!(matches!(
        run(b"# README").0,
        Err(DecodeError::NotCloudTrail(_))
    ));
    assert!(matches!(
        run(br#"{"name":"pkg"}"#).0,
        Err(DecodeError::NotCloudTrail(_))
    ));
    assert!(matches!(
        run(br#"{"Records":{}}"#).0,
        Err(DecodeError::NotCloudTrail(_))
    ));
    assert!(matches!(
        run(b"\xff\xfe").0,
        Err(DecodeError::NotCloudTrail(_))
    ));
}

#[test]
fn invalid_utf8_and_deep_nesting_cost_one_record() {
    let mut doc = br#"{"Records":[{"eventName":"bad"#.to_vec();
    doc.extend_from_slice(b"\xff\"},");
    doc.extend_from_slice(format!("{}{REC}{}", "[".repeat(0), "").as_bytes());
    doc.extend_from_slice(b",{\"eventName\":\"deep\",\"x\":");
    doc.extend_from_slice("[".repeat(1000).as_bytes());
    doc.extend_from_slice("]".repeat(1000).as_bytes());
    doc.extend_from_slice(b"}]}");
    let (r, out) = run(&doc);
    assert_eq!(r.unwrap(), Format::Records);
    assert_eq!(out.names, ["A"]);
    assert_eq!(out.malformed.len(), 2, "{:?}", out.malformed);
}

/// Records parsed in place from the buffer and records the splitter copies out must come
/// out the same, wherever the buffer boundaries fall.
#[test]
fn in_place_and_split_records_agree_for_any_buffer_size() {
    let big = format!(r#"{{"eventName":"Big","pad":"{}"}}"#, "x".repeat(600));
    let doc = format!(
        "{{\"Records\":[ {REC},\n{{\"eventName\":\"é—😀\",\"n\":[1,{{\"a\":\"]}}\\\"\"}}]}}, \
         {{\"eventName\":tru}}, 7 ,{big},{{\"eventName\":\"bad@\"}},\
         {{\"eventName\":\"C\",\"requestParameters\":{{\"k\":[[[]]]}}}} ]}}"
    );
    // A byte that is not UTF-8 inside one record.
    let bytes: Vec<u8> = doc
        .bytes()
        .map(|b| if b == b'@' { 0xff } else { b })
        .collect();
    let limits = |keep: bool| Limits {
        max_record: 500,
        keep: keep.then(|| std::sync::Arc::new(prune::Keep::of(&[]))),
        ..Limits::default()
    };
    let collect = |cap: usize, keep: bool| {
        let mut out = Vec::new();
        let r = decode(
            io::BufReader::with_capacity(cap, &bytes[..]),
            &limits(keep),
            &mut |i| {
                out.push(match i {
                    Item::Record(e) => e.event_name().unwrap_or("-").to_string(),
                    Item::Unwanted(_) => "(unwanted)".into(),
                    Item::Malformed { at, reason } => format!("{at}: {reason}"),
                })
            },
        );
        (r.map_err(|e| e.to_string()), out)
    };
    let (r, expected) = collect(1 << 16, false);
    assert_eq!(r, Ok(Format::Records));
    assert_eq!(expected.len(), 7, "{expected:?}");
    assert_eq!(expected[0], "A");
    assert_eq!(expected[1], "é—😀");
    assert!(expected[2].contains("invalid JSON"), "{expected:?}");
    assert!(expected[3].contains("found a number"), "{expected:?}");
    assert!(
        expected[4].contains("exceeds the limit of 500"),
        "{expected:?}"
    );
    assert!(expected[5].contains("invalid"), "{expected:?}");
    assert_eq!(expected[6], "C");
    let (_, pruned) = collect(1 << 16, true);
    for cap in [1, 2, 3, 5, 16, 64, 100, 333, 1 << 16] {
        for (keep, want) in [(false, &expected), (true, &pruned)] {
            assert_eq!(
                collect(cap, keep),
                (Ok(Format::Records), want.clone()),
                "buffer {cap}, pruned {keep}"
            );
        }
    }
    // Pruned or not, the same records and the same problems at the same places.
    assert_eq!(pruned.len(), expected.len());
    for (p, e) in pruned.iter().zip(&expected) {
        assert_eq!(p.split(':').next(), e.split(':').next());
    }
}

#[test]
fn pretty_printed_values_one_after_another_are_refused_not_read_as_lines() {
    let doc = "{\n  \"eventVersion\": \"1.08\",\n  \"eventName\": \"StopLogging\"\n}\n{\n  \"eventVersion\": \"1.08\",\n  \"eventName\": \"DeleteTrail\"\n}\n";
    let (r, out) = run(doc.as_bytes());
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("unexpected data after the first JSON value"),
        "{err}"
    );
    assert!(out.malformed.is_empty(), "{:?}", out.malformed);
}

#[test]
fn many_broken_records_in_one_buffer_are_each_reported_once() {
    let n = 5000;
    let doc = format!("{{\"Records\":[{}{REC}]}}", "{\"a\":tru},".repeat(n));
    let limits = Limits {
        keep: Some(std::sync::Arc::new(prune::Keep::of(&[]))),
        ..Limits::default()
    };
    let (r, out) = run_with(doc.as_bytes(), &limits);
    assert_eq!(r.unwrap(), Format::Records);
    assert_eq!(out.malformed.len(), n);
    assert_eq!(out.names, ["A"]);
}

#[test]
fn concatenated_records_files_are_read_in_turn() {
    // `zcat a.json.gz b.json.gz | trailwatch scan -` and `cat a.gz b.gz | …`.
    let a = format!(r#"{{"Records":[{REC}]}}"#);
    let b = r#"{"Records":[{"eventName":"B"},{"eventName":"C"}]}"#;
    for glue in ["", "\n", " \n\t"] {
        let plain = format!("{a}{glue}{b}");
        let (r, out) = run(plain.as_bytes());
        assert_eq!(r.unwrap(), Format::Records, "{glue:?}");
        assert_eq!(out.names, ["A", "B", "C"]);
    }
    let mut members = gz(a.as_bytes());
    members.extend(gz(b.as_bytes()));
    let (r, out) = run(&members);
    assert_eq!(r.unwrap(), Format::Records);
    assert_eq!(out.names, ["A", "B", "C"]);
    let arrays = format!("[{REC}]\n[{{\"eventName\":\"B\"}}]");
    let (r, out) = run(arrays.as_bytes());
    assert_eq!(r.unwrap(), Format::Array);
    assert_eq!(out.names, ["A", "B"]);
    // Anything else after a Records file is still an error, after its records.
    let (r, out) = run(format!("{a} x").as_bytes());
    assert!(r.is_err());
    assert_eq!(out.names, ["A"]);
}

#[test]
fn records_no_rule_wants_are_unwanted_in_place_and_through_the_splitter() {
    let rule = crate::rules::RuleFile {
        path: "x.yaml".into(),
        text: "id: x\ntitle: t\nseverity: low\nmatch:\n  eventName: A\n".into(),
    };
    let (set, diags) = crate::rules::RuleSet::compile(&[rule], &[], &[], 0);
    assert!(diags.is_empty(), "{diags:?}");
    let set = set.unwrap();
    let limits = Limits {
        keep: Some(std::sync::Arc::new(set.keep())),
        gate: set.gate(),
        ..Limits::default()
    };
    let doc = format!(r#"{{"Records":[{REC}, {{"eventName":"B"}}, {REC}, {{"eventName":"C"}}]}}"#);
    // A large buffer holds every record whole (parsed in place); a few bytes at a time
    // none is (the splitter cuts each out): the same items either way.
    for cap in [1 << 16, 7] {
        let mut names = Vec::new();
        let r = decode(
            io::BufReader::with_capacity(cap, doc.as_bytes()),
            &limits,
            &mut |i| {
                names.push(match i {
                    Item::Record(e) => e.event_name().unwrap_or("-").to_string(),
                    Item::Unwanted(_) => "(unwanted)".into(),
                    Item::Malformed { reason, .. } => reason,
                })
            },
        );
        assert_eq!(r.unwrap(), Format::Records);
        assert_eq!(
            names,
            ["A", "(unwanted)", "A", "(unwanted)"],
            "buffer {cap}"
        );
    }
}

#[test]
fn a_record_that_is_not_an_object_is_named_alike_when_pruned() {
    let doc = r#"{"Records":[true, 7, -1, 1.5, "s", "e\n", null, [1], {"eventName":"A"}]}"#;
    let reasons = |keep: bool| {
        let limits = Limits {
            keep: keep.then(|| std::sync::Arc::new(prune::Keep::of(&[]))),
            ..Limits::default()
        };
        let (r, out) = run_with(doc.as_bytes(), &limits);
        assert_eq!(r.unwrap(), Format::Records);
        assert_eq!(out.names, ["A"]);
        out.malformed
            .into_iter()
            .map(|(_, why)| why)
            .collect::<Vec<_>>()
    };
    let found = |kind: &str| format!("a record must be a JSON object, found {kind}");
    let want = [
        found("a boolean"),
        found("a number"),
        found("a number"),
        found("a number"),
        found("a string"),
        found("a string"),
        found("null"),
        found("an array"),
    ];
    assert_eq!(reasons(false), want);
    assert_eq!(reasons(true), want);
}

/// Names, malformed positions and reasons of `input` read `cap` bytes at a time.
fn read_in(input: &[u8], cap: usize, limits: &Limits) -> (Result<Format, String>, Out) {
    let mut out = Out {
        names: vec![],
        malformed: vec![],
    };
    let r = decode(
        io::BufReader::with_capacity(cap, input),
        limits,
        &mut |i| match i {
            Item::Record(e) => out.names.push(e.event_name().unwrap_or("-").to_string()),
            Item::Unwanted(_) => out.names.push("(unwanted)".into()),
            Item::Malformed { at, reason } => out.malformed.push((at, reason)),
        },
    );
    (r.map_err(|e| e.to_string()), out)
}

#[test]
fn a_record_of_exactly_the_size_limit_is_read_and_one_byte_more_is_not() {
    let big = format!(
        r#"{{"eventVersion":"1.08","eventName":"A","pad":"{}"}}"#,
        "x".repeat(300)
    );
    let doc = format!(r#"{{"Records":[{big},{REC}]}}"#);
    for keep in [false, true] {
        // The whole file in one buffer (records parsed in place) and a few bytes at a time
        // (the splitter).
        for cap in [1 << 16, 7] {
            let limits = |max_record: usize| Limits {
                max_record,
                keep: keep.then(|| std::sync::Arc::new(prune::Keep::of(&[]))),
                ..Limits::default()
            };
            let (r, out) = read_in(doc.as_bytes(), cap, &limits(big.len()));
            assert_eq!(r, Ok(Format::Records));
            assert_eq!(out.names, ["A", "A"], "cap {cap}, pruned {keep}");
            let (_, out) = read_in(doc.as_bytes(), cap, &limits(big.len() - 1));
            assert_eq!(out.names, ["A"], "cap {cap}, pruned {keep}");
            let why = &out.malformed[0].1;
            assert!(
                why.contains(&format!("record of {} bytes exceeds", big.len())),
                "{why}"
            );
        }
    }
}

#[test]
fn an_eventbridge_record_of_exactly_the_size_limit_is_read_and_one_byte_more_is_not() {
    let detail = r#"{"eventVersion":"1.08","eventName":"A","n":[1,"two",{"k":null}]}"#;
    let doc = format!(r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{detail}}}"#);
    let limits = |max_record: usize| Limits {
        max_record,
        ..Limits::default()
    };
    let (r, out) = run_with(doc.as_bytes(), &limits(detail.len()));
    assert_eq!(r.unwrap(), Format::EventBridge);
    assert_eq!(out.names, ["A"]);
    let (r, out) = run_with(doc.as_bytes(), &limits(detail.len() - 1));
    assert_eq!(r.unwrap(), Format::EventBridge);
    assert!(out.names.is_empty());
    let why = &out.malformed[0].1;
    assert!(
        why.contains(&format!("record of {} bytes exceeds", detail.len())),
        "{why}"
    );
}

#[test]
fn what_counts_as_a_record() {
    for (doc, record) in [
        (r#"{"eventVersion":"1.08"}"#, true),
        (
            r#"{"eventName":"A","eventTime":"2024-01-01T00:00:00Z"}"#,
            true,
        ),
        (r#"{"eventName":"A","userIdentity":{}}"#, true),
        (r#"{"eventName":"A","detail-type":"x"}"#, false),
        (
            r#"{"eventVersion":"1.08","eventName":"A","detail-type":"x"}"#,
            true,
        ),
        (r#"{"eventName":"A"}"#, false),
        (
            r#"{"userIdentity":{},"eventTime":"2024-01-01T00:00:00Z"}"#,
            false,
        ),
    ] {
        let (r, _) = run(doc.as_bytes());
        assert_eq!(r.is_ok_and(|f| f == Format::Record), record, "{doc}");
    }
}

#[test]
fn ndjson_judges_the_file_by_its_first_line_and_counts_lines_to_the_end() {
    let other = r#"{"name":"not a record"}"#;
    let (r, _) = run(format!("{other}\n{REC}\n").as_bytes());
    assert!(matches!(r, Err(DecodeError::NotCloudTrail(_))), "{r:?}");
    // Forty lines read a few bytes at a time: the bad ones keep their numbers.
    let mut lines: Vec<String> = (0..40).map(|_| REC.to_string()).collect();
    lines[1] = other.to_string();
    lines[36] = "{\"eventName\": nope}".to_string();
    let doc = lines.join("\n");
    let (r, out) = read_in(doc.as_bytes(), 64, &Limits::default());
    assert_eq!(r, Ok(Format::Ndjson));
    assert_eq!(out.names.len(), 38);
    let at: Vec<&Position> = out.malformed.iter().map(|(at, _)| at).collect();
    assert_eq!(at, [&Position::Line(2), &Position::Line(37)]);
}

/// A reader that gives `ok` bytes of `data`, then fails with `kind`.
struct Failing {
    data: Vec<u8>,
    at: usize,
    kind: io::ErrorKind,
}

impl io::Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.data.len() {
            return Err(io::Error::new(self.kind, "cut"));
        }
        let n = buf.len().min(self.data.len() - self.at).min(16);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_failed_read_stays_an_io_error_and_bad_content_is_broken_input() {
    let doc = format!(r#"{{"Records":[{REC},{REC}"#);
    let read = |kind| {
        let input = Failing {
            data: doc.clone().into_bytes(),
            at: 0,
            kind,
        };
        decode(
            io::BufReader::with_capacity(16, input),
            &Limits::default(),
            &mut |_| {},
        )
    };
    // A dropped connection: a retry may cure it.
    assert!(matches!(
        read(io::ErrorKind::ConnectionReset),
        Err(DecodeError::Io(_))
    ));
    for kind in [
        io::ErrorKind::UnexpectedEof,
        io::ErrorKind::InvalidData,
        io::ErrorKind::InvalidInput,
    ] {
        assert!(
            matches!(read(kind), Err(DecodeError::Broken { .. })),
            "{kind:?}"
        );
    }
}

#[test]
fn formats_are_named_for_people() {
    for (f, name) in [
        (Format::Records, "CloudTrail Records file"),
        (Format::Array, "JSON array of records"),
        (Format::Ndjson, "NDJSON"),
        (
            Format::CloudWatchLogs,
            "CloudWatch Logs subscription payload",
        ),
        (Format::CloudWatchControl, "CloudWatch Logs control message"),
        (Format::EventBridge, "EventBridge event"),
        (Format::Record, "single record"),
    ] {
        assert_eq!(f.to_string(), name);
    }
}

#[test]
fn a_cut_object_is_broken_input_unless_it_has_lines() {
    let cut = r#"{"eventVersion":"1.08","eventName":"A""#;
    let (r, out) = run(cut.as_bytes());
    assert!(matches!(r, Err(DecodeError::Broken { .. })), "{r:?}");
    assert!(out.names.is_empty());
    // With lines it is NDJSON whose first line is cut: the later lines are read.
    let (r, out) = run(format!("{cut}\n{REC}\n").as_bytes());
    assert_eq!(r.unwrap(), Format::Ndjson);
    assert_eq!(out.names, ["A"]);
    assert_eq!(out.malformed[0].0, Position::Line(1));
    // Past the envelope cap it is not read as lines.
    let limits = Limits {
        max_envelope: cut.len(),
        ..Limits::default()
    };
    let (r, _) = run_with(format!("{cut}\n{REC}\n").as_bytes(), &limits);
    assert!(r.is_err(), "{r:?}");
    // An input that ends exactly at the cap is past it.
    let lines = format!("{cut}\n{REC}");
    let at_cap = |max_envelope: usize| {
        let limits = Limits {
            max_envelope,
            ..Limits::default()
        };
        run_with(lines.as_bytes(), &limits).0
    };
    assert!(at_cap(lines.len()).is_err());
    assert_eq!(at_cap(lines.len() + 1).unwrap(), Format::Ndjson);
}

#[test]
fn one_record_then_blank_lines_is_a_record_and_two_on_a_line_are_refused() {
    let (r, out) = run(format!("{REC}\n\n  \n\n").as_bytes());
    assert_eq!(r.unwrap(), Format::Record);
    assert_eq!(out.names, ["A"]);
    let (r, out) = run(format!("{REC} {REC}\n").as_bytes());
    match r {
        Err(DecodeError::Broken { reason, .. }) => {
            assert_eq!(reason, "unexpected data after the first JSON value")
        }
        other => panic!("{other:?}"),
    }
    assert!(out.names.is_empty());
}

#[test]
fn an_unexpected_byte_is_shown_as_a_character_only_when_printable() {
    assert_eq!(
        split::SplitError::Unexpected(b'x').to_string(),
        "unexpected character 'x'"
    );
    assert_eq!(
        split::SplitError::Unexpected(0x01).to_string(),
        "unexpected byte 0x01"
    );
}

#[test]
fn scalars_and_lines_of_exactly_the_size_limit_are_read_and_one_byte_more_is_not() {
    let limits = |max_record: usize| Limits {
        max_record,
        ..Limits::default()
    };
    for cap in [1 << 16, 3] {
        let doc = r#"{"Records":[12345]}"#;
        let (_, out) = read_in(doc.as_bytes(), cap, &limits(5));
        assert!(
            out.malformed[0].1.contains("found a number"),
            "{:?}",
            out.malformed
        );
        let (_, out) = read_in(doc.as_bytes(), cap, &limits(4));
        assert!(
            out.malformed[0].1.contains("record of 5 bytes exceeds"),
            "{:?}",
            out.malformed
        );
    }
    let doc = format!("{REC}\n{REC}\n");
    let (r, out) = read_in(doc.as_bytes(), 16, &limits(REC.len()));
    assert_eq!(r, Ok(Format::Ndjson));
    assert_eq!(out.names, ["A", "A"]);
    let (_, out) = read_in(doc.as_bytes(), 16, &limits(REC.len() - 1));
    assert!(out.names.is_empty());
    assert_eq!(out.malformed.len(), 2, "{:?}", out.malformed);
}
