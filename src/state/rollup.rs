//! Roll-ups: what matched after an alert, summarised in one follow-up.
//!
//! A threshold alerts once per span and an alert key once per cooldown; the matches that
//! come after within that span or cooldown used to be counted as `deduplicated` and seen by
//! nobody. Paging for each would drown the on-call, dropping them hides that an attack went
//! on. So each alert gathers its later matches into a [`Rollup`] (how many, first and last
//! seen, the principals and addresses, some event ids), and once the span or cooldown is
//! over one follow-up alert reports them. The CLI sends the follow-ups at the end of a run;
//! the Lambda on a schedule, so they go out even when no further event arrives.
//!
//! An alert key without a cooldown names one action recorded more than once (the two
//! records of a cross-account `AssumeRole` share a `sharedEventID`): its copies are not
//! "more matches" and get no follow-up.

use crate::alert::{Alert, MAX_EVENT_IDS};
use crate::event::{format_time, Event};
use crate::rules::{Rule, Severity};
use crate::state::fnv;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most principals and addresses listed in a follow-up.
pub const MAX_LISTED: usize = 20;
/// Event identities remembered per roll-up, so an event delivered again counts once; past
/// this many the count is still kept, marked "at least".
pub const MAX_IDENTITIES: usize = 4_000;

/// Which alert a later match belongs to, and until when (event time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    /// The fingerprint of the alert followed.
    pub follows: String,
    /// The end of the span or cooldown: later matches belong to the next alert.
    pub until: i64,
    /// The group or key values shown with the alert.
    pub group: BTreeMap<String, String>,
}

/// The matches that followed one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    pub follows: String,
    pub rule: String,
    pub severity: Severity,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub event_name: Option<String>,
    pub event_source: Option<String>,
    pub group: BTreeMap<String, String>,
    pub count: u64,
    /// False once more events came than [`MAX_IDENTITIES`]: a copy may then count twice.
    pub exact: bool,
    pub first: i64,
    pub last: i64,
    pub until: i64,
    /// The earliest event ids, by event time.
    pub event_ids: Vec<(i64, String)>,
    pub principals: BTreeSet<String>,
    pub more_principals: bool,
    pub source_ips: BTreeSet<String>,
    pub more_ips: bool,
    identities: Vec<u64>,
}

fn insert_capped(set: &mut BTreeSet<String>, more: &mut bool, value: Option<&str>) {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return;
    };
    if set.contains(v) {
        return;
    }
    if set.len() < MAX_LISTED {
        set.insert(v.to_string());
    } else {
        *more = true;
    }
}

/// Who acted, as a follow-up lists it: the ARN, else the type and account.
fn principal(e: &Event) -> Option<String> {
    let v = e.value().get("userIdentity")?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str());
    s("arn").map(str::to_string).or_else(|| {
        Some(format!(
            "{} in account {}",
            s("type").unwrap_or("unknown"),
            s("accountId")?
        ))
    })
}

impl Rollup {
    /// A roll-up of `follow`, starting with the event `e` of `rule`.
    pub fn new(rule: &Rule, follow: &Follow, e: &Event) -> Rollup {
        let t = e.time.unwrap_or(follow.until);
        Rollup {
            follows: follow.follows.clone(),
            rule: rule.id.clone(),
            severity: rule.severity_for(e),
            account_id: e.account_id().map(str::to_string),
            region: e.region().map(str::to_string),
            event_name: e.event_name().map(str::to_string),
            event_source: e.event_source().map(str::to_string),
            group: follow.group.clone(),
            count: 0,
            exact: true,
            first: t,
            last: t,
            until: follow.until,
            event_ids: Vec::new(),
            principals: BTreeSet::new(),
            more_principals: false,
            source_ips: BTreeSet::new(),
            more_ips: false,
            identities: Vec::new(),
        }
    }

    /// Counts the event `e` (once per `identity`).
    pub fn add(&mut self, e: &Event, identity: u64) {
        match self.identities.binary_search(&identity) {
            Ok(_) => return,
            Err(at) if self.identities.len() < MAX_IDENTITIES => {
                self.identities.insert(at, identity)
            }
            Err(_) => self.exact = false,
        }
        self.count += 1;
        if let Some(t) = e.time {
            self.first = self.first.min(t);
            self.last = self.last.max(t);
        }
        if let Some(id) = e.event_id() {
            let item = (e.time.unwrap_or(i64::MAX), id.to_string());
            // Earliest first; one past the last kept is dropped by the truncate.
            let (Ok(at) | Err(at)) = self.event_ids.binary_search(&item);
            self.event_ids.insert(at, item);
            self.event_ids.truncate(MAX_EVENT_IDS);
        }
        insert_capped(
            &mut self.principals,
            &mut self.more_principals,
            principal(e).as_deref(),
        );
        insert_capped(
            &mut self.source_ips,
            &mut self.more_ips,
            e.str("sourceIPAddress"),
        );
    }

    /// The follow-up's own fingerprint: the alert it follows and its first event, so the
    /// same matches give the same follow-up in any process, and matches that arrive after
    /// a follow-up was sent make another.
    pub fn fingerprint(&self) -> String {
        let h = fnv(&[
            b"follow-up",
            self.follows.as_bytes(),
            &self.first.to_be_bytes(),
        ]);
        format!("{h:016x}")
    }

