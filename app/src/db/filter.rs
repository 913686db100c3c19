//! An [`EventQuery`]'s filters resolved to ids, and the `WHERE` fragments that apply
//! them. Every value is bound: the SQL text is put together only from the fixed
//! fragments below and column names from a closed enum.

use crate::query::{ANY, Access, EventQuery, Field};
use crate::schema::TermKind;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

/// Which set of ids a filter is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// An interned column of `events`, holding terms of these kinds.
    Term(&'static [TermKind], &'static str),
    /// `principal_id`, sessions of a matched role included.
    Principal,
    /// Any of the event's resources (`event_resources`).
    Resource,
}

fn target(field: Field) -> Target {
    match field {
        Field::Account => Target::Term(&[TermKind::Account], "account_id"),
        Field::Region => Target::Term(&[TermKind::Region], "region_id"),
        Field::Source => Target::Term(&[TermKind::Source], "source_id"),
        Field::Name => Target::Term(&[TermKind::Name], "name_id"),
        Field::AccessKey => Target::Term(&[TermKind::AccessKey], "access_key_id"),
        Field::SourceIp => Target::Term(&[TermKind::SourceIp], "source_ip_id"),
        Field::UserAgent => Target::Term(&[TermKind::UserAgent], "user_agent_id"),
        // The event's error: its code, else its message or failure field.
        Field::Error => Target::Term(
            &[TermKind::ErrorCode, TermKind::ErrorMessage],
            "error_code_id",
        ),
        Field::EventType => Target::Term(&[TermKind::EventType], "type_id"),
        Field::Category => Target::Term(&[TermKind::Category], "category_id"),
        Field::Principal => Target::Principal,
        Field::Resource => Target::Resource,
    }
}

/// Interned columns of `events` a search word is looked for in (as a substring of the
/// value), with the kind of their terms. Source IPs, access keys and error messages are
/// found through the full-text index instead (see `crate::search`).
const TEXT_COLUMNS: [(TermKind, &str); 5] = [
    (TermKind::Name, "name_id"),
    (TermKind::Source, "source_id"),
    (TermKind::UserAgent, "user_agent_id"),
    (TermKind::ErrorCode, "error_code_id"),
    (TermKind::Region, "region_id"),
];

/// One search word, resolved: an event matches it through any of these.
#[derive(Debug, Clone, Default)]
struct WordClause {
    /// Interned columns with the ids of the terms containing the word (JSON arrays);
    /// columns where no term does are left out.
    columns: Vec<(&'static str, String)>,
    /// Principals whose key, name or ARN contains it.
    principals: Option<String>,
    /// Event names that contain it (`events_name` finds their events).
    names: Option<String>,
    /// Resources whose ARN contains it.
    resources: Option<String>,
    /// Events whose eventID it is.
    event_ids: Option<String>,
    /// The FTS5 expression over the rest of the record.
    fts: String,
}

#[derive(Debug, Clone)]
struct Clause {
    target: Target,
    exclude: bool,
    /// JSON array of ids.
    ids: String,
    /// The one id, when there is only one (an equality lets SQLite walk an index in
    /// order instead of sorting everything an `IN` list matches).
    single: Option<i64>,
    /// Principals, or resources none of which is a single S3 object: the per-entity
    /// summaries cover them.
    summarised: bool,
    /// For addresses and access keys: an FTS5 expression that finds every event holding
    /// one of the values (they are in the full-text index), so an include filter reads
    /// only those events instead of the whole range.
    fts: Option<String>,
}

/// The filters of a query as id sets, ready to be applied to `events e`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    clauses: Vec<Clause>,
    /// `error=*` (Some(true)) / `not_error=*` (Some(false)).
    any_error: Option<bool>,
    access: Option<Access>,
    /// Free text, one clause per word (all must match); `Some` and empty when the
    /// search has no word that can match anything.
    text: Option<Vec<WordClause>>,
    /// The search's words, to show where each event matched.
    pub words: Vec<crate::search::Word>,
    /// Events below this id are not in the full-text index yet (see `search_index`).
    fts_pending_below: Option<i64>,
}

impl Selection {
    /// Whether anything beyond the time range narrows the events.
    pub fn is_filtered(&self) -> bool {
        !self.clauses.is_empty()
            || self.any_error.is_some()
            || self.access.is_some()
            || self.text.is_some()
    }

