//! What the job costs without a rule language, for `make bench` to compare against: gunzip
//! (flate2 on zlib-rs), parse every record into a typed struct of the fields rules usually
//! need (borrowed strings, no tree), and evaluate the 50 equality predicates of
//! `shared/bench/preds.json`. No rule language, no state, no alerts. Two pipelines:
//!
//! - `serde`: the ordinary one — the whole file gunzipped into memory and parsed with
//!   serde_json into a `Vec` of typed records (memory grows with the file);
//! - `sonic`: the fastest we could build — gunzip in 1 MiB chunks, records cut out of each
//!   chunk by sonic-rs's validating lazy array iterator and parsed with sonic-rs into the
//!   same typed struct (memory bounded by a chunk and the largest record). `make bench`
//!   builds it for x86-64-v3 (AVX2, PCLMULQDQ), which sonic-rs selects at compile time.
//!
//! usage: baseline serde|sonic FILE.json.gz PREDS.json [ITERS]  → one JSON line (CPU-time
//! median).

use serde::Deserialize;
use std::borrow::Cow;
use std::io::Read;

#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow, rename = "Records")]
    records: Vec<Rec<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Ident<'a> {
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    principal_id: Option<&'a str>,
    arn: Option<&'a str>,
    account_id: Option<&'a str>,
    user_name: Option<&'a str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resp<'a> {
    #[serde(rename = "ConsoleLogin", borrow)]
    console_login: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rec<'a> {
    #[serde(borrow, default, deserialize_with = "ident")]
    user_identity: Ident<'a>,
    event_source: Option<&'a str>,
    event_name: Option<&'a str>,
    aws_region: Option<&'a str>,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<&'a str>,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "resp")]
    response_elements: Resp<'a>,
    #[serde(rename = "eventID")]
    event_id: Option<&'a str>,
    #[serde(rename = "sharedEventID")]
    shared_event_id: Option<&'a str>,
    recipient_account_id: Option<&'a str>,
}

/// Objects only; anything else (null, a string) reads as empty.
fn ident<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Ident<'de>, D::Error> {
    Ok(Option::<Ident<'de>>::deserialize(d)
        .unwrap_or_default()
        .unwrap_or_default())
}

fn resp<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Resp<'de>, D::Error> {
    Ok(Option::<Resp<'de>>::deserialize(d)
        .unwrap_or_default()
        .unwrap_or_default())
}

fn field<'a>(r: &Rec<'a>, name: &str) -> Option<&'a str> {
    match name {
        "awsRegion" => r.aws_region,
        "errorCode" => r.error_code,
        "errorMessage" => r.error_message,
        "eventID" => r.event_id,
        "eventName" => r.event_name,
        "eventSource" => r.event_source,
        "recipientAccountId" => r.recipient_account_id,
        "responseElements.ConsoleLogin" => r.response_elements.console_login,
        "sharedEventID" => r.shared_event_id,
        "sourceIPAddress" => r.source_ip_address,
        "userIdentity.accountId" => r.user_identity.account_id,
        "userIdentity.arn" => r.user_identity.arn,
        "userIdentity.principalId" => r.user_identity.principal_id,
        "userIdentity.type" => r.user_identity.kind,
        "userIdentity.userName" => r.user_identity.user_name,
        _ => None,
    }
}

fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Counts the predicates that hold on `r`.
fn count(r: &Rec<'_>, preds: &[(String, String)], hits: &mut [usize]) {
    for (i, (f, v)) in preds.iter().enumerate() {
        if field(r, f) == Some(v.as_str()) {
            hits[i] += 1;
        }
    }
}

/// serde_json: the whole document in memory. Returns (events, bytes).
fn serde_pipeline(
    compressed: &[u8],
    preds: &[(String, String)],
    hits: &mut [usize],
) -> (usize, usize) {
    let mut json = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .read_to_end(&mut json)
        .expect("gunzip");
    let doc: Doc = serde_json::from_slice(&json).expect("a Records document");
    for r in &doc.records {
        count(r, preds, hits);
    }
    (doc.records.len(), json.len())
}

/// The typed record with `Cow` strings: sonic-rs borrows those without escapes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SonicRec<'a> {
    #[serde(borrow, default)]
    user_identity: Option<SonicIdent<'a>>,
    #[serde(borrow)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    aws_region: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "sourceIPAddress")]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    response_elements: Option<SonicResp<'a>>,
    #[serde(borrow, rename = "eventID")]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "sharedEventID")]
    shared_event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    recipient_account_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SonicIdent<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct SonicResp<'a> {
    #[serde(borrow, rename = "ConsoleLogin")]
    console_login: Option<Cow<'a, str>>,
}

