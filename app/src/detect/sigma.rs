//! Sigma rules for `product: aws, service: cloudtrail`, compiled for the rule engine.
//!
//! Supported: search identifiers that are maps (every field must hold) or lists of maps
//! (any map), field names as dotted paths (an array on the way is searched element by
//! element; an object compared as text is its compact JSON), lists of values (any, or
//! every with `|all`), `null` (absent or null), `*` and `?` wildcards with `\` escapes,
//! case-insensitive matching (`|cased` for exact case), the modifiers `contains`,
//! `startswith`, `endswith`, `all`, `re` (with `i`, `m`, `s`), `cidr`, `exists`,
//! `fieldref`, `cased`, `lt`, `lte`, `gt`, `gte`; and conditions with `and`, `or`, `not`,
//! parentheses, `1 of`/`any of`/`all of` an identifier pattern or `them`. Anything else
//! (keywords, aggregations, `near`, correlations over a `timeframe`, `base64`, `windash`,
//! placeholders) refuses the rule with the reason: never a rule applied in part.

use super::Need;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// What a Sigma rule says about itself, kept and shown with every match.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    pub id: Option<String>,
    pub title: String,
    pub description: String,
    pub status: Option<String>,
    pub level: Option<String>,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    pub license: Option<String>,
    pub falsepositives: Vec<String>,
    pub date: Option<String>,
    pub modified: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Sigma {
    pub meta: Meta,
    searches: Vec<(String, Search)>,
    condition: Cond,
}

#[derive(Debug, Clone)]
enum Search {
    /// Every field condition holds.
    All(Vec<FieldCond>),
    /// Any of the maps holds.
    Any(Vec<Vec<FieldCond>>),
}

#[derive(Debug, Clone)]
struct FieldCond {
    path: Vec<String>,
    test: FieldTest,
}

#[derive(Debug, Clone)]
enum FieldTest {
    /// The values, any of which (or all, with `all`) must match some value of the field.
    Values { all: bool, values: Vec<ValueTest> },
    Exists(bool),
}

#[derive(Debug, Clone)]
enum ValueTest {
    /// Absent or null.
    Null,
    Text(TextMatch),
    Regex(regex::Regex),
    Cidr(ipnet::IpNet),
    Number { op: NumOp, value: f64 },
    FieldRef { path: Vec<String>, how: How, cased: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumOp {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

/// A string with Sigma's wildcards, compiled.
#[derive(Debug, Clone)]
struct TextMatch {
    /// The value as written, for the prefilter's literal.
    literal: Option<String>,
    kind: TextKind,
}

#[derive(Debug, Clone)]
enum TextKind {
    /// Lower-cased (or as written when cased), with the way it must sit in the field.
    Plain { text: String, how: How, cased: bool },
    Pattern(regex::Regex),
}

impl TextMatch {
    fn new(raw: &str, how: How, cased: bool) -> Result<TextMatch, String> {
        // Unescape and find wildcards: `*` any run, `?` one character, `\` escapes them.
        let mut plain = String::new();
        let mut re = String::new();
        let mut wild = false;
        let mut longest = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                    let e = chars.next().unwrap_or('\\');
                    plain.push(e);
                    re.push_str(&regex::escape(&e.to_string()));
                }
                '*' | '?' => {
                    wild = true;
                    if plain.len() > longest.len() {
                        longest = plain.clone();
                    }
                    plain.clear();
                    re.push_str(if c == '*' { ".*" } else { "." });
                }
                c => {
                    plain.push(c);
                    re.push_str(&regex::escape(&c.to_string()));
                }
            }
        }
        if plain.len() > longest.len() {
            longest = plain.clone();
        }
        let literal = (!longest.is_empty()).then_some(longest);
        if !wild {
            let text = if cased { plain } else { plain.to_lowercase() };
            return Ok(TextMatch {
                literal,
                kind: TextKind::Plain { text, how, cased },
            });
        }
        let (pre, post) = match how {
            How::Exact => ("^", "$"),
            How::Contains => ("", ""),
            How::StartsWith => ("^", ""),
            How::EndsWith => ("", "$"),
        };
        let flags = if cased { "(?s)" } else { "(?is)" };
        let r = regex::RegexBuilder::new(&format!("{flags}{pre}{re}{post}"))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("value {raw:?}: {e}"))?;
        Ok(TextMatch {
            literal,
            kind: TextKind::Pattern(r),
        })
    }

    fn matches(&self, v: &str) -> bool {
        match &self.kind {
            TextKind::Plain { text, how, cased } => {
                let lowered;
                let v = if *cased {
                    v
                } else {
                    lowered = v.to_lowercase();
                    &lowered
                };
                match how {
                    How::Exact => v == text,
                    How::Contains => v.contains(text.as_str()),
                    How::StartsWith => v.starts_with(text.as_str()),
                    How::EndsWith => v.ends_with(text.as_str()),
                }
            }
            TextKind::Pattern(r) => r.is_match(v),
        }
    }
}