    /// When only read/write and error/no-error narrow the events, the `(flags & mask) =
    /// want` test that selects the same events in the summary tables.
    pub fn rollup_mask(&self) -> Option<(i64, i64)> {
        if !self.clauses.is_empty() || self.text.is_some() {
            return None;
        }
        Some(self.flags_mask())
    }

    /// When the selection is one include filter on principals or (non-object) resources,
    /// plus at most read/write and error/no-error: the entity kind, the entities (a JSON
    /// array) and the flags test, with which `entity_minute` / `entity_day` answer it.
    pub fn entity_scope(&self) -> Option<(u8, String, (i64, i64))> {
        use crate::schema::entity;
        let [c] = self.clauses.as_slice() else {
            return None;
        };
        if c.exclude || !c.summarised || self.text.is_some() {
            return None;
        }
        let kind = match c.target {
            Target::Principal => entity::PRINCIPAL,
            Target::Resource => entity::RESOURCE,
            Target::Term(..) => return None,
        };
        Some((kind, c.ids.clone(), self.flags_mask()))
    }

    /// The `(flags & mask) = want` test for read/write and error/no-error.
    fn flags_mask(&self) -> (i64, i64) {
        use crate::schema::flags::{ERROR, WRITE};
        let (mut mask, mut want) = (0, 0);
        match self.access {
            Some(Access::Write) => {
                mask |= WRITE;
                want |= WRITE;
            }
            Some(Access::Read) => mask |= WRITE,
            None => {}
        }
        match self.any_error {
            Some(true) => {
                mask |= ERROR;
                want |= ERROR;
            }
            Some(false) => mask |= ERROR,
            None => {}
        }
        (mask, want)
    }

    /// Appends ` AND …` for every filter, for a query over `events e` whose ids lie in
    /// `[lo, hi)` (the bounds keep resource lookups to the range too).
    pub fn push_where(&self, qb: &mut QueryBuilder<'_, Sqlite>, (lo, hi): (i64, i64)) {
        for c in &self.clauses {
            match (c.target, c.exclude) {
                (Target::Term(_, col), false) => {
                    // The index's candidates first, when it covers the whole range.
                    if let Some(fts) = c
                        .fts
                        .as_ref()
                        .filter(|_| self.fts_pending_below.is_none_or(|below| lo >= below))
                    {
                        qb.push(" AND e.id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ");
                        qb.push_bind(fts.clone());
                        qb.push(" AND rowid >= ");
                        qb.push_bind(lo);
                        qb.push(" AND rowid < ");
                        qb.push_bind(hi);
                        qb.push(")");
                    }
                    qb.push(format_args!(
                        " AND e.{col} IN (SELECT value FROM json_each("
                    ));
                    qb.push_bind(c.ids.clone());
                    qb.push("))");
                }
                (Target::Term(_, col), true) => {
                    qb.push(format_args!(
                        " AND (e.{col} IS NULL OR e.{col} NOT IN (SELECT value FROM json_each("
                    ));
                    qb.push_bind(c.ids.clone());
                    qb.push(")))");
                }
                (Target::Principal, false) if c.single.is_some() => {
                    qb.push(" AND e.principal_id = ");
                    qb.push_bind(c.single);
                }
                (Target::Principal, exclude) => {
                    qb.push(if exclude {
                        " AND e.principal_id NOT IN (SELECT value FROM json_each("
                    } else {
                        " AND e.principal_id IN (SELECT value FROM json_each("
                    });
                    qb.push_bind(c.ids.clone());
                    qb.push("))");
                }
                (Target::Resource, exclude) => {
                    qb.push(match (exclude, self.access) {
                        (true, _) => {
                            " AND e.id NOT IN (SELECT event_id FROM event_resources WHERE event_id >= "
                        }
                        // Only writes: the (small) list of each resource's changes.
                        (false, Some(Access::Write)) => {
                            " AND e.id IN (SELECT event_id FROM resource_changes WHERE event_id >= "
                        }
                        (false, _) => {
                            " AND e.id IN (SELECT event_id FROM event_resources WHERE event_id >= "
                        }
                    });
                    qb.push_bind(lo);
                    qb.push(" AND event_id < ");
                    qb.push_bind(hi);
                    qb.push(" AND resource_id IN (SELECT value FROM json_each(");
                    qb.push_bind(c.ids.clone());
                    qb.push(")))");
                }
            }
        }
        match self.any_error {
            Some(true) => {
                qb.push(" AND e.error_code_id IS NOT NULL");
            }
            Some(false) => {
                qb.push(" AND e.error_code_id IS NULL");
            }
            None => {}
        }
        match self.access {
            Some(Access::Read) => {
                qb.push(" AND e.read_only = 1");
            }
            Some(Access::Write) => {
                qb.push(" AND e.read_only = 0");
            }
            None => {}
        }
        match &self.text {
            Some(words) if words.is_empty() => {
                qb.push(" AND 0");
            }
            Some(words) => {
                for w in words {
                    push_word(qb, w, (lo, hi));
                }
            }
            None => {}
        }
    }
}

