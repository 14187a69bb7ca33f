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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::put_item::PutItemError;

    fn service(code: &str, message: &str) -> SdkError<PutItemError, ()> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(PutItemError::generic(meta), ())
    }

    /// Only a request DynamoDB calls invalid is permanent: throttling, conflicts, network
    /// failures and timeouts may pass on a retry. The message names the call and the code.
    #[test]
    fn only_a_validation_error_is_not_worth_a_retry() {
        let (retry, msg) = classify("PutItem", service("ValidationException", "bad key"));
        assert!(!retry);
        assert_eq!(msg, "PutItem: ValidationException: bad key");
        let (retry, msg) = classify(
            "PutItem",
            service("ProvisionedThroughputExceededException", "slow down"),
        );
        assert!(retry);
        assert_eq!(
            msg,
            "PutItem: ProvisionedThroughputExceededException: slow down"
        );
        let io = ConnectorError::io("connection reset".into());
        let (retry, msg) = classify(
            "GetItem",
            SdkError::<PutItemError, ()>::dispatch_failure(io),
        );
        assert!(retry);
        assert!(
            msg.starts_with("GetItem: ") && msg.contains("connection reset"),
            "{msg}"
        );
        let e = state_err("PutItem", service("ValidationException", "x"));
        assert!(!e.retryable && e.message.starts_with("PutItem: "), "{e:?}");
        assert!(matches!(
            failure("PutItem", service("ValidationException", "x")),
            Failure::Permanent(_)
        ));
        assert!(matches!(
            failure("PutItem", service("ThrottlingException", "x")),
            Failure::Retryable(_)
        ));
    }

    #[test]
    fn a_failed_condition_is_a_conflict_and_nothing_else_is() {
        assert!(is_conflict(&service(
            "ConditionalCheckFailedException",
            "v"
        )));
        assert!(!is_conflict(&service("ThrottlingException", "v")));
        let io = ConnectorError::io("reset".into());
        assert!(!is_conflict(
            &SdkError::<PutItemError, ()>::dispatch_failure(io)
        ));
    }

    /// Every item outlives what can still bring its input back: a message kept by the
    /// stack's longest-keeping queue (template.yaml), plus Lambda's six hours of event age.
    #[test]
    fn items_outlive_the_longest_kept_dead_letter() {
        let longest = include_str!("../../../template.yaml")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("MessageRetentionPeriod:"))
            .map(|v| v.trim().parse::<i64>().expect("seconds"))
            .max()
            .expect("the template's queues keep messages");
        assert_eq!(longest, 14 * 86_400);
        assert!(RETENTION > longest + 6 * 3_600, "{RETENTION}");
    }

    #[test]
    fn items_read_back_numbers_and_text() {
        let item = HashMap::from([
            ("n".to_string(), n(-42)),
            ("s".to_string(), Av::S("text".into())),
        ]);
        assert_eq!(get_n(&item, "n"), Some(-42));
        assert_eq!(get_s(&item, "s"), Some("text"));
        assert_eq!((get_n(&item, "s"), get_s(&item, "n")), (None, None));
        assert_eq!(get_n(&item, "absent"), None);
    }
}