#[derive(Debug, Clone)]
enum Cond {
    Search(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// A document that is not a rule Cairn can apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Parses every rule in a YAML text (documents separated by `---`). Each document is a
/// rule or a refusal; a text that is not YAML is one refusal.
pub fn parse_all(text: &str) -> Vec<Result<Sigma, Refused>> {
    match YamlLoader::load_from_str(text) {
        Ok(docs) => docs
            .iter()
            .filter(|d| !d.is_null())
            .map(compile)
            .collect(),
        Err(e) => vec![Err(Refused(format!("not YAML: {e}")))],
    }
}

/// The text of each document of a multi-document YAML text (split at `---` lines), in
/// the order [`parse_all`] returns them.
pub fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(last) = docs.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    docs.into_iter().filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))).collect()
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn texts(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

fn compile(doc: &Yaml) -> Result<Sigma, Refused> {
    let refuse = |m: String| Err(Refused(m));
    let Some(map) = doc.as_hash() else {
        return refuse("not a Sigma rule: the document is not a map".into());
    };
    let get = |k: &str| map.get(&Yaml::String(k.into()));
    if get("action").is_some() {
        return refuse("rule collections (action: global/reset/repeat) are not supported".into());
    }
    if get("correlation").is_some() {
        return refuse("correlation rules are not supported: write a threshold rule".into());
    }
    let title = get("title").and_then(text).unwrap_or_default();
    if title.trim().is_empty() {
        return refuse("the rule has no title".into());
    }
    let logsource = get("logsource").and_then(Yaml::as_hash);
    let ls = |k: &str| {
        logsource
            .and_then(|l| l.get(&Yaml::String(k.into())))
            .and_then(text)
            .map(|s| s.to_lowercase())
    };
    if ls("product").as_deref() != Some("aws") || ls("service").as_deref() != Some("cloudtrail") {
        return refuse(format!(
            "logsource is not product: aws, service: cloudtrail (product: {}, service: {})",
            ls("product").unwrap_or_else(|| "none".into()),
            ls("service").unwrap_or_else(|| "none".into())
        ));
    }
    let level = get("level").and_then(text).map(|l| l.to_lowercase());
    if let Some(l) = &level
        && !matches!(l.as_str(), "informational" | "low" | "medium" | "high" | "critical")
    {
        return refuse(format!("level {l:?} is not one of informational, low, medium, high, critical"));
    }
    let meta = Meta {
        id: get("id").and_then(text),
        title,
        description: get("description").and_then(text).unwrap_or_default().trim().to_owned(),
        status: get("status").and_then(text),
        level,
        author: get("author").and_then(text),
        references: get("references").map(texts).unwrap_or_default(),
        tags: get("tags").map(texts).unwrap_or_default(),
        license: get("license").and_then(text),
        falsepositives: get("falsepositives").map(texts).unwrap_or_default(),
        date: get("date").and_then(text),
        modified: get("modified").and_then(text),
    };
    let Some(detection) = get("detection").and_then(Yaml::as_hash) else {
        return refuse("the rule has no detection".into());
    };
    let mut searches = Vec::new();
    let mut condition = None;
    for (k, v) in detection {
        let Some(name) = k.as_str() else {
            return refuse("a detection key is not a string".into());
        };
        match name {
            "condition" => condition = Some(v),
            "timeframe" => {
                return refuse(
                    "timeframe: correlating events over time is not supported; write a threshold rule".into(),
                );
            }
            _ => searches.push((name.to_owned(), search(name, v).map_err(Refused)?)),
        }
    }
    let Some(condition) = condition else {
        return refuse("the detection has no condition".into());
    };
    let cond_text = match condition {
        Yaml::String(s) => s.clone(),
        Yaml::Array(list) if list.len() == 1 => text(&list[0]).unwrap_or_default(),
        Yaml::Array(list) => {
            let parts: Vec<String> = list.iter().filter_map(text).map(|c| format!("({c})")).collect();
            parts.join(" or ")
        }
        _ => return refuse("the condition is not a string".into()),
    };
    let condition = parse_condition(&cond_text, &searches).map_err(Refused)?;
    Ok(Sigma {
        meta,
        searches,
        condition,
    })
}

fn search(name: &str, v: &Yaml) -> Result<Search, String> {
    match v {
        Yaml::Hash(h) => Ok(Search::All(fields(name, h)?)),
        Yaml::Array(items) if !items.is_empty() && items.iter().all(|i| i.as_hash().is_some()) => {
            let mut maps = Vec::new();
            for i in items {
                if let Some(h) = i.as_hash() {
                    maps.push(fields(name, h)?);
                }
            }
            Ok(Search::Any(maps))
        }
        Yaml::Array(_) | Yaml::String(_) => Err(format!(
            "{name}: keyword searches (values without a field) are not supported"
        )),
        _ => Err(format!("{name}: a search is a map of fields or a list of maps")),
    }
}

fn fields(name: &str, h: &yaml_rust2::yaml::Hash) -> Result<Vec<FieldCond>, String> {
    let mut out = Vec::new();
    for (k, v) in h {
        let Some(key) = k.as_str() else {
            return Err(format!("{name}: a field name is not a string"));
        };
        out.push(field(key, v).map_err(|e| format!("{name}: {key}: {e}"))?);
    }
    Ok(out)
}

fn path_of(s: &str) -> Vec<String> {
    s.split('.').map(str::to_owned).collect()
}

fn field(key: &str, v: &Yaml) -> Result<FieldCond, String> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or_default();
    if name.is_empty() {
        return Err("the field name is empty".into());
    }
    let mut how = How::Exact;
    let (mut all, mut cased, mut re, mut cidr, mut exists, mut fieldref) =
        (false, false, false, false, false, false);
    let mut re_flags = String::new();
    let mut num: Option<NumOp> = None;
    for m in parts {
        match m {
            "contains" => how = How::Contains,
            "startswith" => how = How::StartsWith,
            "endswith" => how = How::EndsWith,
            "all" => all = true,
            "cased" => cased = true,
            "re" => re = true,
            "i" | "ignorecase" if re => re_flags.push('i'),
            "m" | "multiline" if re => re_flags.push('m'),
            "s" | "dotall" if re => re_flags.push('s'),
            "cidr" => cidr = true,
            "exists" => exists = true,
            "fieldref" => fieldref = true,
            "lt" => num = Some(NumOp::Lt),
            "lte" => num = Some(NumOp::Le),
            "gt" => num = Some(NumOp::Gt),
            "gte" => num = Some(NumOp::Ge),
            "expand" => return Err("the expand modifier needs placeholder values Cairn does not have".into()),
            "base64" | "base64offset" | "utf16" | "utf16le" | "utf16be" | "wide" | "windash" => {
                return Err(format!("the {m} modifier does not apply to CloudTrail records"));
            }
            other => return Err(format!("the modifier {other:?} is not supported")),
        }
    }
    let path = path_of(name);
    if exists {
        return match v {
            Yaml::Boolean(b) => Ok(FieldCond {
                path,
                test: FieldTest::Exists(*b),
            }),
            _ => Err("exists takes true or false".into()),
        };
    }
    let items: Vec<&Yaml> = match v {
        Yaml::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if items.is_empty() {
        return Err("an empty list of values".into());
    }
    let mut values = Vec::new();
    for item in items {
        let t = if let Yaml::Null = item {
            if how != How::Exact || re || cidr || fieldref || num.is_some() {
                return Err("null takes no modifier".into());
            }
            ValueTest::Null
        } else {
            let Some(s) = text(item) else {
                return Err("a value is a string, number, boolean or null".into());
            };
            if re {
                let mut b = regex::RegexBuilder::new(&s);
                b.size_limit(1 << 20)
                    .case_insensitive(re_flags.contains('i'))
                    .multi_line(re_flags.contains('m'))
                    .dot_matches_new_line(re_flags.contains('s'));
                ValueTest::Regex(b.build().map_err(|e| format!("regular expression {s:?}: {e}"))?)
            } else if cidr {
                ValueTest::Cidr(s.parse().map_err(|_| format!("{s:?} is not a CIDR range"))?)
            } else if fieldref {
                ValueTest::FieldRef {
                    path: path_of(&s),
                    how,
                    cased,
                }
            } else if let Some(op) = num {
                ValueTest::Number {
                    op,
                    value: s.parse().map_err(|_| format!("{s:?} is not a number"))?,
                }
            } else {
                ValueTest::Text(TextMatch::new(&s, how, cased)?)
            }
        };
        values.push(t);
    }
    Ok(FieldCond {
        path,
        test: FieldTest::Values { all, values },
    })
}

/// The values a dotted path reaches; arrays on the way are searched element by element.
fn resolve<'v>(v: &'v Value, path: &[String], out: &mut Vec<&'v Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| resolve(i, path, out)),
        _ => match path.split_first() {
            None => out.push(v),
            Some((k, rest)) => {
                if let Some(c) = v.as_object().and_then(|o| o.get(k.as_str())) {
                    resolve(c, rest, out);
                }
            }
        },
    }
}

