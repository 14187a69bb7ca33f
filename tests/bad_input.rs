//! A catalogue of bad input, one test per kind: each is handled with a *named* error
//! (a `DecodeError` variant and message, a located rule diagnostic, a trigger error) or a
//! counter (`Report::malformed`, `Report::untimed`), the good records around it are still
//! evaluated (their alerts fire), and nothing panics. Rule-file cases also check that the
//! refusal comes in bounded time; memory is bounded by the caps themselves (gzip output,
//! record, envelope and rule-file sizes), and the one test that decompresses gigabytes
//! measures the peak RSS of the real binary.
//!
//! Where a case is already covered elsewhere at the same strength, the test here is a
//! short pointer; where the existing test is weaker (checks only `is_err`, or a custom
//! limit), the case is repeated here with the exact error and the good records around it.
//!
//! Bulk decoding goes through the same path as `trailwatch scan` and the Lambda:
//! `source::decode` with the bundled rules' `keep` (pruned parse) into a `Pipeline`.

mod common;
use common::{gzip, hidden_failure, root_failure, write};

use base64::Engine;
use serde_json::{json, Value};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use trailwatch::alert::Alert;
use trailwatch::pipeline::{Pipeline, Report, DEFAULT_HORIZON};
use trailwatch::rules::{self, Diagnostic, RuleFile, RuleSet};
use trailwatch::sink;
use trailwatch::source::{decode, DecodeError, Format, Limits, Position};
use trailwatch::state::memory::Memory;
use trailwatch::trigger::{self, Object, Payload, Work};

/// Generous bound for "refused, not hung": real timings are milliseconds.
const QUICK: Duration = Duration::from_secs(5);
/// 2024-05-01T10:00:00Z: a fixed "now" for compiling rules.
const NOW: i64 = 1_714_557_600;
const ROOT_RULE: &str = "root-adjacent-login-failure";

// ---------------------------------------------------------------------------------------
// Harness

/// A failed root console sign-in: the bundled `root-adjacent-login-failure` alerts on it,
/// once per event. `i` < 60.
fn good(i: u32) -> Value {
    root_failure(i, &format!("2024-05-01T10:{i:02}:00Z"))
}

fn good_json(i: u32) -> String {
    good(i).to_string()
}

/// The `eventID` of `good(i)`.
fn id(i: u32) -> String {
    format!("10000000-0000-4000-8000-{i:012}")
}

fn ids(is: &[u32]) -> Vec<String> {
    is.iter().map(|&i| id(i)).collect()
}

/// `{"Records":[part,part,…]}` from raw parts (which may be broken on purpose).
fn records_raw(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = b"{\"Records\":[".to_vec();
    for (n, p) in parts.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(p);
    }
    out.extend_from_slice(b"]}");
    out
}

fn bundled_rules() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| {
        let (set, diags) = RuleSet::compile_dir(&rules::bundled(), &[], NOW);
        assert!(diags.is_empty(), "{diags:?}");
        set.expect("bundled rules compile")
    })
}

/// What the CLI and the Lambda use: default caps, records pruned to what rules read,
/// records no rule can match only counted.
fn pruned() -> Limits {
    Limits {
        keep: Some(Arc::new(bundled_rules().keep())),
        gate: bundled_rules().gate(),
        ..Limits::default()
    }
}

/// Default caps, full parse (no pruning).
fn unpruned() -> Limits {
    Limits::default()
}

struct Outcome {
    result: Result<Format, DecodeError>,
    report: Report,
    alerts: Vec<Alert>,
    malformed: Vec<(Position, String)>,
    elapsed: Duration,
}

impl Outcome {
    /// The root-rule alerts' event ids, in order.
    fn alerted(&self) -> Vec<String> {
        self.alerts
            .iter()
            .filter(|a| a.rule_id == ROOT_RULE)
            .flat_map(|a| a.event_ids.clone())
            .collect()
    }

    #[track_caller]
    fn broken(&self) -> (u64, &str) {
        match &self.result {
            Err(DecodeError::Broken { offset, reason }) => (*offset, reason),
            other => panic!("expected DecodeError::Broken, got {other:?}"),
        }
    }

    #[track_caller]
    fn not_cloudtrail(&self) -> &str {
        match &self.result {
            Err(DecodeError::NotCloudTrail(why)) => why,
            other => panic!("expected DecodeError::NotCloudTrail, got {other:?}"),
        }
    }

    #[track_caller]
    fn format(&self) -> Format {
        match &self.result {
            Ok(f) => *f,
            Err(e) => panic!("expected success, got {e:?} ({e})"),
        }
    }
}

/// Decodes `input` into a pipeline running `set`, as `scan` does.
fn run_with(set: &RuleSet, input: &[u8], limits: &Limits) -> Outcome {
    let mut pipeline = Pipeline::new(set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
    let mut alerts = sink::Memory::default();
    let mut malformed = Vec::new();
    let start = Instant::now();
    let result = decode(input, limits, &mut |item| {
        pipeline
            .push(item, &mut alerts, &mut |at, why| {
                malformed.push((at.clone(), why.to_string()))
            })
            .expect("the in-memory state and sink cannot fail");
    });
    pipeline
        .flush(&mut alerts)
        .expect("the in-memory state and sink cannot fail");
    let elapsed = start.elapsed();
    assert_eq!(
        pipeline.report.malformed as usize,
        malformed.len(),
        "every malformed record is counted and reported"
    );
    Outcome {
        result,
        report: pipeline.report,
        alerts: alerts.alerts,
        malformed,
        elapsed,
    }
}

fn run(input: &[u8]) -> Outcome {
    run_with(bundled_rules(), input, &pruned())
}

fn run_unpruned(input: &[u8]) -> Outcome {
    run_with(bundled_rules(), input, &unpruned())
}

/// `n` gzip members of 16 MiB of spaces each: whitespace is valid between JSON values, so
/// only the decompression cap can stop it. Compresses about 1000:1.
fn whitespace_bomb(n: usize) -> Vec<u8> {
    let member = gzip(&vec![b' '; 16 << 20]);
    member.repeat(n)
}

/// A CloudWatch Logs `DATA_MESSAGE` with these `logEvents` (each a `message` value or,
/// when not a string, put in as-is).
fn logs_data(messages: &[Value]) -> String {
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": i.to_string(), "timestamp": 1_714_557_600_000u64, "message": m}))
        .collect();
    json!({"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"trail",
        "logStream":"111122223333_CloudTrail_us-east-1","subscriptionFilters":["all"],"logEvents":events})
    .to_string()
}

/// The Lambda event a CloudWatch Logs subscription delivers: gzipped, base64, in `awslogs.data`.
fn awslogs(data: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    json!({"awslogs": {"data": b64}}).to_string().into_bytes()
}

fn compile(
    files: &[(&str, &str)],
    lists: &[(&str, &str)],
) -> (Option<RuleSet>, Vec<Diagnostic>, Duration) {
    let f = |v: &[(&str, &str)]| -> Vec<RuleFile> {
        v.iter()
            .map(|(p, t)| RuleFile {
                path: p.to_string(),
                text: t.to_string(),
            })
            .collect()
    };
    let start = Instant::now();
    let (set, diags) = RuleSet::compile(&f(files), &f(lists), &[], NOW);
    (set, diags, start.elapsed())
}

fn lines(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(Diagnostic::to_string).collect()
}

/// One rule whose `match` has `userAgent: <op>` besides `eventName: ConsoleLogin`.
fn rule_matching(op: &str) -> String {
    format!(
        "id: ua\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\n  userAgent: {op}\n"
    )
}

/// What one run of the real binary did.
struct Cli {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// The child's own peak RSS, sampled while it ran (its high-water mark only grows).
    peak_rss_mib: Option<f64>,
}

impl Cli {
    fn alerts(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("alert lines are JSON"))
            .collect()
    }

    fn summary(&self) -> &str {
        self.stderr.lines().last().unwrap_or_default()
    }
}

