//! Reads rule directories (or the rules bundled into the binary) and compiles them.

use super::diag::{Diagnostic, Diags, Level};
use super::samples::{self, Samples};
use super::yaml::{self, Node};
use super::{sigma, spec, Lists, Rule, RuleSet};
use crate::aliases::{self, AccountAliases};
use std::collections::HashMap;
use std::io;
use std::path::Path;

/// A rule or list file's path and text.
#[derive(Debug, Clone)]
pub struct RuleFile {
    pub path: String,
    pub text: String,
}

mod generated {
    include!(concat!(env!("OUT_DIR"), "/bundled_rules.rs"));
}

/// The rules, lists and samples shipped inside the binary.
pub fn bundled() -> RuleDir {
    let files = generated::BUNDLED.iter().map(|(p, t)| {
        let file = RuleFile {
            path: p.to_string(),
            text: t.to_string(),
        };
        (p.strip_prefix("rules/").unwrap_or(p).to_string(), file)
    });
    RuleDir::of(files, Vec::new())
}

fn is_list_file(path: &str) -> bool {
    let name = Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    matches!(name, "lists.yaml" | "lists.yml")
}

/// What a rules directory holds.
#[derive(Debug, Default)]
pub struct RuleDir {
    pub rules: Vec<RuleFile>,
    pub lists: Vec<RuleFile>,
    /// Named sample records for rule tests ([`samples`](super::samples)).
    pub samples: Vec<RuleFile>,
    /// Files that could not be read as rule files (too large, not UTF-8).
    pub problems: Vec<Diagnostic>,
}

impl RuleDir {
    /// Sorts files by what they hold, judged by their path inside the rules directory.
    fn of(
        files: impl IntoIterator<Item = (String, RuleFile)>,
        problems: Vec<Diagnostic>,
    ) -> RuleDir {
        let mut dir = RuleDir {
            problems,
            ..RuleDir::default()
        };
        for (rel, f) in files {
            if is_list_file(&rel) {
                dir.lists.push(f);
            } else if samples::is_sample_file(&rel) {
                dir.samples.push(f);
            } else {
                dir.rules.push(f);
            }
        }
        dir
    }

    /// Adds another directory's files after this one's.
    pub fn extend(&mut self, other: RuleDir) {
        self.rules.extend(other.rules);
        self.lists.extend(other.lists);
        self.samples.extend(other.samples);
        self.problems.extend(other.problems);
    }
}

/// Reads every `*.yaml`/`*.yml` below `dir`, sorted by path.
/// A single file is read as a folder holding only it (a `lists.yaml`, a samples file or a
/// rule), so one rule can be validated or tested beside the lists and samples it needs.
pub fn read_dir(dir: &Path) -> io::Result<RuleDir> {
    let is_yaml = |p: &Path| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    let paths = crate::source::files::walk(dir, &is_yaml)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
        .files;
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        let shown = p.display().to_string();
        let mut refuse = |message: String| {
            let mut d = Diags::new(&shown);
            d.error(yaml::Pos { line: 1, col: 1 }, message);
            problems.extend(d.list);
        };
        let len = std::fs::metadata(&p)?.len();
        if len > yaml::MAX_YAML_BYTES as u64 {
            refuse(format!(
                "file is {len} bytes, larger than the limit of {} bytes (1 MiB)",
                yaml::MAX_YAML_BYTES
            ));
            continue;
        }
        let bytes =
            std::fs::read(&p).map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))?;
        // The path from the folder named (itself included), so `rules/samples` given
        // alone still holds samples.
        let rel = match (p.strip_prefix(dir), dir.file_name()) {
            (Ok(r), Some(name)) if !r.as_os_str().is_empty() => {
                Path::new(name).join(r).display().to_string()
            }
            _ => shown.clone(),
        };
        match String::from_utf8(bytes) {
            Ok(text) => files.push((rel, RuleFile { path: shown, text })),
            Err(e) => refuse(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            )),
        }
    }
    Ok(RuleDir::of(files, problems))
}

fn parse_file(f: &RuleFile, diags: &mut Diags) -> Option<Node> {
    match yaml::parse(&f.text) {
        Ok(Some(n)) => Some(n),
        Ok(None) => {
            diags.error(yaml::Pos { line: 1, col: 1 }, "empty file");
            None
        }
        Err(e) => {
            diags.error(e.pos, e.message);
            None
        }
    }
}

