//! `scan --report` end to end, on real trails (the invictus-ir attack simulation and
//! `examples/attack-story`) with the bundled rules: the page is opened in headless
//! Chromium, must load without a single console message (the page has no script, so any
//! message is an error: an exception, a blocked load, a CSP violation), and its DOM must
//! show the counts this test works out on its own from the same scan's JSON alerts, its
//! summary line and `trailwatch rules`. `the_console_check_sees_injected_errors` proves the
//! console check catches a broken script and a network load.
//!
//! Without Chromium the browser half is skipped and says so on stderr (the checks on the
//! HTML text still run). The pages and screenshots are kept in `target/report/`.

mod common;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Chromium runs one at a time: the machines running these tests are small.
static BROWSER: Mutex<()> = Mutex::new(());
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);
const WINDOW: (u32, u32) = (1280, 2000);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/report/`, beside the build (honours CARGO_TARGET_DIR).
fn out_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("report");
    std::fs::create_dir_all(&dir).expect("create target/report");
    dir
}

/// Said on the real stderr, past the test harness's capture, so a skip is seen.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// `$TRAILWATCH_CHROMIUM`, else the first Chromium on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TRAILWATCH_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

fn skipped(what: &str) {
    say(&format!(
        "tests/report.rs: SKIPPED {what}: no Chromium found (looked for chromium, chromium-browser, \
         google-chrome on PATH, and $TRAILWATCH_CHROMIUM). Install it (Debian/Ubuntu: apt-get install \
         chromium) to run the browser checks."
    ));
}

struct Page {
    dom: String,
    /// Console messages the page caused (Chromium logs each as one `…:CONSOLE…` line).
    console: Vec<String>,
}

/// Opens `html` in headless Chromium: its DOM after load, its console messages, and a
/// screenshot to `png` if asked.
fn open(chrome: &Path, html: &Path, png: Option<&Path>) -> Page {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let (out, err) = (scratch.path().join("dom"), scratch.path().join("log"));
    let html = html.canonicalize().unwrap();
    let mut cmd = Command::new(chrome);
    cmd.args([
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
    ])
    .arg(format!(
        "--user-data-dir={}",
        scratch.path().join("profile").display()
    ))
    // Console messages go to stderr at INFO, which is what --v=1 would add ~10k lines to.
    .arg("--enable-logging=stderr")
    .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
    .arg("--dump-dom");
    if let Some(png) = png {
        cmd.arg(format!("--screenshot={}", png.display()));
    }
    let mut child = cmd
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start Chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Chromium did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = String::from_utf8_lossy(&std::fs::read(&err).unwrap()).into_owned();
    assert!(status.success(), "Chromium failed ({status}):\n{log}");
    let dom = String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned();
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Page { dom, console }
}

/// The text of the element with `id`, up to its first child tag.
fn text_of<'a>(html: &'a str, id: &str) -> &'a str {
    let key = format!("id=\"{id}\">");
    let at = html.find(&key).unwrap_or_else(|| panic!("no #{id}")) + key.len();
    let rest = &html[at..];
    &rest[..rest.find('<').unwrap_or(rest.len())]
}

/// What the page must show, worked out from the scan's own output, not from the page.
#[derive(Debug)]
struct Expected {
    alerts: usize,
    by_severity: BTreeMap<String, usize>,
    events: String,
    accounts: usize,
    rules_fired: usize,
    techniques_covered: usize,
    techniques_fired: usize,
}

/// Distinct ATT&CK technique ids (`T1562.008`) in `attack.t…` tags.
fn techniques(tags: &[Value]) -> BTreeSet<String> {
    tags.iter()
        .filter_map(Value::as_str)
        .filter_map(|t| t.strip_prefix("attack.t"))
        .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()))
        .map(|t| format!("T{}", t.to_uppercase()))
        .collect()
}

fn expected(alerts: &[Value], stderr: &str) -> Expected {
    // The ATT&CK column of `trailwatch rules --format markdown`, enabled rules only.
    let listing = trailwatch(&["rules", "--format", "markdown"], None);
    assert_eq!(listing.code, 0, "{}", listing.stderr);
    let covered: BTreeSet<String> = listing
        .stdout
        .lines()
        .skip(2)
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|cols| cols.len() == 7 && !cols[1].contains("(disabled)"))
        .flat_map(|cols| {
            cols[4]
                .split(", ")
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        covered.len() > 20,
        "the listing's ATT&CK column was not read: {covered:?}"
    );
    let fired: BTreeSet<String> = alerts
        .iter()
        .flat_map(|a| techniques(a["tags"].as_array().map_or(&[][..], Vec::as_slice)))
        .collect();
    let mut by_severity = BTreeMap::new();
    for a in alerts {
        *by_severity
            .entry(a["severity"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    let distinct = |field: &str| {
        alerts
            .iter()
            .map(|a| a[field].as_str().unwrap_or("(none)").to_string())
            .collect::<BTreeSet<_>>()
            .len()
    };
    // "… N events, …" from the summary line.
    let events = stderr
        .lines()
        .find(|l| l.starts_with("trailwatch: ") && l.contains(" events, "))
        .and_then(|l| l.split("; ").nth(1)?.split(' ').next())
        .unwrap_or_else(|| panic!("no summary in {stderr}"))
        .to_string();
    Expected {
        alerts: alerts.len(),
        by_severity,
        events,
        accounts: distinct("account_id"),
        rules_fired: distinct("rule_id"),
        techniques_covered: covered.len(),
        techniques_fired: fired.intersection(&covered).count(),
    }
}

/// The counts `html` (the file, or the browser's DOM of it) must show.
fn check_counts(html: &str, want: &Expected, what: &str) {
    assert_eq!(
        text_of(html, "alert-count"),
        want.alerts.to_string(),
        "{what}: alerts"
    );
    for sev in ["critical", "high", "medium", "low", "info"] {
        let n = want.by_severity.get(sev).copied().unwrap_or(0);
        assert_eq!(
            text_of(html, &format!("sev-{sev}")),
            n.to_string(),
            "{what}: {sev}"
        );
    }
    assert_eq!(text_of(html, "event-count"), want.events, "{what}: events");
    assert_eq!(
        text_of(html, "techniques-covered"),
        want.techniques_covered.to_string(),
        "{what}: techniques covered"
    );
    assert_eq!(
        text_of(html, "techniques-fired"),
        want.techniques_fired.to_string(),
        "{what}: techniques fired"
    );
    assert_eq!(
        html.matches("<tr class=\"alert ").count(),
        want.alerts,
        "{what}: alert rows"
    );
    // Two timelines (per account, per rule), each alert once in each.
    let rows: Vec<&str> = html
        .match_indices("data-rows=\"")
        .map(|(i, _)| {
            let r = &html[i + 11..];
            &r[..r.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        rows,
        [want.accounts.to_string(), want.rules_fired.to_string()],
        "{what}: timeline rows"
    );
    assert_eq!(
        html.matches("class=\"mark sev-").count(),
        2 * want.alerts,
        "{what}: timeline marks"
    );
}

/// PNG signature and the IHDR size.
fn png_size(png: &Path) -> (u32, u32) {
    let b = std::fs::read(png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert!(
        b.len() > 24 && b.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// Scans `input` with `--report`, checks the page, opens it in Chromium; returns the page.
fn report_of(name: &str, input: &str) -> String {
    let input = root().join(input).display().to_string();
    let html = out_dir().join(format!("{name}.html"));
    let _ = std::fs::remove_file(&html);
    let run = trailwatch(
        &["scan", "--report", &html.display().to_string(), &input],
        None,
    );
    assert_eq!(run.code, 1, "alerts expected:\n{}", run.stderr);
    assert!(
        run.stderr.contains("trailwatch: report written to"),
        "{}",
        run.stderr
    );
    // The report is a tee: what is printed does not change.
    let plain = trailwatch(&["scan", &input], None);
    assert_eq!(
        run.stdout, plain.stdout,
        "--report changed the alerts printed"
    );
    // The page's alerts are the first alerts; follow-ups are counted apart.
    let alerts: Vec<Value> = run
        .alerts()
        .into_iter()
        .filter(|a| a["follow_up_of"].is_null())
        .collect();
    let want = expected(&alerts, &run.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    check_counts(&page, &want, "html");
    assert!(!page.contains("<script"), "the page has no script");

    let Some(chrome) = chromium() else {
        skipped(&format!("the browser checks of the {name} report"));
        return page;
    };
    let png = out_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    let opened = open(&chrome, &html, Some(&png));
    assert!(
        opened.console.is_empty(),
        "console messages:\n{}",
        opened.console.join("\n")
    );
    assert!(
        opened.dom.contains("<h1>trailwatch report</h1>"),
        "no page in the DOM:\n{}",
        opened.dom
    );
    check_counts(&opened.dom, &want, "DOM");
    assert_eq!(png_size(&png), WINDOW);
    say(&format!(
        "tests/report.rs: {name}: {} bytes of HTML, {} alerts {:?}, {} events, {} techniques covered, {} fired; screenshot {}",
        page.len(),
        want.alerts,
        want.by_severity,
        want.events,
        want.techniques_covered,
        want.techniques_fired,
        png.display()
    ));
    page
}

#[test]
fn attack_story_report_opens_clean_and_shows_the_scans_counts() {
    let page = report_of("attack-story", "examples/attack-story");
    // The story (examples/README.md): eleven alerts in one account, one attacker address.
    assert_eq!(text_of(&page, "alert-count"), "11");
    assert!(page.contains("<p>1 source IPs in 11 alert(s); the top 1.</p>"));
    assert!(page.contains("<code>203.0.113.66</code>"));
}

#[test]
fn invictus_report_opens_clean_and_shows_the_scans_counts() {
    let page = report_of(
        "invictus",
        "tests/corpora/invictus-ir_aws_dataset/CloudTrail",
    );
    assert_eq!(text_of(&page, "inputs-read"), "55");
}

#[test]
fn a_report_that_cannot_be_written_fails_after_the_alerts_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir
        .path()
        .join("no-such-folder/r.html")
        .display()
        .to_string();
    let story = root().join("examples/attack-story").display().to_string();
    let run = trailwatch(&["scan", "--report", &file, &story], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    // Eleven alerts and the follow-up of the secrets sweep.
    assert_eq!(run.alerts().len(), 12);
    assert!(run.stderr.contains("writing the report"), "{}", run.stderr);
}

/// The console check is what the two tests above rely on: here it must see a script
/// error (with the page's CSP removed, so the script runs), a script the CSP blocks, and
/// an image from the network.
#[test]
fn the_console_check_sees_injected_errors() {
    let Some(chrome) = chromium() else {
        skipped("the negative browser checks");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let story = root().join("examples/attack-story").display().to_string();
    let html = dir.path().join("r.html");
    let run = trailwatch(
        &["scan", "--report", &html.display().to_string(), &story],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    let csp_at = page
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .expect("a CSP");
    let csp_end = csp_at + page[csp_at..].find('>').unwrap() + 1;
    let without_csp = format!("{}{}", &page[..csp_at], &page[csp_end..]);
    let broken = "<script>document.body.setAttribute('data-ran','yes'); trailwatch_no_such_function();</script></body>";
    let cases = [
        ("clean", page.clone(), None),
        (
            "script error",
            without_csp.replace("</body>", broken),
            Some("Uncaught ReferenceError: trailwatch_no_such_function"),
        ),
        (
            "blocked script",
            page.replace("</body>", broken),
            Some("Content Security Policy"),
        ),
        (
            "network image",
            page.replace("</body>", "<img src=\"http://192.0.2.1/x.png\"></body>"),
            Some("Content Security Policy"),
        ),
    ];
    for (name, text, want) in cases {
        let file = dir.path().join(format!("{}.html", name.replace(' ', "-")));
        std::fs::write(&file, text).unwrap();
        let opened = open(&chrome, &file, None);
        match want {
            None => assert!(opened.console.is_empty(), "{name}: {:?}", opened.console),
            Some(msg) => assert!(
                opened.console.iter().any(|l| l.contains(msg)),
                "{name}: the console check missed it: {:?}",
                opened.console
            ),
        }
        // The script ran only where the CSP was taken out.
        assert_eq!(
            opened.dom.contains("data-ran=\"yes\""),
            name == "script error",
            "{name}"
        );
    }
}