/// Runs `trailwatch args`, killing it (and failing) if it takes longer than `limit`.
fn cli(args: &[&str], limit: Duration) -> Cli {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailwatch"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("TRAILWATCH_LIST_") {
            cmd.env_remove(k);
        }
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("start trailwatch");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            pipe.read_to_string(&mut s).expect("output is UTF-8");
            s
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("piped")));
    let err = reader(Box::new(child.stderr.take().expect("piped")));
    let mut peak_rss = None;
    let status = loop {
        // Read before reaping: a reaped (or zombie) process has no memory figures.
        peak_rss = peak_rss_mib(child.id()).or(peak_rss);
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
    let run = Cli {
        code: status
            .code()
            .expect("trailwatch exited with a code, not a signal"),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        elapsed: start.elapsed(),
        peak_rss_mib: peak_rss,
    };
    assert!(
        !run.stderr.contains("panicked") && run.code != 101,
        "trailwatch panicked:\n{}",
        run.stderr
    );
    run
}

/// The peak resident set (`VmHWM`) of a running process, in MiB (Linux).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

// ---------------------------------------------------------------------------------------
// 1. Truncated gzip

#[test]
fn truncated_gzip_is_broken_after_the_records_before_the_cut() {
    // A concatenated (multi-member) gzip file, as S3 copies may produce: the first member
    // whole, the second cut. Records in the readable part are evaluated.
    let head = format!("{{\"Records\":[{},{},", good_json(1), good_json(2));
    let tail = format!("{}]}}", good_json(3));
    let (gz_head, gz_tail) = (gzip(head.as_bytes()), gzip(tail.as_bytes()));

    // Cut inside the deflate data of the second member.
    let mut cut = gz_head.clone();
    cut.extend_from_slice(&gz_tail[..gz_tail.len() / 2]);
    let out = run(&cut);
    let (offset, reason) = out.broken();
    assert_eq!(reason, "incomplete deflate stream");
    assert!(offset >= head.len() as u64, "{offset}");
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!((out.report.events, out.report.malformed), (2, 0));

    // Only the 8-byte trailer (CRC, size) missing: every record was readable.
    let mut cut = gz_head.clone();
    cut.extend_from_slice(&gz_tail[..gz_tail.len() - 8]);
    let out = run(&cut);
    assert_eq!(
        out.broken(),
        ((head.len() + tail.len()) as u64, "unexpected end of file")
    );
    assert_eq!(out.alerted(), ids(&[1, 2, 3]));

    // Cut inside the gzip header: nothing to read, still a named error.
    let out = run(&gz_head[..5]);
    assert_eq!(out.broken(), (0, "unexpected end of file"));
    // See also src/source/gunzip.rs `truncated_gzip_is_an_error` (is_err only) and
    // tests/scan.rs `a_truncated_file_is_an_error_after_its_first_records` (plain JSON).
}

// ---------------------------------------------------------------------------------------
// 2. Gzip bomb

#[test]
fn gzip_bomb_is_stopped_at_the_cap() {
    // 1 GiB of whitespace after one good record, in about 1 MB of gzip.
    let mut bomb = gzip(format!("{{\"Records\":[{},", good_json(1)).as_bytes());
    bomb.extend(whitespace_bomb(64));
    assert!(bomb.len() < 1_100_000, "{}", bomb.len());
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..pruned()
    };
    let out = run_with(bundled_rules(), &bomb, &limits);
    assert_eq!(
        out.broken(),
        (
            1 << 20,
            "decompressed size exceeds the limit of 1048576 bytes"
        )
    );
    assert_eq!(out.alerted(), ids(&[1]));
    assert!(out.elapsed < QUICK, "took {:?}", out.elapsed);
    // See also src/source/gunzip.rs `stops_a_bomb_at_the_cap` and src/source/tests.rs
    // `decompressed_cap_is_enforced`; the default cap through the CLI is below.
}

#[test]
fn gzip_bomb_at_the_default_cap_is_stopped_in_bounded_memory_by_the_cli() {
    // 2.5 GiB of whitespace (about 2.6 MB of gzip) after one good record; the default cap
    // is 2 GiB. Decompressing to the cap takes a second or two; memory must stay flat. (The
    // child's RSS is sampled from /proc: getrusage(RUSAGE_CHILDREN) would also count this
    // test process's own memory, inherited by a vfork-spawned child until its exec.)
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = gzip(format!("{{\"Records\":[{},", good_json(1)).as_bytes());
    bomb.extend(whitespace_bomb(160));
    let bomb = write(dir.path(), "bomb.json.gz", &bomb);
    let ok = write(
        dir.path(),
        "ok.json",
        &records_raw(&[good_json(2).as_bytes()]),
    );
    let run = cli(&["scan", &bomb, &ok], Duration::from_secs(120));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{bomb}: error: broken input at byte 2147483648: decompressed size exceeds the limit of 2147483648 bytes"
        )),
        "{}",
        run.stderr
    );
    let got: Vec<Value> = run
        .alerts()
        .iter()
        .map(|a| a["event_ids"][0].clone())
        .collect();
    assert_eq!(got, [json!(id(1)), json!(id(2))]);
    assert!(
        run.summary()
            .contains("1 input(s) read, 0 skipped, 1 unreadable; 2 events"),
        "{}",
        run.stderr
    );
    if cfg!(target_os = "linux") {
        let peak = run.peak_rss_mib.expect("VmHWM from /proc");
        assert!(peak < 64.0, "peak RSS {peak:.1} MiB");
    }
}

#[test]
fn gzip_bomb_in_a_cloudwatch_logs_payload_is_stopped_at_the_envelope_cap() {
    // `awslogs.data` is gunzipped whole, capped by `max_envelope` (16 MiB): 32 MiB here.
    // (The message goes on to suggest --max-decompressed, which does not govern this cap.)
    let out = run(&awslogs(&whitespace_bomb(2)));
    let why = out.not_cloudtrail();
    assert!(
        why.starts_with(
            "awslogs.data does not gunzip: decompressed size exceeds the limit of 16777216 bytes"
        ),
        "{why}"
    );
    assert_eq!(out.report.events, 0);
    assert!(out.elapsed < QUICK, "took {:?}", out.elapsed);
}

// ---------------------------------------------------------------------------------------
// 3. Not JSON

