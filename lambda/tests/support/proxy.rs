//! A fault-injecting HTTP proxy for the function's AWS calls (`AWS_ENDPOINT_URL` points at
//! it; it forwards to moto_server). It fails a chosen share of DynamoDB and SNS Publish
//! calls, either before moto sees the request (the call had no effect) or after (the
//! call took effect but its answer is lost), from a seeded generator so a run repeats.
//! It can also trickle S3 object bodies to make a file slow to read.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// 500 InternalFailure; moto never sees the request.
    Error500,
    /// 429 with the service's throttling code; moto never sees the request.
    Throttle,
    /// The connection is closed without an answer; moto never sees the request.
    Drop,
    /// Forwarded after a 1 s pause (a slow answer, not a failure).
    Slow,
    /// Forwarded, then the connection is closed: done, but the answer is lost.
    LostAnswer,
    /// Forwarded, then answered 500: done, but reported as failed.
    After500,
}

impl Fault {
    pub const BEFORE: [Fault; 4] = [Fault::Error500, Fault::Throttle, Fault::Drop, Fault::Slow];
    pub const ALL: [Fault; 6] = [
        Fault::Error500,
        Fault::Throttle,
        Fault::Drop,
        Fault::Slow,
        Fault::LostAnswer,
        Fault::After500,
    ];

    /// Moto processed the request, yet the caller sees a failure.
    pub fn after(self) -> bool {
        matches!(self, Fault::LostAnswer | Fault::After500)
    }
}

/// Which calls fail, how often and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Share of targeted calls (DynamoDB, SNS Publish/PublishBatch) that get a fault.
    pub rate: f64,
    pub kinds: Vec<Fault>,
    /// Only calls whose operation name contains one of these (empty: all targeted).
    pub only: Vec<&'static str>,
    /// Only calls whose (URL-decoded) body contains this.
    pub body_contains: Option<&'static str>,
    /// At most this many faults in all.
    pub limit: Option<u64>,
}

impl Plan {
    pub fn none() -> Plan {
        Plan {
            rate: 0.0,
            kinds: Vec::new(),
            only: Vec::new(),
            body_contains: None,
            limit: None,
        }
    }
}

/// What the proxy saw and did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Targeted calls by operation.
    pub calls: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Faults injected by operation.
    pub faults_by_op: BTreeMap<String, u64>,
    /// Alerts in Publish/PublishBatch calls that SNS accepted but whose answer was lost
    /// (each may reach subscribers twice when the call is retried).
    pub publish_entries_after_fault: u64,
    /// Their fingerprints.
    pub after_fault_fingerprints: std::collections::BTreeSet<String>,
    /// DynamoDB write capacity units the calls would consume, estimated from the request
    /// bodies (1 per started KiB of each item written; an upper bound, JSON being larger
    /// than DynamoDB's own item size).
    pub write_units: u64,
    /// Every call by operation, S3 included, faults or not.
    pub all_calls: BTreeMap<String, u64>,
    /// Read capacity units likewise (strongly consistent: 1 per key or item read, as the
    /// items read here are under 4 KiB).
    pub read_units: u64,
}

impl Stats {
    pub fn injected(&self) -> u64 {
        self.faults.values().sum()
    }
    /// Faults that fail the call (a slow answer does not).
    pub fn failures(&self) -> u64 {
        self.injected() - self.faults.get("Slow").copied().unwrap_or(0)
    }
    pub fn targeted(&self) -> u64 {
        self.calls.values().sum()
    }
}

struct Inner {
    upstream: String,
    plan: Plan,
    rng: u64,
    stats: Stats,
    /// S3 GetObject bodies go out `bytes` at a time, `pause` apart.
    trickle: Option<(usize, Duration)>,
}

#[derive(Clone)]
pub struct Proxy {
    pub endpoint: String,
    inner: Arc<Mutex<Inner>>,
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    /// `DynamoDB.PutItem`, `SNS.PublishBatch`, or `S3.GET` (untargeted).
    fn operation(&self) -> (String, bool) {
        if let Some(t) = self.header("x-amz-target") {
            let op = t.rsplit('.').next().unwrap_or(t);
            return (format!("DynamoDB.{op}"), true);
        }
        let body = String::from_utf8_lossy(&self.body);
        if let Some(action) = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .map(str::to_string)
        {
            let targeted = action == "Publish" || action == "PublishBatch";
            return (format!("SNS.{action}"), targeted);
        }
        let method = self.head[0].split(' ').next().unwrap_or("").to_string();
        (format!("S3.{method}"), false)
    }

