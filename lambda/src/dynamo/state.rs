//! The pipeline's state in DynamoDB, a batch at a time.
//!
//! A batch (see `trailwatch::state::State`) reads what it needs once — sightings of its
//! events in one `BatchGetItem` round, each window's pages and alerted spans when the
//! window is first touched, each alert key once — works in memory, and writes back at
//! `commit` only the items that changed, each conditional on the version it read, all of
//! them concurrently. A conflict means another invocation changed the same window or key:
//! after a jittered pause the pipeline runs the batch again from fresh reads. Sightings are
//! written in `BatchWriteItem`s only once the batch's alerts were delivered.
//!
//! Roll-ups (the matches after an alert) are items `rollup#<alert>#<bucket>`, where the
//! bucket is the five minutes of wall clock in which their follow-up is due (the end of the
//! span or cooldown plus the delivery delay, or now if that has passed), and each bucket
//! lists its roll-ups in `rollups#<bucket>`. The schedule reads the buckets that are over
//! since its cursor, sends their follow-ups, then deletes them and moves the cursor; a
//! match that comes after its roll-up's bucket is over starts a new one, due in the
//! current bucket.

use super::{get_n, get_s, is_conflict, n, state_err};
use aws_sdk_dynamodb::types::{AttributeValue as Av, KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::Duration;
use tokio::runtime::Handle;
use trailwatch::event::Event;
use trailwatch::rules::Rule;
use trailwatch::state::rollup::{Follow, Rollup};
use trailwatch::state::window::{
    decode_slots, encode_slots, Added, Alerted, Entry, Page, PageKey, Spec, Window,
};
use trailwatch::state::{decide_key, fnv, Key, KeyRecord, State, StateError};

/// Keys per `BatchGetItem` and items per `BatchWriteItem`, as DynamoDB allows.
const GET_BATCH: usize = 100;
const WRITE_BATCH: usize = 25;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;
/// Seconds of wall clock per roll-up bucket.
pub const ROLLUP_BUCKET: i64 = 300;
/// Buckets the schedule leaves alone after the current one, so no invocation is still
/// adding to a bucket being sent (clocks and batches may lag a little).
const SETTLE_BUCKETS: i64 = 2;
/// Most buckets one schedule run reads (a week); older ones have expired anyway.
const MAX_BUCKETS: i64 = 7 * 86_400 / ROLLUP_BUCKET;
const _: () = assert!(MAX_BUCKETS * ROLLUP_BUCKET == 7 * 86_400);

/// A window as read in this batch.
struct Cached {
    window: Window,
    spec: Spec,
    /// Pages read (present or not), and the version each had.
    versions: HashMap<PageKey, Option<i64>>,
    alerted_version: Option<i64>,
}

/// An alert key as read in this batch.
struct CachedKey {
    record: Option<KeyRecord>,
    version: Option<i64>,
    dirty: bool,
    cooldown: i64,
}

/// A roll-up as read in this batch.
struct CachedRollup {
    rollup: Rollup,
    bucket: i64,
    version: Option<i64>,
    dirty: bool,
}

/// What the batch writes at `commit`: an item and the version it must still have.
struct Write {
    item: HashMap<String, Av>,
    version: Option<i64>,
}

pub struct DynamoState {
    client: Client,
    table: String,
    handle: Handle,
    horizon: i64,
    /// Unix milliseconds after which no call is started (the invocation's deadline less
    /// a margin); `u64::MAX` for none.
    deadline_ms: u64,
    windows: HashMap<String, Cached>,
    keys: HashMap<String, CachedKey>,
    rollups: HashMap<String, CachedRollup>,
    /// Seconds of wall clock after a span or cooldown ends before its follow-up is due.
    rollup_delay: i64,
    /// Roll-ups handed out by `rollups_due`, deleted once delivered, and the cursor to
    /// store then (its new value and the version read).
    handed_out: Vec<String>,
    cursor: Option<(i64, Option<i64>)>,
    /// The schedule's time, when it gave one: the buckets due are those before it.
    schedule_time: Option<i64>,
    /// Who delivered the alerts of an event, as read (None: nobody yet).
    seen: HashMap<u64, Option<String>>,
    /// Events first seen in this batch, and in committed batches not yet delivered.
    batch_sightings: Vec<(u64, String)>,
    sightings: Vec<(u64, String)>,
    conflicts: u32,
    /// DynamoDB calls made, by operation (for the cost figures).
    pub calls: BTreeMap<&'static str, u64>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl DynamoState {
    /// `handle` is the runtime the SDK calls run on; use from a blocking thread.
    pub fn new(client: Client, table: &str, handle: Handle, horizon: i64) -> Self {
        DynamoState {
            client,
            table: table.to_string(),
            handle,
            horizon,
            deadline_ms: u64::MAX,
            windows: HashMap::new(),
            keys: HashMap::new(),
            rollups: HashMap::new(),
            rollup_delay: 900,
            handed_out: Vec::new(),
            cursor: None,
            schedule_time: None,
            seen: HashMap::new(),
            batch_sightings: Vec::new(),
            sightings: Vec::new(),
            conflicts: 0,
            calls: BTreeMap::new(),
        }
    }

    /// Seconds of wall clock an item outlives its last write: the horizon, and at least
    /// [`super::RETENTION`].
    fn retention(&self) -> i64 {
        self.horizon.max(super::RETENTION)
    }

    /// Follow-ups are due `seconds` of wall clock after their span or cooldown ends.
    pub fn with_rollup_delay(mut self, seconds: i64) -> Self {
        self.rollup_delay = seconds;
        self
    }

    /// The schedule's own time (its event's `time`) instead of the clock, for
    /// `rollups_due`.
    pub fn with_schedule_time(mut self, time: Option<i64>) -> Self {
        self.schedule_time = time;
        self
    }

    /// No call starts after `deadline_ms` (Unix milliseconds).
    pub fn with_deadline(mut self, deadline_ms: u64) -> Self {
        self.deadline_ms = deadline_ms;
        self
    }

    /// Runs `f` (`calls` requests of `op`) to completion unless the deadline has passed or
    /// passes meanwhile.
    fn run<T>(
        &mut self,
        op: &'static str,
        calls: usize,
        f: impl Future<Output = T>,
    ) -> Result<T, StateError> {
        *self.calls.entry(op).or_default() += calls as u64;
        let left = self.deadline_ms.saturating_sub(now_ms());
        if left == 0 {
            return Err(deadline());
        }
        self.handle
            .block_on(async { tokio::time::timeout(Duration::from_millis(left), f).await })
            .map_err(|_| deadline())
    }

    /// Reads live (unexpired) items by key, consistently, 100 at a time.
    fn get_many(
        &mut self,
        pks: &[String],
    ) -> Result<HashMap<String, HashMap<String, Av>>, StateError> {
        let mut out = HashMap::new();
        let now = trailwatch_now();
        for chunk in pks.chunks(GET_BATCH) {
            let mut want = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(
                        chunk
                            .iter()
                            .map(|pk| HashMap::from([("pk".to_string(), Av::S(pk.clone()))]))
                            .collect(),
                    ))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StateError {
                        message: e.to_string(),
                        retryable: false,
                    })?,
            );
            while let Some(keys) = want.take() {
                let req = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send();
                let got = self
                    .run("BatchGetItem", 1, req)?
                    .map_err(|e| state_err("reading state", e))?;
                for item in got
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    if get_n(&item, "expires_at").is_some_and(|x| x <= now) {
                        continue;
                    }
                    if let Some(pk) = get_s(&item, "pk").map(str::to_string) {
                        out.insert(pk, item);
                    }
                }
                want = got
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
            }
        }
        Ok(out)
    }

    /// Reads the pages of `window` an event at `time` is counted with, if not read yet.
    fn load(&mut self, base: &str, spec: &Spec, time: i64, fresh: bool) -> Result<(), StateError> {
        let cached = self.windows.get(base);
        let mut missing: Vec<PageKey> = spec
            .pages_around(time)
            .into_iter()
            .filter(|k| cached.is_none_or(|c| !c.versions.contains_key(k)))
            .collect();
        missing.sort_unstable();
        if missing.is_empty() && !fresh {
            return Ok(());
        }
        let mut pks: Vec<String> = missing.iter().map(|k| page_pk(base, *k)).collect();
        if fresh {
            pks.push(base.to_string());
        }
        let items = self.get_many(&pks)?;
        let cached = self
            .windows
            .entry(base.to_string())
            .or_insert_with(|| Cached {
                window: Window::default(),
                spec: *spec,
                versions: HashMap::new(),
                alerted_version: None,
            });
        if let (true, Some(head)) = (fresh, items.get(base)) {
            cached.alerted_version = get_n(head, "v");
            cached.window.alerted = get_s(head, "a").map(parse_alerted).unwrap_or_default();
        }
        let w = spec.bucket_width();
        for key in missing {
            let item = items.get(&page_pk(base, key));
            cached
                .versions
                .insert(key, item.and_then(|i| get_n(i, "v")));
            if let Some(page) = item.and_then(|i| parse_page(i, key.0 * w)) {
                cached.window.pages.insert(key, page);
            }
        }
        Ok(())
    }

    /// Conditional puts, all at once (bounded): `Ok(false)` if any met a newer version.
    /// BatchWriteItem until DynamoDB has taken every request (it hands back what it could
    /// not process under load).
    fn batch_write(
        &mut self,
        mut requests: Vec<WriteRequest>,
        what: &'static str,
    ) -> Result<(), StateError> {
        while !requests.is_empty() {
            let req = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut requests))
                .send();
            let out = self
                .run("BatchWriteItem", 1, req)?
                .map_err(|e| state_err(what, e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
        }
        Ok(())
    }

    fn put_all(&mut self, writes: Vec<Write>) -> Result<bool, StateError> {
        let mut conflict = false;
        for chunk in writes.chunks(CONCURRENCY) {
            let now = trailwatch_now();
            let reqs: Vec<_> = chunk
                .iter()
                .map(|w| {
                    let mut item = w.item.clone();
                    item.insert("v".into(), n(w.version.unwrap_or(0) + 1));
                    let req = self
                        .client
                        .put_item()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .expression_attribute_values(":now", n(now));
                    match w.version {
                        Some(v) => req
                            .condition_expression("v = :v AND expires_at > :now")
                            .expression_attribute_values(":v", n(v)),
                        None => req
                            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now"),
                    }
                    .send()
                })
                .collect();
            let results = self.run("PutItem", reqs.len(), async move {
                let mut set = tokio::task::JoinSet::new();
                for r in reqs {
                    set.spawn(r);
                }
                let mut out = Vec::new();
                while let Some(r) = set.join_next().await {
                    out.push(r);
                }
                out
            })?;
            for r in results {
                match r {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) if is_conflict(&e) => conflict = true,
                    Ok(Err(e)) => return Err(state_err("writing state", e)),
                    Err(e) => {
                        return Err(StateError {
                            message: format!("writing state: {e}"),
                            retryable: true,
                        })
                    }
                }
            }
        }
        Ok(!conflict)
    }
}

