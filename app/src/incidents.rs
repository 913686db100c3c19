//! Incidents: findings told as one story per attacker.
//!
//! Findings that share an actor within [`WINDOW_MS`] of the incident's first event
//! become one incident:
//! the same person (the principal behind the sessions; a machine-named session counts as
//! its role), the same long-term access key, or a source address that no one else used
//! over those days. Each finding is a step, labelled with the ATT&CK tactic of its rule's
//! tags. The grouping is computed from the findings each time it is read, so it follows
//! every new finding; what people decide about an incident (status, assignee, notes) is
//! kept under its id, which is its oldest finding's id and stays when findings join.

use crate::detections::Severity;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Findings of one actor within this time of the incident's first event belong to it
/// (a window from the first alert, as incident grouping usually works: chained from
/// finding to finding, an administrator busy every day would be one months-long
/// incident).
pub const WINDOW_MS: i64 = 24 * 3_600_000;

/// ATT&CK tactics in the order an intrusion goes through them: (tag, label).
pub const TACTICS: [(&str, &str); 12] = [
    ("initial-access", "Initial access"),
    ("execution", "Execution"),
    ("persistence", "Persistence"),
    ("privilege-escalation", "Privilege escalation"),
    ("defense-evasion", "Defence evasion"),
    ("credential-access", "Credential access"),
    ("discovery", "Discovery"),
    ("lateral-movement", "Lateral movement"),
    ("collection", "Collection"),
    ("command-and-control", "Command and control"),
    ("exfiltration", "Exfiltration"),
    ("impact", "Impact"),
];

/// The tactic a rule's tags put a finding under: the latest in [`TACTICS`] order among
/// its `attack.*` tags (a rule tagged privilege escalation and persistence escalated).
/// Sigma's `attack.defense_evasion` and the newer `attack.defense-impairment` read as
/// defence evasion.
pub fn tactic_of(tags: &[String]) -> Option<&'static str> {
    tags.iter()
        .filter_map(|t| {
            let t = t.trim().to_ascii_lowercase().replace('_', "-");
            let name = t.strip_prefix("attack.")?;
            let name = if name == "defense-impairment" { "defense-evasion" } else { name };
            TACTICS.iter().position(|(k, _)| *k == name)
        })
        .max()
        .map(|i| TACTICS[i].0)
}

/// The label of a tactic's tag.
pub fn tactic_label(tag: &str) -> &'static str {
    TACTICS.iter().find(|(k, _)| *k == tag).map_or("Unlabelled", |(_, l)| l)
}

/// What links a finding to others.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub id: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The person (principal id) behind it.
    pub actor: Option<i64>,
    /// Long-term access keys its events used (term ids).
    pub keys: Vec<i64>,
    /// Source addresses of its events used by no one outside its incident (term ids),
    /// as the reader decided them.
    pub exclusive_ips: Vec<i64>,
}

/// Groups findings into incidents: findings linked by an actor, a key or an exclusive
/// address, within [`WINDOW_MS`] of the first event of the group they join. Returns
/// the finding ids of each group of two or more findings spanning more than one instant
/// (one call matched by two rules is no story), in time order within each, the groups by
/// their first event.
pub fn group(facts: &[Facts]) -> Vec<Vec<i64>> {
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by_key(|&i| (facts[i].first_ms, facts[i].id));
    let mut parent: Vec<usize> = (0..facts.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    // Each group's first event: a finding joins a group only within the window of it, so
    // a principal active every day makes one incident a day, not one chained for months.
    let mut start: Vec<i64> = facts.iter().map(|f| f.first_ms).collect();
    // Per link: the last finding seen with it.
    let mut last: HashMap<(u8, i64), usize> = HashMap::new();
    for &i in &order {
        let f = &facts[i];
        let links: Vec<(u8, i64)> = f
            .actor
            .iter()
            .map(|a| (0u8, *a))
            .chain(f.keys.iter().map(|k| (1u8, *k)))
            .chain(f.exclusive_ips.iter().map(|a| (2u8, *a)))
            .collect();
        for link in links {
            if let Some(&j) = last.get(&link) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                let first = start[a].min(start[b]);
                if a != b && f.first_ms - first <= WINDOW_MS {
                    let (keep, gone) = (a.min(b), a.max(b));
                    parent[gone] = keep;
                    start[keep] = first;
                }
            }
            last.insert(link, i);
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in &order {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    // Two findings of one event (a call two rules match) are not yet a story.
    let spans = |g: &Vec<usize>| {
        let first = g.iter().map(|&i| facts[i].first_ms).min().unwrap_or(0);
        g.iter().map(|&i| facts[i].last_ms).max().unwrap_or(0) > first
    };
    let mut out: Vec<Vec<i64>> = groups
        .into_values()
        .filter(|g| g.len() >= 2 && spans(g))
        .map(|g| g.into_iter().map(|i| facts[i].id).collect())
        .collect();
    out.sort_by_key(|g| {
        g.iter().filter_map(|id| facts.iter().find(|f| f.id == *id)).map(|f| f.first_ms).min().unwrap_or(0)
    });
    out
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    Closed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Open, Status::Acknowledged, Status::Closed];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Open => "Open",
            Status::Acknowledged => "Acknowledged",
            Status::Closed => "Closed",
        }
    }
}

