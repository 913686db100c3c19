//! Coverage: for each account, Region and kind of event, when a trail Cairn knows of was
//! recording it, so that absence of evidence is not read as evidence of absence.
//!
//! What is known of a trail over time comes from two places, merged in time order: the
//! trail's own write events in the store (`CreateTrail`, `UpdateTrail`,
//! `PutEventSelectors`, `StartLogging`, `StopLogging`, `DeleteTrail`, successful ones)
//! and the inventory's readings of its settings. Before the first thing known of a trail
//! its state is unknown, with two inferences: a trail's first `StopLogging` means it was
//! logging before, and a bucket, function or table whose data events a trail's first
//! known `PutEventSelectors` turned on, with no data event on it stored before then, was
//! not being recorded by that trail before then.
//!
//! The kinds followed: management events, and the data events of each bucket, Lambda
//! function and DynamoDB table a selector names, and the network activity of each service
//! a selector names.
//!
//! A trail speaks for an account and Region only while it exists and covers the Region.
//! Where no known trail speaks, coverage is unknown: Cairn never claims a gap it cannot
//! show.

use crate::selectors::{Facts, Selectors};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Whether something was recorded: yes, no, or not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tri {
    Yes,
    No,
    Unknown,
}

/// A kind of event whose recording is followed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum What {
    Management,
    /// S3 data events on one bucket.
    S3(String),
    /// Lambda data events (invocations) of one function, by its ARN.
    Lambda(String),
    /// DynamoDB data events on one table, by its ARN.
    DynamoDb(String),
    /// Network activity events (calls through VPC endpoints) for one service, by its
    /// event source.
    Network(String),
}

/// The name of a Lambda function (`kind` `function`) or DynamoDB table (`table`) in an
/// ARN that names its Region and account, without qualifier, index or stream.
fn arn_part<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    // arn:aws:<service>:<region>:<account>:<resource>
    let mut parts = arn.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    parts.next()?;
    let service = parts.next()?;
    let (region, account) = (parts.next()?, parts.next()?);
    let resource = parts.next()?;
    if region.is_empty() || account.is_empty() {
        return None;
    }
    match (service, kind) {
        ("lambda", "function") => resource.strip_prefix("function:").map(|r| r.split(':').next().unwrap_or(r)),
        ("dynamodb", "table") => resource.strip_prefix("table/").map(|r| r.split('/').next().unwrap_or(r)),
        _ => None,
    }
    .filter(|n| !n.is_empty() && !n.contains('*'))
}

impl What {
    /// The kind a resource's page is about: its bucket's data events for an S3 bucket or
    /// object, a function's or a table's data events (a table's index or stream counts
    /// as the table), else none.
    pub fn of_resource(arn: &str) -> Option<What> {
        if let Some(rest) = arn.strip_prefix("arn:aws:s3:::") {
            let b = rest.split('/').next()?;
            return (!b.is_empty()).then(|| What::S3(b.to_owned()));
        }
        if let Some(name) = arn_part(arn, "function") {
            let head: Vec<&str> = arn.splitn(6, ':').take(5).collect();
            return Some(What::Lambda(format!("{}:function:{name}", head.join(":"))));
        }
        if let Some(name) = arn_part(arn, "table") {
            let head: Vec<&str> = arn.splitn(6, ':').take(5).collect();
            return Some(What::DynamoDb(format!("{}:table/{name}", head.join(":"))));
        }
        None
    }

    /// The account and Region the kind lives in, where it names them (a function's or a
    /// table's ARN); a bucket is the same in every Region.
    pub fn home(&self) -> Option<(&str, &str)> {
        match self {
            What::Lambda(arn) | What::DynamoDb(arn) => {
                let p: Vec<&str> = arn.splitn(6, ':').collect();
                Some((*p.get(4)?, *p.get(3)?))
            }
            _ => None,
        }
    }

    /// The resource ARN its data events are stored under, for resource kinds.
    pub fn resource_arn(&self) -> Option<String> {
        match self {
            What::S3(b) => Some(format!("arn:aws:s3:::{b}")),
            What::Lambda(a) | What::DynamoDb(a) => Some(a.clone()),
            What::Management | What::Network(_) => None,
        }
    }

    pub fn label(&self) -> String {
        let last = |a: &str, sep: char| a.rsplit(sep).next().unwrap_or(a).to_owned();
        match self {
            What::Management => "Management events".to_owned(),
            What::S3(b) => format!("S3 data events for {b}"),
            What::Lambda(a) => format!("Lambda data events for function {}", last(a, ':')),
            What::DynamoDb(a) => format!("DynamoDB data events for table {}", last(a, '/')),
            What::Network(s) => format!("Network activity events for {s}"),
        }
    }

    /// A stable short key for URLs and test ids: `management`, `s3:bucket`,
    /// `lambda:ARN`, `dynamodb:ARN`, `network:source`.
    pub fn key(&self) -> String {
        match self {
            What::Management => "management".to_owned(),
            What::S3(b) => format!("s3:{b}"),
            What::Lambda(a) => format!("lambda:{a}"),
            What::DynamoDb(a) => format!("dynamodb:{a}"),
            What::Network(s) => format!("network:{s}"),
        }
    }

    pub fn from_key(k: &str) -> Option<What> {
        if k == "management" {
            return Some(What::Management);
        }
        let (kind, v) = k.split_once(':')?;
        if v.is_empty() {
            return None;
        }
        match kind {
            "s3" => Some(What::S3(v.to_owned())),
            "lambda" => match What::of_resource(v)? {
                w @ What::Lambda(_) => Some(w),
                _ => None,
            },
            "dynamodb" => match What::of_resource(v)? {
                w @ What::DynamoDb(_) => Some(w),
                _ => None,
            },
            "network" => v.ends_with(".amazonaws.com").then(|| What::Network(v.to_owned())),
            _ => None,
        }
    }

