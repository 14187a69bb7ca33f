//! Account aliases: the names people know accounts by (`prod-payments`), shown beside the
//! 12-digit ids an alert names, so the on-call does not have to look them up at 3 a.m.
//!
//! They come from the named list `account_aliases`, one `ACCOUNT_ID=ALIAS` entry each, so
//! they are replaced like any list (`--list`, `TRAILWATCH_LIST_ACCOUNT_ALIASES`, the
//! Lambda's S3 lists). An alias is only a label: a bad entry is a warning and is skipped,
//! never a reason for the rules, and so the paging, to stop loading.

use std::collections::BTreeMap;

/// The named list that holds the aliases.
pub const LIST: &str = "account_aliases";
/// Longest alias, in characters.
pub const MAX_ALIAS_CHARS: usize = 64;

/// Account id → alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountAliases {
    map: BTreeMap<String, String>,
}

/// Whether `s` is an AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account ids in `text`: runs of exactly 12 digits (a longer run of digits is not an
/// account id), in order of appearance.
pub fn account_ids(text: &str) -> impl Iterator<Item = &str> {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            if !b[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 12 {
                return Some(&text[start..i]);
            }
        }
        None
    })
}

impl AccountAliases {
    /// Reads `ID=ALIAS` entries. Returns the aliases and, for each entry that was skipped,
    /// its index and why.
    pub fn parse(entries: &[String]) -> (AccountAliases, Vec<(usize, String)>) {
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        let mut first: BTreeMap<String, usize> = BTreeMap::new();
        let mut problems = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let Some((id, alias)) = entry.split_once('=') else {
                problems.push((
                    i,
                    format!("'{entry}' is not ACCOUNT_ID=ALIAS (e.g. 111122223333=prod-payments)"),
                ));
                continue;
            };
            let (id, alias) = (id.trim(), alias.trim());
            if !is_account_id(id) {
                problems.push((i, format!("'{id}' is not an account id (12 digits)")));
                continue;
            }
            if alias.is_empty() {
                problems.push((i, format!("account {id} has an empty alias")));
                continue;
            }
            if alias.chars().count() > MAX_ALIAS_CHARS {
                problems.push((
                    i,
                    format!(
                        "the alias of account {id} is longer than {MAX_ALIAS_CHARS} characters"
                    ),
                ));
                continue;
            }
            if alias.chars().any(char::is_control) {
                problems.push((
                    i,
                    format!("the alias of account {id} holds a control character"),
                ));
                continue;
            }
            match map.get(id) {
                Some(known) if known == alias => problems.push((
                    i,
                    format!("account {id} is listed twice (also entry {})", first[id] + 1),
                )),
                Some(known) => problems.push((
                    i,
                    format!(
                        "account {id} already has the alias '{known}' (entry {}); '{alias}' is ignored",
                        first[id] + 1
                    ),
                )),
                None => {
                    map.insert(id.to_string(), alias.to_string());
                    first.insert(id.to_string(), i);
                }
            }
        }
        (AccountAliases { map }, problems)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The alias of account `id`.
    pub fn get(&self, id: &str) -> Option<&str> {
        self.map.get(id).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(e: &[&str]) -> Vec<String> {
        e.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entries_are_read_and_bad_ones_skipped_with_a_reason() {
        let (a, problems) = AccountAliases::parse(&entries(&[
            "111122223333=prod-payments",
            " 444455556666 = Partner backups (EU) ",
            "12345=short",
            "no-equals-sign",
            "777788889999=",
            "111122223333=other",
            "111122223333=prod-payments",
            &format!("222233334444={}", "x".repeat(65)),
            "555566667777=a\tb",
        ]));
        assert_eq!(a.get("111122223333"), Some("prod-payments"));
        assert_eq!(a.get("444455556666"), Some("Partner backups (EU)"));
        assert_eq!(a.get("777788889999"), None);
        assert_eq!(a.get("222233334444"), None);
        let at: Vec<usize> = problems.iter().map(|(i, _)| *i).collect();
        assert_eq!(at, [2, 3, 4, 5, 6, 7, 8], "{problems:?}");
        assert!(problems[0].1.contains("'12345' is not an account id"));
        assert!(problems[1].1.contains("is not ACCOUNT_ID=ALIAS"));
        assert!(problems[3]
            .1
            .contains("already has the alias 'prod-payments' (entry 1)"));
        assert!(problems[4].1.contains("listed twice"));
        assert!(problems[5].1.contains("longer than 64"));
        assert!(problems[6].1.contains("control character"));
    }

    #[test]
    fn account_ids_are_runs_of_exactly_twelve_digits() {
        let t = "arn:aws:iam::111122223333:user/a 4444555566667 in 777788889999, 12345";
        assert_eq!(
            account_ids(t).collect::<Vec<_>>(),
            ["111122223333", "777788889999"]
        );
        assert_eq!(account_ids("").count(), 0);
        assert_eq!(account_ids("x111122223333").count(), 1);
    }
}
