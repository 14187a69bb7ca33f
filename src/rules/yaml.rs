//! A YAML tree that remembers where every node came from.
//!
//! serde-based YAML loaders stop at the first problem and forget positions once a value is
//! built. Operators edit rules by hand, so `validate` must point at *every* mistake with its
//! `line:col`; this module builds a small positioned tree from saphyr's event stream and the
//! checker in `spec.rs` walks it. Aliases are refused (no alias bombs), and documents, depth
//! and node counts are capped so a hostile file costs bounded time and memory.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::fmt;

/// Largest rule or list file accepted, in bytes.
pub const MAX_YAML_BYTES: usize = 1 << 20;
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 200_000;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `plain` is true for unquoted scalars, which YAML may read as null, bool or number.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

/// A YAML scalar read with the core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let Kind::Scalar { text, plain } = &self.kind else {
            return None;
        };
        if !plain {
            return Some(Scalar::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            t => {
                if let Ok(i) = t.parse::<i64>() {
                    Scalar::Int(i)
                } else if looks_numeric(t) {
                    t.parse::<f64>()
                        .map(Scalar::Float)
                        .unwrap_or(Scalar::Str(t))
                } else {
                    Scalar::Str(t)
                }
            }
        })
    }

    /// The scalar's text whatever its YAML type (`123456789012` stays as written).
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a list, or the node itself (for keys taking "one or a list").
    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(s) => s,
            _ => std::slice::from_ref(self),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) => "null",
                Some(Scalar::Bool(_)) => "a boolean",
                Some(Scalar::Int(_)) | Some(Scalar::Float(_)) => "a number",
                _ => "a string",
            },
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON (for test events written in YAML). Keys become strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) | None => Value::Null,
                Some(Scalar::Bool(b)) => Value::Bool(b),
                Some(Scalar::Int(i)) => Value::from(i),
                Some(Scalar::Float(f)) => serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                Some(Scalar::Str(s)) => Value::String(s.to_string()),
            },
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.text().unwrap_or_default().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn looks_numeric(t: &str) -> bool {
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    t.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
}

/// A problem found while reading YAML, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Node, Node)>, Option<Node>),
}

/// Most documents a file may hold (Sigma files put rules and correlations side by side).
const MAX_DOCS: usize = 64;

/// Parses one YAML document into a positioned tree. An empty document gives `None`.
pub fn parse(src: &str) -> Result<Option<Node>, YamlError> {
    Ok(parse_docs(src, 1)?.pop())
}

