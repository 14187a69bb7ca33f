//! Named sample records for rule tests, and the test events built from them.
//!
//! A catalogue of rules whose tests each spelled out whole CloudTrail records would be
//! thousands of lines of repeated JSON, and the one field a near miss changes would be hard
//! to see. Sample files (`samples.yaml`, or any file in a `samples/` folder) name real
//! records once; a test event then says `{sample: NAME, with: {path: value}, without:
//! [path]}`, so each case shows only what makes it differ.

use super::diag::{did_you_mean, Diags};
use super::yaml::Node;
use crate::event::{FieldPath, Segment};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Sample records by name.
pub type Samples = BTreeMap<String, Value>;

const EVENT_KEYS: &[&str] = &["sample", "with", "without"];

/// Whether a file holds samples rather than a rule: `samples.yaml` / `samples.yml`, or any
/// file below a folder named `samples`.
pub fn is_sample_file(path: &str) -> bool {
    let p = std::path::Path::new(path);
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(name, "samples.yaml" | "samples.yml")
        || p.parent()
            .is_some_and(|d| d.components().any(|c| c.as_os_str() == "samples"))
}

/// Reads one sample file (a mapping of names to records) into `out`, reporting names
/// defined twice.
pub fn read(
    root: &Node,
    file: &str,
    out: &mut Samples,
    seen: &mut BTreeMap<String, String>,
    diags: &mut Diags,
) {
    let Some(entries) = root.as_map() else {
        diags.error(
            root.pos,
            format!(
                "a samples file maps sample names to CloudTrail records, found {}",
                root.kind_name()
            ),
        );
        return;
    };
    for (k, v) in entries {
        let Some(name) = k.text().filter(|n| !n.is_empty()) else {
            diags.error(k.pos, "a sample name must be text");
            continue;
        };
        if v.as_map().is_none() {
            diags.error(
                v.pos,
                format!(
                    "sample '{name}' must be a record (a mapping), found {}",
                    v.kind_name()
                ),
            );
            continue;
        }
        if let Some(first) = seen.get(name) {
            diags.error(
                k.pos,
                format!("sample '{name}' is defined twice (also in {first})"),
            );
            continue;
        }
        seen.insert(name.to_string(), file.to_string());
        out.insert(name.to_string(), v.to_json());
    }
}

/// A test event: a record written out, or `{sample: NAME, with: {…}, without: […]}`.
pub fn event(n: &Node, samples: &Samples, diags: &mut Diags) -> Option<Value> {
    let Some(entries) = n.as_map() else {
        diags.error(
            n.pos,
            format!(
                "a test event must be a mapping (a CloudTrail record), found {}",
                n.kind_name()
            ),
        );
        return None;
    };
    let get = |key: &str| entries.iter().find(|(k, _)| k.text() == Some(key));
    let Some((_, name_node)) = get("sample") else {
        return Some(n.to_json());
    };
    let mut ok = true;
    for (k, _) in entries {
        let key = k.text().unwrap_or_default();
        if !EVENT_KEYS.contains(&key) {
            diags.error(
                k.pos,
                format!(
                    "unknown key '{key}' in a test event from a sample{}; put record fields under 'with'",
                    did_you_mean(key, EVENT_KEYS.iter().copied())
                ),
            );
            ok = false;
        }
    }
    let name = name_node.text().unwrap_or_default();
    let Some(base) = samples.get(name) else {
        diags.error(
            name_node.pos,
            format!(
                "unknown sample '{name}'{}",
                did_you_mean(name, samples.keys().map(String::as_str))
            ),
        );
        return None;
    };
    let mut record = base.clone();
    if let Some((_, with)) = get("with") {
        match with.as_map() {
            Some(changes) => {
                for (k, v) in changes {
                    match path(k, diags) {
                        Some(p) => set(&mut record, &p.segments, v.to_json()),
                        None => ok = false,
                    }
                }
            }
            None => {
                diags.error(with.pos, "with maps field paths to their new values");
                ok = false;
            }
        }
    }
    if let Some((_, without)) = get("without") {
        for item in without.items() {
            match path(item, diags) {
                Some(p) => remove(&mut record, &p.segments),
                None => ok = false,
            }
        }
    }
    ok.then_some(record)
}

fn path(n: &Node, diags: &mut Diags) -> Option<FieldPath> {
    match n.text().map(FieldPath::parse) {
        Some(Ok(p)) => Some(p),
        Some(Err(msg)) => {
            diags.error(n.pos, msg);
            None
        }
        None => {
            diags.error(
                n.pos,
                format!("expected a field path, found {}", n.kind_name()),
            );
            None
        }
    }
}