#[test]
fn not_json_is_named_and_a_bad_record_costs_one_record() {
    // Whole inputs that are not JSON.
    assert_eq!(
        run(b"# README\n").not_cloudtrail(),
        "starts with '#', not a JSON object or array"
    );
    assert_eq!(
        run(b"\x00\x01\x02").not_cloudtrail(),
        "starts with byte 0x00, not a JSON object or array"
    );
    assert_eq!(
        run(b"{not json}").broken(),
        (0, "invalid JSON: key must be a string at line 1 column 2")
    );

    // One record that is not JSON, inside a Records file: pruned and full parse.
    let bad: &[u8] = br#"{"eventName": tru}"#;
    let doc = records_raw(&[good_json(1).as_bytes(), bad, good_json(2).as_bytes()]);
    let at = Position::Byte(doc.windows(bad.len()).position(|w| w == bad).unwrap() as u64);
    for out in [run(&doc), run_unpruned(&doc)] {
        assert_eq!(out.format(), Format::Records);
        assert_eq!(out.alerted(), ids(&[1, 2]));
        assert_eq!(out.malformed.len(), 1);
        assert_eq!(out.malformed[0].0, at);
        assert!(
            out.malformed[0]
                .1
                .starts_with("invalid JSON: expected ident"),
            "{:?}",
            out.malformed
        );
    }

    // NDJSON: a bad line costs that line.
    let nd = format!(
        "{}\n{{\"eventName\": broken\n{}\n",
        good_json(1),
        good_json(2)
    );
    let out = run(nd.as_bytes());
    assert_eq!(out.format(), Format::Ndjson);
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(out.malformed[0].0, Position::Line(2));
    assert!(
        out.malformed[0].1.starts_with("invalid JSON: "),
        "{:?}",
        out.malformed
    );

    // Garbage *between* records breaks the structure: the file stops there, with the
    // byte offset, after the records before it were evaluated.
    let doc = records_raw(&[good_json(1).as_bytes(), b"@@@", good_json(2).as_bytes()]);
    let out = run(&doc);
    let at = doc.iter().position(|&b| b == b'@').unwrap() as u64;
    assert_eq!(out.broken(), (at, "unexpected character '@'"));
    assert_eq!(out.alerted(), ids(&[1]));
    // See also src/source/tests.rs `malformed_record_in_records_file_is_reported_with_offset`,
    // `ndjson_with_a_bad_line`, `not_cloudtrail_and_empty`; tests/scan.rs
    // `malformed_records_are_reported_not_fatal`.
}

#[test]
fn ndjson_with_a_cut_first_line_still_reads_the_other_lines() {
    for first in [
        r#"{"eventName":"ConsoleLogin""#,
        r#"{"eventName":"ConsoleLogin"#,
    ] {
        let nd = format!("{first}\n{}\n{}\n", good_json(1), good_json(2));
        let out = run(nd.as_bytes());
        assert_eq!(out.alerted(), ids(&[1, 2]), "{:?}", out.result);
        assert_eq!(out.malformed.len(), 1);
        assert_eq!(out.malformed[0].0, Position::Line(1));
    }
}

// ---------------------------------------------------------------------------------------
// 4. `Records` not an array

#[test]
fn records_that_is_not_an_array_is_named() {
    for doc in [
        r#"{"Records":{}}"#,
        r#"{"Records":null}"#,
        r#"{"Records":"[]"}"#,
        r#"{"Records":{"eventVersion":"1.08","eventName":"ConsoleLogin"}}"#,
        // Not the first key, and pretty-printed: read as a whole document instead.
        "{\n  \"x\": 1,\n  \"Records\": 5\n}\n",
    ] {
        let out = run(doc.as_bytes());
        assert_eq!(out.not_cloudtrail(), "\"Records\" is not an array", "{doc}");
        assert_eq!(out.report.events, 0);
    }
    // On an NDJSON line after the first, it costs that line.
    let nd = format!("{}\n{{\"Records\": 5}}\n{}\n", good_json(1), good_json(2));
    let out = run(nd.as_bytes());
    assert_eq!(out.format(), Format::Ndjson);
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(
        out.malformed,
        [(Position::Line(2), "\"Records\" is not an array".to_string())]
    );
    // See also src/source/tests.rs `not_cloudtrail_and_empty` (variant only).
}

// ---------------------------------------------------------------------------------------
// 5. A record over 256 KB

/// A ConsoleLogin record of exactly `len` bytes.
fn record_of(len: usize) -> String {
    let head = r#"{"eventVersion":"1.08","eventName":"ConsoleLogin","pad":""#;
    let tail = r#""}"#;
    format!("{head}{}{tail}", "a".repeat(len - head.len() - tail.len()))
}

#[test]
fn a_record_over_256_kib_is_skipped_and_the_rest_read() {
    let max = Limits::default().max_record;
    assert_eq!(max, 256 << 10);
    let big = record_of(max + 1);
    let doc = records_raw(&[
        good_json(1).as_bytes(),
        big.as_bytes(),
        record_of(max).as_bytes(), // exactly at the limit: accepted
        good_json(2).as_bytes(),
    ]);
    let at = doc
        .windows(big.len())
        .position(|w| w == big.as_bytes())
        .unwrap() as u64;
    for out in [run(&doc), run_unpruned(&doc)] {
        assert_eq!(out.format(), Format::Records);
        assert_eq!(out.alerted(), ids(&[1, 2]));
        assert_eq!(out.report.events, 3);
        assert_eq!(
            out.malformed,
            [(
                Position::Byte(at),
                "record of 262145 bytes exceeds the limit of 262144 bytes".to_string()
            )]
        );
    }
    // The same in NDJSON, and in a bare array.
    let nd = format!("{}\n{big}\n{}\n", good_json(1), good_json(2));
    let out = run(nd.as_bytes());
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(
        out.malformed,
        [(
            Position::Line(2),
            "line of 262145 bytes exceeds the limit of 262144 bytes".to_string()
        )]
    );
    let arr = format!("[{},{big},{}]", good_json(1), good_json(2));
    let out = run(arr.as_bytes());
    assert_eq!(out.format(), Format::Array);
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(out.report.malformed, 1);
    // See also src/source/tests.rs `oversized_record_is_skipped_and_the_rest_read` (500-byte limit).
}

#[test]
fn a_record_over_256_kib_in_a_cloudwatch_logs_batch_is_skipped() {
    let big = record_of((256 << 10) + 1);
    let data = logs_data(&[json!(good_json(1)), json!(big), json!(good_json(2))]);
    let out = run(data.as_bytes());
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(out.report.events, 2);
    assert_eq!(out.malformed.len(), 1);
    assert_eq!(out.malformed[0].0, Position::LogEvent(1));
    assert!(out.malformed[0]
        .1
        .contains("exceeds the limit of 262144 bytes"));
}