/// ` AND (…)`: the event contains one search word somewhere. What an index can find
/// (the full-text index, principals, event names, resources, eventIDs) is one set of
/// ids, so SQLite reads only those events; interned columns without an index are
/// checked per event, and only when some value of theirs contains the word.
fn push_word(qb: &mut QueryBuilder<'_, Sqlite>, w: &WordClause, (lo, hi): (i64, i64)) {
    qb.push(" AND (e.id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ");
    qb.push_bind(w.fts.clone());
    qb.push(" AND rowid >= ");
    qb.push_bind(lo);
    qb.push(" AND rowid < ");
    qb.push_bind(hi);
    let indexed = [("principal_id", &w.principals), ("name_id", &w.names)];
    for (col, ids) in indexed {
        if let Some(ids) = ids {
            qb.push(format_args!(
                " UNION ALL SELECT id FROM events WHERE {col} IN (SELECT value FROM json_each("
            ));
            qb.push_bind(ids.clone());
            qb.push(")) AND id >= ");
            qb.push_bind(lo);
            qb.push(" AND id < ");
            qb.push_bind(hi);
        }
    }
    if let Some(ids) = &w.resources {
        qb.push(
            " UNION ALL SELECT event_id FROM event_resources WHERE resource_id IN \
             (SELECT value FROM json_each(",
        );
        qb.push_bind(ids.clone());
        qb.push(")) AND event_id >= ");
        qb.push_bind(lo);
        qb.push(" AND event_id < ");
        qb.push_bind(hi);
    }
    if let Some(ids) = &w.event_ids {
        qb.push(" UNION ALL SELECT value FROM json_each(");
        qb.push_bind(ids.clone());
        qb.push(")");
    }
    qb.push(")");
    for (col, ids) in &w.columns {
        qb.push(format_args!(" OR e.{col} IN (SELECT value FROM json_each("));
        qb.push_bind(ids.clone());
        qb.push("))");
    }
    qb.push(")");
}

