//! `POST /admin/prices`: an admin sets a price of the costs screen, for every Region or
//! for one, or puts it back to the list price; each change with its audit line (before
//! and after) in the change's own transaction.

use crate::access::{Admin, AuthState, Signed};
use app::costs::Prices;
use app::db::audit::{self, AuditLine};
use app::db::prices;
use app::error::WebError;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct PriceForm {
    name: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    usd: String,
    /// `set` or `reset`.
    action: String,
    #[serde(default)]
    month: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("no such price")]
    Name,
    #[error("a Region is lower-case letters, digits and dashes (us-east-1), or empty for every Region")]
    Region,
    #[error("a price is a number of dollars, 0 or more")]
    Usd,
    #[error("that price was not changed")]
    NotChanged,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn region_ok(r: &str) -> bool {
    r.is_empty()
        || (r.len() <= 30
            && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
}

/// Parses `usd`: dollars, finite, 0 or more, below a million.
pub fn parse_usd(s: &str) -> Option<f64> {
    let v: f64 = s.trim().trim_start_matches('$').parse().ok()?;
    (v.is_finite() && (0.0..1_000_000.0).contains(&v)).then_some(v)
}

async fn change(
    pool: &sqlx::SqlitePool,
    f: &PriceForm,
    actor: &str,
    client: &str,
) -> Result<&'static str, PriceError> {
    let list = Prices::default();
    let Some(list_price) = list.get(&f.name) else {
        return Err(PriceError::Name);
    };
    let region = f.region.trim();
    if !region_ok(region) {
        return Err(PriceError::Region);
    }
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let before = prices::get(&mut tx, &f.name, region)
        .await?
        .unwrap_or(list_price);
    let target = format!("{} {}", f.name, if region.is_empty() { "every Region" } else { region });
    let (after, done) = match f.action.as_str() {
        "reset" => {
            if !prices::reset(&mut tx, &f.name, region).await? {
                return Err(PriceError::NotChanged);
            }
            (list_price, "price-reset")
        }
        _ => {
            let usd = parse_usd(&f.usd).ok_or(PriceError::Usd)?;
            prices::set(&mut tx, &f.name, region, usd, chrono::Utc::now().timestamp_millis(), actor)
                .await?;
            (usd, "price-set")
        }
    };
    let detail = format!("${before} → ${after}");
    let action = if done == "price-reset" { "price.reset" } else { "price.set" };
    let line = AuditLine::new(Some(actor), action, client)
        .target(&target)
        .detail(&detail);
    audit::write_line(&mut tx, &line).await?;
    tx.commit().await?;
    Ok(done)
}

/// `POST /admin/prices`.
pub async fn set_price(
    State(state): State<AuthState>,
    Signed {
        user: admin,
        client,
        ..
    }: Signed<Admin>,
    Form(f): Form<PriceForm>,
) -> Result<Response, WebError> {
    let outcome = change(&state.pool, &f, &admin.name, &client).await;
    // The serializer is not `Send`: made after the last await.
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if app::costs::month_days(&f.month).is_some() {
        q.append_pair("month", &f.month);
    }
    match outcome {
        Ok(done) => q.append_pair("done", done),
        Err(e @ PriceError::Db(_)) => return Err(WebError::internal("a price change failed", e)),
        Err(e) => q.append_pair("error", &e.to_string()),
    };
    Ok(Redirect::to(&format!("/costs?{}#cost-prices", q.finish())).into_response())
}
