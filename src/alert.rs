//! The alert: what the on-call reads, and the JSON schema `scan` prints (one per line).
//!
//! Built only from values the rule's events carry; a `HIDDEN_DUE_TO_SECURITY_REASONS`
//! user name (which may be a mistyped password) is never replaced or joined with anything.

use crate::aliases::{account_ids, AccountAliases};
use crate::event::Event;
use crate::rules::{Rule, Severity};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Most event ids listed in one alert; `count` always holds the full number.
pub const MAX_EVENT_IDS: usize = 100;
/// Longest error message copied into an alert, in characters.
pub const MAX_ERROR_MESSAGE: usize = 300;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub mfa: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub account_id: Option<String>,
    /// The alias of `account_id` (list `account_aliases`), when one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_alias: Option<String>,
    /// The alias of every account id the alert names (its account, the actor, the group,
    /// the title, the error message) that has one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub account_aliases: BTreeMap<String, String>,
    pub region: Option<String>,
    /// How many events make this alert.
    pub count: usize,
    pub event_ids: Vec<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// The group-by values (thresholds) or the dedup key values.
    pub group: BTreeMap<String, String>,
    /// Stable id of this alert: the same events give the same fingerprint in any process.
    pub fingerprint: String,
    pub event_name: Option<String>,
    pub event_source: Option<String>,
    pub actor: Actor,
    pub source_ips: Vec<String>,
    pub user_agent: Option<String>,
    /// `success`, or `failure` for a denied or failed call (of the triggering event).
    pub outcome: &'static str,
    pub error_code: Option<String>,
    /// At most [`MAX_ERROR_MESSAGE`] characters.
    pub error_message: Option<String>,
    pub description: String,
    pub runbook: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    /// Known false positives the rule names (Sigma rules).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub falsepositives: Vec<String>,
    /// A follow-up names the alert it follows (its fingerprint): the matches after that
    /// alert, within its span or cooldown (see `state::rollup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<String>,
    /// A follow-up's distinct principals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

impl Alert {
    /// An alert about `rule`, described from `event` (the event that triggered it).
    pub fn new(rule: &Rule, event: &Event, count: usize, fingerprint: u64) -> Alert {
        let v = event.value();
        let own = |path: &[&str]| str_at(v, path).map(str::to_string);
        let failure = event.failure();
        Alert {
            rule_id: rule.id.clone(),
            title: rule.render_title(event, count),
            severity: rule.severity_for(event),
            account_id: event.account_id().map(str::to_string),
            account_alias: None,
            account_aliases: BTreeMap::new(),
            region: event.region().map(str::to_string),
            count,
            event_ids: event.event_id().map(str::to_string).into_iter().collect(),
            first_seen: event.str("eventTime").map(str::to_string),
            last_seen: event.str("eventTime").map(str::to_string),
            group: BTreeMap::new(),
            fingerprint: format!("{fingerprint:016x}"),
            event_name: own(&["eventName"]),
            event_source: own(&["eventSource"]),
            actor: Actor {
                kind: own(&["userIdentity", "type"]),
                arn: own(&["userIdentity", "arn"]),
                account_id: own(&["userIdentity", "accountId"]),
                mfa: own(&["additionalEventData", "MFAUsed"]).or_else(|| {
                    own(&[
                        "userIdentity",
                        "sessionContext",
                        "attributes",
                        "mfaAuthenticated",
                    ])
                }),
            },
            source_ips: own(&["sourceIPAddress"]).into_iter().collect(),
            user_agent: own(&["userAgent"]),
            outcome: if failure.is_some() {
                "failure"
            } else {
                "success"
            },
            error_code: failure.and_then(|f| f.code).map(str::to_string),
            error_message: failure
                .and_then(|f| f.message)
                .map(|m| m.chars().take(MAX_ERROR_MESSAGE).collect()),
            description: rule.description.clone(),
            runbook: rule.runbook.clone(),
            references: rule.references.clone(),
            tags: rule.tags.clone(),
            falsepositives: rule.falsepositives.clone(),
            follow_up_of: None,
            principals: Vec::new(),
        }
    }

