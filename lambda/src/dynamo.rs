//! All shared state in one DynamoDB table (string partition key `pk`, TTL attribute
//! `expires_at` in epoch seconds). TTL deletion is lazy, so every read compares
//! `expires_at` with the clock and treats an expired item as absent.
//!
//! Key scheme:
//! * `seen#<identity>` — `owner`: the input that first saw an event that hit a rule;
//!   a copy from another trail or region (another owner) is dropped.
//! * `win#<rule>#<group hash>` — `w`: a threshold window (JSON), `v`: version for
//!   optimistic concurrency, so concurrent invocations never lose each other's events.
//! * `key#<rule>#<key hash>` — `since`, `trigger`, `v`: the last alert of an alert key.
//! * `claim#<fingerprint>` — `status` (`IN_PROGRESS` with `owner` and `lease_until`, or
//!   `COMPLETED`).
//!
//! The pipeline is synchronous and runs on a blocking thread; [`DynamoState`] bridges to
//! the async SDK with the runtime handle.

use crate::claims::{Claim, Claims};
use crate::{now, Failure};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use tokio::runtime::Handle;
use trailwatch::state::window::{Added, Entry, Spec, Window};
use trailwatch::state::{decide_key, fnv, Key, KeyRecord, State, StateError};

/// Windows kept in DynamoDB hold at most this many events (items stay well under 400 KB).
pub const MAX_WINDOW_ENTRIES: usize = 2000;
/// Completed claims are kept this long (seconds) to stop late duplicates.
pub const CLAIM_RETENTION: i64 = 7 * 86_400;
const MAX_CONFLICTS: usize = 25;

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> (bool, String) {
    let code = e.code().unwrap_or("").to_string();
    let permanent = matches!(
        code.as_str(),
        "ValidationException" | "ResourceNotFoundException" | "AccessDeniedException"
    );
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

/// The pipeline's state in DynamoDB.
pub struct DynamoState {
    client: Client,
    table: String,
    handle: Handle,
    horizon: i64,
}

impl DynamoState {
    /// `handle` is the runtime the SDK calls run on; use from a blocking thread.
    pub fn new(client: Client, table: &str, handle: Handle, horizon: i64) -> Self {
        DynamoState {
            client,
            table: table.to_string(),
            handle,
            horizon,
        }
    }

    /// Reads a live (unexpired) item, consistently.
    fn get(&self, pk: &str) -> Result<Option<HashMap<String, Av>>, StateError> {
        let out = self
            .handle
            .block_on(
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", Av::S(pk.into()))
                    .consistent_read(true)
                    .send(),
            )
            .map_err(|e| state_err("reading state", e))?;
        Ok(out
            .item
            .filter(|i| get_n(i, "expires_at").is_none_or(|x| x > now())))
    }

    /// Writes `item` if the stored version is still `version` (None: absent or expired).
    fn put_versioned(
        &self,
        mut item: HashMap<String, Av>,
        version: Option<i64>,
    ) -> Result<bool, StateError> {
        let next = version.unwrap_or(0) + 1;
        item.insert("v".into(), n(next));
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_values(":now", n(now()));
        req = match version {
            Some(v) => req
                .condition_expression("v = :v AND expires_at > :now")
                .expression_attribute_values(":v", n(v)),
            None => req.condition_expression("attribute_not_exists(pk) OR expires_at <= :now"),
        };
        match self.handle.block_on(req.send()) {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(state_err("writing state", e)),
        }
    }
}

impl State for DynamoState {
    fn first_sighting(
        &mut self,
        identity: u64,
        owner: &str,
        _time: Option<i64>,
    ) -> Result<bool, StateError> {
        let t = now();
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Av::S(format!("seen#{identity:016x}")))
            .item("owner", Av::S(owner.into()))
            .item("expires_at", n(t + self.horizon))
            .condition_expression("attribute_not_exists(pk) OR #o = :owner OR expires_at <= :now")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":owner", Av::S(owner.into()))
            .expression_attribute_values(":now", n(t));
        match self.handle.block_on(req.send()) {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(state_err("recording a sighting", e)),
        }
    }

    fn window_add(
        &mut self,
        rule: &str,
        group: &str,
        entry: Entry,
        spec: &Spec,
    ) -> Result<Added, StateError> {
        let pk = format!("win#{rule}#{:016x}", fnv(&[group.as_bytes()]));
        let spec = Spec {
            max_entries: spec.max_entries.min(MAX_WINDOW_ENTRIES),
            ..*spec
        };
        for _ in 0..MAX_CONFLICTS {
            let item = self.get(&pk)?;
            let version = item.as_ref().and_then(|i| get_n(i, "v"));
            let mut window: Window = match item.as_ref().and_then(|i| get_s(i, "w")) {
                Some(json) => serde_json::from_str(json).map_err(|e| StateError {
                    message: format!("window {pk} is unreadable: {e}"),
                    retryable: false,
                })?,
                None => Window::default(),
            };
            let before = window.clone();
            let added = window.add(entry.clone(), &spec);
            if window == before {
                return Ok(added);
            }
            let json = serde_json::to_string(&window).map_err(|e| StateError {
                message: e.to_string(),
                retryable: false,
            })?;
            let item = HashMap::from([
                ("pk".to_string(), Av::S(pk.clone())),
                ("w".to_string(), Av::S(json)),
                (
                    "expires_at".to_string(),
                    n(now() + spec.window + self.horizon),
                ),
            ]);
            if self.put_versioned(item, version)? {
                return Ok(added);
            }
        }
        Err(StateError {
            message: format!("window {pk}: too many concurrent updates"),
            retryable: true,
        })
    }

    fn alert_key(
        &mut self,
        rule: &str,
        key: &str,
        identity: u64,
        time: i64,
        cooldown: Option<i64>,
    ) -> Result<Key, StateError> {
        let pk = format!("key#{rule}#{:016x}", fnv(&[key.as_bytes()]));
        for _ in 0..MAX_CONFLICTS {
            let item = self.get(&pk)?;
            let version = item.as_ref().and_then(|i| get_n(i, "v"));
            let prev = item.as_ref().and_then(|i| {
                Some(KeyRecord {
                    since: get_n(i, "since")?,
                    trigger: u64::from_str_radix(get_s(i, "trigger")?, 16).ok()?,
                })
            });
            let (decision, store) = decide_key(prev, identity, time, cooldown);
            let Some(record) = store else {
                return Ok(decision);
            };
            let item = HashMap::from([
                ("pk".to_string(), Av::S(pk.clone())),
                ("since".to_string(), n(record.since)),
                (
                    "trigger".to_string(),
                    Av::S(format!("{:016x}", record.trigger)),
                ),
                (
                    "expires_at".to_string(),
                    n(now() + cooldown.unwrap_or(0) + self.horizon),
                ),
            ]);
            if self.put_versioned(item, version)? {
                return Ok(decision);
            }
        }
        Err(StateError {
            message: format!("alert key {pk}: too many concurrent updates"),
            retryable: true,
        })
    }
}

