//! Listing a trail's bucket: find the `AWSLogs/` folders, the organizations, accounts and
//! regions below them (by listing with a delimiter, so no key outside a date folder in the
//! window is ever listed), then hand out log files in name-time order across all of them.
//! S3 sits behind [`Lister`]; the order and the folder choices are `plan`'s.

use super::keys::{classify, last_segment, Folder, S3Uri, Scope, Window};
use super::plan::{page_size, Cursor, Listed, Merge, Next, Request, Skipped};
use futures_util::stream::{self, StreamExt};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

/// A listing that failed, with what to fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("listing s3://{bucket}/{prefix}: {message}")]
pub struct ListError {
    pub bucket: String,
    pub prefix: String,
    pub message: String,
}

/// Why no log file could be found to walk.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WalkError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error("no AWSLogs/ folder within {depth} folder levels of {uri}: give the trail's own prefix (s3://BUCKET/PREFIX, where PREFIX/AWSLogs/ exists)")]
    NoTrail { uri: String, depth: usize },
    #[error("{uri} has more than {limit} folders above AWSLogs/: give the trail's own prefix (s3://BUCKET/PREFIX)")]
    TooManyFolders { uri: String, limit: usize },
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// `(key, size)`.
    pub objects: Vec<(String, u64)>,
    pub next: Option<String>,
}

pub trait Lister: Send + Sync + 'static {
    /// Every sub-folder of `prefix` (full prefixes ending in `/`).
    fn folders(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, ListError>> + Send;
    /// One page of the objects directly in `prefix`.
    fn objects(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<&str>,
        max_keys: usize,
    ) -> impl Future<Output = Result<Page, ListError>> + Send;
}

/// ListObjectsV2 on a real bucket (or `AWS_ENDPOINT_URL`'s).
#[derive(Clone)]
pub struct S3Lister {
    pub client: aws_sdk_s3::Client,
}

/// What to tell the user about a failed S3 call.
pub fn s3_hint<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    let hint = match e.code() {
        Some("NoSuchBucket") => " (check the bucket's name)",
        Some("AccessDenied") => {
            " (replay needs s3:ListBucket on the bucket, s3:GetObject on the log files and kms:Decrypt on the trail's key if it has one; check AWS_PROFILE)"
        }
        Some("PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException") => {
            " (the bucket is in another region: set AWS_REGION to the bucket's region)"
        }
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken") => {
            " (the credentials were refused: check AWS_PROFILE or the AWS_* variables)"
        }
        _ => "",
    };
    format!("{}{hint}", aws_sdk_s3::error::DisplayErrorContext(&e))
}

impl Lister for S3Lister {
    async fn folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ListError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| ListError {
                    bucket: bucket.into(),
                    prefix: prefix.into(),
                    message: s3_hint(e),
                })?;
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn objects(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<&str>,
        max_keys: usize,
    ) -> Result<Page, ListError> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .max_keys(i32::try_from(max_keys).unwrap_or(1000))
            .set_continuation_token(token.map(str::to_string))
            .send()
            .await
            .map_err(|e| ListError {
                bucket: bucket.into(),
                prefix: prefix.into(),
                message: s3_hint(e),
            })?;
        Ok(Page {
            objects: page
                .contents()
                .iter()
                .filter_map(|o| {
                    Some((
                        o.key()?.to_string(),
                        u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                    ))
                })
                .collect(),
            next: page
                .next_continuation_token()
                .filter(|_| page.is_truncated() == Some(true))
                .map(str::to_string),
        })
    }
}

/// `--account` and `--region` (empty: all).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub accounts: BTreeSet<String>,
    pub regions: BTreeSet<String>,
}

impl Filter {
    fn account(&self, a: &str, fixed: &Option<String>) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(a))
            && fixed.as_deref().is_none_or(|f| f == a)
    }
    fn region(&self, r: &str, fixed: &Option<String>) -> bool {
        (self.regions.is_empty() || self.regions.contains(r))
            && fixed.as_deref().is_none_or(|f| f == r)
    }
}