    /// The follow-up alert. `rule` (when still loaded) adds its description and runbook.
    pub fn to_alert(&self, rule: Option<&Rule>) -> Alert {
        let title = format!(
            "Follow-up to {} alert {}: {}{} more matching event(s) from {} to {}",
            self.rule,
            self.follows,
            if self.exact { "" } else { "at least " },
            self.count,
            format_time(self.first),
            format_time(self.last),
        );
        let mut principals: Vec<String> = self.principals.iter().cloned().collect();
        if self.more_principals {
            principals.push(format!("(more than {MAX_LISTED})"));
        }
        let mut source_ips: Vec<String> = self.source_ips.iter().cloned().collect();
        if self.more_ips {
            source_ips.push(format!("(more than {MAX_LISTED})"));
        }
        Alert {
            rule_id: self.rule.clone(),
            title,
            severity: self.severity,
            account_id: self.account_id.clone(),
            account_alias: None,
            account_aliases: BTreeMap::new(),
            region: self.region.clone(),
            count: usize::try_from(self.count).unwrap_or(usize::MAX),
            event_ids: self.event_ids.iter().map(|(_, id)| id.clone()).collect(),
            first_seen: Some(format_time(self.first)),
            last_seen: Some(format_time(self.last)),
            group: self.group.clone(),
            fingerprint: self.fingerprint(),
            event_name: self.event_name.clone(),
            event_source: self.event_source.clone(),
            actor: crate::alert::Actor {
                kind: None,
                arn: None,
                account_id: None,
                mfa: None,
            },
            source_ips,
            user_agent: None,
            outcome: "success",
            error_code: None,
            error_message: None,
            description: rule.map(|r| r.description.clone()).unwrap_or_default(),
            runbook: rule.and_then(|r| r.runbook.clone()),
            references: rule.map(|r| r.references.clone()).unwrap_or_default(),
            tags: rule.map(|r| r.tags.clone()).unwrap_or_default(),
            falsepositives: rule.map(|r| r.falsepositives.clone()).unwrap_or_default(),
            follow_up_of: Some(self.follows.clone()),
            principals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleFile, RuleSet};
    use serde_json::json;

    fn rule() -> RuleSet {
        let f = RuleFile {
            path: "r.yaml".into(),
            text: "id: r\ntitle: 'Secret read by {userIdentity.arn}'\nseverity: medium\nmatch:\n  eventName: GetSecretValue\n".into(),
        };
        RuleSet::compile(&[f], &[], &[], 0).0.unwrap()
    }

    fn ev(id: u32, t: &str, who: &str, ip: &str) -> Event {
        Event::from_value(
            json!({"eventName":"GetSecretValue","eventTime":t,"eventID":format!("e{id}"),
            "sourceIPAddress":ip,"awsRegion":"eu-west-1","recipientAccountId":"111122223333",
            "userIdentity":{"type":"IAMUser","arn":who}}),
        )
        .unwrap()
    }

    /// A roll-up tells each of its first MAX_IDENTITIES events apart; past them it still
    /// counts, but can no longer say a copy is a copy (`exact` turns false).
    #[test]
    fn past_its_identity_cap_a_roll_up_counts_without_claiming_exactness() {
        let set = rule();
        let follow = Follow {
            follows: "00000000000000bb".into(),
            until: 1_000_000,
            group: BTreeMap::new(),
        };
        let e = ev(
            1,
            "2024-05-01T10:05:00Z",
            "arn:aws:iam::1:user/b",
            "192.0.2.2",
        );
        let mut roll = Rollup::new(&set.rules()[0], &follow, &e);
        for identity in 0..MAX_IDENTITIES as u64 {
            roll.add(&e, identity);
        }
        roll.add(&e, 0); // a copy, recognised
        assert_eq!((roll.count, roll.exact), (MAX_IDENTITIES as u64, true));
        roll.add(&e, u64::MAX);
        assert_eq!((roll.count, roll.exact), (MAX_IDENTITIES as u64 + 1, false));
    }

    #[test]
    fn counts_each_event_once_and_lists_who_and_from_where() {
        let set = rule();
        let r = &set.rules()[0];
        let follow = Follow {
            follows: "00000000000000aa".into(),
            until: 1_000_000,
            group: BTreeMap::new(),
        };
        let first = ev(
            2,
            "2024-05-01T10:05:00Z",
            "arn:aws:iam::1:user/b",
            "192.0.2.2",
        );
        let mut roll = Rollup::new(r, &follow, &first);
        roll.add(&first, 2);
        roll.add(
            &ev(
                1,
                "2024-05-01T10:01:00Z",
                "arn:aws:iam::1:user/a",
                "192.0.2.1",
            ),
            1,
        );
        roll.add(&first, 2);
        assert_eq!(roll.count, 2, "a copy counts once");
        let a = roll.to_alert(Some(r));
        assert_eq!(a.event_ids, ["e1", "e2"]);
        assert_eq!(a.first_seen.as_deref(), Some("2024-05-01T10:01:00Z"));
        assert_eq!(a.last_seen.as_deref(), Some("2024-05-01T10:05:00Z"));
        assert_eq!(
            a.principals,
            ["arn:aws:iam::1:user/a", "arn:aws:iam::1:user/b"]
        );
        assert_eq!(a.source_ips, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(a.follow_up_of.as_deref(), Some("00000000000000aa"));
        assert_eq!(a.title, "Follow-up to r alert 00000000000000aa: 2 more matching event(s) from 2024-05-01T10:01:00Z to 2024-05-01T10:05:00Z");
        assert_eq!(a.fingerprint, roll.fingerprint());
        // Over the caps: listed up to MAX_LISTED, then said.
        for i in 0..30u32 {
            roll.add(
                &ev(
                    10 + i,
                    "2024-05-01T10:06:00Z",
                    &format!("arn:aws:iam::1:user/u{i}"),
                    &format!("198.51.100.{i}"),
                ),
                10 + u64::from(i),
            );
        }
        let a = roll.to_alert(None);
        assert_eq!(a.principals.len(), MAX_LISTED + 1);
        assert_eq!(a.source_ips.len(), MAX_LISTED + 1);
        assert_eq!(a.count, 32);
    }
}
