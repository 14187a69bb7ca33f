//! Parses a record keeping only the fields some rule (or the alert) reads.
//!
//! Building a full `serde_json::Value` for every record allocates for every key and
//! string of `requestParameters`/`responseElements`, which most rules never look at. The
//! compiled rule set knows every path it can read; this trie of those paths drives the
//! parse, and unreferenced subtrees are skipped without allocating. The result is an
//! ordinary (smaller) `Value`, so the rest of the engine is unchanged.

use crate::event::{FieldPath, Segment};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Fields to keep, as a trie of path segments.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Keep {
    /// Keep this whole subtree.
    all: bool,
    /// Children by key. Few per node, so a linear scan beats hashing every key.
    keys: Vec<(String, Keep)>,
    /// Applies to every element of an array (`[*]` or `[N]`).
    items: Option<Box<Keep>>,
}

/// Fields the pipeline and alerts read whatever the rules say.
pub const ALWAYS: &[&str] = &[
    "eventVersion",
    "eventTime",
    "eventID",
    "eventName",
    "eventSource",
    "awsRegion",
    "recipientAccountId",
    "sharedEventID",
    "sourceIPAddress",
    "userAgent",
    "eventType",
    "errorCode",
    "errorMessage",
    "responseElements.ConsoleLogin",
    "responseElements.PasswordUpdated",
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accountId",
    "userIdentity.sessionContext.attributes.mfaAuthenticated",
    "additionalEventData.MFAUsed",
];

impl Keep {
    /// Everything (no pruning).
    pub fn everything() -> Keep {
        Keep {
            all: true,
            ..Keep::default()
        }
    }

    /// The trie of `paths` plus [`ALWAYS`].
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a FieldPath>) -> Keep {
        let mut k = Keep::default();
        for p in ALWAYS {
            if let Ok(p) = FieldPath::parse(p) {
                k.add(&p.segments);
            }
        }
        for p in paths {
            k.add(&p.segments);
        }
        k
    }

    fn add(&mut self, segs: &[Segment]) {
        if self.all {
            return;
        }
        let Some((head, rest)) = segs.split_first() else {
            *self = Keep::everything();
            return;
        };
        let child = match head {
            Segment::Key(k) => match self.keys.iter().position(|(name, _)| name == k) {
                Some(i) => &mut self.keys[i].1,
                None => {
                    self.keys.push((k.clone(), Keep::default()));
                    &mut self.keys.last_mut().expect("just pushed").1
                }
            },
            Segment::Index(_) => self.items.get_or_insert_with(Default::default),
            // `[*]` also reaches a single element written as itself (XML-derived fields).
            Segment::Any => {
                self.add(rest);
                self.items.get_or_insert_with(Default::default)
            }
        };
        child.add(rest);
    }

    /// Parses one record's bytes, keeping only what this trie names. The whole record must
    /// be UTF-8, skipped parts included, as with a full parse.
    pub fn parse(&self, bytes: &[u8]) -> serde_json::Result<Value> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            serde::de::Error::custom(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
        })?;
        let mut de = serde_json::Deserializer::from_str(text);
        let v = self.deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }

    /// Parses the one value at the start of `text` (after whitespace), keeping only what
    /// this trie names; returns it and the bytes it took. Anything may follow it.
    pub fn parse_prefix(&self, text: &str) -> serde_json::Result<(Value, usize)> {
        let mut de = serde_json::Deserializer::from_str(text);
        let v = self.deserialize(&mut de)?;
        // A stream deserializer starts counting where `de` stopped: right after the value.
        let used = de.into_iter::<IgnoredAny>().byte_offset();
        Ok((v, used))
    }
}

impl<'de> DeserializeSeed<'de> for &Keep {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.all {
            return serde::Deserialize::deserialize(d);
        }
        d.deserialize_any(self)
    }
}

/// Looks a key up in the trie without allocating it.
struct KeySeed<'k>(&'k Keep);

