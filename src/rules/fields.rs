//! The CloudTrail record schema, so `validate` can flag `eventname` or `userIdentity.typ`.
//!
//! Only the fixed part of the schema is checked; below `requestParameters`,
//! `responseElements`, `additionalEventData` and `serviceEventDetails` every service writes
//! its own shapes, so anything is accepted there.

use super::diag::did_you_mean;
use crate::event::{FieldPath, Segment};

const TOP: &[&str] = &[
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "addendum",
    "sessionCredentialFromConsole",
    "edgeDeviceDetails",
    "tlsDetails",
    "insightDetails",
];
/// Free-form subtrees written differently by each service.
const OPEN: &[&str] = &[
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "edgeDeviceDetails",
    "insightDetails",
    "addendum",
];
const USER_IDENTITY: &[&str] = &[
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "sessionContext",
    "invokedBy",
    "identityProvider",
    "credentialId",
    "onBehalfOf",
    "inScopeOf",
];
const SESSION_CONTEXT: &[&str] = &[
    "attributes",
    "sessionIssuer",
    "webIdFederationData",
    "sourceIdentity",
    "ec2RoleDelivery",
    "assumedRoot",
];
const SESSION_ATTRIBUTES: &[&str] = &["creationDate", "mfaAuthenticated"];
const SESSION_ISSUER: &[&str] = &["type", "principalId", "arn", "accountId", "userName"];
const RESOURCES: &[&str] = &["ARN", "accountId", "type"];
const TLS: &[&str] = &["tlsVersion", "cipherSuite", "clientProvidedHostHeader"];

/// Fields computed by trailwatch, usable wherever a path is.
pub const VIRTUAL: &[&str] = &["account_id", "outcome"];

/// Checks that `path` can exist in a CloudTrail record; the error names the closest field.
pub fn check(path: &FieldPath) -> Result<(), String> {
    let keys: Vec<&str> = path
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    let Some(&top) = keys.first() else {
        return Ok(());
    };
    if path.segments.len() == 1 && VIRTUAL.contains(&top) {
        return Ok(());
    }
    let unknown = |name: &str, within: &str, known: &[&str]| {
        Err(format!(
            "'{name}' is not a CloudTrail field{within}{}",
            did_you_mean(name, known.iter().copied())
        ))
    };
    if !TOP.contains(&top) {
        return unknown(top, "", &[TOP, VIRTUAL].concat());
    }
    if OPEN.contains(&top) {
        return Ok(());
    }
    let level = |i: usize, within: &str, known: &[&str]| match keys.get(i) {
        Some(k) if !known.contains(k) => unknown(k, within, known),
        _ => Ok(()),
    };
    match top {
        "userIdentity" => {
            level(1, " of userIdentity", USER_IDENTITY)?;
            match keys.get(1) {
                Some(&"sessionContext") => {
                    level(2, " of userIdentity.sessionContext", SESSION_CONTEXT)?;
                    match keys.get(2) {
                        Some(&"attributes") => {
                            level(3, " of sessionContext.attributes", SESSION_ATTRIBUTES)
                        }
                        Some(&"sessionIssuer") => {
                            level(3, " of sessionContext.sessionIssuer", SESSION_ISSUER)
                        }
                        _ => Ok(()),
                    }
                }
                _ => Ok(()),
            }
        }
        "resources" => level(1, " of resources", RESOURCES),
        "tlsDetails" => level(1, " of tlsDetails", TLS),
        _ if keys.len() > 1 && !matches!(top, "userIdentity" | "resources" | "tlsDetails") => {
            Err(format!(
                "'{top}' is a plain value in CloudTrail records; it has no '{}'",
                keys[1]
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chk(p: &str) -> Result<(), String> {
        check(&FieldPath::parse(p).unwrap())
    }

    #[test]
    fn known_and_unknown_fields() {
        assert!(chk("userIdentity.sessionContext.sessionIssuer.arn").is_ok());
        assert!(chk("requestParameters.anything.goes[*].x").is_ok());
        assert!(chk("resources[*].ARN").is_ok());
        assert!(chk("account_id").is_ok());
        let e = chk("eventname").unwrap_err();
        assert!(e.contains("did you mean 'eventName'"), "{e}");
        let e = chk("userIdentity.typ").unwrap_err();
        assert!(e.contains("did you mean 'type'"), "{e}");
        assert!(chk("eventName.x").is_err());
    }

    #[test]
    fn each_known_object_checks_its_own_keys() {
        for (path, hint) in [
            ("resources[*].arn", "ARN"),
            ("tlsDetails.tlsVersoin", "tlsVersion"),
            ("userIdentity.sessionContext.atributes", "attributes"),
            (
                "userIdentity.sessionContext.attributes.mfaAuthenticatd",
                "mfaAuthenticated",
            ),
            (
                "userIdentity.sessionContext.sessionIssuer.userNam",
                "userName",
            ),
        ] {
            let e = chk(path).unwrap_err();
            assert!(e.contains(&format!("did you mean '{hint}'")), "{path}: {e}");
        }
        for path in [
            "resources[*].accountId",
            "tlsDetails.cipherSuite",
            "userIdentity.sessionContext.attributes.creationDate",
            "userIdentity.sessionContext.webIdFederationData.federatedProvider",
        ] {
            assert!(chk(path).is_ok(), "{path}");
        }
    }
}