/// One `…/CloudTrail/<region>/` folder to walk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stream {
    pub bucket: Arc<str>,
    pub base: String,
    pub account: String,
    pub region: String,
}

/// How deep to look for `AWSLogs/` below the given prefix (a trail prefix may have
/// several levels), and how many folders at most.
pub const SEARCH_DEPTH: usize = 3;
pub const SEARCH_FOLDERS: usize = 2000;
/// Listings under way at once.
pub const LIST_CONCURRENCY: usize = 16;

/// Every region folder of every account below `uri` that the filter keeps, sorted.
pub async fn discover<L: Lister>(
    lister: &L,
    uri: &S3Uri,
    filter: &Filter,
    skipped: &mut Skipped,
) -> Result<Vec<Stream>, WalkError> {
    let bucket = uri.bucket.as_str();
    let scope = Scope::of(uri).map_err(|e| ListError {
        bucket: bucket.into(),
        prefix: uri.prefix.clone(),
        message: e.to_string(),
    })?;
    let (roots, org, account, region) = match scope {
        Scope::At {
            root,
            org,
            account,
            region,
        } => (vec![root], org, account, region),
        Scope::Search(folder) => (find_roots(lister, uri, folder).await?, None, None, None),
    };
    // Account folders: under each root, directly (a trail of one account) or under an
    // organization's folder.
    let mut orgs = Vec::new();
    let mut accounts = Vec::new();
    for root in &roots {
        if let Some(o) = &org {
            orgs.push(format!("{root}{o}/"));
            continue;
        }
        for c in lister.folders(bucket, root).await? {
            match classify(last_segment(&c)) {
                Folder::Org(_) => orgs.push(c),
                Folder::Account(_) => accounts.push(c),
                Folder::Other => skipped.other_folders += 1,
            }
        }
    }
    for listing in many(lister, bucket, &orgs).await? {
        for c in listing {
            match classify(last_segment(&c)) {
                Folder::Account(_) => accounts.push(c),
                _ => skipped.other_folders += 1,
            }
        }
    }
    accounts.retain(|a| filter.account(last_segment(a), &account));
    // Each account's folders: CloudTrail/ is walked, the digest and Insights ones counted.
    let mut trails = Vec::new();
    for (a, listing) in accounts.iter().zip(many(lister, bucket, &accounts).await?) {
        for c in listing {
            match last_segment(&c) {
                "CloudTrail" => trails.push((last_segment(a).to_string(), c)),
                "CloudTrail-Digest" => skipped.digest_folders += 1,
                "CloudTrail-Insight" => skipped.insight_folders += 1,
                _ => skipped.other_folders += 1,
            }
        }
    }
    let prefixes: Vec<String> = trails.iter().map(|(_, p)| p.clone()).collect();
    let mut streams = Vec::new();
    for ((acct, _), listing) in trails.iter().zip(many(lister, bucket, &prefixes).await?) {
        for c in listing {
            let r = last_segment(&c).to_string();
            if filter.region(&r, &region) {
                streams.push(Stream {
                    bucket: bucket.into(),
                    base: c,
                    account: acct.clone(),
                    region: r,
                });
            }
        }
    }
    streams.sort();
    Ok(streams)
}