fn json_strings<'a>(values: impl Iterator<Item = &'a str>) -> String {
    serde_json::to_string(&values.collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

fn json_ids(ids: &[i64]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Principals a value names (by key, ARN or display name, or an access key they used),
/// with the sessions of any role among them.
pub async fn principal_ids(pool: &SqlitePool, values_json: &str) -> Result<Vec<i64>, sqlx::Error> {
    let values: Vec<String> = serde_json::from_str(values_json).unwrap_or_default();
    let mut users: Vec<i64> = Vec::new();
    for key in values.iter().filter(|v| looks_like_access_key(v)) {
        users.extend(key_users(pool, key).await?);
    }
    sqlx::query_scalar(
        "WITH RECURSIVE p(id) AS (
             SELECT id FROM principals WHERE key IN (SELECT value FROM json_each(?1))
             UNION SELECT id FROM principals WHERE arn IN (SELECT value FROM json_each(?1))
             UNION SELECT id FROM principals WHERE display_name IN (SELECT value FROM json_each(?1))
             UNION SELECT value FROM json_each(?2)
             UNION SELECT c.id FROM principals c JOIN p ON c.parent_id = p.id
         )
         SELECT id FROM p ORDER BY id",
    )
    .bind(values_json)
    .bind(json_ids(&users))
    .fetch_all(pool)
    .await
}

/// `AKIA…`, `ASIA…` and the other access key id forms.
pub fn looks_like_access_key(v: &str) -> bool {
    v.len() >= 16
        && v.len() <= 128
        && ["AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA"]
            .iter()
            .any(|p| v.starts_with(p))
        && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The FTS5 expression that finds records holding one of `values` as a run of whole
/// tokens; `None` when there are too many values or one has no token.
fn phrase_any<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut phrases = Vec::new();
    for v in values {
        if phrases.len() >= PREFIX_TERMS as usize {
            return None;
        }
        phrases.push(crate::search::lookup_phrase(v)?);
    }
    (!phrases.is_empty()).then(|| phrases.join(" OR "))
}

/// Whether the index finds the values' events quicker than a read along the range: an
/// access key is one token, whose list of events the index reads straight through; an
/// address is a phrase of number tokens found in many other values, worth it only while
/// its events are a small share of all (under 5 %, by the daily rollup).
async fn rare(pool: &SqlitePool, field: Field, ids: &[i64]) -> Result<bool, sqlx::Error> {
    if field == Field::AccessKey {
        return Ok(true);
    }
    let Some(dim) = crate::schema::Dim::of_field(field) else {
        return Ok(false);
    };
    let (theirs, all): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT coalesce(sum(events), 0) FROM rollup_day
                 WHERE dim = ?1 AND value IN (SELECT value FROM json_each(?2))),
                (SELECT coalesce(sum(events), 0) FROM rollup_day WHERE dim = ?3)",
    )
    .bind(dim as u8)
    .bind(json_ids(ids))
    .bind(crate::schema::Dim::Account as u8)
    .fetch_one(pool)
    .await?;
    Ok(theirs.saturating_mul(20) < all.max(1))
}

/// Who used an access key: the principals of the events made with it (found through the
/// full-text index), and the session an `AssumeRole` call issued it to. A key belongs to
/// one identity, so the first events made with it say whose it is.
pub async fn key_users(pool: &SqlitePool, key: &str) -> Result<Vec<i64>, sqlx::Error> {
    let Some(fts) = phrase_any(std::iter::once(key)) else {
        return Ok(Vec::new());
    };
    sqlx::query_scalar(
        "SELECT DISTINCT principal_id FROM (
             SELECT e.principal_id FROM events_fts f JOIN events e ON e.id = f.rowid
             WHERE events_fts MATCH ?1
               AND e.access_key_id IN (SELECT id FROM terms WHERE kind = ?2 AND value = ?3)
             ORDER BY f.rowid LIMIT 100)
         UNION
         SELECT p.id FROM issued_credentials ic JOIN principals p ON p.key = ic.session_arn
         WHERE ic.access_key = ?3",
    )
    .bind(fts)
    .bind(TermKind::AccessKey as u8)
    .bind(key)
    .fetch_all(pool)
    .await
}

/// Address terms inside the CIDR ranges among `values` (`203.0.113.0/24`), with the
/// exact ones: what an `ip=` filter matches.
async fn address_ids(pool: &SqlitePool, values: &[&str]) -> Result<Vec<i64>, sqlx::Error> {
    let (ranges, exact): (Vec<&str>, Vec<&str>) = values.iter().partition(|v| v.contains('/'));
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM terms WHERE kind = ?1 AND value IN (SELECT value FROM json_each(?2))",
    )
    .bind(TermKind::SourceIp as u8)
    .bind(json_strings(exact.into_iter()))
    .fetch_all(pool)
    .await?;
    for r in ranges {
        let Ok(net) = r.trim().parse::<ipnet::IpNet>() else {
            continue;
        };
        let net = net.trunc();
        // IPv4 networks of /8 and longer share a first octet: read only those terms.
        let (lo, hi) = match net {
            ipnet::IpNet::V4(v4) if v4.prefix_len() >= 8 => {
                let first = v4.network().octets()[0];
                (format!("{first}."), format!("{first}/"))
            }
            _ => (String::new(), String::from("\u{10FFFF}")),
        };
        let terms: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, value FROM terms WHERE kind = ?1 AND value >= ?2 AND value < ?3",
        )
        .bind(TermKind::SourceIp as u8)
        .bind(lo)
        .bind(hi)
        .fetch_all(pool)
        .await?;
        ids.extend(terms.into_iter().filter_map(|(id, v)| {
            v.parse::<std::net::IpAddr>()
                .ok()
                .filter(|a| net.contains(a))
                .map(|_| id)
        }));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// User agent terms that contain any of `values` (a `user_agent=` filter matches parts).
