//! Anomalies: what no single record shows, judged against each actor's own history.
//!
//! The importer sums every successful S3 read into `s3_reads` (per hour, actor, bucket
//! and source address) and notes the first hour an actor read each bucket and from each
//! network (`s3_firsts`), in the transaction that stores the events. After the batch's
//! summaries are written, each (actor, hour) the batch touched is judged by the enabled
//! anomaly rules (`exfil`), so a late or out-of-order event re-judges its own hour with
//! everything held by then.

pub mod exfil;
pub mod insights;
pub mod sharing;

use crate::ingest::normalize::{Principal, S3Read};
use rusqlite::{Connection, params};
use std::collections::{BTreeSet, HashMap};

const HOUR_MS: i64 = 3_600_000;

/// The principal an S3 read is judged as: the session itself when a person stands behind
/// it, the role when the session's name is a machine's.
pub fn actor_of(principal_id: i64, issuer_id: Option<i64>, p: &Principal) -> i64 {
    match issuer_id {
        Some(role) if p.kind == "AssumedRole" && machine_session(session_name(&p.key)) => role,
        _ => principal_id,
    }
}

/// The session name at the end of an assumed-role ARN (`…:assumed-role/Role/name`).
fn session_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

pub use app::schema::machine_session;

/// The network an address belongs to, as the new-network rule compares them: its /16
/// (IPv4) or /48 (IPv6). `None` for what is not an address (`AWS Internal`, a service's
/// name).
pub fn network_of(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => {
            let o = a.octets();
            Some(format!("{}.{}.0.0/16", o[0], o[1]))
        }
        std::net::IpAddr::V6(a) => {
            let s = a.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

/// One hour's reads of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub objects: i64,
    pub lists: i64,
    pub bytes: i64,
    pub presigned: i64,
}

impl Sums {
    fn add(&mut self, r: &S3Read, n: i64) {
        if r.list {
            self.lists += n;
        } else {
            self.objects += n;
            self.presigned += n * i64::from(r.presigned);
        }
        self.bytes += n * i64::try_from(r.bytes).unwrap_or(i64::MAX / 4);
    }
}

/// A batch's S3 reads, kept in memory and added to the tables at commit.
#[derive(Default)]
pub struct S3Batch {
    /// (hour, actor, bucket, source address) -> sums
    reads: HashMap<(i64, i64, i64, i64), Sums>,
    /// (actor, kind, bucket or address id) -> the first hour seen in the batch
    firsts: HashMap<(i64, u8, i64), i64>,
    /// Each address id's network (`None`: not an address).
    networks: HashMap<i64, Option<String>>,
}

impl S3Batch {
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }

    pub fn clear(&mut self) {
        self.reads.clear();
        self.firsts.clear();
        self.networks.clear();
    }

    /// Counts one stored read.
    pub fn add(&mut self, time_ms: i64, actor: i64, bucket: Option<i64>, ip: Option<(i64, &str)>, r: &S3Read) {
        let hour = time_ms.div_euclid(HOUR_MS);
        let key = (hour, actor, bucket.unwrap_or(0), ip.map_or(0, |(id, _)| id));
        self.reads.entry(key).or_default().add(r, 1);
        let mut first = |kind: u8, value: i64| {
            let h = self.firsts.entry((actor, kind, value)).or_insert(hour);
            *h = (*h).min(hour);
        };
        if let Some(b) = bucket {
            first(exfil::FIRST_BUCKET, b);
        }
        if let Some((id, text)) = ip {
            first(exfil::FIRST_NETWORK, id);
            self.networks.entry(id).or_insert_with(|| network_of(text));
        }
    }

    /// Takes one stored read back out (its event was removed). The first hour an actor
    /// was seen with a bucket or network stays: it is what later reads are judged by.
    pub fn take_back(&mut self, time_ms: i64, actor: i64, bucket: Option<i64>, ip: Option<i64>, r: &S3Read) {
        let key = (time_ms.div_euclid(HOUR_MS), actor, bucket.unwrap_or(0), ip.unwrap_or(0));
        self.reads.entry(key).or_default().add(r, -1);
    }

    /// Adds the batch to `s3_reads` and `s3_firsts` (and empties it). Returns the
    /// (actor, hour) pairs it touched, for judging.
    pub fn write(&mut self, conn: &Connection) -> rusqlite::Result<BTreeSet<(i64, i64)>> {
        let mut reads: Vec<_> = self.reads.drain().collect();
        reads.sort_unstable_by_key(|(k, _)| *k);
        let mut touched = BTreeSet::new();
        let mut st = conn.prepare_cached(
            "INSERT INTO s3_reads (hour, actor, bucket, source_ip, objects, lists, bytes, presigned)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (hour, actor, bucket, source_ip) DO UPDATE SET objects = objects + excluded.objects,
               lists = lists + excluded.lists, bytes = bytes + excluded.bytes,
               presigned = presigned + excluded.presigned",
        )?;
        for ((hour, actor, bucket, ip), s) in reads {
            st.execute(params![hour, actor, bucket, ip, s.objects, s.lists, s.bytes, s.presigned])?;
            touched.insert((actor, hour));
        }
        // Addresses are noted by their network, buckets by their id.
        let mut by_value: HashMap<(i64, u8, String), i64> = HashMap::new();
        for ((actor, kind, value), hour) in self.firsts.drain() {
            let value = if kind == exfil::FIRST_NETWORK {
                match self.networks.get(&value).cloned().flatten() {
                    Some(net) => net,
                    None => continue,
                }
            } else {
                value.to_string()
            };
            let h = by_value.entry((actor, kind, value)).or_insert(hour);
            *h = (*h).min(hour);
        }
        self.networks.clear();
        let mut firsts: Vec<_> = by_value.into_iter().collect();
        firsts.sort_unstable();
        let mut st = conn.prepare_cached(
            "INSERT INTO s3_firsts (actor, kind, value, first_hour) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (actor, kind, value) DO UPDATE SET first_hour = min(first_hour, excluded.first_hour)",
        )?;
        for ((actor, kind, value), hour) in firsts {
            st.execute(params![actor, kind, value, hour])?;
        }
        Ok(touched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_name_their_sessions_so() {
        for m in ["i-0abc123def4567890", "i-0a1b2c3d", "botocore-session-1733389200", "1733389200123",
            "6f1c1e0e-8b7a-4c1b-9e55-2f7e5a1d9c3b", "aws-go-sdk-1712345678901234567"] {
            assert!(machine_session(m), "{m}");
        }
        for p in ["alice", "alice@example.com", "contractor-temp", "ci-runner", "etl-job", "bob.smith", "i-am-bob",
            "deploy-2024"] {
            assert!(!machine_session(p), "{p}");
        }
    }

    #[test]
    fn networks_are_prefixes_of_addresses_only() {
        assert_eq!(network_of("185.220.101.7").as_deref(), Some("185.220.0.0/16"));
        assert_eq!(network_of("2001:db8:1234:5678::1").as_deref(), Some("2001:db8:1234::/48"));
        assert_eq!(network_of("AWS Internal"), None);
        assert_eq!(network_of("s3.amazonaws.com"), None);
        assert_eq!(network_of(""), None);
    }

    fn principal(kind: &str, key: &str) -> Principal {
        Principal {
            key: key.into(),
            kind: kind.into(),
            display: key.into(),
            arn: None,
            account: None,
            origin: None,
            parent: None,
        }
    }

    #[test]
    fn a_machine_session_is_judged_as_its_role_and_a_person_as_themselves() {
        let s = |n: &str| principal("AssumedRole", &format!("arn:aws:sts::111122223333:assumed-role/Etl/{n}"));
        assert_eq!(actor_of(7, Some(3), &s("i-0abc123def4567890")), 3);
        assert_eq!(actor_of(7, Some(3), &s("contractor-temp")), 7);
        assert_eq!(actor_of(7, None, &s("i-0abc123def4567890")), 7);
        assert_eq!(actor_of(7, Some(3), &principal("IAMUser", "arn:aws:iam::1:user/i-0abc123def4567890")), 7);
    }
}
