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
    /// A detector built into Cairn that judges summaries rather than single records (the
    /// exfiltration baselines); its body names the detector. Only Cairn ships these.
    Anomaly,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Pattern => "pattern",
            Language::Sigma => "sigma",
            Language::Anomaly => "anomaly",
        }
    }
    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "pattern" => Some(Language::Pattern),
            "sigma" => Some(Language::Sigma),
            "anomaly" => Some(Language::Anomaly),
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
            Language::Anomaly => {
                if !builtin::ANOMALY_DETECTORS.contains(&self.body.trim()) {
                    return Err(format!("{:?} is not one of Cairn's anomaly detectors", self.body.trim()));
                }
                Matcher::Never
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
            .filter(|l| *l != Language::Anomaly)
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
    /// An anomaly detector: it matches no single record (the set leaves it out).
    Never,
}

impl Compiled {
    pub fn matches(&self, record: &Value) -> bool {
        match &self.matcher {
            Matcher::Pattern(e) => e.eval(record),
            Matcher::Sigma(s) => s.matches(record),
            Matcher::Never => false,
        }
    }
    fn need(&self) -> Need {
        match &self.matcher {
            Matcher::Pattern(e) => pattern_need(e),
            Matcher::Sigma(s) => s.need(),
            Matcher::Never => Need::all(vec![]),
        }
    }
    fn keys(&self) -> Keys {
        match &self.matcher {
            Matcher::Pattern(e) => pattern_keys(e),
            Matcher::Sigma(s) => s.keys(),
            Matcher::Never => Some(vec![]),
        }
    }
    /// Adds the record fields this rule reads.
    fn fields(&self, out: &mut project::Fields) {
        match &self.matcher {
            Matcher::Pattern(e) => pattern_fields(e, out),
            Matcher::Sigma(s) => s.fields(out),
            Matcher::Never => {}
        }
    }
}

fn pattern_fields(e: &pattern::Expr, out: &mut project::Fields) {
    match e {
        pattern::Expr::And(items) | pattern::Expr::Or(items) => items.iter().for_each(|i| pattern_fields(i, out)),
        // Keys up to the first index or wildcard; from there on, everything.
        pattern::Expr::Cond(c) => out.add(&leading_keys(c)),
    }
}

/// A selector's field names up to its first index or wildcard.
fn leading_keys(c: &pattern::Cond) -> Vec<&str> {
    c.selector
        .iter()
        .map_while(|s| match s {
            pattern::Step::Key(k) => Some(k.as_str()),
            _ => None,
        })
        .collect()
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

fn pattern_keys(e: &pattern::Expr) -> Keys {
    use pattern::{Expr, Op, Test, Text};
    match e {
        Expr::And(items) => keys_all(items.iter().map(pattern_keys)),
        Expr::Or(items) => keys_any(items.iter().map(pattern_keys)),
        Expr::Cond(c) => {
            let path = leading_keys(c);
            if path.len() != c.selector.len() {
                return None;
            }
            let field = KeyField::of_path(&path)?;
            match &c.test {
                Test::Text { negate: false, value: Text::Exact(v) } => Some(vec![Key::is(field, v)]),
                Test::Text { negate: false, value: value @ (Text::Prefix(_) | Text::Suffix(_) | Text::Contains(_)) } => {
                    let value = value.clone();
                    Some(vec![Key::test(field, move |v| value.matches(v))])
                }
                Test::Regex { negate: false, re } => {
                    let re = re.clone();
                    Some(vec![Key::test(field, move |v| re.is_match(v))])
                }
                // These hold only on a value that is there and not null.
                Test::Text { negate: true, .. } | Test::Regex { negate: true, .. } | Test::IsBool(_) => {
                    Key::present(field)
                }
                Test::Number { op, .. } if *op != Op::Ne => Key::present(field),
                _ => None,
            }
        }
    }
}

/// A field of the record the rules are indexed by: most rules name the calls or the
/// identities they are about, so most records need no rule at all, and are not even
/// scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyField {
    EventName,
    EventSource,
    ErrorCode,
    UserAgent,
    /// `userIdentity.type`.
    IdentityType,
    /// `userIdentity.arn`.
    IdentityArn,
    /// `userIdentity.sessionContext.ec2RoleDelivery`.
    RoleDelivery,
}

