//! Test harness: `moto_server` on a free loopback port (real HTTP AWS APIs), a small
//! Lambda Runtime API that feeds events to the real `trailwatch-lambda` binary, and the
//! AWS resources the function uses. Never talks to anything but 127.0.0.1.
#![allow(dead_code)]

pub mod proxy;

use aws_config::BehaviorVersion;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The project's virtual environment (`make venv`) when there is one, else `python3`.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// A `moto_server` process, stopped on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (`make venv` installs moto into .venv from requirements-dev.txt)");
        let start = Instant::now();
        let mut child = child;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server exited ({status}): is moto installed? `make venv` installs it into .venv");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    pub async fn config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bucket, topic, queue subscribed to the topic, and state table.
pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub bucket: String,
    pub topic_arn: String,
    pub queue_url: String,
    pub table: String,
}

impl Aws {
    pub async fn create(moto: &Moto) -> Aws {
        let conf = moto.config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        let sns = aws_sdk_sns::Client::new(&conf);
        let sqs = aws_sdk_sqs::Client::new(&conf);
        let dynamodb = aws_sdk_dynamodb::Client::new(&conf);
        let bucket = "trail-logs".to_string();
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let topic_arn = sns
            .create_topic()
            .name("trailwatch-alerts")
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name("alerts")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn =
            attrs.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        use aws_sdk_dynamodb::types::*;
        let table = "trailwatch-state".to_string();
        dynamodb
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Aws {
            s3,
            sns,
            sqs,
            dynamodb,
            bucket,
            topic_arn,
            queue_url,
            table,
        }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }

    /// Every message now in the alert queue: (alert JSON, message attributes).
    pub async fn alerts(&self) -> Vec<(Value, HashMap<String, String>)> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let msgs = got.messages.unwrap_or_default();
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                let envelope: Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
                let alert: Value = serde_json::from_str(envelope["Message"].as_str().unwrap())
                    .expect("the sqs form is the alert JSON");
                let attrs = envelope["MessageAttributes"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| {
                                (k.clone(), v["Value"].as_str().unwrap_or("").to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((alert, attrs));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

#[derive(Default)]
struct Queue {
    /// When the function first asked for an event (its init is done by then).
    first_poll: Option<Instant>,
    next_id: u64,
    pending: VecDeque<(String, Vec<u8>)>,
    done: HashMap<String, Result<Value, Value>>,
    /// Time each invocation gets (Lambda-Runtime-Deadline-Ms); 60 s unless set.
    budget: Option<Duration>,
}

/// A minimal Lambda Runtime API on loopback.
#[derive(Clone)]
pub struct Runtime {
    pub addr: String,
    q: Arc<(Mutex<Queue>, Condvar)>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut len, mut chunked) = (0usize, false);
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().ok()?,
            "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len, 0);
        r.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

impl Runtime {
    pub fn start() -> Runtime {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let rt = Runtime {
            addr: listener.local_addr().unwrap().to_string(),
            q: Arc::default(),
        };
        let server = rt.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = server.clone();
                std::thread::spawn(move || s.serve(conn));
            }
        });
        rt
    }

    fn serve(&self, conn: TcpStream) {
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        while let Some((method, path, body)) = read_request(&mut r) {
            let (status, headers, out) = if method == "GET" && path.ends_with("/invocation/next") {
                let (lock, cv) = &*self.q;
                let mut q = lock.lock().unwrap();
                q.first_poll.get_or_insert_with(Instant::now);
                while q.pending.is_empty() {
                    q = cv.wait(q).unwrap();
                }
                let (id, event) = q.pending.pop_front().unwrap();
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + q.budget.unwrap_or(Duration::from_secs(60)).as_millis();
                let headers = format!(
                    "Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:trailwatch\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n"
                );
                ("200 OK", headers, event)
            } else if method == "POST" && (path.ends_with("/response") || path.ends_with("/error"))
            {
                let id = path.split('/').nth(4).unwrap_or("").to_string();
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (lock, cv) = &*self.q;
                let result = if path.ends_with("/response") {
                    Ok(value)
                } else {
                    Err(value)
                };
                lock.lock().unwrap().done.insert(id, result);
                cv.notify_all();
                ("202 Accepted", String::new(), b"{}".to_vec())
            } else {
                ("202 Accepted", String::new(), b"{}".to_vec())
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n", out.len());
            if w.write_all(head.as_bytes())
                .and_then(|_| w.write_all(&out))
                .is_err()
            {
                return;
            }
        }
    }

    /// Waits for the function's first poll and returns when it happened.
    pub fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let (lock, cv) = &*self.q;
        let start = Instant::now();
        let mut q = lock.lock().unwrap();
        while q.first_poll.is_none() && start.elapsed() < timeout {
            q = cv.wait_timeout(q, Duration::from_millis(5)).unwrap().0;
        }
        q.first_poll
    }

    /// How long each invocation may run (the deadline the function is told).
    pub fn set_budget(&self, budget: Duration) {
        self.q.0.lock().unwrap().budget = Some(budget);
    }

    /// Invokes the function with `event` and waits for its answer: `Ok(response)` or
    /// `Err(error document)`.
    pub fn invoke(&self, event: &Value) -> Result<Value, Value> {
        let id = {
            let mut q = self.q.0.lock().unwrap();
            q.next_id += 1;
            format!("req-{}", q.next_id)
        };
        self.invoke_as(&id, event)
    }

    /// Invokes with a chosen request id (Lambda's async retries keep the first one's).
    pub fn invoke_as(&self, id: &str, event: &Value) -> Result<Value, Value> {
        let (lock, cv) = &*self.q;
        lock.lock()
            .unwrap()
            .pending
            .push_back((id.to_string(), serde_json::to_vec(event).unwrap()));
        cv.notify_all();
        let start = Instant::now();
        let mut q = lock.lock().unwrap();
        loop {
            if let Some(r) = q.done.remove(id) {
                return r;
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "no answer to {id}"
            );
            q = cv.wait_timeout(q, Duration::from_millis(200)).unwrap().0;
        }
    }

    /// Lambda's asynchronous invocation: the event, then up to two retries with the same
    /// request id after `pause`. Returns every attempt's result; the event went to the
    /// dead-letter queue if the last one is an error.
    pub fn invoke_async(
        &self,
        id: &str,
        event: &Value,
        pause: Duration,
    ) -> Vec<Result<Value, Value>> {
        let mut attempts = Vec::new();
        for attempt in 0..3 {
            if attempt > 0 {
                std::thread::sleep(pause);
            }
            let r = self.invoke_as(id, event);
            let ok = r.is_ok();
            attempts.push(r);
            if ok {
                break;
            }
        }
        attempts
    }

    /// [`Runtime::invoke_async`] for every `(request id, event)` at once, from as many
    /// threads; the attempts of each, in order.
    pub fn invoke_async_at_once(
        &self,
        jobs: &[(&str, &Value)],
        pause: Duration,
    ) -> Vec<Vec<Result<Value, Value>>> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|&(id, ev)| scope.spawn(move || self.invoke_async(id, ev, pause)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }
}

/// The real `trailwatch-lambda` binary polling `runtime`.
pub struct Function {
    child: Child,
    pub started: Instant,
}

impl Function {
    pub fn start(runtime: &Runtime, moto: &Moto, env: &[(&str, &str)]) -> Function {
        Function::start_at(runtime, &moto.endpoint, env)
    }