/// Alert claims in the same table.
pub struct DynamoClaims {
    pub client: Client,
    pub table: String,
}

impl Claims for DynamoClaims {
    async fn acquire(&self, fp: &str, owner: &str, t: i64, lease: i64) -> Result<Claim, Failure> {
        let pk = format!("claim#{fp}");
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Av::S(pk.clone()))
            .item("status", Av::S("IN_PROGRESS".into()))
            .item("owner", Av::S(owner.into()))
            .item("lease_until", n(t + lease))
            .item("expires_at", n(t + CLAIM_RETENTION))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now \
                 OR (#s = :progress AND (lease_until < :now OR #o = :owner))",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":now", n(t))
            .expression_attribute_values(":progress", Av::S("IN_PROGRESS".into()))
            .expression_attribute_values(":owner", Av::S(owner.into()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(Claim::Acquired),
            Err(e) if is_conflict(&e) => {
                let held = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", Av::S(pk))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| failure("reading a claim", e))?;
                let completed = held
                    .item
                    .as_ref()
                    .is_some_and(|i| get_s(i, "status") == Some("COMPLETED"));
                Ok(if completed {
                    Claim::Completed
                } else {
                    Claim::Busy
                })
            }
            Err(e) => Err(failure("claiming an alert", e)),
        }
    }

    async fn complete(&self, fp: &str, t: i64) -> Result<(), Failure> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", Av::S(format!("claim#{fp}")))
            .update_expression("SET #s = :done, expires_at = :exp REMOVE lease_until")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":done", Av::S("COMPLETED".into()))
            .expression_attribute_values(":exp", n(t + CLAIM_RETENTION))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure("completing a claim", e))
    }

    async fn release(&self, fp: &str, owner: &str) -> Result<(), Failure> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Av::S(format!("claim#{fp}")))
            .condition_expression("#s = :progress AND #o = :owner")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":progress", Av::S("IN_PROGRESS".into()))
            .expression_attribute_values(":owner", Av::S(owner.into()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(failure("releasing a claim", e)),
        }
    }
}
