//! Memory must not grow with input size: ≥ 1 GB of `{"Records":[…]}`, generated on the fly,
//! is streamed through `trailwatch scan -` and the child's peak RSS must stay under 64 MB.

use std::io::{BufWriter, Read, Write};
use std::process::{Command, Stdio};

const TARGET_BYTES: u64 = 1 << 30;

fn record(i: u64) -> String {
    let time = trailwatch::event::format_time(1_700_000_000 + i as i64);
    let name = [
        "GetObject",
        "ConsoleLogin",
        "AssumeRole",
        "DescribeInstances",
    ][(i % 4) as usize];
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","principalId":"AIDAEXAMPLE{i}","arn":"arn:aws:iam::123456789012:user/u{u}","accountId":"123456789012","userName":"u{u}"}},"eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.{ip}","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2023 prompt/off command/s3.cp","requestParameters":{{"bucketName":"example-bucket","key":"data/part-{i:012}.parquet","Host":"example-bucket.s3.us-east-1.amazonaws.com"}},"responseElements":{{"ConsoleLogin":"Success"}},"additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0.0,"bytesTransferredOut":1048576.0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"EXAMPLEid2{i:016}"}},"requestID":"REQ{i:016}","eventID":"00000000-0000-4000-8000-{i:012}","readOnly":true,"resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::example-bucket/data/part-{i:012}.parquet"}}],"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"123456789012","eventCategory":"Data"}}"#,
        u = i % 50,
        ip = i % 250
    )
}

fn children_max_rss_kib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_CHILDREN covers waited-for children.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: initialised by the successful call above.
    unsafe { usage.assume_init() }.ru_maxrss
}

#[test]
fn a_gigabyte_streams_in_bounded_memory() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["scan", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trailwatch");
    let mut stdin = BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
    let mut written = 0u64;
    let mut n = 0u64;
    stdin.write_all(b"{\"Records\":[").unwrap();
    while written < TARGET_BYTES {
        if n > 0 {
            stdin.write_all(b",").unwrap();
        }
        let r = record(n);
        stdin.write_all(r.as_bytes()).unwrap();
        written += r.len() as u64 + 1;
        n += 1;
    }
    stdin.write_all(b"]}").unwrap();
    drop(stdin);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    let peak_mib = children_max_rss_kib() as f64 / 1024.0;
    eprintln!("streamed {written} bytes, {n} records; child peak RSS {peak_mib:.1} MiB");
    assert!(
        status.code() == Some(0) || status.code() == Some(1),
        "{status:?}\n{err}"
    );
    assert!(err.contains(&format!("{n} events")), "{err}");
    assert!(written >= TARGET_BYTES);
    assert!(peak_mib < 64.0, "peak RSS {peak_mib:.1} MiB");
}