// ---------------------------------------------------------------------------------------
// 6. Deeply nested JSON

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn deeply_nested_json_costs_one_record_without_overflowing_the_stack() {
    let deep = nested(100_000); // 200 KB: under the record cap, so the parser sees it
                                // Deep inside a field the rules read (`userIdentity.arn` is kept): parsed, and refused
                                // at serde_json's recursion limit.
    let kept = format!(
        r#"{{"eventVersion":"1.08","eventName":"ConsoleLogin","userIdentity":{{"type":"Root","arn":{deep}}}}}"#
    );
    // Deep inside a field no rule reads: the pruned parse skips it without recursion.
    let skipped = format!(
        r#"{{"eventVersion":"1.08","eventName":"DescribeInstances","requestParameters":{deep}}}"#
    );
    let doc = records_raw(&[
        good_json(1).as_bytes(),
        kept.as_bytes(),
        skipped.as_bytes(),
        good_json(2).as_bytes(),
    ]);
    let out = run(&doc);
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!((out.report.events, out.report.malformed), (3, 1));
    assert!(
        out.malformed[0]
            .1
            .starts_with("invalid JSON: recursion limit exceeded"),
        "{:?}",
        out.malformed
    );
    // A full parse refuses both.
    let out = run_unpruned(&doc);
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!((out.report.events, out.report.malformed), (2, 2));
    assert!(out
        .malformed
        .iter()
        .all(|(_, why)| why.starts_with("invalid JSON: recursion limit exceeded")));

    // Deeper than the record cap (4 MB of brackets): skipped by size, the splitter keeps
    // only a depth counter.
    let doc = format!("[{},{},{}]", good_json(1), nested(2_000_000), good_json(2));
    let out = run(doc.as_bytes());
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(out.malformed.len(), 1);
    assert!(out.malformed[0]
        .1
        .starts_with("record of 4000000 bytes exceeds the limit"));

    // A whole document (not a streamed Records file) nested too deep.
    let doc = format!("{{\"a\":\n{}}}", nested(100_000));
    let out = run(doc.as_bytes());
    let (_, why) = out.broken();
    assert!(
        why.starts_with("invalid JSON: recursion limit exceeded"),
        "{why}"
    );

    // In a CloudWatch Logs batch: that message only.
    let data = logs_data(&[json!(good_json(1)), json!(kept), json!(good_json(2))]);
    let out = run(data.as_bytes());
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(out.malformed.len(), 1);
    assert_eq!(out.malformed[0].0, Position::LogEvent(1));
    assert!(out.malformed[0]
        .1
        .starts_with("invalid JSON: recursion limit exceeded"));
    // See also src/source/tests.rs `invalid_utf8_and_deep_nesting_cost_one_record` (1000 levels, full parse).
}

// ---------------------------------------------------------------------------------------
// 7. Wrong types

#[test]
fn wrong_types_are_records_that_simply_do_not_match() {
    // `userIdentity` a string: a record (counted, not malformed) that no rule can match.
    let mut ui_string = good(3);
    ui_string["userIdentity"] = json!("Root");
    // Numbers where CloudTrail writes strings and strings where it writes objects.
    let numbers = json!({"eventVersion":1.08,"eventTime":20240501,"eventSource":"signin.amazonaws.com",
        "eventName":"ConsoleLogin","sourceIPAddress":19216801,"userAgent":["Mozilla"],
        "userIdentity":{"type":"Root","arn":111122223333u64,"accountId":111122223333u64},
        "responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":"MFAUsed=No",
        "eventID":4,"recipientAccountId":111122223333u64});
    let doc = records_raw(&[
        good_json(1).as_bytes(),
        ui_string.to_string().as_bytes(),
        numbers.to_string().as_bytes(),
        b"7",
        b"\"ConsoleLogin\"",
        b"null",
        b"[]",
        good_json(2).as_bytes(),
    ]);
    for out in [run(&doc), run_unpruned(&doc)] {
        assert_eq!(out.format(), Format::Records);
        assert_eq!((out.report.events, out.report.malformed), (4, 4));
        let reasons: Vec<&str> = out.malformed.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "a record must be a JSON object, found a number",
                "a record must be a JSON object, found a string",
                "a record must be a JSON object, found null",
                "a record must be a JSON object, found an array",
            ]
        );
        // The numeric record still matches (its type is right); it alerts without an id,
        // an account or a time, because those are not strings.
        assert_eq!(out.alerts.len(), 3);
        assert_eq!(out.alerted(), ids(&[1, 2]));
        let odd = &out.alerts[1];
        assert_eq!(
            (odd.account_id.as_ref(), odd.first_seen.as_ref()),
            (None, None)
        );
        assert!(odd.event_ids.is_empty());
        assert_eq!(
            odd.title,
            "Failed console sign-in by Root 111122223333 from 19216801"
        );
    }

    // Numbers and booleans written as strings still compare by value.
    let set = RuleSet::compile(
        &[RuleFile {
            path: "big-page.yaml".into(),
            text: "id: big-page\ntitle: t\nseverity: low\nmatch:\n  eventName: ListUsers\n  requestParameters.maxItems: {gt: 100}\n  readOnly: true\n".into(),
        }],
        &[],
        &[],
        NOW,
    )
    .0
    .unwrap();
    let ev = |max: Value, ro: Value| {
        json!({"eventVersion":"1.08","eventName":"ListUsers","readOnly":ro,"requestParameters":{"maxItems":max}})
            .to_string()
    };
    let nd = [
        ev(json!(500), json!(true)),
        ev(json!("500"), json!("true")),
        ev(json!(" 1e3 "), json!(true)),
        ev(json!("lots"), json!(true)),
        ev(json!(50), json!(true)),
        ev(json!({"n": 500}), json!(true)),
    ]
    .join("\n");
    let out = run_with(
        &set,
        nd.as_bytes(),
        &Limits {
            keep: Some(Arc::new(set.keep())),
            ..Limits::default()
        },
    );
    assert_eq!(
        (out.report.events, out.report.malformed, out.report.alerts),
        (6, 0, 3)
    );
    // See also src/event.rs `odd_records_still_answer`, src/source/prune.rs `odd_types_and_bad_json`.
}

// ---------------------------------------------------------------------------------------
// 8. Missing eventTime

#[test]
fn missing_event_time_still_alerts_on_plain_rules_and_counts_untimed_threshold_hits() {
    let mut untimed = good(3);
    untimed.as_object_mut().unwrap().remove("eventTime");
    let mut not_a_date = good(4);
    not_a_date["eventTime"] = json!("yesterday");
    let mut hidden: Vec<String> = (0..5)
        .map(|i| {
            let mut h = hidden_failure(i, "2024-05-01T10:00:00Z", "123456789012", "192.0.2.7");
            h.as_object_mut().unwrap().remove("eventTime");
            h.to_string()
        })
        .collect();
    hidden.insert(0, good_json(1));
    hidden.push(untimed.to_string());
    hidden.push(not_a_date.to_string());
    hidden.push(good_json(2));
    let parts: Vec<&[u8]> = hidden.iter().map(|s| s.as_bytes()).collect();
    let out = run(&records_raw(&parts));
    assert_eq!(out.format(), Format::Records);
    assert_eq!(out.alerted(), ids(&[1, 3, 4, 2]));
    assert_eq!(out.alerts[1].first_seen, None);
    assert_eq!(out.alerts[2].first_seen.as_deref(), Some("yesterday"));
    // Five hidden-user-name failures would make a burst, but without times there is no
    // window: counted as untimed, not alerted, not malformed. `untimed` counts window
    // hits: the 5 of hidden-username-burst, and 7 sign-ins of the sequence rule
    // console-login-success-after-failures (the 5 and the two with bad times).
    assert_eq!(
        (
            out.report.events,
            out.report.untimed,
            out.report.malformed,
            out.report.alerts
        ),
        (9, 12, 0, 4)
    );
    assert_eq!(out.report.newest_event, Some(NOW + 2 * 60));
    // See also src/pipeline.rs `untimed_records_skip_windows_but_not_plain_rules`.
}

// ---------------------------------------------------------------------------------------
// 9. Invalid UTF-8

