//! The rule engine: rules in two languages (CloudWatch Logs JSON filter patterns and
//! Sigma), optionally with a threshold, compiled into one set that decides for each
//! record which rules it matches. The importer runs it on every event it stores; back-tests
//! run it over stored records. Server-only.
//!
//! Speed: before a record is parsed, one pass of an Aho-Corasick automaton over its bytes
//! finds which of the rules' words it holds (case-insensitive), and a rule whose words are
//! missing is not evaluated. A record is parsed only when some rule may match it. The
//! prefilter never changes an answer: words with characters JSON may escape (quotes,
//! backslashes, slashes, non-ASCII) are not used, and a record with `\u` escapes skips it.

pub mod builtin;
pub mod pattern;
pub mod project;
pub mod sigma;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::detections::Severity;

/// The language a rule's match is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// A CloudWatch Logs JSON filter pattern.
    Pattern,
    Sigma,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Pattern => "pattern",
            Language::Sigma => "sigma",
        }
    }
    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "pattern" => Some(Language::Pattern),
            "sigma" => Some(Language::Sigma),
            _ => None,
        }
    }
}

/// A rule that fires on a number of matches: `count` matching events (or `count`
/// distinct values of `distinct`) with the same grouping key within `window_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threshold {
    pub count: u32,
    #[serde(default)]
    pub distinct: Option<String>,
    pub window_secs: i64,
}

/// A rule as stored: what it matches, how its findings group, and what it says about
/// itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDef {
    pub id: String,
    pub title: String,
    /// What it finds and why that matters.
    pub description: String,
    pub language: Language,
    pub body: String,
    pub severity: Severity,
    /// MITRE ATT&CK technique ids and tactics (`attack.t1562.008`), and any others.
    pub tags: Vec<String>,
    pub threshold: Option<Threshold>,
    /// The fields one finding is per: `principal` (the default), `account`, `region`,
    /// `source_ip`, `access_key`, or a record path (`requestParameters.userName`).
    pub group_by: Vec<String>,
    /// How long a finding of a match rule collects matches: one finding per rule, key and
    /// window of this many seconds (UTC-aligned).
    pub window_secs: i64,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub license: Option<String>,
}

impl RuleDef {
    /// A match rule with the usual defaults: medium, one finding per principal and UTC
    /// day, no description, tags or provenance.
    pub fn new(id: &str, title: &str, language: Language, body: &str) -> RuleDef {
        RuleDef {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            language,
            body: body.into(),
            severity: Severity::Medium,
            tags: vec![],
            threshold: None,
            group_by: vec!["principal".into()],
            window_secs: 86_400,
            author: None,
            references: vec![],
            license: None,
        }
    }

    /// Checks the body and compiles it.
    pub fn compile(&self) -> Result<Compiled, String> {
        let matcher = match self.language {
            Language::Pattern => Matcher::Pattern(pattern::parse(&self.body).map_err(|e| e.to_string())?),
            Language::Sigma => {
                let mut all = sigma::parse_all(&self.body);
                if all.len() != 1 {
                    return Err(format!("a Sigma rule body holds one rule, not {}", all.len()));
                }
                Matcher::Sigma(Box::new(all.remove(0).map_err(|e| e.0)?))
            }
        };
        if let Some(t) = &self.threshold {
            if t.count < 1 {
                return Err("a threshold counts at least 1".into());
            }
            if !(1..=7 * 86_400).contains(&t.window_secs) {
                return Err("a threshold window is between 1 second and 7 days".into());
            }
        }
        if !(60..=31 * 86_400).contains(&self.window_secs) {
            return Err("a finding window is between 1 minute and 31 days".into());
        }
        if self.group_by.is_empty() {
            return Err("a rule groups its findings by at least one field".into());
        }
        Ok(Compiled { matcher })
    }
}

/// Whether an id is one a person may give a rule: lower-case letters, digits, `.`, `_`
/// and `-`, up to 64, starting with a letter or digit.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id != "new"
}

