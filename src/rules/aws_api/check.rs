//! The AWS API check of one compiled rule: a `requestParameters` key that none of the
//! operations the rule can match takes, or an `eventName` that is no operation of the
//! service the rule pins, is a rule that silently never fires; `validate` warns.
//!
//! The operations come from what the rule's condition requires of `eventName` and
//! `eventSource`, as the index reads it; rules that pin neither, or pin an event the
//! model does not know (`ConsoleLogin`), are not checked.

use super::{model, OpRef, Pin};
use crate::event::{FieldPath, Segment};
use crate::rules::diag::{did_you_mean, Diags};
use crate::rules::index::required;
use crate::rules::yaml::Pos;
use crate::rules::Rule;
use std::collections::BTreeSet;

/// Warns about `rule`'s `reads` (where it reads `requestParameters` or tests
/// `eventName`, noted while it was compiled).
pub(crate) fn check_rule(rule: &Rule, reads: &[(Pos, Vec<FieldPath>)], diags: &mut Diags) {
    let names = required(&rule.cond, "eventName");
    let sources = required(&rule.cond, "eventSource");
    if names.is_none() && sources.is_none() {
        return;
    }
    // The embedded model is checked by the tests; without it there is nothing to say.
    let Ok(model) = model() else { return };
    fn pin(p: &Option<(BTreeSet<String>, bool)>) -> Option<Pin<'_>> {
        p.as_ref().map(|(values, ignore_case)| Pin {
            values,
            ignore_case: *ignore_case,
        })
    }
    let resolved = model.resolve(pin(&sources), pin(&names));
    if !resolved.misnamed.is_empty() {
        let at = reads
            .iter()
            .find(|(_, p)| p.iter().any(|p| p.as_str() == "eventName"))
            .map_or_else(Pos::default, |(pos, _)| *pos);
        let services = sources
            .iter()
            .flat_map(|(s, _)| s.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" or ");
        for (name, best) in &resolved.misnamed {
            diags.warn(
                at,
                format!(
                    "eventName '{name}' is not an operation of {services} (did you mean '{best}'?)"
                ),
            );
        }
    }
    let Some(ops) = resolved.ops else { return };
    let mut warned = BTreeSet::new();
    for (pos, paths) in reads {
        // `a|b` reads the first that has a value: it never has one when no alternative
        // can, and other fields are not checked here.
        let keys: Option<Vec<&str>> = paths.iter().map(request_key).collect();
        let Some(keys) = keys else { continue };
        if keys.iter().any(|k| ops.iter().any(|o| o.knows(k))) {
            continue;
        }
        for key in keys {
            if !warned.insert((*pos, key)) {
                continue;
            }
            let known: BTreeSet<String> = ops.iter().flat_map(|o| o.keys(key)).collect();
            let hint = did_you_mean(key, known.iter().map(String::as_str));
            let of = if resolved.whole_services {
                let services: BTreeSet<&str> = ops.iter().map(|o| o.service.name).collect();
                format!(
                    "any {} operation",
                    services.into_iter().collect::<Vec<_>>().join(" or ")
                )
            } else {
                describe(&ops)
            };
            diags.warn(
                *pos,
                format!("'requestParameters.{key}' is not a request parameter of {of}{hint}"),
            );
        }
    }
}

/// `usrName` for `requestParameters.usrName…`.
fn request_key(path: &FieldPath) -> Option<&str> {
    match &path.segments[..] {
        [Segment::Key(root), Segment::Key(key), ..] if root == "requestParameters" => Some(key),
        _ => None,
    }
}

