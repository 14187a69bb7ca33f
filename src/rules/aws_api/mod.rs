//! What each AWS API operation takes, so `validate` can tell that
//! `requestParameters.usrName` on `CreateAccessKey` is a rule that never fires.
//!
//! CloudTrail's `requestParameters` mirror the request of the call it records, and the
//! AWS SDK service models (botocore's, Apache-2.0) describe every request. The
//! generator `scripts/aws_api_members.py` keeps, per service, its CloudTrail
//! `eventSource`s and, per operation (= `eventName`), the top-level request members in
//! `members.txt.gz`, with what real records taught where the model alone is wrong (how
//! CloudTrail spells members, keys it adds, protocols it writes its own way; README.md).
//!
//! The data is embedded but decoded on first use only: `validate` and `test` pay for it
//! (a few milliseconds), a process that only evaluates events (`scan`, the Lambda's cold
//! start) never does.

mod check;

pub(crate) use check::check_rule;

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::sync::OnceLock;

static DATA: &[u8] = include_bytes!("members.txt.gz");
static MODEL: OnceLock<Result<Model<'static>, ModelError>> = OnceLock::new();

/// The embedded model, decoded on the first call.
pub fn model() -> Result<&'static Model<'static>, &'static ModelError> {
    MODEL
        .get_or_init(|| {
            let mut text = String::new();
            flate2::read::GzDecoder::new(DATA)
                .read_to_string(&mut text)
                .map_err(ModelError::Inflate)?;
            // Kept for the life of the process, like the model that points into it.
            Model::parse(Box::leak(text.into_boxed_str()))
        })
        .as_ref()
}

/// Whether this process has decoded the model (a process that only evaluates events
/// must not).
pub fn loaded() -> bool {
    MODEL.get().is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the embedded AWS API model cannot be inflated: {0}")]
    Inflate(std::io::Error),
    #[error("the embedded AWS API model is malformed at line {line}: {why}")]
    Line { line: usize, why: &'static str },
}

/// How CloudTrail spells a service's request members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Casing {
    /// The model's name with its first letter in lower case (`UserName` → `userName`).
    Camel,
    /// The model's name.
    Verbatim,
    /// Not measured yet: either spelling is taken.
    Either,
}

#[derive(Debug)]
pub struct Service<'a> {
    /// botocore's name (`iam`, `elbv2`).
    pub name: &'a str,
    /// The protocol whose CloudTrail naming was measured (`json`, `query`, `rest-json`, …).
    pub protocol: &'a str,
    /// Whether `validate` checks this service (off where records do not follow the model).
    pub checked: bool,
    pub casing: Casing,
    /// CloudTrail `eventSource`s (`iam.amazonaws.com`).
    pub sources: Vec<&'a str>,
    /// Event names carry the API version (`UpdateFunctionCode20150331v2`).
    pub suffixed: bool,
    ops: Vec<Op<'a>>,
}

#[derive(Debug)]
struct Op<'a> {
    name: &'a str,
    /// Space-separated members; `+name` is a key CloudTrail adds, spelled as it does.
    members: &'a str,
}

/// One operation of one service.
#[derive(Debug, Clone, Copy)]
pub struct OpRef<'m> {
    pub service: &'m Service<'m>,
    op: &'m Op<'m>,
}