/// Sets the value at `segs`, creating objects on the way; `[*]` sets every element, `[N]`
/// an existing one.
fn set(v: &mut Value, segs: &[Segment], new: Value) {
    let Some((head, rest)) = segs.split_first() else {
        *v = new;
        return;
    };
    match head {
        Segment::Key(k) => {
            if !v.is_object() {
                *v = Value::Object(Map::new());
            }
            if let Some(m) = v.as_object_mut() {
                set(m.entry(k.clone()).or_insert(Value::Null), rest, new);
            }
        }
        Segment::Index(i) => {
            if let Some(child) = v.get_mut(*i) {
                set(child, rest, new);
            }
        }
        Segment::Any => {
            if let Some(items) = v.as_array_mut() {
                for item in items {
                    set(item, rest, new.clone());
                }
            }
        }
    }
}

/// Removes what `segs` names, if it is there.
fn remove(v: &mut Value, segs: &[Segment]) {
    match segs {
        [] => {}
        [Segment::Key(k)] => {
            if let Some(m) = v.as_object_mut() {
                m.remove(k);
            }
        }
        [Segment::Index(i)] => {
            if let Some(a) = v.as_array_mut() {
                if *i < a.len() {
                    a.remove(*i);
                }
            }
        }
        [Segment::Any] => {
            if let Some(a) = v.as_array_mut() {
                a.clear();
            }
        }
        [head, rest @ ..] => match head {
            Segment::Key(k) => {
                if let Some(child) = v.get_mut(k.as_str()) {
                    remove(child, rest)
                }
            }
            Segment::Index(i) => {
                if let Some(child) = v.get_mut(*i) {
                    remove(child, rest)
                }
            }
            Segment::Any => {
                if let Some(items) = v.as_array_mut() {
                    items.iter_mut().for_each(|i| remove(i, rest));
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::yaml;
    use serde_json::json;

    fn samples() -> Samples {
        let root = yaml::parse(
            "key:\n  eventName: CreateAccessKey\n  userIdentity: {userName: alice}\n  requestParameters: {userName: bob}\n  errorCode: X\n  items: [{a: 1}, {a: 2}]\n",
        )
        .unwrap()
        .unwrap();
        let (mut out, mut seen, mut d) = (Samples::new(), BTreeMap::new(), Diags::new("s.yaml"));
        read(&root, "s.yaml", &mut out, &mut seen, &mut d);
        assert!(d.list.is_empty());
        out
    }

    fn build(src: &str) -> (Option<Value>, Vec<String>) {
        let n = yaml::parse(src).unwrap().unwrap();
        let mut d = Diags::new("r.yaml");
        let v = event(&n, &samples(), &mut d);
        (v, d.list.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn a_sample_with_changes() {
        let (v, errs) = build(
            "{sample: key, with: {requestParameters.userName: alice, sessionContext.mfa: 'true', 'items[*].a': 0, 'items[5].a': 9}, without: [errorCode, 'items[0]']}",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            v.unwrap(),
            json!({"eventName":"CreateAccessKey","userIdentity":{"userName":"alice"},
                "requestParameters":{"userName":"alice"},"sessionContext":{"mfa":"true"},"items":[{"a":0}]})
        );
        let (v, _) = build("{eventName: X}");
        assert_eq!(v.unwrap(), json!({"eventName":"X"}));
    }

    #[test]
    fn mistakes_are_located() {
        let (v, errs) = build("{sample: kye}");
        assert!(v.is_none());
        assert_eq!(
            errs,
            ["r.yaml:1:10: unknown sample 'kye' (did you mean 'key'?)"]
        );
        let (v, errs) = build("{sample: key, eventName: X, with: {a..b: 1}}");
        assert!(v.is_none());
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("unknown key 'eventName'"), "{errs:?}");
        assert!(errs[1].contains("empty segment"), "{errs:?}");
    }

    #[test]
    fn sample_files_are_known_by_name_or_folder() {
        assert!(is_sample_file("rules/samples.yaml"));
        assert!(is_sample_file("rules/samples/stratus.yaml"));
        assert!(!is_sample_file("rules/iam/samples-rule.yaml"));
        assert!(!is_sample_file("rules/lists.yaml"));
    }

    #[test]
    fn removing_an_item_past_the_end_of_a_list_changes_nothing() {
        let (v, errs) = build("{sample: key, without: ['items[2]', 'items[1].b']}");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(v.unwrap()["items"], json!([{"a": 1}, {"a": 2}]));
    }
}
