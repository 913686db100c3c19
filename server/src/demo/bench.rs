//! `cairn bench`: the import benchmark. Generates gzipped delivery files (kept between
//! runs), imports them into a fresh database and prints figures to compare between
//! commits: events/s, peak memory, bytes per event.

use crate::demo::DemoSpec;
use crate::ingest::{self, LocalFiles, source};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A fixed end time so the generated files are the same on every run.
const BENCH_END_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Peak resident memory of this process, from /proc (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Which rules the benchmark's import runs.
#[derive(Debug, Clone)]
pub enum BenchRules {
    /// No rule at all.
    None,
    /// The built-in rules (what a new database has).
    Builtin,
    /// The built-in rules and the Sigma rules of a file or folder.
    WithSigma(PathBuf),
}

impl std::str::FromStr for BenchRules {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "none" => BenchRules::None,
            "builtin" => BenchRules::Builtin,
            path => BenchRules::WithSigma(PathBuf::from(path)),
        })
    }
}

async fn set_rules(pool: &sqlx::SqlitePool, rules: &BenchRules) -> anyhow::Result<usize> {
    let now = chrono::Utc::now().timestamp_millis();
    match rules {
        BenchRules::None => {
            for r in app::db::rules::list(pool).await? {
                app::db::rules::save(pool, &r.def, false, &r.origin, None, "bench", "disabled", now).await?;
            }
        }
        BenchRules::Builtin => {}
        BenchRules::WithSigma(path) => {
            for r in crate::detections::cli::read_sigma(path) {
                if let Ok(def) = r.result
                    && def.compile().is_ok()
                {
                    app::db::rules::save(pool, &def, true, "sigma", Some(&r.file), "bench", "imported", now).await?;
                }
            }
        }
    }
    Ok(app::db::rules::enabled(pool).await?.len())
}

/// What one import of the benchmark's files measured.
struct Import {
    seconds: f64,
    events: u64,
    findings: u64,
    rules: usize,
    db_bytes: u64,
    /// The write-ahead log's largest size while importing.
    wal_peak: u64,
}

/// Imports `files` into a fresh database in `db_dir` (left in place for the pages).
async fn import_once(files: &Path, db_dir: &Path, rules: &BenchRules) -> anyhow::Result<(Import, sqlx::SqlitePool)> {
    let _ = std::fs::remove_dir_all(db_dir);
    std::fs::create_dir_all(db_dir)?;
    let db_path = db_dir.join("bench.db");
    let pool = crate::db::connect(&db_path).await?;
    let rules_enabled = set_rules(&pool, rules).await?;
    let (jobs, _) = source::walk(&[files.to_path_buf()]);
    // The log's size, sampled while the import runs.
    let wal = db_dir.join("bench.db-wal");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (wal, done) = (wal.clone(), done.clone());
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            peak
        })
    };
    let start = Instant::now();
    let summary = ingest::run(&pool, Arc::new(LocalFiles), jobs, ingest::Options::default()).await;
    let seconds = start.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let wal_peak = sampler.join().unwrap_or(0);
    let summary = summary?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await?;
    Ok((
        Import {
            seconds,
            events: summary.events_new,
            findings: summary.findings_new,
            rules: rules_enabled,
            db_bytes: dir_bytes(db_dir),
            wal_peak,
        },
        pool,
    ))
}

/// What DuckDB's load of the same files measured.
#[derive(serde::Deserialize)]
struct Peer {
    version: String,
    seconds: f64,
    events: u64,
    bytes: u64,
}

/// The peer's loader, run with the Python given to `--duckdb`.
const DUCKDB_LOAD: &str = include_str!("duckdb_load.py");

fn duckdb_once(python: &Path, files: &Path, db_dir: &Path) -> anyhow::Result<Peer> {
    std::fs::create_dir_all(db_dir)?;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(DUCKDB_LOAD)
        .arg(files)
        .arg(db_dir.join("peer.duckdb"))
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        anyhow::bail!("the DuckDB load failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let _ = std::fs::remove_file(db_dir.join("peer.duckdb"));
    // The figures are the last line (anything the library printed comes before).
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("reading the DuckDB load's figures from {last:?}"))
}