impl KeyField {
    pub fn of_path<S: AsRef<str>>(path: &[S]) -> Option<KeyField> {
        let path: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
        Some(match path[..] {
            ["eventName"] => KeyField::EventName,
            ["eventSource"] => KeyField::EventSource,
            ["errorCode"] => KeyField::ErrorCode,
            ["userAgent"] => KeyField::UserAgent,
            ["userIdentity", "type"] => KeyField::IdentityType,
            ["userIdentity", "arn"] => KeyField::IdentityArn,
            ["userIdentity", "sessionContext", "ec2RoleDelivery"] => KeyField::RoleDelivery,
            _ => return None,
        })
    }
}

/// A rule's own test of a field's text, for the index.
#[derive(Clone)]
pub struct KeyTest(std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl KeyTest {
    fn id(&self) -> usize {
        std::sync::Arc::as_ptr(&self.0) as *const () as usize
    }
}
impl std::fmt::Debug for KeyTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyTest")
    }
}
impl PartialEq for KeyTest {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}
impl Eq for KeyTest {}
impl std::hash::Hash for KeyTest {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.id().hash(h)
    }
}
impl PartialOrd for KeyTest {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeyTest {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id().cmp(&other.id())
    }
}

/// One way a record can satisfy a rule's index entry: an indexed field equal to a value
/// (compared lower-cased, which only widens the case-sensitive patterns), passing the
/// rule's own test of it, or there and not null.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Is(KeyField, String),
    Test(KeyField, KeyTest),
    Present(KeyField),
}

