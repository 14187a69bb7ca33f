//! The AWS API model (src/rules/aws_api) against the requestParameters of every record in
//! tests/corpora: the share of top-level keys the model knows for the record's
//! (eventSource, eventName), per protocol and event source, printed as a table
//! (`cargo test --test aws_api -- --nocapture`).
//!
//! Real trails (invictus-ir, Stratus Red Team, OTRF, the AWS documentation's records)
//! decide: every event source `validate` checks must agree on at least 99% of its keys,
//! the protocols it does not check must not (else they should be checked), the casing the
//! generator gives a service must be the one its records show, and no event name of a
//! real record may be taken for a misspelt operation. The peers' test events (Panther,
//! StreamAlert, fivexl) are written by hand; their figures are printed, not asserted.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use trailwatch::rules::aws_api::{self, lower_first, Casing, Model, Pin};

/// Agreement an event source or protocol needs for `validate` to check it.
const AGREEMENT: f64 = 0.99;
const REAL: &[&str] = &[
    "awsdocs-examples",
    "invictus-ir_aws_dataset",
    "stratus-red-team_detonation-logs",
    "OTRF_Security-Datasets",
];
const FIXTURES: &[&str] = &[
    "panther-analysis",
    "airbnb_streamalert",
    "fivexl_cloudtrail-to-slack",
];

fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora")
}

/// Record files below `dir` (not Stratus's labels, one line per record it describes).
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("json" | "jsonl" | "ndjson")
        ) && !p.ends_with("labels.jsonl")
        {
            out.push(p);
        }
    }
}

/// CloudTrail records inside `v`: `{"Records": [...]}`, arrays, a peer test's `event`, a
/// CloudWatch Logs envelope's messages, or a record.
fn walk(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
        Value::Object(m) if m.contains_key("Records") => walk(&m["Records"], out),
        Value::Object(m) if m.get("event").is_some_and(Value::is_object) => walk(&m["event"], out),
        Value::Object(m) if m.contains_key("logEvents") => {
            for e in m["logEvents"].as_array().into_iter().flatten() {
                if let Some(Ok(inner)) = e["message"].as_str().map(serde_json::from_str) {
                    walk(&inner, out);
                }
            }
        }
        Value::Object(m) if m.contains_key("eventSource") && m.contains_key("eventName") => {
            out.push(v.clone())
        }
        _ => {}
    }
}

/// The records of each corpus folder, each once (some files repeat others' records).
fn records(folders: &[&str]) -> Vec<(String, Value)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for folder in folders {
        let mut paths = Vec::new();
        files(&corpora().join(folder), &mut paths);
        for p in paths {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let mut found = Vec::new();
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => walk(&v, &mut found),
                Err(_) => {
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        if let Ok(v) = serde_json::from_str::<Value>(line) {
                            walk(&v, &mut found);
                        }
                    }
                }
            }
            for r in found {
                let key = format!(
                    "{}|{}|{}|{}",
                    r["eventID"], r["eventSource"], r["eventName"], r["requestParameters"]
                );
                if seen.insert(key) {
                    out.push((folder.to_string(), r));
                }
            }
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    keys: usize,
    known: usize,
    in_model: usize,
    /// (eventName, key) the model does not know, with how often.
    unknown: BTreeMap<(String, String), usize>,
}

impl Tally {
    fn share(&self, n: usize) -> f64 {
        n as f64 / self.keys.max(1) as f64
    }
}

#[derive(Default)]
struct Measure {
    /// (protocol, eventSource, checked) → keys.
    by_source: BTreeMap<(String, String, bool), Tally>,
    /// Keys of events that are no operation of the model (not checked by validate).
    not_operations: BTreeMap<(String, String), usize>,
    /// Service → (keys showing lowerCamel, keys showing the model's spelling).
    casing: BTreeMap<String, (usize, usize)>,
}

fn measure(model: &Model, records: &[(String, Value)]) -> Measure {
    let mut m = Measure::default();
    for (_, r) in records {
        let Some(params) = r["requestParameters"].as_object() else {
            continue;
        };
        let (source, name) = (
            r["eventSource"].as_str().unwrap_or_default(),
            r["eventName"].as_str().unwrap_or_default(),
        );
        let ops = model.operation(source, name);
        let Some(first) = ops.first() else {
            *m.not_operations
                .entry((source.to_string(), name.to_string()))
                .or_default() += params.len();
            continue;
        };
        let checked = ops.iter().all(|o| o.service.checked);
        let t = m
            .by_source
            .entry((
                first.service.protocol.to_string(),
                source.to_string(),
                checked,
            ))
            .or_default();
        for key in params.keys() {
            t.keys += 1;
            if ops.iter().any(|o| o.knows(key)) {
                t.known += 1;
            } else {
                *t.unknown
                    .entry((name.to_string(), key.clone()))
                    .or_default() += 1;
            }
            if ops.iter().any(|o| o.knows_in_model(key)) {
                t.in_model += 1;
            }
            for o in &ops {
                let c = m.casing.entry(o.service.name.to_string()).or_default();
                // Only a member in upper case tells the spellings apart.
                for member in o
                    .members()
                    .filter(|k| k.starts_with(|c: char| c.is_ascii_uppercase()))
                {
                    if *key == lower_first(member) {
                        c.0 += 1;
                    } else if key == member {
                        c.1 += 1;
                    }
                }
            }
        }
    }
    m
}