impl<'m> OpRef<'m> {
    pub fn name(&self) -> &'m str {
        self.op.name
    }

    /// Whether CloudTrail writes `key` at the top of this operation's `requestParameters`.
    pub fn knows(&self, key: &str) -> bool {
        self.op
            .members
            .split(' ')
            .any(|m| match m.strip_prefix('+') {
                Some(extra) => extra == key,
                None => spelled_as(self.service.casing, m, key),
            })
    }

    /// [`OpRef::knows`] from the model's members alone (without the keys CloudTrail adds).
    pub fn knows_in_model(&self, key: &str) -> bool {
        self.op
            .members
            .split(' ')
            .any(|m| !m.starts_with('+') && spelled_as(self.service.casing, m, key))
    }

    /// The operation's members as the model spells them.
    pub fn members(&self) -> impl Iterator<Item = &'m str> {
        self.op
            .members
            .split(' ')
            .filter(|m| !m.is_empty() && !m.starts_with('+'))
    }

    /// The keys as CloudTrail writes them (for a service of unknown casing, in the case
    /// `like` starts with).
    pub fn keys(&self, like: &str) -> impl Iterator<Item = String> + 'm {
        let casing = self.service.casing;
        let lower = like.starts_with(|c: char| c.is_ascii_lowercase());
        self.op
            .members
            .split(' ')
            .filter(|m| !m.is_empty())
            .map(move |m| match m.strip_prefix('+') {
                Some(extra) => extra.to_string(),
                None if casing == Casing::Camel || (casing == Casing::Either && lower) => {
                    lower_first(m)
                }
                None => m.to_string(),
            })
    }
}

/// `UserName` → `userName`.
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Whether `key` is how CloudTrail spells the model member `member`.
fn spelled_as(casing: Casing, member: &str, key: &str) -> bool {
    let (Some(m0), Some(k0)) = (member.chars().next(), key.chars().next()) else {
        return false;
    };
    if member[m0.len_utf8()..] != key[k0.len_utf8()..] {
        return false;
    }
    match casing {
        Casing::Verbatim => m0 == k0,
        Casing::Camel => m0.to_lowercase().eq(k0.to_lowercase()) && !k0.is_uppercase(),
        Casing::Either => m0.to_lowercase().eq(k0.to_lowercase()),
    }
}

/// The values a rule requires of `eventSource` or `eventName` (see the index), in lower
/// case when compared ignoring case.
#[derive(Debug, Clone, Copy)]
pub struct Pin<'p> {
    pub values: &'p BTreeSet<String>,
    pub ignore_case: bool,
}

/// What a rule's pinned `eventSource`/`eventName` come to.
#[derive(Debug, Default)]
pub struct Resolved<'m> {
    /// The operations the rule's events are calls of, when all are known and checked.
    pub ops: Option<Vec<OpRef<'m>>>,
    /// Whether `ops` are every operation of the pinned services (no `eventName` pinned).
    pub whole_services: bool,
    /// Pinned event names that are no operation of the pinned (checked) services, each
    /// with the closest operation's name.
    pub misnamed: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Model<'a> {
    /// Each service's operations are sorted by name ignoring case (the generator's order),
    /// so a name is found by binary search without an index to build.
    services: Vec<Service<'a>>,
    by_source: HashMap<&'a str, Vec<usize>>,
    /// The header's comment lines (source, version, license).
    pub header: Vec<&'a str>,
}

/// Orders names ignoring ASCII case, then as written (the generator's order).
fn name_order(a: &str, b: &str) -> Ordering {
    fold(a).cmp(fold(b)).then_with(|| a.cmp(b))
}

fn fold(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().map(|b| b.to_ascii_lowercase())
}

impl<'a> Model<'a> {
    /// Reads the generator's text (format: `scripts/aws_api_members.py`).
    pub fn parse(text: &'a str) -> Result<Model<'a>, ModelError> {
        let mut services: Vec<Service<'a>> = Vec::new();
        let mut header = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let bad = |why| ModelError::Line { line: i + 1, why };
            if let Some(c) = line.strip_prefix('#') {
                header.push(c.trim());
            } else if let Some(h) = line.strip_prefix('@') {
                let f: Vec<&str> = h.split(' ').collect();
                let [name, protocol, on, casing, sources, ref rest @ ..] = f[..] else {
                    return Err(bad("a service line has five fields"));
                };
                services.push(Service {
                    name,
                    protocol,
                    checked: match on {
                        "on" => true,
                        "off" => false,
                        _ => return Err(bad("a service is 'on' or 'off'")),
                    },
                    casing: match casing {
                        "camel" => Casing::Camel,
                        "verbatim" => Casing::Verbatim,
                        "either" => Casing::Either,
                        _ => return Err(bad("unknown casing")),
                    },
                    sources: sources.split(',').collect(),
                    suffixed: rest.contains(&"suffix"),
                    ops: Vec::new(),
                });
            } else if !line.is_empty() {
                let s = services
                    .last_mut()
                    .ok_or(bad("an operation before any service"))?;
                let (name, members) = line.split_once(' ').unwrap_or((line, ""));
                if s.ops
                    .last()
                    .is_some_and(|prev| name_order(prev.name, name) != Ordering::Less)
                {
                    return Err(bad("operations are not sorted by name ignoring case"));
                }
                s.ops.push(Op { name, members });
            }
        }
        let mut by_source: HashMap<&str, Vec<usize>> = HashMap::new();
        for (si, s) in services.iter().enumerate() {
            for src in &s.sources {
                by_source.entry(src).or_default().push(si);
            }
        }
        Ok(Model {
            services,
            by_source,
            header,
        })
    }