async fn user_agent_ids(pool: &SqlitePool, values: &[&str]) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids = Vec::new();
    for v in values {
        let found: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM terms WHERE kind = ?1 AND value LIKE ?2 ESCAPE '\\'",
        )
        .bind(TermKind::UserAgent as u8)
        .bind(like_pattern(v))
        .fetch_all(pool)
        .await?;
        ids.extend(found);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Resources a value names, by ARN, name or type.
pub async fn resource_ids(pool: &SqlitePool, values_json: &str) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM resources WHERE arn IN (SELECT value FROM json_each(?1))
         UNION SELECT id FROM resources WHERE name IN (SELECT value FROM json_each(?1))
         UNION SELECT id FROM resources WHERE type IN (SELECT value FROM json_each(?1))
         ORDER BY 1",
    )
    .bind(values_json)
    .fetch_all(pool)
    .await
}

/// What a query's principal and resource filter values are called, where that differs
/// from the value (`service:cloudtrail.amazonaws.com` is `cloudtrail.amazonaws.com`, an
/// ARN its resource's name), for chips and headings.
pub async fn value_names(
    pool: &SqlitePool,
    q: &EventQuery,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let of = |field: Field| {
        json_strings(
            q.filters
                .iter()
                .filter(move |f| f.field == field)
                .map(|f| f.value.as_str()),
        )
    };
    let mut names: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, display_name FROM principals WHERE key IN (SELECT value FROM json_each(?1))
         UNION ALL
         SELECT arn, name FROM resources WHERE arn IN (SELECT value FROM json_each(?2))",
    )
    .bind(of(Field::Principal))
    .bind(of(Field::Resource))
    .fetch_all(pool)
    .await?;
    names.retain(|(value, name)| value != name);
    Ok(names)
}

/// Resolves the query's filters to ids. A value that names nothing makes its include
/// filter match nothing (and its exclude filter exclude nothing).
pub async fn resolve(pool: &SqlitePool, q: &EventQuery) -> Result<Selection, sqlx::Error> {
    let mut sel = Selection {
        access: q.access,
        fts_pending_below: super::events::search_pending_below(pool).await?,
        ..Selection::default()
    };
    for field in crate::query::Field::ALL {
        for exclude in [false, true] {
            let values: Vec<&str> = q.values(field, exclude).collect();
            if values.is_empty() {
                continue;
            }
            if field == Field::Error && values.contains(&ANY) {
                // "any error" / "no error" decides alone: other codes add nothing to it.
                sel.any_error = Some(!exclude);
                continue;
            }
            let values_json = json_strings(values.iter().copied());
            let t = target(field);
            let ids: Vec<i64> = match t {
                Target::Term(..) if field == Field::SourceIp => address_ids(pool, &values).await?,
                Target::Term(..) if field == Field::UserAgent => {
                    user_agent_ids(pool, &values).await?
                }
                Target::Term(kinds, _) => {
                    sqlx::query_scalar(
                        "SELECT id FROM terms WHERE kind IN (SELECT value FROM json_each(?1))
                         AND value IN (SELECT value FROM json_each(?2)) ORDER BY id",
                    )
                    .bind(json_ids(&kinds.iter().map(|k| *k as i64).collect::<Vec<_>>()))
                    .bind(&values_json)
                    .fetch_all(pool)
                    .await?
                }
                Target::Principal => principal_ids(pool, &values_json).await?,
                Target::Resource => resource_ids(pool, &values_json).await?,
            };
            let summarised = match t {
                Target::Principal => true,
                Target::Resource => {
                    let objects: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM resources
                         WHERE id IN (SELECT value FROM json_each(?1)) AND type = ?2",
                    )
                    .bind(json_ids(&ids))
                    .bind(crate::schema::S3_OBJECT)
                    .fetch_one(pool)
                    .await?;
                    objects == 0
                }
                Target::Term(..) => false,
            };
            // Addresses and keys are in the full-text index: it finds their events, when
            // they are few (a busy address is quicker to read along the range).
            let fts = if !exclude
                && matches!(field, Field::SourceIp | Field::AccessKey)
                && !ids.is_empty()
                && rare(pool, field, &ids).await?
            {
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT value FROM terms WHERE id IN (SELECT value FROM json_each(?1))",
                )
                .bind(json_ids(&ids))
                .fetch_all(pool)
                .await?;
                phrase_any(names.iter().map(String::as_str))
            } else {
                None
            };
            sel.clauses.push(Clause {
                target: t,
                exclude,
                ids: json_ids(&ids),
                single: (ids.len() == 1).then(|| ids[0]),
                summarised,
                fts,
            });
        }
    }
    if let Some(text) = &q.q {
        sel.words = crate::search::words(text);
        let mut clauses = Vec::with_capacity(sel.words.len());
        for w in &sel.words {
            clauses.push(resolve_word(pool, w).await?);
        }
        sel.text = Some(clauses);
    }
    Ok(sel)
}