/// A field value as text: strings as they are, other scalars as JSON, objects and arrays
/// as their compact JSON.
fn as_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        other => Some(std::borrow::Cow::Owned(other.to_string())),
    }
}

impl ValueTest {
    fn holds(&self, record: &Value, found: &[&Value]) -> bool {
        match self {
            ValueTest::Null => found.iter().all(|v| v.is_null()),
            ValueTest::Text(t) => found.iter().filter_map(|v| as_text(v)).any(|s| t.matches(&s)),
            ValueTest::Regex(r) => found.iter().filter_map(|v| as_text(v)).any(|s| r.is_match(&s)),
            ValueTest::Cidr(net) => found
                .iter()
                .filter_map(|v| v.as_str())
                .filter_map(|s| s.trim().parse::<std::net::IpAddr>().ok())
                .any(|ip| net.contains(&ip)),
            ValueTest::Number { op, value } => found
                .iter()
                .filter_map(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())))
                .any(|x| match op {
                    NumOp::Lt => x < *value,
                    NumOp::Le => x <= *value,
                    NumOp::Gt => x > *value,
                    NumOp::Ge => x >= *value,
                }),
            ValueTest::FieldRef { path, how, cased } => {
                let mut other = Vec::new();
                resolve(record, path, &mut other);
                let norm = |s: &str| if *cased { s.to_owned() } else { s.to_lowercase() };
                let others: Vec<String> = other.iter().filter_map(|v| as_text(v)).map(|s| norm(&s)).collect();
                found.iter().filter_map(|v| as_text(v)).any(|s| {
                    let s = norm(&s);
                    others.iter().any(|o| match how {
                        How::Exact => s == *o,
                        How::Contains => s.contains(o.as_str()),
                        How::StartsWith => s.starts_with(o.as_str()),
                        How::EndsWith => s.ends_with(o.as_str()),
                    })
                })
            }
        }
    }
}

