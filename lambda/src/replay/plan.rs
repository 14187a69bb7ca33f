//! Which listings to make, and in which order to read what they return, as plain state
//! machines that the S3 walker drives (no I/O here).
//!
//! A *stream* is one `…/CloudTrail/<region>/` folder of one account. Its [`Cursor`] walks
//! the year, month and day folders that overlap the time window, oldest first, so the keys
//! of one stream come out in file-name-time order (a day folder lists in key order, and
//! the keys of one folder differ only from the time on). [`Merge`] then interleaves all
//! streams by that time, holding one listing page per stream: exact event-time order of
//! files across accounts, regions and trails, in memory bounded by streams × page size.

use super::keys::{folder_period, last_segment, parse_name, Name, Window};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

/// One log file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub bucket: Arc<str>,
    pub key: String,
    pub size: u64,
    /// The time in its name (Unix seconds).
    pub time: i64,
}

/// What the walk passed over, and why.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Digest and Insights files found in date folders.
    pub digest: u64,
    pub insight: u64,
    /// `CloudTrail-Digest/` and `CloudTrail-Insight/` folders of accounts, never listed.
    pub digest_folders: u64,
    pub insight_folders: u64,
    /// Objects in date folders whose name is not a CloudTrail log file's.
    pub malformed_keys: u64,
    /// A few of them, with the reason.
    pub malformed_examples: Vec<String>,
    /// Folders that are not part of the layout (a year that is not a number, …).
    pub other_folders: u64,
    /// Log files listed whose name's time is outside the window.
    pub outside_window: u64,
}

const MAX_EXAMPLES: usize = 5;

impl Skipped {
    pub fn add(&mut self, o: &Skipped) {
        self.digest += o.digest;
        self.insight += o.insight;
        self.digest_folders += o.digest_folders;
        self.insight_folders += o.insight_folders;
        self.malformed_keys += o.malformed_keys;
        self.other_folders += o.other_folders;
        self.outside_window += o.outside_window;
        for e in &o.malformed_examples {
            if self.malformed_examples.len() < MAX_EXAMPLES {
                self.malformed_examples.push(e.clone());
            }
        }
    }
}

/// A listing to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The sub-folders of a folder (`Delimiter=/`).
    Folders(String),
    /// One page of the objects of a day folder.
    Objects {
        prefix: String,
        token: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Years(String),
    Months(String, i64),
    Days(String, i64, u32),
    Day(String, Option<String>),
}

/// The date folders of one stream, oldest first.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub bucket: Arc<str>,
    window: Window,
    /// Folders still to list, the next one last.
    todo: Vec<Node>,
}

impl Cursor {
    /// `base` is the region folder, `…/CloudTrail/<region>/`.
    pub fn new(bucket: Arc<str>, base: String, window: Window) -> Cursor {
        Cursor {
            bucket,
            window,
            todo: vec![Node::Years(base)],
        }
    }

    /// The next listing, or `None` when the stream is exhausted.
    pub fn request(&self) -> Option<Request> {
        Some(match self.todo.last()? {
            Node::Years(p) | Node::Months(p, _) | Node::Days(p, ..) => Request::Folders(p.clone()),
            Node::Day(p, token) => Request::Objects {
                prefix: p.clone(),
                token: token.clone(),
            },
        })
    }

    /// The answer to [`Request::Folders`]: full sub-folder prefixes, in any order.
    pub fn folders(&mut self, children: &[String], skipped: &mut Skipped) {
        let Some(node) = self.todo.pop() else { return };
        let mut next: Vec<(u32, Node)> = Vec::new();
        for c in children {
            let seg = last_segment(c);
            let n: Option<u32> = seg
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| seg.parse().ok())
                .flatten();
            let (period, child) = match (&node, n) {
                (Node::Years(_), Some(y)) if seg.len() == 4 => (
                    folder_period(i64::from(y), 0, 0),
                    Node::Months(c.clone(), i64::from(y)),
                ),
                (Node::Months(_, y), Some(m)) if seg.len() == 2 => {
                    (folder_period(*y, m, 0), Node::Days(c.clone(), *y, m))
                }
                (Node::Days(_, y, m), Some(d)) if seg.len() == 2 => {
                    (folder_period(*y, *m, d), Node::Day(c.clone(), None))
                }
                _ => (None, Node::Years(String::new())),
            };
            match period {
                None => skipped.other_folders += 1,
                Some((s, e)) if self.window.overlaps(s, e) => next.push((n.unwrap_or(0), child)),
                Some(_) => {}
            }
        }
        next.sort_by_key(|(n, _)| Reverse(*n));
        self.todo.extend(next.into_iter().map(|(_, c)| c));
    }

    /// The answer to [`Request::Objects`]: `(key, size)` of one page and the continuation
    /// token. Returns the log files in the window, sorted by name time then key.
    pub fn objects(
        &mut self,
        objects: Vec<(String, u64)>,
        next: Option<String>,
        skipped: &mut Skipped,
    ) -> Vec<Listed> {
        match (self.todo.last_mut(), next) {
            (Some(Node::Day(_, token)), Some(n)) => *token = Some(n),
            _ => {
                self.todo.pop();
            }
        }
        let mut out = Vec::with_capacity(objects.len());
        for (key, size) in objects {
            match parse_name(&key) {
                Ok(Name::Log { time, .. }) if self.window.contains(time) => out.push(Listed {
                    bucket: self.bucket.clone(),
                    key,
                    size,
                    time,
                }),
                Ok(Name::Log { .. }) => skipped.outside_window += 1,
                Ok(Name::Digest) => skipped.digest += 1,
                Ok(Name::Insight) => skipped.insight += 1,
                Err(why) => {
                    skipped.malformed_keys += 1;
                    if skipped.malformed_examples.len() < MAX_EXAMPLES {
                        skipped
                            .malformed_examples
                            .push(format!("s3://{}/{key}: {why}", self.bucket));
                    }
                }
            }
        }
        out.sort_by(|a, b| (a.time, &a.key).cmp(&(b.time, &b.key)));
        out
    }
}