/// Generates the benchmark's files once (kept in `files` between runs).
fn ensure_files(spec: &DemoSpec, files: &Path) -> anyhow::Result<()> {
    let marker = files.join(".complete");
    if marker.exists() {
        return Ok(());
    }
    eprintln!(
        "generating {} delivery files with {} events in {}",
        spec.files(),
        spec.events,
        files.display()
    );
    let t = Instant::now();
    let bytes = spec.write_files(files).context("writing benchmark files")?;
    std::fs::write(&marker, b"")?;
    eprintln!(
        "generated {:.1} MiB of gzip in {:.1} s",
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The benchmark's options beyond the generated set.
pub struct BenchOptions {
    pub rules: BenchRules,
    /// A Python with the `duckdb` package: load the same files into DuckDB too.
    pub duckdb: Option<PathBuf>,
    /// Imports (and DuckDB loads) to run, alternated; the medians are printed.
    pub rounds: usize,
}

pub async fn run(events: u64, days: u32, files: Option<PathBuf>, opts: BenchOptions) -> anyhow::Result<()> {
    let spec = DemoSpec::new(events, days, 1, BENCH_END_MS);
    let files =
        files.unwrap_or_else(|| std::env::temp_dir().join(format!("cairn-bench-{events}-{days}-v2")));
    ensure_files(&spec, &files)?;
    let input_bytes = dir_bytes(&files);
    let db_dir = std::env::temp_dir().join(format!("cairn-bench-db-{}", std::process::id()));
    let rounds = opts.rounds.max(1);
    let mut cairn_secs = Vec::new();
    let mut peer_secs = Vec::new();
    let mut last = None;
    let mut peer = None;
    for round in 1..=rounds {
        if let Some(pool) = last.take().map(|(_, pool): (Import, sqlx::SqlitePool)| pool) {
            pool.close().await;
        }
        let (import, pool) = import_once(&files, &db_dir, &opts.rules).await?;
        cairn_secs.push(import.seconds);
        if rounds > 1 {
            eprintln!("round {round}: cairn {:.2} s", import.seconds);
        }
        last = Some((import, pool));
        if let Some(python) = &opts.duckdb {
            let p = duckdb_once(python, &files, &db_dir.join("peer"))?;
            if rounds > 1 {
                eprintln!("round {round}: duckdb {:.2} s", p.seconds);
            }
            peer_secs.push(p.seconds);
            peer = Some(p);
        }
    }
    let Some((import, pool)) = last else {
        anyhow::bail!("no import ran");
    };
    // Peak memory of the imports alone (the page queries below add the readers' caches).
    let import_peak = peak_rss_bytes().unwrap_or(0);
    let timings = if opts.duckdb.is_some() { Vec::new() } else { time_pages(&pool).await? };
    pool.close().await;
    let secs = median(&mut cairn_secs);
    let stored = import.events.max(1);
    println!(
        "cairn bench: {} events in {:.1} MiB of gzip ({:.0} bytes/event)",
        import.events,
        input_bytes as f64 / 1048576.0,
        input_bytes as f64 / stored as f64
    );
    println!("  rules enabled     {} ({} findings made)", import.rules, import.findings);
    if rounds > 1 {
        println!("  import time       {secs:.2} s (median of {rounds})");
    } else {
        println!("  import time       {secs:.2} s");
    }
    println!("  events/s          {:.0}", import.events as f64 / secs);
    println!(
        "  peak memory       {:.0} MiB (import), {:.0} MiB (with the page queries)",
        import_peak as f64 / 1048576.0,
        peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0
    );
    println!("  write-ahead log   at most {:.1} MiB while importing", import.wal_peak as f64 / 1048576.0);
    println!("  database          {:.1} MiB", import.db_bytes as f64 / 1048576.0);
    println!(
        "  bytes/event       {:.0} ({:.2}x the gzipped input)",
        import.db_bytes as f64 / stored as f64,
        import.db_bytes as f64 / input_bytes.max(1) as f64
    );
    if let Some(p) = &peer {
        let peer_median = median(&mut peer_secs);
        println!("  DuckDB {} (read_json_objects, the same files, the same machine):", p.version);
        println!("    load time       {peer_median:.2} s{}", if rounds > 1 { " (median)" } else { "" });
        println!("    events/s        {:.0}", p.events as f64 / peer_median);
        println!("    bytes/event     {:.0}", p.bytes as f64 / p.events.max(1) as f64);
        println!("    cairn is        {:.2}x as fast", peer_median / secs);
    }
    if !timings.is_empty() {
        println!("  page queries (median of 5, server side):");
        for (what, ms) in timings {
            println!("    {what:<52} {ms:>8.1} ms");
        }
    }
    let _ = std::fs::remove_dir_all(&db_dir);
    Ok(())
}

/// Times what each page asks of the database (server side, median of 5), on whatever
/// the database at hand holds: unfiltered and filtered timelines over several ranges,
/// the next page, an event, a principal (a busy role and a session), a resource.
pub async fn time_pages(pool: &sqlx::SqlitePool) -> anyhow::Result<Vec<(String, f64)>> {
    use app::db::events;
    use app::pages::{address, principal, resource, timeline, top};
    use app::query::EventQuery;
    let store = events::store_info(pool).await?;
    let now = store.newest_ms.unwrap_or(BENCH_END_MS);
    let top_principal: Option<String> = sqlx::query_scalar(
        "SELECT key FROM principals WHERE kind IN ('IAMUser', 'Role') ORDER BY events DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let session: Option<String> = sqlx::query_scalar(
        "SELECT key FROM principals WHERE kind = 'AssumedRole' ORDER BY events DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let top_resource: Option<String> = sqlx::query_scalar(
        "SELECT r.arn FROM rollup_hour h JOIN resources r ON r.id = h.value WHERE h.dim = 3
         GROUP BY h.value ORDER BY sum(h.events) DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    // The busiest and the quietest source address, and the busiest access key.
    let held = |dim: u8, order: &'static str| {
        let sql = match order {
            "desc" => "SELECT t.value FROM rollup_day d JOIN terms t ON t.id = d.value WHERE d.dim = ?1
                       GROUP BY d.value ORDER BY sum(d.events) DESC LIMIT 1",
            _ => "SELECT t.value FROM rollup_day d JOIN terms t ON t.id = d.value WHERE d.dim = ?1
                  GROUP BY d.value ORDER BY sum(d.events), d.value LIMIT 1",
        };
        sqlx::query_scalar::<_, String>(sql).bind(dim).fetch_optional(pool)
    };
    let busy_ip = held(app::schema::Dim::SourceIp as u8, "desc").await?;
    let rare_ip = held(app::schema::Dim::SourceIp as u8, "asc").await?;
    let busy_key = held(app::schema::Dim::AccessKey as u8, "desc").await?;
    let mut out = Vec::new();
    let mut views: Vec<(String, String)> = Vec::new();
    views.push(("timeline, no range given".into(), String::new()));
    for r in ["range=24h", "range=7d", "range=30d", "range=all"] {
        views.push((format!("timeline {r}"), r.to_string()));
    }
    for (what, q) in [
        ("sorted by principal", "sort=principal"),
        ("sorted by source IP, last page", "sort=-ip&cursor=49000"),
        ("1,000 rows", "rows=1000"),
        ("ip=10.0.0.0/8", "ip=10.0.0.0/8"),
        ("user_agent=Boto3 (part)", "user_agent=Boto3"),
    ] {
        views.push((format!("timeline range=all, {what}"), format!("range=all&{q}")));
    }
    for (what, v) in [("busiest", &busy_ip), ("quietest", &rare_ip)] {
        if let Some(ip) = v {
            views.push((
                format!("timeline range=all&ip=<{what} address>"),
                EventQuery::default()
                    .with_range(app::query::TimeRange::Preset(app::query::Preset::All))
                    .with_filter(app::query::Field::SourceIp, ip, false)
                    .to_query(),
            ));
        }
    }
    if let Some(k) = &busy_key {
        views.push((
            "timeline range=all&principal=<busiest access key>".into(),
            EventQuery::default()
                .with_range(app::query::TimeRange::Preset(app::query::Preset::All))
                .with_filter(app::query::Field::Principal, k, false)
                .to_query(),
        ));
    }
    for f in [
        "event=ConsoleLogin",
        "error=*",
        "access=write",
        "q=admin",
        "q=ReadOnlyAccess",
        "q=password",
        "q=185.220.101.7",
    ] {
        for r in ["range=24h", "range=all"] {
            views.push((format!("timeline {r}&{f}"), format!("{r}&{f}")));
        }
    }
    if let Some(p) = &top_principal {
        views.push((
            "timeline range=all&principal=<top>".into(),
            EventQuery::default()
                .with_range(app::query::TimeRange::Preset(app::query::Preset::All))
                .with_filter(app::query::Field::Principal, p, false)
                .to_query(),
        ));
    }
    for (what, q) in &views {
        let query = EventQuery::parse(q);
        let mut samples = Vec::new();
        let mut next = None;
        for _ in 0..5 {
            let t = Instant::now();
            let tl = timeline::timeline(pool, &query, now).await?;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
            next = tl.next_cursor;
        }
        out.push((what.clone(), median(&mut samples)));
        if what == "timeline range=all" {
            if let Some(c) = next {
                let q2 = query.with_cursor(Some(c));
                let mut samples = Vec::new();
                for _ in 0..5 {
                    let t = Instant::now();
                    timeline::timeline(pool, &q2, now).await?;
                    samples.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                out.push(("timeline range=all, page 2".into(), median(&mut samples)));
                let mut samples = Vec::new();
                for _ in 0..5 {
                    let t = Instant::now();
                    events::detail(pool, c)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?;
                    samples.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                out.push(("event page".into(), median(&mut samples)));
            }
        }
    }
    let mut pages: Vec<(String, &str, String)> = Vec::new();
    for (label, key) in [
        ("busiest user/role", &top_principal),
        ("busiest session", &session),
    ] {
        if let Some(k) = key {
            for r in ["range=24h", "range=all"] {
                pages.push((format!("principal ({label}) {r}"), "p", format!("{k}\n{r}")));
            }
        }
    }
    if let Some(arn) = &top_resource {
        for r in ["range=24h", "range=all"] {
            pages.push((
                format!("resource (busiest) {r}"),
                "r",
                format!("{arn}\n{r}"),
            ));
        }
    }
    if let Some(k) = &top_principal {
        pages.push(("principal (busiest user/role), no range given".into(), "p", format!("{k}\n")));
    }
    for (label, v, kind) in [
        ("address (busiest)", &busy_ip, "i"),
        ("address (quietest)", &rare_ip, "i"),
        ("access key (busiest)", &busy_key, "k"),
    ] {
        if let Some(v) = v {
            pages.push((format!("{label}, no range given"), kind, format!("{v}\n")));
        }
    }
    for f in ["principal", "resource", "user_agent", "ip"] {
        pages.push((format!("all values of {f}, range=all"), "t", format!("{f}\nrange=all")));
    }
    for (what, kind, arg) in pages {
        let (key, q) = arg.split_once('\n').unwrap_or((&arg, ""));
        let query = EventQuery::parse(q);
        let mut samples = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            match kind {
                "p" => {
                    principal::principal_view(pool, key, &query, now)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?;
                }
                "i" | "k" => {
                    let held = if kind == "i" {
                        app::db::terms::Held::SourceIp
                    } else {
                        app::db::terms::Held::AccessKey
                    };
                    address::held_view(pool, held, key, &query, now)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?;
                }
                "t" => {
                    let field = top::field_of(key).context("a field with values")?;
                    top::top_all_view(pool, field, &query, top::By::Events, now).await?;
                }
                _ => {
                    resource::resource_view(pool, key, &query, now).await?;
                }
            }
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        out.push((what, median(&mut samples)));
    }
    // The trails and costs screens read the inventory and the delivery counts, never
    // the events: their time should not grow with the store.
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        app::trails::overview(pool, now).await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.push(("trails (every trail, findings, costs)".into(), median(&mut samples)));
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        app::costs::month_report(pool, None, now).await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.push(("costs (this month)".into(), median(&mut samples)));
    // Exfiltration reads the hourly S3 read summary, never the events.
    use app::pages::exfiltration::{By, exfil_view};
    for (range, by) in [("7d", By::Principal), ("30d", By::Principal), ("90d", By::Bucket), ("30d", By::Ip)] {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            exfil_view(pool, range, by).await?;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        out.push((format!("exfiltration ({range}, by {})", by.key()), median(&mut samples)));
    }
    // Coverage reads the trails' own write events, the inventory, and for each stretch
    // said unrecorded the hourly summary (and the hours it names) to see whether events
    // stand there after all: the warning of an all-time timeline, and the chart.
    let all = app::query::EventQuery::default()
        .with_range(app::query::TimeRange::Preset(app::query::Preset::All));
    let store = app::db::events::store_info(pool).await?;
    let range = all.resolve(now, &store);
    let scope = app::pages::coverage::GapScope::of_query(&all, range.from_ms, range.to_ms);
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        app::pages::coverage::gaps_in(pool, &scope).await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.push(("coverage warning (timeline, all time)".into(), median(&mut samples)));
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        app::pages::coverage::coverage_view(pool, &all, now).await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.push(("coverage (every account, all time)".into(), median(&mut samples)));
    // The cost preview of a selector change on a trail that recorded every event of
    // the last 30 days (an organization trail in every Region): each event evaluated
    // against the selectors in force and the proposed ones.
    let newest = app::db::events::store_info(pool).await?.newest_ms.unwrap_or(now);
    let trail = app::trails::Trail {
        arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/bench".into(),
        name: "bench".into(),
        account: "111122223333".into(),
        home_region: Some("us-east-1".into()),
        regions: app::db::terms::values(pool, app::schema::TermKind::Region).await?,
        sources: Vec::new(),
        logging: Some(true),
        multi_region: true,
        organization: true,
        global_service_events: Some(true),
        log_file_validation: Some(true),
        bucket: None,
        key_prefix: None,
        kms_key: None,
        cloudwatch_log_group: None,
        sns_topic: None,
        insights: Vec::new(),
        delivery_error: None,
        digest_error: None,
        notification_error: None,
        cloudwatch_error: None,
        latest_delivery: None,
        latest_digest: None,
        sentences: Vec::new(),
        config_json: r#"{"event_selectors": [{"read_write": "All", "management_events": true,
            "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}]}]}"#.into(),
        changed_at: 0,
        seen_at: 0,
        changes: 0,
        gone: false,
        home_read: true,
        events_24h: 0,
        events_30d: 0,
        usd_month: 0.0,
        findings: Vec::new(),
    };
    let proposed = app::trail_change::ChangeQuery {
        change: "selectors".into(),
        management: "write".into(),
        s3: "*".into(),
        data_rw: "read".into(),
        ..Default::default()
    }
    .proposal()
    .map_err(|e| anyhow::anyhow!(e))?
    .context("a proposal")?;
    let mut samples = Vec::new();
    let mut scanned = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let p = app::trail_change::preview(pool, std::slice::from_ref(&trail), &trail, &proposed, newest + 1).await?;
        scanned = p.scanned;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.push((format!("trail change preview ({scanned} events of 30 days)"), median(&mut samples)));
    Ok(out)
}

/// `cairn bench --pages`: page timings on an existing database.
pub async fn pages(db: &Path) -> anyhow::Result<()> {
    let pool = crate::db::connect(db).await?;
    let store = app::db::events::store_info(&pool).await?;
    println!(
        "cairn bench --pages: {} events in {}",
        store.events,
        db.display()
    );
    println!("  page queries (median of 5, server side):");
    for (what, ms) in time_pages(&pool).await? {
        println!("    {what:<52} {ms:>8.1} ms");
    }
    pool.close().await;
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