impl FieldCond {
    fn holds(&self, record: &Value) -> bool {
        let mut found = Vec::new();
        resolve(record, &self.path, &mut found);
        match &self.test {
            FieldTest::Exists(want) => found.iter().any(|v| !v.is_null()) == *want,
            FieldTest::Values { all, values } => {
                if *all {
                    values.iter().all(|t| t.holds(record, &found))
                } else {
                    values.iter().any(|t| t.holds(record, &found))
                }
            }
        }
    }

    /// The rules' index entries this condition narrows to (see `super::Keys`).
    fn keys(&self) -> super::Keys {
        use super::{Key, keys_all, keys_any};
        let field = super::KeyField::of_path(&self.path)?;
        match &self.test {
            FieldTest::Exists(true) => Key::present(field),
            FieldTest::Exists(false) => None,
            FieldTest::Values { all, values } => {
                let each = values.iter().map(|t| match t {
                    ValueTest::Null => None,
                    ValueTest::Text(TextMatch {
                        kind: TextKind::Plain { text, how: How::Exact, .. },
                        ..
                    }) => Some(vec![Key::is(field, text)]),
                    ValueTest::Text(m) => {
                        let m = m.clone();
                        Some(vec![Key::test(field, move |v| m.matches(v))])
                    }
                    ValueTest::Regex(r) => {
                        let r = r.clone();
                        Some(vec![Key::test(field, move |v| r.is_match(v))])
                    }
                    // Every other test holds only on a value that is there.
                    _ => Key::present(field),
                });
                if *all { keys_all(each) } else { keys_any(each) }
            }
        }
    }