/// One step of an incident: one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub finding: i64,
    pub rule: String,
    pub title: String,
    /// A tag of [`TACTICS`], `None` when the rule has no ATT&CK tactic.
    pub tactic: Option<String>,
    pub severity: Severity,
    pub first_ms: i64,
    pub last_ms: i64,
    pub events: i64,
    pub summary: Option<String>,
    /// The principal the step's finding is about, by key.
    pub principal: Option<String>,
    /// CloudTrail eventIDs of its events (the first [`STEP_EVENT_IDS`]).
    pub event_ids: Vec<String>,
}

/// Most eventIDs listed per step.
pub const STEP_EVENT_IDS: i64 = 500;

/// An incident as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Its oldest finding's id.
    pub id: i64,
    /// The actor shown: the person most of its findings are about.
    pub actor: String,
    /// That person's principal key, for links.
    pub actor_key: Option<String>,
    /// Every principal (by key) of its findings.
    pub principals: Vec<String>,
    /// What joined findings of different principals: keys and addresses.
    pub links: Vec<String>,
    pub first_ms: i64,
    pub last_ms: i64,
    pub severity: Severity,
    pub status: Status,
    pub assignee: Option<String>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub steps: Vec<Step>,
}

impl Incident {
    /// The tactics of its steps, in the order they first appear.
    pub fn tactics(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.steps {
            if let Some(t) = s.tactic.as_deref() {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }
}

/// Something the actor changed, with what happened to it afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched {
    /// `resource`, `access_key` or `session`.
    pub kind: String,
    /// An ARN, a key id or a session's principal key.
    pub value: String,
    /// How many of the actor's events in the incident.
    pub by_actor: i64,
    /// Events afterwards by anyone else (a key: by whoever used it; a session: its own).
    pub after_by_others: i64,
    /// Who, when one principal stands out (a key's user).
    pub used_by: Option<String>,
    pub last_ms: Option<i64>,
}

/// One line of an incident's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub at_ms: i64,
    pub actor: String,
    pub change: String,
    pub note: Option<String>,
}

/// An incident's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentView {
    pub incident: Incident,
    pub touched: Vec<Touched>,
    pub history: Vec<HistoryLine>,
    pub can_edit: bool,
}

/// The timeline of an actor's events over a window (`principal=` for each), to the
/// minute around it.
pub fn timeline_href(principals: &[String], from_ms: i64, to_ms: i64) -> String {
    timeline_query(principals, from_ms, to_ms).href("/")
}

pub fn timeline_query(principals: &[String], from_ms: i64, to_ms: i64) -> crate::query::EventQuery {
    use crate::query::{EventQuery, Field, TimeRange};
    let minute = 60_000;
    let mut q = EventQuery::default().with_range(TimeRange::Absolute {
        from_ms: from_ms.div_euclid(minute) * minute,
        to_ms: (to_ms.div_euclid(minute) + 1) * minute,
    });
    for p in principals {
        q = q.with_filter(Field::Principal, p, false);
    }
    q
}

