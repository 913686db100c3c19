//! What CloudTrail charges for what the trails delivered: the first copy of management
//! events per account and Region free, each further copy paid, data and network
//! activity events paid for every copy. Prices per 100,000 events, editable; defaults
//! from the public US East list. Groundwork for the costs screen.

use serde::{Deserialize, Serialize};

/// Prices in US dollars per 100,000 events delivered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// Each copy of management events after the first (`PaidEventsRecorded`).
    pub management_copy: f64,
    /// Data events, every copy (`DataEventsRecorded`).
    pub data: f64,
    /// Network activity events, every copy (`NetworkEventsRecorded`).
    pub network: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            management_copy: 2.00,
            data: 0.10,
            network: 0.10,
        }
    }
}

/// What kind of charge a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ManagementFree,
    ManagementPaid,
    Data,
    Network,
}

/// Events of one category one trail delivered for one account and Region (`trail`
/// `None`: events no trail delivered, priced as if one had).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub account: String,
    pub region: String,
    pub trail: Option<String>,
    /// `Management`, `Data` or `NetworkActivity`.
    pub category: String,
    /// For data events: `AWS::S3::Object`, `AWS::Lambda::Function`, ...
    pub resource_type: Option<String>,
    pub events: u64,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub account: String,
    pub region: String,
    pub trail: Option<String>,
    pub kind: Kind,
    pub resource_type: Option<String>,
    pub events: u64,
    pub usd: f64,
}

fn per_100k(events: u64, price: f64) -> f64 {
    events as f64 * price / 100_000.0
}

/// Prices what was delivered. In each account and Region, the trail that delivered the
/// most management events gets the free copy (ties: the smaller ARN); every other
/// trail's management events are paid copies. The bill does not say which copy is the
/// first: this choice makes "what would removing this trail save" read true.
pub fn price(delivered: &[Delivered], prices: &Prices) -> Vec<Line> {
    use std::collections::BTreeMap;
    // The free copy of each account and Region.
    let mut best: BTreeMap<(&str, &str), (u64, Option<&str>)> = BTreeMap::new();
    for d in delivered.iter().filter(|d| d.category == "Management") {
        let key = (d.account.as_str(), d.region.as_str());
        let candidate = (d.events, d.trail.as_deref());
        best.entry(key)
            .and_modify(|b| {
                if candidate.0 > b.0 || (candidate.0 == b.0 && candidate.1 < b.1) {
                    *b = candidate;
                }
            })
            .or_insert(candidate);
    }
    delivered
        .iter()
        .filter_map(|d| {
            let (kind, usd) = match d.category.as_str() {
                "Management" => {
                    let free = best
                        .get(&(d.account.as_str(), d.region.as_str()))
                        .is_some_and(|b| b.1 == d.trail.as_deref());
                    if free {
                        (Kind::ManagementFree, 0.0)
                    } else {
                        (
                            Kind::ManagementPaid,
                            per_100k(d.events, prices.management_copy),
                        )
                    }
                }
                "Data" => (Kind::Data, per_100k(d.events, prices.data)),
                "NetworkActivity" => (Kind::Network, per_100k(d.events, prices.network)),
                _ => return None,
            };
            Some(Line {
                account: d.account.clone(),
                region: d.region.clone(),
                trail: d.trail.clone(),
                kind,
                resource_type: d.resource_type.clone(),
                events: d.events,
                usd,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(trail: &str, category: &str, events: u64) -> Delivered {
        Delivered {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            trail: Some(trail.into()),
            category: category.into(),
            resource_type: (category == "Data").then(|| "AWS::S3::Object".into()),
            events,
        }
    }

    fn total(lines: &[Line]) -> f64 {
        lines.iter().map(|l| l.usd).sum()
    }

    #[test]
    fn the_documented_example_costs_five_dollars() {
        // Two trails each delivering 150,000 management events, and 2,000,000 data
        // events: $3 for the second copy of management events, $2 for the data events.
        let lines = price(
            &[
                d(
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/a",
                    "Management",
                    150_000,
                ),
                d(
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/b",
                    "Management",
                    150_000,
                ),
                d(
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/b",
                    "Data",
                    2_000_000,
                ),
            ],
            &Prices::default(),
        );
        assert!((total(&lines) - 5.0).abs() < 1e-9, "{lines:?}");
        assert_eq!(lines[0].kind, Kind::ManagementFree);
        assert_eq!(lines[1].kind, Kind::ManagementPaid);
        assert!((lines[1].usd - 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_free_copy_is_per_account_and_region_and_goes_to_the_biggest() {
        let mut other = d(
            "arn:aws:cloudtrail:eu-west-1:111122223333:trail/a",
            "Management",
            10,
        );
        other.region = "eu-west-1".into();
        let lines = price(
            &[
                d("t/small", "Management", 100),
                d("t/big", "Management", 1_000),
                other,
                d("t/big", "NetworkActivity", 200_000),
                d("t/big", "Insight", 5),
            ],
            &Prices::default(),
        );
        let kinds: Vec<(Kind, u64)> = lines.iter().map(|l| (l.kind, l.events)).collect();
        assert_eq!(
            kinds,
            [
                (Kind::ManagementPaid, 100),
                (Kind::ManagementFree, 1_000),
                (Kind::ManagementFree, 10),
                (Kind::Network, 200_000),
            ]
        );
        assert!((total(&lines) - (0.002 + 0.2)).abs() < 1e-9);
    }
}
