//! Alert claims in the state table (see [`crate::claims`] for the protocol).

use super::{failure, get_s, is_conflict, n};
use crate::claims::{Claim, Claims};
use crate::Failure;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;

/// Completed claims are kept this long (seconds) to stop late duplicates.
pub const CLAIM_RETENTION: i64 = 7 * 86_400;

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
            .send()
            .await;
        match r {
            Ok(_) => Ok(Claim::Acquired),
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
