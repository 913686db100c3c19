//! What the integration tests share: running the real `cairn` binary, writing fixtures,
//! importing them through the real pipeline, counting rows, and finding the real samples.
//!
//! Each test file includes this with `mod common;` and uses what it needs.
#![allow(dead_code)]

use cairn::ingest::{self, LocalFiles, Summary, source};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cairn");

/// A command running the binary on the database at `db`, logging warnings only (the
/// binary reads `CAIRN_LOG`), with AWS credentials fit for the emulator and nothing from
/// the surrounding shell's AWS set-up.
pub fn command(db: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--db")
        .arg(db)
        .env("CAIRN_LOG", "warn")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL");
    c
}

/// Runs `cairn --db DB ARGS...`, with `stdin` written to it when given; returns the exit
/// status and what it printed.
pub fn cairn(db: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = command(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cairn runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(text) = stdin {
        // A command that refuses before reading (an unknown user, a bad role) closes its
        // input early: what it printed says why, so a broken pipe here is not an error.
        if let Err(e) = input.write_all(text.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    }
    drop(input);
    let out = child.wait_with_output().expect("cairn finishes");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Gzip of `body`, as CloudTrail delivers its files.
pub fn gz(body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body.as_ref()).expect("gzip in memory");
    e.finish().expect("gzip in memory")
}

/// The one number `sql` answers.
pub async fn count(pool: &sqlx::SqlitePool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The one number `sql` answers on the database file at `db`.
pub async fn count_in(db: &Path, sql: &str) -> i64 {
    let pool = cairn::db::connect(db).await.expect("the database opens");
    let n = count(&pool, sql).await;
    pool.close().await;
    n
}

/// Imports files or folders through the real pipeline.
pub async fn import(pool: &sqlx::SqlitePool, paths: &[PathBuf]) -> Summary {
    let (jobs, errors) = source::walk(paths);
    assert!(errors.is_empty(), "{errors:?}");
    ingest::run(
        pool,
        Arc::new(LocalFiles),
        jobs,
        ingest::Options {
            threads: 2,
            progress: false,
        },
    )
    .await
    .expect("import runs")
}

/// A new store in `dir` holding `records`, imported as one delivery file.
pub async fn store_of(dir: &Path, records: Vec<serde_json::Value>) -> sqlx::SqlitePool {
    let file = dir.join("fixture.json");
    let body = serde_json::json!({ "Records": records }).to_string();
    std::fs::write(&file, body).expect("the fixture is written");
    let pool = cairn::db::connect(&dir.join("c.db"))
        .await
        .expect("the database opens");
    let summary = import(&pool, &[file]).await;
    assert_eq!(summary.records_rejected, 0, "{summary:?}");
    pool
}

/// ISO 8601 in UTC, as CloudTrail writes `eventTime`.
pub fn iso(ms: i64) -> String {
    app::fmt::iso(ms)
}

/// A folder of the real CloudTrail samples kept beside the repository
/// (`../shared/data`). Only the real-sample tier asks for them (`make samples`, tests
/// marked `#[ignore]`): asked for and absent, that is a failure, never a silent pass.
pub fn samples(dir: &str) -> PathBuf {
    let root = std::env::var_os("CAIRN_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let p = root.join(dir);
    assert!(
        p.is_dir(),
        "the real samples are needed here and {} is absent (set CAIRN_SAMPLES to their folder)",
        p.display()
    );
    p
}

/// A moto server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: std::process::Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = std::env::var("CAIRN_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} (install moto[server], or set CAIRN_MOTO_SERVER): {e}")
            });
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn http() -> aws_sdk_s3::config::SharedHttpClient {
        aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .http_client(Moto::http())
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let http = Moto::http();
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .force_path_style(true)
            .http_client(http)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

impl Moto {
    /// A CloudTrail client of `region` on the emulator.
    pub fn cloudtrail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let conf = aws_sdk_cloudtrail::Config::builder()
            .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudtrail::config::Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_cloudtrail::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .http_client(Moto::http())
            .build();
        aws_sdk_cloudtrail::Client::from_conf(conf)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cairn serve` on a free loopback port (the binary, with [`command`]'s environment),
/// stopped when dropped; with a plain HTTP/1.1 client for its pages and forms.
pub struct Served {
    child: std::process::Child,
    pub base: String,
    addr: String,
}

/// An answer: status, head and body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The query of the `location` header, decoded.
    pub fn location_query(&self) -> std::collections::HashMap<String, String> {
        let to = self.header("location").unwrap_or_default();
        let q = to
            .split_once('?')
            .map_or("", |(_, q)| q)
            .split('#')
            .next()
            .unwrap_or("");
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    }
}

impl Served {
    pub fn start(db: &Path, site: &Path) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let addr = format!("127.0.0.1:{port}");
        std::fs::create_dir_all(site.join("pkg")).expect("the site folder");
        let child = command(db)
            .args(["serve", "--addr", &addr, "--site"])
            .arg(site)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cairn serve starts");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "cairn serve did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Served {
            child,
            base: format!("http://{addr}"),
            addr,
        }
    }

    /// One request; a form post carries the site's own `Origin`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: Option<&str>,
    ) -> Reply {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.addr).expect("the server answers");
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("a timeout");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(c) = cookie {
            req.push_str(&format!("Cookie: {c}\r\n"));
        }
        if let Some(body) = form {
            req.push_str(&format!(
                "Origin: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                self.base,
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(form.unwrap_or(""));
        s.write_all(req.as_bytes()).expect("sent");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).expect("an answer");
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        Reply {
            status: head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    /// Signs `name` in (password [`PASSWORD`]); returns the session cookie.
    pub fn sign_in(&self, name: &str) -> String {
        let body = format!("name={name}&password={}", PASSWORD.replace(' ', "+"));
        let r = self.request("POST", "/auth/login", None, Some(&body));
        assert_eq!(r.status, 303, "{}", r.head);
        r.head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                if !k.eq_ignore_ascii_case("set-cookie") {
                    return None;
                }
                let pair = v.trim().split(';').next()?.to_owned();
                pair.starts_with("cairn_session=").then_some(pair)
            })
            .expect("a session cookie")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The password the tests' users get.
pub const PASSWORD: &str = "a long enough password";

/// Adds a dashboard user from the shell.
pub fn add_user(db: &Path, name: &str, role: &str) {
    let (code, out, err) = cairn(
        db,
        &["user", "add", name, "--role", role, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(code, 0, "{out}{err}");
}

/// A client for the fakes that stand in front of moto.
pub type Upstream = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<hyper::body::Bytes>,
>;

pub fn upstream_client() -> Upstream {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// Sends `req` on to `upstream` unchanged (moto does not check signatures).
pub async fn forward(
    client: &Upstream,
    upstream: &str,
    req: axum::http::Request<axum::body::Body>,
) -> axum::http::Response<axum::body::Body> {
    use axum::body::Body;
    use axum::http::{Request, Response, StatusCode};
    use http_body_util::BodyExt;
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let uri = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut out = Request::builder().method(parts.method).uri(uri);
    for (k, v) in &parts.headers {
        out = out.header(k, v);
    }
    match client
        .request(out.body(http_body_util::Full::new(body)).unwrap())
        .await
    {
        Ok(r) => {
            let (parts, body) = r.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}

/// A file of an export: its name and bytes.
pub type Export = (String, Vec<u8>);

/// The same CloudTrail records as other tools export them: each shape's files (name and
/// bytes), written from `records` as Logstash, Beats, Elastic (with the original kept,
/// as a `_search` response and as a scroll dump) and Splunk (JSON lines, the REST form,
/// and CSV) would. Some are gzipped, as exports often are.
pub fn exports_of(records: &[serde_json::Value]) -> Vec<(&'static str, Vec<Export>)> {
    use serde_json::{Value, json};
    let text = |r: &Value| serde_json::to_string(r).expect("a record serialises");
    let stamp = |r: &Value| {
        let t = r["eventTime"].as_str().unwrap_or_default();
        match t.strip_suffix('Z') {
            Some(s) if !s.contains('.') => format!("{s}.000Z"),
            _ => t.to_owned(),
        }
    };
    let lines = |docs: Vec<Value>| {
        docs.iter()
            .map(|d| serde_json::to_string(d).expect("JSON") + "\n")
            .collect::<String>()
            .into_bytes()
    };
    let logstash: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut m = r.as_object().expect("a record is an object").clone();
            m.shift_remove("eventTime");
            m.insert("@timestamp".into(), Value::String(stamp(r)));
            m.insert("@version".into(), json!("1"));
            m.insert("tags".into(), json!(["cloudtrail"]));
            m.insert("host".into(), json!("logstash-1"));
            // What Logstash's CloudTrail codec does to a plain flag.
            if m.get("eventName").and_then(Value::as_str) == Some("RunInstances")
                && let Some(Value::Object(p)) = m.get_mut("requestParameters")
                && let Some(flag @ Value::Bool(_)) = p.get("disableApiTermination").cloned()
            {
                p.insert("disableApiTermination".into(), json!({ "value": flag }));
            }
            Value::Object(m)
        })
        .collect();
    let half = records.len() / 2;
    let beats: Vec<Value> = records[half..]
        .iter()
        .map(|r| json!({"@timestamp": stamp(r), "message": text(r), "agent": {"type": "filebeat"}, "input": {"type": "aws-s3"}}))
        .collect();
    let ecs: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "@timestamp": stamp(r),
                "event": {"original": text(r), "action": r["eventName"], "provider": r["eventSource"], "kind": "event"},
                "cloud": {"region": r["awsRegion"]},
                "ecs": {"version": "8.11.0"},
                "tags": ["preserve_original_event"],
            })
        })
        .collect();
    let search = json!({
        "took": 12,
        "timed_out": false,
        "hits": {"total": {"value": half, "relation": "eq"}, "hits": ecs[..half].iter().enumerate()
            .map(|(i, d)| json!({"_index": "logs-aws.cloudtrail-default", "_id": i.to_string(), "_score": 1.0, "_source": d}))
            .collect::<Vec<_>>()},
    });
    let scroll: Vec<Value> = ecs[half..]
        .iter()
        .enumerate()
        .map(|(i, d)| json!({"_index": "cloudtrail", "_id": format!("s{i}"), "_source": d}))
        .collect();
    let splunk_rest: Vec<Value> = records[..half]
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"preview": false, "offset": i, "result": {"_raw": text(r), "_time": r["eventTime"], "sourcetype": "aws:cloudtrail"}}))
        .collect();
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["_time", "host", "source", "sourcetype", "_raw"])
        .expect("CSV");
    for r in &records[half..] {
        csv.write_record([
            r["eventTime"].as_str().unwrap_or_default(),
            "h",
            "s3://trail",
            "aws:cloudtrail",
            &text(r),
        ])
        .expect("CSV");
    }
    let csv = csv.into_inner().expect("CSV");
    vec![
        (
            "logstash",
            vec![
                ("logstash.json".into(), lines(logstash[..half].to_vec())),
                ("filebeat.ndjson.gz".into(), gz(lines(beats))),
            ],
        ),
        (
            "ecs",
            vec![
                (
                    "search.json".into(),
                    serde_json::to_vec(&search).expect("JSON"),
                ),
                ("scroll.ndjson.gz".into(), gz(lines(scroll))),
            ],
        ),
        (
            "splunk",
            vec![
                ("export.json".into(), lines(splunk_rest)),
                ("export.csv.gz".into(), gz(csv)),
            ],
        ),
    ]
}

/// Each stored event as its values (interned columns and principals spelt out), by id.
pub async fn stored_events(pool: &sqlx::SqlitePool) -> std::collections::BTreeMap<i64, String> {
    const SQL: &str = "SELECT e.id, json_array(e.event_time, hex(e.event_key),
            (SELECT value FROM terms WHERE id = e.account_id), (SELECT value FROM terms WHERE id = e.region_id),
            (SELECT value FROM terms WHERE id = e.source_id), (SELECT value FROM terms WHERE id = e.name_id),
            (SELECT value FROM terms WHERE id = e.type_id), (SELECT value FROM terms WHERE id = e.category_id),
            (SELECT value FROM terms WHERE id = e.error_code_id), (SELECT value FROM terms WHERE id = e.error_message_id),
            (SELECT value FROM terms WHERE id = e.source_ip_id), (SELECT value FROM terms WHERE id = e.user_agent_id),
            (SELECT value FROM terms WHERE id = e.access_key_id),
            e.read_only, e.request_id, e.shared_event_id,
            (SELECT key FROM principals WHERE id = e.principal_id), (SELECT key FROM principals WHERE id = e.issuer_id),
            (SELECT group_concat(r.arn, ' ') FROM (SELECT x.arn FROM event_resources er JOIN resources x ON x.id = er.resource_id
              WHERE er.event_id = e.id ORDER BY x.arn) r))
        FROM events e ORDER BY e.id";
    sqlx::query_as::<_, (i64, String)>(SQL)
        .fetch_all(pool)
        .await
        .expect("events read")
        .into_iter()
        .collect()
}

/// Every stored record, by event id, read back through the pages' reader.
pub async fn stored_records(pool: &sqlx::SqlitePool) -> std::collections::BTreeMap<i64, Vec<u8>> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM events ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("ids");
    let mut reader = app::db::events::RawReader::default();
    let mut out = std::collections::BTreeMap::new();
    for id in ids {
        let at: app::db::events::Stored =
            sqlx::query_as("SELECT raw_dict, raw, raw_block, raw_slot FROM events WHERE id = ?1")
                .bind(id)
                .fetch_one(pool)
                .await
                .expect("the row");
        out.insert(
            id,
            reader
                .read(pool, id, at.at())
                .await
                .expect("the record reads back"),
        );
    }
    out
}

/// Imports `records` as a trail delivers them, then each export of them (see
/// [`exports_of`]) into a store of its own: every shape is recognised and counted, and
/// gives the same stored events, and the same records back (byte for byte where the
/// export kept the record as text). Then the exports go into the first store: nothing
/// is doubled.
pub async fn exports_give_the_same_events(records: &[serde_json::Value]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let trail = dir.path().join("trail.json");
    let body = format!(
        "{{\"Records\":[{}]}}",
        records
            .iter()
            .map(|r| serde_json::to_string(r).expect("JSON"))
            .collect::<Vec<_>>()
            .join(",")
    );
    std::fs::write(&trail, body).expect("written");
    let base_pool = cairn::db::connect(&dir.path().join("base.db"))
        .await
        .expect("opens");
    let s = import(&base_pool, std::slice::from_ref(&trail)).await;
    assert_eq!(
        (s.records_rejected, s.shapes.cloudtrail),
        (0, records.len() as u64),
        "{s:?}"
    );
    let base = stored_events(&base_pool).await;
    let base_records = stored_records(&base_pool).await;
    assert!(!base.is_empty());
    let mut all = Vec::new();
    for (shape, files) in exports_of(records) {
        let folder = dir.path().join(shape);
        std::fs::create_dir_all(&folder).expect("a folder");
        for (name, bytes) in &files {
            std::fs::write(folder.join(name), bytes).expect("written");
        }
        all.push(folder.clone());
        let pool = cairn::db::connect(&dir.path().join(format!("{shape}.db")))
            .await
            .expect("opens");
        let s = import(&pool, std::slice::from_ref(&folder)).await;
        assert_eq!(
            (
                s.records_rejected,
                s.files_rejected.len(),
                s.records_partial
            ),
            (0, 0, 0),
            "{shape}: {s:?}"
        );
        let counted = serde_json::to_value(&s.shapes).expect("JSON")[shape].as_u64();
        assert_eq!(
            counted,
            Some(records.len() as u64),
            "{shape}: {:?}",
            s.shapes
        );
        assert_eq!(s.events_new as usize, base.len(), "{shape}");
        let events = stored_events(&pool).await;
        for (id, row) in &base {
            assert_eq!(events.get(id), Some(row), "{shape}: event {id}");
        }
        // The record kept is CloudTrail's, not the export's: the same bytes where the
        // export kept the record as text, the same JSON where Logstash took it apart.
        let back = stored_records(&pool).await;
        for (id, original) in &base_records {
            let got = &back[id];
            if shape == "logstash" {
                let a: serde_json::Value = serde_json::from_slice(got).expect("JSON");
                let b: serde_json::Value = serde_json::from_slice(original).expect("JSON");
                assert_eq!(a, b, "{shape}: record {id}");
            } else {
                assert_eq!(got, original, "{shape}: record {id}");
            }
        }
        pool.close().await;
    }
    // Exports of events the trail already delivered are the same events.
    let s = import(&base_pool, &all).await;
    assert_eq!(
        (s.events_new, s.events_duplicate),
        (0, 3 * base.len() as u64),
        "{s:?}"
    );
    assert_eq!(stored_events(&base_pool).await, base);
    base_pool.close().await;
}

/// The records of generated delivery file `j` of `spec`.
pub fn demo_records(spec: &cairn::demo::DemoSpec, j: u64) -> Vec<serde_json::Value> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&spec.file_body(j)[..])
        .read_to_string(&mut text)
        .expect("a generated file is gzip");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("a generated file is JSON");
    match v["Records"].take() {
        serde_json::Value::Array(records) => records,
        other => panic!("a delivery file holds Records: {other}"),
    }
}