/// Keys held across all streams at most (about 150 bytes each): the page size shrinks as
/// streams grow, down to [`MIN_PAGE`].
pub const LOOKAHEAD_KEYS: usize = 200_000;
pub const MIN_PAGE: usize = 20;
/// S3's largest page.
pub const MAX_PAGE: usize = 1000;

/// Keys per listing page for `streams` streams.
pub fn page_size(streams: usize) -> usize {
    (LOOKAHEAD_KEYS / streams.max(1)).clamp(MIN_PAGE, MAX_PAGE)
}

/// What [`Merge::pop`] needs or gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Ready(Listed),
    /// These streams have nothing buffered and may have more: list them, then
    /// [`Merge::supply`] each (with no keys and `more` false if it ended).
    Need(Vec<usize>),
    Done,
}

type Head = Reverse<(i64, Arc<str>, String, usize)>;

/// Interleaves streams by (name time, bucket, key).
#[derive(Debug)]
pub struct Merge {
    buffers: Vec<VecDeque<Listed>>,
    live: Vec<bool>,
    heads: BinaryHeap<Head>,
    newest: Option<i64>,
    /// Files given out after one with a later name time (a stream that listed out of
    /// order): read late, still through the same state.
    pub late: u64,
}

impl Merge {
    pub fn new(streams: usize) -> Merge {
        Merge {
            buffers: vec![VecDeque::new(); streams],
            live: vec![true; streams],
            heads: BinaryHeap::new(),
            newest: None,
            late: 0,
        }
    }

    fn head(l: &Listed, stream: usize) -> Head {
        Reverse((l.time, l.bucket.clone(), l.key.clone(), stream))
    }

    /// A stream's next keys (sorted) and whether it may have more.
    pub fn supply(&mut self, stream: usize, keys: Vec<Listed>, more: bool) {
        let Some(buf) = self.buffers.get_mut(stream) else {
            return;
        };
        let was_empty = buf.is_empty();
        buf.extend(keys);
        if was_empty {
            if let Some(front) = buf.front() {
                self.heads.push(Self::head(front, stream));
            }
        }
        self.live[stream] = more;
    }

