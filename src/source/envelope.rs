//! The envelopes a CloudTrail record can arrive in, recognised by their keys.
//!
//! CloudWatch Logs subscriptions wrap records as `logEvents[].message` inside a gzipped,
//! base64 `awslogs.data`; EventBridge puts one record in `detail`. Each envelope is small
//! (bounded by `Limits::max_envelope`), so it is parsed whole.

use super::{gunzip, skip, DecodeError, Format, Item, Limits, Position};
use crate::event::Event;
use base64::Engine;
use serde_json::{Map, Value};

/// A record over `Limits::max_record`, wherever it came from.
pub(super) fn too_large(n: u64, at: Position, limits: &Limits) -> Item {
    Item::Malformed {
        at,
        reason: format!(
            "record of {n} bytes exceeds the limit of {} bytes",
            limits.max_record
        ),
    }
}

/// One record from its raw bytes.
pub(super) fn record_from_bytes(bytes: &[u8], at: Position, limits: &Limits) -> Item {
    if bytes.len() > limits.max_record {
        return too_large(bytes.len() as u64, at, limits);
    }
    if let (Some(gate), Ok(text)) = (&limits.gate, std::str::from_utf8(bytes)) {
        if let skip::Scan::Skip { brief, used } = skip::scan(text, gate) {
            if bytes[used..]
                .iter()
                .all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            {
                return Item::Unwanted(brief);
            }
        }
    }
    let parsed = match &limits.keep {
        Some(keep) => keep.parse(bytes),
        None => serde_json::from_slice::<Value>(bytes),
    };
    match parsed {
        Ok(v) => record_from_value(v, at),
        Err(e) => Item::Malformed {
            at,
            reason: format!("invalid JSON: {e}"),
        },
    }
}

pub(super) fn record_from_value(v: Value, at: Position) -> Item {
    let kind = kind_of(&v);
    match Event::from_value(v) {
        Some(e) => Item::Record(e),
        None => Item::Malformed {
            at,
            reason: format!("a record must be a JSON object, found {kind}"),
        },
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A whole document that is not a streamed Records file.
pub(super) fn classify_document(
    doc: &[u8],
    limits: &Limits,
    on: &mut dyn FnMut(Item),
) -> Result<Format, DecodeError> {
    let value: Value = serde_json::from_slice(doc).map_err(|e| DecodeError::Broken {
        offset: 0,
        reason: format!("invalid JSON: {e}"),
    })?;
    classify(value, limits, on).map_err(DecodeError::NotCloudTrail)
}

/// One NDJSON line: whatever it holds, a problem costs only this line. The first line
/// decides whether the file is CloudTrail at all: valid JSON that is neither a record nor
/// an envelope there means "not CloudTrail input", not a thousand malformed records.
pub(super) fn classify_line(
    line: &[u8],
    number: u64,
    limits: &Limits,
    on: &mut dyn FnMut(Item),
) -> Result<(), DecodeError> {
    let at = Position::Line(number);
    let value = match serde_json::from_slice::<Value>(line) {
        Ok(v) => v,
        Err(e) => {
            on(Item::Malformed {
                at,
                reason: format!("invalid JSON: {e}"),
            });
            return Ok(());
        }
    };
    match classify(value, limits, on) {
        Ok(_) => Ok(()),
        Err(reason) if number == 1 => Err(DecodeError::NotCloudTrail(reason)),
        Err(reason) => {
            on(Item::Malformed { at, reason });
            Ok(())
        }
    }
}

/// Real records always carry `eventVersion`; hand-made ones at least an `eventName` with a
/// `userIdentity` or `eventTime` (a label file listing event names is not a trail).
fn looks_like_record(o: &Map<String, Value>) -> bool {
    o.contains_key("eventVersion")
        || (o.contains_key("eventName")
            && (o.contains_key("userIdentity") || o.contains_key("eventTime")))
}

fn classify(value: Value, limits: &Limits, on: &mut dyn FnMut(Item)) -> Result<Format, String> {
    let Value::Object(mut obj) = value else {
        return Err(format!("expected a JSON object, found {}", kind_of(&value)));
    };
    if let Some(records) = obj.remove("Records") {
        let Value::Array(items) = records else {
            return Err("\"Records\" is not an array".into());
        };
        for (i, v) in items.into_iter().enumerate() {
            on(record_from_value(v, Position::Record(i)));
        }
        return Ok(Format::Records);
    }
    if let Some(awslogs) = obj.get("awslogs") {
        let data = awslogs
            .get("data")
            .and_then(Value::as_str)
            .ok_or("\"awslogs\" has no string \"data\"")?;
        let zipped = base64::engine::general_purpose::STANDARD
            .decode(data.trim_end_matches('='))
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(data.trim_end_matches('='))
            })
            .map_err(|e| format!("awslogs.data is not base64: {e}"))?;
        let json = gunzip::gunzip_all(&zipped, limits.max_envelope as u64)
            .map_err(|e| format!("awslogs.data does not gunzip: {e}"))?;
        let inner: Value = serde_json::from_slice(&json)
            .map_err(|e| format!("awslogs.data holds invalid JSON: {e}"))?;
        return classify_logs(inner, limits, on);
    }
    if obj.contains_key("messageType") {
        return classify_logs(Value::Object(obj), limits, on);
    }
    if obj.contains_key("detail-type") && obj.contains_key("detail") {
        let dt = obj["detail-type"].as_str().unwrap_or("?").to_string();
        return match obj.remove("detail") {
            Some(Value::Object(d)) if looks_like_record(&d) => {
                let size = serialized_len(&d);
                if size > limits.max_record as u64 {
                    on(too_large(size, Position::Record(0), limits));
                    return Ok(Format::EventBridge);
                }
                on(Item::Record(
                    Event::from_value(Value::Object(d)).ok_or("detail is not an object")?,
                ));
                Ok(Format::EventBridge)
            }
            other => Err(format!(
                "EventBridge event of detail-type '{dt}' carries no CloudTrail record (detail is {})",
                other.as_ref().map_or("absent", kind_of)
            )),
        };
    }
    if looks_like_record(&obj) {
        on(Item::Record(
            Event::from_value(Value::Object(obj)).ok_or("not an object")?,
        ));
        return Ok(Format::Record);
    }
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).take(5).collect();
    keys.sort_unstable();
    Err(format!(
        "a JSON object with keys [{}] is neither a CloudTrail record nor a known envelope",
        keys.join(", ")
    ))
}

/// Bytes of `v` as compact JSON, without building them.
fn serialized_len(v: &Map<String, Value>) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

fn classify_logs(v: Value, limits: &Limits, on: &mut dyn FnMut(Item)) -> Result<Format, String> {
    match v.get("messageType").and_then(Value::as_str) {
        Some("CONTROL_MESSAGE") => Ok(Format::CloudWatchControl),
        Some("DATA_MESSAGE") => {
            let events = v
                .get("logEvents")
                .and_then(Value::as_array)
                .ok_or("DATA_MESSAGE without a logEvents array")?;
            for (i, e) in events.iter().enumerate() {
                let at = Position::LogEvent(i);
                match e.get("message").and_then(Value::as_str) {
                    Some(m) => on(record_from_bytes(m.as_bytes(), at, limits)),
                    None => on(Item::Malformed {
                        at,
                        reason: "log event without a string message".into(),
                    }),
                }
            }
            Ok(Format::CloudWatchLogs)
        }
        other => Err(format!(
            "unknown CloudWatch Logs messageType {}",
            other.map_or("(none)".to_string(), |s| format!("'{s}'"))
        )),
    }
}