/// Parses up to `max_docs` `---`-separated documents (empty ones are left out).
pub fn parse_docs(src: &str, max_docs: usize) -> Result<Vec<Node>, YamlError> {
    if src.len() > MAX_YAML_BYTES {
        return Err(YamlError {
            pos: Pos { line: 1, col: 1 },
            // Not the size: `read_dir` passes a stand-in for a file too large to read.
            message: format!("file is larger than the limit of {MAX_YAML_BYTES} bytes (1 MiB)"),
        });
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut roots: Vec<Node> = Vec::new();
    let mut nodes = 0usize;
    let mut docs = 0usize;
    for item in Parser::new_from_str(src) {
        let (event, span) = item.map_err(|e| {
            let pos = Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            };
            // The scanner's own nesting limit can trip before ours when it looks ahead.
            if e.info().contains("recursion limit") {
                return YamlError {
                    pos,
                    message: format!("nesting deeper than {MAX_DEPTH} levels"),
                };
            }
            match hint(src, pos, e.info()) {
                Some((pos, message)) => YamlError { pos, message },
                None => YamlError {
                    pos,
                    message: format!("YAML syntax error: {}", e.info()),
                },
            }
        })?;
        let pos = pos_of(&span);
        let finished =
            match event {
                Event::DocumentStart(_) => {
                    docs += 1;
                    if docs > max_docs.min(MAX_DOCS) {
                        return Err(YamlError {
                            pos,
                            message: if max_docs == 1 {
                                "only one YAML document per file (remove the second `---`)".into()
                            } else {
                                format!("more than {} YAML documents", max_docs.min(MAX_DOCS))
                            },
                        });
                    }
                    None
                }
                Event::Alias(_) => return Err(YamlError {
                    pos,
                    message:
                        "YAML aliases (*name) are not supported in rule files; write the value out"
                            .into(),
                }),
                Event::Scalar(text, style, _, _) => Some(Node {
                    pos,
                    kind: Kind::Scalar {
                        text: text.into_owned(),
                        plain: matches!(style, ScalarStyle::Plain),
                    },
                }),
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(YamlError {
                            pos,
                            message: format!("nesting deeper than {MAX_DEPTH} levels"),
                        });
                    }
                    stack.push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq(pos, Vec::new())
                    } else {
                        Frame::Map(pos, Vec::new(), None)
                    });
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                    Some(Frame::Seq(p, items)) => Some(Node {
                        pos: p,
                        kind: Kind::Seq(items),
                    }),
                    Some(Frame::Map(p, entries, _)) => Some(Node {
                        pos: p,
                        kind: Kind::Map(entries),
                    }),
                    None => None,
                },
                _ => None,
            };
        let Some(node) = finished else { continue };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(YamlError {
                pos,
                message: format!("more than {MAX_NODES} YAML nodes"),
            });
        }
        match stack.last_mut() {
            None => roots.push(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, key)) => match key.take() {
                None => {
                    if !matches!(node.kind, Kind::Scalar { .. }) {
                        return Err(YamlError {
                            pos: node.pos,
                            message: "mapping keys must be plain text".into(),
                        });
                    }
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.text() == node.text())
                    {
                        return Err(YamlError {
                            pos: node.pos,
                            message: format!(
                                "duplicate key '{}' (first at {})",
                                node.text().unwrap_or_default(),
                                first.pos
                            ),
                        });
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(roots)
}

/// What a person should fix for the YAML errors that name the wrong thing: a value with
/// `: ` in it, and indentation (the parser notices a line too deep or too shallow only on
/// the line after, and calls it a mapping value or a missing key).
fn hint(src: &str, pos: Pos, info: &str) -> Option<(Pos, String)> {
    let lines: Vec<&str> = src.lines().collect();
    let line = *lines.get(pos.line.checked_sub(1)?)?;
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let content = |l: &&str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let previous = lines[..pos.line - 1]
        .iter()
        .rposition(content)
        .map(|i| (i + 1, lines[i]));
    let at = |line: usize, col: usize| Pos { line, col };
    let yaml = format!("(YAML: {info})");
    if info.contains("mapping values are not allowed") {
        // `title: Trail: stopped`: the second `: ` is on the same line as the key's.
        let body = line.trim_start();
        if let Some(first) = body.find(": ") {
            let key = body[..first].trim_start_matches("- ");
            if pos.col > indent(line) + first + 2 {
                return Some((
                    at(pos.line, indent(line) + first + 3),
                    format!("the value of '{key}' contains ': ': put it in quotes, e.g. {key}: \"{}\" {yaml}", body[first + 2..].trim()),
                ));
            }
        }
        // A line indented deeper than the key above it, which already has a value.
        if let Some((n, prev)) = previous {
            let has_value = prev
                .split_once(':')
                .is_some_and(|(_, v)| !v.trim().is_empty() && !v.trim_start().starts_with('#'));
            if indent(line) > indent(prev) && has_value {
                return Some((
                    at(pos.line, indent(line) + 1),
                    format!(
                        "line {} is indented deeper ({} spaces) than line {n} ({} spaces), which already has a value, so YAML reads it as more of that value: indent it like line {n} {yaml}",
                        pos.line,
                        indent(line),
                        indent(prev)
                    ),
                ));
            }
        }
    }
    if info.contains("did not find expected key") || info.contains("did not find expected '-'") {
        // The line whose indentation matches no mapping above it.
        let (n, bad) = lines[..pos.line.min(lines.len())]
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| content(l))
            .map(|(i, l)| (i + 1, *l))?;
        let spaces = |n: usize| format!("{n} space{}", if n == 1 { "" } else { "s" });
        // A list item whose `-` does not line up with the item above it.
        if bad.trim_start().starts_with("- ") {
            let item = lines[..n - 1]
                .iter()
                .enumerate()
                .rev()
                .find(|(_, l)| l.trim_start().starts_with("- "))
                .map(|(i, l)| (i + 1, indent(l)));
            if let Some((m, dash)) = item.filter(|(_, d)| *d != indent(bad)) {
                return Some((
                    at(n, indent(bad) + 1),
                    format!(
                        "the '-' of line {n} is indented {}, the '-' of line {m} {}: items of one list must line up {yaml}",
                        spaces(indent(bad)),
                        spaces(dash)
                    ),
                ));
            }
        }
        let mut levels: Vec<usize> = lines[..n - 1]
            .iter()
            .filter(|l| content(l))
            .map(|l| indent(l))
            .collect();
        levels.sort_unstable();
        levels.dedup();
        if !levels.contains(&indent(bad)) {
            let shown: Vec<String> = levels.iter().map(|l| l.to_string()).collect();
            return Some((
                at(n, indent(bad) + 1),
                format!(
                    "line {n} is indented {}, which lines up with nothing above it (lines above start at {} spaces): keys of one mapping, and items of one list, must line up {yaml}",
                    spaces(indent(bad)),
                    shown.join(", ")
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indentation_and_colon_mistakes_say_what_to_fix_and_where() {
        let head = "id: x\ntitle: t\nseverity: low\nmatch:\n  eventName: A\n";
        let cases = [
            (format!("{head}   eventSource: b\n"), (6, 4), "line 6 is indented deeper (3 spaces) than line 5 (2 spaces)"),
            (format!("{head} eventSource: b\n"), (6, 2), "line 6 is indented 1 space, which lines up with nothing above it"),
            ("id: x\ntitle: Trail: stopped\n".to_string(), (2, 8), "the value of 'title' contains ': ': put it in quotes, e.g. title: \"Trail: stopped\""),
            (format!("{head}  any:\n  - eventSource: b\n    - errorCode: c\n"), (8, 5), "the '-' of line 8 is indented 4 spaces, the '-' of line 7 2 spaces"),
        ];
        for (src, (line, col), want) in cases {
            let e = parse(&src).unwrap_err();
            assert_eq!((e.pos.line, e.pos.col), (line, col), "{src}");
            assert!(e.message.starts_with(want), "{}", e.message);
            assert!(e.message.contains("(YAML: "), "{}", e.message);
        }
    }

    #[test]
    fn keeps_positions_and_types() {
        let n = parse("a: 1\nb:\n  - x\n  - 'y'\nc: ~\n").unwrap().unwrap();
        let m = n.as_map().unwrap();
        assert_eq!(m[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(m[0].1.scalar(), Some(Scalar::Int(1)));
        let seq = m[1].1.as_seq().unwrap();
        assert_eq!(seq[1].pos, Pos { line: 4, col: 5 });
        assert_eq!(seq[1].scalar(), Some(Scalar::Str("y")));
        assert_eq!(m[2].1.scalar(), Some(Scalar::Null));
    }

    #[test]
    fn refuses_aliases_and_duplicate_keys() {
        let e = parse("a: &x [1]\nb: *x\n").unwrap_err();
        assert!(e.message.contains("aliases"), "{e:?}");
        assert_eq!(e.pos.line, 2);
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate key 'a'"), "{e:?}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.message.starts_with("YAML syntax error"), "{e:?}");
        assert!(e.pos.line >= 1);
    }

    #[test]
    fn account_ids_keep_their_text() {
        let n = parse("- 012345678901\n").unwrap().unwrap();
        assert_eq!(n.as_seq().unwrap()[0].text(), Some("012345678901"));
    }

    #[test]
    fn every_kind_has_its_name() {
        let n = parse("[~, true, 1, 1.5, x, 'true', '1', [], {}]\n")
            .unwrap()
            .unwrap();
        let names: Vec<&str> = n.as_seq().unwrap().iter().map(Node::kind_name).collect();
        assert_eq!(
            names,
            [
                "null",
                "a boolean",
                "a number",
                "a number",
                "a string",
                "a string",
                "a string",
                "a list",
                "a mapping"
            ]
        );
    }

    /// Plain scalars that look like numbers are numbers; words Rust would also parse as
    /// floats (`nan`, `inf`) stay text.
    #[test]
    fn only_digits_make_a_number() {
        for t in ["1.5", ".5", "-1.5e3", "+.5", "1e10", "2E-3"] {
            assert!(looks_numeric(t), "{t}");
        }
        for t in ["1a", "e5", "x5", "-", "", "nan", "inf", "-inf", "1.5.x"] {
            assert!(!looks_numeric(t), "{t}");
        }
        let n = parse("[.5, nan, inf, 1.2.3]\n").unwrap().unwrap();
        let s: Vec<Option<Scalar>> = n.as_seq().unwrap().iter().map(Node::scalar).collect();
        assert_eq!(
            s,
            [
                Some(Scalar::Float(0.5)),
                Some(Scalar::Str("nan")),
                Some(Scalar::Str("inf")),
                Some(Scalar::Str("1.2.3"))
            ]
        );
    }

    #[test]
    fn a_file_holds_at_most_its_documents() {
        let three = "a: 1\n---\nb: 2\n---\nc: 3\n";
        assert_eq!(parse_docs(three, 3).unwrap().len(), 3);
        let e = parse_docs(three, 2).unwrap_err();
        assert_eq!(
            (e.pos.line, e.message.as_str()),
            (4, "more than 2 YAML documents")
        );
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(
            (e.pos.line, e.message.as_str()),
            (
                2,
                "only one YAML document per file (remove the second `---`)"
            )
        );
        // Whatever a caller asks, 64 at most.
        let docs = |n: usize| "a: 1\n---\n".repeat(n - 1) + "a: 1\n";
        assert_eq!(parse_docs(&docs(64), 100).unwrap().len(), 64);
        let e = parse_docs(&docs(65), 100).unwrap_err();
        assert_eq!(e.message, "more than 64 YAML documents");
    }

    #[test]
    fn size_and_node_limits_include_their_bound() {
        let at = |n: usize| format!("a: {}\n", "x".repeat(n - 4));
        assert!(parse(&at(MAX_YAML_BYTES)).is_ok());
        let e = parse(&at(MAX_YAML_BYTES + 1)).unwrap_err();
        assert!(
            e.message.starts_with("file is larger than the limit"),
            "{e:?}"
        );
        // A list of n - 1 scalars is n nodes.
        let list = |n: usize| format!("[{}]\n", vec!["0"; n - 1].join(","));
        assert!(parse(&list(MAX_NODES)).is_ok());
        let e = parse(&list(MAX_NODES + 1)).unwrap_err();
        assert_eq!(e.message, format!("more than {MAX_NODES} YAML nodes"));
    }

    #[test]
    fn a_syntax_error_points_at_its_column() {
        let e = parse("a: 'x\n").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (1, 4), "{e:?}");
        assert!(e.message.starts_with("YAML syntax error: "), "{e:?}");
    }

    /// Comments and blank lines are not lines a mistake is measured against.
    #[test]
    fn indentation_hints_skip_comments_and_blank_lines() {
        let src = "id: x\nmatch:\n  eventName: A\n   # note\n\n   eventSource: b\n";
        let e = parse(src).unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (6, 4));
        assert!(
            e.message.starts_with("line 6 is indented 3 spaces, which lines up with nothing above it (lines above start at 0, 2 spaces)"),
            "{}",
            e.message
        );
        // A line no deeper than the one above is not "indented deeper", even when that
        // line has a value (`b:c` is text, continued by `d` on the next line).
        let e = parse("a:\n  b:c\n  d: e\n").unwrap_err();
        assert!(
            e.message
                .starts_with("YAML syntax error: mapping values are not allowed"),
            "{}",
            e.message
        );
        // Nested, the value's own ': ' is found past the key's.
        let e = parse("m:\n  eventName: a: b\n").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (2, 14));
        assert!(e.message.starts_with("the value of 'eventName' contains ': ': put it in quotes, e.g. eventName: \"a: b\""), "{}", e.message);
    }
}
