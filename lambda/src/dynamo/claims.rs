//! Alert claims in the state table (see [`crate::claims`] for the protocol).

use super::{failure, get_s, is_conflict, n};
use crate::claims::{Claim, Claims};
use crate::Failure;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{Put, PutRequest, TransactWriteItem, WriteRequest};
use aws_sdk_dynamodb::Client;

/// Claims are kept this long (seconds) to stop late duplicates and redriven inputs.
const CLAIM_RETENTION: i64 = super::RETENTION;

/// Alert claims in the same table.
pub struct DynamoClaims {
    pub client: Client,
    pub table: String,
}

impl Claims for DynamoClaims {
    async fn acquire(&self, fp: &str, owner: &str, t: i64, lease: i64) -> Result<Claim, Failure> {
        let pk = format!("claim#{fp}");
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Av::S(pk.clone()))
            .item("status", Av::S("IN_PROGRESS".into()))
            .item("owner", Av::S(owner.into()))
            .item("lease_until", n(t + lease))
            .item("expires_at", n(t + CLAIM_RETENTION))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now \
                 OR (#s = :progress AND (lease_until < :now OR #o = :owner))",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":now", n(t))
            .expression_attribute_values(":progress", Av::S("IN_PROGRESS".into()))
            .expression_attribute_values(":owner", Av::S(owner.into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => {
                // Another owner's claim whose lease ran out: it may have published.
                let taken_over = out.attributes.as_ref().is_some_and(|old| {
                    get_s(old, "status") == Some("IN_PROGRESS")
                        && get_s(old, "owner").is_some_and(|o| o != owner)
                        && super::get_n(old, "expires_at").is_none_or(|e| e > t)
                });
                Ok(if taken_over {
                    Claim::TakenOver
                } else {
                    Claim::Acquired
                })
            }
            Err(e) if is_conflict(&e) => {
                let held = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", Av::S(pk))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| failure("reading a claim", e))?;
                let completed = held
                    .item
                    .as_ref()
                    .is_some_and(|i| get_s(i, "status") == Some("COMPLETED"));
                Ok(if completed {
                    Claim::Completed
                } else {
                    Claim::Busy
                })
            }
            Err(e) => Err(failure("claiming an alert", e)),
        }
    }

    /// New claims of a batch in one transaction; if any is not new (completed, another
    /// owner's, ours from a lost answer), each is taken on its own to say which.
    async fn acquire_all(
        &self,
        fps: &[&str],
        owner: &str,
        t: i64,
        lease: i64,
    ) -> Vec<Result<Claim, Failure>> {
        let items: Vec<TransactWriteItem> = fps
            .iter()
            .filter_map(|fp| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .item("pk", Av::S(format!("claim#{fp}")))
                    .item("status", Av::S("IN_PROGRESS".into()))
                    .item("owner", Av::S(owner.into()))
                    .item("lease_until", n(t + lease))
                    .item("expires_at", n(t + CLAIM_RETENTION))
                    .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                    .expression_attribute_values(":now", n(t))
                    .build()
                    .ok()?;
                Some(TransactWriteItem::builder().put(put).build())
            })
            .collect();
        if items.len() == fps.len() && !items.is_empty() {
            let r = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            if r.is_ok() {
                return fps.iter().map(|_| Ok(Claim::Acquired)).collect();
            }
        }
        futures_util::future::join_all(fps.iter().map(|fp| self.acquire(fp, owner, t, lease))).await
    }

    /// Completed claims written together (`BatchWriteItem`): they are ours, so they
    /// replace the in-progress items unconditionally.
    async fn complete_all(&self, fps: &[&str], t: i64) -> Result<(), Failure> {
        for chunk in fps.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .filter_map(|fp| {
                    let put = PutRequest::builder()
                        .item("pk", Av::S(format!("claim#{fp}")))
                        .item("status", Av::S("COMPLETED".into()))
                        .item("expires_at", n(t + CLAIM_RETENTION))
                        .build()
                        .ok()?;
                    Some(WriteRequest::builder().put_request(put).build())
                })
                .collect();
            while !requests.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(|e| failure("completing claims", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    async fn complete(&self, fp: &str, t: i64) -> Result<(), Failure> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", Av::S(format!("claim#{fp}")))
            .update_expression("SET #s = :done, expires_at = :exp REMOVE lease_until")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":done", Av::S("COMPLETED".into()))
            .expression_attribute_values(":exp", n(t + CLAIM_RETENTION))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure("completing a claim", e))
    }

    async fn release(&self, fp: &str, owner: &str) -> Result<(), Failure> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Av::S(format!("claim#{fp}")))
            .condition_expression("#s = :progress AND #o = :owner")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":progress", Av::S("IN_PROGRESS".into()))
            .expression_attribute_values(":owner", Av::S(owner.into()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(failure("releasing a claim", e)),
        }
    }
}
