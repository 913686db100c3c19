//! What AWS billed for CloudTrail, from Cost Explorer (`ce:GetCostAndUsage`), per month
//! and usage type, read with each source's hourly trail inventory: the previous month
//! and this one, so the costs screen shows the bill beside the estimate. Optional: a
//! refusal is recorded (and shown on the costs screen and by "Check access"), never an
//! error of the pass.

use crate::sync::aws;
use crate::sync::sources::Source;
use aws_sdk_costexplorer::types::{
    DateInterval, Dimension, DimensionValues, Expression, Granularity, GroupDefinition,
    GroupDefinitionType,
};
use chrono::Datelike;
use std::collections::BTreeMap;

/// The IAM action it needs.
pub const ACTION: &str = "ce:GetCostAndUsage";
/// Cost Explorer's service name for CloudTrail.
const SERVICE: &str = "AWS CloudTrail";

/// The months asked: the first day of the previous month to the first of the next.
fn period(today: chrono::NaiveDate) -> Option<(String, String)> {
    let first = today.with_day(1)?;
    let start = first.checked_sub_months(chrono::Months::new(1))?;
    let end = first.checked_add_months(chrono::Months::new(1))?;
    Some((start.format("%Y-%m-%d").to_string(), end.format("%Y-%m-%d").to_string()))
}

/// What Cost Explorer answered, and for which account.
pub struct Answer {
    pub account: Option<String>,
    /// `month → [(usage type, usd)]`.
    pub months: BTreeMap<String, Vec<(String, f64)>>,
}

/// Asks Cost Explorer (and STS whose account it is).
pub async fn ask(source: &Source, tuning: &aws::Tuning) -> Result<Answer, String> {
    let config = aws::config(source, aws::HOME_REGION, tuning).await;
    let account = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|r| r.account().map(str::to_owned));
    let client = aws_sdk_costexplorer::Client::new(&config);
    let (start, end) = period(chrono::Utc::now().date_naive()).ok_or("no calendar")?;
    let interval = DateInterval::builder()
        .start(start)
        .end(end)
        .build()
        .map_err(|e| e.to_string())?;
    let service = Expression::builder()
        .dimensions(
            DimensionValues::builder()
                .key(Dimension::Service)
                .values(SERVICE)
                .build(),
        )
        .build();
    let group = GroupDefinition::builder()
        .r#type(GroupDefinitionType::Dimension)
        .key("USAGE_TYPE")
        .build();
    let mut months: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    let mut token: Option<String> = None;
    // A month has few CloudTrail usage types; the page bound only guards a loop.
    for _ in 0..50 {
        let r = client
            .get_cost_and_usage()
            .time_period(interval.clone())
            .granularity(Granularity::Monthly)
            .metrics("UnblendedCost")
            .filter(service.clone())
            .group_by(group.clone())
            .set_next_page_token(token.take())
            .send()
            .await
            .map_err(|e| aws::describe(&e))?;
        for t in r.results_by_time() {
            let Some(month) = t.time_period().and_then(|p| p.start().get(..7)) else {
                continue;
            };
            let rows = months.entry(month.to_owned()).or_default();
            for g in t.groups() {
                let Some(usage) = g.keys().first() else {
                    continue;
                };
                let usd = g
                    .metrics()
                    .and_then(|m| m.get("UnblendedCost"))
                    .and_then(|m| m.amount())
                    .and_then(|a| a.parse::<f64>().ok())
                    .filter(|v| v.is_finite());
                if let Some(usd) = usd {
                    rows.push((usage.clone(), usd));
                }
            }
        }
        token = r.next_page_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(Answer { account, months })
}

/// Asks and stores the answer, or the refusal. Returns the usage types stored.
pub async fn refresh(
    pool: &sqlx::SqlitePool,
    source: &Source,
    tuning: &aws::Tuning,
) -> Result<usize, sqlx::Error> {
    let now = chrono::Utc::now().timestamp_millis();
    let answer = ask(source, tuning).await;
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let stored = match &answer {
        Ok(a) => {
            for (month, rows) in &a.months {
                app::db::billed::write_month(&mut tx, source.row.id, month, rows).await?;
            }
            app::db::billed::write_check(&mut tx, source.row.id, now, a.account.as_deref(), None)
                .await?;
            a.months.values().map(Vec::len).sum()
        }
        Err(e) => {
            tracing::info!(source = %source.row.name, error = %e, "{ACTION} refused: no billed costs beside the estimate");
            app::db::billed::write_check(&mut tx, source.row.id, now, None, Some(e)).await?;
            0
        }
    };
    tx.commit().await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_period_is_last_month_and_this_one() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        assert_eq!(
            super::period(d),
            Some(("2025-12-01".into(), "2026-02-01".into()))
        );
    }
}