#[test]
fn invalid_utf8_costs_one_record() {
    let bad: &[u8] = b"{\"eventVersion\":\"1.08\",\"eventName\":\"Console\xffLogin\"}";
    // Invalid bytes inside a field no rule reads are still refused: a record is UTF-8 or not.
    let bad_skipped: &[u8] =
        b"{\"eventVersion\":\"1.08\",\"eventName\":\"X\",\"tlsDetails\":\"\xc3\x28\"}";
    let lone_surrogate: &[u8] = br#"{"eventVersion":"1.08","eventName":"\ud800"}"#;
    let doc = records_raw(&[
        good_json(1).as_bytes(),
        bad,
        bad_skipped,
        lone_surrogate,
        good_json(2).as_bytes(),
    ]);
    let out = run(&doc);
    assert_eq!(out.alerted(), ids(&[1, 2]));
    let reasons: Vec<&str> = out.malformed.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "invalid JSON: invalid UTF-8 at byte 43",
            "invalid JSON: invalid UTF-8 at byte 53",
            "invalid JSON: unexpected end of hex escape at line 1 column 43",
        ]
    );
    let out = run_unpruned(&doc);
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(out.malformed.len(), 3);
    assert!(out.malformed[0]
        .1
        .starts_with("invalid JSON: invalid unicode code point"));

    // Gzipped, and on an NDJSON line.
    let out = run(&gzip(&doc));
    assert_eq!((out.alerted(), out.malformed.len()), (ids(&[1, 2]), 3));
    let mut nd = good_json(1).into_bytes();
    nd.push(b'\n');
    nd.extend_from_slice(bad);
    nd.push(b'\n');
    nd.extend_from_slice(good_json(2).as_bytes());
    let out = run(&nd);
    assert_eq!(out.alerted(), ids(&[1, 2]));
    assert_eq!(out.malformed[0].0, Position::Line(2));

    // As the first byte of the input.
    assert_eq!(
        run(b"\xff\xfe{}").not_cloudtrail(),
        "starts with byte 0xff, not a JSON object or array"
    );
    // A UTF-8 byte-order mark is skipped, as some editors write one.
    assert_eq!(
        run(b"\xef\xbb\xbf{\"Records\":[]}").format(),
        Format::Records
    );
    // See also src/source/tests.rs `invalid_utf8_and_deep_nesting_cost_one_record` (count
    // only), tests/validate.rs `a_rule_file_that_is_not_utf8_is_reported_with_the_others`.
}

// ---------------------------------------------------------------------------------------
// 10. Empty file

#[test]
fn an_empty_file_is_named_empty() {
    for input in [&b""[..], b" \n\t\r\n", &gzip(b""), &gzip(b"\n\n")] {
        let out = run(input);
        assert!(
            matches!(out.result, Err(DecodeError::Empty)),
            "{:?}",
            out.result
        );
        assert_eq!(out.result.as_ref().unwrap_err().to_string(), "empty input");
    }
    // An empty Records list is a valid, empty trail file, not an error.
    let out = run(br#"{"Records":[]}"#);
    assert_eq!((out.format(), out.report.events), (Format::Records, 0));

    // The CLI skips it in a directory and reports it when named.
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.json", b"");
    write(
        dir.path(),
        "ok.json",
        &records_raw(&[good_json(1).as_bytes()]),
    );
    let d = dir.path().display().to_string();
    let run = cli(&["scan", &d], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{empty}: skipped: not CloudTrail input")),
        "{}",
        run.stderr
    );
    let run = cli(&["scan", &empty], Duration::from_secs(60));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{empty}: error: empty input")),
        "{}",
        run.stderr
    );
    // See also src/source/tests.rs `not_cloudtrail_and_empty` (variant only).
}

// ---------------------------------------------------------------------------------------
// 11. Digest and Insights files

const DIGEST: &str = r#"{"awsAccountId":"111122223333","digestStartTime":"2024-05-01T09:00:00Z","digestEndTime":"2024-05-01T10:00:00Z","digestS3Bucket":"trail-bucket","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240501T100000Z.json.gz","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2024-05-01T09:59:00Z","oldestEventTime":"2024-05-01T09:00:05Z","previousDigestS3Bucket":"trail-bucket","previousDigestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/x.json.gz","previousDigestHashValue":"97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"50887ccffad4c002b97caa37cb","logFiles":[{"s3Bucket":"trail-bucket","s3Object":"AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/x.json.gz","hashValue":"9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6","hashAlgorithm":"SHA-256","newestEventTime":"2024-05-01T09:59:00Z","oldestEventTime":"2024-05-01T09:00:05Z"}]}"#;

/// An Insights event about sign-in errors: no top-level eventName/eventSource.
const INSIGHTS: &str = r#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","awsRegion":"us-east-1","eventID":"55ed45c5-0b0c-4228-9fe5-000000000001","eventType":"AwsCloudTrailInsight","recipientAccountId":"111122223333","sharedEventID":"12edc982-3348-4794-83d3-000000000001","insightDetails":{"state":"Start","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","insightType":"ApiErrorRateInsight","errorCode":"Failure","insightContext":{"statistics":{"baseline":{"average":0.01},"insight":{"average":5.0}}}},"eventCategory":"Insight"}]}"#;

#[test]
fn digest_and_insights_files_are_skipped_or_harmless() {
    // The Lambda skips them by key before reading anything.
    let obj = |key: &str| Object {
        bucket: "trail-bucket".into(),
        key: key.into(),
    };
    assert_eq!(
        obj("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240501T100000Z.json.gz").skip_reason(),
        Some("CloudTrail digest file")
    );
    assert_eq!(
        obj("AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/05/01/111122223333_CloudTrail-Insight_us-east-1_20240501T1000Z_abc.json.gz").skip_reason(),
        Some("CloudTrail Insights file (insight events are not API activity)")
    );

    // Read anyway (the CLI goes by content): a digest is not CloudTrail input…
    for input in [DIGEST.as_bytes().to_vec(), gzip(DIGEST.as_bytes())] {
        let out = run(&input);
        assert_eq!(
            out.not_cloudtrail(),
            "a JSON object with keys [awsAccountId, digestEndTime, digestPublicKeyFingerprint, digestS3Bucket, digestS3Object] is neither a CloudTrail record nor a known envelope"
        );
    }
    // …and an Insights file decodes to records no rule matches.
    let out = run(INSIGHTS.as_bytes());
    assert_eq!(out.format(), Format::Records);
    assert_eq!(
        (out.report.events, out.report.malformed, out.report.alerts),
        (1, 0, 0)
    );
    // See also src/trigger.rs `skips_what_is_not_a_log_file` (is_some only).
}

// ---------------------------------------------------------------------------------------
// 12. A CloudWatch Logs batch with one broken message

