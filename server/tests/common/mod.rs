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
            .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
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
        let q = to.split_once('?').map_or("", |(_, q)| q).split('#').next().unwrap_or("");
        url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
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
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "cairn serve did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Served {
            child,
            base: format!("http://{addr}"),
            addr,
        }
    }

    /// One request; a form post carries the site's own `Origin`.
    pub fn request(&self, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Reply {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.addr).expect("the server answers");
        s.set_read_timeout(Some(std::time::Duration::from_secs(60))).expect("a timeout");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
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
            status: head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0),
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

