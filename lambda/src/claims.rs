//! Alert claims, as in the Powertools idempotency pattern: an alert is claimed before it
//! is published (with a lease that expires if the claimer dies), marked completed after,
//! and released if publishing fails, so nothing is lost and nothing pages twice.
//!
//! A claim names its owner, a token unique to one invocation attempt, so the SDK's retry
//! of a claim whose answer was lost gets the claim back (its first attempt took it), and
//! only the owner can release it. A claim held by another owner is `Busy`: the caller
//! fails with a retryable error rather than report as done an alert nobody has published
//! yet; Lambda's retry comes back once the claim is completed, released or its lease over.

use crate::Failure;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours to publish.
    Acquired,
    /// Ours to publish, taken from another owner whose lease ran out: that owner may have
    /// published it already and died before marking it completed (a possible second page,
    /// counted as `ClaimsTakenOver`).
    TakenOver,
    /// Already published.
    Completed,
    /// Being published by another owner whose lease holds.
    Busy,
}

pub trait Claims: Send + Sync {
    fn acquire(
        &self,
        fingerprint: &str,
        owner: &str,
        now: i64,
        lease: i64,
    ) -> impl Future<Output = Result<Claim, Failure>> + Send;
    fn complete(
        &self,
        fingerprint: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Drops `owner`'s claim if it is still in progress (never another owner's).
    fn release(
        &self,
        fingerprint: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), Failure>> + Send;

    /// [`Claims::acquire`] for a batch (a store may take them in one request).
    fn acquire_all(
        &self,
        fingerprints: &[&str],
        owner: &str,
        now: i64,
        lease: i64,
    ) -> impl Future<Output = Vec<Result<Claim, Failure>>> + Send {
        futures_util::future::join_all(
            fingerprints
                .iter()
                .map(move |fp| self.acquire(fp, owner, now, lease)),
        )
    }

    /// [`Claims::complete`] for a batch; the first failure, if any.
    fn complete_all(
        &self,
        fingerprints: &[&str],
        now: i64,
    ) -> impl Future<Output = Result<(), Failure>> + Send {
        let all = futures_util::future::join_all(
            fingerprints.iter().map(move |fp| self.complete(fp, now)),
        );
        async move {
            all.await
                .into_iter()
                .collect::<Result<Vec<()>, Failure>>()
                .map(|_| ())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    InProgress { lease_until: i64, owner: String },
    Completed,
}

/// Claims in this process only (no `STATE_TABLE`: local use and tests).
#[derive(Debug, Default)]
pub struct MemoryClaims(Mutex<HashMap<String, Status>>);

impl MemoryClaims {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Status>) -> T) -> T {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}

impl Claims for MemoryClaims {
    async fn acquire(&self, fp: &str, owner: &str, now: i64, lease: i64) -> Result<Claim, Failure> {
        Ok(self.with(|m| match m.get(fp) {
            Some(Status::Completed) => Claim::Completed,
            Some(Status::InProgress {
                lease_until,
                owner: o,
            }) if *lease_until >= now && o != owner => Claim::Busy,
            previous => {
                let taken_over =
                    matches!(previous, Some(Status::InProgress { owner: o, .. }) if o != owner);
                m.insert(
                    fp.to_string(),
                    Status::InProgress {
                        lease_until: now + lease,
                        owner: owner.to_string(),
                    },
                );
                if taken_over {
                    Claim::TakenOver
                } else {
                    Claim::Acquired
                }
            }
        }))
    }

    async fn complete(&self, fp: &str, _: i64) -> Result<(), Failure> {
        self.with(|m| m.insert(fp.to_string(), Status::Completed));
        Ok(())
    }

    async fn release(&self, fp: &str, owner: &str) -> Result<(), Failure> {
        self.with(|m| {
            if matches!(m.get(fp), Some(Status::InProgress { owner: o, .. }) if o == owner) {
                m.remove(fp);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lease_owner_complete_release() {
        let c = MemoryClaims::default();
        assert_eq!(
            c.acquire("a", "r1", 100, 60).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            c.acquire("a", "r2", 120, 60).await.unwrap(),
            Claim::Busy,
            "lease holds"
        );
        assert_eq!(
            c.acquire("a", "r1", 120, 60).await.unwrap(),
            Claim::Acquired,
            "the owner's retry gets its claim back"
        );
        assert_eq!(
            c.acquire("a", "r2", 181, 60).await.unwrap(),
            Claim::TakenOver,
            "lease expired: another owner publishes (and it is counted)"
        );
        c.release("a", "r1").await.unwrap();
        assert_eq!(
            c.acquire("a", "r3", 182, 60).await.unwrap(),
            Claim::Busy,
            "only the owner releases its claim"
        );
        c.release("a", "r2").await.unwrap();
        assert_eq!(
            c.acquire("a", "r3", 182, 60).await.unwrap(),
            Claim::Acquired,
            "released after a failed publish"
        );
        c.complete("a", 183).await.unwrap();
        assert_eq!(
            c.acquire("a", "r3", 10_000, 60).await.unwrap(),
            Claim::Completed
        );
    }
}