impl DynamoState {
    /// Adds each roll-up to its bucket's list (a string set: adding twice is harmless).
    fn list_rollups(
        &mut self,
        listed: Vec<(i64, String)>,
        expires_at: i64,
    ) -> Result<(), StateError> {
        for (bucket, follows) in listed {
            let req = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", Av::S(format!("rollups#{bucket}")))
                .update_expression("ADD f :f SET expires_at = :e")
                .expression_attribute_values(":f", Av::Ss(vec![follows]))
                .expression_attribute_values(":e", n(expires_at))
                .send();
            self.run("UpdateItem", 1, req)?
                .map_err(|e| state_err("listing a roll-up", e))?;
        }
        Ok(())
    }

    /// After the follow-ups handed out were delivered: deletes their roll-ups and moves
    /// the schedule's cursor past their buckets (a concurrent run that moved it first wins;
    /// both sent the same follow-ups, which their claims let out once).
    fn forget_handed_out(&mut self) -> Result<(), StateError> {
        for chunk in std::mem::take(&mut self.handed_out).chunks(WRITE_BATCH) {
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|pk| {
                    WriteRequest::builder()
                        .delete_request(
                            aws_sdk_dynamodb::types::DeleteRequest::builder()
                                .key("pk", Av::S(pk.clone()))
                                .build()
                                .expect("the key is set"),
                        )
                        .build()
                })
                .collect();
            self.batch_write(requests, "deleting sent roll-ups")?;
        }
        if let Some((b, version)) = self.cursor.take() {
            let expires = trailwatch_now() + self.retention();
            self.put_all(vec![Write {
                item: HashMap::from([
                    ("pk".to_string(), Av::S("rollups#cursor".into())),
                    ("b".to_string(), n(b)),
                    ("expires_at".to_string(), n(expires)),
                ]),
                version,
            }])?;
        }
        Ok(())
    }
}

