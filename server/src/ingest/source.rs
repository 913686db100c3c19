//! Source stage for local files: walk the given paths and recognise the AWSLogs layout.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    CloudTrail,
    Insight,
    NetworkActivity,
    Digest,
    /// Not in a recognised layout; read and judged by its content.
    Other,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::CloudTrail => "CloudTrail",
            LogKind::Insight => "CloudTrail-Insight",
            LogKind::NetworkActivity => "CloudTrail-NetworkActivity",
            LogKind::Digest => "CloudTrail-Digest",
            LogKind::Other => "other",
        }
    }

    pub fn from_dir(s: &str) -> Option<LogKind> {
        Some(match s {
            "CloudTrail" => LogKind::CloudTrail,
            "CloudTrail-Insight" => LogKind::Insight,
            "CloudTrail-NetworkActivity" => LogKind::NetworkActivity,
            "CloudTrail-Digest" => LogKind::Digest,
            _ => return None,
        })
    }
}

/// What a delivery key (or file name) says about its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kind: LogKind,
    pub org_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// `YYYY/MM/DD` of the delivery folder.
    pub date: Option<String>,
}

/// Whether `s` is a 12-digit AWS account ID.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reads `.../AWSLogs/[o-xxx/]<account>/<kind>/<region>/YYYY/MM/DD/<file>` or, failing
/// that, the `<account>_<kind>_<region>_...` file name.
pub fn parse_layout(key: &str) -> Layout {
    let parts: Vec<&str> = key.split(['/', '\\']).collect();
    if let Some(pos) = parts.iter().position(|p| *p == "AWSLogs") {
        let mut rest = &parts[pos + 1..];
        let mut org_id = None;
        if rest.first().is_some_and(|p| p.starts_with("o-")) {
            org_id = Some(rest[0].to_owned());
            rest = &rest[1..];
        }
        if rest.len() >= 3 && is_account(rest[0]) {
            if let Some(kind) = LogKind::from_dir(rest[1]) {
                let date = (rest.len() >= 6
                    && [rest[3], rest[4], rest[5]]
                        .iter()
                        .all(|p| p.bytes().all(|b| b.is_ascii_digit())))
                .then(|| format!("{}/{}/{}", rest[3], rest[4], rest[5]));
                return Layout {
                    kind,
                    org_id,
                    account: Some(rest[0].to_owned()),
                    region: Some(rest[2].to_owned()),
                    date,
                };
            }
        }
    }
    let name = parts.last().copied().unwrap_or("");
    let mut fields = name.split('_');
    if let (Some(acct), Some(kind), Some(region)) = (fields.next(), fields.next(), fields.next()) {
        if is_account(acct) {
            if let Some(kind) = LogKind::from_dir(kind) {
                return Layout {
                    kind,
                    org_id: None,
                    account: Some(acct.to_owned()),
                    region: Some(region.to_owned()),
                    date: None,
                };
            }
        }
    }
    Layout {
        kind: LogKind::Other,
        org_id: None,
        account: None,
        region: None,
        date: None,
    }
}

#[derive(Debug, Clone)]
pub struct FileJob {
    pub path: PathBuf,
    /// The path as recorded in the ledger and shown to people.
    pub display: String,
    pub size: u64,
    pub modified_ms: i64,
    pub layout: Layout,
}

/// A path that could not be read while walking.
#[derive(Debug, Clone)]
pub struct WalkError {
    pub path: String,
    pub error: String,
}

fn is_candidate(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
}

/// Expands files and directories (recursively) into a sorted list of files.
pub fn walk(paths: &[PathBuf]) -> (Vec<FileJob>, Vec<WalkError>) {
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    for root in paths {
        for entry in walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
        {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().unwrap_or(root).display().to_string();
                    errors.push(WalkError {
                        path,
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            if !entry.file_type().is_file() || !is_candidate(entry.path()) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) => {
                    errors.push(WalkError {
                        path: entry.path().display().to_string(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let abs =
                std::fs::canonicalize(entry.path()).unwrap_or_else(|_| entry.path().to_path_buf());
            let display = abs.display().to_string();
            jobs.push(FileJob {
                layout: parse_layout(&display),
                path: abs,
                display,
                size: meta.len(),
                modified_ms,
            });
        }
    }
    (jobs, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awslogs_layouts() {
        let l = parse_layout(
            "bucket/pre/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/05/06/123456789012_CloudTrail_eu-west-1_20240506T0000Z_abc.json.gz",
        );
        assert_eq!(l.kind, LogKind::CloudTrail);
        assert_eq!(l.account.as_deref(), Some("123456789012"));
        assert_eq!(l.region.as_deref(), Some("eu-west-1"));
        assert_eq!(l.date.as_deref(), Some("2024/05/06"));

        let l = parse_layout(
            "AWSLogs/o-abc123/123456789012/CloudTrail-Insight/us-east-1/2024/05/06/x.json.gz",
        );
        assert_eq!(
            (l.kind, l.org_id.as_deref()),
            (LogKind::Insight, Some("o-abc123"))
        );

        let l = parse_layout(
            "AWSLogs/123456789012/CloudTrail-NetworkActivity/us-east-1/2024/05/06/x.json.gz",
        );
        assert_eq!(l.kind, LogKind::NetworkActivity);

        let l =
            parse_layout("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/06/x.json.gz");
        assert_eq!(l.kind, LogKind::Digest);

        let l = parse_layout(
            "/tmp/218007301253_CloudTrail_us-east-1_20230710T1220Z_WMiHxZgr5Hdd6UDc.json",
        );
        assert_eq!(
            (l.kind, l.account.as_deref()),
            (LogKind::CloudTrail, Some("218007301253"))
        );

        let l = parse_layout(
            "/tmp/111122223333_CloudTrail-Digest_us-east-2_trail_us-east-2_20150817T150131Z.json.gz",
        );
        assert_eq!(l.kind, LogKind::Digest);

        assert_eq!(parse_layout("/tmp/events.json").kind, LogKind::Other);
    }
}
