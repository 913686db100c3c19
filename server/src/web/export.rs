//! `GET /export/events.csv` and `/export/events.json`: exactly the events a timeline
//! query selects, streamed page by page (memory stays flat however many there are).
//!
//! CSV cells are quoted as RFC 4180 says, and a cell that a spreadsheet would take for
//! a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) is prefixed with
//! `'`: event fields are attacker-controlled. JSON is the original records in
//! CloudTrail's own `{"Records": [...]}` form, so it can be imported again.

use crate::access::{Anyone, Signed};
use app::db::events::{self, ExportRow, RawReader};
use app::db::filter;
use app::error::WebError;
use app::query::EventQuery;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use sqlx::SqlitePool;

/// Rows fetched per query while streaming.
const CHUNK: i64 = 2000;

const CSV_HEADER: &str = "time,account,region,event_source,event_name,principal,principal_key,principal_type,access_key,source_ip,user_agent,error_code,error_message,failed,read_only,resources,request_id,cairn_id\r\n";

/// One CSV cell: formula-looking text defused, quoted when it must be.
pub fn csv_cell(out: &mut String, value: &str) {
    let defuse = value
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    let quote = defuse || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if defuse {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

fn csv_row(r: &ExportRow) -> String {
    let mut s = String::with_capacity(256);
    let read_only = match r.read_only {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    };
    let failed = if r.failed { "true" } else { "false" };
    let cells: [&str; 17] = [
        &app::fmt::iso(r.event_time),
        &r.account,
        r.region.as_deref().unwrap_or(""),
        &r.source,
        &r.name,
        &r.principal,
        &r.principal_key,
        &r.principal_kind,
        r.access_key.as_deref().unwrap_or(""),
        r.source_ip.as_deref().unwrap_or(""),
        r.user_agent.as_deref().unwrap_or(""),
        r.error_code.as_deref().unwrap_or(""),
        r.error_message.as_deref().unwrap_or(""),
        failed,
        read_only,
        r.resources.as_deref().unwrap_or(""),
        r.request_id.as_deref().unwrap_or(""),
    ];
    for c in cells {
        csv_cell(&mut s, c);
        s.push(',');
    }
    s.push_str(&r.id.to_string());
    s.push_str("\r\n");
    s
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// Streams the export. Signed-in users only (the page guard also covers this path).
pub async fn export(
    State(pool): State<SqlitePool>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    _: Signed<Anyone>,
) -> Result<Response, WebError> {
    let format = match file.as_str() {
        "events.csv" => Format::Csv,
        "events.json" => Format::Json,
        _ => return Err(WebError::not_found("no such export")),
    };
    let query = EventQuery::parse(query.as_deref().unwrap_or(""));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::spawn(async move {
        match produce(&pool, &query, format, &tx).await {
            Ok(()) => {}
            Err(ExportError::Gone) => tracing::debug!("export abandoned by the client"),
            Err(e) => {
                tracing::error!(error = %e, "export failed part way");
                // Ends the body with an error, so the client sees a broken download rather
                // than a silently short file.
                let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
            }
        }
    });
    // A stream that may be polled again after it ended: the compression layer does so
    // to finish the gzip trailer (an `unfold` stream panics there, which cut every
    // compressed download short). A closed channel keeps answering "no more".
    let mut rx = rx;
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let (ctype, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "events.csv"),
        Format::Json => ("application/json", "events.json"),
    };
    Ok(attachment(Body::from_stream(stream), ctype, name))
}

/// A download: the body with its type and file name.
fn attachment(body: Body, ctype: &'static str, name: &str) -> Response {
    let mut res = Response::new(body);
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// `GET /export/top/{field}.csv`: every value of one field in the selection (what the
/// "show all" page lists, in its order): value, label, events, errors.
pub async fn export_top(
    State(pool): State<SqlitePool>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    _: Signed<Anyone>,
) -> Result<Response, WebError> {
    let Some(field) = file
        .strip_suffix(".csv")
        .and_then(app::pages::top::field_of)
    else {
        return Err(WebError::not_found("no such export"));
    };
    let raw = query.unwrap_or_default();
    let by = url::form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == "by")
        .map(|(_, v)| v.into_owned());
    let query = EventQuery::parse(&raw);
    let now = chrono::Utc::now().timestamp_millis();
    let by = app::pages::top::By::parse(by.as_deref());
    let view = app::pages::top::top_all_view(&pool, field, &query, by, now)
        .await
        .map_err(|e| WebError::internal("a top list export failed", e))?
        .ok_or_else(|| WebError::not_found("no such export"))?;
    let mut out = String::from("value,label,events,errors\r\n");
    for r in &view.list.rows {
        csv_cell(&mut out, &r.value);
        out.push(',');
        csv_cell(&mut out, &r.label);
        out.push_str(&format!(",{},{}\r\n", r.events, r.errors));
    }
    Ok(attachment(
        Body::from(out),
        "text/csv; charset=utf-8",
        &format!("{}.csv", field.key()),
    ))
}

#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Raw(#[from] events::DetailError),
    #[error("the client went away")]
    Gone,
}

async fn produce(
    pool: &SqlitePool,
    query: &EventQuery,
    format: Format,
    tx: &tokio::sync::mpsc::Sender<Result<String, std::io::Error>>,
) -> Result<(), ExportError> {
    let send = |s: String| async move { tx.send(Ok(s)).await.map_err(|_| ExportError::Gone) };
    let store = events::store_info(pool).await?;
    let range = query.resolve(chrono::Utc::now().timestamp_millis(), &store);
    let sel = filter::resolve(pool, query).await?;
    let mut raw = RawReader::default();
    let mut cursor = None;
    let mut first = true;
    send(match format {
        Format::Csv => CSV_HEADER.to_string(),
        Format::Json => "{\"Records\":[\n".to_string(),
    })
    .await?;
    loop {
        let rows = events::export_page(pool, &sel, &range, query.sort, cursor, CHUNK).await?;
        let Some(last) = rows.last() else { break };
        cursor = Some(last.id);
        let full = rows.len() as i64 == CHUNK;
        let mut buf = String::with_capacity(rows.len() * 400);
        for r in &rows {
            match format {
                Format::Csv => buf.push_str(&csv_row(r)),
                Format::Json => {
                    let bytes = raw.read(pool, r.id, r.at()).await?;
                    if !first {
                        buf.push_str(",\n");
                    }
                    // Stored records are the original JSON objects; anything else would
                    // have been rejected at import.
                    buf.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
            first = false;
        }
        send(buf).await?;
        if !full {
            break;
        }
    }
    if format == Format::Json {
        send("\n]}\n".to_string()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    fn cell(v: &str) -> String {
        let mut s = String::new();
        csv_cell(&mut s, v);
        s
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "\"'+1\"");
        assert_eq!(cell("-2"), "\"'-2\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("\tx"), "\"'\tx\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(cell(""), "");
    }
}