impl crate::detections::RuleDraft {
    /// The rule the draft describes, checked and compiled; or what is wrong with it.
    pub fn to_def(&self) -> Result<RuleDef, String> {
        use crate::detections::duration_secs;
        let id = self.id.trim();
        if !valid_id(id) {
            return Err(format!(
                "the id {id:?} is not lower-case letters, digits, '.', '_' and '-' (up to 64)"
            ));
        }
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err("a title is needed (at most 200 characters)".into());
        }
        if self.description.chars().count() > 5_000 || self.body.len() > 100_000 {
            return Err("the description (5,000 characters) or the body (100 KB) is too long".into());
        }
        let language = Language::parse(self.language.trim())
            .ok_or_else(|| "the language is `pattern` or `sigma`".to_string())?;
        let severity = if self.severity.trim().is_empty() {
            Severity::Medium
        } else {
            Severity::parse(&self.severity)
                .ok_or_else(|| "the severity is informational, low, medium, high or critical".to_string())?
        };
        let window = Some(self.window.trim()).filter(|w| !w.is_empty()).map(duration_secs).transpose()?;
        let threshold = match self.threshold.trim() {
            "" => None,
            t => {
                let count: u32 = t.parse().map_err(|_| format!("the threshold {t:?} is not a whole number"))?;
                let distinct = Some(self.distinct.trim()).filter(|d| !d.is_empty()).map(str::to_owned);
                Some(Threshold { count, distinct, window_secs: window.unwrap_or(3_600) })
            }
        };
        let group_by: Vec<String> =
            self.group_by.split(',').map(|g| g.trim().to_owned()).filter(|g| !g.is_empty()).collect();
        let def = RuleDef {
            description: self.description.trim().to_owned(),
            severity,
            tags: self.tag_list(),
            window_secs: if threshold.is_some() { 86_400 } else { window.unwrap_or(86_400) },
            threshold,
            group_by: if group_by.is_empty() { vec!["principal".into()] } else { group_by },
            ..RuleDef::new(id, title, language, self.body.trim())
        };
        def.compile().map_err(|e| format!("the rule does not compile: {e}"))?;
        Ok(def)
    }
}

#[derive(Debug, Clone)]
pub struct Compiled {
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Pattern(pattern::Expr),
    Sigma(Box<sigma::Sigma>),
}

impl Compiled {
    pub fn matches(&self, record: &Value) -> bool {
        match &self.matcher {
            Matcher::Pattern(e) => e.eval(record),
            Matcher::Sigma(s) => s.matches(record),
        }
    }
    fn need(&self) -> Need {
        match &self.matcher {
            Matcher::Pattern(e) => pattern_need(e),
            Matcher::Sigma(s) => s.need(),
        }
    }
    /// Adds the record fields this rule reads.
    fn fields(&self, out: &mut project::Fields) {
        match &self.matcher {
            Matcher::Pattern(e) => pattern_fields(e, out),
            Matcher::Sigma(s) => s.fields(out),
        }
    }
}

fn pattern_fields(e: &pattern::Expr, out: &mut project::Fields) {
    match e {
        pattern::Expr::And(items) | pattern::Expr::Or(items) => items.iter().for_each(|i| pattern_fields(i, out)),
        pattern::Expr::Cond(c) => {
            // Keys up to the first index or wildcard; from there on, everything.
            let keys: Vec<&str> = c
                .selector
                .iter()
                .map_while(|s| match s {
                    pattern::Step::Key(k) => Some(k.as_str()),
                    _ => None,
                })
                .collect();
            out.add(&keys);
        }
    }
}

fn pattern_need(e: &pattern::Expr) -> Need {
    use pattern::{Expr, Test, Text};
    match e {
        Expr::And(items) => Need::all(items.iter().map(pattern_need).collect()),
        Expr::Or(items) => Need::any(items.iter().map(pattern_need).collect()),
        Expr::Cond(c) => match &c.test {
            Test::Text { negate: false, value } => match value {
                Text::Exact(s) | Text::Prefix(s) | Text::Suffix(s) | Text::Contains(s) => Need::literal(s),
                Text::Any => Need::True,
            },
            Test::Regex { negate: false, re } => Need::regex(re.as_str()),
            _ => Need::True,
        },
    }
}

/// Words a record must hold (case-insensitive) for a rule to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    True,
    Word(String),
    All(Vec<Need>),
    Any(Vec<Need>),
}

impl Need {
    /// A word usable by the prefilter, or `True` when it cannot be trusted to appear as
    /// written in the record's bytes.
    pub fn literal(s: &str) -> Need {
        let usable = s.len() >= 3
            && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            && !s.contains(['"', '\\']);
        if usable { Need::Word(s.to_ascii_lowercase()) } else { Need::True }
    }