impl Key {
    pub fn is(field: KeyField, value: &str) -> Key {
        Key::Is(field, value.to_lowercase())
    }
    pub fn test(field: KeyField, f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Key {
        Key::Test(field, KeyTest(std::sync::Arc::new(f)))
    }
    /// Nearly every record has a name, a source, an identity and a user agent, so only
    /// the presence of an error code or of an instance credential's delivery narrows.
    pub fn present(field: KeyField) -> Keys {
        matches!(field, KeyField::ErrorCode | KeyField::RoleDelivery).then(|| vec![Key::Present(field)])
    }
    /// How many records an entry lets through, roughly.
    fn cost(&self) -> usize {
        match self {
            Key::Is(KeyField::EventSource | KeyField::IdentityType, _) => 20,
            Key::Is(..) => 1,
            Key::Test(KeyField::EventSource | KeyField::IdentityType, _) => 30,
            Key::Test(..) => 5,
            Key::Present(KeyField::RoleDelivery) => 5,
            Key::Present(_) => 100,
        }
    }
}

/// The index entries of a rule: a record can match it only when it satisfies one of
/// them. `None`: the indexed fields do not narrow the rule.
pub type Keys = Option<Vec<Key>>;

/// Every part must hold: any part's entries will do, and the narrowest is kept.
pub fn keys_all(items: impl IntoIterator<Item = Keys>) -> Keys {
    items
        .into_iter()
        .flatten()
        .min_by_key(|k| k.iter().map(Key::cost).sum::<usize>())
}

/// Some part must hold: the entries of all of them, unless one is not narrowed.
pub fn keys_any(items: impl IntoIterator<Item = Keys>) -> Keys {
    let mut out = Vec::new();
    for k in items {
        out.extend(k?);
    }
    if out.is_empty() {
        return None;
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// A record's indexed fields as the record holds them, when each is absent, null, or text
/// (a whole number or a boolean read as its JSON text). A record holding anything else
/// there is given no keys, and every rule is tried on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordKeys<'a> {
    pub event_name: Option<&'a str>,
    pub event_source: Option<&'a str>,
    pub error_code: Option<&'a str>,
    /// `userIdentity.type`.
    pub identity_type: Option<&'a str>,
    /// `userIdentity.arn`.
    pub identity_arn: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// `userIdentity.sessionContext.ec2RoleDelivery`.
    pub role_delivery: Option<&'a str>,
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
    /// The rules by the value an indexed field must equal (lower-cased), by field; the
    /// rules by a field that must be there; and those no entry narrows.
    equal: Vec<(KeyField, foldhash::HashMap<String, Vec<usize>>)>,
    present: Vec<(KeyField, Vec<usize>)>,
    tests: Vec<(KeyField, KeyTest, usize)>,
    unkeyed: Vec<usize>,
    words: Option<aho_corasick::AhoCorasick>,
    word_count: usize,
    /// The record fields each rule, its grouping key and its count read.
    projection: project::Projection,
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
        let mut equal: Vec<(KeyField, foldhash::HashMap<String, Vec<usize>>)> = Vec::new();
        let mut present: Vec<(KeyField, Vec<usize>)> = Vec::new();
        let mut unkeyed = Vec::new();
        let mut tests = Vec::new();
        let mut fields = Vec::new();
        for def in defs {
            // Anomaly detectors judge summaries, not records: they are run apart.
            if def.language == Language::Anomaly {
                continue;
            }
            match def.compile() {
                Ok(compiled) => {
                    let at = rules.len();
                    match compiled.keys() {
                        Some(keys) => {
                            for k in keys {
                                match k {
                                    Key::Test(field, t) => tests.push((field, t, at)),
                                    Key::Is(field, value) => {
                                        let at_field = match equal.iter().position(|(f, _)| *f == field) {
                                            Some(i) => i,
                                            None => {
                                                equal.push((field, Default::default()));
                                                equal.len() - 1
                                            }
                                        };
                                        equal[at_field].1.entry(value).or_default().push(at);
                                    }
                                    Key::Present(field) => match present.iter_mut().find(|(f, _)| *f == field) {
                                        Some((_, rules)) => rules.push(at),
                                        None => present.push((field, vec![at])),
                                    },
                                }
                            }
                        }
                        None => unkeyed.push(at),
                    }
                    needs.push(compiled.need());
                    let mut reads = project::Fields::default();
                    compiled.fields(&mut reads);
                    let distinct = def.threshold.as_ref().and_then(|t| t.distinct.clone());
                    for f in def.group_by.iter().chain(distinct.iter()) {
                        if let Some(p) = record_path(f) {
                            reads.add(&p.split('.').collect::<Vec<_>>());
                        }
                    }
                    fields.push(reads);
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
                equal,
                present,
                tests,
                unkeyed,
                word_count: words.len(),
                words: automaton,
                projection: {
                    let mut always = project::Fields::default();
                    always.add(&["eventID"]);
                    project::Projection::new(&fields, &always)
                },
            },
            broken,
        )
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that may match `raw`: with `keys`, those its indexed fields select;
    /// without, those whose words it holds.
    ///
    /// With the index the word scan is not run: on 1M generated events with the built-in
    /// and the 57 Sigma rules, 40 % of the records are selected by some rule and the scan
    /// would turn away only 5 % of those, at 4.5 % of the import's processor time.
    pub fn candidates(&self, raw: &[u8], keys: Option<&RecordKeys<'_>>) -> Vec<usize> {
        if let Some(k) = keys {
            return self.indexed(k);
        }
        let mut picked: Vec<usize> = (0..self.rules.len()).collect();
        if picked.is_empty() {
            return picked;
        }
        let Some(ac) = &self.words else {
            return picked;
        };
        // Escapes would hide a word from the byte scan: such records skip it.
        if memchr::memmem::find(raw, b"\\u").is_some() || memchr::memmem::find(raw, b"\\/").is_some() {
            return picked;
        }
        let mut seen = vec![false; self.word_count];
        for m in ac.find_overlapping_iter(raw) {
            seen[m.pattern().as_usize()] = true;
        }
        picked.retain(|&i| self.rules[i].needs.met(&seen));
        picked
    }

    /// The rules a record's indexed fields select, in order.
    fn indexed(&self, k: &RecordKeys<'_>) -> Vec<usize> {
        let mut picked = self.unkeyed.clone();
        let value = |field: KeyField| match field {
            KeyField::EventName => k.event_name,
            KeyField::EventSource => k.event_source,
            KeyField::ErrorCode => k.error_code,
            KeyField::UserAgent => k.user_agent,
            KeyField::IdentityType => k.identity_type,
            KeyField::IdentityArn => k.identity_arn,
            KeyField::RoleDelivery => k.role_delivery,
        };
        let mut lowered = [0u8; 128];
        for (field, rules) in &self.equal {
            let Some(v) = value(*field) else { continue };
            let hit = match lower_ascii(v, &mut lowered) {
                Some(v) => rules.get(v),
                None => rules.get(&v.to_lowercase()),
            };
            if let Some(rules) = hit {
                picked.extend_from_slice(rules);
            }
        }
        for (field, rules) in &self.present {
            if value(*field).is_some() {
                picked.extend_from_slice(rules);
            }
        }
        for (field, test, rule) in &self.tests {
            if value(*field).is_some_and(|v| (test.0)(v)) {
                picked.push(*rule);
            }
        }
        picked.sort_unstable();
        picked.dedup();
        picked
    }

    /// Evaluates every rule on a record; the record is parsed only when some rule may
    /// match it.
    pub fn evaluate(&self, raw: &[u8], keys: Option<&RecordKeys<'_>>, known: &Known<'_>) -> Vec<Hit> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let candidates = self.candidates(raw, keys);
        if candidates.is_empty() {
            return Vec::new();
        }
        let Some(record) = self.parse(raw, &candidates) else {
            return Vec::new();
        };
        self.evaluate_parsed(&candidates, &record, known)
    }

    /// A record parsed with the fields the `candidates` read (and `eventID`): only
    /// those rules may be evaluated on it.
    pub fn parse(&self, raw: &[u8], candidates: &[usize]) -> Option<Value> {
        self.projection.parse(raw, candidates).ok()
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

/// `v` lower-cased in `buf`, when it is ASCII and fits (as `str::to_lowercase` would
/// give it).
fn lower_ascii<'b>(v: &str, buf: &'b mut [u8; 128]) -> Option<&'b str> {
    let out = buf.get_mut(..v.len())?;
    if !v.is_ascii() {
        return None;
    }
    out.copy_from_slice(v.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
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
        // The same hits with and without the index.
        let hits = |raw: &str| -> Vec<String> {
            let v: Value = serde_json::from_str(raw).expect("test record");
            let text = |f: &str| v.get(f).and_then(Value::as_str);
            let keys = RecordKeys {
                event_name: text("eventName"),
                event_source: text("eventSource"),
                error_code: text("errorCode"),
                identity_type: v.pointer("/userIdentity/type").and_then(Value::as_str),
                ..RecordKeys::default()
            };
            let ids = |hits: Vec<Hit>| -> Vec<String> {
                hits.into_iter().map(|h| set.rules[h.rule as usize].def.id.clone()).collect()
            };
            let plain = ids(set.evaluate(raw.as_bytes(), None, &known));
            assert_eq!(ids(set.evaluate(raw.as_bytes(), Some(&keys), &known)), plain, "{raw}");
            plain
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
        assert_eq!(set.candidates(br#"{"eventName":"StartLogging"}"#, None), [2]);
        // The index: only the rule about StopLogging is tried on a StopLogging call.
        let keys = RecordKeys { event_name: Some("StopLogging"), ..RecordKeys::default() };
        assert_eq!(set.candidates(br#"{"eventName":"StopLogging"}"#, Some(&keys)), [0, 2]);
        let keys = RecordKeys { event_name: Some("DeleteTrail"), ..RecordKeys::default() };
        assert_eq!(set.candidates(br#"{"eventName":"DeleteTrail"}"#, Some(&keys)), [1, 2]);
        let keys = RecordKeys { event_name: Some("GetObject"), ..RecordKeys::default() };
        assert_eq!(set.candidates(br#"{"eventName":"GetObject"}"#, Some(&keys)), [2]);
    }

    /// Each rule's index entries: the narrowest a record must satisfy.
    #[test]
    fn index_entries() {
        let keys = |language, body: &str| def("k", language, body).compile().expect("compiles").keys();
        let name = |v: &str| Key::Is(KeyField::EventName, v.to_lowercase());
        assert_eq!(
            keys(Language::Pattern, r#"{ ($.eventName = "DeleteTrail") || ($.eventName = "StopLogging") }"#),
            Some(vec![name("DeleteTrail"), name("StopLogging")])
        );
        assert_eq!(
            keys(Language::Pattern, r#"{ $.eventSource = "s3.amazonaws.com" && $.eventName = "PutBucketAcl" }"#),
            Some(vec![name("PutBucketAcl")])
        );
        // Wildcards and expressions: the rule's own test of the field.
        let tested = |k: Keys| -> Vec<KeyField> {
            k.unwrap_or_default()
                .into_iter()
                .map(|k| match k {
                    Key::Test(f, _) => f,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let k = keys(Language::Pattern, r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#);
        assert_eq!(tested(k), [KeyField::ErrorCode, KeyField::ErrorCode]);
        assert_eq!(keys(Language::Pattern, r#"{ $.errorCode != "x" }"#), Some(vec![Key::Present(KeyField::ErrorCode)]));
        // A test that holds on an absent field, or one the index cannot see, narrows nothing.
        assert_eq!(keys(Language::Pattern, r#"{ $.errorCode NOT EXISTS }"#), None);
        assert_eq!(
            keys(Language::Pattern, r#"{ $.eventName = "A" || $.userIdentity.type = "Root" }"#),
            Some(vec![name("A"), Key::Is(KeyField::IdentityType, "root".into())])
        );
        assert_eq!(keys(Language::Pattern, r#"{ $.eventName = "A" || $.userIdentity.userName = "x" }"#), None);
        assert_eq!(keys(Language::Pattern, r#"{ $.eventName = "*" }"#), None);
        let sigma = |detection: &str| {
            keys(Language::Sigma, &format!("title: k\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n{detection}"))
        };
        assert_eq!(
            sigma("  sel:\n    eventSource: iam.amazonaws.com\n    eventName:\n      - CreateUser\n      - AttachUserPolicy\n  condition: sel\n"),
            Some(vec![name("AttachUserPolicy"), name("CreateUser")])
        );
        assert_eq!(tested(sigma("  sel:\n    eventName|startswith: Delete\n  condition: sel\n")), [KeyField::EventName]);
        assert_eq!(tested(sigma("  sel:\n    userIdentity.arn|re: ':assumed-role/aws:'\n  condition: sel\n")), [KeyField::IdentityArn]);
        assert_eq!(sigma("  sel:\n    userIdentity.sessionContext.ec2RoleDelivery|exists: true\n  condition: sel\n"), Some(vec![Key::Present(KeyField::RoleDelivery)]));
        assert_eq!(sigma("  sel:\n    eventName: A\n  other:\n    eventName: B\n  condition: sel or not other\n"), None);
        assert_eq!(
            sigma("  sel:\n    eventName: A\n  f:\n    errorCode: x\n  condition: sel and not f\n"),
            Some(vec![name("A")])
        );
        assert_eq!(sigma("  sel:\n    errorCode: null\n  condition: sel\n"), None);
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
        // The anomaly rules compile but are run over the summaries, not in the set.
        let anomalies = builtin::anomaly_rules();
        assert_eq!(set.rules.len(), defs.len() - anomalies.len());
        for a in &anomalies {
            a.compile().expect("an anomaly rule compiles");
            assert!(set.rules.iter().all(|r| r.def.id != a.id));
        }
        let mut wrong = anomalies[0].clone();
        wrong.body = "no-such-detector".into();
        assert!(wrong.compile().is_err());
        for n in 1..=15 {
            assert!(defs.iter().any(|d| d.id == format!("cis-4.{n}")), "cis-4.{n}");
        }
    }
}
