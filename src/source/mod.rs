//! Sources: turn bytes into CloudTrail records, whatever envelope they came in.
//!
//! The format is read from the content (gzip magic, then the JSON shape), never from a file
//! name. Records are handed out one at a time, so memory does not grow with the input;
//! a malformed record is reported with its position and the rest is still processed.

mod envelope;
pub mod files;
pub mod gunzip;
pub mod prune;
pub mod skip;
pub mod split;

use crate::event::Event;
use split::{JsonReader, Raw, ScanState, SplitError};
use std::fmt;
use std::io::{self, BufRead};

/// How to decode: size caps (configurable from the CLI and the Lambda) and which fields
/// of a record to keep.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most bytes a gzip stream may inflate to.
    pub max_decompressed: u64,
    /// Largest single record, in bytes.
    pub max_record: usize,
    /// Largest non-streamed document (CloudWatch Logs batch, EventBridge event).
    pub max_envelope: usize,
    /// Fields to keep from each record (`RuleSet::keep`); `None` keeps everything.
    pub keep: Option<std::sync::Arc<prune::Keep>>,
    /// Records no rule can match become [`Item::Unwanted`] without being parsed
    /// (`RuleSet::gate`); `None` parses every record. Set it with `keep`.
    pub gate: Option<std::sync::Arc<skip::Gate>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed: 2 << 30,
            max_record: 256 << 10,
            max_envelope: 16 << 20,
            keep: None,
            gate: None,
        }
    }
}

/// What the input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"Records":[…]}` as CloudTrail writes to S3.
    Records,
    /// A bare JSON array of records.
    Array,
    /// One JSON value per line.
    Ndjson,
    /// A CloudWatch Logs subscription payload (`awslogs` or its decoded `DATA_MESSAGE`).
    CloudWatchLogs,
    /// CloudWatch Logs `CONTROL_MESSAGE`: nothing to evaluate.
    CloudWatchControl,
    /// An EventBridge event carrying a CloudTrail record in `detail`.
    EventBridge,
    /// A single record object.
    Record,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Records => "CloudTrail Records file",
            Format::Array => "JSON array of records",
            Format::Ndjson => "NDJSON",
            Format::CloudWatchLogs => "CloudWatch Logs subscription payload",
            Format::CloudWatchControl => "CloudWatch Logs control message",
            Format::EventBridge => "EventBridge event",
            Format::Record => "single record",
        })
    }
}

/// Where a malformed record sits in its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Byte offset (of the decompressed stream) where the record starts.
    Byte(u64),
    /// 1-based line of an NDJSON file.
    Line(u64),
    /// 0-based index in a CloudWatch Logs batch's `logEvents`.
    LogEvent(usize),
    /// 0-based index in a `Records` array held in memory.
    Record(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Byte(b) => write!(f, "byte {b}"),
            Position::Line(l) => write!(f, "line {l}"),
            Position::LogEvent(i) => write!(f, "logEvents[{i}]"),
            Position::Record(i) => write!(f, "Records[{i}]"),
        }
    }
}

/// One thing found in the input.
#[derive(Debug)]
pub enum Item {
    Record(Event),
    /// A record no rule can match (see [`Limits::gate`]): only what counting and the
    /// duplicate check need.
    Unwanted(skip::Brief),
    /// A record that could not be used; the rest of the input is still read.
    Malformed {
        at: Position,
        reason: String,
    },
}

