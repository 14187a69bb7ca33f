//! The practical limit of this job on one core, for `make bench` to compare against:
//! gunzip (flate2 on zlib-rs), parse every record into a typed struct of the fields rules
//! usually need (borrowed strings, no tree), and evaluate the 50 equality predicates of
//! `../shared/bench/preds.json`. No rule language, no state, no alerts.
//!
//! usage: baseline FILE.json.gz PREDS.json [ITERS]  → one JSON line (CPU-time median).

use serde::Deserialize;
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

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.len() < 2 {
        eprintln!("usage: baseline FILE.json.gz PREDS.json [ITERS] (run by `make bench`)");
        return;
    }
    let (path, preds_path) = (&args[0], &args[1]);
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
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
        let mut json = Vec::new();
        flate2::read::MultiGzDecoder::new(&compressed[..])
            .read_to_end(&mut json)
            .unwrap();
        let doc: Doc = serde_json::from_slice(&json).unwrap();
        hits.iter_mut().for_each(|h| *h = 0);
        for r in &doc.records {
            for (i, (f, v)) in preds.iter().enumerate() {
                if field(r, f) == Some(v.as_str()) {
                    hits[i] += 1;
                }
            }
        }
        events = doc.records.len();
        bytes = json.len();
        times.push(cpu_seconds() - t);
    }
    times.remove(0); // warm-up
    times.sort_by(f64::total_cmp);
    let med = times[times.len() / 2];
    println!(
        "{}",
        serde_json::json!({"variant": "baseline", "bytes": bytes, "events": events, "iters": iters,
            "cpu_median_s": med, "cpu_mb_s": bytes as f64 / med / 1e6, "cpu_ev_s": events as f64 / med,
            "rule_hits": hits})
    );
}