    /// Fills `account_alias` and `account_aliases` from `aliases`.
    pub fn name_accounts(&mut self, aliases: &AccountAliases) {
        self.account_aliases.clear();
        self.account_alias = None;
        if aliases.is_empty() {
            return;
        }
        let texts = [
            self.account_id.as_deref(),
            self.actor.account_id.as_deref(),
            self.actor.arn.as_deref(),
            Some(self.title.as_str()),
            self.error_message.as_deref(),
        ];
        let group = self.group.values().map(|v| Some(v.as_str()));
        for text in texts.into_iter().chain(group).flatten() {
            for id in account_ids(text) {
                if let Some(alias) = aliases.get(id) {
                    self.account_aliases
                        .insert(id.to_string(), alias.to_string());
                }
            }
        }
        self.account_alias = self
            .account_id
            .as_deref()
            .and_then(|id| aliases.get(id))
            .map(str::to_string);
    }

    /// `value` followed by ` (alias, …)` for the account ids in it that have an alias: the
    /// value itself stays whole, so an ARN can still be copied.
    pub fn named(&self, value: &str) -> String {
        let mut names: Vec<&str> = Vec::new();
        for id in account_ids(value) {
            if let Some(a) = self.account_aliases.get(id) {
                if !names.contains(&a.as_str()) {
                    names.push(a);
                }
            }
        }
        if names.is_empty() {
            value.to_string()
        } else {
            format!("{value} ({})", names.join(", "))
        }
    }

    /// The named accounts that [`Alert::named`] shows beside no field of their own (those
    /// only in the title or the error message), as `(id, alias)`.
    pub fn other_named_accounts(&self) -> Vec<(&str, &str)> {
        let shown: Vec<&str> = [self.account_id.as_deref(), Some(self.actor_label())]
            .into_iter()
            .flatten()
            .chain(self.group.values().map(String::as_str))
            .flat_map(account_ids)
            .collect();
        self.account_aliases
            .iter()
            .filter(|(id, _)| !shown.contains(&id.as_str()))
            .map(|(id, a)| (id.as_str(), a.as_str()))
            .collect()
    }

    /// Who acted: the actor's ARN, else its account, else `-`.
    pub fn actor_label(&self) -> &str {
        self.actor
            .arn
            .as_deref()
            .or(self.actor.account_id.as_deref())
            .unwrap_or("-")
    }

    /// The source IPs, comma-separated, or `-`.
    pub fn ips_label(&self) -> String {
        if self.source_ips.is_empty() {
            "-".to_string()
        } else {
            self.source_ips.join(", ")
        }
    }

    /// `failed: AccessDenied: message`, or `None` for a call that succeeded.
    pub fn failure_label(&self) -> Option<String> {
        if self.outcome != "failure" {
            return None;
        }
        Some(match (&self.error_code, &self.error_message) {
            (Some(c), Some(m)) => format!("failed: {c}: {m}"),
            (Some(t), None) | (None, Some(t)) => format!("failed: {t}"),
            (None, None) => "failed".to_string(),
        })
    }

    /// A few lines for people (`scan --format text`).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let or = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "[{}] {} ({})",
            self.severity.to_string().to_uppercase(),
            self.title,
            self.rule_id
        );
        let _ = writeln!(
            s,
            "  account {}  region {}  events {}",
            self.named(&or(&self.account_id)),
            or(&self.region),
            self.count
        );
        let _ = writeln!(
            s,
            "  when    {} .. {}",
            or(&self.first_seen),
            or(&self.last_seen)
        );
        if self.principals.is_empty() {
            let _ = writeln!(
                s,
                "  who     {} {}, MFA: {}",
                or(&self.actor.kind),
                self.named(self.actor_label()),
                or(&self.actor.mfa)
            );
        } else {
            let names: Vec<String> = self.principals.iter().map(|p| self.named(p)).collect();
            let _ = writeln!(s, "  who     {}", names.join(", "));
        }
        let _ = writeln!(
            s,
            "  from    {}  {}",
            self.ips_label(),
            or(&self.user_agent)
        );
        if let Some(f) = self.failure_label() {
            let _ = writeln!(s, "  outcome {f}");
        }
        if !self.group.is_empty() {
            let g: Vec<String> = self
                .group
                .iter()
                .map(|(k, v)| format!("{k}={}", self.named(v)))
                .collect();
            let _ = writeln!(s, "  group   {}", g.join(" "));
        }
        let others: Vec<String> = self
            .other_named_accounts()
            .iter()
            .map(|(id, a)| format!("{id} ({a})"))
            .collect();
        if !others.is_empty() {
            let _ = writeln!(s, "  also    {}", others.join(", "));
        }
        let ids = if self.event_ids.is_empty() {
            "-".to_string()
        } else {
            self.event_ids.join(" ")
        };
        let _ = writeln!(s, "  events  {ids}");
        if let Some(r) = &self.runbook {
            let _ = writeln!(s, "  runbook {r}");
        }
        let _ = writeln!(s, "  id      {}", self.fingerprint);
        s
    }
}