    /// The longest run of literal text every match of a regular expression holds.
    pub fn regex(re: &str) -> Need {
        use regex_syntax::hir::{Hir, HirKind};
        fn walk(h: &Hir, best: &mut String) {
            match h.kind() {
                HirKind::Literal(l) => keep(std::str::from_utf8(&l.0).unwrap_or(""), best),
                HirKind::Capture(c) => walk(&c.sub, best),
                HirKind::Concat(items) => {
                    let mut run = String::new();
                    for i in items {
                        match i.kind() {
                            HirKind::Literal(l) => run.push_str(std::str::from_utf8(&l.0).unwrap_or("\u{0}")),
                            _ => {
                                keep(&run, best);
                                run.clear();
                                walk(i, best);
                            }
                        }
                    }
                    keep(&run, best);
                }
                _ => {}
            }
        }
        fn keep(s: &str, best: &mut String) {
            if s.len() > best.len() && !s.contains('\u{0}') {
                *best = s.to_owned();
            }
        }
        let Ok(hir) = regex_syntax::Parser::new().parse(re) else {
            return Need::True;
        };
        let mut best = String::new();
        walk(&hir, &mut best);
        Need::literal(&best)
    }
    pub fn all(items: Vec<Need>) -> Need {
        let mut kept: Vec<Need> = items.into_iter().filter(|n| *n != Need::True).collect();
        match kept.len() {
            0 => Need::True,
            1 => kept.remove(0),
            _ => Need::All(kept),
        }
    }
    pub fn any(items: Vec<Need>) -> Need {
        if items.is_empty() || items.contains(&Need::True) {
            return Need::True;
        }
        let mut items = items;
        if items.len() == 1 { items.remove(0) } else { Need::Any(items) }
    }
    fn words(&self, out: &mut Vec<String>) {
        match self {
            Need::True => {}
            Need::Word(w) => out.push(w.clone()),
            Need::All(v) | Need::Any(v) => v.iter().for_each(|n| n.words(out)),
        }
    }
}

/// A need with its words replaced by their numbers in the automaton.
#[derive(Debug, Clone)]
enum Needs {
    True,
    Word(usize),
    All(Vec<Needs>),
    Any(Vec<Needs>),
}

impl Needs {
    fn of(n: &Need, ids: &std::collections::HashMap<String, usize>) -> Needs {
        match n {
            Need::True => Needs::True,
            Need::Word(w) => ids.get(w).map_or(Needs::True, |&i| Needs::Word(i)),
            Need::All(v) => Needs::All(v.iter().map(|x| Needs::of(x, ids)).collect()),
            Need::Any(v) => Needs::Any(v.iter().map(|x| Needs::of(x, ids)).collect()),
        }
    }
    fn met(&self, seen: &[bool]) -> bool {
        match self {
            Needs::True => true,
            Needs::Word(i) => seen[*i],
            Needs::All(v) => v.iter().all(|n| n.met(seen)),
            Needs::Any(v) => v.iter().any(|n| n.met(seen)),
        }
    }
}

/// An enabled rule, ready to run.
#[derive(Debug, Clone)]
pub struct Active {
    pub def: RuleDef,
    compiled: Compiled,
    needs: Needs,
}

/// The enabled rules, compiled, with their prefilter.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Active>,
    words: Option<aho_corasick::AhoCorasick>,
    word_count: usize,
    /// The record fields any rule, grouping key or report reads.
    fields: project::Fields,
}

/// What a rule found in one record: which rule, the finding's grouping key, and for a
/// distinct-count threshold the value counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule: u32,
    pub group: String,
    pub distinct: Option<String>,
}

/// What the importer knows of an event besides its record, for grouping keys.
pub struct Known<'a> {
    pub principal: &'a str,
    pub account: &'a str,
    pub region: Option<&'a str>,
}