    /// Whether selectors record this kind's reads (or writes): evaluated on a typical
    /// event of the kind (for a bucket, an object at its root; for a function, an
    /// invocation, which is a write; for a service's network activity, an allowed call
    /// through any VPC endpoint).
    pub fn recorded_by(&self, s: &Selectors, read: bool) -> bool {
        let arn;
        let data = |source, name, resources| Facts {
            category: "Data",
            source,
            name,
            read_only: Some(read),
            resources,
            event_type: Some("AwsApiCall"),
            ..Facts::default()
        };
        let facts = match self {
            What::Management => Facts {
                category: "Management",
                source: "ec2.amazonaws.com",
                name: if read { "DescribeInstances" } else { "RunInstances" },
                read_only: Some(read),
                event_type: Some("AwsApiCall"),
                ..Facts::default()
            },
            What::S3(b) => {
                arn = format!("arn:aws:s3:::{b}/");
                data(
                    "s3.amazonaws.com",
                    if read { "GetObject" } else { "PutObject" },
                    vec![("AWS::S3::Object", arn.as_str())],
                )
            }
            What::Lambda(a) => Facts {
                read_only: Some(false),
                ..data("lambda.amazonaws.com", "Invoke", vec![("AWS::Lambda::Function", a.as_str())])
            },
            What::DynamoDb(a) => data(
                "dynamodb.amazonaws.com",
                if read { "GetItem" } else { "PutItem" },
                vec![("AWS::DynamoDB::Table", a.as_str())],
            ),
            What::Network(source) => Facts {
                category: "NetworkActivity",
                source: source.as_str(),
                name: if read { "Describe" } else { "Put" },
                read_only: Some(read),
                event_type: Some("AwsVpceEvent"),
                ..Facts::default()
            },
        };
        s.records(&facts).is_some()
    }

    /// The kinds beyond management events that selectors name, to follow: each bucket
    /// (basic S3 data resources, advanced `resources.ARN`), each function and table named
    /// by its ARN, and each service whose network activity advanced selectors record.
    pub fn named_in(s: &Selectors) -> BTreeSet<What> {
        let mut out = BTreeSet::new();
        match s {
            Selectors::Basic(list) => {
                for sel in list {
                    for (_, values) in &sel.data {
                        out.extend(values.iter().filter_map(|v| What::of_resource(v)));
                    }
                }
            }
            Selectors::Advanced(list) => {
                for sel in list {
                    let of = |name: &'static str| sel.fields.iter().filter(move |f| f.field == name);
                    for f in of("resources.ARN") {
                        out.extend(f.equals.iter().chain(&f.starts_with).filter_map(|v| What::of_resource(v)));
                    }
                    if of("eventCategory").any(|f| f.equals.iter().any(|c| c == "NetworkActivity")) {
                        for f in of("eventSource") {
                            out.extend(f.equals.iter().map(|v| What::Network(v.clone())));
                        }
                    }
                }
            }
        }
        out
    }
}

/// What changed a trail: an event of the store, or a reading of the inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// `StopLogging`, `PutEventSelectors`, ... or `inventory`.
    pub what: String,
    pub by: Option<String>,
    /// The event's id in the store.
    pub event: Option<i64>,
}

/// What one event or reading says of a trail from its time on.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub at: i64,
    pub exists: Option<bool>,
    pub logging: Option<bool>,
    pub selectors: Option<Selectors>,
    pub multi_region: Option<bool>,
    pub home: Option<String>,
    pub organization: Option<bool>,
    pub cause: Cause,
}

/// A trail's state at some time; `None` where not known.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub exists: Option<bool>,
    pub logging: Option<bool>,
    pub selectors: Option<Selectors>,
    pub multi_region: Option<bool>,
    pub home: Option<String>,
    pub organization: Option<bool>,
    /// Created and not started since: it does not speak for its account yet.
    pub fresh: bool,
}

impl State {
    fn apply(&mut self, p: &Patch) {
        if p.exists.is_some() {
            self.exists = p.exists;
        } else {
            // Anything done to a trail says it exists.
            self.exists = Some(true);
        }
        macro_rules! set {
            ($f:ident, $g:ident) => {
                if p.$g.is_some() {
                    self.$f = p.$g.clone();
                }
            };
        }
        set!(logging, logging);
        set!(selectors, selectors);
        set!(multi_region, multi_region);
        set!(home, home);
        set!(organization, organization);
        if p.cause.what == "CreateTrail" {
            self.fresh = true;
        } else if p.logging == Some(true) || p.cause.what == "inventory" {
            self.fresh = false;
        }
    }
}

/// A trail as its events and readings tell it.
#[derive(Debug, Clone)]
pub struct Known {
    pub account: String,
    pub name: String,
    pub arn: Option<String>,
    before: State,
    /// `(time, state from then on, what made it)`, oldest first.
    states: Vec<(i64, State, Cause)>,
    /// The first selectors known, when a `PutEventSelectors` event set them.
    first_put: Option<(i64, Selectors)>,
}