fn deadline() -> StateError {
    StateError {
        message: "invocation deadline reached while reading or writing state".into(),
        retryable: true,
    }
}

fn trailwatch_now() -> i64 {
    crate::now()
}

/// The base key of a window; pages add `#<bucket>#<shard>`.
fn window_pk(rule: &str, group: &str) -> String {
    format!("win#{rule}#{:016x}", fnv(&[group.as_bytes()]))
}

fn page_pk(base: &str, (bucket, shard): PageKey) -> String {
    format!("{base}#{bucket}#{shard}")
}

fn parse_alerted(json: &str) -> Vec<Alerted> {
    let pairs: Vec<(i64, String)> = serde_json::from_str(json).unwrap_or_default();
    pairs
        .into_iter()
        .filter_map(|(start, t)| {
            Some(Alerted {
                start,
                trigger: u64::from_str_radix(&t, 16).ok()?,
            })
        })
        .collect()
}

fn alerted_json(alerted: &[Alerted]) -> String {
    let pairs: Vec<(i64, String)> = alerted
        .iter()
        .map(|a| (a.start, format!("{:016x}", a.trigger)))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

fn parse_page(item: &HashMap<String, Av>, base: i64) -> Option<Page> {
    let slots = decode_slots(item.get("e")?.as_b().ok()?.as_ref(), base)?;
    let ips = item
        .get("ips")
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default();
    let details: Vec<(i64, String, String)> = get_s(item, "d")
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    Some(Page {
        slots,
        ips,
        details: details
            .into_iter()
            .filter_map(|(t, h, id)| Some((t, u64::from_str_radix(&h, 16).ok()?, id)))
            .collect(),
    })
}

fn page_item(pk: String, page: &Page, base: i64, expires_at: i64) -> HashMap<String, Av> {
    let details: Vec<(i64, String, &str)> = page
        .details
        .iter()
        .map(|(t, h, id)| (*t, format!("{h:016x}"), id.as_str()))
        .collect();
    HashMap::from([
        ("pk".to_string(), Av::S(pk)),
        (
            "e".to_string(),
            Av::B(encode_slots(&page.slots, base).into()),
        ),
        (
            "ips".to_string(),
            Av::L(page.ips.iter().map(|i| Av::S(i.clone())).collect()),
        ),
        (
            "d".to_string(),
            Av::S(serde_json::to_string(&details).unwrap_or_default()),
        ),
        ("expires_at".to_string(), n(expires_at)),
    ])
}

impl State for DynamoState {
    fn begin(&mut self, identities: &[u64]) -> Result<(), StateError> {
        self.windows.clear();
        self.keys.clear();
        self.rollups.clear();
        self.batch_sightings.clear();
        let unknown: Vec<u64> = {
            let mut set = HashSet::new();
            identities
                .iter()
                .copied()
                .filter(|id| !self.seen.contains_key(id) && set.insert(*id))
                .collect()
        };
        let pks: Vec<String> = unknown.iter().map(|id| format!("seen#{id:016x}")).collect();
        let items = self.get_many(&pks)?;
        for (id, pk) in unknown.iter().zip(&pks) {
            let owner = items
                .get(pk)
                .and_then(|i| get_s(i, "owner"))
                .map(str::to_string);
            self.seen.insert(*id, owner);
        }
        Ok(())
    }

    fn first_sighting(
        &mut self,
        identity: u64,
        owner: &str,
        _time: Option<i64>,
    ) -> Result<bool, StateError> {
        if let Some(Some(by)) = self.seen.get(&identity) {
            if by != owner {
                return Ok(false);
            }
        }
        self.batch_sightings.push((identity, owner.to_string()));
        Ok(true)
    }

    fn window_add(
        &mut self,
        rule: &str,
        group: &str,
        entry: Entry,
        spec: &Spec,
    ) -> Result<Added, StateError> {
        let base = window_pk(rule, group);
        let fresh = !self.windows.contains_key(&base);
        self.load(&base, spec, entry.time, fresh)?;
        let cached = self
            .windows
            .get_mut(&base)
            .expect("load() caches the window");
        Ok(cached.window.add(entry, spec))
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
        if !self.keys.contains_key(&pk) {
            let item = self.get_many(std::slice::from_ref(&pk))?.remove(&pk);
            let record = item.as_ref().and_then(|i| {
                Some(KeyRecord {
                    since: get_n(i, "since")?,
                    trigger: u64::from_str_radix(get_s(i, "trigger")?, 16).ok()?,
                })
            });
            self.keys.insert(
                pk.clone(),
                CachedKey {
                    record,
                    version: item.as_ref().and_then(|i| get_n(i, "v")),
                    dirty: false,
                    cooldown: cooldown.unwrap_or(0),
                },
            );
        }
        let cached = self.keys.get_mut(&pk).expect("cached above");
        let (decision, store) = decide_key(cached.record, identity, time, cooldown);
        if let Some(record) = store {
            cached.record = Some(record);
            cached.dirty = true;
        }
        Ok(decision)
    }

    fn rollup_add(
        &mut self,
        rule: &Rule,
        follow: &Follow,
        e: &Event,
        identity: u64,
    ) -> Result<(), StateError> {
        let due = follow
            .until
            .saturating_add(self.rollup_delay)
            .max(trailwatch_now());
        let bucket = due.div_euclid(ROLLUP_BUCKET);
        let pk = format!("rollup#{}#{bucket}", follow.follows);
        if !self.rollups.contains_key(&pk) {
            let item = self.get_many(std::slice::from_ref(&pk))?.remove(&pk);
            let stored = item
                .as_ref()
                .and_then(|i| get_s(i, "r"))
                .and_then(|r| serde_json::from_str::<Rollup>(r).ok());
            self.rollups.insert(
                pk.clone(),
                CachedRollup {
                    rollup: stored.unwrap_or_else(|| Rollup::new(rule, follow, e)),
                    bucket,
                    version: item.as_ref().and_then(|i| get_n(i, "v")),
                    dirty: false,
                },
            );
        }
        let cached = self.rollups.get_mut(&pk).expect("cached above");
        let before = cached.rollup.count;
        cached.rollup.add(e, identity);
        cached.dirty |= cached.rollup.count != before;
        Ok(())
    }

    fn rollups_due(&mut self, before: i64) -> Result<Vec<Rollup>, StateError> {
        let now = self.schedule_time.unwrap_or_else(trailwatch_now);
        let last = now.div_euclid(ROLLUP_BUCKET) - SETTLE_BUCKETS;
        let cursor_pk = "rollups#cursor".to_string();
        let head = self
            .get_many(std::slice::from_ref(&cursor_pk))?
            .remove(&cursor_pk);
        let done = head.as_ref().and_then(|i| get_n(i, "b"));
        let version = head.as_ref().and_then(|i| get_n(i, "v"));
        let first = done
            .map_or(last - MAX_BUCKETS, |d| d + 1)
            .max(last - MAX_BUCKETS);
        if first > last {
            return Ok(Vec::new());
        }
        let buckets: Vec<String> = (first..=last).map(|b| format!("rollups#{b}")).collect();
        let lists = self.get_many(&buckets)?;
        let mut pks = Vec::new();
        for (pk, item) in &lists {
            let Some(b) = pk.strip_prefix("rollups#") else {
                continue;
            };
            if let Some(Av::Ss(follows)) = item.get("f") {
                pks.extend(follows.iter().map(|f| format!("rollup#{f}#{b}")));
            }
        }
        pks.sort();
        let items = self.get_many(&pks)?;
        let mut out = Vec::new();
        for pk in pks {
            let Some(r) = items
                .get(&pk)
                .and_then(|i| get_s(i, "r"))
                .and_then(|r| serde_json::from_str::<Rollup>(r).ok())
            else {
                continue;
            };
            if r.until <= before {
                self.handed_out.push(pk);
                out.push(r);
            }
        }
        self.cursor = Some((last, version));
        out.sort_by(|a, b| (a.until, &a.follows).cmp(&(b.until, &b.follows)));
        Ok(out)
    }

    fn commit(&mut self) -> Result<bool, StateError> {
        let now = trailwatch_now();
        let retention = self.retention();
        let mut pages = Vec::new();
        let mut heads = Vec::new();
        for (base, c) in &mut self.windows {
            let (changed, alerted_changed) = c.window.take_changes();
            let expires = now + c.spec.window + retention;
            let w = c.spec.bucket_width();
            let pages_changed = !changed.is_empty();
            for key in changed {
                let page = &c.window.pages[&key];
                pages.push(Write {
                    item: page_item(page_pk(base, key), page, key.0 * w, expires),
                    version: c.versions.get(&key).copied().flatten(),
                });
            }
            // The head is written (its version bumped) whenever any page changes, not only
            // its spans: two invocations that add events to different pages of one window
            // both read the head's version, so the second one's write fails and it runs
            // its batch again, seeing the first one's events. Otherwise each would check
            // only the page it wrote, and a burst split between them would never cross.
            if alerted_changed || pages_changed {
                heads.push(Write {
                    item: HashMap::from([
                        ("pk".to_string(), Av::S(base.clone())),
                        ("a".to_string(), Av::S(alerted_json(&c.window.alerted))),
                        ("expires_at".to_string(), n(expires)),
                    ]),
                    version: c.alerted_version,
                });
            }
        }
        for (pk, k) in &self.keys {
            if let (true, Some(r)) = (k.dirty, k.record) {
                heads.push(Write {
                    item: HashMap::from([
                        ("pk".to_string(), Av::S(pk.clone())),
                        ("since".to_string(), n(r.since)),
                        ("trigger".to_string(), Av::S(format!("{:016x}", r.trigger))),
                        ("expires_at".to_string(), n(now + k.cooldown + retention)),
                    ]),
                    version: k.version,
                });
            }
        }
        // A new roll-up is listed in its bucket first: a listing without its item is
        // skipped by the schedule, an item without its listing would never be sent.
        let mut listed = Vec::new();
        for (pk, r) in &self.rollups {
            if !r.dirty {
                continue;
            }
            if r.version.is_none() {
                listed.push((r.bucket, r.rollup.follows.clone()));
            }
            heads.push(Write {
                item: HashMap::from([
                    ("pk".to_string(), Av::S(pk.clone())),
                    (
                        "r".to_string(),
                        Av::S(serde_json::to_string(&r.rollup).unwrap_or_default()),
                    ),
                    ("expires_at".to_string(), n(now + retention)),
                ]),
                version: r.version,
            });
        }
        self.list_rollups(listed, now + retention)?;
        // Pages before the spans that alerted on them: a span is never recorded without
        // its events (a retry re-adds them either way; every add is idempotent).
        let ok = self.put_all(pages)? && self.put_all(heads)?;
        self.windows.clear();
        self.keys.clear();
        self.rollups.clear();
        if !ok {
            // Another invocation changed the same window or key: pause (jittered, growing),
            // then the pipeline reads again and runs the batch again.
            self.conflicts += 1;
            let exp = 10u64 << self.conflicts.min(7);
            let jitter = now_ms() % exp.max(1);
            std::thread::sleep(Duration::from_millis(exp / 2 + jitter / 2));
            return Ok(false);
        }
        self.conflicts = 0;
        self.sightings.append(&mut self.batch_sightings);
        Ok(true)
    }

    fn delivered(&mut self, owner: &str) -> Result<(), StateError> {
        self.forget_handed_out()?;
        let expires = trailwatch_now() + self.retention();
        let mine: Vec<u64> = {
            let mut set = HashSet::new();
            self.sightings
                .iter()
                .filter(|(id, o)| o == owner && set.insert(*id))
                .map(|(id, _)| *id)
                .collect()
        };
        self.sightings.retain(|(_, o)| o != owner);
        for chunk in mine.chunks(WRITE_BATCH) {
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|id| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .item("pk", Av::S(format!("seen#{id:016x}")))
                                .item("owner", Av::S(owner.into()))
                                .item("expires_at", n(expires))
                                .build()
                                .expect("pk and item are set"),
                        )
                        .build()
                })
                .collect();
            self.batch_write(requests, "recording sightings")?;
            for id in chunk {
                self.seen.insert(*id, Some(owner.to_string()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailwatch::state::window::Slot;

    fn page() -> Page {
        let slot = |time, identity, distinct, ip| Slot {
            time,
            identity,
            distinct,
            ip,
        };
        Page {
            slots: vec![slot(1_000, 7, 0, 0), slot(1_030, u64::MAX, 42, 1)],
            ips: vec!["192.0.2.1".into(), "2001:db8::1".into()],
            details: vec![(1_000, 7, "id-a".into()), (1_030, u64::MAX, "id-b".into())],
        }
    }

    /// A page reads back as written, keyed and expiring as asked.
    #[test]
    fn a_page_item_reads_back_as_the_page() {
        let item = page_item("win#r#1#2#0".into(), &page(), 900, 1_700_000_000);
        assert_eq!(get_s(&item, "pk"), Some("win#r#1#2#0"));
        assert_eq!(get_n(&item, "expires_at"), Some(1_700_000_000));
        assert_eq!(parse_page(&item, 900), Some(page()));
        let mut broken = item.clone();
        broken.remove("e");
        assert_eq!(parse_page(&broken, 900), None, "no events, no page");
        let mut bare = item;
        bare.remove("ips");
        bare.remove("d");
        let read = parse_page(&bare, 900).expect("events alone make a page");
        assert_eq!(
            (read.slots, read.ips.len(), read.details.len()),
            (page().slots, 0, 0)
        );
    }

    #[test]
    fn alerted_spans_read_back_and_bad_text_reads_as_none() {
        let spans = [
            Alerted {
                start: 5,
                trigger: 0xdead_beef,
            },
            Alerted {
                start: -1,
                trigger: u64::MAX,
            },
        ];
        let json = alerted_json(&spans);
        assert_eq!(json, r#"[[5,"00000000deadbeef"],[-1,"ffffffffffffffff"]]"#);
        assert_eq!(parse_alerted(&json), spans);
        assert_eq!(parse_alerted("not json"), vec![]);
        assert_eq!(
            parse_alerted(r#"[[1,"zz"],[2,"0a"]]"#),
            vec![Alerted {
                start: 2,
                trigger: 10
            }]
        );
    }

    /// Each rule and group has its own window, and each page its own item under it.
    #[test]
    fn keys_name_the_rule_the_group_and_the_page() {
        let a = window_pk("burst", "alice");
        assert!(
            a.starts_with("win#burst#") && a.len() == "win#burst#".len() + 16,
            "{a}"
        );
        assert_ne!(a, window_pk("burst", "bob"));
        assert_ne!(a, window_pk("other", "alice"));
        assert_eq!(window_pk("burst", "alice"), a);
        assert_eq!(page_pk(&a, (12, 3)), format!("{a}#12#3"));
    }

    #[test]
    fn a_deadline_is_worth_a_retry() {
        let e = deadline();
        assert!(e.retryable);
        assert!(e.message.contains("deadline"), "{}", e.message);
    }
}
