//! Records no rule can match, recognised without building them.
//!
//! Most of a trail is calls no rule watches (reads, describes, decrypts), yet each was
//! parsed into a `Value`, kept for the duplicate check and dropped. The compiled rules
//! know what a record must hold to be worth evaluating: an `eventName` or `eventSource`
//! the index has a bucket for, or, for each rule indexed nowhere, one test it cannot match
//! without ([`Gate`]). One pass over the record's bytes checks it is JSON that
//! `serde_json` would accept and reads the few top-level strings that decide; a record no
//! rule can match becomes a [`Brief`]: its time and duplicate identity, which is all the
//! pipeline does with such a record (counts, time span, copies).
//!
//! The pass only says "skip" when it is sure: a field it reads holding an escape or a
//! non-string, a key read twice, a number `serde_json` might refuse when kept (exponents,
//! more than 15 digits), a `\u` surrogate, deep nesting — anything
//! unusual sends the record to the full parse, which stays the reference (and names the
//! problem of a malformed record).

use crate::event::parse_time;
use crate::rules::matcher::FieldTest;
use crate::state::fnv;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Nesting deeper than this is left to the full parse (`serde_json` stops at 128).
const MAX_DEPTH: usize = 64;
/// Most fields a gate reads.
pub const MAX_SLOTS: usize = 16;

/// What the pipeline needs of a record no rule can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brief {
    /// `eventTime` as Unix seconds (see [`crate::event::Event::time`]).
    pub time: Option<i64>,
    /// [`crate::state::identity`], when the record has an `eventID` (else it is never a copy).
    pub identity: Option<u64>,
}

/// Fixed slots: the index's fields and the duplicate check's.
const NAME: usize = 0;
const SOURCE: usize = 1;
const ID: usize = 2;
const TIME: usize = 3;
const ACCOUNT: usize = 4;
const FIXED: [&str; 5] = [
    "eventName",
    "eventSource",
    "eventID",
    "eventTime",
    "recipientAccountId",
];

/// Names looked up once per record: a multiply per eight bytes instead of SipHash (the
/// keys are the rules' own, not an attacker's choice of bucket).
#[derive(Debug, Default, Clone, Copy)]
struct Quick(u64);

impl Hasher for Quick {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
}

type Names = HashSet<String, BuildHasherDefault<Quick>>;

/// A key the scan reads, compared by length and first eight bytes before the rest.
#[derive(Debug, Clone)]
struct Key {
    len: usize,
    head: u64,
    text: String,
}

impl Key {
    fn new(text: &str) -> Key {
        Key {
            len: text.len(),
            head: head(text.as_bytes()),
            text: text.to_string(),
        }
    }

    fn is(&self, key: &[u8]) -> bool {
        key.len() == self.len && head(key) == self.head && key == self.text.as_bytes()
    }
}

