//! Alert claims in the state table (see [`crate::claims`] for the protocol).

use super::{failure, get_s, is_conflict, n};
use crate::claims::{Claim, Claims};
use crate::Failure;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{
    CancellationReason, Put, PutRequest, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

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
                let completed = held.item.as_ref().is_some_and(is_completed);
                Ok(if completed {
                    Claim::Completed
                } else {
                    Claim::Busy
                })
            }
            Err(e) => Err(failure("claiming an alert", e)),
        }
    }

    /// New claims of a batch in one transaction. If any is not new, the transaction's
    /// cancellation reasons carry each refused item: a completed claim is answered from
    /// them, and only the rest (another owner's, ours from a lost answer, or new ones the
    /// cancelled transaction did not write) are taken one by one. A file delivered again
    /// thus costs one call per batch, not two per alert.
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
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .ok()?;
                Some(TransactWriteItem::builder().put(put).build())
            })
            .collect();
        let mut known: Vec<Option<Claim>> = vec![None; fps.len()];
        if items.len() == fps.len() && !items.is_empty() {
            let r = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            match r {
                Ok(_) => return fps.iter().map(|_| Ok(Claim::Acquired)).collect(),
                Err(e) => {
                    if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                        e.as_service_error()
                    {
                        known = settled(c.cancellation_reasons(), fps.len());
                    }
                }
            }
        }
        let rest = fps.iter().zip(known).map(|(fp, claim)| async move {
            match claim {
                Some(c) => Ok(c),
                None => self.acquire(fp, owner, t, lease).await,
            }
        });
        futures_util::future::join_all(rest).await
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

/// What a cancelled claim transaction already tells, item by item: `Completed` for an item
/// refused because a completed claim holds it (the condition only fails on an unexpired
/// item, and ALL_OLD returns it), `None` for anything to be asked on its own. Reasons that
/// do not line up with the batch tell nothing.
fn settled(reasons: &[CancellationReason], len: usize) -> Vec<Option<Claim>> {
    if reasons.len() != len {
        return vec![None; len];
    }
    reasons
        .iter()
        .map(|r| {
            let done =
                r.code() == Some("ConditionalCheckFailed") && r.item().is_some_and(is_completed);
            done.then_some(Claim::Completed)
        })
        .collect()
}

fn is_completed(item: &HashMap<String, Av>) -> bool {
    get_s(item, "status") == Some("COMPLETED")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(code: &str, status: Option<&str>) -> CancellationReason {
        let r = CancellationReason::builder().code(code);
        match status {
            Some(s) => r.item("status", Av::S(s.into())).build(),
            None => r.build(),
        }
    }

    #[test]
    fn a_cancelled_batch_answers_completed_claims_and_leaves_the_rest() {
        let reasons = [
            reason("ConditionalCheckFailed", Some("COMPLETED")),
            reason("None", None),
            reason("ConditionalCheckFailed", Some("IN_PROGRESS")),
            // Refused without the old item (no ALL_OLD): ask again.
            reason("ConditionalCheckFailed", None),
            // Some other refusal that still returned a completed item.
            reason("ThrottlingError", Some("COMPLETED")),
        ];
        assert_eq!(
            settled(&reasons, 5),
            vec![Some(Claim::Completed), None, None, None, None]
        );
    }

    #[test]
    fn reasons_that_do_not_line_up_with_the_batch_tell_nothing() {
        let done = || reason("ConditionalCheckFailed", Some("COMPLETED"));
        assert_eq!(settled(&[done(), done()], 3), vec![None; 3]);
        assert_eq!(settled(&[done(), done()], 1), vec![None]);
        assert_eq!(settled(&[], 2), vec![None; 2]);
    }
}