impl Known {
    /// From its patches, in any order.
    pub fn new(account: String, name: String, arn: Option<String>, mut patches: Vec<Patch>) -> Known {
        patches.sort_by_key(|p| p.at);
        let mut before = State::default();
        // Settings that never change (home Region) or rarely do are taken back to the
        // start from the first patch that says them.
        before.home = patches.iter().find_map(|p| p.home.clone());
        before.multi_region = patches.iter().find_map(|p| p.multi_region);
        before.organization = patches.iter().find_map(|p| p.organization);
        if patches.first().is_some_and(|p| p.cause.what == "CreateTrail") {
            before.exists = Some(false);
        }
        if let Some(first) = patches.iter().find(|p| p.logging.is_some()) {
            if first.cause.what == "StopLogging" {
                before.logging = Some(true);
            }
        }
        let first_put = patches
            .iter()
            .find(|p| p.selectors.is_some())
            .filter(|p| p.cause.what == "PutEventSelectors")
            .and_then(|p| Some((p.at, p.selectors.clone()?)));
        let mut state = before.clone();
        let mut states = Vec::new();
        for p in &patches {
            state.apply(p);
            states.push((p.at, state.clone(), p.cause.clone()));
        }
        Known { account, name, arn, before, states, first_put }
    }

    fn at(&self, t: i64) -> &State {
        match self.states.partition_point(|(at, ..)| *at <= t) {
            0 => &self.before,
            i => &self.states[i - 1].1,
        }
    }

    /// The times its state changes.
    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        self.states.iter().map(|(t, ..)| *t)
    }

    fn cause_at(&self, t: i64) -> Option<&Cause> {
        self.states.iter().find(|(at, ..)| *at == t).map(|(_, _, c)| c)
    }

    /// The resource kinds (buckets, functions, tables) its first `PutEventSelectors`
    /// named, and when.
    pub fn turned_on(&self) -> Option<(i64, BTreeSet<What>)> {
        let (at, s) = self.first_put.as_ref()?;
        Some((*at, What::named_in(s).into_iter().filter(|w| w.resource_arn().is_some()).collect()))
    }

    /// Whether it speaks for the account and Region at `t` (it exists, or may, and
    /// covers the Region), and if so whether it records the kind's reads and writes.
    /// `off_before` says the kind was inferred off before the first `PutEventSelectors`.
    fn records(&self, t: i64, account: &str, region: &str, what: &What, off_before: bool) -> Option<(Tri, Tri)> {
        let s = self.at(t);
        if s.exists == Some(false) || s.fresh {
            return None;
        }
        if self.account != account && s.organization != Some(true) {
            return None;
        }
        match (&s.home, s.multi_region) {
            (_, Some(true)) => {}
            (Some(h), _) if h == region => {}
            (Some(_), Some(false)) => return None,
            _ => return Some((Tri::Unknown, Tri::Unknown)),
        }
        if s.logging == Some(false) {
            return Some((Tri::No, Tri::No));
        }
        let judge = |read: bool| -> Tri {
            let by_selectors = match &s.selectors {
                Some(sel) => {
                    if what.recorded_by(sel, read) {
                        Tri::Yes
                    } else {
                        Tri::No
                    }
                }
                None if off_before && self.first_put.as_ref().is_some_and(|(at, _)| t < *at) => Tri::No,
                None => Tri::Unknown,
            };
            match (by_selectors, s.logging) {
                (Tri::No, _) => Tri::No,
                (Tri::Yes, Some(true)) => Tri::Yes,
                _ => Tri::Unknown,
            }
        };
        Some((judge(true), judge(false)))
    }
}

/// A stretch of time and whether the kind was recorded then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// `None`: since before anything is known.
    pub from: Option<i64>,
    /// `None`: still so.
    pub to: Option<i64>,
    pub reads: Tri,
    pub writes: Tri,
}

/// Time that was not recorded, as the pages warn of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub account: String,
    pub region: String,
    pub what: What,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Which of reads and writes went unrecorded.
    pub reads: bool,
    pub writes: bool,
    /// What started and what ended it, where an event or reading did.
    pub began: Option<Cause>,
    pub ended: Option<Cause>,
    /// The trails that speak for the account and Region then.
    pub trails: Vec<String>,
}

impl Gap {
    /// "S3 data events for b were not recorded before 2021-07-29 23:53 UTC: reads before then are invisible."
    pub fn sentence(&self) -> String {
        let what = match (self.reads, self.writes) {
            (true, false) => format!("{} (reads)", self.what.label()),
            (false, true) => format!("{} (writes)", self.what.label()),
            _ => self.what.label(),
        };
        let place = match self.what {
            What::S3(_) => String::new(),
            _ => format!(" in {} {}", self.account, self.region),
        };
        let at = |ms: i64| format!("{} UTC", crate::fmt::time(ms));
        let span = match (self.from, self.to) {
            (None, Some(t)) => format!("before {}", at(t)),
            (Some(f), Some(t)) => format!("from {} to {}", at(f), at(t)),
            (Some(f), None) => format!("since {}", at(f)),
            (None, None) => "at any time Cairn knows of".to_owned(),
        };
        let lost = match (&self.what, self.reads, self.writes) {
            (What::S3(_), true, false) => "reads",
            (What::S3(_), false, true) => "writes",
            (What::S3(_), ..) => "reads and writes",
            (What::Management, true, false) => "read calls",
            (What::Management, false, true) => "changes",
            (What::Management, ..) => "calls",
            // An invocation is a write; reads and writes are judged alike.
            (What::Lambda(_), ..) => "invocations",
            (What::DynamoDb(_), true, false) => "item reads",
            (What::DynamoDb(_), false, true) => "item writes",
            (What::DynamoDb(_), ..) => "item reads and writes",
            (What::Network(_), true, false) => "read calls through VPC endpoints",
            (What::Network(_), false, true) => "changes through VPC endpoints",
            (What::Network(_), ..) => "calls through VPC endpoints",
        };
        let when = match (self.from, self.to) {
            (None, Some(_)) => "before then",
            (Some(_), None) => "since then",
            _ => "in that time",
        };
        format!("{what}{place} were not recorded {span}: {lost} {when} are invisible.")
    }

