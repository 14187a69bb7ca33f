//! Located problems in rule files, collected so one `validate` run shows them all.

use super::matcher::FieldRef;
use super::yaml::Pos;
use crate::event::FieldPath;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    pub level: Level,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "",
            Level::Warning => "warning: ",
        };
        write!(f, "{}:{}: {level}{}", self.file, self.pos, self.message)
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Diags {
    file: String,
    pub list: Vec<Diagnostic>,
    /// Where the file's rules read `requestParameters` or test `eventName`, for checks
    /// that need the whole compiled rule (the AWS API check): the paths of one field
    /// reference (`a|b` has two).
    pub reads: Vec<(Pos, Vec<FieldPath>)>,
}

impl Diags {
    pub fn new(file: &str) -> Self {
        Diags {
            file: file.to_string(),
            list: Vec::new(),
            reads: Vec::new(),
        }
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Level::Error, message.into())
    }

    pub fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Level::Warning, message.into())
    }

    /// Notes where a rule reads `field` (only the paths [`Diags::reads`] keeps).
    pub fn read(&mut self, pos: Pos, field: &FieldRef) {
        self.read_first_of(pos, field.paths())
    }

    /// Notes where a rule reads the first of `paths` that has a value.
    pub fn read_first_of(&mut self, pos: Pos, paths: Vec<&FieldPath>) {
        if paths
            .iter()
            .any(|p| matches!(p.root(), Some("requestParameters" | "eventName")))
        {
            self.reads.push((pos, paths.into_iter().cloned().collect()));
        }
    }

    fn push(&mut self, pos: Pos, level: Level, message: String) {
        self.list.push(Diagnostic {
            file: self.file.clone(),
            pos,
            level,
            message,
        })
    }
}

/// ` (did you mean 'x'?)` when a candidate is close to `word`, else an empty string.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(word, candidates, usize::MAX) {
        Some(c) => format!(" (did you mean '{c}'?)"),
        None => String::new(),
    }
}

/// The candidate closest to `word` (case aside), if it is within `max` edits and within
/// one edit per three letters of `word` (so `arn` is not taken for `all`).
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let best = candidates
        .into_iter()
        .map(|c| {
            let cl = c.to_ascii_lowercase();
            // A word cut short (`group` for `group_by`) counts as one edit.
            let d = if cl == lower {
                0
            } else if lower.len() >= 4 && cl.starts_with(&lower) {
                1
            } else {
                distance(&lower, &cl)
            };
            (d, c)
        })
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, c)) if d <= (word.chars().count() / 3).max(1).min(max) => Some(c),
        _ => None,
    }
}

/// Edit distance between two short strings, a swap of neighbours counting as one edit
/// (`titel` is one edit from `title`).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            if i > 0 && j > 0 && *ca == b[j - 1] && a[i - 1] == *cb {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_changes_and_swaps() {
        for (a, b, d) in [
            ("abc", "abc", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("ab", "xy", 2),
            ("kitten", "sitting", 3),
            ("abc", "acb", 1),
            ("title", "titel", 1),
            ("abcd", "badc", 2),
        ] {
            assert_eq!(distance(a, b), d, "{a} {b}");
        }
    }

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(
            did_you_mean("equal", ["equals", "one_of"]),
            " (did you mean 'equals'?)"
        );
        assert_eq!(
            did_you_mean("eventname", ["eventName"]),
            " (did you mean 'eventName'?)"
        );
        assert_eq!(did_you_mean("zzzzzz", ["equals"]), "");
        assert_eq!(did_you_mean("titel", ["title"]), " (did you mean 'title'?)");
        assert_eq!(did_you_mean("hgih", ["high"]), " (did you mean 'high'?)");
        assert_eq!(did_you_mean("arn", ["all", "any", "not"]), "");
        // One edit per three letters: two edits are too many for five letters.
        assert_eq!(did_you_mean("tixxe", ["title"]), "");
        assert_eq!(
            did_you_mean("tixxeee", ["titleee"]),
            " (did you mean 'titleee'?)"
        );
        assert_eq!(
            did_you_mean("group", ["group_by", "count", "window"]),
            " (did you mean 'group_by'?)"
        );
    }
}
