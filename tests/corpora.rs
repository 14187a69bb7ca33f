//! The real trails in tests/corpora (copied from public repositories; each folder's README
//! names its origin and license) decode to their documented counts, and `scan` reads them
//! all (exit 0 or 1, never 2).

mod common;
use common::trailwatch;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use trailwatch::source::{decode, Item, Limits};

fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora")
}

/// (records, malformed) decoded from one file.
fn count(path: &Path) -> (usize, usize) {
    let f = BufReader::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let (mut recs, mut bad) = (0, 0);
    decode(f, &Limits::default(), &mut |i| match i {
        Item::Record(_) | Item::Unwanted(_) => recs += 1,
        Item::Malformed { .. } => bad += 1,
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (recs, bad)
}

fn count_dir(dir: &Path) -> usize {
    let mut total = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let (r, bad) = count(&p);
        assert_eq!(bad, 0, "{}", p.display());
        total += r;
    }
    total
}

#[test]
fn decoded_counts_match_the_corpora() {
    let c = corpora();
    assert_eq!(
        count_dir(&c.join("invictus-ir_aws_dataset/CloudTrail")),
        2900
    );
    assert_eq!(
        count_dir(&c.join("stratus-red-team_detonation-logs/detonation-logs")),
        310
    );
    assert_eq!(
        count(&c.join("stratus-red-team_detonation-logs/stratus_all.Records.json")),
        (310, 0)
    );
    assert_eq!(
        count(&c.join("awsdocs-examples/awsdocs_examples.Records.json")),
        (27, 0)
    );
    assert_eq!(
        count(&c.join("OTRF_Security-Datasets/ec2_proxy_s3_exfiltration.Records.json")),
        (103, 0)
    );
    assert_eq!(
        count(&c.join("OTRF_Security-Datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.ndjson")),
        (103, 0)
    );
    assert_eq!(
        count(&c.join("airbnb_streamalert/classifier_sample.cloudwatch_cloudtrail.json")).1,
        0
    );
}

fn summary_events(stderr: &str) -> u64 {
    let line = stderr.lines().last().unwrap_or_default();
    let at = line
        .find(" events")
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    line[..at].rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn scan_reads_every_corpus() {
    let c = corpora();
    for (dir, events, alerts) in [
        // Alert counts per corpus are the catalogue's figures (tests/catalogue.rs).
        ("invictus-ir_aws_dataset", 2900, None),
        (
            "stratus-red-team_detonation-logs/detonation-logs",
            310,
            None,
        ),
        ("awsdocs-examples", 27, None),
        (
            "OTRF_Security-Datasets/ec2_proxy_s3_exfiltration.Records.json",
            103,
            Some(0),
        ),
    ] {
        let path = c.join(dir).display().to_string();
        let run = trailwatch(&["scan", &path], None);
        assert!(
            run.code == 0 || run.code == 1,
            "{dir}: exit {}\n{}",
            run.code,
            run.stderr
        );
        assert_eq!(summary_events(&run.stderr), events, "{dir}");
        assert!(
            !run.stderr.contains("malformed record"),
            "{dir}: {}",
            run.stderr
        );
        if let Some(n) = alerts {
            assert_eq!(run.alerts().len(), n, "{dir}: {}", run.stdout);
        }
    }
}

#[test]
fn awsdocs_cross_account_assume_role_alerts_once_for_both_accounts() {
    let path = corpora()
        .join("awsdocs-examples/awsdocs_examples.Records.json")
        .display()
        .to_string();
    let run = trailwatch(&["scan", &path], None);
    let alerts = run.alerts();
    let shared: Vec<_> = alerts
        .iter()
        .filter(|a| a["group"]["sharedEventID"] == "bEXAMPLE-efea-4a70-b951-19a88EXAMPLE")
        .collect();
    assert_eq!(shared.len(), 1, "{}", run.stdout);
    assert_eq!(shared[0]["rule_id"], "cross-account-assume-role");
    let root: Vec<_> = alerts
        .iter()
        .filter(|a| a["rule_id"] == "root-adjacent-login-failure")
        .collect();
    assert_eq!(root.len(), 1);
    assert_eq!(root[0]["actor"]["type"], "Root");
    // The HIDDEN_DUE_TO_SECURITY_REASONS failure is a single event: no burst, no root alert.
    assert!(!alerts
        .iter()
        .any(|a| a["rule_id"] == "hidden-username-burst"));
}