impl<'a> SonicRec<'a> {
    fn rec(&'a self) -> Rec<'a> {
        let s = |c: &'a Option<Cow<'a, str>>| c.as_deref();
        let u = self.user_identity.as_ref();
        Rec {
            user_identity: Ident {
                kind: u.and_then(|u| s(&u.kind)),
                principal_id: u.and_then(|u| s(&u.principal_id)),
                arn: u.and_then(|u| s(&u.arn)),
                account_id: u.and_then(|u| s(&u.account_id)),
                user_name: u.and_then(|u| s(&u.user_name)),
            },
            event_source: s(&self.event_source),
            event_name: s(&self.event_name),
            aws_region: s(&self.aws_region),
            source_ip_address: s(&self.source_ip_address),
            error_code: s(&self.error_code),
            error_message: s(&self.error_message),
            response_elements: Resp {
                console_login: self
                    .response_elements
                    .as_ref()
                    .and_then(|r| s(&r.console_login)),
            },
            event_id: s(&self.event_id),
            shared_event_id: s(&self.shared_event_id),
            recipient_account_id: s(&self.recipient_account_id),
        }
    }
}

const CHUNK: usize = 1 << 20;

/// sonic-rs, bounded: 1 MiB chunks of the gunzipped stream, each read as the rest of the
/// Records array (`[` put where the last whole record's `,` was). Returns (events, bytes).
fn sonic_pipeline(
    compressed: &[u8],
    preds: &[(String, String)],
    hits: &mut [usize],
) -> (usize, usize) {
    let mut gz = flate2::read::MultiGzDecoder::new(compressed);
    let mut buf: Vec<u8> = Vec::with_capacity(2 * CHUNK);
    let (mut events, mut bytes, mut want) = (0, 0, CHUNK);
    let mut eof = false;
    // The document's head, up to the array's `[`.
    let mut started = false;
    loop {
        // Top up to `want` bytes past what is held.
        let held = buf.len();
        buf.resize(held + want, 0);
        let mut got = 0;
        while got < want && !eof {
            match gz.read(&mut buf[held + got..]).expect("gunzip") {
                0 => eof = true,
                n => got += n,
            }
        }
        buf.truncate(held + got);
        bytes += got;
        if !started {
            let at = buf
                .iter()
                .position(|b| *b == b'[')
                .expect("a Records array");
            buf.drain(..at);
            started = true;
        }
        let mut last_end = 0;
        for item in sonic_rs::to_array_iter(&buf[..]) {
            let Ok(lazy) = item else { break };
            let raw = lazy.as_raw_str();
            last_end = raw.as_ptr() as usize - buf.as_ptr() as usize + raw.len();
            let r: SonicRec = sonic_rs::from_str(raw).expect("a record");
            count(&r.rec(), preds, hits);
            events += 1;
        }
        let rest = buf[last_end..]
            .iter()
            .position(|b| !b.is_ascii_whitespace());
        match rest.map(|i| (last_end + i, buf[last_end + i])) {
            Some((_, b']')) => return (events, bytes),
            Some((at, b',')) if last_end > 0 => {
                buf.drain(..at);
                buf[0] = b'[';
                want = CHUNK;
            }
            // A record larger than what is held (or the first): read more.
            _ if !eof => want = buf.len().max(CHUNK),
            _ => panic!("the Records array is cut short"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.len() < 3 {
        eprintln!(
            "usage: baseline serde|sonic FILE.json.gz PREDS.json [ITERS] (run by `make bench`)"
        );
        return;
    }
    let (mode, path, preds_path) = (&args[0], &args[1], &args[2]);
    let iters: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let preds: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(preds_path).unwrap()).unwrap();
    let preds: Vec<(String, String)> = preds
        .iter()
        .map(|p| {
            (
                p["field"].as_str().unwrap().to_string(),
                p["equals"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let compressed = std::fs::read(path).unwrap();
    let mut times = Vec::new();
    let (mut events, mut bytes, mut hits) = (0usize, 0usize, vec![0usize; preds.len()]);
    for _ in 0..iters + 1 {
        let t = cpu_seconds();
        hits.iter_mut().for_each(|h| *h = 0);
        (events, bytes) = match mode.as_str() {
            "sonic" => sonic_pipeline(&compressed, &preds, &mut hits),
            _ => serde_pipeline(&compressed, &preds, &mut hits),
        };
        times.push(cpu_seconds() - t);
    }
    times.remove(0); // warm-up
    times.sort_by(f64::total_cmp);
    let med = times[times.len() / 2];
    println!(
        "{}",
        serde_json::json!({"variant": mode, "bytes": bytes, "events": events, "iters": iters,
            "cpu_median_s": med, "cpu_mb_s": bytes as f64 / med / 1e6, "cpu_ev_s": events as f64 / med,
            "rule_hits": hits})
    );
}
