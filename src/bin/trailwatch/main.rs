//! `trailwatch`: validate, test and replay rules on a laptop with the Lambda's pipeline.

mod explain;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trailwatch::pipeline::{Pipeline, DEFAULT_HORIZON};
use trailwatch::rules::{self, Diagnostic, Level, RuleSet};
use trailwatch::sink::{self, Writer};
use trailwatch::source::{self, DecodeError, Limits};
use trailwatch::state::memory::Memory;

mod replay;

/// mimalloc: a scan builds and drops many small records and alerts, which it frees in a
/// fraction of glibc's time.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "trailwatch",
    version,
    about = "Watches CloudTrail and pages the on-call when something dangerous happens"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct RuleArgs {
    /// Replace a named list, e.g. --list trusted_accounts=111122223333,444455556666.
    /// TRAILWATCH_LIST_<NAME> environment variables do the same.
    #[arg(long = "list", value_name = "NAME=A,B")]
    lists: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Check rule files and report every problem as path:line:col: message.
    Validate {
        /// Rules directories, read together (default: the rules bundled into this
        /// binary; @bundled names them beside your own).
        #[arg(value_name = "DIR")]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Run the tests written inside each rule.
    Test {
        /// Rules directories, read together (default: the bundled rules; @bundled names
        /// them beside your own).
        #[arg(value_name = "DIR")]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// List the rules: id, severity, the events they watch, ATT&CK techniques, CIS controls.
    Rules {
        /// Rules directories, read together (default: the bundled rules).
        #[arg(value_name = "DIR")]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
        /// A table for the terminal, or Markdown (the coverage table of rules/README.md).
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Evaluate CloudTrail input (files, directories, or - for stdin) and print alerts.
    Scan {
        /// Rules directory; repeatable; replaces the bundled rules (@bundled keeps them:
        /// --rules @bundled --rules my-rules/).
        #[arg(long = "rules", value_name = "DIR")]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
        /// Alert output: JSON lines, or text for people.
        #[arg(long, value_enum, default_value_t = OutFormat::Json)]
        format: OutFormat,
        /// Largest record accepted, in bytes.
        #[arg(long, default_value_t = Limits::default().max_record)]
        max_record: usize,
        /// Most bytes a gzip input may inflate to.
        #[arg(long, default_value_t = Limits::default().max_decompressed)]
        max_decompressed: u64,
        /// How late, in seconds of event time, a duplicate or window member may arrive.
        #[arg(long, default_value_t = DEFAULT_HORIZON)]
        horizon: i64,
        /// Evaluate only events at or after this time (RFC 3339, or a date: its start, UTC).
        #[arg(long, value_name = "TIME", value_parser = since)]
        since: Option<i64>,
        /// Evaluate only events at or before this time (RFC 3339, or a date: through its
        /// end, UTC).
        #[arg(long, value_name = "TIME", value_parser = until)]
        until: Option<i64>,
        /// Print per-rule totals (hits, alerts, suppressed, deduplicated, untimed) on stderr.
        #[arg(long)]
        totals: bool,
        /// Also write a self-contained HTML page about the run (timeline, top principals
        /// and IPs, ATT&CK coverage, the alerts) to FILE; alerts are printed as usual.
        #[arg(long, value_name = "FILE.html")]
        report: Option<PathBuf>,
        /// Files or directories (searched recursively); - reads stdin; s3://BUCKET[/PREFIX]
        /// runs `trailwatch replay` with these arguments.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Show a compiled rule (explain RULE_ID), or why records did or did not make rules
    /// fire (explain --event FILE [RULE_ID]).
    Explain(explain::Args),
    /// Evaluate a trail's history in S3 (runs trailwatch-replay; `trailwatch replay --help`).
    #[command(disable_help_flag = true)]
    Replay {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Text,
    Markdown,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutFormat {
    Json,
    Text,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trailwatch: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate { dirs, rules } => validate(&dirs, &rules),
        Command::Test { dirs, rules } => test(&dirs, &rules),
        Command::Rules {
            dirs,
            rules,
            format,
        } => list(&dirs, &rules, format),
        Command::Replay { args } => replay::delegate(args),
        Command::Scan { paths, .. } if paths.iter().any(|p| replay::is_s3(p)) => {
            if !paths.iter().all(|p| replay::is_s3(p)) {
                bail!("scan reads local paths or s3:// locations, not both in one run");
            }
            replay::delegate(replay::after("scan"))
        }
        Command::Scan {
            dirs,
            rules,
            format,
            max_record,
            max_decompressed,
            horizon,
            since,
            until,
            totals,
            report,
            paths,
        } => {
            let limits = Limits {
                max_record,
                max_decompressed,
                ..Limits::default()
            };
            let format = match format {
                OutFormat::Json => sink::Format::Json,
                OutFormat::Text => sink::Format::Text,
            };
            let opts = ScanOptions {
                format,
                limits,
                horizon,
                range: (since, until),
                totals,
                report: report.as_deref(),
            };
            scan(&dirs, &rules, opts, &paths)
        }
        Command::Explain(args) => explain::run(&args),
    }
}

fn bound(text: &str, end: bool) -> Result<i64, String> {
    trailwatch::event::parse_bound(text, end).ok_or_else(|| {
        format!(
            "'{text}' is not a time: use RFC 3339 (2024-05-01T10:00:00Z) or a date (2024-05-01)"
        )
    })
}

fn since(text: &str) -> Result<i64, String> {
    bound(text, false)
}

fn until(text: &str) -> Result<i64, String> {
    bound(text, true)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn overrides(args: &RuleArgs) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = rules::list_overrides_from_env();
    for l in &args.lists {
        let Some((name, values)) = l.split_once('=') else {
            bail!("--list takes NAME=VALUE,VALUE (got '{l}')");
        };
        out.push((name.trim().to_string(), rules::split_list(values)));
    }
    Ok(out)
}

/// The `--rules` value that stands for the rules bundled into the binary.
const BUNDLED: &str = "@bundled";

/// Rule, list and sample files, and files that could not be read, from every directory
/// in order (no directory: the bundled rules).
fn load_files(dirs: &[&Path]) -> Result<rules::RuleDir> {
    let bundled = [Path::new(BUNDLED)];
    let dirs = if dirs.is_empty() { &bundled[..] } else { dirs };
    let mut all = rules::RuleDir::default();
    for d in dirs {
        all.extend(if *d == Path::new(BUNDLED) {
            rules::bundled()
        } else {
            rules::read_dir(d).with_context(|| format!("reading rules from {}", d.display()))?
        });
    }
    Ok(all)
}

fn print_diags(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

/// Loads and compiles rules; prints diagnostics; `None` if there were errors.
/// Loads and compiles rules (with their tests when `tests`: `validate` and `test`).
fn compile(
    dirs: &[&Path],
    args: &RuleArgs,
    tests: bool,
) -> Result<(Option<RuleSet>, Vec<Diagnostic>)> {
    let dir = load_files(dirs)?;
    let overrides = overrides(args)?;
    Ok(if tests {
        RuleSet::compile_dir(&dir, &overrides, now())
    } else {
        RuleSet::compile_dir_to_run(&dir, &overrides, now())
    })
}

fn as_paths(dirs: &[PathBuf]) -> Vec<&Path> {
    dirs.iter().map(PathBuf::as_path).collect()
}

fn validate(dirs: &[PathBuf], args: &RuleArgs) -> Result<ExitCode> {
    let (set, diags) = compile(&as_paths(dirs), args, true)?;
    print_diags(&diags);
    let errors = diags.iter().filter(|d| d.level == Level::Error).count();
    let warnings = diags.len() - errors;
    match set {
        Some(set) => {
            eprintln!("{} rule(s) OK, {warnings} warning(s)", set.rules().len());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("{errors} error(s), {warnings} warning(s)");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn test(dirs: &[PathBuf], args: &RuleArgs) -> Result<ExitCode> {
    let (set, diags) = compile(&as_paths(dirs), args, true)?;
    print_diags(&diags);
    let Some(set) = set else {
        eprintln!("rules have errors; run `trailwatch validate` for the list");
        return Ok(ExitCode::FAILURE);
    };
    let mut out = io::stdout().lock();
    for r in set.rules().iter().filter(|r| r.tests.is_empty()) {
        writeln!(out, "warning: {}: rule '{}' has no tests", r.file, r.id)?;
    }
    let results = trailwatch::testing::run_all(set.rules());
    let failed = results.iter().filter(|r| r.failure.is_some()).count();
    for r in &results {
        match &r.failure {
            None => writeln!(out, "ok   {} :: {}", r.rule_id, r.name)?,
            Some(why) => writeln!(
                out,
                "FAIL {}:{}: {} :: {}\n     {why}",
                r.file, r.line, r.rule_id, r.name
            )?,
        }
    }
    writeln!(out, "{} passed, {failed} failed", results.len() - failed)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list(dirs: &[PathBuf], args: &RuleArgs, format: ListFormat) -> Result<ExitCode> {
    let (set, diags) = compile(&as_paths(dirs), args, false)?;
    print_diags(&diags);
    let Some(set) = set else {
        bail!("rules have errors; run `trailwatch validate`")
    };
    let out = match format {
        ListFormat::Text => rules::listing::text(set.rules(), 60),
        ListFormat::Markdown => rules::listing::markdown(set.rules()),
    };
    io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Every regular file below `path` (sorted, each folder once), or `path` itself; what was
/// left out is reported on stderr and counted as skipped.
fn expand(path: &Path, out: &mut Vec<(PathBuf, bool)>, skipped: &mut u64) -> io::Result<()> {
    if !std::fs::metadata(path)?.is_dir() {
        out.push((path.to_path_buf(), true));
        return Ok(());
    }
    let found = source::files::walk(path, &|_| true)?;
    for (p, why) in &found.skipped {
        eprintln!("{}: skipped: {why}", p.display());
    }
    *skipped += found.skipped.len() as u64;
    out.extend(found.files.into_iter().map(|p| (p, false)));
    Ok(())
}

struct ScanOptions<'a> {
    format: sink::Format,
    limits: Limits,
    horizon: i64,
    range: (Option<i64>, Option<i64>),
    totals: bool,
    /// Where `--report` writes its page.
    report: Option<&'a Path>,
}

fn scan(
    dirs: &[PathBuf],
    args: &RuleArgs,
    opts: ScanOptions,
    paths: &[PathBuf],
) -> Result<ExitCode> {
    let ScanOptions {
        format,
        limits,
        horizon,
        range,
        totals,
        report,
    } = opts;
    let (set, diags) = compile(&as_paths(dirs), args, false)?;
    print_diags(&diags);
    let Some(set) = set else {
        bail!("rules have errors; run `trailwatch validate`")
    };
    let mut inputs = Vec::new();
    let mut skipped = 0u64;
    for p in paths {
        if p.as_os_str() == "-" {
            inputs.push((p.clone(), true));
        } else {
            expand(p, &mut inputs, &mut skipped)
                .with_context(|| format!("reading {}", p.display()))?;
        }
    }
    let limits = Limits {
        keep: Some(std::sync::Arc::new(set.keep())),
        gate: set.gate(),
        ..limits
    };
    let mut pipeline = Pipeline::new(&set, Memory::new(horizon), horizon);
    pipeline.set_range(range.0, range.1);
    let printed = Writer::new(io::BufWriter::new(io::stdout().lock()), format);
    // With --report, alerts are also kept for the page.
    let mut sink = sink::Tee(printed, report.map(|_| sink::Memory::default()));
    let (mut read, mut unreadable) = (0u64, 0u64);
    for (path, named) in &inputs {
        let shown = path.display().to_string();
        let mut failed_publish = None;
        let mut bad_lines = 0u64;
        let mut decode = |input: &mut dyn io::BufRead| {
            source::decode(input, &limits, &mut |item| {
                if failed_publish.is_some() {
                    return;
                }
                let r = pipeline.push(item, &mut sink, &mut |at, why| {
                    bad_lines += 1;
                    if bad_lines <= 20 {
                        eprintln!("{shown}: malformed record at {at}: {why}");
                    }
                });
                if let Err(e) = r {
                    failed_publish = Some(e);
                }
            })
        };
        let result = if path.as_os_str() == "-" {
            decode(&mut io::stdin().lock())
        } else {
            match std::fs::File::open(path) {
                Ok(f) => decode(&mut BufReader::with_capacity(256 * 1024, f)),
                Err(e) => Err(DecodeError::Io(e)),
            }
        };
        if failed_publish.is_none() {
            // One input is one batch of hits (see Pipeline::flush).
            failed_publish = pipeline.flush(&mut sink).err();
        }
        if let Some(e) = failed_publish {
            return Err(e).context("writing alerts");
        }
        if bad_lines > 20 {
            eprintln!("{shown}: … {} more malformed records", bad_lines - 20);
        }
        match result {
            Ok(_) => read += 1,
            Err(DecodeError::NotCloudTrail(_) | DecodeError::Empty) if !named => {
                skipped += 1;
                eprintln!("{shown}: skipped: not CloudTrail input");
            }
            Err(e) => {
                unreadable += 1;
                let hint = match &e {
                    DecodeError::Broken { reason, .. }
                        if reason.starts_with("decompressed size") =>
                    {
                        " (raise --max-decompressed if this file is genuine)"
                    }
                    _ => "",
                };
                eprintln!("{shown}: error: {e}{hint}");
            }
        }
    }
    // All the history there is has been read: every roll-up's follow-up goes out.
    pipeline
        .send_follow_ups(i64::MAX, &mut sink)
        .context("writing alerts")?;
    let sink::Tee(printed, kept) = sink;
    drop(printed);
    let r = &pipeline.report;
    if totals {
        eprint!("{}", rule_totals(r));
    }
    let outside = if range != (None, None) {
        format!(", {} outside --since/--until", r.outside_range)
    } else {
        String::new()
    };
    let follow_ups = if r.follow_ups > 0 {
        format!(", {} follow-up(s)", r.follow_ups)
    } else {
        String::new()
    };
    eprintln!(
        "trailwatch: {read} input(s) read, {skipped} skipped, {unreadable} unreadable; {} events{outside}, {} duplicates, {} malformed, {} suppressed, {} alerts ({} deduplicated, {} untimed){follow_ups}",
        r.events, r.duplicates, r.malformed, r.suppressed, r.alerts, r.deduplicated, r.untimed
    );
    if let (Some(file), Some(kept)) = (report, kept) {
        let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let sources: Vec<String> = if dirs.is_empty() {
            vec![BUNDLED.to_string()]
        } else {
            dirs.iter().map(|d| d.display().to_string()).collect()
        };
        // Follow-ups are counted apart: each summarises an alert already on the page.
        let first_alerts: Vec<_> = kept
            .alerts
            .into_iter()
            .filter(|a| a.follow_up_of.is_none())
            .collect();
        let page = trailwatch::report::html(&trailwatch::report::ReportInput {
            named: &named,
            inputs: trailwatch::report::Inputs {
                read,
                skipped,
                unreadable,
            },
            rule_sources: &sources,
            rules: set.rules(),
            alerts: &first_alerts,
            run: r,
            generated: Some(now()),
        });
        std::fs::write(file, &page)
            .with_context(|| format!("writing the report {}", file.display()))?;
        eprintln!(
            "trailwatch: report written to {} ({} bytes)",
            file.display(),
            page.len()
        );
    }
    Ok(if unreadable > 0 {
        ExitCode::from(2)
    } else if r.alerts > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Per-rule totals, most alerts first, for `--totals`.
fn rule_totals(r: &trailwatch::pipeline::Report) -> String {
    let mut rows: Vec<_> = r.rules.iter().collect();
    rows.sort_by(|a, b| {
        (b.1.alerts, b.1.hits)
            .cmp(&(a.1.alerts, a.1.hits))
            .then(a.0.cmp(b.0))
    });
    let width = rows
        .iter()
        .map(|(id, _)| id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:width$}  {:>8}  {:>6}  {:>10}  {:>12}  {:>7}  {:>10}\n",
        "RULE", "HITS", "ALERTS", "SUPPRESSED", "DEDUPLICATED", "UNTIMED", "FOLLOW-UPS"
    );
    for (id, t) in rows {
        out.push_str(&format!(
            "{id:width$}  {:>8}  {:>6}  {:>10}  {:>12}  {:>7}  {:>10}\n",
            t.hits, t.alerts, t.suppressed, t.deduplicated, t.untimed, t.follow_ups
        ));
    }
    out
}