/// A failed root sign-in alert with every field set, for tests.
#[cfg(test)]
pub(crate) fn sample() -> Alert {
    Alert {
        rule_id: "root-adjacent-login-failure".into(),
        title: "Failed console sign-in by Root\narn:aws:iam::111122223333:root — from 192.0.2.1"
            .into(),
        severity: Severity::High,
        account_id: Some("111122223333".into()),
        account_alias: None,
        account_aliases: BTreeMap::new(),
        region: Some("us-east-1".into()),
        count: 1,
        event_ids: vec!["e-1".into()],
        first_seen: Some("2024-05-01T10:00:00Z".into()),
        last_seen: Some("2024-05-01T10:00:00Z".into()),
        group: BTreeMap::new(),
        fingerprint: "0123456789abcdef".into(),
        event_name: Some("ConsoleLogin".into()),
        event_source: Some("signin.amazonaws.com".into()),
        actor: Actor {
            kind: Some("Root".into()),
            arn: Some("arn:aws:iam::111122223333:root".into()),
            account_id: None,
            mfa: Some("No".into()),
        },
        source_ips: vec!["192.0.2.1".into()],
        user_agent: Some("Mozilla/5.0".into()),
        outcome: "failure",
        error_code: None,
        error_message: Some("Failed authentication".into()),
        description: "A root sign-in failed.".into(),
        runbook: Some("Call the owner.".into()),
        references: vec![],
        tags: vec![],
        falsepositives: vec![],
        follow_up_of: None,
        principals: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aliases(entries: &[&str]) -> AccountAliases {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        let (aliases, problems) = AccountAliases::parse(&entries);
        assert!(problems.is_empty(), "{problems:?}");
        aliases
    }

    /// The sample with an assumed role of 444455556666 acting in 111122223333, a group
    /// naming 777788889999, and 222233334444 only in the error message.
    fn cross_account() -> Alert {
        let mut a = sample();
        a.actor.arn = Some("arn:aws:sts::444455556666:assumed-role/ops/alice".into());
        a.group
            .insert("recipientAccountId".into(), "777788889999".into());
        a.error_message = Some("denied by 222233334444".into());
        a.source_ips = vec!["192.0.2.1".into(), "198.51.100.7".into()];
        a
    }

    #[test]
    fn accounts_are_named_wherever_the_alert_mentions_them() {
        let mut a = cross_account();
        a.name_accounts(&aliases(&[
            "111122223333=prod",
            "444455556666=ops",
            "777788889999=logs",
            "222233334444=audit",
            "999999999999=unused",
        ]));
        assert_eq!(a.account_alias.as_deref(), Some("prod"));
        let named: Vec<(&str, &str)> = a
            .account_aliases
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("111122223333", "prod"),
                ("222233334444", "audit"),
                ("444455556666", "ops"),
                ("777788889999", "logs")
            ]
        );
        // Only the error message names 222233334444: it is shown apart.
        assert_eq!(a.other_named_accounts(), [("222233334444", "audit")]);

        // Naming again with no aliases forgets the old names.
        a.name_accounts(&AccountAliases::default());
        assert_eq!(a.account_alias, None);
        assert!(a.account_aliases.is_empty());
        assert!(a.other_named_accounts().is_empty());
    }

    #[test]
    fn a_value_is_kept_whole_with_each_alias_once() {
        let mut a = cross_account();
        a.name_accounts(&aliases(&["111122223333=prod", "444455556666=prod"]));
        assert_eq!(
            a.named("111122223333 and 444455556666 and 111122223333"),
            "111122223333 and 444455556666 and 111122223333 (prod)"
        );
        assert_eq!(a.named("555566667777"), "555566667777");
    }

    #[test]
    fn text_shows_group_other_accounts_and_ips_only_when_there_are_some() {
        let mut a = cross_account();
        a.name_accounts(&aliases(&["222233334444=audit", "777788889999=logs"]));
        let text = a.to_text();
        assert!(
            text.contains("\n  from    192.0.2.1, 198.51.100.7  Mozilla/5.0\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  group   recipientAccountId=777788889999 (logs)\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  also    222233334444 (audit)\n"),
            "{text}"
        );

        let mut plain = sample();
        plain.source_ips.clear();
        let text = plain.to_text();
        assert!(text.contains("\n  from    -  Mozilla/5.0\n"), "{text}");
        assert!(!text.contains("group") && !text.contains("also"), "{text}");
    }
}
