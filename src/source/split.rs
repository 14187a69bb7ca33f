//! Splits a JSON byte stream into raw values without building a tree.
//!
//! A CloudTrail file is one huge `{"Records":[…]}` document. Parsing it whole would make
//! memory grow with the file; instead this reader walks the structure (strings, escapes,
//! brackets) and hands out one record's bytes at a time, each within a size cap. What is
//! inside a record is checked later by `serde_json`, so a malformed record costs one
//! record, not the file. Byte offsets are kept for error messages.

use memchr::memchr2;
use std::io::{self, BufRead};

/// Why a raw value could not be read.
#[derive(Debug)]
pub enum SplitError {
    Io(io::Error),
    /// The stream ended inside a value.
    Eof,
    /// A byte that cannot start or continue the expected structure.
    Unexpected(u8),
}

impl From<io::Error> for SplitError {
    fn from(e: io::Error) -> Self {
        SplitError::Io(e)
    }
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::Io(e) => write!(f, "{e}"),
            SplitError::Eof => f.write_str("unexpected end of input"),
            SplitError::Unexpected(b) if b.is_ascii_graphic() => {
                write!(f, "unexpected character '{}'", *b as char)
            }
            SplitError::Unexpected(b) => write!(f, "unexpected byte 0x{b:02x}"),
        }
    }
}

/// Where a scan is inside a value; lets a read resume after a peeked prefix.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanState {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl ScanState {
    /// Inside an object or array that has been opened once.
    pub fn inside_container() -> Self {
        ScanState {
            depth: 1,
            ..Default::default()
        }
    }
}

/// The result of reading one value.
#[derive(Debug, PartialEq, Eq)]
pub enum Raw {
    /// The value's bytes are in the buffer.
    Complete,
    /// The value was longer than the cap; it was skipped and the buffer holds its start.
    TooLarge(u64),
}

pub struct JsonReader<R> {
    inner: R,
    offset: u64,
}

impl<R: BufRead> JsonReader<R> {
    pub fn new(inner: R) -> Self {
        JsonReader { inner, offset: 0 }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.offset += n as u64;
    }

    /// The bytes buffered ahead, reading more only if there are none.
    pub fn buffered(&mut self) -> Result<&[u8], SplitError> {
        Ok(self.inner.fill_buf()?)
    }

    /// Consumes `n` buffered bytes.
    pub fn advance(&mut self, n: usize) {
        self.consume(n)
    }

    /// Skips a UTF-8 byte-order mark at the start, as some editors write one.
    pub fn skip_bom(&mut self) -> Result<(), SplitError> {
        if self.offset == 0 && self.inner.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
            self.consume(3);
        }
        Ok(())
    }

    /// Skips whitespace and returns the next byte without consuming it.
    pub fn peek(&mut self) -> Result<Option<u8>, SplitError> {
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let b = buf[i];
                    self.consume(i);
                    return Ok(Some(b));
                }
                None => {
                    let n = buf.len();
                    self.consume(n)
                }
            }
        }
    }

    /// Consumes `b` (after whitespace) or fails.
    pub fn expect(&mut self, b: u8) -> Result<(), SplitError> {
        match self.peek()? {
            Some(x) if x == b => {
                self.consume(1);
                Ok(())
            }
            Some(x) => Err(SplitError::Unexpected(x)),
            None => Err(SplitError::Eof),
        }
    }

    /// Consumes one byte if it is `b`.
    pub fn eat(&mut self, b: u8) -> Result<bool, SplitError> {
        if self.peek()? == Some(b) {
            self.consume(1);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Reads one JSON value's bytes into `out` (appending), keeping at most `cap` bytes.
    pub fn read_value(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<Raw, SplitError> {
        let first = self.peek()?.ok_or(SplitError::Eof)?;
        match first {
            b'{' | b'[' | b'"' => self.read_rest(out, cap, ScanState::default()),
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => self.read_scalar(out, cap),
            other => Err(SplitError::Unexpected(other)),
        }
    }

    /// Continues reading a value whose first bytes (already in `out`) left `state`.
    pub fn read_rest(
        &mut self,
        out: &mut Vec<u8>,
        cap: usize,
        mut st: ScanState,
    ) -> Result<Raw, SplitError> {
        let mut total = out.len() as u64;
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Err(SplitError::Eof);
            }
            let (used, done) = scan(buf, &mut st);
            total += used as u64;
            let room = cap.saturating_sub(out.len());
            out.extend_from_slice(&buf[..used.min(room)]);
            self.consume(used);
            if done {
                return Ok(if total > cap as u64 {
                    Raw::TooLarge(total)
                } else {
                    Raw::Complete
                });
            }
        }
    }

    fn read_scalar(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<Raw, SplitError> {
        let mut total = 0u64;
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let end = buf
                .iter()
                .position(|b| matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace());
            let used = end.unwrap_or(buf.len());
            let room = cap.saturating_sub(out.len());
            out.extend_from_slice(&buf[..used.min(room)]);
            total += used as u64;
            self.consume(used);
            if end.is_some() {
                break;
            }
        }
        Ok(if total > cap as u64 {
            Raw::TooLarge(total)
        } else {
            Raw::Complete
        })
    }

    /// Reads a JSON string (the reader is at its opening quote) and returns its raw text.
    pub fn read_key(&mut self, cap: usize) -> Result<Vec<u8>, SplitError> {
        if self.peek()? != Some(b'"') {
            return Err(self.peek()?.map_or(SplitError::Eof, SplitError::Unexpected));
        }
        let mut out = Vec::new();
        self.read_rest(&mut out, cap, ScanState::default())?;
        Ok(out)
    }

    /// Reads up to the end of the line (the newline is consumed, not kept), keeping `cap` bytes.
    /// `None` at end of input.
    pub fn read_line(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<Option<Raw>, SplitError> {
        let mut total = 0u64;
        let mut any = false;
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            any = true;
            let nl = memchr::memchr(b'\n', buf);
            let used = nl.unwrap_or(buf.len());
            let room = cap.saturating_sub(out.len());
            out.extend_from_slice(&buf[..used.min(room)]);
            total += used as u64;
            self.consume(used + usize::from(nl.is_some()));
            if nl.is_some() {
                break;
            }
        }
        Ok(any.then_some(if total > cap as u64 {
            Raw::TooLarge(total)
        } else {
            Raw::Complete
        }))
    }
}