/// Why an input could not be read (records before the failure were already handed out).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty input")]
    Empty,
    #[error("not CloudTrail input: {0}")]
    NotCloudTrail(String),
    #[error("broken input at byte {offset}: {reason}")]
    Broken { offset: u64, reason: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Decodes `input` (plain or gzip), calling `on` for every record or malformed record.
pub fn decode(
    input: impl BufRead,
    limits: &Limits,
    on: &mut dyn FnMut(Item),
) -> Result<Format, DecodeError> {
    let input = gunzip::maybe_gunzip(input, limits.max_decompressed)?;
    let mut r = JsonReader::new(input);
    // Content problems (bad bytes, corrupt gzip, a cap) are `Broken`; failures to read
    // (a dropped connection) stay `Io`, which a retry may cure.
    let broken = |r: &JsonReader<_>, e: SplitError| match e {
        SplitError::Io(io)
            if !matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
            ) =>
        {
            DecodeError::Io(io)
        }
        other => DecodeError::Broken {
            offset: r.offset(),
            reason: other.to_string(),
        },
    };
    r.skip_bom().map_err(|e| broken(&r, e))?;
    match r.peek().map_err(|e| broken(&r, e))? {
        None => Err(DecodeError::Empty),
        // Documents one after another (`zcat *.json.gz | trailwatch scan -`) are read
        // in turn, as long as each is a Records file or an array of records.
        Some(b'[') => {
            loop {
                r.expect(b'[').map_err(|e| broken(&r, e))?;
                stream_array(&mut r, limits, on).map_err(|e| broken(&r, e))?;
                if r.peek().map_err(|e| broken(&r, e))? != Some(b'[') {
                    break;
                }
            }
            trailing(&mut r).map_err(|e| broken(&r, e))?;
            Ok(Format::Array)
        }
        Some(b'{') => loop {
            let format = decode_object_stream(&mut r, limits, on).map_err(|e| match e {
                Failure::Split(e) => broken(&r, e),
                Failure::Decode(d) => d,
            })?;
            if format != Format::Records {
                break Ok(format);
            }
            match r.peek().map_err(|e| broken(&r, e))? {
                Some(b'{') => continue,
                _ => {
                    trailing(&mut r).map_err(|e| broken(&r, e))?;
                    break Ok(format);
                }
            }
        },
        Some(b) => Err(DecodeError::NotCloudTrail(format!(
            "starts with {}, not a JSON object or array",
            printable(b)
        ))),
    }
}

