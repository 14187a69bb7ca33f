//! All shared state in one DynamoDB table (string partition key `pk`, TTL attribute
//! `expires_at` in epoch seconds). TTL deletion is lazy, so every read compares
//! `expires_at` with the clock and treats an expired item as absent.
//!
//! Key scheme:
//! * `seen#<identity>` — `owner`: the input whose alerts for an event were delivered; a
//!   copy of the event in another input (another trail or region) is then dropped. It is
//!   written only after delivery, so an input whose alerts did not go out hides no copy.
//! * `win#<rule>#<group hash>` — `a`: the spans of a threshold window that alerted (JSON);
//!   `win#<rule>#<group hash>#<bucket>#<shard>` — one page of the window's events (`e`:
//!   compact bytes, `ips`, `d`: event ids; see `trailwatch::state::window`). Every item
//!   carries a version `v` for optimistic concurrency.
//! * `key#<rule>#<key hash>` — `since`, `trigger`, `v`: the last alert of an alert key.
//! * `claim#<fingerprint>` — `status` (`IN_PROGRESS` with `owner` and `lease_until`, or
//!   `COMPLETED`).
//!
//! The pipeline is synchronous and runs on a blocking thread; [`DynamoState`] bridges to
//! the async SDK with the runtime handle.

mod claims;
mod state;

pub use claims::DynamoClaims;

/// How long (wall clock) every item outlives its last write, beyond a window's length or
/// a key's cooldown: 15 days, longer than a dead-letter queue keeps a message (14 days)
/// plus Lambda's maximum event age (6 hours). So an input redriven from a dead-letter
/// queue still meets its copies, its windows, its keys and the claims of its alerts, and
/// is not paged twice.
pub const RETENTION: i64 = 15 * 86_400;
pub use state::DynamoState;

use crate::Failure;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue as Av;
use std::collections::HashMap;
use trailwatch::state::StateError;

/// Whether a retry can help, and what happened.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> (bool, String) {
    let code = e.code().unwrap_or("").to_string();
    let permanent = matches!(code.as_str(), "ValidationException");
    let msg = match e.message() {
        Some(m) => format!("{what}: {code}: {m}"),
        None => format!(
            "{what}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        ),
    };
    (!permanent, msg)
}

fn state_err<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> StateError {
    let (retryable, message) = classify(what, e);
    StateError { message, retryable }
}

fn failure<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> Failure {
    match classify(what, e) {
        (true, m) => Failure::Retryable(m),
        (false, m) => Failure::Permanent(m),
    }
}

fn is_conflict<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

fn n(v: i64) -> Av {
    Av::N(v.to_string())
}

fn get_n(item: &HashMap<String, Av>, k: &str) -> Option<i64> {
    item.get(k)?.as_n().ok()?.parse().ok()
}

fn get_s<'a>(item: &'a HashMap<String, Av>, k: &str) -> Option<&'a str> {
    item.get(k)?.as_s().ok().map(String::as_str)
}