    fn need(&self) -> Need {
        // A field that must be present has its name in the record.
        let key = || self.path.last().map_or(Need::True, |k| Need::literal(k));
        match &self.test {
            FieldTest::Exists(true) => key(),
            FieldTest::Exists(false) => Need::True,
            FieldTest::Values { all, values } => {
                let needs: Vec<Need> = values
                    .iter()
                    .map(|t| match t {
                        ValueTest::Text(TextMatch { literal: Some(l), .. }) => Need::literal(l),
                        ValueTest::Regex(r) => match Need::regex(r.as_str()) {
                            Need::True => key(),
                            n => n,
                        },
                        ValueTest::Null => Need::True,
                        _ => key(),
                    })
                    .collect();
                if *all { Need::all(needs) } else { Need::any(needs) }
            }
        }
    }
}

impl Search {
    fn holds(&self, record: &Value) -> bool {
        match self {
            Search::All(fs) => fs.iter().all(|f| f.holds(record)),
            Search::Any(maps) => maps.iter().any(|fs| fs.iter().all(|f| f.holds(record))),
        }
    }
    fn keys(&self) -> super::Keys {
        match self {
            Search::All(fs) => super::keys_all(fs.iter().map(FieldCond::keys)),
            Search::Any(maps) => super::keys_any(maps.iter().map(|fs| super::keys_all(fs.iter().map(FieldCond::keys)))),
        }
    }
    fn need(&self) -> Need {
        match self {
            Search::All(fs) => Need::all(fs.iter().map(FieldCond::need).collect()),
            Search::Any(maps) => Need::any(
                maps.iter()
                    .map(|fs| Need::all(fs.iter().map(FieldCond::need).collect()))
                    .collect(),
            ),
        }
    }
}

impl Cond {
    fn holds(&self, s: &Sigma, record: &Value) -> bool {
        match self {
            Cond::Search(i) => s.searches[*i].1.holds(record),
            Cond::Not(c) => !c.holds(s, record),
            Cond::And(cs) => cs.iter().all(|c| c.holds(s, record)),
            Cond::Or(cs) => cs.iter().any(|c| c.holds(s, record)),
        }
    }
    fn keys(&self, s: &Sigma) -> super::Keys {
        match self {
            Cond::Search(i) => s.searches[*i].1.keys(),
            Cond::Not(_) => None,
            Cond::And(cs) => super::keys_all(cs.iter().map(|c| c.keys(s))),
            Cond::Or(cs) => super::keys_any(cs.iter().map(|c| c.keys(s))),
        }
    }
    fn need(&self, s: &Sigma) -> Need {
        match self {
            Cond::Search(i) => s.searches[*i].1.need(),
            Cond::Not(_) => Need::True,
            Cond::And(cs) => Need::all(cs.iter().map(|c| c.need(s)).collect()),
            Cond::Or(cs) => Need::any(cs.iter().map(|c| c.need(s)).collect()),
        }
    }
}