impl RuleSet {
    /// Compiles `defs`. Rules that do not compile are returned apart with the reason, and
    /// left out.
    pub fn new(defs: Vec<RuleDef>) -> (RuleSet, Vec<(String, String)>) {
        let mut broken = Vec::new();
        let mut rules = Vec::new();
        let mut needs = Vec::new();
        let mut fields = project::Fields::default();
        fields.add(&["eventID"]);
        for def in defs {
            match def.compile() {
                Ok(compiled) => {
                    needs.push(compiled.need());
                    compiled.fields(&mut fields);
                    let distinct = def.threshold.as_ref().and_then(|t| t.distinct.clone());
                    for f in def.group_by.iter().chain(distinct.iter()) {
                        if let Some(p) = record_path(f) {
                            fields.add(&p.split('.').collect::<Vec<_>>());
                        }
                    }
                    rules.push((def, compiled));
                }
                Err(e) => broken.push((def.id.clone(), e)),
            }
        }
        let mut words = Vec::new();
        needs.iter().for_each(|n| n.words(&mut words));
        words.sort();
        words.dedup();
        let ids: std::collections::HashMap<String, usize> =
            words.iter().enumerate().map(|(i, w)| (w.clone(), i)).collect();
        let automaton = if words.is_empty() {
            None
        } else {
            // A full DFA: every record's bytes go through it, and overlapping search in
            // a DFA takes one table step per byte where an NFA follows failure links
            // (measured on 1M events with the built-in and 57 Sigma rules: 11 % of the
            // import's CPU with an NFA, 8 % with the DFA).
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(aho_corasick::MatchKind::Standard)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(&words)
                .ok()
        };
        // Without an automaton every rule runs on every record.
        let rules = rules
            .into_iter()
            .zip(needs)
            .map(|((def, compiled), need)| Active {
                def,
                compiled,
                needs: if automaton.is_some() { Needs::of(&need, &ids) } else { Needs::True },
            })
            .collect();
        (
            RuleSet {
                rules,
                word_count: words.len(),
                words: automaton,
                fields,
            },
            broken,
        )
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that may match `raw`, by the prefilter.
    pub fn candidates(&self, raw: &[u8]) -> Vec<usize> {
        let Some(ac) = &self.words else {
            return (0..self.rules.len()).collect();
        };
        // Escapes would hide a word from the byte scan: such records run every rule.
        if memchr::memmem::find(raw, b"\\u").is_some() || memchr::memmem::find(raw, b"\\/").is_some() {
            return (0..self.rules.len()).collect();
        }
        let mut seen = vec![false; self.word_count];
        for m in ac.find_overlapping_iter(raw) {
            seen[m.pattern().as_usize()] = true;
        }
        (0..self.rules.len())
            .filter(|&i| self.rules[i].needs.met(&seen))
            .collect()
    }

    /// Evaluates every rule on a record; the record is parsed only when some rule may
    /// match it.
    pub fn evaluate(&self, raw: &[u8], known: &Known<'_>) -> Vec<Hit> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let candidates = self.candidates(raw);
        if candidates.is_empty() {
            return Vec::new();
        }
        let Some(record) = self.parse(raw) else {
            return Vec::new();
        };
        self.evaluate_parsed(&candidates, &record, known)
    }

    /// A record parsed with the fields the rules read (and `eventID`).
    pub fn parse(&self, raw: &[u8]) -> Option<Value> {
        self.fields.parse(raw).ok()
    }

    pub fn evaluate_parsed(&self, candidates: &[usize], record: &Value, known: &Known<'_>) -> Vec<Hit> {
        let mut hits = Vec::new();
        for &i in candidates {
            let r = &self.rules[i];
            if !r.compiled.matches(record) {
                continue;
            }
            let group = group_key(&r.def.group_by, record, known);
            let distinct = r
                .def
                .threshold
                .as_ref()
                .and_then(|t| t.distinct.as_deref())
                .map(|f| field_text(f, record, known).unwrap_or_default());
            hits.push(Hit {
                rule: i as u32,
                group,
                distinct,
            });
        }
        hits
    }
}

/// Which of a threshold rule's matches (of one grouping key, in time order) qualify:
/// those inside a window of `window_ms` that holds `count` matches, or `count` distinct
/// values when `distinct` values are given.
pub fn qualifying(times: &[i64], distinct: Option<&[Option<String>]>, count: u32, window_ms: i64) -> Vec<bool> {
    let mut out = vec![false; times.len()];
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut i = 0;
    for j in 0..times.len() {
        if let Some(Some(d)) = distinct.map(|d| &d[j]) {
            *seen.entry(d.as_str()).or_default() += 1;
        }
        while times[j] - times[i] > window_ms {
            if let Some(Some(d)) = distinct.map(|d| &d[i])
                && let Some(c) = seen.get_mut(d.as_str())
            {
                *c -= 1;
                if *c == 0 {
                    seen.remove(d.as_str());
                }
            }
            i += 1;
        }
        let n = if distinct.is_some() { seen.len() } else { j + 1 - i };
        if n >= count as usize {
            out[i..=j].iter_mut().for_each(|q| *q = true);
        }
    }
    out
}

/// The grouping fields Cairn knows by name; anything else is a record path.
pub const GROUP_FIELDS: [&str; 5] = ["principal", "account", "region", "source_ip", "access_key"];

/// The record path behind a grouping field (`None` for what the importer knows).
fn record_path(f: &str) -> Option<&str> {
    match f {
        "principal" | "account" | "region" => None,
        "source_ip" => Some("sourceIPAddress"),
        "access_key" => Some("userIdentity.accessKeyId"),
        other => Some(other),
    }
}

fn field_text(f: &str, record: &Value, known: &Known<'_>) -> Option<String> {
    let path = |p: &str| {
        let mut v = record;
        for k in p.split('.') {
            v = v.get(k)?;
        }
        match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    };
    match f {
        "principal" => Some(known.principal.to_owned()),
        "account" => Some(known.account.to_owned()),
        "region" => known.region.map(str::to_owned),
        other => record_path(other).and_then(path),
    }
}

/// The grouping key of a record: its values of the rule's fields, joined by a unit
/// separator (a character no field holds).
pub fn group_key(fields: &[String], record: &Value, known: &Known<'_>) -> String {
    fields
        .iter()
        .map(|f| field_text(f, record, known).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: &str, language: Language, body: &str) -> RuleDef {
        RuleDef { severity: Severity::High, ..RuleDef::new(id, id, language, body) }
    }

    /// The prefilter never drops a record a rule matches, however the words are cased
    /// or escaped.
    #[test]
    fn prefilter_is_exact() {
        let (set, broken) = RuleSet::new(vec![
            def("p", Language::Pattern, r#"{ $.eventName = "StopLogging" }"#),
            def("s", Language::Sigma, "title: s\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName: deletetrail\n  condition: sel\n"),
            def("n", Language::Pattern, r#"{ $.errorCode NOT EXISTS && $.x = 1 }"#),
        ]);
        assert!(broken.is_empty());
        let known = Known { principal: "arn:p", account: "1", region: None };
        let hits = |raw: &str| -> Vec<String> {
            set.evaluate(raw.as_bytes(), &known)
                .into_iter()
                .map(|h| set.rules[h.rule as usize].def.id.clone())
                .collect()
        };
        assert_eq!(hits(r#"{"eventName":"StopLogging"}"#), ["p"]);
        assert_eq!(hits(r#"{"eventName":"Stop\u004cogging"}"#), ["p"]);
        assert_eq!(hits(r#"{"eventName":"DeleteTrail"}"#), ["s"]);
        assert_eq!(hits(r#"{"eventName":"StartLogging","x":1}"#), ["n"]);
        assert_eq!(Need::regex(".+:assumed-role/aws:.+"), Need::Word(":assumed-role/aws:".into()));
        assert_eq!(Need::regex("(?i)ab"), Need::True);
        assert_eq!(Need::regex("^(abcd|efgh)x"), Need::True);
        assert_eq!(Need::regex("^Get(Secret)Value$"), Need::Word("secret".into()));
        assert!(hits(r#"{"eventName":"StartLogging"}"#).is_empty());
        assert_eq!(set.candidates(br#"{"eventName":"StartLogging"}"#), [2]);
    }

    #[test]
    fn sliding_windows() {
        // 3 in 10 ms: the burst of three qualifies, the straggler does not.
        let t = [0, 4, 9, 30];
        assert_eq!(qualifying(&t, None, 3, 10), [true, true, true, false]);
        assert_eq!(qualifying(&t, None, 4, 10), [false; 4]);
        let d: Vec<Option<String>> = ["a", "a", "b", "c"].iter().map(|s| Some((*s).to_owned())).collect();
        assert_eq!(qualifying(&[0, 1, 2, 3], Some(&d), 3, 10), [true; 4]);
        assert_eq!(qualifying(&[0, 1, 20], Some(&d[..3]), 2, 10), [false, false, false]);
    }

    #[test]
    fn broken_rules_are_reported() {
        let (set, broken) = RuleSet::new(vec![def("bad", Language::Pattern, "{ $.a = }")]);
        assert!(set.is_empty());
        assert_eq!(broken[0].0, "bad");
    }

    #[test]
    fn every_builtin_compiles() {
        let defs = builtin::all();
        let (set, broken) = RuleSet::new(defs.clone());
        assert!(broken.is_empty(), "{broken:?}");
        assert_eq!(set.rules.len(), defs.len());
        for n in 1..=15 {
            assert!(defs.iter().any(|d| d.id == format!("cis-4.{n}")), "cis-4.{n}");
        }
    }
}
