//! The text of a record that goes into the full-text index (`events_fts`): every string
//! and integer value, one per line, except the fields [`app::search::indexed`] leaves
//! out. Read straight off the record's bytes, without building a JSON tree.

use app::search::{MAX_TEXT_BYTES, MAX_VALUE_CHARS, indexed};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The indexed text of one record. A record that is not valid JSON past some point
/// (it was accepted by the normaliser, so this is rare) keeps the text read before it.
pub fn search_text(record: &[u8]) -> String {
    let mut texts = Texts::default();
    let mut de = serde_json::Deserializer::from_slice(record);
    let _ = Collect {
        texts: &mut texts,
        depth: 0,
        in_identity: false,
        lead: false,
        context: false,
    }
    .deserialize(&mut de);
    match (texts.lead.is_empty(), texts.rest.is_empty()) {
        (true, _) => texts.rest,
        (false, true) => texts.lead,
        (false, false) => format!("{}\n{}", texts.lead, texts.rest),
    }
}

/// The source address and the access key go first, ahead of everything else and
/// outside its size limit, so the address and key pages and filters, which find
/// events through the index, find every one of them.
#[derive(Default)]
struct Texts {
    lead: String,
    rest: String,
}

impl Texts {
    fn push(&mut self, lead: bool, v: &str) {
        push(if lead { &mut self.lead } else { &mut self.rest }, v);
    }
}

fn push(out: &mut String, v: &str) {
    if out.len() >= MAX_TEXT_BYTES || !v.chars().any(char::is_alphanumeric) {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    let cut = v
        .char_indices()
        .nth(MAX_VALUE_CHARS)
        .map_or(v.len(), |(i, _)| i);
    let room = MAX_TEXT_BYTES.saturating_sub(out.len());
    let mut end = cut.min(room);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&v[..end]);
}

/// Walks one value: `depth` is how many objects deep it sits (1: a top-level field);
/// `lead`: it goes first (see [`Texts`]).
struct Collect<'a> {
    texts: &'a mut Texts,
    depth: usize,
    in_identity: bool,
    lead: bool,
    /// Inside `eventContext`: its keys are indexed too (tag keys, condition keys).
    context: bool,
}

impl<'de> DeserializeSeed<'de> for Collect<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Collect<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.texts.push(self.lead, v);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.texts.push(self.lead, &v.to_string());
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.texts.push(self.lead, &v.to_string());
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let Collect {
            texts,
            depth,
            in_identity,
            lead,
            context,
        } = self;
        while a
            .next_element_seed(Collect {
                texts: &mut *texts,
                depth,
                in_identity,
                lead,
                context,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let Collect {
            texts,
            depth,
            in_identity,
            lead,
            context,
        } = self;
        let key_depth = depth + 1;
        while let Some(key) = a.next_key_seed(Key {
            depth: key_depth,
            in_identity,
            context,
        })? {
            match key {
                KeyIs::Skipped => {
                    a.next_value::<IgnoredAny>()?;
                }
                KeyIs::Indexed {
                    identity,
                    lead: first,
                    context: opens,
                    text,
                } => {
                    if let Some(k) = text {
                        texts.push(lead, &k);
                    }
                    a.next_value_seed(Collect {
                        texts: &mut *texts,
                        depth: key_depth,
                        in_identity: in_identity || identity,
                        lead: lead || first,
                        context: context || opens,
                    })?
                }
            }
        }
        Ok(())
    }
}

enum KeyIs {
    Skipped,
    /// `identity`: the key is the top-level `userIdentity`; `lead`: its value goes
    /// first (the source address, the access key); `context`: the key is the top-level
    /// `eventContext`; `text`: the key itself, indexed inside it.
    Indexed {
        identity: bool,
        lead: bool,
        context: bool,
        text: Option<String>,
    },
}

/// Decides about a key without keeping it.
struct Key {
    depth: usize,
    in_identity: bool,
    context: bool,
}