/// A prefix stands for at most this many indexed tokens before it is left to FTS5.
const PREFIX_TERMS: i64 = 64;

/// A word's full-text expression, with a prefix spelt out as the tokens the index holds
/// that start with it (see [`crate::search::Word::fts_with`]), unless there are more than
/// [`PREFIX_TERMS`] of them.
async fn fts_expression(pool: &SqlitePool, w: &crate::search::Word) -> Result<String, sqlx::Error> {
    let Some(last) = w.tokens.last().filter(|_| w.prefix()) else {
        return Ok(w.fts());
    };
    let terms: Vec<String> = sqlx::query_scalar(
        "SELECT term FROM events_fts_terms WHERE term >= ?1 AND term < ?2 LIMIT ?3",
    )
    .bind(last)
    .bind(format!("{last}{}", char::MAX))
    .bind(PREFIX_TERMS + 1)
    .fetch_all(pool)
    .await?;
    if terms.len() as i64 > PREFIX_TERMS {
        return Ok(w.fts());
    }
    Ok(w.fts_with(&terms))
}

/// What one search word can match outside the full-text index.
async fn resolve_word(
    pool: &SqlitePool,
    w: &crate::search::Word,
) -> Result<WordClause, sqlx::Error> {
    let pattern = like_pattern(&w.text);
    let kinds = json_ids(&TEXT_COLUMNS.map(|(k, _)| k as i64));
    let terms: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT kind, id FROM terms WHERE kind IN (SELECT value FROM json_each(?2))
         AND value LIKE ?1 ESCAPE '\\' ORDER BY kind, id",
    )
    .bind(&pattern)
    .bind(&kinds)
    .fetch_all(pool)
    .await?;
    let mut clause = WordClause {
        fts: fts_expression(pool, w).await?,
        ..WordClause::default()
    };
    for (kind, col) in TEXT_COLUMNS {
        let ids: Vec<i64> = terms
            .iter()
            .filter(|(k, _)| *k == kind as i64)
            .map(|(_, id)| *id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        if kind == TermKind::Name {
            clause.names = Some(json_ids(&ids));
        } else {
            clause.columns.push((col, json_ids(&ids)));
        }
    }
    let principals: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM principals WHERE key LIKE ?1 ESCAPE '\\'
         OR display_name LIKE ?1 ESCAPE '\\' OR arn LIKE ?1 ESCAPE '\\'",
    )
    .bind(&pattern)
    .fetch_all(pool)
    .await?;
    if !principals.is_empty() {
        clause.principals = Some(json_ids(&principals));
    }
    // Single S3 objects are many; their keys are in the index (request parameters), so
    // only the other resources are matched by ARN, read through the type index.
    let resources: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM resources WHERE (type < ?2 OR type > ?2) AND arn LIKE ?1 ESCAPE '\\'",
    )
    .bind(&pattern)
    .bind(crate::schema::S3_OBJECT)
    .fetch_all(pool)
    .await?;
    if !resources.is_empty() {
        clause.resources = Some(json_ids(&resources));
    }
    // An eventID is not in the index; it is looked up by the dedup key instead.
    if let Ok(uuid) = uuid::Uuid::try_parse(&w.text) {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT e.id FROM events e WHERE e.account_id IN
               (SELECT id FROM terms WHERE kind = ?1) AND e.event_key = ?2",
        )
        .bind(TermKind::Account as u8)
        .bind(uuid.as_bytes().as_slice())
        .fetch_all(pool)
        .await?;
        if !ids.is_empty() {
            clause.event_ids = Some(json_ids(&ids));
        }
    }
    Ok(clause)
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(super::like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