    /// Estimated DynamoDB (write, read) capacity units of this call.
    fn capacity_units(&self, op: &str) -> (u64, u64) {
        let body = String::from_utf8_lossy(&self.body);
        let kib = |n: usize| n.div_ceil(1024).max(1) as u64;
        match op {
            "DynamoDB.PutItem" | "DynamoDB.UpdateItem" | "DynamoDB.DeleteItem" => {
                (kib(self.body.len()), 0)
            }
            "DynamoDB.BatchWriteItem" => {
                let items = body.matches("PutRequest").count().max(1);
                (items as u64 * kib(self.body.len() / items), 0)
            }
            "DynamoDB.GetItem" => (0, 1),
            // Each key: `{"pk":{"S":...}}`.
            "DynamoDB.BatchGetItem" => (0, body.matches("\"pk\"").count() as u64),
            _ => (0, 0),
        }
    }

    /// The body with `%XX` and `+` decoded (form bodies).
    fn decoded_body(&self) -> String {
        let b = &self.body;
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    match u8::from_str_radix(&String::from_utf8_lossy(&b[i + 1..i + 3]), 16) {
                        Ok(c) => {
                            out.push(c);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Alert fingerprints named in a publish.
    fn fingerprints(&self) -> Vec<String> {
        let body = self.decoded_body();
        body.match_indices("fingerprint")
            .filter_map(|(i, _)| {
                let rest =
                    body[i + "fingerprint".len()..].trim_start_matches(['\\', '"', ':', ' ']);
                let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                (hex.len() >= 8).then_some(hex)
            })
            .collect()
    }

    fn publish_entries(&self) -> u64 {
        let body = String::from_utf8_lossy(&self.body);
        if body.contains("Action=PublishBatch") {
            body.matches(".Id=").count() as u64
        } else {
            1
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        for (i, h) in self.head.iter().enumerate() {
            let lower = h.to_ascii_lowercase();
            if i > 0
                && (lower.starts_with("connection:") || lower.starts_with("transfer-encoding:"))
            {
                continue;
            }
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(b"\r\n");
            if i == 0 {
                out.extend_from_slice(b"Connection: close\r\n");
                if self.header("content-length").is_none() {
                    out.extend_from_slice(
                        format!("Content-Length: {}\r\n", self.body.len()).as_bytes(),
                    );
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let mut req = Request {
        head,
        body: Vec::new(),
    };
    if let Some(n) = req.header("content-length").and_then(|v| v.parse().ok()) {
        req.body.resize(n, 0);
        r.read_exact(&mut req.body).ok()?;
    } else if req
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(req)
}

fn error_answer(op: &str, status: &str, code: &str) -> Vec<u8> {
    let (ctype, body) = if op.starts_with("DynamoDB.") {
        (
            "application/x-amz-json-1.0",
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected by the test proxy"}}"#
            ),
        )
    } else {
        (
            "text/xml",
            format!("<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"),
        )
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `answer` with `Connection: close` and a length, since the proxy closes after it.
fn closing(answer: &[u8]) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let body = &answer[end + 4..];
    let mut out = String::new();
    let mut has_length = false;
    for (i, line) in head.split("\r\n").enumerate() {
        let lower = line.to_ascii_lowercase();
        if i > 0 && lower.starts_with("connection:") {
            continue;
        }
        has_length |=
            lower.starts_with("content-length:") || lower.starts_with("transfer-encoding:");
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !has_length {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl Proxy {
    /// A proxy in front of `upstream` (`http://127.0.0.1:port`), injecting nothing yet.
    pub fn start(upstream: &str, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            endpoint: format!("http://{}", listener.local_addr().unwrap()),
            inner: Arc::new(Mutex::new(Inner {
                upstream: upstream.trim_start_matches("http://").to_string(),
                plan: Plan::none(),
                rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                stats: Stats::default(),
                trickle: None,
            })),
        };
        let p = proxy.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let p = p.clone();
                std::thread::spawn(move || p.serve(conn));
            }
        });
        proxy
    }

    pub fn set_plan(&self, plan: Plan) {
        self.inner.lock().unwrap().plan = plan;
    }

    pub fn set_trickle(&self, trickle: Option<(usize, Duration)>) {
        self.inner.lock().unwrap().trickle = trickle;
    }

    pub fn stats(&self) -> Stats {
        self.inner.lock().unwrap().stats.clone()
    }

    /// Counts the call and draws its fault, if any.
    fn draw(&self, req: &Request) -> (String, Option<Fault>) {
        let (op, targeted) = req.operation();
        let mut g = self.inner.lock().unwrap();
        *g.stats.all_calls.entry(op.clone()).or_default() += 1;
        let (w, r) = req.capacity_units(&op);
        g.stats.write_units += w;
        g.stats.read_units += r;
        if !targeted || !(g.plan.only.is_empty() || g.plan.only.iter().any(|o| op.contains(o))) {
            return (op, None);
        }
        if let Some(needle) = g.plan.body_contains {
            if !req.decoded_body().contains(needle) {
                return (op, None);
            }
        }
        *g.stats.calls.entry(op.clone()).or_default() += 1;
        if g.plan.limit.is_some_and(|l| g.stats.injected() >= l) {
            return (op, None);
        }
        // xorshift64*: reproducible for a seed.
        let mut next = || {
            g.rng ^= g.rng >> 12;
            g.rng ^= g.rng << 25;
            g.rng ^= g.rng >> 27;
            g.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let roll = (next() >> 11) as f64 / (1u64 << 53) as f64;
        let pick = next();
        if roll >= g.plan.rate || g.plan.kinds.is_empty() {
            return (op, None);
        }
        let fault = g.plan.kinds[(pick % g.plan.kinds.len() as u64) as usize];
        *g.stats.faults.entry(format!("{fault:?}")).or_default() += 1;
        *g.stats.faults_by_op.entry(op.clone()).or_default() += 1;
        if fault.after() && op.starts_with("SNS.") {
            g.stats.publish_entries_after_fault += req.publish_entries();
            g.stats.after_fault_fingerprints.extend(req.fingerprints());
        }
        (op, Some(fault))
    }

    fn forward(&self, req: &Request) -> Option<Vec<u8>> {
        let upstream = self.inner.lock().unwrap().upstream.clone();
        let mut s = TcpStream::connect(upstream).ok()?;
        s.write_all(&req.bytes()).ok()?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).ok()?;
        Some(closing(&answer))
    }

    fn serve(&self, conn: TcpStream) {
        let Ok(mut w) = conn.try_clone() else { return };
        let mut r = BufReader::new(conn);
        let Some(req) = read_request(&mut r) else {
            return;
        };
        {
            let (op, fault) = self.draw(&req);
            let answer = match fault {
                Some(Fault::Drop) => None,
                Some(Fault::Error500) => Some(error_answer(
                    &op,
                    "500 Internal Server Error",
                    "InternalFailure",
                )),
                Some(Fault::Throttle) => {
                    let code = if op.starts_with("DynamoDB.") {
                        "ThrottlingException"
                    } else {
                        "Throttling"
                    };
                    Some(error_answer(&op, "429 Too Many Requests", code))
                }
                Some(Fault::Slow) => {
                    std::thread::sleep(Duration::from_secs(1));
                    self.forward(&req)
                }
                Some(Fault::LostAnswer) => {
                    self.forward(&req);
                    None
                }
                Some(Fault::After500) => {
                    self.forward(&req);
                    Some(error_answer(
                        &op,
                        "500 Internal Server Error",
                        "InternalFailure",
                    ))
                }
                None => self.forward(&req),
            };
            let Some(answer) = answer else {
                let _ = w.shutdown(Shutdown::Both);
                return;
            };
            let trickle = self.inner.lock().unwrap().trickle;
            let sent = match trickle {
                Some((bytes, pause)) if op == "S3.GET" => {
                    answer.chunks(bytes.max(1)).try_for_each(|c| {
                        std::thread::sleep(pause);
                        w.write_all(c).and_then(|_| w.flush())
                    })
                }
                _ => w.write_all(&answer),
            };
            // Every answer says `Connection: close`: one request per connection.
            let _ = sent;
            let _ = w.shutdown(Shutdown::Both);
        }
    }
}