#[test]
fn cloudwatch_logs_batch_with_broken_messages_keeps_the_good_ones() {
    let data = logs_data(&[
        json!(good_json(1)),
        json!("{\"eventVersion\":\"1.08\",\"eventName\":"), // cut
        json!(good_json(2)),
        json!(7),    // not a string
        json!("[]"), // not an object
        json!(null),
        json!(good_json(3)),
    ]);
    for input in [data.clone().into_bytes(), awslogs(&gzip(data.as_bytes()))] {
        let out = run(&input);
        assert_eq!(out.format(), Format::CloudWatchLogs);
        assert_eq!(out.alerted(), ids(&[1, 2, 3]));
        let got: Vec<(Position, &str)> = out
            .malformed
            .iter()
            .map(|(at, why)| (at.clone(), why.split(" at line").next().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Position::LogEvent(1),
                    "invalid JSON: EOF while parsing a value"
                ),
                (Position::LogEvent(3), "log event without a string message"),
                (
                    Position::LogEvent(4),
                    "a record must be a JSON object, found an array"
                ),
                (Position::LogEvent(5), "log event without a string message"),
            ]
        );
    }
    // The envelope itself broken: one named error for the batch.
    let cases: [(&[u8], &str); 5] = [
        (
            br#"{"awslogs":{"data":"!!!"}}"#,
            "awslogs.data is not base64: Invalid symbol 33, offset 0.",
        ),
        (
            br#"{"awslogs":{"data":"aGVsbG8="}}"#,
            "awslogs.data does not gunzip: unexpected end of file",
        ),
        (br#"{"awslogs":{}}"#, "\"awslogs\" has no string \"data\""),
        (
            br#"{"messageType":"SOMETHING_ELSE"}"#,
            "unknown CloudWatch Logs messageType 'SOMETHING_ELSE'",
        ),
        (
            br#"{"messageType":"DATA_MESSAGE","logEvents":{}}"#,
            "DATA_MESSAGE without a logEvents array",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(run(input).not_cloudtrail(), want);
    }
    let out = run(&awslogs(&gzip(b"{\"messageType\":")));
    assert!(out
        .not_cloudtrail()
        .starts_with("awslogs.data holds invalid JSON: EOF while parsing"));
    // See also src/source/tests.rs `cloudwatch_logs_payloads` and tests/scan.rs
    // `cloudwatch_and_eventbridge_inputs` (one broken message each).
}

// ---------------------------------------------------------------------------------------
// 13. Unknown Lambda payload shape (`trigger::parse`)

fn s3_record(key: &str) -> Value {
    json!({"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
        "s3":{"bucket":{"name":"trail-bucket"},"object":{"key":key,"size":10}}})
}

#[test]
fn unknown_or_broken_lambda_payloads_are_named() {
    let err = |p: &[u8]| trigger::parse(p).expect_err("must be refused");
    assert_eq!(
        err(br#"{"hello":"world"}"#),
        "unknown payload shape (keys: [hello])"
    );
    assert_eq!(err(b"[1,2]"), "unknown payload shape (keys: [])");
    assert_eq!(err(b"null"), "unknown payload shape (keys: [])");
    assert_eq!(
        err(b""),
        "payload is not JSON: EOF while parsing a value at line 1 column 0"
    );
    assert!(err(b"\xff").starts_with("payload is not JSON: "));
    assert!(err(nested(100_000).as_bytes())
        .starts_with("payload is not JSON: recursion limit exceeded"));
    assert_eq!(
        err(br#"{"Records":[{"foo":1}]}"#),
        "a Records entry that is neither an S3 nor an SNS notification"
    );
    assert_eq!(
        err(br#"{"Records":[{"s3":{"bucket":{"name":"b"}}}]}"#),
        "S3 notification record without bucket name or object key"
    );
    assert!(
        err(br#"{"Records":[{"Sns":{"Message":"x"}}]}"#).starts_with("SNS message is not JSON: ")
    );
    assert_eq!(
        err(br#"{"Records":[{"Sns":{}}]}"#),
        "SNS record without a Message"
    );
    assert_eq!(
        err(br#"{"detail-type":"Object Created","source":"aws.s3","detail":{}}"#),
        "EventBridge Object Created event without bucket name or object key"
    );
    for (key, want) in [
        ("a%zz", "bad escape in key 'a%zz'"),
        ("a%2", "bad escape in key 'a%2'"),
        ("a%\u{e9}", "bad escape in key 'a%\u{e9}'"),
        ("a%a\u{e9}", "bad escape in key 'a%a\u{e9}'"),
        ("%ff", "key '%ff' decodes to invalid UTF-8"),
    ] {
        let p = json!({"Records":[s3_record(key)]}).to_string();
        assert_eq!(err(p.as_bytes()), want, "{key}");
    }

    // An SQS batch: each message stands alone, so the good ones are still read.
    let good_body =
        json!({"Records":[s3_record("AWSLogs/1/CloudTrail/us-east-1/2024/05/01/a.json.gz")]})
            .to_string();
    let sqs = json!({"Records":[
        {"messageId":"m1","eventSource":"aws:sqs","body":good_body},
        {"messageId":"m2","eventSource":"aws:sqs","body":"not json"},
        {"messageId":"m3","eventSource":"aws:sqs","body":"{\"hello\":1}"},
        {"messageId":"m4","eventSource":"aws:sqs"},
        {"messageId":"m5","eventSource":"aws:sqs","body":good_body}]});
    let Payload::Sqs(msgs) = trigger::parse(sqs.to_string().as_bytes()).unwrap() else {
        panic!("an SQS batch")
    };
    let object = Ok(vec![Work::Object(Object {
        bucket: "trail-bucket".into(),
        key: "AWSLogs/1/CloudTrail/us-east-1/2024/05/01/a.json.gz".into(),
    })]);
    assert_eq!(msgs[0], ("m1".to_string(), object.clone()));
    assert!(msgs[1]
        .1
        .as_ref()
        .unwrap_err()
        .starts_with("SQS body is not JSON: "));
    assert_eq!(
        msgs[2].1,
        Err("unknown payload shape (keys: [hello])".to_string())
    );
    assert_eq!(msgs[3].1, Err("SQS message without a body".to_string()));
    assert_eq!(msgs[4], ("m5".to_string(), object));

    // An EventBridge event that is not CloudTrail is passed on inline, then named by decode.
    let eb = br#"{"version":"0","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"state":"running"}}"#;
    assert_eq!(
        trigger::parse(eb).unwrap(),
        Payload::Direct(vec![Work::Inline(eb.to_vec())])
    );
    assert_eq!(
        run(eb).not_cloudtrail(),
        "EventBridge event of detail-type 'EC2 Instance State-change Notification' carries no CloudTrail record (detail is an object)"
    );
    // See also src/trigger.rs `eventbridge_and_logs` (`contains`/`is_err`) and
    // `wrapped_in_sns_and_sqs` (a bad SQS body: is_err).
}

// ---------------------------------------------------------------------------------------
// 14. Rule files: YAML alias bombs

const BILLION_LAUGHS: &str = r#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"#;

/// A rule that defines the laughs, then uses the biggest one.
fn laughs_rule() -> String {
    format!(
        "{BILLION_LAUGHS}id: lol\ntitle: t\nseverity: low\nmatch:\n  eventName: {{one_of: *i}}\n"
    )
}

const ALIASES: &str = "YAML aliases (*name) are not supported in rule files; write the value out";

#[test]
fn yaml_alias_bombs_are_refused_at_the_first_alias() {
    let rule = laughs_rule();
    let merge = "base: &b {eventName: ConsoleLogin}\nid: merge\ntitle: t\nseverity: low\nmatch:\n  <<: *b\n";
    let ok = "id: ok\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\n";
    let (set, diags, took) = compile(
        &[("lol.yaml", &rule), ("merge.yaml", merge), ("ok.yaml", ok)],
        &[(
            "lists.yaml",
            &format!("trusted_accounts: []\n{BILLION_LAUGHS}"),
        )],
    );
    assert!(set.is_none());
    // Every file is still checked, each bomb refused at its first alias.
    assert_eq!(
        lines(&diags),
        [
            format!("lists.yaml:3:8: {ALIASES}"),
            format!("lol.yaml:2:8: {ALIASES}"),
            format!("merge.yaml:6:7: {ALIASES}"),
        ]
    );
    assert!(took < QUICK, "took {took:?}");
    // See also src/rules/yaml.rs `refuses_aliases_and_duplicate_keys` and tests/validate.rs
    // `yaml_alias_is_refused` (one alias each).
}

// ---------------------------------------------------------------------------------------
// 15. Rule files: huge files

#[test]
fn huge_rule_files_are_refused_without_being_read() {
    // In memory (a caller handing over text): the size is checked before parsing.
    let big = format!(
        "id: big\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\ndescription: \"{}\"\n",
        "x".repeat(2 << 20)
    );
    let (set, diags, took) = compile(&[("big.yaml", &big)], &[("lists.yaml", &big)]);
    assert!(set.is_none());
    assert_eq!(
        lines(&diags),
        [
            "big.yaml:1:1: file is larger than the limit of 1048576 bytes (1 MiB)",
            "lists.yaml:1:1: file is larger than the limit of 1048576 bytes (1 MiB)",
        ]
    );
    assert!(took < QUICK, "took {took:?}");

    // On disk: a 4 GiB (sparse) file is refused by its size, never read into memory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::File::create(dir.path().join("huge.yaml"))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    write(
        dir.path(),
        "ok.yaml",
        b"id: ok\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\n",
    );
    let start = Instant::now();
    let read = rules::read_dir(dir.path()).unwrap();
    assert!(start.elapsed() < QUICK, "took {:?}", start.elapsed());
    assert_eq!(read.rules.len(), 1, "the other files are still read");
    assert_eq!(
        lines(&read.problems),
        [format!(
            "{}:1:1: file is 4294967296 bytes, larger than the limit of 1048576 bytes (1 MiB)",
            dir.path().join("huge.yaml").display()
        )]
    );
    // See also tests/validate.rs `huge_rule_file_is_refused_quickly` (2 MiB file, CLI),
    // `too_many_nodes_are_refused_quickly`, `deeply_nested_flow_yaml_is_refused_quickly`,
    // `deeply_nested_block_yaml_is_refused_quickly`.
}

// ---------------------------------------------------------------------------------------
// 16. Rule files: invalid or pathological regexes

#[test]
fn invalid_and_huge_regexes_are_refused_with_a_message() {
    let too_big = "Compiled regex exceeds size limit of 1048576 bytes.";
    let nest = format!("{}a{}", "(".repeat(300), ")".repeat(300));
    let stars = "*".repeat(50_000);
    let cases: Vec<(String, String)> = vec![
        (r"{regex: '\w{1000}{1000}'}".into(), format!("6:22: invalid regex: {too_big}")),
        ("{regex: 'a{100000}'}".into(), format!("6:22: invalid regex: {too_big}")),
        (format!("{{glob: '{stars}'}}"), format!("6:21: invalid glob: {too_big}")),
        (format!("{{regex: '{nest}'}}"), "6:22: invalid regex: exceed the maximum number of nested parentheses/brackets (250)".into()),
        ("{regex: '(ab'}".into(), "6:22: invalid regex: unclosed group".into()),
        ("{regex: '[z-a]'}".into(), "6:22: invalid regex: invalid character class range, the start must be <= the end".into()),
        (r"{regex: '\p{Klingon}'}".into(), "6:22: invalid regex: Unicode property not found".into()),
        (r"{regex: '(a)\1'}".into(), "6:22: invalid regex: backreferences are not supported".into()),
        ("{regex: '(?=a)b'}".into(), "6:22: invalid regex: look-around, including look-ahead and look-behind, is not supported".into()),
        // Each pattern fits, their union does not: reported at the list.
        (format!("{{regex: [{}]}}", vec![r"'\w{20}'"; 30].join(", ")), format!("6:22: invalid regex: {too_big}")),
    ];
    for (op, want) in cases {
        let (set, diags, took) = compile(&[("r.yaml", &rule_matching(&op))], &[]);
        assert!(set.is_none(), "{op:.60}");
        assert_eq!(lines(&diags), [format!("r.yaml:{want}")], "{op:.60}");
        assert!(took < QUICK, "{op:.60} took {took:?}");
    }
    // See also tests/validate.rs `invalid_regex_points_at_the_pattern` (unclosed group) and
    // `every_mistake_in_one_file_is_reported_at_its_position_in_one_run` (unclosed class).
}

#[test]
fn backtracking_bombs_compile_but_match_in_linear_time() {
    // The regex engine never backtracks, so the classic ReDoS patterns are harmless: they
    // compile and run in time linear in the input, and need not be refused.
    let hostile = format!("{}!", "a".repeat(100_000));
    for pat in ["(a+)+$", "^(a|a)*$", "^(a|aa)+$", "^(a*)*b$", "^(.*a){20}$"] {
        let (set, diags, took) = compile(
            &[("r.yaml", &rule_matching(&format!("{{regex: '{pat}'}}")))],
            &[],
        );
        assert!(diags.is_empty(), "{pat}: {diags:?}");
        assert!(took < QUICK, "{pat} took {took:?}");
        let set = set.unwrap();
        let ev = json!({"eventVersion":"1.08","eventName":"ConsoleLogin","userAgent":hostile})
            .to_string();
        let out = run_with(&set, ev.as_bytes(), &Limits::default());
        assert_eq!((out.report.events, out.report.alerts), (1, 0), "{pat}");
        assert!(out.elapsed < QUICK, "{pat} took {:?}", out.elapsed);
    }
}

// ---------------------------------------------------------------------------------------
// 17. Rule files: unknown keys

#[test]
fn unknown_keys_are_rejected_at_every_level_with_a_suggestion() {
    let threshold = "id: t\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\nthreshold: {count: 2, window: 1m, group: [sourceIPAddress]}\n";
    let dedup = "id: d\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\ndedup: {key: [sourceIPAddress], cooldwn: 1h}\n";
    let nested = "id: n\ntitle: t\nseverity: low\nserverity: high\nmatch:\n  eventName: ConsoleLogin\n  userAgent: {regx: x}\n  or: [{eventName: A}]\nsuppress:\n  - match: {eventName: A}\n    reasn: r\n    owner: o\n    expires: 2099-01-01\ntests:\n  - name: x\n    event: {eventName: ConsoleLogin}\n    expects: alert\n";
    let (set, diags, took) = compile(
        &[("d.yaml", dedup), ("n.yaml", nested), ("t.yaml", threshold)],
        &[],
    );
    assert!(set.is_none());
    assert_eq!(
        lines(&diags),
        [
            "d.yaml:6:33: unknown key 'cooldwn' in dedup (did you mean 'cooldown'?)",
            "n.yaml:4:1: unknown key 'serverity' in a rule (did you mean 'severity'?)",
            "n.yaml:7:15: unknown operator 'regx' (did you mean 'regex'?)",
            "n.yaml:8:3: unknown key 'or' (did you mean 'any'?)",
            "n.yaml:10:5: the suppression is missing required key 'reason'",
            "n.yaml:11:5: unknown key 'reasn' in a suppression (did you mean 'reason'?)",
            "n.yaml:15:5: the test is missing required key 'expect'",
            "n.yaml:17:5: unknown key 'expects' in a test (did you mean 'expect'?)",
            "t.yaml:6:35: unknown key 'group' in threshold (did you mean 'group_by'?)",
        ]
    );
    assert!(took < QUICK, "took {took:?}");
    // See also tests/validate.rs `unknown_top_level_key_suggests_the_right_one`,
    // `unknown_operator_suggests_the_right_one`, `and_or_suggest_all_any` (CLI, top level).
}

// ---------------------------------------------------------------------------------------
// End to end: the real binary over a directory of bad inputs, and over bad rule files.

#[test]
fn scan_a_directory_of_bad_inputs_reports_each_and_alerts_on_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let rec = |parts: &[&[u8]]| records_raw(parts);
    let s = |i| good_json(i).into_bytes();

    let mut bomb = gzip(format!("{{\"Records\":[{},", good_json(1)).as_bytes());
    bomb.extend(whitespace_bomb(4));
    write(p, "bomb.json.gz", &bomb);
    let cw = logs_data(&[json!(good_json(2)), json!("{broken"), json!(good_json(3))]);
    write(p, "cloudwatch.json", &awslogs(&gzip(cw.as_bytes())));
    let deep_kept = format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"arn":{}}}}}"#,
        nested(50_000)
    );
    let deep_skipped = format!(
        r#"{{"eventVersion":"1.08","requestParameters":{}}}"#,
        nested(50_000)
    );
    write(
        p,
        "deep.json",
        &rec(&[&s(4), deep_kept.as_bytes(), deep_skipped.as_bytes(), &s(5)]),
    );
    write(p, "digest.json.gz", &gzip(DIGEST.as_bytes()));
    write(p, "empty.json", b"");
    write(p, "insights.json", INSIGHTS.as_bytes());
    write(
        p,
        "invalid-utf8.json",
        &rec(&[&s(6), b"{\"eventVersion\":\"\xff\"}", &s(7)]),
    );
    let mut untimed = good(8);
    untimed.as_object_mut().unwrap().remove("eventTime");
    let mut timeless: Vec<Vec<u8>> = vec![untimed.to_string().into_bytes()];
    for i in 0..5 {
        let mut h = hidden_failure(i, "2024-05-01T10:00:00Z", "123456789012", "192.0.2.7");
        h.as_object_mut().unwrap().remove("eventTime");
        timeless.push(h.to_string().into_bytes());
    }
    write(
        p,
        "missing-time.json",
        &rec(&timeless.iter().map(Vec::as_slice).collect::<Vec<_>>()),
    );
    write(
        p,
        "ndjson.jsonl",
        format!(
            "{}\n{{\"eventName\": broken\n{}\n",
            good_json(9),
            good_json(10)
        )
        .as_bytes(),
    );
    write(p, "not-json.txt", b"hello, world\n");
    write(
        p,
        "oversize.json",
        &rec(&[&s(11), record_of(300_000).as_bytes(), &s(12)]),
    );
    write(
        p,
        "records-not-array.json",
        br#"{"Records":{"eventName":"ConsoleLogin"}}"#,
    );
    let head = gzip(format!("{{\"Records\":[{},{},", good_json(13), good_json(14)).as_bytes());
    let tail = gzip(format!("{}]}}", good_json(15)).as_bytes());
    write(
        p,
        "truncated.json.gz",
        &[&head[..], &tail[..tail.len() / 2]].concat(),
    );
    let mut ui = good(16);
    ui["userIdentity"] = json!("Root");
    let mut numbers = good(17);
    numbers["eventID"] = json!(17);
    numbers["recipientAccountId"] = json!(111122223333u64);
    write(
        p,
        "wrong-types.json",
        &rec(&[
            ui.to_string().as_bytes(),
            numbers.to_string().as_bytes(),
            b"7",
        ]),
    );

    let d = p.display().to_string();
    let run = cli(
        &["scan", "--max-decompressed", "1048576", &d],
        Duration::from_secs(60),
    );
    let f = |name: &str| p.join(name).display().to_string();
    let expect = [
        format!("{}: error: broken input at byte 1048576: decompressed size exceeds the limit of 1048576 bytes (raise --max-decompressed if this file is genuine)", f("bomb.json.gz")),
        format!("{}: malformed record at logEvents[1]: invalid JSON: ", f("cloudwatch.json")),
        format!("{}: malformed record at byte ", f("deep.json")),
        format!("{}: skipped: not CloudTrail input", f("digest.json.gz")),
        format!("{}: skipped: not CloudTrail input", f("empty.json")),
        format!("{}: malformed record at byte ", f("invalid-utf8.json")),
        format!("{}: malformed record at line 2: invalid JSON: ", f("ndjson.jsonl")),
        format!("{}: skipped: not CloudTrail input", f("not-json.txt")),
        format!("{}: malformed record at byte ", f("oversize.json")),
        format!("{}: skipped: not CloudTrail input", f("records-not-array.json")),
        format!("{}: error: broken input at byte ", f("truncated.json.gz")),
        format!("{}: malformed record at byte ", f("wrong-types.json")),
    ];
    for want in &expect {
        assert!(
            run.stderr.lines().any(|l| l.starts_with(want.as_str())),
            "missing {want:?} in\n{}",
            run.stderr
        );
    }
    for (file, why) in [
        ("deep.json", "recursion limit exceeded"),
        ("invalid-utf8.json", "invalid UTF-8 at byte"),
        ("oversize.json", "exceeds the limit of 262144 bytes"),
        (
            "wrong-types.json",
            "a record must be a JSON object, found a number",
        ),
        ("truncated.json.gz", "incomplete deflate stream"),
    ] {
        let file = f(file);
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with(&file) && l.contains(why)),
            "{file}: {why}\n{}",
            run.stderr
        );
    }
    assert_eq!(
        run.code, 2,
        "unreadable inputs make exit 2:\n{}",
        run.stderr
    );
    assert_eq!(
        run.summary(),
        "trailwatch: 8 input(s) read, 4 skipped, 2 unreadable; 23 events, 0 duplicates, 6 malformed, 0 suppressed, 15 alerts (0 deduplicated, 11 untimed)"
    );
    let mut got: Vec<String> = run
        .alerts()
        .iter()
        .map(|a| {
            a["event_ids"]
                .get(0)
                .and_then(Value::as_str)
                .unwrap_or("(none)")
                .to_string()
        })
        .collect();
    got.sort();
    let mut want = ids(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    want.insert(0, "(none)".into()); // the record with a numeric eventID
    assert_eq!(got, want);
}