    /// What made the gap, in words: "StopLogging by alice; StartLogging by bob".
    pub fn causes(&self) -> String {
        let say = |c: &Cause, verb: &str| {
            let who = c.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            if c.what == "inventory" {
                format!("{verb} the inventory's reading")
            } else {
                format!("{verb} {}{who}", c.what)
            }
        };
        let mut parts = Vec::new();
        if let Some(c) = &self.began {
            parts.push(say(c, "began with"));
        }
        if let Some(c) = &self.ended {
            parts.push(say(c, "ended with"));
        }
        let trails = if self.trails.is_empty() {
            String::new()
        } else {
            format!("trails known here: {}", self.trails.join(", "))
        };
        if !trails.is_empty() {
            parts.push(trails);
        }
        parts.join("; ")
    }
}

/// Every trail known, by account and name.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    pub trails: Vec<Known>,
    /// `(resource kind, time)` pairs with a stored data event on the resource before the
    /// time: where the inference "off before" must not be made.
    pub seen_before: BTreeSet<(What, i64)>,
    /// The Regions each account is seen in (deliveries, the inventory): where a
    /// multi-Region trail of the account speaks.
    pub regions_of: BTreeMap<String, BTreeSet<String>>,
}

impl Coverage {
    /// The spans of one account, Region and kind over `[from, to)`, merged.
    pub fn spans(&self, account: &str, region: &str, what: &What, from: i64, to: i64) -> Vec<(i64, i64, Tri, Tri, Vec<String>)> {
        let off_before = |k: &Known| -> bool {
            k.turned_on()
                .is_some_and(|(at, named)| named.contains(what) && !self.seen_before.contains(&(what.clone(), at)))
        };
        let mut cuts: BTreeSet<i64> = BTreeSet::from([from]);
        for k in &self.trails {
            cuts.extend(k.times().filter(|t| *t > from && *t < to));
        }
        let cuts: Vec<i64> = cuts.into_iter().collect();
        let mut out: Vec<(i64, i64, Tri, Tri, Vec<String>)> = Vec::new();
        for (i, start) in cuts.iter().enumerate() {
            let end = cuts.get(i + 1).copied().unwrap_or(to);
            let mut reads = Vec::new();
            let mut writes = Vec::new();
            let mut names = Vec::new();
            for k in &self.trails {
                if let Some((r, w)) = k.records(*start, account, region, what, off_before(k)) {
                    reads.push(r);
                    writes.push(w);
                    names.push(k.name.clone());
                }
            }
            let fold = |l: &[Tri]| {
                if l.contains(&Tri::Yes) {
                    Tri::Yes
                } else if l.is_empty() || l.contains(&Tri::Unknown) {
                    Tri::Unknown
                } else {
                    Tri::No
                }
            };
            let (r, w) = (fold(&reads), fold(&writes));
            names.sort();
            names.dedup();
            match out.last_mut() {
                Some(last) if last.2 == r && last.3 == w => {
                    last.1 = end;
                    for n in names {
                        if !last.4.contains(&n) {
                            last.4.push(n);
                        }
                    }
                }
                _ => out.push((*start, end, r, w, names)),
            }
        }
        out
    }

    /// The unrecorded time of one account, Region and kind within `[from, to)`.
    pub fn gaps(&self, account: &str, region: &str, what: &What, from: i64, to: i64) -> Vec<Gap> {
        // Read over all time so a gap's true beginning and end are known.
        let spans = self.spans(account, region, what, i64::MIN / 4, i64::MAX / 4);
        let mut out = Vec::new();
        for (i, (start, end, r, w, names)) in spans.iter().enumerate() {
            if *r != Tri::No && *w != Tri::No {
                continue;
            }
            if *end <= from || (i > 0 && *start >= to) {
                continue;
            }
            let began = (i > 0).then_some(*start);
            let ended = (i + 1 < spans.len()).then_some(*end);
            let cause = |t: Option<i64>| -> Option<Cause> {
                let t = t?;
                self.trails.iter().find_map(|k| k.cause_at(t).cloned())
            };
            out.push(Gap {
                account: account.to_owned(),
                region: region.to_owned(),
                what: what.clone(),
                from: began,
                to: ended,
                reads: *r == Tri::No,
                writes: *w == Tri::No,
                began: cause(began),
                ended: cause(ended),
                trails: names.clone(),
            });
        }
        out
    }

    /// The accounts and Regions the known trails speak for, with the kinds followed in
    /// each: management events, every bucket a selector names, and every function,
    /// table and service's network activity named, in its own account and Region.
    pub fn places(&self) -> BTreeMap<(String, String), BTreeSet<What>> {
        let mut out: BTreeMap<(String, String), BTreeSet<What>> = BTreeMap::new();
        for k in &self.trails {
            let mut regions = BTreeSet::new();
            let mut named = BTreeSet::new();
            for s in std::iter::once(&k.before).chain(k.states.iter().map(|(_, s, _)| s)) {
                if let Some(h) = &s.home {
                    regions.insert(h.clone());
                }
                if s.multi_region == Some(true) {
                    regions.extend(self.regions_of.get(&k.account).into_iter().flatten().cloned());
                }
                if let Some(sel) = &s.selectors {
                    named.extend(What::named_in(sel));
                }
            }
            for r in regions {
                let here: Vec<What> = named
                    .iter()
                    .filter(|w| w.home().is_none_or(|(a, reg)| a == k.account && reg == r))
                    .cloned()
                    .collect();
                let e = out.entry((k.account.clone(), r)).or_default();
                e.insert(What::Management);
                e.extend(here);
            }
        }
        out
    }
}