impl<'de> DeserializeSeed<'de> for Key {
    type Value = KeyIs;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<KeyIs, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = KeyIs;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<KeyIs, E> {
        Ok(if indexed(k, self.depth, self.in_identity) {
            KeyIs::Indexed {
                identity: self.depth == 1 && k == "userIdentity",
                lead: (self.depth == 1 && k == "sourceIPAddress")
                    || (self.depth == 2 && self.in_identity && k == "accessKeyId"),
                context: self.depth == 1 && k == "eventContext",
                text: self.context.then(|| k.to_owned()),
            }
        } else {
            KeyIs::Skipped
        })
    }
}

#[cfg(test)]
mod tests {
    use super::search_text;

    #[test]
    fn indexes_details_and_leaves_out_interned_fields() {
        let rec = br#"{"eventVersion":"1.09","eventName":"PutBucketPolicy","eventSource":"s3.amazonaws.com",
            "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","principalId":"AROA1:alice",
              "sessionContext":{"sourceIdentity":"alice@example.com","attributes":{"mfaAuthenticated":"true"}}},
            "requestParameters":{"bucketName":"prod-data","policy":{"Statement":[{"Principal":"*","Effect":"Allow"}]},"port":22,"flag":true,"ratio":0.5},
            "additionalEventData":{"x-amz-id-2":"zzzzzz","note":"caf\u00e9"},
            "resources":[{"ARN":"arn:aws:s3:::prod-data"}],"eventID":"abc","readOnly":false,
            "sourceIPAddress":"203.0.113.9","errorCode":"AccessDenied","errorMessage":"not allowed"}"#;
        assert_eq!(
            search_text(rec),
            "203.0.113.9\nAROA1:alice\nalice@example.com\nprod-data\nAllow\n22\ncafé\nnot allowed"
        );
    }

    #[test]
    fn long_values_and_records_are_cut() {
        let long = "x".repeat(5000);
        let rec = format!(r#"{{"requestParameters":{{"a":"{long}","b":"{long}"}}}}"#);
        let t = search_text(rec.as_bytes());
        assert_eq!(t.len(), 1024 * 2 + 1);
        let many: Vec<String> = (0..100).map(|i| format!(r#""k{i}":"{long}""#)).collect();
        let rec = format!(r#"{{"requestParameters":{{{}}}}}"#, many.join(","));
        assert!(search_text(rec.as_bytes()).len() <= 8192);
        // The address and the key come first, whatever comes before them.
        let rec = format!(
            r#"{{"requestParameters":{{{}}},"sourceIPAddress":"198.51.100.7","userIdentity":{{"accessKeyId":"AKIAEXAMPLE"}}}}"#,
            many.join(",")
        );
        assert!(search_text(rec.as_bytes()).starts_with("198.51.100.7\nAKIAEXAMPLE\nxxx"));
    }

    #[test]
    fn the_event_context_is_searched_by_its_keys_and_values() {
        let rec = br#"{"eventName":"GetObject","eventContext":{"requestContext":{"aws:MultiFactorAuthPresent":"false"},
            "tagContext":{"resourceTags":[{"arn":"arn:aws:s3:::b","tags":{"DataClass":"restricted"}}],
            "principalTags":{"Team":"payments"}}},"requestParameters":{"bucketName":"b"}}"#;
        assert_eq!(
            search_text(rec),
            "requestContext\naws:MultiFactorAuthPresent\nfalse\ntagContext\nresourceTags\narn\narn:aws:s3:::b\ntags\nDataClass\nrestricted\nprincipalTags\nTeam\npayments\nb"
        );
    }

    #[test]
    fn broken_json_keeps_what_was_read() {
        assert_eq!(
            search_text(br#"{"requestParameters":{"a":"one","b":"#),
            "one"
        );
        assert_eq!(search_text(b"not json"), "");
    }
}
