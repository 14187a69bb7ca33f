//! Helpers shared by the integration tests: run the real binary, build records and files.
#![allow(dead_code)]

use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn alerts(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("alert lines are JSON"))
            .collect()
    }
}

pub fn trailwatch(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(args)
        .env_remove("TRAILWATCH_LIST_TRUSTED_ACCOUNTS")
        .env_remove("TRAILWATCH_LIST_BREAK_GLASS_USERS")
        .env_remove("TRAILWATCH_LIST_ACCOUNT_ALIASES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trailwatch");
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).unwrap();
    }
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// A failed console sign-in whose user name CloudTrail hides.
pub fn hidden_failure(id: u32, time: &str, account: &str, ip: &str) -> Value {
    json!({"eventVersion":"1.08","eventTime":time,"eventSource":"signin.amazonaws.com",
        "eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":ip,
        "userIdentity":{"type":"IAMUser","accountId":account,"accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"},
        "errorMessage":"No username found in supplied account","responseElements":{"ConsoleLogin":"Failure"},
        "eventID":format!("00000000-0000-4000-8000-{id:012}"),"recipientAccountId":account})
}

pub fn root_failure(id: u32, time: &str) -> Value {
    json!({"eventVersion":"1.08","eventTime":time,"eventSource":"signin.amazonaws.com",
        "eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1",
        "userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},
        "responseElements":{"ConsoleLogin":"Failure"},
        "eventID":format!("10000000-0000-4000-8000-{id:012}"),"recipientAccountId":"111122223333"})
}

pub fn records(recs: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "Records": recs })).unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.display().to_string()
}

/// Every file below `dir`, depth first, each folder's entries sorted.
pub fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A gzipped synthetic trail of `events` records from the benchmark's generator
/// (bench/gen_cloudtrail.py, deterministic for a seed).
pub fn synthetic_trail(events: u32, seed: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synthetic");
    let status = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen_cloudtrail.py"))
        .args([
            "--events",
            &events.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .expect("python3 runs the generator");
    assert!(status.success());
    std::fs::read(out.with_extension("json.gz")).unwrap()
}