/// Scans `buf` from state `st`; returns how many bytes belong to the value and whether it ended.
fn scan(buf: &[u8], st: &mut ScanState) -> (usize, bool) {
    let mut i = 0;
    while i < buf.len() {
        if st.in_string {
            if st.escaped {
                st.escaped = false;
                i += 1;
                continue;
            }
            match memchr2(b'"', b'\\', &buf[i..]) {
                None => return (buf.len(), false),
                Some(j) => {
                    i += j;
                    if buf[i] == b'\\' {
                        st.escaped = true;
                    } else {
                        st.in_string = false;
                        if st.depth == 0 {
                            return (i + 1, true);
                        }
                    }
                    i += 1;
                }
            }
            continue;
        }
        match buf[i] {
            b'"' => st.in_string = true,
            b'{' | b'[' => st.depth += 1,
            b'}' | b']' => {
                st.depth = st.depth.saturating_sub(1);
                if st.depth == 0 {
                    return (i + 1, true);
                }
            }
            _ => {}
        }
        i += 1;
    }
    (buf.len(), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn values(src: &str, chunk: usize) -> Vec<String> {
        let mut r = JsonReader::new(BufReader::with_capacity(chunk, src.as_bytes()));
        let mut out = Vec::new();
        r.expect(b'[').unwrap();
        loop {
            let mut buf = Vec::new();
            r.read_value(&mut buf, 1000).unwrap();
            out.push(String::from_utf8(buf).unwrap());
            if !r.eat(b',').unwrap() {
                break;
            }
        }
        r.expect(b']').unwrap();
        out
    }

    #[test]
    fn splits_values_whatever_the_chunking() {
        let src = r#"[ {"a":"x]}\"y","b":[1,{"c":2}]} , "s\\", 12.5e3, true,null,[] ]"#;
        for chunk in [1, 2, 3, 7, 64] {
            assert_eq!(
                values(src, chunk),
                [
                    r#"{"a":"x]}\"y","b":[1,{"c":2}]}"#,
                    r#""s\\""#,
                    "12.5e3",
                    "true",
                    "null",
                    "[]"
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn caps_a_long_value_and_stays_in_step() {
        let src = r#"[{"a":"0123456789"},{"b":1}]"#;
        let mut r = JsonReader::new(src.as_bytes());
        r.expect(b'[').unwrap();
        let mut buf = Vec::new();
        assert_eq!(r.read_value(&mut buf, 5).unwrap(), Raw::TooLarge(18));
        assert_eq!(buf, b"{\"a\":");
        assert!(r.eat(b',').unwrap());
        buf.clear();
        assert_eq!(r.read_value(&mut buf, 5).unwrap(), Raw::TooLarge(7));
        buf.clear();
        assert!(!r.eat(b',').unwrap());
        assert_eq!(r.offset(), 27);
    }

    #[test]
    fn truncation_is_eof() {
        let mut r = JsonReader::new(&br#"{"a":[1,2"#[..]);
        assert!(matches!(
            r.read_value(&mut Vec::new(), 100),
            Err(SplitError::Eof)
        ));
    }

    /// An NDJSON line over the cap is reported with its whole length (read through small
    /// buffers), only its first `cap` bytes are kept, and the next line reads whole.
    #[test]
    fn caps_a_long_line_and_reads_the_next() {
        let src = b"0123456789abcdef\n{}\nlast";
        let mut r = JsonReader::new(std::io::BufReader::with_capacity(4, &src[..]));
        let mut buf = Vec::new();
        assert_eq!(r.read_line(&mut buf, 5).unwrap(), Some(Raw::TooLarge(16)));
        assert_eq!(buf, b"01234");
        buf.clear();
        assert_eq!(r.read_line(&mut buf, 5).unwrap(), Some(Raw::Complete));
        assert_eq!(buf, b"{}");
        buf.clear();
        assert_eq!(r.read_line(&mut buf, 4).unwrap(), Some(Raw::Complete));
        assert_eq!(buf, b"last");
        buf.clear();
        assert_eq!(r.read_line(&mut buf, 4).unwrap(), None);
    }
}