fn printable(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

enum Failure {
    Split(SplitError),
    Decode(DecodeError),
}

impl From<SplitError> for Failure {
    fn from(e: SplitError) -> Self {
        Failure::Split(e)
    }
}

/// Streams the elements of an array whose `[` was consumed, through the closing `]`.
///
/// Records lying whole in the reader's buffer are parsed in place, in one pass
/// ([`in_place`]); a record that straddles a refill, is too large or is broken goes
/// through the splitter, which copies it out (within the cap) and reports it.
fn stream_array<R: BufRead>(
    r: &mut JsonReader<R>,
    limits: &Limits,
    on: &mut dyn FnMut(Item),
) -> Result<(), SplitError> {
    if r.eat(b']')? {
        return Ok(());
    }
    let mut buf = Vec::with_capacity(4096);
    // After the in-place parse stops short of its window (a broken or huge record), the
    // rest of that window goes to the splitter: no window is validated or parsed twice.
    let mut resume_at = 0u64;
    loop {
        if let (Some(keep), true) = (&limits.keep, r.offset() >= resume_at) {
            match in_place(r, keep, limits, on)? {
                InPlace::Ended => return Ok(()),
                InPlace::Stopped { window_end } => resume_at = window_end,
            }
        }
        buf.clear();
        r.peek()?;
        let start = r.offset();
        match r.read_value(&mut buf, limits.max_record)? {
            Raw::Complete => on(envelope::record_from_bytes(
                &buf,
                Position::Byte(start),
                limits,
            )),
            Raw::TooLarge(n) => on(envelope::too_large(n, Position::Byte(start), limits)),
        }
        if buf.capacity() > 4 * limits.max_record.max(4096) {
            buf = Vec::with_capacity(4096);
        }
        if !r.eat(b',')? {
            return r.expect(b']');
        }
    }
}

enum InPlace {
    /// The array's `]` was reached.
    Ended,
    /// Stopped at a record that is not whole in the window ending at this offset (or is
    /// too large, or broken): the splitter takes it from there.
    Stopped { window_end: u64 },
}

/// Parses the records that lie whole in the buffered bytes, each with its separator,
/// straight from the buffer; stops at the first that does not.
fn in_place<R: BufRead>(
    r: &mut JsonReader<R>,
    keep: &prune::Keep,
    limits: &Limits,
    on: &mut dyn FnMut(Item),
) -> Result<InPlace, SplitError> {
    r.peek()?;
    let start = r.offset();
    let bytes = r.buffered()?;
    // The buffer's valid UTF-8 prefix (a refill may cut a character; a bad byte is left
    // to the splitter, which names it).
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => match std::str::from_utf8(&bytes[..e.valid_up_to()]) {
            Ok(t) => t,
            Err(_) => return Ok(InPlace::Stopped { window_end: start }),
        },
    };
    let window_end = start + text.len() as u64;
    let skip_ws = |i: usize| {
        i + text.as_bytes()[i..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count()
    };
    let (mut pos, mut ended) = (0, false);
    while pos < text.len() {
        let scanned = (limits.gate.as_deref()).map(|g| skip::scan(&text[pos..], g));
        let (item, used) = match scanned {
            Some(skip::Scan::Skip { brief, used }) => (Item::Unwanted(brief), used),
            _ => match keep.parse_prefix(&text[pos..]) {
                Ok((value, used)) => {
                    let at = Position::Byte(start + pos as u64);
                    (envelope::record_from_value(value, at), used)
                }
                Err(_) => break,
            },
        };
        let sep = skip_ws(pos + used);
        if used > limits.max_record || !matches!(text.as_bytes().get(sep), Some(b',' | b']')) {
            break;
        }
        on(item);
        ended = text.as_bytes()[sep] == b']';
        pos = sep + 1;
        if ended {
            break;
        }
        pos = skip_ws(pos);
    }
    r.advance(pos);
    Ok(if ended {
        InPlace::Ended
    } else {
        InPlace::Stopped { window_end }
    })
}

fn trailing<R: BufRead>(r: &mut JsonReader<R>) -> Result<(), SplitError> {
    match r.peek()? {
        None => Ok(()),
        Some(b) => Err(SplitError::Unexpected(b)),
    }
}

/// Input starting with `{`: a Records file (streamed), or a sequence of JSON objects
/// (a single record, an envelope, or NDJSON).
fn decode_object_stream<R: BufRead>(
    r: &mut JsonReader<R>,
    limits: &Limits,
    on: &mut dyn FnMut(Item),
) -> Result<Format, Failure> {
    r.expect(b'{')?;
    let mut doc = b"{".to_vec();
    if r.peek()? == Some(b'"') {
        let key = r.read_key(64)?;
        if key == b"\"Records\"" {
            r.expect(b':')?;
            if r.peek()? == Some(b'[') {
                r.expect(b'[')?;
                stream_array(r, limits, on)?;
                // Any keys after Records are read and ignored.
                while r.eat(b',')? {
                    r.read_key(limits.max_envelope)?;
                    r.expect(b':')?;
                    r.read_value(&mut Vec::new(), 0)?;
                }
                r.expect(b'}')?;
                return Ok(Format::Records);
            }
            return Err(Failure::Decode(DecodeError::NotCloudTrail(
                "\"Records\" is not an array".into(),
            )));
        }
        doc.extend_from_slice(&key);
    }
    // Not a Records file: read the first whole object.
    match r.read_rest(&mut doc, limits.max_envelope, ScanState::inside_container()) {
        Ok(Raw::Complete) => {}
        Ok(Raw::TooLarge(n)) => {
            return Err(Failure::Decode(DecodeError::NotCloudTrail(format!(
                "a {n}-byte JSON document that is not a streamed Records file exceeds the limit of {} bytes",
                limits.max_envelope
            ))))
        }
        // The input ended inside the "object": NDJSON whose first line is cut, if it has
        // lines (all of it is in `doc`, the cap permitting).
        Err(SplitError::Eof) if doc.contains(&b'\n') && doc.len() < limits.max_envelope => {
            return ndjson(&doc, 0, None, r, limits, on);
        }
        Err(e) => return Err(e.into()),
    }
    // The rest of the object's last line, then the next line that is not blank.
    let mut rest = Vec::new();
    r.read_line(&mut rest, limits.max_record)?;
    let (mut buf, mut blanks) = (Vec::new(), 0u64);
    let next = loop {
        buf.clear();
        match r.read_line(&mut buf, limits.max_record)? {
            None => break None,
            Some(Raw::Complete) if buf.iter().all(u8::is_ascii_whitespace) => blanks += 1,
            Some(raw) => break Some(raw),
        }
    };
    let rest_blank = rest.iter().all(u8::is_ascii_whitespace);
    if next.is_none() && rest_blank {
        // One document (pretty-printed or not), alone in its input.
        return envelope::classify_document(&doc, limits, on).map_err(Failure::Decode);
    }
    // A whole first value followed by more is not NDJSON (several values on one line, or
    // pretty-printed values one after another): refused as before. Only a multi-line
    // "object" that is not valid JSON is NDJSON whose first line is cut.
    let first_is_json = serde_json::from_slice::<serde::de::IgnoredAny>(&doc).is_ok();
    if !rest_blank && !doc.contains(&b'\n') || (first_is_json && doc.contains(&b'\n')) {
        return Err(Failure::Decode(DecodeError::Broken {
            offset: r.offset(),
            reason: "unexpected data after the first JSON value".into(),
        }));
    }
    // More lines make it NDJSON (a multi-line "object" followed by more is NDJSON whose
    // first line is cut).
    doc.extend_from_slice(&rest);
    ndjson(&doc, blanks, next.map(|raw| (&buf[..], raw)), r, limits, on)
}

/// NDJSON: the lines in `head`, `blanks` blank lines and `next` (all already read), then
/// the rest of the input line by line. Every line is classified on its own; a bad line
/// costs one line.
fn ndjson<R: BufRead>(
    head: &[u8],
    blanks: u64,
    next: Option<(&[u8], Raw)>,
    r: &mut JsonReader<R>,
    limits: &Limits,
    on: &mut dyn FnMut(Item),
) -> Result<Format, Failure> {
    let mut number = 0u64;
    for l in head.split(|b| *b == b'\n') {
        number += 1;
        one_line(l, Raw::Complete, number, limits, on)?;
    }
    number += blanks;
    if let Some((bytes, raw)) = next {
        number += 1;
        one_line(bytes, raw, number, limits, on)?;
    }
    let mut buf = Vec::new();
    while let Some(raw) = {
        buf.clear();
        r.read_line(&mut buf, limits.max_record)?
    } {
        number += 1;
        one_line(&buf, raw, number, limits, on)?;
    }
    Ok(Format::Ndjson)
}

fn one_line(
    bytes: &[u8],
    raw: Raw,
    number: u64,
    limits: &Limits,
    on: &mut dyn FnMut(Item),
) -> Result<(), Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let n = match raw {
        Raw::Complete if bytes.len() <= limits.max_record => {
            return envelope::classify_line(bytes, number, limits, on).map_err(Failure::Decode)
        }
        Raw::Complete => bytes.len() as u64,
        Raw::TooLarge(n) => n,
    };
    on(line_too_large(n, Position::Line(number), limits));
    Ok(())
}

fn line_too_large(n: u64, at: Position, limits: &Limits) -> Item {
    Item::Malformed {
        at,
        reason: format!(
            "line of {n} bytes exceeds the limit of {} bytes",
            limits.max_record
        ),
    }
}

#[cfg(test)]
mod tests;
