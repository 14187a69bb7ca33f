//! `trailwatch replay …` and `trailwatch scan s3://…` run `trailwatch-replay` (next to the
//! executable, else on PATH) with the arguments as typed and return its exit code; without
//! it they say how to install it. A stand-in script plays `trailwatch-replay` here (the
//! real one is tested in lambda/tests/replay.rs).
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One test at a time: a file just written and made executable is "busy" (ETXTBSY) while
/// a child another test forked meanwhile still holds its write descriptor, before exec.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A copy of `trailwatch` in a folder of its own (so nothing is found beside it by chance).
fn trailwatch_in(dir: &Path) -> PathBuf {
    let exe = dir.join("trailwatch");
    std::fs::copy(env!("CARGO_BIN_EXE_trailwatch"), &exe).unwrap();
    exe
}

/// A `trailwatch-replay` that writes its arguments (one a line) and TRAILWATCH_REPLAY_AS
/// to `log`, and exits 3.
fn stand_in(dir: &Path, log: &Path) {
    let path = dir.join("trailwatch-replay");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho \"as=$TRAILWATCH_REPLAY_AS\" >> '{}'\nexit 3\n",
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(exe: &Path, path: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(exe)
        .args(args)
        .env("PATH", path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn replay_and_scan_s3_reach_trailwatch_replay_with_the_arguments_as_typed() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let exe = trailwatch_in(dir.path());
    let log = dir.path().join("args");
    stand_in(dir.path(), &log);
    let (code, err) = run(&exe, "/nonexistent", &["replay", "--help"]);
    assert_eq!(code, Some(3), "its exit code is ours: {err}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "--help\nas=trailwatch replay\n"
    );
    let (code, _) = run(
        &exe,
        "/nonexistent",
        &["replay", "s3://b/p", "--since", "2024-05-01", "-v"],
    );
    assert_eq!(code, Some(3));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "s3://b/p\n--since\n2024-05-01\n-v\nas=trailwatch replay\n"
    );
    let (code, _) = run(
        &exe,
        "/nonexistent",
        &["scan", "--format", "text", "s3://trail-logs/o-abc123"],
    );
    assert_eq!(code, Some(3), "scan s3://… is a replay");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "--format\ntext\ns3://trail-logs/o-abc123\nas=trailwatch replay\n"
    );
    let (code, err) = run(&exe, "/nonexistent", &["scan", "s3://b", "README.md"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not both in one run"), "{err}");
}

#[test]
fn found_on_path_when_not_beside_the_executable() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let exe = trailwatch_in(dir.path());
    let log = dir.path().join("args");
    stand_in(bin.path(), &log);
    let path = format!("/nonexistent:{}", bin.path().display());
    let (code, _) = run(&exe, &path, &["replay", "s3://b"]);
    assert_eq!(code, Some(3));
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .starts_with("s3://b\n"));
}

#[test]
fn without_trailwatch_replay_the_error_says_how_to_install_it() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let exe = trailwatch_in(dir.path());
    for args in [&["replay", "--help"][..], &["scan", "s3://trail-logs"][..]] {
        let (code, err) = run(&exe, "/nonexistent", args);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("cargo install --locked --path lambda --bin trailwatch-replay")
                && err.contains("AWS SDK"),
            "{err}"
        );
        assert!(!err.contains("No such file"), "{err}");
    }
}