    pub fn pop(&mut self) -> Next {
        let need: Vec<usize> = (0..self.buffers.len())
            .filter(|&s| self.live[s] && self.buffers[s].is_empty())
            .collect();
        if !need.is_empty() {
            return Next::Need(need);
        }
        let Some(Reverse((_, _, _, s))) = self.heads.pop() else {
            return Next::Done;
        };
        let Some(l) = self.buffers[s].pop_front() else {
            return Next::Done;
        };
        if let Some(front) = self.buffers[s].front() {
            self.heads.push(Self::head(front, s));
        }
        match self.newest {
            Some(n) if l.time < n => self.late += 1,
            _ => self.newest = Some(l.time),
        }
        Next::Ready(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::keys::Range;
    use trailwatch::event::parse_time;

    fn t(s: &str) -> i64 {
        parse_time(s).unwrap()
    }

    const BASE: &str = "o/AWSLogs/o-a/111122223333/CloudTrail/us-east-1/";

    fn window(since: &str, until: &str) -> Window {
        Range::new(Some(t(since)), t(until)).unwrap().widened(3600)
    }

    fn folders(base: &str, names: &[&str]) -> Vec<String> {
        names.iter().map(|n| format!("{base}{n}/")).collect()
    }

    #[test]
    fn only_the_date_folders_in_the_window_are_listed_oldest_first() {
        let w = window("2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z");
        let mut c = Cursor::new("b".into(), BASE.into(), w);
        let mut sk = Skipped::default();
        assert_eq!(c.request(), Some(Request::Folders(BASE.into())));
        c.folders(&folders(BASE, &["2025", "2023", "2024", "notes"]), &mut sk);
        let y = format!("{BASE}2024/");
        assert_eq!(c.request(), Some(Request::Folders(y.clone())));
        c.folders(&folders(&y, &["06", "05", "04", "13"]), &mut sk);
        let m = format!("{y}05/");
        assert_eq!(c.request(), Some(Request::Folders(m.clone())));
        c.folders(&folders(&m, &["03", "01", "02", "04", "31", "32"]), &mut sk);
        // The margin (1 h) reaches into May 1 and May 3, not further.
        let mut listed = Vec::new();
        while let Some(Request::Objects { prefix, token }) = c.request() {
            assert_eq!(token, None);
            listed.push(prefix);
            c.objects(Vec::new(), None, &mut sk);
        }
        assert_eq!(
            listed,
            ["01", "02", "03"].map(|d| format!("{m}{d}/")),
            "2023, 2025, April, June, May 4 and May 31 are never listed"
        );
        assert_eq!(c.request(), None);
        // "notes", month 13 and day 32 are not date folders.
        assert_eq!(sk.other_folders, 3);
    }

    #[test]
    fn pages_continue_and_keys_are_sorted_filtered_and_counted() {
        let w = window("2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z");
        let mut c = Cursor::new("b".into(), BASE.into(), w);
        let mut sk = Skipped::default();
        c.todo = vec![Node::Day(format!("{BASE}2024/05/01/"), None)];
        let key = |hhmm: &str| {
            format!("{BASE}2024/05/01/111122223333_CloudTrail_us-east-1_20240501T{hhmm}Z_x.json.gz")
        };
        let got = c.objects(
            vec![
                (key("1030"), 10),
                (key("1005"), 20),
                (key("0859"), 1),
                (format!("{BASE}2024/05/01/readme.txt"), 1),
                (format!("{BASE}2024/05/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T101500Z.json.gz"), 1),
            ],
            Some("next".into()),
            &mut sk,
        );
        let keys: Vec<&str> = got.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, [key("1005"), key("1030")]);
        assert_eq!(got[0].size, 20);
        assert_eq!(
            c.request(),
            Some(Request::Objects {
                prefix: format!("{BASE}2024/05/01/"),
                token: Some("next".into())
            })
        );
        assert!(c.objects(vec![(key("1300"), 1)], None, &mut sk).is_empty());
        assert_eq!(c.request(), None);
        assert_eq!((sk.outside_window, sk.malformed_keys, sk.digest), (2, 1, 1));
        assert!(
            sk.malformed_examples[0].contains("readme.txt"),
            "{:?}",
            sk.malformed_examples
        );
    }

    fn listed(time: i64, key: &str) -> Listed {
        Listed {
            bucket: "b".into(),
            key: key.into(),
            size: 1,
            time,
        }
    }

    #[test]
    fn merge_interleaves_streams_by_name_time() {
        let mut m = Merge::new(3);
        assert_eq!(m.pop(), Next::Need(vec![0, 1, 2]));
        m.supply(0, vec![listed(10, "a/1"), listed(30, "a/3")], true);
        m.supply(1, vec![listed(5, "b/0"), listed(10, "b/1")], false);
        m.supply(2, vec![], false);
        let mut order = Vec::new();
        loop {
            match m.pop() {
                Next::Ready(l) => order.push(l.key),
                Next::Need(s) => {
                    assert_eq!(s, vec![0], "only the live stream that ran dry is listed");
                    m.supply(0, vec![listed(20, "a/2")], false);
                }
                Next::Done => break,
            }
        }
        // Ties on time go by key, so every run reads the same order.
        assert_eq!(order, ["b/0", "a/1", "b/1", "a/3", "a/2"]);
        // a/2 came after a/3: that stream's listing was out of order; it is counted.
        assert_eq!(m.late, 1);
    }

    #[test]
    fn merge_waits_for_a_stream_that_supplied_nothing_yet() {
        let mut m = Merge::new(2);
        m.supply(0, vec![listed(10, "a")], false);
        m.supply(1, vec![], true);
        assert_eq!(m.pop(), Next::Need(vec![1]));
        m.supply(1, vec![listed(1, "b")], false);
        assert_eq!(m.pop(), Next::Ready(listed(1, "b")));
        assert_eq!(m.pop(), Next::Ready(listed(10, "a")));
        assert_eq!(m.pop(), Next::Done);
    }

    #[test]
    fn page_size_bounds_the_lookahead() {
        assert_eq!(page_size(1), MAX_PAGE);
        assert_eq!(page_size(1000), 200);
        assert_eq!(page_size(100_000), MIN_PAGE);
        assert_eq!(page_size(17_000), MIN_PAGE);
    }
}