/// The trail name of a write event's parameters: a name, or an ARN's last part.
pub fn trail_name(params: &Value) -> Option<String> {
    let v = params
        .get("name")
        .or_else(|| params.get("trailName"))
        .and_then(Value::as_str)?;
    let name = v.rsplit_once(":trail/").map_or(v, |(_, n)| n);
    (!name.is_empty()).then(|| name.to_owned())
}

/// The patch a successful trail write event makes, with the trail's account and name.
pub fn patch_of_event(id: i64, time_ms: i64, record: &Value) -> Option<(String, String, Patch)> {
    if record.get("errorCode").is_some_and(|e| !e.is_null()) {
        return None;
    }
    let params = record.get("requestParameters")?;
    let name = trail_name(params)?;
    let account = params
        .get("name")
        .or_else(|| params.get("trailName"))
        .and_then(Value::as_str)
        .filter(|v| v.starts_with("arn:"))
        .map(crate::trails::account_of)
        .or_else(|| record["recipientAccountId"].as_str().map(str::to_owned))?;
    let event = record["eventName"].as_str()?;
    let by = record["userIdentity"]["arn"]
        .as_str()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
        .or_else(|| record["userIdentity"]["type"].as_str().map(str::to_owned));
    let mut p = Patch {
        at: time_ms,
        cause: Cause { what: event.to_owned(), by, event: Some(id) },
        ..Patch::default()
    };
    // Changes to a trail are made in its home Region; an ARN says it exactly.
    let region = params
        .get("name")
        .or_else(|| params.get("trailName"))
        .and_then(Value::as_str)
        .and_then(|v| v.strip_prefix("arn:"))
        .and_then(|v| v.split(':').nth(2))
        .filter(|r| !r.is_empty())
        .or_else(|| record["awsRegion"].as_str())
        .map(str::to_owned);
    p.home = region.clone();
    let flag = |k: &str| params.get(k).and_then(Value::as_bool);
    match event {
        "CreateTrail" => {
            // A new trail does not log until started; until then it does not speak
            // for the account (it records nothing, but nothing was lost by it).
            p.exists = Some(true);
            p.logging = Some(false);
            p.selectors = Some(Selectors::of_config(&Value::Null));
            p.multi_region = Some(flag("isMultiRegionTrail").unwrap_or(false));
            p.organization = Some(flag("isOrganizationTrail").unwrap_or(false));
        }
        "UpdateTrail" => {
            p.multi_region = flag("isMultiRegionTrail");
            p.organization = flag("isOrganizationTrail");
        }
        "DeleteTrail" => p.exists = Some(false),
        "StartLogging" => p.logging = Some(true),
        "StopLogging" => p.logging = Some(false),
        "PutEventSelectors" => p.selectors = Some(Selectors::of_request(params)?),
        _ => return None,
    }
    Some((account, name, p))
}

/// The patch an inventory reading makes (its home Region's own reading).
pub fn patch_of_reading(taken_at: i64, gone: bool, config: &Value) -> Patch {
    Patch {
        at: taken_at,
        exists: Some(!gone),
        logging: config["logging"].as_bool(),
        selectors: (!gone).then(|| Selectors::of_config(config)),
        multi_region: config["multi_region"].as_bool(),
        home: config["home_region"].as_str().map(str::to_owned),
        organization: config["organization"].as_bool(),
        cause: Cause { what: "inventory".to_owned(), by: None, event: None },
    }
}

/// The names of the write events that change what a trail records.
pub const TRAIL_WRITES: [&str; 6] = [
    "CreateTrail",
    "UpdateTrail",
    "DeleteTrail",
    "StartLogging",
    "StopLogging",
    "PutEventSelectors",
];

/// Everything known of the trails, from the store's events and the inventory.
#[cfg(feature = "ssr")]
pub async fn load(pool: &sqlx::SqlitePool) -> Result<Coverage, sqlx::Error> {
    let mut patches: BTreeMap<(String, String), (Option<String>, Vec<Patch>)> = BTreeMap::new();
    for (id, time, record) in crate::db::events::trail_writes(pool, &TRAIL_WRITES).await? {
        if let Some((account, name, p)) = patch_of_event(id, time, &record) {
            patches.entry((account, name)).or_default().1.push(p);
        }
    }
    for (arn, region, taken, gone, config) in crate::db::trails::home_readings(pool).await? {
        let c: Value = serde_json::from_str(&config).unwrap_or(Value::Null);
        if c["shadow"].as_bool() == Some(true) || c["home_region"].as_str().is_some_and(|h| h != region) {
            continue;
        }
        let name = c["name"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| arn.rsplit_once(":trail/").map(|(_, n)| n.to_owned()))
            .unwrap_or_default();
        let e = patches.entry((crate::trails::account_of(&arn), name)).or_default();
        e.0 = Some(arn);
        e.1.push(patch_of_reading(taken, gone, &c));
    }
    let trails: Vec<Known> = patches
        .into_iter()
        .map(|((account, name), (arn, p))| Known::new(account, name, arn, p))
        .collect();
    // Where a first PutEventSelectors turned a bucket, function or table on, whether
    // data events on it were stored before: then it was recorded by something, and
    // nothing is inferred.
    let mut seen_before = BTreeSet::new();
    for k in &trails {
        if let Some((at, named)) = k.turned_on() {
            for w in named {
                let Some(arn) = w.resource_arn() else { continue };
                if crate::db::resources::data_events_between(pool, &arn, 0, at, None).await? {
                    seen_before.insert((w, at));
                }
            }
        }
    }
    let mut regions_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (account, region) in crate::db::deliveries::account_regions(pool).await? {
        regions_of.entry(account).or_default().insert(region);
    }
    for (arn, region, ..) in crate::db::trails::home_readings(pool).await? {
        regions_of.entry(crate::trails::account_of(&arn)).or_default().insert(region);
    }
    Ok(Coverage { trails, seen_before, regions_of })
}