/// `iam CreateUser or DeleteUser`, `elb CreateLoadBalancer or elbv2 CreateLoadBalancer`,
/// `iam A, B, C or 2 other operations`.
fn describe(ops: &[OpRef]) -> String {
    const SHOWN: usize = 3;
    let mut seen = BTreeSet::new();
    let mut items = Vec::new();
    let mut last = "";
    for o in ops {
        if !seen.insert((o.service.name, o.name())) {
            continue;
        }
        items.push(if o.service.name == last {
            o.name().to_string()
        } else {
            format!("{} {}", o.service.name, o.name())
        });
        last = o.service.name;
    }
    if items.len() > SHOWN + 1 {
        let more = items.len() - SHOWN;
        items.truncate(SHOWN);
        items.push(format!("{more} other operations"));
    }
    match items.split_last() {
        Some((tail, head)) if !head.is_empty() => format!("{} or {tail}", head.join(", ")),
        _ => items.concat(),
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::{Diagnostic, RuleFile, RuleSet};

    fn warnings(rule: &str) -> Vec<String> {
        warnings_of(&format!("id: r\ntitle: t\nseverity: low\n{rule}"))
    }

    fn warnings_of(text: &str) -> Vec<String> {
        let files = [RuleFile {
            path: "r.yaml".into(),
            text: text.into(),
        }];
        let (set, diags) = RuleSet::compile(&files, &[], &[], 0);
        assert!(set.is_some(), "{diags:?}");
        diags.iter().map(Diagnostic::to_string).collect()
    }

    #[test]
    fn a_key_no_pinned_operation_takes() {
        assert_eq!(
            warnings("match:\n  eventName: CreateAccessKey\n  requestParameters.usrName: bob\n"),
            ["r.yaml:6:3: warning: 'requestParameters.usrName' is not a request parameter of iam CreateAccessKey (did you mean 'userName'?)"]
        );
        // Model spelling is not CloudTrail's for IAM.
        assert_eq!(
            warnings("match:\n  eventSource: iam.amazonaws.com\n  eventName: [CreateUser, DeleteUser]\n  requestParameters.UserName: bob\n"),
            ["r.yaml:7:3: warning: 'requestParameters.UserName' is not a request parameter of iam CreateUser or DeleteUser (did you mean 'userName'?)"]
        );
        assert!(warnings(
            "match:\n  eventName: CreateAccessKey\n  requestParameters.userName: bob\n"
        )
        .is_empty());
    }

    #[test]
    fn every_place_a_rule_reads_a_field() {
        let w = warnings_of(
            "id: r\ntitle: \"{requestParameters.usr}\"\nseverity: low\nmatch:\n  eventName: CreateAccessKey\n  not: {requestParameters.userNam: x}\n\
             dedup:\n  key: [requestParameters.nme]\n\
             suppress:\n  - match: {requestParameters.zzz: {same_as: requestParameters.yyy}}\n    reason: r\n    owner: o\n    expires: 2999-01-01\n",
        );
        let at: Vec<&str> = w
            .iter()
            .map(|w| w.split(": warning").next().unwrap_or_default())
            .collect();
        assert_eq!(
            at,
            [
                "r.yaml:2:8",
                "r.yaml:6:9",
                "r.yaml:8:9",
                "r.yaml:10:13",
                "r.yaml:10:46"
            ],
            "{w:#?}"
        );
        assert!(w[1].contains("(did you mean 'userName'?)"), "{}", w[1]);
    }

    #[test]
    fn alternatives_need_one_that_can_have_a_value() {
        let rule = |field: &str| {
            format!("title: \"{{{field}}}\"\nseverity: low\nmatch:\n  eventName: UpdateTrail\n")
        };
        let of = |field: &str| warnings_of(&format!("id: r\n{}", rule(field)));
        let w = of("requestParameters.trailName|requestParameters.name|'a trail'");
        assert!(w.is_empty(), "{w:?}");
        assert!(of("requestParameters.trailNam|userIdentity.arn").is_empty());
        assert_eq!(
            of("requestParameters.nam|requestParameters.trailName|'a trail'"),
            [
                "r.yaml:2:8: warning: 'requestParameters.nam' is not a request parameter of cloudtrail UpdateTrail (did you mean 'name'?)",
                "r.yaml:2:8: warning: 'requestParameters.trailName' is not a request parameter of cloudtrail UpdateTrail"
            ]
        );
    }

    #[test]
    fn nothing_to_say() {
        // Not an SDK operation; no pin at all; a service whose records do not follow the model.
        for rule in [
            "match:\n  eventName: ConsoleLogin\n  requestParameters.anything: x\n",
            "match:\n  requestParameters.anything: x\n",
            "match:\n  eventName: PutBucketPolicy\n  requestParameters.bucketName: x\n",
            "match:\n  eventName: RunInstances\n  requestParameters.instancesSet: {exists: true}\n",
            "match:\n  eventName: CreateAccessKey\n  requestParameters.userName.first: x\n",
            "match:\n  eventName: CreateAccessKey\n  requestParameters: {exists: true}\n",
        ] {
            assert!(warnings(rule).is_empty(), "{rule}");
        }
    }

    #[test]
    fn a_misspelt_operation_of_a_pinned_service() {
        assert_eq!(
            warnings("match:\n  eventSource: iam.amazonaws.com\n  eventName: CreateAccesKey\n"),
            ["r.yaml:6:3: warning: eventName 'CreateAccesKey' is not an operation of iam.amazonaws.com (did you mean 'CreateAccessKey'?)"]
        );
    }

    #[test]
    fn operations_listed_briefly() {
        let w = warnings("match:\n  eventName: [CreateUser, DeleteUser, GetUser, UpdateUser, ListUsers]\n  eventSource: iam.amazonaws.com\n  requestParameters.x: y\n");
        assert_eq!(w, ["r.yaml:7:3: warning: 'requestParameters.x' is not a request parameter of iam CreateUser, DeleteUser, GetUser or 2 other operations"]);
        let w =
            warnings("match:\n  eventSource: iam.amazonaws.com\n  requestParameters.usrName: y\n");
        assert_eq!(w, ["r.yaml:6:3: warning: 'requestParameters.usrName' is not a request parameter of any iam or iam-toolbox operation (did you mean 'userName'?)"]);
    }

    #[test]
    fn up_to_four_operations_are_named_and_more_are_counted() {
        let of = |names: &str| {
            warnings(&format!("match:\n  eventSource: iam.amazonaws.com\n  eventName: [{names}]\n  requestParameters.zzz: x\n"))
        };
        let four = of("CreateUser, DeleteUser, GetUser, ListUsers");
        assert!(
            four[0].ends_with("of iam CreateUser, DeleteUser, GetUser or ListUsers"),
            "{four:?}"
        );
        let five = of("CreateUser, DeleteUser, GetUser, ListUsers, UpdateUser");
        assert!(
            five[0].ends_with("of iam CreateUser, DeleteUser, GetUser or 2 other operations"),
            "{five:?}"
        );
    }
}
