//! The real router on a free port: status codes, access control and HTML as a browser
//! gets them.

use app::auth::Role;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    head: String,
    body: String,
    /// The body as sent (still chunked, compressed when asked for).
    bytes: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
    /// The session cookie this answer sets, as `name=value`.
    fn session(&self) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !k.eq_ignore_ascii_case("set-cookie") {
                return None;
            }
            let pair = v.trim().split(';').next()?.to_owned();
            pair.starts_with("cairn_session=").then_some(pair)
        })
    }
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    // A hung answer fails the test with the request that hung, instead of hanging it.
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        send(addr, method, path, cookie, headers, body),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer within 20 s to {method} {path}"))
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |i| i + 4);
    let bytes = buf[split..].to_vec();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        bytes,
    }
}

async fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Reply {
    request(addr, "GET", path, cookie, &[], "").await
}

/// A GET that follows one redirect within the site, as a browser would.
async fn get_following(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Reply {
    let r = get(addr, path, cookie).await;
    match r.header("location") {
        Some(to) if r.status == 303 && to.starts_with('/') && !to.starts_with("/login") => {
            get(addr, &to, cookie).await
        }
        _ => r,
    }
}

/// A form post from the dashboard's own pages.
async fn post_form(addr: SocketAddr, path: &str, cookie: Option<&str>, body: &str) -> Reply {
    let origin = format!("http://{addr}");
    let headers = [
        ("Origin", origin.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    request(addr, "POST", path, cookie, &headers, body).await
}

async fn start(db: &std::path::Path, site: &std::path::Path) -> SocketAddr {
    let config = cairn::web::WebConfig {
        secrets: Some(cairn::sync::secrets::SecretBox::for_db(db).unwrap()),
        ..Default::default()
    };
    start_with(db, site, config).await
}

async fn start_with(
    db: &std::path::Path,
    site: &std::path::Path,
    config: cairn::web::WebConfig,
) -> SocketAddr {
    // The server's warnings and errors go with the output of the test that fails.
    // `CAIRN_TEST_LOG` (a `RUST_LOG`-style filter) says more.
    let filter = std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
    let pool = cairn::db::connect(db).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = cairn::web::router(pool, addr, site, &config).await.unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

async fn add_user(db: &std::path::Path, name: &str, role: Role) {
    let pool = cairn::db::connect(db).await.unwrap();
    let line = app::db::audit::AuditLine::new(Some("test"), "user.add", "shell").target(name);
    cairn::access::users::create(&pool, name, role, "a long enough password", &line)
        .await
        .unwrap();
    pool.close().await;
}

/// Signs in; returns the session cookie.
async fn sign_in(addr: SocketAddr, name: &str) -> String {
    let r = post_form(
        addr,
        "/auth/login",
        None,
        &format!("name={name}&password=a+long+enough+password"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.head);
    assert_eq!(r.header("location").as_deref(), Some("/"), "{}", r.head);
    r.session().expect("a session cookie")
}

fn site_dir(tmp: &tempfile::TempDir) -> std::path::PathBuf {
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_answer_with_the_right_status() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    add_user(&db, "ana", Role::Viewer).await;
    let addr = start(&db, &site).await;
    let c = sign_in(addr, "ana").await;
    let c = Some(c.as_str());

    let r = get(addr, "/healthz", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Metrics for Prometheus, without signing in.
    let r = get(addr, "/metrics", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains("# TYPE cairn_events_stored gauge\ncairn_events_stored 0\n"),
        "{}",
        r.body
    );

    // An empty store says how to get data in.
    let r = get(addr, "/", c).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("No events yet") && r.body.contains("cairn import"),
        "{}",
        r.body
    );

    // Bad query values fall back to defaults instead of failing.
    for q in [
        "/?range=bogus",
        "/?from=yesterday&to=%3Cscript%3E",
        "/?before=-1",
        "/?before=99999999999999999999999",
    ] {
        assert_eq!(get_following(addr, q, c).await.status, 200, "{q}");
    }
    // What a GET form sends without JavaScript lands on the canonical link.
    for (asked, canonical) in [
        ("/?range=7d&q=&access=&principal=&event=ConsoleLogin&event=ConsoleLogin", "/?range=7d&event=ConsoleLogin"),
        ("/?range=bogus", "/"),
        ("/principals/arn:aws:iam::1:user/a?range=all&error=&rows=50", "/principals/arn:aws:iam::1:user/a?range=all"),
        ("/?at=2021-07-28T10:00&range=all", "/?range=all&cursor=3413044541521920000"),
    ] {
        let r = get(addr, asked, c).await;
        assert_eq!(r.status, 303, "{asked}");
        assert_eq!(r.header("location").as_deref(), Some(canonical), "{asked}");
    }
    // Canonical already, or with parameters of the page's own: answered as asked.
    for q in ["/?range=7d&event=ConsoleLogin", "/?range=7d&problem=no+title", "/investigations?status=closed"] {
        assert_eq!(get(addr, q, c).await.status, 200, "{q}");
    }

    // Unknown events and pages are real 404s.
    for p in ["/events/1", "/events/not-a-number", "/no/such/page"] {
        assert_eq!(get(addr, p, c).await.status, 404, "{p}");
    }
}

/// Every page and every server function, asked anonymously, by a role below the one
/// it needs, and by one that may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_server_function_checks_the_user_and_role() {
    use app::pages::{
        address, admin, alerts, auth, costs, coverage, event, exfiltration, findings, incidents, investigations, rules, principal,
        resource,
        sources, timeline,
        top, trail_change, trails,
    };
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    add_user(&db, "root", Role::Admin).await;
    add_user(&db, "vic", Role::Viewer).await;
    let addr = start(&db, &site).await;
    let admin = sign_in(addr, "root").await;
    let viewer = sign_in(addr, "vic").await;

    // Pages: the router's own list, so a new page cannot be forgotten here.
    let public = ["/login", "/setup"];
    let admin_only = [
        "/admin/users",
        "/admin/audit",
        "/admin/sources",
        "/admin/sources/none",
        "/admin/alerts",
        "/admin/alerts/1",
    ];
    let routes: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|r| r.path().replace(":id", "1").replace("{name}", "none"))
        .collect();
    assert!(routes.len() >= 6, "{routes:?}");
    for path in &routes {
        let anon = get(addr, path, None).await;
        if public.contains(&path.as_str()) {
            continue;
        }
        assert_eq!(anon.status, 303, "anonymous {path}");
        let to = anon.header("location").unwrap_or_default();
        assert!(to.starts_with("/login"), "anonymous {path} goes to {to}");
        let as_viewer = get(addr, path, Some(&viewer)).await;
        let as_admin = get(addr, path, Some(&admin)).await;
        if admin_only.contains(&path.as_str()) {
            assert_eq!(as_viewer.status, 403, "viewer on {path}");
            assert!(
                as_viewer.body.contains(&app::error::WebError::Forbidden.to_string()),
                "viewer on {path}"
            );
            assert!(
                matches!(as_admin.status, 200 | 404),
                "admin on {path}: {}",
                as_admin.status
            );
        } else {
            assert!(
                matches!(as_viewer.status, 200 | 404),
                "viewer on {path}: {}",
                as_viewer.status
            );
        }
    }
    // Signed in, the sign-in and set-up pages lead home.
    assert_eq!(
        get(addr, "/login", Some(&viewer))
            .await
            .header("location")
            .as_deref(),
        Some("/")
    );
    assert_eq!(
        get(addr, "/setup", None)
            .await
            .header("location")
            .as_deref(),
        Some("/login")
    );

    // Server functions: every registered one must be listed here with its role.
    let qs = |v: &dyn erased::Ser| v.qs();
    let known: Vec<(&str, String, Option<Role>)> = vec![
        (
            "get_timeline",
            qs(&timeline::GetTimeline {
                query: Default::default(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_event",
            qs(&event::GetEvent { id: 1 }),
            Some(Role::Viewer),
        ),
        (
            "get_principal",
            qs(&principal::GetPrincipal {
                key: "arn:aws:iam::1:user/a".into(),
                query: String::new(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_resource",
            qs(&resource::GetResource {
                arn: "arn:aws:s3:::b".into(),
                query: String::new(),
            }),
            Some(Role::Viewer),
        ),
        ("list_users", qs(&admin::ListUsers {}), Some(Role::Admin)),
        (
            "list_investigations",
            qs(&investigations::ListInvestigations {
                status: "open".into(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_investigation",
            qs(&investigations::GetInvestigation {
                id: 1,
                view: String::new(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_held",
            qs(&address::GetHeld {
                field: "ip".into(),
                value: "203.0.113.9".into(),
                query: String::new(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_top_all",
            qs(&top::GetTopAll {
                field: "principal".into(),
                query: String::new(),
                by: None,
            }),
            Some(Role::Viewer),
        ),
        (
            "list_audit",
            qs(&admin::ListAudit { before: None }),
            Some(Role::Admin),
        ),
        (
            "get_sources",
            qs(&sources::GetSources {}),
            Some(Role::Admin),
        ),
        ("get_trails", qs(&trails::GetTrails {}), Some(Role::Viewer)),
        (
            "get_trail_history",
            qs(&trails::GetTrailHistory {
                arn: "arn:aws:cloudtrail:us-east-1:1:trail/t".into(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_integrity",
            qs(&trails::GetIntegrity {
                arn: "arn:aws:cloudtrail:us-east-1:1:trail/t".into(),
                query: String::new(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_trail_change",
            qs(&trail_change::GetTrailChange {
                arn: "arn:aws:cloudtrail:us-east-1:1:trail/t".into(),
                query: "change=logging&logging=off".into(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_recorded_by",
            qs(&event::GetRecordedBy { id: 1 }),
            Some(Role::Viewer),
        ),
        (
            "get_coverage",
            qs(&coverage::GetCoverage { query: String::new() }),
            Some(Role::Viewer),
        ),
        (
            "get_costs",
            qs(&costs::GetCosts {
                month: String::new(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_exfiltration",
            qs(&exfiltration::GetExfiltration {
                range: "7d".into(),
                by: "principal".into(),
            }),
            Some(Role::Viewer),
        ),
        (
            "list_findings",
            qs(&findings::ListFindings { query: String::new() }),
            Some(Role::Viewer),
        ),
        ("get_finding", qs(&findings::GetFinding { id: 1 }), Some(Role::Viewer)),
        ("event_matches", qs(&findings::EventMatches { id: 1 }), Some(Role::Viewer)),
        (
            "list_incidents",
            qs(&incidents::ListIncidents { from: None, to: Some("2030-01-01".into()) }),
            Some(Role::Viewer),
        ),
        ("get_incident", qs(&incidents::GetIncident { id: 1 }), Some(Role::Viewer)),
        (
            "compliance",
            qs(&findings::Compliance { query: String::new() }),
            Some(Role::Viewer),
        ),
        ("list_rules", qs(&rules::ListRules {}), Some(Role::Viewer)),
        (
            "get_rule",
            qs(&rules::GetRule {
                id: "cis-4.1".into(),
                query: "test=1".into(),
            }),
            Some(Role::Viewer),
        ),
        (
            "get_source",
            qs(&sources::GetSource {
                name: "none".into(),
            }),
            Some(Role::Admin),
        ),
        ("get_alerts", qs(&alerts::GetAlerts {}), Some(Role::Admin)),
        ("get_sign_in_options", qs(&auth::GetSignInOptions {}), None),
        ("get_destination", qs(&alerts::GetDestination { id: 1 }), Some(Role::Admin)),
    ];
    let fns: Vec<(&'static str, _)> = leptos::server_fn::axum::server_fn_paths().collect();
    assert_eq!(fns.len(), known.len(), "{fns:?}");
    for (path, _) in fns {
        let name = path.trim_start_matches("/api/");
        let (_, body, role) = known
            .iter()
            .find(|(n, _, _)| name.starts_with(n))
            .unwrap_or_else(|| {
                panic!("server function {path} is not listed in this test with the role it needs")
            });
        let call = |cookie: Option<String>| {
            let body = body.clone();
            async move { post_form(addr, path, cookie.as_deref(), &body).await }
        };
        let anon = call(None).await;
        let low = call(Some(viewer.clone())).await;
        let high = call(Some(admin.clone())).await;
        match role {
            None => assert_eq!(anon.status, 200, "{path}"),
            Some(Role::Admin) => {
                assert_eq!(anon.status, 401, "anonymous {path}");
                assert_eq!(low.status, 403, "viewer {path}");
                assert_eq!(high.status, 200, "admin {path}");
            }
            Some(_) => {
                assert_eq!(anon.status, 401, "anonymous {path}");
                assert_eq!(low.status, 200, "viewer {path}");
            }
        }
    }

    // Form endpoints: anonymous and viewer refused, and nothing changed.
    for action in ["add", "role", "password", "remove"] {
        let path = format!("/admin/users/{action}");
        let body = "name=vic&role=admin&password=another+long+password";
        assert_eq!(
            post_form(addr, &path, None, body).await.status,
            401,
            "anonymous {path}"
        );
        assert_eq!(
            post_form(addr, &path, Some(&viewer), body).await.status,
            403,
            "viewer {path}"
        );
    }
    for action in ["add", "edit", "check", "pause", "resume", "remove", "sync"] {
        let path = format!("/admin/source-actions/{action}");
        let body = "name=x&bucket=b-b-b";
        assert_eq!(
            post_form(addr, &path, None, body).await.status,
            401,
            "anonymous {path}"
        );
        assert_eq!(
            post_form(addr, &path, Some(&viewer), body).await.status,
            403,
            "viewer {path}"
        );
    }
    for action in ["add", "test", "enable", "disable", "retry", "remove"] {
        let path = format!("/admin/alert-actions/{action}");
        let body = "destination=1&name=x&kind=webhook&url=http%3A%2F%2F127.0.0.1%3A9%2F";
        assert_eq!(post_form(addr, &path, None, body).await.status, 401, "anonymous {path}");
        assert_eq!(post_form(addr, &path, Some(&viewer), body).await.status, 403, "viewer {path}");
    }
    for body in ["action=set&name=data&usd=1", "action=reset&name=data"] {
        assert_eq!(post_form(addr, "/admin/prices", None, body).await.status, 401);
        assert_eq!(
            post_form(addr, "/admin/prices", Some(&viewer), body).await.status,
            403
        );
    }
    // Exports: signed-in users only.
    for path in [
        "/export/events.csv",
        "/export/events.json?range=all",
        "/export/top/principal.csv?range=all",
    ] {
        let anon = get(addr, path, None).await;
        assert_eq!(anon.status, 303, "anonymous {path}");
        let ok = get(addr, path, Some(&viewer)).await;
        assert_eq!(ok.status, 200, "viewer {path}");
    }
    assert_eq!(
        get(addr, "/export/other.txt", Some(&viewer)).await.status,
        404
    );
    // Incident reports: signed-in users only; an incident that is not one is not found.
    for path in ["/incidents/1/report.md", "/incidents/1/report.json"] {
        assert_eq!(get(addr, path, None).await.status, 303, "anonymous {path}");
        assert_eq!(get(addr, path, Some(&viewer)).await.status, 404, "viewer {path}");
    }
    // An incident's changes: analysts and up.
    let r = post_form(addr, "/incidents/1/update", Some(&viewer), "status=closed").await;
    assert_eq!(r.status, 403);

    // The viewer's session still works: nothing above changed their account.
    assert_eq!(get(addr, "/", Some(&viewer)).await.status, 200);
}

/// Small helper so the server functions' argument structs can be encoded alike.
mod erased {
    pub trait Ser {
        fn qs(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn qs(&self) -> String {
            serde_qs::to_string(self).expect("encodes")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cross_site_posts_and_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    let addr = start(&db, &site).await;

    // First run: every page leads to the one-time set-up, which creates an admin.
    let r = get(addr, "/?range=7d", None).await;
    assert_eq!(r.header("location").as_deref(), Some("/setup"));
    assert_eq!(
        get(addr, "/login", None)
            .await
            .header("location")
            .as_deref(),
        Some("/setup")
    );
    assert_eq!(get(addr, "/setup", None).await.status, 200);
    let r = post_form(
        addr,
        "/auth/setup",
        None,
        "name=first&password=0123456789ab&confirm=0123456789ab",
    )
    .await;
    assert_eq!(r.status, 303);
    let first = r.session().expect("signed in after set-up");
    assert!(
        r.header("set-cookie")
            .unwrap_or_default()
            .contains("HttpOnly")
    );
    assert!(
        r.header("set-cookie")
            .unwrap_or_default()
            .contains("SameSite=Lax")
    );
    // A second set-up is refused.
    let r = post_form(
        addr,
        "/auth/setup",
        None,
        "name=second&password=0123456789ab&confirm=0123456789ab",
    )
    .await;
    assert_eq!(r.header("location").as_deref(), Some("/login"));

    // Headers on pages, static files and errors alike.
    for path in ["/", "/healthz", "/favicon.svg", "/login"] {
        let r = get(addr, path, Some(&first)).await;
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            r.header("referrer-policy").as_deref(),
            Some("same-origin"),
            "{path}"
        );
    }
    let page = get(addr, "/", Some(&first)).await;
    let csp = page.header("content-security-policy").unwrap_or_default();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a nonce");
    assert!(
        page.body.contains(&format!("nonce=\"{nonce}\"")),
        "hydration script carries the nonce"
    );

    // Unknown name and wrong password get the same answer.
    let unknown = post_form(
        addr,
        "/auth/login",
        None,
        "name=nobody&password=whatever+it+is",
    )
    .await;
    let wrong = post_form(
        addr,
        "/auth/login",
        None,
        "name=first&password=whatever+it+is",
    )
    .await;
    assert_eq!(unknown.header("location"), wrong.header("location"));
    assert_eq!(
        unknown.header("location").as_deref(),
        Some("/login?error=invalid")
    );

    // The session id changes at sign-in, whatever id the browser brought.
    let planted = "cairn_session=AAAAAAAAAAAAAAAAAAAAAA";
    let r = post_form(
        addr,
        "/auth/login",
        Some(planted),
        "name=first&password=0123456789ab&next=%2Fevents%2F5%3Fa%3D1%26b%3D2",
    )
    .await;
    assert_eq!(
        r.header("location").as_deref(),
        Some("/events/5?a=1&b=2"),
        "back to the deep link"
    );
    let fresh = r.session().unwrap();
    assert_ne!(fresh, planted);
    // Off-site "next" values are ignored.
    for evil in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let body = format!("name=first&password=0123456789ab&next={}", url_escape(evil));
        let r = post_form(addr, "/auth/login", None, &body).await;
        assert_eq!(r.header("location").as_deref(), Some("/"), "{evil}");
    }

    // A post from another site is refused, even with a valid session.
    let evil = [
        ("Origin", "http://evil.example"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let r = request(
        addr,
        "POST",
        "/admin/users/add",
        Some(&fresh),
        &evil,
        "name=x&role=admin&password=0123456789ab",
    )
    .await;
    assert_eq!(r.status, 403);
    let r = request(
        addr,
        "POST",
        "/auth/logout",
        Some(&fresh),
        &[("Sec-Fetch-Site", "cross-site")],
        "",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        get(addr, "/", Some(&fresh)).await.status,
        200,
        "still signed in"
    );

    // An admin adds a viewer; a role change ends that viewer's session.
    let r = post_form(
        addr,
        "/admin/users/add",
        Some(&fresh),
        "name=val&role=viewer&password=0123456789ab",
    )
    .await;
    assert_eq!(
        r.header("location").as_deref(),
        Some("/admin/users?done=added")
    );
    let val = post_form(addr, "/auth/login", None, "name=val&password=0123456789ab")
        .await
        .session()
        .unwrap();
    assert_eq!(get(addr, "/", Some(&val)).await.status, 200);
    post_form(
        addr,
        "/admin/users/role",
        Some(&fresh),
        "name=val&role=analyst",
    )
    .await;
    assert_eq!(
        get(addr, "/", Some(&val)).await.status,
        303,
        "old session ended"
    );
    // The last admin cannot be demoted.
    let r = post_form(
        addr,
        "/admin/users/role",
        Some(&fresh),
        "name=first&role=viewer",
    )
    .await;
    assert!(
        r.header("location").unwrap_or_default().contains("error="),
        "{}",
        r.head
    );

    // Sign-out ends the session on the server, not just in the browser.
    let r = post_form(addr, "/auth/logout", Some(&fresh), "").await;
    assert_eq!(r.header("location").as_deref(), Some("/login?signed_out=1"));
    assert_eq!(get(addr, "/", Some(&fresh)).await.status, 303);

    // Throttling: after five failures the right password is refused too, for a while.
    for _ in 0..5 {
        post_form(
            addr,
            "/auth/login",
            None,
            "name=first&password=not+the+password",
        )
        .await;
    }
    let r = post_form(
        addr,
        "/auth/login",
        None,
        "name=first&password=0123456789ab",
    )
    .await;
    assert!(
        r.header("location")
            .unwrap_or_default()
            .contains("error=throttled"),
        "{}",
        r.head
    );

    // The audit log saw all of it.
    let pool = cairn::db::connect(&db).await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT DISTINCT action FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    for a in [
        "user.create",
        "login",
        "login.failed",
        "login.throttled",
        "user.add",
        "user.role",
        "logout",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
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
    add_user(&db, "ana", Role::Viewer).await;
    let addr = start(&db, &site).await;
    let c = sign_in(addr, "ana").await;
    let hostile_filters = format!(
        "/?range=all&event={}&q={}",
        url_escape(payload),
        url_escape(payload)
    );
    for path in [
        "/?range=all".to_string(),
        format!("/events/{id}"),
        "/principals/arn:aws:iam::111122223333:user/x?range=all".to_string(),
        format!(
            "{}?range=all",
            app::fmt::resource_href(&format!("arn:aws:s3:::{payload}"))
        ),
        hostile_filters,
        format!("{}?range=all", app::fmt::ip_href(payload)),
        "/top/user_agent?range=all".to_string(),
        "/top/error?range=all".to_string(),
        format!("/?from={}&to=2024-01-02", url_escape(payload)),
    ] {
        let r = get_following(addr, &path, Some(&c)).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            !r.body.contains("<script>alert(1)"),
            "{path} renders event content as HTML"
        );
        assert!(
            !r.body.contains("<img src=x"),
            "{path} renders event content as HTML"
        );
        assert!(
            r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: payload not shown as text"
        );
    }
    // A range that cannot be read is said, and what was typed is kept, as text.
    let r = get(addr, &format!("/?from={}&to=2024-01-02", url_escape(payload)), Some(&c)).await;
    assert_eq!(r.status, 200, "not redirected away");
    assert!(r.body.contains("The time range could not be read."));
    assert!(r.body.contains("value=\"&lt;/title&gt;&lt;/textarea&gt;&lt;script&gt;alert(1)"), "the typed value stays");
}

/// Every view page finishes its answer, also when many are asked for at once: each page
/// many times over, eight at a time. (Each page's resources are made outside its
/// Suspense, and a render still going after `hedge::STALL` gets a second one beside it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_pages_always_finish_their_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    let file = tmp.path().join("events.json");
    let records: Vec<serde_json::Value> = (0..40)
        .map(|i| {
            serde_json::json!({
                "eventVersion": "1.08", "eventTime": format!("2024-01-01T00:{i:02}:00Z"),
                "eventSource": "s3.amazonaws.com",
                "eventName": if i % 2 == 0 { "GetObject" } else { "PutBucketPolicy" },
                "awsRegion": "us-east-1", "sourceIPAddress": format!("10.0.0.{}", i % 4),
                "userAgent": "aws-cli/2", "eventID": format!("00000000-0000-4000-8000-{i:012}"),
                "recipientAccountId": "111122223333", "readOnly": i % 2 == 0,
                "userIdentity": {"type": "IAMUser", "userName": "x", "accountId": "111122223333",
                    "arn": "arn:aws:iam::111122223333:user/x"},
                "requestParameters": {"bucketName": "b"},
                "resources": [{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]
            })
        })
        .collect();
    std::fs::write(&file, serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap()).unwrap();
    let pool = cairn::db::connect(&db).await.unwrap();
    let (jobs, _) = cairn::ingest::source::walk(&[file]);
    let s = cairn::ingest::run(&pool, std::sync::Arc::new(cairn::ingest::LocalFiles), jobs, Default::default())
        .await
        .unwrap();
    assert_eq!(s.events_new, 40);
    let id: i64 = sqlx::query_scalar("SELECT max(id) FROM events").fetch_one(&pool).await.unwrap();
    pool.close().await;
    add_user(&db, "ana", Role::Viewer).await;
    let addr = start(&db, &site).await;
    let c = sign_in(addr, "ana").await;
    let pages = [
        "/?range=all".to_string(),
        format!("/events/{id}"),
        "/principals/arn:aws:iam::111122223333:user/x?range=all".to_string(),
        "/resources/arn:aws:s3:::b?range=all".to_string(),
    ];
    // Each page once on its own first: it has what this test looks for.
    for (path, mark) in pages.iter().zip(["Activity timeline", "Recorded by", "Open in the timeline", "Changes"]) {
        let r = get(addr, path, Some(&c)).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body.contains(mark), "{path} lacks {mark}");
        assert!(r.body.contains("</html>"), "{path} did not finish its page");
    }
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (pages, c) = (pages.clone(), c.clone());
        tasks.spawn(async move {
            for round in 0..25 {
                let path = &pages[(worker + round) % pages.len()];
                let r = get(addr, path, Some(&c)).await;
                assert_eq!(r.status, 200, "{path}");
                assert!(r.body.contains("</html>"), "{path} did not finish its page");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Undoes `Transfer-Encoding: chunked` on bytes.
fn dechunk_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..i]).trim().to_string();
        let n = usize::from_str_radix(&size, 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let tail = &rest[i + 2..];
        out.extend_from_slice(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

/// Undoes `Transfer-Encoding: chunked`.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_stream_exactly_the_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    let file = tmp.path().join("x.json");
    let records: Vec<serde_json::Value> = (0..5000)
        .map(|i| {
            serde_json::json!({
                "eventVersion": "1.08", "eventTime": format!("2024-01-01T{:02}:{:02}:{:02}Z", i / 3600, (i / 60) % 60, i % 60),
                "eventSource": "s3.amazonaws.com", "eventName": if i % 1000 == 7 { "DeleteBucket" } else { "GetObject" },
                "awsRegion": "us-east-1", "sourceIPAddress": "10.0.0.1",
                "userAgent": "=HYPERLINK(\"http://evil.example/\",\"click\")",
                "eventID": format!("00000000-0000-4000-8000-{i:012}"), "recipientAccountId": "111122223333",
                "errorCode": if i % 1000 == 7 { Some("AccessDenied") } else { None },
                "userIdentity": {"type": "IAMUser", "userName": "x", "arn": "arn:aws:iam::111122223333:user/x"},
                "requestParameters": {"bucketName": "b, with \"quotes\"", "key": format!("k{i}")}
            })
        })
        .collect();
    std::fs::write(
        &file,
        serde_json::to_vec(&serde_json::json!({"Records": records})).unwrap(),
    )
    .unwrap();
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
    assert_eq!(s.events_new, 5000);
    pool.close().await;
    add_user(&db, "ana", Role::Viewer).await;
    let addr = start(&db, &site).await;
    let c = sign_in(addr, "ana").await;

    // All of it, across several streamed pages, oldest first.
    let r = get(
        addr,
        "/export/events.csv?from=2024-01-01&to=2024-01-01&sort=oldest",
        Some(&c),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains("content-type: text/csv"),
        "{}",
        r.head
    );
    let csv = dechunk(&r.body);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 5001);
    assert!(lines[0].starts_with("time,account,region,event_source,event_name,principal"));
    assert!(
        lines[1].starts_with(
            "2024-01-01T00:00:00Z,111122223333,us-east-1,s3.amazonaws.com,GetObject,x,"
        )
    );
    // The formula is defused and quoted; the comma and quotes in a name are quoted.
    assert!(
        lines[1].contains(",\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"click\"\")\","),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains(
            "\"arn:aws:s3:::b, with \"\"quotes\"\" arn:aws:s3:::b, with \"\"quotes\"\"/k0\""
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[5000].starts_with("2024-01-01T01:23:19Z,"),
        "{}",
        lines[5000]
    );
    // Compressed, as every browser asks for it, the download is whole too (the stream
    // used to end early: the compressor polled it again after its end).
    for path in [
        "/export/events.csv?from=2024-01-01&to=2024-01-01&sort=oldest",
        "/export/events.json?from=2024-01-01&to=2024-01-01",
    ] {
        let z = request(addr, "GET", path, Some(&c), &[("Accept-Encoding", "gzip")], "").await;
        assert_eq!(z.status, 200, "{path}");
        assert!(
            z.head.to_ascii_lowercase().contains("content-encoding: gzip"),
            "{}",
            z.head
        );
        let mut plain = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&dechunk_bytes(&z.bytes)[..]),
            &mut plain,
        )
        .expect("a complete gzip stream");
        let whole = dechunk(&get(addr, path, Some(&c)).await.body);
        assert_eq!(plain.len(), whole.len(), "{path}");
        assert_eq!(plain, whole, "{path}");
    }

    // A filter narrows it: the five refused deletions.
    let r = get(
        addr,
        "/export/events.csv?from=2024-01-01&to=2024-01-01&error=AccessDenied",
        Some(&c),
    )
    .await;
    let csv = dechunk(&r.body);
    assert_eq!(csv.split("\r\n").filter(|l| !l.is_empty()).count(), 6);

    // JSON: the original records, in CloudTrail's own envelope.
    let r = get(
        addr,
        "/export/events.json?from=2024-01-01&to=2024-01-01&event=DeleteBucket",
        Some(&c),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&dechunk(&r.body)).expect("valid JSON");
    let recs = v["Records"].as_array().unwrap();
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0]["eventID"], "00000000-0000-4000-8000-000000004007");
    assert_eq!(
        recs[0]["userAgent"],
        "=HYPERLINK(\"http://evil.example/\",\"click\")"
    );
    // Nothing selected: an empty but valid document.
    let r = get(
        addr,
        "/export/events.json?from=2020-01-01&to=2020-01-01",
        Some(&c),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&dechunk(&r.body)).expect("valid JSON");
    assert_eq!(v["Records"].as_array().map(Vec::len), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn investigations_are_saved_shared_edited_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    let pool = cairn::db::connect(&db).await.unwrap();
    let end = chrono::Utc::now().timestamp_millis() / 60_000 * 60_000;
    let spec = cairn::demo::DemoSpec::new(2_000, 1, 3, end);
    let jobs = spec.jobs();
    cairn::ingest::run(
        &pool,
        std::sync::Arc::new(cairn::demo::DemoSource(spec)),
        jobs,
        Default::default(),
    )
    .await
    .unwrap();
    let event_id: i64 = sqlx::query_scalar("SELECT max(id) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    add_user(&db, "ann", Role::Analyst).await;
    add_user(&db, "vic", Role::Viewer).await;
    let addr = start(&db, &site).await;
    let ann = sign_in(addr, "ann").await;
    let vic = sign_in(addr, "vic").await;

    // Viewers and strangers cannot open one.
    let form = "title=Keys+used+from+a+new+IP&notes=Started+from+alert+%2312&query=range%3D24h%26error%3D*&back=%2F";
    assert_eq!(
        post_form(addr, "/investigations/new", None, form)
            .await
            .status,
        401
    );
    assert_eq!(
        post_form(addr, "/investigations/new", Some(&vic), form)
            .await
            .status,
        403
    );
    // A title is needed: back to the form's page with the reason.
    let r = post_form(
        addr,
        "/investigations/new",
        Some(&ann),
        "title=++&query=&back=%2F%3Frange%3D7d",
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/?range=7d&problem="),
        "{}",
        r.head
    );

    let r = post_form(addr, "/investigations/new", Some(&ann), form).await;
    assert_eq!(r.status, 303, "{}", r.head);
    let at = r.header("location").unwrap();
    let id: i64 = at.trim_start_matches("/investigations/").parse().unwrap();
    // The saved view has its range fixed.
    let pool = cairn::db::connect(&db).await.unwrap();
    let query: String = sqlx::query_scalar("SELECT query FROM investigations WHERE id = ?1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        query.starts_with("from=") && query.contains("&to=") && query.ends_with("&error=*"),
        "{query}"
    );

    // Any signed-in colleague opens the same view by its link.
    let page = get(addr, &at, Some(&vic)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Keys used from a new IP"));
    assert!(page.body.contains("Started from alert #12"));
    assert!(
        page.body.contains("Error is any error"),
        "the view's filter chip"
    );
    assert!(
        !page.body.contains("/investigations/1/edit"),
        "viewers get no edit form"
    );
    let page = get(addr, &at, Some(&ann)).await;
    assert!(page.body.contains(&format!("/investigations/{id}/edit")));

    // Pin an event, edit, close: each change lands in the history.
    let pin = format!("investigation={id}&event={event_id}&back=%2Fevents%2F{event_id}");
    assert_eq!(
        post_form(addr, "/investigations/pin", Some(&vic), &pin)
            .await
            .status,
        403
    );
    let r = post_form(addr, "/investigations/pin", Some(&ann), &pin).await;
    assert_eq!(
        r.header("location").as_deref(),
        Some(&*format!("/events/{event_id}?pinned={id}"))
    );
    // The event's page says so, and offers Unpin.
    let ev = get(addr, &format!("/events/{event_id}?pinned={id}"), Some(&ann)).await;
    assert!(ev.body.contains("✓ Pinned to “Keys used from a new IP”."), "pin confirmed");
    assert!(ev.body.contains("/investigations/unpin"), "unpin offered");
    // Pinning twice changes nothing.
    post_form(addr, "/investigations/pin", Some(&ann), &pin).await;
    let bad = format!("investigation={id}&event=1&back=%2F");
    assert_eq!(
        post_form(addr, "/investigations/pin", Some(&ann), &bad)
            .await
            .status,
        404
    );
    let edit = "title=Keys+used+from+a+new+IP+%28contained%29&notes=Rotated.&status=closed";
    assert_eq!(
        post_form(
            addr,
            &format!("/investigations/{id}/edit"),
            Some(&vic),
            edit
        )
        .await
        .status,
        403
    );
    let r = post_form(
        addr,
        &format!("/investigations/{id}/edit"),
        Some(&ann),
        edit,
    )
    .await;
    assert_eq!(r.status, 303);
    let history: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, action FROM investigation_history WHERE investigation_id = ?1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let actions: Vec<&str> = history.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["opened", "pinned", "title", "notes edited", "closed"]
    );
    assert!(history.iter().all(|(who, _)| who == "ann"));
    let pinned: i64 = sqlx::query_scalar("SELECT count(*) FROM investigation_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pinned, 1);
    // Closed ones are listed apart.
    let open = get(addr, "/investigations", Some(&vic)).await;
    assert!(!open.body.contains("(contained)"));
    let closed = get(addr, "/investigations?status=closed", Some(&vic)).await;
    assert!(closed.body.contains("Keys used from a new IP (contained)"));
    // The event page offers open investigations only to those who may pin.
    let ev = get(addr, &format!("/events/{event_id}"), Some(&ann)).await;
    assert!(
        !ev.body.contains("pin-form"),
        "closed investigations are not offered"
    );
    assert_eq!(
        get(addr, "/investigations/999", Some(&vic)).await.status,
        404
    );
}

/// A change and its audit line are one transaction: when the line cannot be written, the
/// change does not happen (and the browser is told it failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_audit_line_cannot_be_written_does_not_happen() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    add_user(&db, "ann", Role::Admin).await;
    let addr = start(&db, &site).await;
    let ann = sign_in(addr, "ann").await;
    let pool = cairn::db::connect(&db).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    let lines = count("SELECT count(*) FROM audit_log").await;
    // From now on the audit log refuses every line.
    sqlx::query(
        "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log refused'); END",
    )
    .execute(&pool)
    .await
    .unwrap();

    let r = post_form(addr, "/investigations/new", Some(&ann), "title=Lost+line&query=range%3D24h&back=%2F").await;
    assert_eq!(r.status, 500, "{}", r.head);
    assert_eq!(count("SELECT count(*) FROM investigations").await, 0);
    assert_eq!(count("SELECT count(*) FROM investigation_history").await, 0);

    let r = post_form(
        addr,
        "/admin/users/add",
        Some(&ann),
        "name=bob&role=viewer&password=a+long+enough+password",
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.head);
    assert_eq!(count("SELECT count(*) FROM users WHERE name = 'bob'").await, 0);

    let r = post_form(addr, "/admin/users/role", Some(&ann), "name=ann&role=admin").await;
    assert_eq!(r.status, 500, "{}", r.head);
    // A sign-in that cannot be recorded does not happen either.
    let r = post_form(addr, "/auth/login", None, "name=ann&password=a+long+enough+password").await;
    assert_eq!(r.status, 500, "{}", r.head);
    assert!(r.session().is_none());

    let line = app::db::audit::AuditLine::new(Some("test"), "source.add", "shell");
    let secrets = cairn::sync::secrets::SecretBox::for_db(&db).unwrap();
    let spec = cairn::sync::sources::SourceSpec {
        name: "prod".into(),
        bucket: Some("trail-bucket".into()),
        backfill_days: 90,
        ..Default::default()
    };
    assert!(cairn::sync::sources::add(&pool, &secrets, spec, &line).await.is_err());
    assert_eq!(count("SELECT count(*) FROM sources").await, 0);
    assert_eq!(count("SELECT count(*) FROM audit_log").await, lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_are_set_by_admins_per_region_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    add_user(&db, "ann", Role::Admin).await;
    let addr = start(&db, &site).await;
    let ann = sign_in(addr, "ann").await;
    let r = post_form(
        addr,
        "/admin/prices",
        Some(&ann),
        "action=set&name=management_copy&region=&usd=2.5&month=2026-01",
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.head);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/costs?month=2026-01&done=price-set#cost-prices")
    );
    let r = post_form(addr, "/admin/prices", Some(&ann), "action=set&name=data&region=eu-west-1&usd=%240.12").await;
    assert_eq!(r.status, 303);
    // Refused, saying why; nothing stored.
    for (body, why) in [
        ("action=set&name=data&usd=-1", "a price is a number"),
        ("action=set&name=data&usd=NaN", "a price is a number"),
        ("action=set&name=nothing&usd=1", "no such price"),
        ("action=set&name=data&region=EU%20West&usd=1", "a Region is"),
        ("action=reset&name=network", "was not changed"),
    ] {
        let r = post_form(addr, "/admin/prices", Some(&ann), body).await;
        assert_eq!(r.status, 303, "{body}");
        let to = r.header("location").unwrap_or_default();
        let q: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(to.split_once('?').unwrap().1.split('#').next().unwrap().as_bytes())
                .into_owned()
                .collect();
        assert!(q["error"].contains(why), "{body}: {to}");
    }
    let pool = cairn::db::connect(&db).await.unwrap();
    let table = app::costs::prices(&pool).await.unwrap();
    assert_eq!(table.all.management_copy, 2.5);
    assert_eq!(table.all.data, 0.10);
    assert_eq!(table.of("eu-west-1").data, 0.12);
    assert_eq!(table.of("eu-west-1").management_copy, 2.5);
    assert_eq!(table.last_change.as_ref().and_then(|(_, by)| by.as_deref()), Some("ann"));
    let r = post_form(addr, "/admin/prices", Some(&ann), "action=reset&name=data&region=eu-west-1").await;
    assert_eq!(r.status, 303);
    assert_eq!(app::costs::prices(&pool).await.unwrap().of("eu-west-1").data, 0.10);
    let lines: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT action, target, detail FROM audit_log WHERE action LIKE 'price.%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        lines,
        [
            ("price.set".into(), "management_copy every Region".into(), "$2 → $2.5".into()),
            ("price.set".into(), "data eu-west-1".into(), "$0.1 → $0.12".into()),
            ("price.reset".into(), "data eu-west-1".into(), "$0.12 → $0.1".into()),
        ]
    );
    // The costs page shows them, and who changed them.
    let page = get(addr, "/costs", Some(&ann)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("changed by ann"), "{}", page.body);
    assert!(page.body.contains("$2.5"));
}

/// Behind a proxy: the address it forwards is the client's for the throttle and the
/// audit log, and HTTPS at the proxy makes the session cookie Secure; from anyone else
/// the same headers change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_trusted_proxies_say_who_the_client_is() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    add_user(&db, "ana", Role::Analyst).await;
    let login = |addr: SocketAddr, name: &'static str, client: &'static str, proto: &'static str| async move {
        let origin = format!("http://{addr}");
        let body = format!("name={name}&password=a+long+enough+password");
        let headers = [
            ("Origin", origin.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", client),
            ("X-Forwarded-Proto", proto),
        ];
        request(addr, "POST", "/auth/login", None, &headers, &body).await
    };
    let clients = |action: &'static str| {
        let db = db.clone();
        async move {
            let pool = cairn::db::connect(&db).await.unwrap();
            let c: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT client FROM audit_log WHERE action = ? ORDER BY client",
            )
            .bind(action)
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            c
        }
    };

    // Not trusted: the headers are ignored, the peer is the client, no Secure cookie.
    let plain = start(&db, &site).await;
    let r = login(plain, "ana", "198.51.100.7", "https").await;
    assert_eq!(r.header("location").as_deref(), Some("/"), "{}", r.head);
    let cookie = r.header("set-cookie").expect("a session cookie");
    assert!(!cookie.to_ascii_lowercase().contains("secure"), "{cookie}");
    assert_eq!(clients("login").await, vec!["127.0.0.1".to_string()]);

    // Trusted: the forwarded address and scheme count.
    let config = cairn::web::WebConfig {
        secrets: Some(cairn::sync::secrets::SecretBox::for_db(&db).unwrap()),
        trusted_proxies: cairn::access::proxy::TrustedProxies::parse("127.0.0.1/32,::1").unwrap(),
        ..Default::default()
    };
    let proxied = start_with(&db, &site, config).await;
    let r = login(proxied, "ana", "203.0.113.5, 198.51.100.7", "https").await;
    assert_eq!(r.header("location").as_deref(), Some("/"), "{}", r.head);
    let cookie = r.header("set-cookie").expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert_eq!(
        clients("login").await,
        vec!["127.0.0.1".to_string(), "198.51.100.7".to_string()]
    );
    let r = login(proxied, "ana", "198.51.100.7", "http").await;
    let cookie = r.header("set-cookie").expect("a session cookie");
    assert!(!cookie.contains("Secure"), "plain HTTP at the proxy: {cookie}");

    // The throttle counts per forwarded address: twenty failures from one client (under
    // different names) stop that client, not the next one behind the same proxy.
    for n in 0..20 {
        let name: &'static str = Box::leak(format!("nobody{n}").into_boxed_str());
        let r = login(proxied, name, "198.51.100.66", "https").await;
        assert!(r.header("location").unwrap_or_default().contains("error=invalid"), "{}", r.head);
    }
    let r = login(proxied, "ana", "198.51.100.66", "https").await;
    assert!(r.header("location").unwrap_or_default().contains("error=throttled"), "{}", r.head);
    let r = login(proxied, "ana", "198.51.100.67", "https").await;
    assert_eq!(r.header("location").as_deref(), Some("/"), "{}", r.head);
    assert_eq!(clients("login.failed").await, vec!["198.51.100.66".to_string()]);
    assert_eq!(clients("login.throttled").await, vec!["198.51.100.66".to_string()]);
}

/// How long events are kept, the oldest one kept and the last removal: on the Sources
/// page and in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sources_page_and_metrics_say_what_retention_keeps() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    add_user(&db, "root", Role::Admin).await;
    let now = chrono::Utc::now().timestamp_millis();
    let records: Vec<serde_json::Value> = (0..20i64)
        .map(|n| {
            serde_json::json!({
                "eventVersion": "1.09", "eventTime": app::fmt::iso(now - (n * 3 + 1) * 86_400_000),
                "eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "awsRegion": "us-east-1",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/ana",
                                 "accountId": "111111111111", "userName": "ana"},
                "sourceIPAddress": "192.0.2.1", "eventID": format!("10000000-0000-4000-8000-{n:012}"),
                "readOnly": true, "eventType": "AwsApiCall", "recipientAccountId": "111111111111"
            })
        })
        .collect();
    std::fs::write(tmp.path().join("f.json"), serde_json::json!({ "Records": records }).to_string()).unwrap();
    let (code, out, err) = {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("--db")
            .arg(&db)
            .args(["import", tmp.path().join("f.json").to_str().unwrap()])
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    assert_eq!(code, Some(0), "{out}{err}");
    let config = cairn::web::WebConfig {
        secrets: Some(cairn::sync::secrets::SecretBox::for_db(&db).unwrap()),
        retain_days: Some(30),
        ..Default::default()
    };
    let addr = start_with(&db, &site, config).await;
    let admin = sign_in(addr, "root").await;
    let page = get(addr, "/admin/sources", Some(&admin)).await;
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(page.body.contains("30 days: older events are removed every hour"), "{}", page.body);
    assert!(page.body.contains("Oldest kept"), "{}", page.body);
    assert!(!page.body.contains("Last removal"), "no pass yet");

    // A pass (what the server runs hourly): the events of days 31 to 58 go.
    let pool = cairn::db::connect(&db).await.unwrap();
    let policy = cairn::maintenance::retention::Policy { days: Some(30), accounts: Default::default() };
    let r = cairn::maintenance::retention::run_once(&pool, &db, &policy, Default::default())
        .await
        .unwrap();
    assert_eq!(r.removed, 10, "{r:?}");
    let page = get(addr, "/admin/sources", Some(&admin)).await;
    assert!(page.body.contains("10 events older than 30 days removed"), "{}", page.body);
    let oldest = (now - 30 * 86_400_000) / 60_000;
    let metrics = get(addr, "/metrics", None).await.body;
    assert!(metrics.contains("cairn_retention_removed_events_total 10"), "{metrics}");
    assert!(metrics.contains("cairn_retention_last_pass_success 1"), "{metrics}");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("cairn_events_oldest_timestamp_seconds "))
        .expect("the oldest event's time");
    let secs: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((secs as i64) / 60 >= oldest, "{line}: the oldest event is within 30 days");
}

/// Single sign-on's refusals that need no provider, and passwords turned off: an
/// answer with no sign-in under way is refused and logged, an unreachable provider says
/// so, the set-up page is not forced while nobody exists, and a password is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_refuses_what_it_did_not_start_and_passwords_can_be_turned_off() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_dir(&tmp);
    let db = tmp.path().join("c.db");
    cairn::db::connect(&db).await.unwrap().close().await;
    // A provider on a port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let args = |password: &str| cairn::access::oidc::SignInArgs {
        oidc_issuer: Some(issuer.clone()),
        oidc_client_id: Some("cairn".into()),
        oidc_client_secret_file: None,
        oidc_name: Some("Corp SSO".into()),
        oidc_groups_claim: "groups".into(),
        oidc_admin_groups: vec!["admins".into()],
        oidc_analyst_groups: vec![],
        oidc_viewer_groups: vec![],
        password_login: password.into(),
    };
    let config = cairn::web::WebConfig {
        sign_in: args("on").settings(Some("https://cairn.example.com")).unwrap(),
        ..Default::default()
    };
    let addr = start_with(&db, &site, config).await;

    // Nobody exists, yet the sign-in page is offered (the provider's admins can sign in);
    // the set-up page stays reachable while passwords are on.
    assert_eq!(get(addr, "/", None).await.header("location").as_deref(), Some("/login"));
    let login = get(addr, "/login", None).await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains(">Sign in with <!>Corp SSO</a>"), "{}", login.body);
    assert!(login.body.contains("login-password"));
    assert_eq!(get(addr, "/setup", None).await.status, 200);

    // The provider cannot be reached: back to the sign-in page, which says so.
    let r = get(addr, "/auth/oidc/start?next=%2Ffindings", None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/login?error=sso-unavailable"));
    let page = get(addr, "/login?error=sso-unavailable", None).await;
    assert!(page.body.contains("could not be reached"));

    // Answers for no sign-in under way: refused, logged, nobody signed in.
    for (q, why) in [
        ("code=abc&state=made-up", "matches no sign-in started in this browser"),
        ("code=abc", "the answer has no state"),
        ("error=access_denied&state=x", "matches no sign-in"),
    ] {
        let r = get(addr, &format!("/auth/oidc/callback?{q}"), None).await;
        assert_eq!(r.status, 303, "{q}");
        assert_eq!(r.header("location").as_deref(), Some("/login?error=sso-state"), "{q}");
        let pool = cairn::db::connect(&db).await.unwrap();
        let details: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'login.refused' ORDER BY id DESC LIMIT 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        assert!(details[0].starts_with("single sign-on through Corp SSO: "), "{details:?}");
        assert!(details[0].contains(why), "{q}: {details:?}");
    }

    // Passwords off: the sign-in page has no password form, a password is refused (and
    // logged), the set-up page is gone even though nobody exists.
    add_user(&db, "root", Role::Admin).await;
    let config = cairn::web::WebConfig {
        sign_in: args("off").settings(Some("https://cairn.example.com")).unwrap(),
        ..Default::default()
    };
    let off = start_with(&db, &site, config).await;
    let login = get(off, "/login", None).await;
    assert!(login.body.contains(">Sign in with <!>Corp SSO</a>"));
    assert!(!login.body.contains("login-password"), "no password field");
    assert!(login.body.contains("Sign-in with a password is turned off here."));
    let r = post_form(off, "/auth/login", None, "name=root&password=a+long+enough+password").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/login?error=password-off"));
    assert!(r.session().is_none() || get(off, "/", r.session().as_deref()).await.status == 303);
    let r = post_form(off, "/auth/setup", None, "name=eve&password=0123456789&confirm=0123456789").await;
    assert_eq!(r.header("location").as_deref(), Some("/login?error=password-off"));
    assert_eq!(get(off, "/setup", None).await.header("location").as_deref(), Some("/login"));
    let pool = cairn::db::connect(&db).await.unwrap();
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'login.refused' AND target = 'root' AND detail = 'password sign-in is off'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&pool).await.unwrap();
    pool.close().await;
    assert_eq!((refused, users), (1, 1));
    // The same server with passwords on lets root in.
    let on = start(&db, &site).await;
    sign_in(on, "root").await;
}