    /// The function with its AWS calls sent to `endpoint` (moto, or a proxy before it).
    pub fn start_at(runtime: &Runtime, endpoint: &str, env: &[(&str, &str)]) -> Function {
        // TRAILWATCH_LAMBDA_BIN runs another build of the function, e.g. the arm64
        // bootstrap under qemu (scripts/arm64-check).
        let bin = std::env::var("TRAILWATCH_LAMBDA_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_trailwatch-lambda").to_string());
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", "trailwatch")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TRAILWATCH_TEST_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        Function {
            child: cmd.spawn().expect("start trailwatch-lambda"),
            started,
        }
    }
}

impl Function {
    /// The process's peak resident memory so far (Linux `VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 event notification for `keys` (URL-encoded as S3 does).
pub fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|k| {
            serde_json::json!({"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
                "eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":bucket,"arn":format!("arn:aws:s3:::{bucket}")},
                "object":{"key":k.replace(' ', "+").replace(':', "%3A"),"size":1}}})
        })
        .collect();
    serde_json::json!({ "Records": records })
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use flate2::{write::GzEncoder, Compression};
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// moto, its resources, a Runtime API and the function polling it.
pub struct Stack {
    pub aws: Aws,
    pub rt: Runtime,
    // Dropped in this order: the function first, then moto.
    pub function: Function,
    pub moto: Moto,
}

/// A running stack; `shared_state` sets `STATE_TABLE` (DynamoDB) or leaves state in memory.
pub async fn stack(shared_state: bool) -> Stack {
    let moto = Moto::start();
    let aws = Aws::create(&moto).await;
    let rt = Runtime::start();
    let mut env = vec![("ALERT_TOPIC_ARN", aws.topic_arn.as_str())];
    if shared_state {
        env.push(("STATE_TABLE", aws.table.as_str()));
    }
    let function = Function::start(&rt, &moto, &env);
    Stack {
        aws,
        rt,
        function,
        moto,
    }
}

/// A failed console sign-in with a mistyped (hidden) user name.
pub fn hidden_failure(id: u32, time: &str) -> Value {
    serde_json::json!({"eventVersion":"1.08","eventTime":time,"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
        "awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9",
        "userIdentity":{"type":"IAMUser","accountId":"123456789012","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"},
        "responseElements":{"ConsoleLogin":"Failure"},"eventID":format!("00000000-0000-4000-8000-{id:012}"),"recipientAccountId":"123456789012"})
}

/// A failed root console sign-in without MFA.
pub fn root_failure(id: u32) -> Value {
    serde_json::json!({"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
        "awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","userAgent":"Mozilla/5.0",
        "userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},
        "responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"},
        "eventID":format!("10000000-0000-4000-8000-{id:012}"),"recipientAccountId":"111122223333"})
}

/// A CloudTrail log file's JSON.
pub fn records(recs: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "Records": recs })).unwrap()
}