/// The sub-folders of each of `prefixes`, in the same order, listed concurrently.
async fn many<L: Lister>(
    lister: &L,
    bucket: &str,
    prefixes: &[String],
) -> Result<Vec<Vec<String>>, ListError> {
    stream::iter(prefixes)
        .map(|p| lister.folders(bucket, p))
        .buffered(LIST_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// The `AWSLogs/` folders within [`SEARCH_DEPTH`] levels of `folder`.
async fn find_roots<L: Lister>(
    lister: &L,
    uri: &S3Uri,
    folder: String,
) -> Result<Vec<String>, WalkError> {
    let bucket = uri.bucket.as_str();
    let mut roots = Vec::new();
    let mut level = vec![folder];
    let mut seen = 0;
    for _ in 0..=SEARCH_DEPTH {
        let mut next = Vec::new();
        for listing in many(lister, bucket, &level).await? {
            for c in listing {
                if last_segment(&c) == "AWSLogs" {
                    roots.push(c);
                } else {
                    next.push(c);
                }
            }
        }
        seen += next.len();
        if seen > SEARCH_FOLDERS {
            return Err(WalkError::TooManyFolders {
                uri: uri.to_string(),
                limit: SEARCH_FOLDERS,
            });
        }
        level = next;
        if level.is_empty() {
            break;
        }
    }
    if roots.is_empty() {
        return Err(WalkError::NoTrail {
            uri: uri.to_string(),
            depth: SEARCH_DEPTH,
        });
    }
    roots.sort();
    Ok(roots)
}

/// Told each day folder as it is listed.
type OnListing = Box<dyn Fn(&str) + Send + Sync>;

/// Log files of many streams, in name-time order.
pub struct Walk<L: Lister> {
    lister: Arc<L>,
    cursors: Vec<Option<Cursor>>,
    merge: Merge,
    page: usize,
    pub skipped: Skipped,
    /// ListObjectsV2 calls made for the date folders.
    pub listings: u64,
    /// Called with each day folder as it is listed (`--verbose`).
    on_listing: Option<OnListing>,
}

impl<L: Lister> Walk<L> {
    pub fn new(lister: Arc<L>, streams: &[Stream], window: Window) -> Walk<L> {
        Walk {
            lister,
            cursors: streams
                .iter()
                .map(|s| Some(Cursor::new(s.bucket.clone(), s.base.clone(), window)))
                .collect(),
            merge: Merge::new(streams.len()),
            page: page_size(streams.len()),
            skipped: Skipped::default(),
            listings: 0,
            on_listing: None,
        }
    }

    pub fn on_listing(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_listing = Some(Box::new(f));
        self
    }

    /// Files read after one with a later name (see [`Merge::late`]).
    pub fn late(&self) -> u64 {
        self.merge.late
    }

    /// The next log file, oldest name first.
    pub async fn next(&mut self) -> Result<Option<Listed>, ListError> {
        loop {
            let need = match self.merge.pop() {
                Next::Ready(l) => return Ok(Some(l)),
                Next::Done => return Ok(None),
                Next::Need(need) => need,
            };
            let jobs: Vec<(usize, Cursor)> = need
                .into_iter()
                .filter_map(|s| Some((s, self.cursors.get_mut(s)?.take()?)))
                .collect();
            let lister = self.lister.clone();
            let page = self.page;
            let on_listing = &self.on_listing;
            let filled: Vec<_> = stream::iter(jobs)
                .map(|(s, c)| {
                    let lister = lister.clone();
                    async move { (s, fill(&*lister, c, page, on_listing).await) }
                })
                .buffer_unordered(LIST_CONCURRENCY)
                .collect()
                .await;
            for (s, r) in filled {
                let f = r?;
                self.skipped.add(&f.skipped);
                self.listings += f.listings;
                let more = f.cursor.request().is_some();
                self.merge.supply(s, f.keys, more);
                self.cursors[s] = Some(f.cursor);
            }
        }
    }
}

struct Filled {
    cursor: Cursor,
    keys: Vec<Listed>,
    skipped: Skipped,
    listings: u64,
}

/// Lists one stream until it yields log files or ends.
async fn fill<L: Lister>(
    lister: &L,
    mut cursor: Cursor,
    page: usize,
    on_listing: &Option<OnListing>,
) -> Result<Filled, ListError> {
    let mut skipped = Skipped::default();
    let mut listings = 0;
    let bucket = cursor.bucket.clone();
    while let Some(req) = cursor.request() {
        listings += 1;
        match req {
            Request::Folders(prefix) => {
                let children = lister.folders(&bucket, &prefix).await?;
                cursor.folders(&children, &mut skipped);
            }
            Request::Objects { prefix, token } => {
                if token.is_none() {
                    if let Some(f) = on_listing {
                        f(&format!("s3://{bucket}/{prefix}"));
                    }
                }
                let p = lister
                    .objects(&bucket, &prefix, token.as_deref(), page)
                    .await?;
                let keys = cursor.objects(p.objects, p.next, &mut skipped);
                if !keys.is_empty() {
                    return Ok(Filled {
                        cursor,
                        keys,
                        skipped,
                        listings,
                    });
                }
            }
        }
    }
    Ok(Filled {
        cursor,
        keys: Vec::new(),
        skipped,
        listings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::keys::Range;
    use std::sync::Mutex;
    use trailwatch::event::parse_time;

    /// A bucket in memory with S3's delimiter semantics; counts listings per prefix.
    #[derive(Default)]
    struct Bucket {
        keys: BTreeSet<String>,
        calls: Mutex<Vec<String>>,
    }

    impl Lister for Bucket {
        async fn folders(&self, _: &str, prefix: &str) -> Result<Vec<String>, ListError> {
            self.calls.lock().unwrap().push(prefix.to_string());
            let mut out = BTreeSet::new();
            for k in self.keys.range(prefix.to_string()..) {
                let Some(rest) = k.strip_prefix(prefix) else {
                    break;
                };
                if let Some(i) = rest.find('/') {
                    out.insert(format!("{prefix}{}", &rest[..=i]));
                }
            }
            Ok(out.into_iter().collect())
        }

        async fn objects(
            &self,
            _: &str,
            prefix: &str,
            token: Option<&str>,
            max: usize,
        ) -> Result<Page, ListError> {
            self.calls.lock().unwrap().push(prefix.to_string());
            let start = token.unwrap_or(prefix).to_string();
            let all: Vec<String> = self
                .keys
                .range(start..)
                .take_while(|k| k.starts_with(prefix))
                .filter(|k| !k[prefix.len()..].contains('/') && Some(k.as_str()) != token)
                .cloned()
                .collect();
            let next = (all.len() > max).then(|| all[max - 1].clone());
            Ok(Page {
                objects: all.into_iter().take(max).map(|k| (k, 1)).collect(),
                next,
            })
        }
    }

    fn log(root: &str, account: &str, region: &str, day: &str, hhmm: &str) -> String {
        let compact = day.replace('/', "");
        format!("{root}{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{compact}T{hhmm}Z_u.json.gz")
    }

    fn bucket() -> Bucket {
        let org = "o-abc123/AWSLogs/o-abc123/";
        let mut keys = BTreeSet::new();
        for (a, r, d, t) in [
            ("111111111111", "us-east-1", "2024/05/01", "1010"),
            ("222222222222", "us-east-1", "2024/05/01", "1000"),
            ("111111111111", "eu-west-1", "2024/05/01", "1005"),
            ("111111111111", "eu-west-1", "2024/05/02", "0005"),
            ("222222222222", "eu-west-1", "2024/05/03", "1200"),
        ] {
            keys.insert(log(org, a, r, d, t));
        }
        keys.insert(log(
            "legacy/AWSLogs/",
            "333333333333",
            "us-east-1",
            "2024/05/01",
            "1007",
        ));
        keys.insert(format!("{org}111111111111/CloudTrail-Digest/us-east-1/2024/05/01/111111111111_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T101500Z.json.gz"));
        keys.insert(format!(
            "{org}111111111111/CloudTrail/us-east-1/2024/05/01/junk.txt"
        ));
        keys.insert("other/data.csv".into());
        Bucket {
            keys,
            ..Bucket::default()
        }
    }

    async fn walk_all(
        b: Bucket,
        uri: &str,
        filter: Filter,
        range: Range,
    ) -> (Vec<String>, Skipped, Vec<String>) {
        let b = Arc::new(b);
        let mut skipped = Skipped::default();
        let streams = discover(&*b, &uri.parse().unwrap(), &filter, &mut skipped)
            .await
            .unwrap();
        let mut w = Walk::new(b.clone(), &streams, range.widened(3600));
        let mut keys = Vec::new();
        while let Some(l) = w.next().await.unwrap() {
            keys.push(l.key.rsplit('/').next().unwrap().to_string());
        }
        skipped.add(&w.skipped);
        let calls = b.calls.lock().unwrap().clone();
        (keys, skipped, calls)
    }

    fn all_time() -> Range {
        Range::new(None, parse_time("2030-01-01T00:00:00Z").unwrap()).unwrap()
    }

    #[tokio::test]
    async fn org_and_plain_trails_are_found_and_read_in_name_time_order() {
        let (keys, skipped, calls) =
            walk_all(bucket(), "s3://trail", Filter::default(), all_time()).await;
        assert_eq!(
            keys,
            [
                "222222222222_CloudTrail_us-east-1_20240501T1000Z_u.json.gz",
                "111111111111_CloudTrail_eu-west-1_20240501T1005Z_u.json.gz",
                "333333333333_CloudTrail_us-east-1_20240501T1007Z_u.json.gz",
                "111111111111_CloudTrail_us-east-1_20240501T1010Z_u.json.gz",
                "111111111111_CloudTrail_eu-west-1_20240502T0005Z_u.json.gz",
                "222222222222_CloudTrail_eu-west-1_20240503T1200Z_u.json.gz",
            ]
        );
        assert_eq!((skipped.digest_folders, skipped.malformed_keys), (1, 1));
        assert!(
            !calls.iter().any(|c| c.contains("CloudTrail-Digest")),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn filters_and_ranges_narrow_what_is_listed() {
        let filter = Filter {
            accounts: ["111111111111".to_string()].into(),
            regions: ["eu-west-1".to_string()].into(),
        };
        let range = Range::new(
            Some(parse_time("2024-05-02T00:00:00Z").unwrap()),
            parse_time("2024-05-03T00:00:00Z").unwrap(),
        )
        .unwrap();
        let (keys, _, calls) = walk_all(bucket(), "s3://trail/o-abc123", filter, range).await;
        assert_eq!(
            keys,
            ["111111111111_CloudTrail_eu-west-1_20240502T0005Z_u.json.gz"]
        );
        let days: Vec<&String> = calls
            .iter()
            .filter(|c| c.matches('/').count() >= 9)
            .collect();
        assert_eq!(
            days,
            [
                "o-abc123/AWSLogs/o-abc123/111111111111/CloudTrail/eu-west-1/2024/05/01/",
                "o-abc123/AWSLogs/o-abc123/111111111111/CloudTrail/eu-west-1/2024/05/02/",
            ],
            "only day folders within the range and its margin; other accounts and regions never listed"
        );
        assert!(
            !calls
                .iter()
                .any(|c| c.contains("222222222222/CloudTrail") || c.contains("legacy")),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn a_prefix_inside_the_layout_fixes_account_and_region() {
        let (keys, ..) = walk_all(
            bucket(),
            "s3://trail/o-abc123/AWSLogs/o-abc123/222222222222/CloudTrail/us-east-1/",
            Filter::default(),
            all_time(),
        )
        .await;
        assert_eq!(
            keys,
            ["222222222222_CloudTrail_us-east-1_20240501T1000Z_u.json.gz"]
        );
    }

    #[tokio::test]
    async fn no_trail_below_the_prefix_says_what_to_give() {
        let b = bucket();
        let err = discover(
            &b,
            &"s3://trail/other".parse().unwrap(),
            &Filter::default(),
            &mut Skipped::default(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("give the trail's own prefix"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn pages_of_one_key_still_merge_in_order() {
        let b = Arc::new(bucket());
        let mut skipped = Skipped::default();
        let streams = discover(
            &*b,
            &"s3://trail".parse().unwrap(),
            &Filter::default(),
            &mut skipped,
        )
        .await
        .unwrap();
        let mut w = Walk::new(b, &streams, all_time().widened(0));
        w.page = 1;
        let mut times = Vec::new();
        while let Some(l) = w.next().await.unwrap() {
            times.push(l.time);
        }
        assert_eq!(times.len(), 6);
        assert!(times.windows(2).all(|p| p[0] <= p[1]), "{times:?}");
        assert_eq!(w.late(), 0);
    }
}
