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

/// Columns of `events` the free text is looked for in (as interned values).
const TEXT_COLUMNS: [&str; 8] = [
    "name_id",
    "source_id",
    "source_ip_id",
    "user_agent_id",
    "error_code_id",
    "error_message_id",
    "access_key_id",
    "region_id",
];

#[derive(Debug, Clone)]
struct Clause {
    target: Target,
    exclude: bool,
    /// JSON array of ids.
    ids: String,
    /// The one id, when there is only one (an equality lets SQLite walk an index in
    /// order instead of sorting everything an `IN` list matches).
    single: Option<i64>,
}

/// The filters of a query as id sets, ready to be applied to `events e`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    clauses: Vec<Clause>,
    /// `error=*` (Some(true)) / `not_error=*` (Some(false)).
    any_error: Option<bool>,
    access: Option<Access>,
    /// Free text: matching term ids, principal ids, resource ids (JSON arrays).
    text: Option<(String, String, String)>,
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
        use crate::schema::flags::{ERROR, WRITE};
        if !self.clauses.is_empty() || self.text.is_some() {
            return None;
        }
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
        Some((mask, want))
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
                    qb.push(if exclude {
                        " AND e.id NOT IN (SELECT event_id FROM event_resources WHERE event_id >= "
                    } else {
                        " AND e.id IN (SELECT event_id FROM event_resources WHERE event_id >= "
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
        if let Some((terms, principals, resources)) = &self.text {
            qb.push(" AND (");
            for col in TEXT_COLUMNS {
                qb.push(format_args!("e.{col} IN (SELECT value FROM json_each("));
                qb.push_bind(terms.clone());
                qb.push(")) OR ");
            }
            qb.push("e.principal_id IN (SELECT value FROM json_each(");
            qb.push_bind(principals.clone());
            qb.push(")) OR e.id IN (SELECT event_id FROM event_resources WHERE event_id >= ");
            qb.push_bind(lo);
            qb.push(" AND event_id < ");
            qb.push_bind(hi);
            qb.push(" AND resource_id IN (SELECT value FROM json_each(");
            qb.push_bind(resources.clone());
            qb.push("))))");
        }
    }
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
            sel.clauses.push(Clause {
                target: t,
                exclude,
                ids: json_ids(&ids),
                single: (ids.len() == 1).then(|| ids[0]),
            });
        }
    }
    if let Some(text) = &q.q {
        let pattern = like_pattern(text);
        let terms: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM terms WHERE kind IN (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             AND value LIKE ?1 ESCAPE '\\'",
        )
        .bind(&pattern)
        .bind(TermKind::Name as u8)
        .bind(TermKind::Source as u8)
        .bind(TermKind::SourceIp as u8)
        .bind(TermKind::UserAgent as u8)
        .bind(TermKind::ErrorCode as u8)
        .bind(TermKind::ErrorMessage as u8)
        .bind(TermKind::AccessKey as u8)
        .bind(TermKind::Region as u8)
        .fetch_all(pool)
        .await?;
        let principals: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM principals WHERE key LIKE ?1 ESCAPE '\\'
             OR display_name LIKE ?1 ESCAPE '\\' OR arn LIKE ?1 ESCAPE '\\'",
        )
        .bind(&pattern)
        .fetch_all(pool)
        .await?;
        let resources: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM resources WHERE arn LIKE ?1 ESCAPE '\\'")
                .bind(&pattern)
                .fetch_all(pool)
                .await?;
        sel.text = Some((
            json_ids(&terms),
            json_ids(&principals),
            json_ids(&resources),
        ));
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(super::like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
