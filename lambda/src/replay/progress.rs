//! What a replay shows while it runs: a progress bar on stderr when stderr is a terminal
//! (a log or a pipe gets only the messages and the summary). The bar's axis is event time
//! (the name time of the file being read, from the start of the range to its end), the
//! one measure of how far a walk has come that is known before every key is listed.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

/// `1234567` → `1.2 MB`.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        _ if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        _ if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        _ if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        _ => format!("{n} B"),
    }
}

impl Progress {
    /// A bar when `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {percent:>3}% ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// No bar (tests, `--quiet`).
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    pub fn is_hidden(&self) -> bool {
        self.bar.is_none()
    }

    /// A line on stderr that does not tear the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// The axis: `len` units (seconds of event time, or messages).
    pub fn set_length(&self, len: u64) {
        if let Some(b) = &self.bar {
            b.set_length(len.max(1));
        }
    }

    pub fn set(&self, pos: u64, msg: String) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
            b.set_message(msg);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