/// Where each list's values were read: the file and the position of each value.
type Origins = HashMap<String, (String, Vec<yaml::Pos>)>;

fn read_lists(
    files: &[RuleFile],
    lists: &mut Lists,
    origins: &mut Origins,
    all: &mut Vec<Diagnostic>,
) {
    for f in files {
        let mut diags = Diags::new(&f.path);
        if let Some(root) = parse_file(f, &mut diags) {
            match root.as_map() {
                None => diags.error(
                    root.pos,
                    "lists.yaml must map list names to lists of values",
                ),
                Some(entries) => {
                    for (k, v) in entries {
                        let name = k.text().unwrap_or_default().to_string();
                        match v.as_seq() {
                            Some(items) => {
                                let mut values = Vec::new();
                                let mut at = Vec::new();
                                for i in items {
                                    match i.text() {
                                        Some(t) => {
                                            values.push(t.to_string());
                                            at.push(i.pos);
                                        }
                                        None => diags.error(
                                            i.pos,
                                            format!(
                                                "list '{name}' may hold only values, found {}",
                                                i.kind_name()
                                            ),
                                        ),
                                    }
                                }
                                origins.insert(name.clone(), (f.path.clone(), at));
                                lists.insert(name, values);
                            }
                            None if v.scalar() == Some(yaml::Scalar::Null) => {
                                origins.remove(&name);
                                lists.insert(name, Vec::new());
                            }
                            None => diags.error(
                                v.pos,
                                format!("list '{name}' must be a list, found {}", v.kind_name()),
                            ),
                        }
                    }
                }
            }
        }
        all.extend(diags.list);
    }
}

fn read_samples(files: &[RuleFile], out: &mut Samples, all: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::BTreeMap::new();
    for f in files {
        let mut diags = Diags::new(&f.path);
        if let Some(root) = parse_file(f, &mut diags) {
            samples::read(&root, &f.path, out, &mut seen, &mut diags);
        }
        all.extend(diags.list);
    }
}

pub fn compile(
    rule_files: &[RuleFile],
    list_files: &[RuleFile],
    sample_files: Option<&[RuleFile]>,
    overrides: &[(String, Vec<String>)],
    now: i64,
) -> (Option<RuleSet>, Vec<Diagnostic>) {
    let mut all = Vec::new();
    let mut lists = Lists::new();
    let mut origins = Origins::new();
    read_lists(list_files, &mut lists, &mut origins, &mut all);
    let samples = sample_files.map(|files| {
        let mut samples = Samples::new();
        read_samples(files, &mut samples, &mut all);
        samples
    });
    for (name, values) in overrides {
        origins.remove(name);
        lists.insert(name.clone(), values.clone());
    }
    let aliases = account_aliases(&lists, &origins, &mut all);
    let mut rules = Vec::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut add =
        |rule: Rule, id_pos: yaml::Pos, diags: &mut Diags, rules: &mut Vec<Rule>| match ids
            .get(&rule.id)
        {
            Some(first) => {
                diags.error(
                    id_pos,
                    format!("duplicate rule id '{}' (also in {first})", rule.id),
                );
                false
            }
            None => {
                ids.insert(rule.id.clone(), rule.file.clone());
                rules.push(rule);
                true
            }
        };
    // Sigma names and ids, for correlations.
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut pending = Vec::new();
    for f in rule_files {
        let mut diags = Diags::new(&f.path);
        let docs = match yaml::parse_docs(&f.text, usize::MAX) {
            Ok(docs) if docs.is_empty() => {
                diags.error(yaml::Pos { line: 1, col: 1 }, "empty file");
                Vec::new()
            }
            Ok(docs) => docs,
            Err(e) => {
                diags.error(e.pos, e.message);
                Vec::new()
            }
        };
        if sigma::is_sigma(&docs) {
            let loaded = sigma::read(&docs, &f.path, &lists, samples.as_ref(), &mut diags);
            for (rule, name, pos) in loaded.rules {
                let id = rule.id.clone();
                if add(rule, pos, &mut diags, &mut rules) {
                    for key in std::iter::once(id).chain(name) {
                        names.insert(key, rules.len() - 1);
                    }
                }
            }
            pending.extend(loaded.correlations);
        } else if docs.len() > 1 {
            // A native rule is one document: the parser says where the second begins.
            if let Err(e) = yaml::parse(&f.text) {
                diags.error(e.pos, e.message);
            }
        } else if let Some(root) = docs.first() {
            if let Some(rule) =
                spec::check(root, &f.path, &lists, samples.as_ref(), now, &mut diags)
            {
                let id_pos = root
                    .as_map()
                    .and_then(|m| m.iter().find(|(k, _)| k.text() == Some("id")))
                    .map(|(_, v)| v.pos)
                    .unwrap_or_default();
                add(rule, id_pos, &mut diags, &mut rules);
            }
        }
        all.extend(diags.list);
    }
    for (rule, pos, file) in sigma::resolve(pending, &mut rules, &names, &mut all) {
        let mut diags = Diags::new(&file);
        add(rule, pos, &mut diags, &mut rules);
        all.extend(diags.list);
    }
    all.sort();
    let ok = !all.iter().any(|d| d.level == Level::Error);
    (ok.then(|| RuleSet::new(rules).with_aliases(aliases)), all)
}

