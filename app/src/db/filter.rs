//! An [`EventQuery`]'s filters resolved to ids, and the `WHERE` fragments that apply
//! them. Every value is bound: the SQL text is put together only from the fixed
//! fragments below and column names from a closed enum.

use crate::query::{ANY, Access, EventQuery, Field};
use crate::schema::TermKind;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

/// Which set of ids a filter is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// An interned column of `events`.
    Term(TermKind, &'static str),
    /// `principal_id`, sessions of a matched role included.
    Principal,
    /// Any of the event's resources (`event_resources`).
    Resource,
}

fn target(field: Field) -> Target {
    match field {
        Field::Account => Target::Term(TermKind::Account, "account_id"),
        Field::Region => Target::Term(TermKind::Region, "region_id"),
        Field::Source => Target::Term(TermKind::Source, "source_id"),
        Field::Name => Target::Term(TermKind::Name, "name_id"),
        Field::AccessKey => Target::Term(TermKind::AccessKey, "access_key_id"),
        Field::SourceIp => Target::Term(TermKind::SourceIp, "source_ip_id"),
        Field::UserAgent => Target::Term(TermKind::UserAgent, "user_agent_id"),
        Field::Error => Target::Term(TermKind::ErrorCode, "error_code_id"),
        Field::EventType => Target::Term(TermKind::EventType, "type_id"),
        Field::Category => Target::Term(TermKind::Category, "category_id"),
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

/// Principals a value names (by key, ARN or display name), with the sessions of any
/// role among them.
pub async fn principal_ids(pool: &SqlitePool, values_json: &str) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH RECURSIVE p(id) AS (
             SELECT id FROM principals WHERE key IN (SELECT value FROM json_each(?1))
             UNION SELECT id FROM principals WHERE arn IN (SELECT value FROM json_each(?1))
             UNION SELECT id FROM principals WHERE display_name IN (SELECT value FROM json_each(?1))
             UNION SELECT c.id FROM principals c JOIN p ON c.parent_id = p.id
         )
         SELECT id FROM p ORDER BY id",
    )
    .bind(values_json)
    .fetch_all(pool)
    .await
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

/// Resolves the query's filters to ids. A value that names nothing makes its include
/// filter match nothing (and its exclude filter exclude nothing).
pub async fn resolve(pool: &SqlitePool, q: &EventQuery) -> Result<Selection, sqlx::Error> {
    let mut sel = Selection {
        access: q.access,
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
            let values_json = json_strings(values.into_iter());
            let t = target(field);
            let ids: Vec<i64> = match t {
                Target::Term(kind, _) => {
                    sqlx::query_scalar(
                        "SELECT id FROM terms WHERE kind = ?1
                         AND value IN (SELECT value FROM json_each(?2)) ORDER BY id",
                    )
                    .bind(kind as u8)
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
            sel.clauses.push(Clause {
                target: t,
                exclude,
                ids: json_ids(&ids),
                single: (ids.len() == 1).then(|| ids[0]),
                summarised,
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