    pub fn services(&self) -> &[Service<'a>] {
        &self.services
    }

    /// The operations an event of `source` named `name` is a call of (CloudTrail's version
    /// suffix ignored where the service has one).
    pub fn operation(&self, source: &str, name: &str) -> Vec<OpRef<'_>> {
        let services: BTreeSet<usize> = self
            .by_source
            .get(source)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        self.named(name, false, Some(&services))
    }

    /// Operations named `name` (in `within` services, if given).
    fn named(
        &self,
        name: &str,
        ignore_case: bool,
        within: Option<&BTreeSet<usize>>,
    ) -> Vec<OpRef<'_>> {
        let bare = strip_version(name);
        let mut found = Vec::new();
        let indices: Box<dyn Iterator<Item = usize>> = match within {
            Some(w) => Box::new(w.iter().copied()),
            None => Box::new(0..self.services.len()),
        };
        for si in indices {
            let s = &self.services[si];
            let mut find = |n: &str| {
                let lo = s.ops.partition_point(|o| fold(o.name).lt(fold(n)));
                let same = s.ops[lo..]
                    .iter()
                    .take_while(|o| fold(o.name).eq(fold(n)))
                    .filter(|o| ignore_case || o.name == n);
                found.extend(same.map(|op| OpRef { service: s, op }));
            };
            find(name);
            if let (Some(bare), true) = (bare, s.suffixed) {
                find(bare);
            }
        }
        found
    }

    /// The operations a rule's events can be calls of, from what it pins (`None` when
    /// they cannot be told: nothing pinned, an event source or name the model does not
    /// know, or a service `validate` does not check).
    pub fn resolve(&self, sources: Option<Pin>, names: Option<Pin>) -> Resolved<'_> {
        let mut out = Resolved::default();
        let within = match sources {
            Some(p) => {
                let mut set = BTreeSet::new();
                // Host names, in lower case in the model as in pins that ignore case.
                for s in p.values {
                    match self.by_source.get(s.as_str()) {
                        Some(list) => set.extend(list.iter().copied()),
                        None => return out,
                    }
                }
                if set.iter().any(|&i| !self.services[i].checked) {
                    return out;
                }
                Some(set)
            }
            None => None,
        };
        let Some(names) = names else {
            let Some(within) = within else { return out };
            out.whole_services = true;
            out.ops = Some(
                within
                    .iter()
                    .flat_map(|&si| {
                        let s = &self.services[si];
                        s.ops.iter().map(move |op| OpRef { service: s, op })
                    })
                    .collect(),
            );
            return out;
        };
        let mut ops = Vec::new();
        let mut complete = true;
        for n in names.values {
            let found = self.named(n, names.ignore_case, within.as_ref());
            if found.is_empty() {
                complete = false;
                if let Some(within) = &within {
                    let candidates = within
                        .iter()
                        .flat_map(|&si| self.services[si].ops.iter().map(|o| o.name));
                    // One edit: CloudTrail records calls the SDK does not make under
                    // names two edits from one it does (rds DescribeRecommendations).
                    if let Some(best) = super::diag::closest(n, candidates, 1) {
                        out.misnamed.push((n.clone(), best.to_string()));
                    }
                }
            }
            ops.extend(found);
        }
        if complete && ops.iter().all(|o| o.service.checked) {
            out.ops = Some(ops);
        }
        out
    }
}

