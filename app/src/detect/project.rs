//! Parsing only what the rules read. A record is parsed into a `Value` holding the fields
//! the rules that may match it name in their conditions, grouping keys or counts (and their whole subtree where a rule reads an
//! object as text, an array by position, or a wildcard); every other field is skipped
//! without being built. Arrays keep their elements and order, so a rule sees exactly the
//! values it would see in the whole record.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// The fields to keep: a tree of names; `whole` keeps everything below.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub whole: bool,
    pub children: HashMap<String, Fields>,
}

impl Fields {
    /// Keeps the value at `path` (and all below it).
    pub fn add<S: AsRef<str>>(&mut self, path: &[S]) {
        if self.whole {
            return;
        }
        match path.split_first() {
            None => {
                self.whole = true;
                self.children.clear();
            }
            Some((k, rest)) => self.children.entry(k.as_ref().to_owned()).or_default().add(rest),
        }
    }
}

/// One bit per rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mask(Vec<u64>);

impl Mask {
    pub fn set(&mut self, bit: usize) {
        let word = bit / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (bit % 64);
    }
    fn meets(&self, other: &Mask) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }
}

/// The fields of several rules, each marked with the rules that read it, so that a
/// record is parsed with the fields of just the rules that may match it: a record that
/// only one rule selects has only that rule's few fields built.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    root: Node,
    /// The bit of the fields every record keeps.
    always: usize,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// The rules that keep everything below this node.
    whole: Mask,
    /// The rules that keep anything at or below it.
    any: Mask,
    children: HashMap<String, Node>,
}

impl Node {
    fn add(&mut self, f: &Fields, bit: usize) {
        self.any.set(bit);
        if f.whole {
            self.whole.set(bit);
            return;
        }
        for (k, c) in &f.children {
            self.children.entry(k.clone()).or_default().add(c, bit);
        }
    }
}

impl Projection {
    /// `per_rule[i]` is what rule `i` reads; `always` is kept for every record.
    pub fn new(per_rule: &[Fields], always: &Fields) -> Projection {
        let mut root = Node::default();
        for (i, f) in per_rule.iter().enumerate() {
            root.add(f, i);
        }
        root.add(always, per_rule.len());
        Projection { root, always: per_rule.len() }
    }

    /// Parses `raw` keeping the fields of `rules` (and those every record keeps).
    pub fn parse(&self, raw: &[u8], rules: &[usize]) -> serde_json::Result<Value> {
        let mut wanted = Mask::default();
        wanted.set(self.always);
        rules.iter().for_each(|&r| wanted.set(r));
        let mut de = serde_json::Deserializer::from_slice(raw);
        let v = Proj { node: &self.root, wanted: &wanted }.deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }
}

#[derive(Clone, Copy)]
struct Proj<'f> {
    node: &'f Node,
    wanted: &'f Mask,
}

impl<'de> DeserializeSeed<'de> for Proj<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.node.whole.meets(self.wanted) {
            serde::Deserialize::deserialize(d)
        } else {
            d.deserialize_any(ProjVisitor(self))
        }
    }
}

struct ProjVisitor<'f>(Proj<'f>);

impl<'de> Visitor<'de> for ProjVisitor<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
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
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self.0)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            match self.0.node.children.get(key.as_ref()).filter(|c| c.any.meets(self.0.wanted)) {
                Some(child) => {
                    let v = map.next_value_seed(Proj { node: child, wanted: self.0.wanted })?;
                    out.insert(key.into_owned(), v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// A map key, borrowed from the input when it holds no escape.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_is_named_and_array_shapes() {
        let mut f = Fields::default();
        f.add(&["userIdentity", "type"]);
        f.add(&["requestParameters", "items", "cidr"]);
        f.add(&["responseElements"]);
        let raw = br#"{"eventName":"X","userIdentity":{"type":"Root","arn":"a"},
            "requestParameters":{"items":[{"cidr":"0.0.0.0/0","port":1},{"port":2},3],"other":{"a":1}},
            "responseElements":{"deep":{"x":[1,2.5,null,true]}},"k\u0065y":1}"#;
        let mut other = Fields::default();
        other.add(&["eventName"]);
        let mut all = Fields::default();
        all.add::<&str>(&[]);
        let p = Projection::new(&[f, other, all], &Fields::default());
        let v = p.parse(raw, &[0]).unwrap();
        assert_eq!(
            v,
            json!({"userIdentity":{"type":"Root"},
                "requestParameters":{"items":[{"cidr":"0.0.0.0/0"},{},3]},
                "responseElements":{"deep":{"x":[1,2.5,null,true]}}})
        );
        let whole: Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(p.parse(raw, &[2]).unwrap(), whole);
        assert_eq!(p.parse(raw, &[1]).unwrap(), json!({"eventName": "X"}));
        assert_eq!(p.parse(raw, &[]).unwrap(), json!({}));
        assert!(p.parse(br#"{"a":1} x"#, &[0]).is_err());
    }
}