/// The `account_aliases` list, read; each skipped entry is a warning at its value in
/// `lists.yaml`, or names the override that gave it.
fn account_aliases(lists: &Lists, origins: &Origins, all: &mut Vec<Diagnostic>) -> AccountAliases {
    let entries = lists.get(aliases::LIST).map_or(&[][..], Vec::as_slice);
    let (aliases, problems) = AccountAliases::parse(entries);
    for (i, why) in problems {
        let (file, pos) = match origins.get(aliases::LIST) {
            Some((file, at)) => (file.clone(), at.get(i).copied().unwrap_or_default()),
            None => (
                format!(
                    "--list {0} (or TRAILWATCH_LIST_{1})",
                    aliases::LIST,
                    aliases::LIST.to_ascii_uppercase()
                ),
                yaml::Pos { line: 1, col: 1 },
            ),
        };
        let mut d = Diags::new(&file);
        d.warn(
            pos,
            format!("{} entry {}: {why}; it is not shown", aliases::LIST, i + 1),
        );
        all.extend(d.list);
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "id: r\ntitle: t\nseverity: low\nmatch:\n  eventName: X\n";

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let body = format!("{RULE}#");
        let pad = "x".repeat(yaml::MAX_YAML_BYTES - body.len() - 1);
        write(&dir.path().join("a.yaml"), &format!("{body}{pad}\n"));
        let read = read_dir(dir.path()).unwrap();
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        assert_eq!(read.rules.len(), 1);
        write(&dir.path().join("a.yaml"), &format!("{body}{pad}x\n"));
        let read = read_dir(dir.path()).unwrap();
        assert!(read.rules.is_empty());
        assert!(read.problems[0].message.contains("larger than the limit"));
    }

    #[test]
    fn what_a_file_holds_is_judged_from_the_folder_named() {
        // A rules folder that itself sits in a folder named `samples` holds rules.
        let top = tempfile::tempdir().unwrap();
        let rules = top.path().join("samples").join("rules");
        write(&rules.join("r.yaml"), RULE);
        write(&rules.join("samples").join("s.yaml"), "x: {eventName: X}\n");
        let read = read_dir(&rules).unwrap();
        assert_eq!((read.rules.len(), read.samples.len()), (1, 1));
        // A file named alone is judged by its whole path.
        let read = read_dir(&rules.join("samples").join("s.yaml")).unwrap();
        assert_eq!((read.rules.len(), read.samples.len()), (0, 1));
    }

    #[test]
    fn a_null_list_is_empty_and_any_other_scalar_is_refused() {
        let lists = RuleFile {
            path: "lists.yaml".into(),
            text: "empty: ~\nfive: 5\n".into(),
        };
        let rule = RuleFile {
            path: "r.yaml".into(),
            text: format!("{RULE}  userIdentity.arn: {{in_list: empty}}\n"),
        };
        let (_, diags) = compile(&[rule], &[lists], Some(&[]), &[], 0);
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["list 'five' must be a list, found a number"]);
    }
}