/// `UpdateFunctionCode20150331v2` → `UpdateFunctionCode`: the API version CloudTrail
/// appends to some services' event names (eight digits, then optionally `v` and digits).
pub fn strip_version(name: &str) -> Option<&str> {
    let base = match name.rfind('v') {
        Some(i) if i + 1 < name.len() && name[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &name[..i]
        }
        _ => name,
    };
    let cut = base.len().checked_sub(8)?;
    (cut > 0 && base.is_char_boundary(cut) && base[cut..].bytes().all(|b| b.is_ascii_digit()))
        .then(|| &base[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# test model
@iam query on camel iam.amazonaws.com
CreateAccessKey UserName
CreateSAMLProvider Name SAMLMetadataDocument Tags
ListUsers Marker MaxItems PathPrefix
@lambda rest-json on camel lambda.amazonaws.com suffix
UpdateFunctionCode FunctionName ZipFile +fullyQualifiedArn
@ce json on verbatim ce.amazonaws.com
GetCostForecast Filter Metric
@newsvc json on either newsvc.amazonaws.com,new.amazonaws.com
CreateThing Name clientToken
@s3 rest-xml off either s3.amazonaws.com
CreateBucket Bucket
@lightsail json on either lightsail.amazonaws.com
CreateBucket bucketName
";

    fn op<'m>(m: &'m Model, src: &str, name: &str) -> OpRef<'m> {
        let found = m.operation(src, name);
        assert_eq!(found.len(), 1, "{src} {name}: {found:?}");
        found[0]
    }

    #[test]
    fn cloudtrail_spellings_per_casing() {
        let m = Model::parse(TEXT).unwrap();
        let key = op(&m, "iam.amazonaws.com", "CreateAccessKey");
        assert!(key.knows("userName"));
        assert!(!key.knows("UserName"), "IAM records write lowerCamel");
        assert!(!key.knows("usrName"));
        let saml = op(&m, "iam.amazonaws.com", "CreateSAMLProvider");
        assert!(saml.knows("sAMLMetadataDocument"));
        assert!(!saml.knows("samlMetadataDocument"));
        let ce = op(&m, "ce.amazonaws.com", "GetCostForecast");
        assert!(ce.knows("Filter") && !ce.knows("filter"));
        let new = op(&m, "new.amazonaws.com", "CreateThing");
        assert!(new.knows("Name") && new.knows("name") && new.knows("clientToken"));
        assert!(!new.knows("nam"));
        assert_eq!(
            saml.keys("x").collect::<Vec<_>>(),
            ["name", "sAMLMetadataDocument", "tags"]
        );
        assert_eq!(new.keys("N").collect::<Vec<_>>(), ["Name", "clientToken"]);
        // A service of either casing follows the key it is asked about; the others do not.
        assert_eq!(new.keys("n").collect::<Vec<_>>(), ["name", "clientToken"]);
        assert_eq!(ce.keys("f").collect::<Vec<_>>(), ["Filter", "Metric"]);
        assert_eq!(key.keys("U").collect::<Vec<_>>(), ["userName"]);
    }

    #[test]
    fn keys_cloudtrail_adds_are_known_but_not_model_members() {
        let m = Model::parse(TEXT).unwrap();
        let code = op(&m, "lambda.amazonaws.com", "UpdateFunctionCode20150331v2");
        assert!(code.knows("fullyQualifiedArn"));
        assert!(!code.knows_in_model("fullyQualifiedArn"));
        assert!(code.knows_in_model("functionName"));
        assert_eq!(code.keys("f").last().as_deref(), Some("fullyQualifiedArn"));
        let members: Vec<&str> = code.members().collect();
        assert_eq!(members, ["FunctionName", "ZipFile"]);
    }

    #[test]
    fn version_suffixes() {
        assert_eq!(
            strip_version("UpdateFunctionCode20150331v2"),
            Some("UpdateFunctionCode")
        );
        assert_eq!(
            strip_version("CreateFunction20150331"),
            Some("CreateFunction")
        );
        assert_eq!(strip_version("CreateFunction"), None);
        assert_eq!(strip_version("20150331"), None);
        assert_eq!(strip_version("Get2v"), None);
        // A `v` ends the version only when digits follow it, to the end of the name.
        assert_eq!(strip_version("GetThing20150331v"), None);
        assert_eq!(strip_version("Remove20150331"), Some("Remove"));
        let m = Model::parse(TEXT).unwrap();
        // Only a service whose event names carry a version is looked up without it.
        assert!(m
            .operation("iam.amazonaws.com", "ListUsers20150331")
            .is_empty());
        assert!(m.operation("iam.amazonaws.com", "listusers").is_empty());
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resolving_what_a_rule_pins() {
        let m = Model::parse(TEXT).unwrap();
        fn pin(values: &BTreeSet<String>, ignore_case: bool) -> Option<Pin<'_>> {
            Some(Pin {
                values,
                ignore_case,
            })
        }
        let names = |r: &Resolved| {
            r.ops.as_ref().map(|o| {
                o.iter()
                    .map(|o| format!("{} {}", o.service.name, o.name()))
                    .collect::<Vec<_>>()
            })
        };
        let (iam, key) = (set(&["iam.amazonaws.com"]), set(&["CreateAccessKey"]));
        assert_eq!(
            names(&m.resolve(pin(&iam, false), pin(&key, false))).unwrap(),
            ["iam CreateAccessKey"]
        );
        assert_eq!(
            names(&m.resolve(None, pin(&key, false))).unwrap(),
            ["iam CreateAccessKey"]
        );
        // Sigma compares ignoring case: values come in lower case.
        let lower = set(&["createaccesskey"]);
        assert_eq!(
            names(&m.resolve(None, pin(&lower, true))).unwrap(),
            ["iam CreateAccessKey"]
        );
        assert!(m.resolve(None, pin(&lower, false)).ops.is_none());
        // A whole service.
        let r = m.resolve(pin(&iam, false), None);
        assert!(r.whole_services);
        assert_eq!(r.ops.unwrap().len(), 3);
        // Nothing to say: an event that is no operation (ConsoleLogin), an unknown source, a
        // name shared with a service that is not checked.
        assert!(m
            .resolve(None, pin(&set(&["CreateAccessKey", "ConsoleLogin"]), false))
            .ops
            .is_none());
        assert!(m
            .resolve(pin(&set(&["signin.amazonaws.com"]), false), None)
            .ops
            .is_none());
        assert!(m
            .resolve(None, pin(&set(&["CreateBucket"]), false))
            .ops
            .is_none());
        assert!(m.resolve(None, None).ops.is_none());
        // A misspelt operation of a pinned service.
        let r = m.resolve(pin(&iam, false), pin(&set(&["CreateAccesKey"]), false));
        assert!(r.ops.is_none());
        assert_eq!(
            r.misnamed,
            [("CreateAccesKey".to_string(), "CreateAccessKey".to_string())]
        );
        let r = m.resolve(pin(&iam, false), pin(&set(&["ConsoleLogin"]), false));
        assert!(r.misnamed.is_empty());
    }

    #[test]
    fn malformed_text_is_an_error() {
        for (text, line) in [
            ("CreateUser UserName\n", 1),
            ("@iam query on camel\n", 1),
            ("@iam query maybe camel iam.amazonaws.com\n", 1),
            (
                "# c\n@iam query on camel iam.amazonaws.com\nListUsers\nCreateUser\n",
                4,
            ),
        ] {
            match Model::parse(text) {
                Err(ModelError::Line { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_embedded_model_loads() {
        let m = model().unwrap();
        assert!(loaded());
        assert!(m.services().len() > 400);
        assert!(m.header.iter().any(|h| h.contains("botocore")));
        let key = m.operation("iam.amazonaws.com", "CreateAccessKey");
        assert!(key.iter().any(|o| o.knows("userName")));
    }
}
