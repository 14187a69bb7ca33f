//! `trailwatch replay` and `trailwatch scan s3://…`: run `trailwatch-replay`.
//!
//! Reading S3 needs the AWS SDK, which this crate does without so that `cargo install`
//! stays fast; the replay lives in the Lambda crate's `trailwatch-replay` binary. This
//! finds it (next to this executable, else on PATH), passes the arguments through and
//! returns its exit code.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const BINARY: &str = "trailwatch-replay";

/// `trailwatch-replay` next to `exe`, else the first on `path`.
fn find(exe: Option<&Path>, path: Option<OsString>) -> Option<PathBuf> {
    let name = format!("{BINARY}{}", std::env::consts::EXE_SUFFIX);
    let beside = exe.and_then(Path::parent).map(|d| d.join(&name));
    beside
        .into_iter()
        .chain(
            path.iter()
                .flat_map(std::env::split_paths)
                .map(|d| d.join(&name)),
        )
        .find(|p| p.is_file())
}

/// Runs `trailwatch-replay` with `args`; its exit code is ours.
pub fn delegate(args: Vec<OsString>) -> Result<ExitCode> {
    let exe = std::env::current_exe().ok();
    let Some(bin) = find(exe.as_deref(), std::env::var_os("PATH")) else {
        bail!(
            "reading from S3 needs {BINARY}, which is neither next to {} nor on PATH. Install it from a clone of trailwatch with\n  cargo install --locked --path lambda --bin {BINARY}\n(it compiles the AWS SDK for Rust: a few minutes), or copy local files and run `trailwatch scan DIR`",
            exe.as_deref().map_or("this program".into(), |e| e.display().to_string())
        );
    };
    let status = Command::new(&bin)
        .args(args)
        .env("TRAILWATCH_REPLAY_AS", "trailwatch replay")
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    // Killed by a signal: no code of its own; an error as far as callers go.
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(2),
    ))
}

/// `s3://…`, which `scan` hands to `trailwatch-replay`.
pub fn is_s3(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.starts_with("s3://"))
}

/// The arguments after the subcommand (`scan`), as typed: `scan`'s options are
/// `trailwatch-replay`'s too.
pub fn after(subcommand: &str) -> Vec<OsString> {
    std::env::args_os()
        .skip(1)
        .skip_while(|a| a != subcommand)
        .skip(1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_beside_the_executable_before_path() {
        let beside = tempfile::tempdir().unwrap();
        let on_path = tempfile::tempdir().unwrap();
        let name = format!("{BINARY}{}", std::env::consts::EXE_SUFFIX);
        let exe = beside.path().join("trailwatch");
        std::fs::write(on_path.path().join(&name), "").unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), on_path.path()]).ok();
        assert_eq!(
            find(Some(&exe), path.clone()),
            Some(on_path.path().join(&name))
        );
        std::fs::write(beside.path().join(&name), "").unwrap();
        assert_eq!(find(Some(&exe), path), Some(beside.path().join(&name)));
        assert_eq!(find(None, None), None);
    }
}
