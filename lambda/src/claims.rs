//! Alert claims, as in the Powertools idempotency pattern: an alert is claimed before it
//! is published (with a lease that expires if the claimer dies), marked completed after,
//! and released if publishing fails, so nothing is lost and nothing pages twice.

use crate::Failure;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours to publish.
    Acquired,
    /// Already published, or being published by another invocation whose lease holds.
    Taken,
}

pub trait Claims: Send + Sync {
    fn acquire(
        &self,
        fingerprint: &str,
        now: i64,
        lease: i64,
    ) -> impl Future<Output = Result<Claim, Failure>> + Send;
    fn complete(
        &self,
        fingerprint: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
    fn release(&self, fingerprint: &str) -> impl Future<Output = Result<(), Failure>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    InProgress { lease_until: i64 },
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
    async fn acquire(&self, fp: &str, now: i64, lease: i64) -> Result<Claim, Failure> {
        Ok(self.with(|m| match m.get(fp) {
            Some(Status::Completed) => Claim::Taken,
            Some(Status::InProgress { lease_until }) if *lease_until >= now => Claim::Taken,
            _ => {
                m.insert(
                    fp.to_string(),
                    Status::InProgress {
                        lease_until: now + lease,
                    },
                );
                Claim::Acquired
            }
        }))
    }

    async fn complete(&self, fp: &str, _: i64) -> Result<(), Failure> {
        self.with(|m| m.insert(fp.to_string(), Status::Completed));
        Ok(())
    }

    async fn release(&self, fp: &str) -> Result<(), Failure> {
        self.with(|m| {
            if matches!(m.get(fp), Some(Status::InProgress { .. })) {
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
    async fn lease_complete_release() {
        let c = MemoryClaims::default();
        assert_eq!(c.acquire("a", 100, 60).await.unwrap(), Claim::Acquired);
        assert_eq!(
            c.acquire("a", 120, 60).await.unwrap(),
            Claim::Taken,
            "lease holds"
        );
        assert_eq!(
            c.acquire("a", 161, 60).await.unwrap(),
            Claim::Acquired,
            "lease expired: a retry publishes"
        );
        c.release("a").await.unwrap();
        assert_eq!(
            c.acquire("a", 162, 60).await.unwrap(),
            Claim::Acquired,
            "released after a failed publish"
        );
        c.complete("a", 163).await.unwrap();
        assert_eq!(c.acquire("a", 10_000, 60).await.unwrap(), Claim::Taken);
    }
}