impl Sigma {
    /// Adds the record fields the rule reads.
    pub fn fields(&self, out: &mut super::project::Fields) {
        for (_, search) in &self.searches {
            let maps: Vec<&Vec<FieldCond>> = match search {
                Search::All(fs) => vec![fs],
                Search::Any(maps) => maps.iter().collect(),
            };
            for f in maps.into_iter().flatten() {
                out.add(&f.path);
                if let FieldTest::Values { values, .. } = &f.test {
                    for v in values {
                        if let ValueTest::FieldRef { path, .. } = v {
                            out.add(path);
                        }
                    }
                }
            }
        }
    }

    pub fn matches(&self, record: &Value) -> bool {
        self.condition.holds(self, record)
    }
    /// The rules' index entries this rule narrows to.
    pub fn keys(&self) -> super::Keys {
        self.condition.keys(self)
    }
    /// Words a record must hold for the rule to match (the prefilter).
    pub fn need(&self) -> Need {
        self.condition.need(self)
    }
}

fn parse_condition(src: &str, searches: &[(String, Search)]) -> Result<Cond, String> {
    if src.contains('|') {
        return Err(format!(
            "condition {src:?}: aggregations (| count() …) are not supported: write a threshold rule"
        ));
    }
    let tokens = tokenize(src);
    let mut p = CondParser {
        t: &tokens,
        i: 0,
        searches,
        src,
    };
    let c = p.or()?;
    if p.i < tokens.len() {
        return Err(format!("condition {src:?}: unexpected {:?}", tokens[p.i]));
    }
    Ok(c)
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct CondParser<'a> {
    t: &'a [String],
    i: usize,
    searches: &'a [(String, Search)],
    src: &'a str,
}

