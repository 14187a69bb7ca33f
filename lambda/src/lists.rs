//! The compiled rules, with named lists that may come from an S3 object and change
//! without a redeploy.
//!
//! An organization's `trusted_accounts` can hold thousands of account ids: far more than
//! the 4 KB Lambda allows for all environment variables together. `TRAILWATCH_LISTS_S3`
//! names a `lists.yaml` in S3, read at cold start (after the bundled lists, so it wins)
//! and checked again every `TRAILWATCH_LISTS_REFRESH_SECONDS`: when its ETag changed, the
//! rules are compiled again with it. `TRAILWATCH_LIST_<NAME>` variables still win over
//! both. A list file that does not compile is logged and the rules in use are kept.

use anyhow::{bail, Context, Result};
use std::sync::{Arc, Mutex};
use trailwatch::rules::{Level, RuleDir, RuleFile, RuleSet};

/// Where the lists come from, and how often to look again.
#[derive(Debug, Clone)]
pub struct Source {
    pub bucket: String,
    pub key: String,
    pub refresh_seconds: i64,
}

impl Source {
    /// `s3://bucket/key`.
    pub fn parse(uri: &str, refresh_seconds: i64) -> Result<Source> {
        let Some((bucket, key)) = uri
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        else {
            bail!("TRAILWATCH_LISTS_S3={uri} is not s3://bucket/key");
        };
        Ok(Source {
            bucket: bucket.to_string(),
            key: key.to_string(),
            refresh_seconds,
        })
    }
}

struct Loaded {
    rules: Arc<RuleSet>,
    etag: Option<String>,
    checked_at: i64,
}

/// The rules in use.
pub struct Catalogue {
    dir: RuleDir,
    source: Option<Source>,
    current: Mutex<Loaded>,
}

fn compile(dir: &RuleDir, lists: Option<RuleFile>, now: i64) -> Result<RuleSet> {
    let mut dir = RuleDir {
        rules: dir.rules.clone(),
        lists: dir.lists.clone(),
        samples: Vec::new(),
        problems: dir.problems.clone(),
    };
    dir.lists.extend(lists);
    let overrides = trailwatch::rules::list_overrides_from_env();
    let (set, diags) = RuleSet::compile_dir_to_run(&dir, &overrides, now);
    for d in diags.iter().filter(|d| d.level == Level::Warning) {
        tracing::warn!("{d}");
    }
    match set {
        Some(set) => Ok(set),
        None => {
            let errors: Vec<String> = diags.iter().map(ToString::to_string).collect();
            bail!("rules do not compile:\n{}", errors.join("\n"))
        }
    }
}

/// The lists object's text and ETag.
async fn fetch(s3: &aws_sdk_s3::Client, src: &Source) -> Result<(RuleFile, Option<String>)> {
    let out = s3
        .get_object()
        .bucket(&src.bucket)
        .key(&src.key)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))
        .with_context(|| format!("reading lists from s3://{}/{}", src.bucket, src.key))?;
    let etag = out.e_tag().map(str::to_string);
    let bytes = out.body.collect().await?.into_bytes();
    if bytes.len() > trailwatch::rules::yaml::MAX_YAML_BYTES {
        bail!("s3://{}/{} is larger than 1 MiB", src.bucket, src.key);
    }
    let text = String::from_utf8(bytes.to_vec())
        .with_context(|| format!("s3://{}/{} is not UTF-8", src.bucket, src.key))?;
    Ok((
        RuleFile {
            path: format!("s3://{}/{}", src.bucket, src.key),
            text,
        },
        etag,
    ))
}

impl Catalogue {
    /// Compiles `dir` with the lists of `source` (read now; an error stops the cold start).
    pub async fn load(
        dir: RuleDir,
        source: Option<Source>,
        s3: &aws_sdk_s3::Client,
        now: i64,
    ) -> Result<Catalogue> {
        let (lists, etag) = match &source {
            Some(src) => {
                let (f, etag) = fetch(s3, src).await?;
                (Some(f), etag)
            }
            None => (None, None),
        };
        let rules = Arc::new(compile(&dir, lists, now)?);
        Ok(Catalogue {
            dir,
            source,
            current: Mutex::new(Loaded {
                rules,
                etag,
                checked_at: now,
            }),
        })
    }

    /// The rules to use now, after looking at the lists object again when it is time.
    pub async fn rules(&self, s3: &aws_sdk_s3::Client, now: i64) -> Arc<RuleSet> {
        let (due, etag) = {
            let c = self.lock();
            let due = self
                .source
                .as_ref()
                .is_some_and(|s| now - c.checked_at >= s.refresh_seconds);
            (due, c.etag.clone())
        };
        if let (true, Some(src)) = (due, &self.source) {
            self.lock().checked_at = now;
            match s3
                .head_object()
                .bucket(&src.bucket)
                .key(&src.key)
                .send()
                .await
            {
                Ok(head) if head.e_tag() != etag.as_deref() => match fetch(s3, src).await {
                    Ok((file, etag)) => match compile(&self.dir, Some(file), now) {
                        Ok(set) => {
                            tracing::info!(etag = ?etag, "lists changed: rules compiled again");
                            let mut c = self.lock();
                            c.rules = Arc::new(set);
                            c.etag = etag;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "new lists rejected; the rules in use are kept")
                        }
                    },
                    Err(e) => tracing::warn!(error = %e, "lists not refreshed"),
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    error = %aws_sdk_s3::error::DisplayErrorContext(e),
                    "lists not refreshed"
                ),
            }
        }
        self.lock().rules.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}
