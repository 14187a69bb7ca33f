//! Files below a folder, for `scan` and for rule folders: sorted, each read once.
//!
//! A folder reached twice through symbolic links (a loop, or two links to one place) is
//! read once: reading it again would count its records twice and re-alert records that
//! have no `eventID`. Anything that is not a regular file (a FIFO, a socket, a device) is
//! left out with a reason, since opening a FIFO blocks until someone writes to it.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What a walk found.
#[derive(Debug, Default)]
pub struct Found {
    /// Regular files, sorted by path.
    pub files: Vec<PathBuf>,
    /// Paths left out, and why.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// Every regular file below `dir` whose name `keep` accepts; `dir` itself when it is a file.
pub fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> io::Result<Found> {
    let mut found = Found::default();
    if !fs::metadata(dir)?.is_dir() {
        found.files.push(dir.to_path_buf());
        return Ok(found);
    }
    let mut seen = HashSet::new();
    visit(dir, keep, &mut seen, &mut found)?;
    found.files.sort();
    Ok(found)
}

fn visit(
    dir: &Path,
    keep: &dyn Fn(&Path) -> bool,
    seen: &mut HashSet<PathBuf>,
    found: &mut Found,
) -> io::Result<()> {
    let real = fs::canonicalize(dir)?;
    if !seen.insert(real) {
        found
            .skipped
            .push((dir.to_path_buf(), "a folder already read (symbolic link)"));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for path in entries {
        // Follows links: a link to a file is read, a dangling one is reported.
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(_) => {
                found.skipped.push((path, "a broken symbolic link"));
                continue;
            }
        };
        if meta.is_dir() {
            visit(&path, keep, seen, found)?;
        } else if !meta.is_file() {
            found
                .skipped
                .push((path, "not a regular file (a FIFO, socket or device)"));
        } else if keep(&path) {
            found.files.push(path);
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn loops_are_read_once_and_fifos_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("a")).unwrap();
        fs::write(root.join("a/one.json"), "{}").unwrap();
        fs::write(root.join("two.json"), "{}").unwrap();
        std::os::unix::fs::symlink(root, root.join("a/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("gone"), root.join("dangling")).unwrap();
        let fifo = root.join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let found = walk(root, &|_| true).unwrap();
        assert_eq!(
            found.files,
            [root.join("a/one.json"), root.join("two.json")]
        );
        let why: Vec<&str> = found.skipped.iter().map(|(_, w)| *w).collect();
        assert_eq!(
            why,
            [
                "a folder already read (symbolic link)",
                "a broken symbolic link",
                "not a regular file (a FIFO, socket or device)"
            ]
        );
    }
}
