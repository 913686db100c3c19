//! The real router on a free port: status codes and HTML as a browser gets them.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn start(db: &std::path::Path, site: &std::path::Path) -> SocketAddr {
    let pool = cairn::db::connect(db).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = cairn::web::router(pool, addr, site);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_answer_with_the_right_status() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let addr = start(&tmp.path().join("c.db"), &site).await;

    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");

    // An empty store says how to get data in.
    let (status, body) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("No events yet") && body.contains("cairn import"),
        "{body}"
    );

    // Bad query values fall back to defaults instead of failing.
    for q in [
        "/?range=bogus",
        "/?from=yesterday&to=%3Cscript%3E",
        "/?before=-1",
        "/?before=99999999999999999999999",
    ] {
        let (status, _) = get(addr, q).await;
        assert_eq!(status, 200, "{q}");
    }

    // Unknown events and pages are real 404s.
    for p in ["/events/1", "/events/not-a-number", "/no/such/page"] {
        let (status, _) = get(addr, p).await;
        assert_eq!(status, 404, "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let db = tmp.path().join("c.db");
    let file = tmp.path().join("hostile.json");
    let payload = r#"</title></textarea><script>alert(1)</script><img src=x onerror=alert(2)>"#;
    let rec = serde_json::json!({"Records": [{
        "eventVersion": "1.08", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": payload, "awsRegion": "us-east-1", "sourceIPAddress": payload, "userAgent": payload,
        "eventID": "11111111-2222-3333-4444-555555555555", "recipientAccountId": "111122223333",
        "errorCode": payload,
        "userIdentity": {"type": "IAMUser", "userName": payload, "arn": "arn:aws:iam::111122223333:user/x"},
        "requestParameters": {"bucketName": payload, "key": payload}
    }]});
    std::fs::write(&file, serde_json::to_vec(&rec).unwrap()).unwrap();
    let pool = cairn::db::connect(&db).await.unwrap();
    let (jobs, _) = cairn::ingest::source::walk(&[file]);
    let s = cairn::ingest::run(
        &pool,
        std::sync::Arc::new(cairn::ingest::LocalFiles),
        jobs,
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(s.events_new, 1);
    let id: i64 = sqlx::query_scalar("SELECT id FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let addr = start(&db, &site).await;
    for path in ["/?range=all".to_string(), format!("/events/{id}")] {
        let (status, body) = get(addr, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            !body.contains("<script>alert(1)"),
            "{path} renders event content as HTML"
        );
        assert!(
            !body.contains("<img src=x"),
            "{path} renders event content as HTML"
        );
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: payload not shown as text"
        );
    }
}