fn print_table(title: &str, records: usize, m: &Measure) {
    let keys: usize = m.by_source.values().map(|t| t.keys).sum::<usize>()
        + m.not_operations.values().sum::<usize>();
    println!("\n{title}: {records} records, {keys} requestParameters keys\n");
    println!("| protocol | eventSource | checked | keys | known | model only | keys not known |");
    println!("|---|---|---|---:|---:|---:|---|");
    let mut protocols: BTreeMap<(String, bool), Tally> = BTreeMap::new();
    for ((protocol, source, checked), t) in &m.by_source {
        let mut unknown: Vec<String> = t
            .unknown
            .iter()
            .map(|((op, key), n)| format!("{op}.{key} ×{n}"))
            .collect();
        if unknown.len() > 4 {
            let more = unknown.len() - 3;
            unknown.truncate(3);
            unknown.push(format!("{more} more"));
        }
        println!(
            "| {protocol} | {source} | {} | {} | {:.1}% | {:.1}% | {} |",
            if *checked { "yes" } else { "no" },
            t.keys,
            100.0 * t.share(t.known),
            100.0 * t.share(t.in_model),
            unknown.join(", ")
        );
        let p = protocols.entry((protocol.clone(), *checked)).or_default();
        p.keys += t.keys;
        p.known += t.known;
        p.in_model += t.in_model;
    }
    println!("\n| protocol | checked | keys | known | model only |\n|---|---|---:|---:|---:|");
    for ((protocol, checked), t) in &protocols {
        println!(
            "| {protocol} | {} | {} | {:.2}% | {:.2}% |",
            if *checked { "yes" } else { "no" },
            t.keys,
            100.0 * t.share(t.known),
            100.0 * t.share(t.in_model)
        );
    }
    let skipped: usize = m.not_operations.values().sum();
    println!(
        "\n{skipped} keys of {} (eventSource, eventName) pairs that are no operation of the model (not checked): {}",
        m.not_operations.len(),
        m.not_operations
            .keys()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn real_trails_agree_with_the_model_where_validate_checks() {
    let model = aws_api::model().expect("the embedded model loads");
    let real = records(REAL);
    assert!(real.len() > 3000, "{} real records", real.len());
    let m = measure(model, &real);
    print_table(
        &format!(
            "Real trails ({}): requestParameters keys the model knows ({})",
            REAL.join(", "),
            model.header.get(1).copied().unwrap_or_default()
        ),
        real.len(),
        &m,
    );
    let mut problems = Vec::new();
    let mut protocols: BTreeMap<(&str, bool), (usize, usize)> = BTreeMap::new();
    for ((protocol, source, checked), t) in &m.by_source {
        let p = protocols.entry((protocol, *checked)).or_default();
        p.0 += t.keys;
        p.1 += t.known;
        if *checked && t.share(t.known) < AGREEMENT {
            problems.push(format!(
                "{source} is checked but its records agree on {:.1}% of keys only: {:?}",
                100.0 * t.share(t.known),
                t.unknown
            ));
        }
    }
    for ((protocol, checked), (keys, known)) in &protocols {
        let share = *known as f64 / *keys as f64;
        if *checked && share < AGREEMENT {
            problems.push(format!(
                "protocol {protocol} is checked but agrees on {:.1}%",
                100.0 * share
            ));
        }
        if !*checked && share >= AGREEMENT {
            problems.push(format!(
                "protocol {protocol} is not checked but its {keys} keys agree on {:.1}%: check it",
                100.0 * share
            ));
        }
    }
    for (protocol, _) in protocols.keys() {
        assert!(
            ["json", "query", "rest-json", "ec2", "rest-xml"].contains(protocol),
            "a protocol the measurement does not know: {protocol}"
        );
    }
    assert!(
        protocols.contains_key(&("ec2", false)) && protocols.contains_key(&("rest-xml", false))
    );
    // The casing the generator gives each service is the one its records show.
    for s in model.services() {
        let (camel, verbatim) = m.casing.get(s.name).copied().unwrap_or_default();
        let shown = match (camel > 0, verbatim > 0) {
            (true, false) => Some(Casing::Camel),
            (false, true) => Some(Casing::Verbatim),
            (false, false) => None,
            (true, true) => {
                if s.checked {
                    problems.push(format!("{}: records show both spellings", s.name));
                }
                continue;
            }
        };
        match (shown, s.casing) {
            (Some(c), given) if c != given => problems.push(format!(
                "{}: records show {c:?} ({camel} lowerCamel, {verbatim} model spelling), the model says {given:?}",
                s.name
            )),
            (None, given) if given != Casing::Either => problems.push(format!(
                "{}: casing {given:?} but no real record shows it",
                s.name
            )),
            _ => {}
        }
    }
    // A real event's name is never taken for a misspelt operation.
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for (_, r) in &real {
        if let (Some(s), Some(n)) = (r["eventSource"].as_str(), r["eventName"].as_str()) {
            pairs.insert((s.to_string(), n.to_string()));
        }
    }
    for (source, name) in &pairs {
        let (s, n) = (
            BTreeSet::from([source.clone()]),
            BTreeSet::from([name.clone()]),
        );
        let pin = |values| Pin {
            values,
            ignore_case: false,
        };
        let r = model.resolve(Some(pin(&s)), Some(pin(&n)));
        if !r.misnamed.is_empty() {
            problems.push(format!(
                "{source} {name} would be called misspelt: {:?}",
                r.misnamed
            ));
        }
    }
    println!("\n{} distinct (eventSource, eventName) pairs checked for false 'not an operation' warnings", pairs.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn peer_test_events_are_measured_too() {
    let model = aws_api::model().expect("the embedded model loads");
    let fixtures = records(FIXTURES);
    assert!(fixtures.len() > 400, "{} peer test records", fixtures.len());
    let m = measure(model, &fixtures);
    print_table(
        &format!(
            "Peers' hand-written test events ({}): not asserted",
            FIXTURES.join(", ")
        ),
        fixtures.len(),
        &m,
    );
    // Measured, so the table is not empty.
    assert!(m.by_source.values().map(|t| t.keys).sum::<usize>() > 500);
}