/// The first eight bytes, zero-padded, as one word.
fn head(b: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = b.len().min(8);
    word[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(word)
}

/// Which records some rule may match, from a few string fields (built by
/// `RuleSet::gate`).
#[derive(Debug, Clone)]
pub struct Gate {
    names: Names,
    sources: Names,
    /// Lower-cased, for rules that ignore case.
    names_ci: Names,
    sources_ci: Names,
    /// Top-level keys read as strings, and their slots.
    top: Vec<(Key, usize)>,
    /// Objects entered (`userIdentity`), with their keys read and slots.
    nested: Vec<(Key, Vec<(Key, usize)>)>,
    /// For each rule indexed nowhere: a test it cannot match without, on a slot.
    tests: Vec<(usize, FieldTest)>,
}

impl Gate {
    /// A gate for the index's buckets; `None` when there are too many fields to read, or
    /// a test holds on an absent field (the scan decides on the fields it finds, so a
    /// record lacking one would never be asked).
    pub fn new(
        names: HashSet<String>,
        sources: HashSet<String>,
        names_ci: HashSet<String>,
        sources_ci: HashSet<String>,
        tests: Vec<(Vec<String>, FieldTest)>,
    ) -> Option<Gate> {
        if tests.iter().any(|(_, t)| t.holds_on_text(None)) {
            return None;
        }
        let set = |s: HashSet<String>| s.into_iter().collect::<Names>();
        let mut g = Gate {
            names: set(names),
            sources: set(sources),
            names_ci: set(names_ci),
            sources_ci: set(sources_ci),
            top: FIXED
                .iter()
                .enumerate()
                .map(|(i, k)| (Key::new(k), i))
                .collect(),
            nested: Vec::new(),
            tests: Vec::new(),
        };
        let mut slots = FIXED.len();
        for (path, test) in tests {
            let slot = match path.as_slice() {
                [key] => match g.top.iter().find(|(k, _)| k.text == *key) {
                    Some((_, s)) => *s,
                    None => {
                        g.top.push((Key::new(key), slots));
                        slots += 1;
                        slots - 1
                    }
                },
                [parent, key] => {
                    let i = match g.nested.iter().position(|(p, _)| p.text == *parent) {
                        Some(i) => i,
                        None => {
                            g.nested.push((Key::new(parent), Vec::new()));
                            g.nested.len() - 1
                        }
                    };
                    let keys = &mut g.nested[i].1;
                    match keys.iter().find(|(k, _)| k.text == *key) {
                        Some((_, s)) => *s,
                        None => {
                            keys.push((Key::new(key), slots));
                            slots += 1;
                            slots - 1
                        }
                    }
                }
                _ => return None,
            };
            g.tests.push((slot, test));
        }
        // A key both read as a string and entered as an object is not worth the care.
        let clash = (g.nested.iter()).any(|(p, _)| g.top.iter().any(|(k, _)| k.text == p.text));
        (slots <= MAX_SLOTS && !clash).then_some(g)
    }

    /// Whether slot `s` having value `v` is enough for some rule to be a candidate (each
    /// slot decides on its own, so a scan can stop at the first that does).
    fn wants(&self, s: usize, v: Option<&str>) -> bool {
        let hit = |exact: &Names, folded: &Names| {
            v.is_some_and(|v| {
                exact.contains(v) || (!folded.is_empty() && folded.contains(&v.to_lowercase()))
            })
        };
        match s {
            NAME if hit(&self.names, &self.names_ci) => true,
            SOURCE if hit(&self.sources, &self.sources_ci) => true,
            _ => self
                .tests
                .iter()
                .any(|(slot, t)| *slot == s && t.holds_on_text(v)),
        }
    }
}

/// What [`scan`] found at the start of a text.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// A valid record no rule can match, ending `used` bytes in.
    Skip { brief: Brief, used: usize },
    /// Parse it: some rule may match, or the pass is not sure (malformed, unusual).
    Parse,
}