/// The incident as a report for a ticket: the steps in time order with their eventIDs,
/// and what else the actor touched. Values from events are quoted as code.
pub fn markdown(v: &IncidentView, base: &str) -> String {
    use crate::fmt::{count, time};
    let i = &v.incident;
    let code = |s: &str| format!("`{}`", s.replace('`', "'").replace(['\n', '\r'], " "));
    let mut out = format!("# Incident {}: {}\n\n", i.id, code(&i.actor));
    out.push_str(&format!("- Status: {}{}\n", i.status.as_str(),
        i.assignee.as_deref().map(|a| format!(", assigned to {}", code(a))).unwrap_or_default()));
    out.push_str(&format!("- Severity: {}\n", i.severity.as_str()));
    out.push_str(&format!("- From {} to {} UTC\n", time(i.first_ms), time(i.last_ms)));
    out.push_str(&format!("- Accounts: {}\n", i.accounts.iter().map(|a| code(a)).collect::<Vec<_>>().join(", ")));
    if !i.regions.is_empty() {
        out.push_str(&format!("- Regions: {}\n", i.regions.iter().map(|r| code(r)).collect::<Vec<_>>().join(", ")));
    }
    out.push_str(&format!("- Principals: {}\n", i.principals.iter().map(|p| code(p)).collect::<Vec<_>>().join(", ")));
    if !i.links.is_empty() {
        out.push_str(&format!("- Linked by: {}\n", i.links.iter().map(|l| code(l)).collect::<Vec<_>>().join(", ")));
    }
    out.push_str(&format!("- In Cairn: {base}/incidents/{}\n\n## Steps\n\n", i.id));
    out.push_str("| # | first event (UTC) | tactic | finding | severity | events |\n|---|---|---|---|---|---|\n");
    for (n, s) in i.steps.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} | {} (#{}) | {} | {} |\n",
            n + 1,
            time(s.first_ms),
            s.tactic.as_deref().map_or("Unlabelled", tactic_label),
            s.title.replace('|', "/"),
            s.finding,
            s.severity.as_str(),
            count(s.events)
        ));
    }
    for (n, s) in i.steps.iter().enumerate() {
        out.push_str(&format!("\n### {}. {} (finding #{})\n\n", n + 1, s.title, s.finding));
        if let Some(sum) = &s.summary {
            out.push_str(&format!("{}\n\n", code(sum)));
        }
        out.push_str(&format!("Rule {}; {} to {} UTC; eventIDs:\n\n", code(&s.rule), time(s.first_ms), time(s.last_ms)));
        for id in &s.event_ids {
            out.push_str(&format!("- {}\n", code(id)));
        }
        if (s.event_ids.len() as i64) < s.events {
            out.push_str(&format!("- … and {} more\n", count(s.events - s.event_ids.len() as i64)));
        }
    }
    if !v.touched.is_empty() {
        out.push_str("\n## What else the actor touched\n\n| kind | what | by the actor | afterwards, by others | used by |\n|---|---|---|---|---|\n");
        for t in &v.touched {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                t.kind,
                code(&t.value),
                count(t.by_actor),
                count(t.after_by_others),
                t.used_by.as_deref().map(code).unwrap_or_default()
            ));
        }
    }
    if !v.history.is_empty() {
        out.push_str("\n## History\n\n");
        for h in &v.history {
            out.push_str(&format!("- {} UTC, {}: {}{}\n", time(h.at_ms), code(&h.actor), h.change,
                h.note.as_deref().map(|n| format!(" — {}", code(n))).unwrap_or_default()));
        }
    }
    out
}