impl CondParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.t.get(self.i).map(String::as_str)
    }
    fn word(&mut self, w: &str) -> bool {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case(w)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn err(&self, m: &str) -> String {
        format!("condition {:?}: {m}", self.src)
    }
    fn or(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and()?];
        while self.word("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Cond::Or(items) })
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.not()?];
        while self.word("and") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Cond::And(items) })
    }
    fn not(&mut self) -> Result<Cond, String> {
        if self.word("not") {
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Cond, String> {
        let Some(tok) = self.peek().map(str::to_owned) else {
            return Err(self.err("ends too early"));
        };
        self.i += 1;
        if tok == "(" {
            let c = self.or()?;
            if !self.word(")") {
                return Err(self.err("expected )"));
            }
            return Ok(c);
        }
        let quantifier = match tok.to_lowercase().as_str() {
            "1" | "any" => Some(false),
            "all" => Some(true),
            _ => None,
        };
        if let Some(all) = quantifier
            && self.word("of")
        {
            let Some(target) = self.peek().map(str::to_owned) else {
                return Err(self.err("expected a name pattern or them after of"));
            };
            self.i += 1;
            let picked: Vec<Cond> = self
                .searches
                .iter()
                .enumerate()
                .filter(|(_, (name, _))| {
                    if target == "them" {
                        !name.starts_with('_')
                    } else {
                        glob(&target, name)
                    }
                })
                .map(|(i, _)| Cond::Search(i))
                .collect();
            if picked.is_empty() {
                return Err(self.err(&format!("no search matches {target:?}")));
            }
            return Ok(if all { Cond::And(picked) } else { Cond::Or(picked) });
        }
        if tok.chars().all(|c| c.is_ascii_digit()) {
            return Err(self.err(&format!("{tok} of … is not supported: use 1 of or all of")));
        }
        match self.searches.iter().position(|(n, _)| *n == tok) {
            Some(i) => Ok(Cond::Search(i)),
            None => Err(self.err(&format!("no search is named {tok:?}"))),
        }
    }
}

/// Sigma's identifier patterns: `*` any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (k, part) in parts.iter().enumerate() {
        if k == 0 {
            let Some(r) = rest.strip_prefix(part) else { return false };
            rest = r;
        } else if k == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(detection: &str) -> Sigma {
        let y = format!(
            "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\nlevel: high\ndetection:\n{detection}"
        );
        let mut all = parse_all(&y);
        assert_eq!(all.len(), 1);
        all.remove(0).unwrap_or_else(|e| panic!("{detection}: {e}"))
    }

    fn refused(detection: &str) -> String {
        let y = format!("title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}");
        match parse_all(&y).remove(0) {
            Ok(_) => panic!("{detection} should be refused"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn selections_lists_and_case() {
        let r = rule(
            "  selection:\n    eventSource: cloudtrail.amazonaws.com\n    eventName:\n      - StopLogging\n      - DeleteTrail\n  condition: selection\n",
        );
        assert!(r.matches(&json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging"})));
        assert!(r.matches(&json!({"eventSource": "CloudTrail.amazonaws.com", "eventName": "deletetrail"})));
        assert!(!r.matches(&json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StartLogging"})));
        assert!(!r.matches(&json!({"eventName": "StopLogging"})));
    }

    #[test]
    fn modifiers() {
        let r = rule("  sel:\n    userAgent|contains: 'S3 Browser'\n    eventName|startswith: Create\n    userIdentity.arn|endswith: '/admin'\n  condition: sel\n");
        assert!(r.matches(&json!({"userAgent": "x s3 browser 9", "eventName": "CreateUser", "userIdentity": {"arn": "arn:aws:iam::1:user/admin"}})));
        assert!(!r.matches(&json!({"userAgent": "x s3 browser 9", "eventName": "CreateUser", "userIdentity": {"arn": "arn:aws:iam::1:user/admins"}})));
        let all = rule("  sel:\n    requestParameters|contains|all:\n      - Allow\n      - 's3:GetObject'\n  condition: sel\n");
        assert!(all.matches(&json!({"requestParameters": {"policy": "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\"}"}})));
        assert!(!all.matches(&json!({"requestParameters": {"policy": "{\"Effect\":\"Allow\"}"}})));
        let re = rule("  sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: sel\n");
        assert!(re.matches(&json!({"userIdentity": {"arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}})));
        assert!(!re.matches(&json!({"userIdentity": {"arn": "arn:aws:sts::1:assumed-role/AWS:ec2-instance/i-1"}})));
        let cidr = rule("  sel:\n    sourceIPAddress|cidr:\n      - 10.0.0.0/8\n      - '2001:db8::/32'\n  condition: sel\n");
        assert!(cidr.matches(&json!({"sourceIPAddress": "10.1.2.3"})));
        assert!(cidr.matches(&json!({"sourceIPAddress": "2001:db8::1"})));
        assert!(!cidr.matches(&json!({"sourceIPAddress": "ec2.amazonaws.com"})));
        let exists = rule("  sel:\n    errorCode|exists: true\n  f:\n    userIdentity.invokedBy|exists: false\n  condition: sel and f\n");
        assert!(exists.matches(&json!({"errorCode": "AccessDenied", "userIdentity": {}})));
        assert!(!exists.matches(&json!({"errorCode": "AccessDenied", "userIdentity": {"invokedBy": "x"}})));
        let fr = rule("  sel:\n    userIdentity.userName|fieldref: requestParameters.userName\n  condition: not sel\n");
        assert!(!fr.matches(&json!({"userIdentity": {"userName": "bob"}, "requestParameters": {"userName": "Bob"}})));
        assert!(fr.matches(&json!({"userIdentity": {"userName": "bob"}, "requestParameters": {"userName": "alice"}})));
        let cased = rule("  sel:\n    eventName|cased: ConsoleLogin\n  condition: sel\n");
        assert!(!cased.matches(&json!({"eventName": "consolelogin"})));
        let num = rule("  sel:\n    additionalEventData.bytesTransferredOut|gte: 1000\n  condition: sel\n");
        assert!(num.matches(&json!({"additionalEventData": {"bytesTransferredOut": 1000.0}})));
        assert!(!num.matches(&json!({"additionalEventData": {"bytesTransferredOut": 999}})));
    }

    #[test]
    fn wildcards_null_and_arrays() {
        let r = rule("  sel:\n    eventName: 'Get*Value'\n    errorCode: null\n  condition: sel\n");
        assert!(r.matches(&json!({"eventName": "GetSecretValue"})));
        assert!(r.matches(&json!({"eventName": "GetSecretValue", "errorCode": null})));
        assert!(!r.matches(&json!({"eventName": "GetSecretValue", "errorCode": "AccessDenied"})));
        assert!(!r.matches(&json!({"eventName": "GetSecretValues"})));
        let q = rule("  sel:\n    eventName: 'Get?'\n    userAgent: 'a\\*b'\n  condition: sel\n");
        assert!(q.matches(&json!({"eventName": "GetX", "userAgent": "a*b"})));
        assert!(!q.matches(&json!({"eventName": "GetX", "userAgent": "axb"})));
        let deep = rule("  sel:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0\n  condition: sel\n");
        assert!(deep.matches(&json!({"requestParameters": {"ipPermissions": {"items": [
            {"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
            {"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}})));
        let present = rule("  sel:\n    requestParameters.layers|contains: '*'\n  condition: sel\n");
        assert!(present.matches(&json!({"requestParameters": {"layers": ["arn:1"]}})));
        assert!(!present.matches(&json!({"requestParameters": {}})));
        let bools = rule("  sel:\n    responseElements.publiclyAccessible: 'true'\n  condition: sel\n");
        assert!(bools.matches(&json!({"responseElements": {"publiclyAccessible": true}})));
    }

    #[test]
    fn conditions() {
        let r = rule("  selection_a:\n    eventName: A\n  selection_b:\n    eventName: B\n  filter_x:\n    userAgent: x\n  _hidden:\n    eventName: Z\n  condition: (1 of selection_* or all of filter*) and not filter_x\n");
        assert!(r.matches(&json!({"eventName": "A"})));
        assert!(!r.matches(&json!({"eventName": "A", "userAgent": "x"})));
        assert!(!r.matches(&json!({"eventName": "C"})));
        let them = rule("  a:\n    eventName: A\n  b:\n    eventSource: s\n  _c:\n    eventName: Q\n  condition: all of them\n");
        assert!(them.matches(&json!({"eventName": "A", "eventSource": "s"})));
        assert!(!them.matches(&json!({"eventName": "A"})));
        let one = rule("  a:\n    eventName: A\n  b:\n    eventName: B\n  condition: 1 of them\n");
        assert!(one.matches(&json!({"eventName": "B"})));
        let list_of_maps = rule("  sel:\n    - eventName: A\n    - eventSource: s\n  condition: sel\n");
        assert!(list_of_maps.matches(&json!({"eventSource": "s"})));
    }

    #[test]
    fn refusals_say_why() {
        assert!(refused("  sel:\n    eventName: A\n  condition: sel | count() > 5\n").contains("aggregations"));
        assert!(refused("  sel:\n    eventName: A\n  timeframe: 5m\n  condition: sel\n").contains("timeframe"));
        assert!(refused("  keywords:\n    - evil\n  condition: keywords\n").contains("keyword"));
        assert!(refused("  sel:\n    src_ip|expand: '%ips%'\n  condition: sel\n").contains("placeholder"));
        assert!(refused("  sel:\n    eventName|base64: A\n  condition: sel\n").contains("base64"));
        assert!(refused("  sel:\n    eventName: A\n  condition: sel and nope\n").contains("nope"));
        assert!(refused("  sel:\n    eventName|re: '(?<=a)b'\n  condition: sel\n").contains("regular expression"));
        let windows = parse_all("title: t\nlogsource:\n  product: windows\ndetection:\n  sel:\n    a: b\n  condition: sel\n");
        assert!(matches!(&windows[0], Err(Refused(m)) if m.contains("logsource")));
        assert!(matches!(&parse_all("title: [unclosed")[0], Err(Refused(m)) if m.contains("not YAML")));
    }
}