/// Scans the JSON object at the start of `text` (after whitespace).
pub fn scan(text: &str, gate: &Gate) -> Scan {
    let mut c = Cursor {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    let mut slots = [None; MAX_SLOTS];
    // `record` stops at the first field some rule wants; a field it never found is
    // absent, on which no name, source or gate test holds (see `Gate::new`).
    if c.record(gate, &mut slots).is_none() {
        return Scan::Parse;
    }
    let field = |s: usize| slots[s].unwrap_or("").as_bytes();
    let brief = Brief {
        time: slots[TIME].and_then(parse_time),
        identity: slots[ID]
            .map(|id| fnv(&[id.as_bytes(), field(TIME), field(NAME), field(ACCOUNT)])),
    };
    Scan::Skip { brief, used: c.i }
}

/// The index of the first `"`, `\` or control character (below 0x20) in `b`.
///
/// Eight bytes at a time in a `u64` (portable, no `unsafe`): CloudTrail's strings are
/// short, where a call into a vector search costs more than it saves. In each mask a
/// byte's high bit is set where it matches; a false match can only sit above a true one,
/// so the lowest set bit is exact.
#[inline]
fn special(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = b[i..].first_chunk::<8>() {
        let w = u64::from_le_bytes(*chunk);
        let q = w ^ (LO * u64::from(b'"'));
        let s = w ^ (LO * u64::from(b'\\'));
        let m = ((q.wrapping_sub(LO) & !q)
            | (s.wrapping_sub(LO) & !s)
            | (w.wrapping_sub(LO * 0x20) & !w))
            & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|c| matches!(c, b'"' | b'\\') || *c < 0x20)
        .map(|p| i + p)
}

/// A position in the record; every step returns `None` on anything not plainly valid.
struct Cursor<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        self.ws();
        (self.peek()? == want).then(|| self.i += 1)
    }

    /// After a member of an object or array: `,` (true: another follows) or `close`
    /// (false: the end), passed over; anything else is not JSON (`None`).
    #[inline]
    fn another(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let b = self.peek()?;
        self.i += 1;
        match b {
            b',' => Some(true),
            _ if b == close => Some(false),
            _ => None,
        }
    }

    /// The record: an object whose slot keys are read.
    fn record(&mut self, gate: &Gate, slots: &mut [Option<&'a str>; MAX_SLOTS]) -> Option<()> {
        self.eat(b'{')?;
        let mut seen = 0u32;
        let mut entered = 0u32;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            let (key, plain) = self.string()?;
            self.eat(b':')?;
            self.ws();
            if let Some((_, slot)) = gate.top.iter().find(|(k, _)| k.is(key)) {
                // A key with an escape could spell a slot's name: `plain` is checked
                // before the name is trusted (and a slot's value must be plain too).
                Self::once(&mut seen, *slot)?;
                slots[*slot] = Some(self.plain_string()?);
                // A wanted record is parsed anyway: the rest need not be scanned.
                if gate.wants(*slot, slots[*slot]) {
                    return None;
                }
            } else if let Some((n, (_, keys))) =
                gate.nested.iter().enumerate().find(|(_, (p, _))| p.is(key))
            {
                Self::once(&mut entered, n)?;
                self.object_with(gate, keys, &mut seen, slots)?;
            } else {
                self.value(1)?;
            }
            if !plain {
                return None;
            }
            if !self.another(b'}')? {
                return Some(());
            }
        }
    }

    /// Marks `bit` seen; `None` if it was (a key twice: the last one wins in a parse).
    fn once(set: &mut u32, bit: usize) -> Option<()> {
        let mask = 1u32 << bit;
        (*set & mask == 0).then(|| *set |= mask)
    }

    /// An object (`userIdentity`) whose listed keys are read as strings.
    fn object_with(
        &mut self,
        gate: &Gate,
        keys: &[(Key, usize)],
        seen: &mut u32,
        slots: &mut [Option<&'a str>; MAX_SLOTS],
    ) -> Option<()> {
        if self.peek()? != b'{' {
            // Not an object (a string may hold JSON a path enters): parse it.
            return None;
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            let (key, plain) = self.string()?;
            if !plain {
                return None;
            }
            self.eat(b':')?;
            self.ws();
            match keys.iter().find(|(k, _)| k.is(key)) {
                Some((_, slot)) => {
                    Self::once(seen, *slot)?;
                    slots[*slot] = Some(self.plain_string()?);
                    if gate.wants(*slot, slots[*slot]) {
                        return None;
                    }
                }
                None => self.value(2)?,
            }
            if !self.another(b'}')? {
                return Some(());
            }
        }
    }

    /// A string without escapes, as text.
    fn plain_string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let (_, plain) = self.string()?;
        // Between two ASCII quotes of UTF-8 text: on character boundaries.
        plain.then(|| self.text.get(start..self.i - 1)).flatten()
    }

    /// A string at the cursor: its raw bytes and whether it has no escape.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let mut i = start;
        let mut plain = true;
        loop {
            i += special(self.b.get(i..)?)?;
            match self.b[i] {
                b'"' => break,
                b'\\' => {}
                // A control character in a string: an error for serde_json.
                _ => return None,
            }
            plain = false;
            match *self.b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    let hex = std::str::from_utf8(self.b.get(i + 2..i + 6)?).ok()?;
                    if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                        return None;
                    }
                    let code = u32::from_str_radix(hex, 16).ok()?;
                    // A lone surrogate is an error only where the string is kept.
                    if (0xD800..=0xDFFF).contains(&code) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            }
        }
        self.i = i + 1;
        Some((&self.b[start..i], plain))
    }

    /// Any JSON value, checked and passed over.
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string()?;
                    self.eat(b':')?;
                    self.ws();
                    self.value(depth + 1)?;
                    if !self.another(b'}')? {
                        return Some(());
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.value(depth + 1)?;
                    if !self.another(b']')? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b.get(self.i..)?.starts_with(word).then(|| {
            self.i += word.len();
        })
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 15 digits: a number `serde_json`
    /// accepts whether it keeps it (as an exact `f64` or integer) or passes over it.
    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        let digits = |c: &mut Self| {
            let n = c.b[c.i..].iter().take_while(|b| b.is_ascii_digit()).count();
            c.i += n;
            n
        };
        let first = self.peek()?;
        let int = digits(self);
        if int == 0 || (first == b'0' && int > 1) {
            return None;
        }
        let mut total = int;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let frac = digits(self);
            if frac == 0 {
                return None;
            }
            total += frac;
        }
        // An exponent, or a digit count where the value may not be exact, is parsed.
        (total <= 15 && !matches!(self.peek(), Some(b'e' | b'E'))).then_some(())
    }
}

#[cfg(test)]
mod tests;