/// The incident as JSON for a ticket or a script: times in ISO 8601 UTC, each step with
/// its tactic and eventIDs. `touched` and `history` are left out when empty.
pub fn report_json(i: &Incident, touched: &[Touched], history: &[HistoryLine]) -> serde_json::Value {
    use crate::fmt::iso;
    use serde_json::json;
    let steps: Vec<serde_json::Value> = i
        .steps
        .iter()
        .map(|s| {
            json!({
                "tactic": s.tactic, "tactic_label": s.tactic.as_deref().map(tactic_label),
                "title": s.title, "rule": s.rule, "finding": s.finding, "severity": s.severity,
                "principal": s.principal, "first": iso(s.first_ms), "last": iso(s.last_ms),
                "events": s.events, "summary": s.summary, "event_ids": s.event_ids,
            })
        })
        .collect();
    let mut v = json!({
        "id": i.id, "actor": i.actor, "actor_key": i.actor_key, "principals": i.principals, "links": i.links,
        "first": iso(i.first_ms), "last": iso(i.last_ms), "severity": i.severity, "status": i.status,
        "assignee": i.assignee, "accounts": i.accounts, "regions": i.regions, "steps": steps,
    });
    if let Some(o) = v.as_object_mut() {
        if !touched.is_empty() {
            o.insert("touched".into(), json!(touched.iter().map(|t| json!({
                "kind": t.kind, "value": t.value, "by_actor": t.by_actor, "afterwards": t.after_by_others,
                "used_by": t.used_by, "last": t.last_ms.map(iso),
            })).collect::<Vec<_>>()));
        }
        if !history.is_empty() {
            o.insert("history".into(), json!(history.iter().map(|h| json!({
                "at": iso(h.at_ms), "actor": h.actor, "change": h.change, "note": h.note,
            })).collect::<Vec<_>>()));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn f(id: i64, at_h: i64, actor: Option<i64>, keys: &[i64], ips: &[i64]) -> Facts {
        Facts { id, first_ms: at_h * H, last_ms: at_h * H + 60_000, actor, keys: keys.to_vec(), exclusive_ips: ips.to_vec() }
    }

    #[test]
    fn the_latest_tactic_of_a_rule_names_its_step() {
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(tactic_of(&tags(&["attack.privilege_escalation", "attack.persistence", "attack.t1098"])), Some("privilege-escalation"));
        assert_eq!(tactic_of(&tags(&["attack.collection", "attack.exfiltration"])), Some("exfiltration"));
        assert_eq!(tactic_of(&tags(&["attack.defense-impairment"])), Some("defense-evasion"));
        assert_eq!(tactic_of(&tags(&["cis.4.4", "attack.t1078"])), None);
        assert_eq!(tactic_label("discovery"), "Discovery");
    }

    #[test]
    fn findings_group_by_actor_key_or_exclusive_address_within_a_day() {
        let facts = vec![
            f(1, 0, Some(10), &[], &[]),
            f(2, 5, Some(10), &[], &[]),
            // Another principal, the same exclusive address: the same incident.
            f(3, 6, Some(11), &[], &[500]),
            f(4, 7, Some(10), &[], &[500]),
            // The same key as finding 4, used by someone else later the same day.
            f(5, 20, Some(12), &[77], &[]),
            f(6, 8, Some(10), &[77], &[]),
            // Alone: no incident.
            f(7, 3, Some(13), &[], &[]),
            // The first actor again, two days later: a new story, alone.
            f(8, 80, Some(10), &[], &[]),
            // An actor busy every day: one incident a day, not one for the month.
            f(11, 300, Some(15), &[], &[]),
            f(12, 318, Some(15), &[], &[]),
            f(13, 336, Some(15), &[], &[]),
            f(14, 354, Some(15), &[], &[]),
            // Two findings of one actor far from the rest.
            f(9, 200, Some(14), &[], &[]),
            f(10, 210, Some(14), &[], &[]),
        ];
        assert_eq!(group(&facts), vec![vec![1, 2, 3, 4, 6, 5], vec![9, 10], vec![11, 12], vec![13, 14]]);
        // A lone finding is no incident, nor are two findings of one call.
        assert!(group(&facts[..1]).is_empty());
        let one_call = Facts { last_ms: 0, ..f(20, 0, Some(30), &[], &[]) };
        assert!(group(&[one_call.clone(), Facts { id: 21, ..one_call }]).is_empty());
    }

    #[test]
    fn reports_keep_hostile_text_as_code() {
        let step = Step {
            finding: 4, rule: "cairn-x".into(), title: "Policy | changed".into(), tactic: Some("persistence".into()),
            severity: Severity::High, first_ms: 0, last_ms: 60_000, events: 3, summary: Some("a `b` c".into()),
            principal: None, event_ids: vec!["e-1".into()],
        };
        let v = IncidentView {
            incident: Incident {
                id: 4, actor: "evil`\n# title".into(), actor_key: None, principals: vec!["p".into()], links: vec![],
                first_ms: 0, last_ms: 60_000, severity: Severity::High, status: Status::Open, assignee: None,
                accounts: vec!["111122223333".into()], regions: vec![], steps: vec![step],
            },
            touched: vec![],
            history: vec![],
            can_edit: false,
        };
        let md = markdown(&v, "https://cairn.example");
        assert!(md.starts_with("# Incident 4: `evil' # title`\n"), "{md}");
        assert!(md.contains("| 1 | 1970-01-01 00:00:00 | Persistence | Policy / changed (#4) | high | 3 |"), "{md}");
        assert!(md.contains("- `e-1`\n- … and 2 more"), "{md}");
        assert!(md.contains("https://cairn.example/incidents/4"), "{md}");
    }
}