impl<'de, 'k> DeserializeSeed<'de> for KeySeed<'k> {
    type Value = Option<(String, &'k Keep)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'k> Visitor<'de> for KeySeed<'k> {
    type Value = Option<(String, &'k Keep)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, k: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .keys
            .iter()
            .find(|(name, _)| name == k)
            .map(|(k, v)| (k.clone(), v)))
    }
}

impl<'de> Visitor<'de> for &Keep {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(found) = map.next_key_seed(KeySeed(self))? {
            match found {
                Some((k, child)) => {
                    let v = map.next_value_seed(child)?;
                    out.insert(k, v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        match &self.items {
            Some(child) => {
                while let Some(v) = seq.next_element_seed(&**child)? {
                    out.push(v);
                }
            }
            None => while seq.next_element::<IgnoredAny>()?.is_some() {},
        }
        Ok(Value::Array(out))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_named_fields() {
        let paths: Vec<FieldPath> = [
            "requestParameters.roleArn",
            "resources[*].ARN",
            "responseElements",
        ]
        .iter()
        .map(|p| FieldPath::parse(p).unwrap())
        .collect();
        let keep = Keep::of(&paths);
        let rec = json!({"eventName":"AssumeRole","requestParameters":{"roleArn":"r","policy":{"big":[1,2,3]}},
            "resources":[{"ARN":"a","type":"t"},{"ARN":"b"}],"responseElements":{"x":{"y":1}},
            "userIdentity":{"type":"IAMUser","sessionContext":{"huge":"z"}},"tlsDetails":{"a":1}});
        let v = keep.parse(rec.to_string().as_bytes()).unwrap();
        assert_eq!(
            v,
            json!({"eventName":"AssumeRole","requestParameters":{"roleArn":"r"},
            "resources":[{"ARN":"a"},{"ARN":"b"}],"responseElements":{"x":{"y":1}},
            // sessionContext stays (empty): a kept path runs through it, and presence is kept.
            "userIdentity":{"type":"IAMUser","sessionContext":{}}})
        );
        assert_eq!(
            Keep::everything()
                .parse(rec.to_string().as_bytes())
                .unwrap(),
            rec
        );
    }

    #[test]
    fn a_star_keeps_a_single_element_too() {
        let paths = [FieldPath::parse("requestParameters.grants.items[*].uri").unwrap()];
        let keep = Keep::of(&paths);
        let one = json!({"requestParameters":{"grants":{"items":{"uri":"u","id":"x"}}}});
        let many = json!({"requestParameters":{"grants":{"items":[{"uri":"u","id":"x"}]}}});
        assert_eq!(
            keep.parse(one.to_string().as_bytes()).unwrap(),
            json!({"requestParameters":{"grants":{"items":{"uri":"u"}}}})
        );
        assert_eq!(
            keep.parse(many.to_string().as_bytes()).unwrap(),
            json!({"requestParameters":{"grants":{"items":[{"uri":"u"}]}}})
        );
    }

    #[test]
    fn odd_types_and_bad_json() {
        let keep = Keep::of(&[]);
        assert_eq!(
            keep.parse(br#"{"userIdentity":"root","eventTime":5}"#)
                .unwrap(),
            json!({"userIdentity":"root","eventTime":5})
        );
        assert!(keep.parse(br#"{"eventName": tru}"#).is_err());
        assert!(
            keep.parse(b"{\"skipped\": \"\xff\"}").is_err(),
            "skipped strings are still validated"
        );
        assert!(keep.parse(br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn a_prefix_reports_what_it_took() {
        let keep = Keep::of(&[]);
        let text = r#" {"eventName":"A","x":[1,{"y":"]"}]} ,{"eventName":"B"#;
        let (v, used) = keep.parse_prefix(text).unwrap();
        assert_eq!(v, json!({"eventName":"A"}));
        assert_eq!(&text[used..used + 2], " ,");
        assert!(keep.parse_prefix(&text[used + 2..]).unwrap_err().is_eof());
    }
}