#[test]
fn validate_a_directory_of_hostile_rule_files_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        p,
        "lists.yaml",
        format!("trusted_accounts: []\n{BILLION_LAUGHS}").as_bytes(),
    );
    write(p, "laughs.yaml", laughs_rule().as_bytes());
    write(
        p,
        "automaton.yaml",
        rule_matching(r"{regex: '\w{1000}{1000}'}").as_bytes(),
    );
    write(p, "unknown.yaml", b"id: u\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\nthreshold: {count: 2, window: 1m, windows: 2}\n");
    write(
        p,
        "ok.yaml",
        b"id: ok\ntitle: t\nseverity: low\nmatch:\n  eventName: ConsoleLogin\n",
    );
    std::fs::File::create(p.join("huge.yaml"))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let run = cli(
        &["validate", &p.display().to_string()],
        Duration::from_secs(60),
    );
    let f = |name: &str| p.join(name).display().to_string();
    let want = [
        format!(
            "{}:6:22: invalid regex: Compiled regex exceeds size limit of 1048576 bytes.",
            f("automaton.yaml")
        ),
        format!(
            "{}:1:1: file is 4294967296 bytes, larger than the limit of 1048576 bytes (1 MiB)",
            f("huge.yaml")
        ),
        format!("{}:2:8: {ALIASES}", f("laughs.yaml")),
        format!("{}:3:8: {ALIASES}", f("lists.yaml")),
        format!(
            "{}:6:35: unknown key 'windows' in threshold (did you mean 'window'?)",
            f("unknown.yaml")
        ),
        "5 error(s), 0 warning(s)".to_string(),
    ];
    let got: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(got, want, "{}", run.stderr);
    assert_eq!(run.code, 1);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );
}
