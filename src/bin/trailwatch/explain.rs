//! `trailwatch explain`: a compiled rule in readable form, or why records did or did not
//! make rules fire. The work is `trailwatch::rules::explain`; this reads the input and
//! prints.

use super::{as_paths, compile, print_diags, RuleArgs};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use trailwatch::pipeline::DEFAULT_HORIZON;
use trailwatch::rules::diag::did_you_mean;
use trailwatch::rules::explain::{self, text, Copies};
use trailwatch::rules::RuleSet;
use trailwatch::source::{self, Item, Limits};

#[derive(clap::Args)]
pub struct Args {
    /// The rule's id. Without --event: print the compiled rule. With --event: trace only
    /// this rule.
    #[arg(value_name = "RULE_ID")]
    rule: Option<String>,
    /// Rules directory or file; repeatable; replaces the bundled rules (@bundled keeps
    /// them).
    #[arg(long = "rules", value_name = "DIR")]
    dirs: Vec<PathBuf>,
    #[command(flatten)]
    lists: RuleArgs,
    /// CloudTrail input to trace: one record, a Records file or NDJSON, gzipped or not;
    /// - reads stdin.
    #[arg(long, value_name = "FILE")]
    event: Option<PathBuf>,
    /// Only the record(s) with this eventID (copies are still found in the whole input).
    #[arg(long, value_name = "ID", requires = "event")]
    event_id: Option<String>,
    /// Text for people, or JSON for machines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(a: &Args) -> Result<ExitCode> {
    let (set, diags) = compile(&as_paths(&a.dirs), &a.lists, false)?;
    print_diags(&diags);
    let Some(set) = set else {
        bail!("rules have errors; run `trailwatch validate`")
    };
    let only = a.rule.as_deref().map(|id| find(&set, id)).transpose()?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    match (&a.event, only) {
        (None, None) => bail!("give a RULE_ID to explain, or --event FILE to trace records"),
        (None, Some(i)) => {
            let view = explain::describe(&set.rules()[i]);
            match a.format {
                Format::Text => out.write_all(text::rule(&view).as_bytes())?,
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &view)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        (Some(path), only) => trace(a, &set, path, only, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The index of the rule `id`, or an error that suggests a near one.
fn find(set: &RuleSet, id: &str) -> Result<usize> {
    match set.rules().iter().position(|r| r.id == id) {
        Some(i) => Ok(i),
        None => {
            let hint = did_you_mean(id, set.rules().iter().map(|r| r.id.as_str()));
            let hint = if hint.is_empty() {
                " (`trailwatch rules` lists them)".to_string()
            } else {
                hint
            };
            bail!("unknown rule '{id}'{hint}")
        }
    }
}

/// Decodes the input as `scan` does and explains each record (or the ones with
/// `--event-id`), printing as it goes.
fn trace(
    a: &Args,
    set: &RuleSet,
    path: &PathBuf,
    only: Option<usize>,
    out: &mut dyn Write,
) -> Result<()> {
    let limits = Limits {
        keep: Some(std::sync::Arc::new(set.keep())),
        ..Limits::default()
    };
    let shown = path.display().to_string();
    let mut copies = Copies::new(DEFAULT_HORIZON);
    let (mut n, mut explained) = (0usize, 0usize);
    let mut failed: Option<io::Error> = None;
    let json = a.format == Format::Json;
    if json {
        out.write_all(b"{\"records\": [")?;
    }
    let mut on = |item: Item| {
        n += 1;
        let e = match item {
            Item::Record(e) => e,
            // Never here: explain decodes without a gate, every record in full.
            Item::Unwanted(_) => return,
            Item::Malformed { at, reason } => {
                eprintln!("{shown}: record {n} (at {at}) is malformed: {reason}");
                return;
            }
        };
        let copy_of = copies.check(&e, n);
        if failed.is_some()
            || a.event_id
                .as_deref()
                .is_some_and(|id| e.event_id() != Some(id))
        {
            return;
        }
        let r = explain::record_trace(set, &e, n, copy_of, only);
        let written = if json {
            let sep: &[u8] = if explained == 0 { b"\n" } else { b",\n" };
            out.write_all(sep)
                .and_then(|_| serde_json::to_writer_pretty(&mut *out, &r).map_err(io::Error::from))
        } else {
            let body = match only {
                Some(_) => text::record_detail(&r),
                None => text::record_summary(&r),
            };
            let sep = if explained == 0 { "" } else { "\n" };
            out.write_all(format!("{sep}{body}").as_bytes())
        };
        explained += 1;
        if let Err(err) = written {
            failed = Some(err);
        }
    };
    let result = if path.as_os_str() == "-" {
        source::decode(io::stdin().lock(), &limits, &mut on)
    } else {
        let f = std::fs::File::open(path).with_context(|| format!("reading {shown}"))?;
        source::decode(BufReader::new(f), &limits, &mut on)
    };
    if let Some(err) = failed {
        return Err(err).context("writing the explanation");
    }
    result.with_context(|| format!("reading {shown}"))?;
    if json {
        out.write_all(b"\n]}\n")?;
    }
    if explained == 0 {
        match &a.event_id {
            Some(id) => bail!("no record with eventID '{id}' in {shown} ({n} records)"),
            None => bail!("no records in {shown}"),
        }
    }
    Ok(())
}