/// Whether the store holds events of the kind (its reads or writes only, when one of
/// them alone went unrecorded) within a stretch said not to be recorded: a trail Cairn
/// has no record of recorded them, and the stretch is not a gap.
#[cfg(feature = "ssr")]
pub async fn contradicted(
    pool: &sqlx::SqlitePool,
    account: &str,
    region: &str,
    what: &What,
    (from, to): (Option<i64>, Option<i64>),
    (reads, writes): (bool, bool),
) -> Result<bool, sqlx::Error> {
    // The event that began the stretch (a StopLogging) is recorded itself: from just after it.
    let (f, t) = (from.map_or(0, |f| f.max(0) + 1), to.unwrap_or(i64::MAX / 4));
    let read_only = match (reads, writes) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    match what {
        What::Management => crate::db::events::activity_between(pool, account, region, None, f, t, read_only).await,
        What::Network(source) => {
            crate::db::events::activity_between(pool, account, region, Some(source), f, t, read_only).await
        }
        What::S3(_) | What::Lambda(_) | What::DynamoDb(_) => {
            let arn = what.resource_arn().unwrap_or_default();
            crate::db::resources::data_events_between(pool, &arn, f, t, read_only).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "111122223333";
    const MIN: i64 = 60_000;

    fn event(id: i64, name: &str, params: Value) -> (i64, Value) {
        (
            id,
            json!({"eventName": name, "awsRegion": "us-east-1", "recipientAccountId": A,
                   "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{A}:user/alice")},
                   "requestParameters": params}),
        )
    }

    fn known(events: Vec<(i64, Value)>) -> Coverage {
        let mut by: BTreeMap<(String, String), Vec<Patch>> = BTreeMap::new();
        for (t, r) in events {
            if let Some((a, n, p)) = patch_of_event(t, t, &r) {
                by.entry((a, n)).or_default().push(p);
            }
        }
        Coverage {
            trails: by.into_iter().map(|((a, n), p)| Known::new(a, n, None, p)).collect(),
            ..Coverage::default()
        }
    }

    fn s3_on(bucket: &str) -> Value {
        json!({"trailName": "main", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true,
            "dataResources": [{"type": "AWS::S3::Object", "values": [format!("arn:aws:s3:::{bucket}/")]}]}]})
    }

    #[test]
    fn a_bucket_turned_on_later_was_not_recorded_before() {
        let mut c = known(vec![event(100 * MIN, "PutEventSelectors", s3_on("falsimentis-eng"))]);
        let what = What::S3("falsimentis-eng".into());
        let gaps = c.gaps(A, "us-east-1", &what, 0, 200 * MIN);
        assert_eq!(gaps.len(), 1);
        let g = &gaps[0];
        assert_eq!((g.from, g.to, g.reads, g.writes), (None, Some(100 * MIN), true, true));
        assert_eq!(g.ended.as_ref().map(|c| c.what.as_str()), Some("PutEventSelectors"));
        assert_eq!(
            g.sentence(),
            "S3 data events for falsimentis-eng were not recorded before 1970-01-01 01:40:00 UTC: reads and writes before then are invisible."
        );
        // Management events: nothing was known of them before; no claim.
        assert!(c.gaps(A, "us-east-1", &What::Management, 0, 200 * MIN).is_empty());
        // A bucket the trail never named is not judged before the change, and is not
        // recorded after it.
        let other = c.gaps(A, "us-east-1", &What::S3("other".into()), 0, 200 * MIN);
        assert_eq!(other.len(), 1);
        assert_eq!((other[0].from, other[0].to), (Some(100 * MIN), None));
        // Data events on the bucket stored before the change: no inference.
        c.seen_before.insert((What::S3("falsimentis-eng".into()), 100 * MIN));
        assert!(c.gaps(A, "us-east-1", &what, 0, 200 * MIN).is_empty());
        // Another account or Region: not spoken for.
        assert!(c.gaps("999999999999", "us-east-1", &what, 0, 200 * MIN).is_empty());
        assert!(c.gaps(A, "eu-west-1", &what, 0, 200 * MIN).is_empty());
    }

    #[test]
    fn stop_and_start_logging_make_a_gap_with_its_causes() {
        let c = known(vec![
            event(10 * MIN, "StopLogging", json!({"name": format!("arn:aws:cloudtrail:us-east-1:{A}:trail/main")})),
            event(30 * MIN, "StartLogging", json!({"name": "main"})),
        ]);
        let g = c.gaps(A, "us-east-1", &What::Management, 0, 60 * MIN);
        assert_eq!(g.len(), 1);
        assert_eq!((g[0].from, g[0].to), (Some(10 * MIN), Some(30 * MIN)));
        assert_eq!(g[0].causes(), "began with StopLogging by alice; ended with StartLogging by alice; trails known here: main");
        assert!(g[0].sentence().starts_with("Management events in 111122223333 us-east-1 were not recorded from 1970-01-01 00:10:00 UTC to 1970-01-01 00:30:00 UTC"));
        // A range after the gap has none; one inside it sees it whole.
        assert!(c.gaps(A, "us-east-1", &What::Management, 31 * MIN, 60 * MIN).is_empty());
        let inside = c.gaps(A, "us-east-1", &What::Management, 15 * MIN, 20 * MIN);
        assert_eq!((inside[0].from, inside[0].to), (Some(10 * MIN), Some(30 * MIN)));
        assert!(c.gaps(A, "us-east-1", &What::Management, 0, 5 * MIN).is_empty());
    }

    #[test]
    fn another_trail_recording_closes_the_gap_and_a_failed_call_changes_nothing() {
        let mut events = vec![
            event(1, "CreateTrail", json!({"name": "second", "isMultiRegionTrail": true})),
            event(2, "StartLogging", json!({"name": "second"})),
            event(10 * MIN, "StopLogging", json!({"name": "main"})),
        ];
        let c = known(events.clone());
        assert!(c.gaps(A, "us-east-1", &What::Management, 0, 60 * MIN).is_empty());
        // The second trail recorded nothing but writes: the reads are the gap.
        events.push(event(5 * MIN, "PutEventSelectors", json!({"trailName": "second",
            "eventSelectors": [{"readWriteType": "WriteOnly", "includeManagementEvents": true}]})));
        let g = known(events.clone()).gaps(A, "us-east-1", &What::Management, 0, 60 * MIN);
        assert_eq!(g.len(), 1);
        assert!(g[0].reads && !g[0].writes);
        assert!(g[0].sentence().starts_with("Management events (reads) in"));
        // A refused StartLogging does not end it.
        let (_, mut refused) = event(20 * MIN, "StartLogging", json!({"name": "main"}));
        refused["errorCode"] = json!("AccessDenied");
        assert!(patch_of_event(20 * MIN, 20 * MIN, &refused).is_none());
    }

    #[test]
    fn selectors_that_record_nothing_are_a_gap_until_undone() {
        // The "event selectors" evasion: no management events, data types with no values.
        let c = known(vec![
            event(1, "CreateTrail", json!({"name": "t"})),
            event(2, "StartLogging", json!({"name": "t"})),
            event(3 * MIN, "PutEventSelectors", json!({"trailName": "t", "eventSelectors": [{"readWriteType": "ReadOnly",
                "includeManagementEvents": false, "dataResources": [{"type": "AWS::S3::Object", "values": []},
                {"type": "AWS::Lambda::Function", "values": []}], "excludeManagementEventSources": []}]})),
            event(9 * MIN, "PutEventSelectors", json!({"trailName": "t", "eventSelectors": [{"readWriteType": "All",
                "includeManagementEvents": true, "dataResources": [], "excludeManagementEventSources": []}]})),
            event(12 * MIN, "DeleteTrail", json!({"name": "t"})),
        ]);
        let g = c.gaps(A, "us-east-1", &What::Management, 0, 60 * MIN);
        let spans: Vec<(Option<i64>, Option<i64>)> = g.iter().map(|g| (g.from, g.to)).collect();
        // Selectors recording nothing (3 to 9); before it was started and after it was
        // deleted the trail does not speak.
        assert_eq!(spans, [(Some(3 * MIN), Some(9 * MIN))]);
    }

    #[test]
    fn advanced_selectors_name_their_buckets_and_inventory_readings_count() {
        let sel = Selectors::of_request(&json!({"advancedEventSelectors": [{"name": "s3", "fieldSelectors": [
            {"field": "eventCategory", "equals": ["Data"]},
            {"field": "resources.type", "equals": ["AWS::S3::Object"]},
            {"field": "resources.ARN", "startsWith": ["arn:aws:s3:::prod-data/"]}]}]}))
        .unwrap();
        assert_eq!(What::named_in(&sel), BTreeSet::from([What::S3("prod-data".to_owned())]));
        assert!(What::S3("prod-data".into()).recorded_by(&sel, true));
        assert!(!What::Management.recorded_by(&sel, true));
        let reading = patch_of_reading(50 * MIN, false, &json!({"logging": false, "home_region": "us-east-1", "multi_region": true}));
        let mut c = Coverage {
            trails: vec![Known::new(A.into(), "main".into(), None, vec![reading])],
            ..Coverage::default()
        };
        // A multi-Region trail speaks for every Region its account is seen in.
        assert_eq!(c.places().keys().map(|(_, r)| r.as_str()).collect::<Vec<_>>(), ["us-east-1"]);
        c.regions_of.insert(A.into(), BTreeSet::from(["eu-west-1".to_owned(), "us-east-1".to_owned()]));
        assert_eq!(c.places().keys().map(|(_, r)| r.as_str()).collect::<Vec<_>>(), ["eu-west-1", "us-east-1"]);
        let g = c.gaps(A, "eu-west-1", &What::Management, 0, 60 * MIN);
        assert_eq!((g[0].from, g[0].to), (Some(50 * MIN), None));
        assert_eq!(g[0].began.as_ref().map(|c| c.what.as_str()), Some("inventory"));
        assert!(g[0].sentence().contains("since 1970-01-01 00:50:00 UTC"));
        assert_eq!(What::from_key(&What::S3("b".into()).key()), Some(What::S3("b".into())));
    }

    const FN: &str = "arn:aws:lambda:us-east-1:111122223333:function:payments";
    const TABLE: &str = "arn:aws:dynamodb:us-east-1:111122223333:table/orders";

    #[test]
    fn resources_name_their_kinds_and_keys_round_trip() {
        let cases = [
            ("arn:aws:s3:::b/k/e/y", Some(What::S3("b".into()))),
            ("arn:aws:s3:::b", Some(What::S3("b".into()))),
            ("arn:aws:s3:::", None),
            (FN, Some(What::Lambda(FN.into()))),
            // A qualified function is the function; an index or stream is the table.
            ("arn:aws:lambda:us-east-1:111122223333:function:payments:3", Some(What::Lambda(FN.into()))),
            ("arn:aws:dynamodb:us-east-1:111122223333:table/orders/index/by-date", Some(What::DynamoDb(TABLE.into()))),
            ("arn:aws:dynamodb:us-east-1:111122223333:table/orders/stream/2021", Some(What::DynamoDb(TABLE.into()))),
            // "Every function" and partial ARNs name no one resource.
            ("arn:aws:lambda", None),
            ("arn:aws:lambda:us-east-1:111122223333:function:*", None),
            ("arn:aws:lambda:::function:f", None),
            ("arn:aws:iam::111122223333:user/alice", None),
            ("not an arn", None),
        ];
        for (arn, want) in cases {
            assert_eq!(What::of_resource(arn), want, "{arn}");
        }
        for w in [
            What::Management,
            What::S3("b".into()),
            What::Lambda(FN.into()),
            What::DynamoDb(TABLE.into()),
            What::Network("s3.amazonaws.com".into()),
        ] {
            assert_eq!(What::from_key(&w.key()), Some(w.clone()));
        }
        assert_eq!(What::from_key("lambda:arn:aws:dynamodb:us-east-1:1:table/t"), None);
        assert_eq!(What::from_key("network:"), None);
        assert_eq!(What::Lambda(FN.into()).home(), Some(("111122223333", "us-east-1")));
        assert_eq!(What::S3("b".into()).home(), None);
        assert_eq!(What::Lambda(FN.into()).label(), "Lambda data events for function payments");
        assert_eq!(What::DynamoDb(TABLE.into()).label(), "DynamoDB data events for table orders");
    }

    #[test]
    fn functions_tables_and_network_activity_are_followed_from_their_selectors() {
        let advanced = json!({"trailName": "main", "advancedEventSelectors": [
            {"name": "fn", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::Lambda::Function"]},
                {"field": "resources.ARN", "equals": [FN]}]},
            {"name": "table", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::DynamoDB::Table"]},
                {"field": "resources.ARN", "equals": [TABLE]},
                {"field": "readOnly", "equals": ["false"]}]},
            {"name": "vpce", "fieldSelectors": [{"field": "eventCategory", "equals": ["NetworkActivity"]},
                {"field": "eventSource", "equals": ["s3.amazonaws.com"]}]}]});
        let sel = Selectors::of_request(&advanced).unwrap();
        let s3 = What::Network("s3.amazonaws.com".into());
        assert_eq!(
            What::named_in(&sel),
            BTreeSet::from([What::Lambda(FN.into()), What::DynamoDb(TABLE.into()), s3.clone()])
        );
        let c = known(vec![
            event(10 * MIN, "PutEventSelectors", advanced),
            event(40 * MIN, "StopLogging", json!({"name": "main"})),
        ]);
        // The function: turned on by the first PutEventSelectors, so not recorded before
        // it; stopped at 40.
        let f = c.gaps(A, "us-east-1", &What::Lambda(FN.into()), 0, 60 * MIN);
        let spans: Vec<_> = f.iter().map(|g| (g.from, g.to, g.reads, g.writes)).collect();
        assert_eq!(spans, [(None, Some(10 * MIN), true, true), (Some(40 * MIN), None, true, true)]);
        assert_eq!(
            f[0].sentence(),
            "Lambda data events for function payments in 111122223333 us-east-1 were not recorded before 1970-01-01 00:10:00 UTC: invocations before then are invisible."
        );
        // The table: writes only, so its reads were never recorded after the change.
        let t = c.gaps(A, "us-east-1", &What::DynamoDb(TABLE.into()), 0, 60 * MIN);
        let spans: Vec<_> = t.iter().map(|g| (g.from, g.to, g.reads, g.writes)).collect();
        assert_eq!(spans, [(None, Some(10 * MIN), true, true), (Some(10 * MIN), Some(40 * MIN), true, false), (Some(40 * MIN), None, true, true)]);
        assert!(t[1].sentence().ends_with("item reads in that time are invisible."), "{}", t[1].sentence());
        // Network activity: no inference before (it is not a resource), gap once stopped.
        let n = c.gaps(A, "us-east-1", &s3, 0, 60 * MIN);
        assert_eq!(n.iter().map(|g| (g.from, g.to)).collect::<Vec<_>>(), [(Some(40 * MIN), None)]);
        assert!(n[0].sentence().starts_with("Network activity events for s3.amazonaws.com in 111122223333 us-east-1"));
        assert!(n[0].sentence().ends_with("calls through VPC endpoints since then are invisible."));
        // Another service's network activity was never recorded by these selectors.
        let kms = c.gaps(A, "us-east-1", &What::Network("kms.amazonaws.com".into()), 0, 60 * MIN);
        assert_eq!(kms.iter().map(|g| (g.from, g.to)).collect::<Vec<_>>(), [(Some(10 * MIN), None)]);
        // Each is followed where it lives.
        let places = c.places();
        let kinds = &places[&(A.to_owned(), "us-east-1".to_owned())];
        assert!(kinds.contains(&What::Lambda(FN.into())) && kinds.contains(&s3) && kinds.contains(&What::Management));
        // A function of another Region is not followed in this one.
        let mut elsewhere = c.clone();
        elsewhere.regions_of.insert(A.into(), BTreeSet::from(["eu-west-1".to_owned()]));
        assert!(elsewhere.places().get(&(A.to_owned(), "eu-west-1".to_owned())).is_none_or(|k| !k.contains(&What::Lambda(FN.into()))));
        // Data events on the function stored before the change: no inference.
        let mut seen = c.clone();
        seen.seen_before.insert((What::Lambda(FN.into()), 10 * MIN));
        let f = seen.gaps(A, "us-east-1", &What::Lambda(FN.into()), 0, 60 * MIN);
        assert_eq!(f.iter().map(|g| (g.from, g.to)).collect::<Vec<_>>(), [(Some(40 * MIN), None)]);
    }
}
