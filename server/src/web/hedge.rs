//! Pages rendered on the server are answered by the first of two renders to finish when
//! the first is slow. Rarely (about once in ten thousand renders, on a loaded machine) a
//! page's render stops making progress for good: every thread is idle, none is in SQLite
//! or waiting for its lock, and the render waits on a wake-up that never comes. A second
//! render of the same request, started beside the first after `STALL`, answers instead;
//! a page that is only slow loses nothing, since the first render goes on and whichever
//! finishes first is sent (the page cache shares one computation between the two).

use axum::body::Body;
use axum::http::{Method, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::future::Future;
use std::time::Duration;

/// How long a page renders alone before a second render starts beside it.
pub const STALL: Duration = Duration::from_secs(8);

/// Whether `GET path` is a page rendered on the server (not a server function, a
/// sign-in step, a download, a static file or a probe). Those are only read, so a second
/// render is harmless.
fn is_page(path: &str) -> bool {
    const NOT: [&str; 7] = ["/api/", "/auth/", "/export/", "/pkg/", "/healthz", "/metrics", "/admin/"];
    let admin_page = ["/admin/users", "/admin/audit", "/admin/sources", "/admin/alerts"]
        .iter()
        .any(|p| path.starts_with(p));
    // An incident's report (`/incidents/{id}/{file}`) is a download.
    let report = path.starts_with("/incidents/") && path.split('/').count() > 3;
    (admin_page || !NOT.iter().any(|p| path.starts_with(p))) && !report
}

/// The middleware: pages get a second render after `STALL`.
pub async fn pages(req: Request<Body>, next: Next) -> Response {
    if req.method() != Method::GET || !is_page(req.uri().path()) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    // A GET's body is empty: the request is its head.
    let (head, _) = req.into_parts();
    let again = head.clone();
    let first = next.clone().run(Request::from_parts(head, Body::empty()));
    hedged(STALL, first, move || next.run(Request::from_parts(again, Body::empty())), || {
        tracing::warn!(
            path,
            after_s = STALL.as_secs(),
            "a page was still rendering; a second render started beside it"
        );
    })
    .await
}

/// `first`, or, when it has not finished within `stall`, whichever of it and
/// `second()` finishes first (`on_stall` is called when the second starts).
pub async fn hedged<T, F, G>(stall: Duration, first: F, second: impl FnOnce() -> G, on_stall: impl FnOnce()) -> T
where
    F: Future<Output = T>,
    G: Future<Output = T>,
{
    let mut first = std::pin::pin!(first);
    match tokio::time::timeout(stall, first.as_mut()).await {
        Ok(done) => done,
        Err(_) => {
            on_stall();
            let second = std::pin::pin!(second());
            match futures::future::select(first, second).await {
                futures::future::Either::Left((done, _)) | futures::future::Either::Right((done, _)) => done,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A short stall, so the tests run in real time.
    const SHORT: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn a_stalled_render_is_answered_by_the_second() {
        let stalls = AtomicUsize::new(0);
        let started = std::time::Instant::now();
        let out = hedged(
            SHORT,
            std::future::pending::<&str>(),
            || async { "second" },
            || {
                stalls.fetch_add(1, Ordering::Relaxed);
            },
        )
        .await;
        assert_eq!(out, "second");
        assert_eq!(stalls.load(Ordering::Relaxed), 1);
        assert!(started.elapsed() >= SHORT);
    }

    #[tokio::test]
    async fn a_slow_render_is_not_thrown_away() {
        // The first finishes after the second began, the second never would: the first's
        // answer is sent.
        let out = hedged(
            SHORT,
            async {
                tokio::time::sleep(SHORT * 3).await;
                "first"
            },
            std::future::pending::<&str>,
            || {},
        )
        .await;
        assert_eq!(out, "first");
    }

    #[tokio::test]
    async fn a_quick_render_starts_no_second() {
        let out = hedged(
            SHORT,
            async { "first" },
            || async { panic!("no second render for a quick page") },
            || panic!("no stall"),
        )
        .await;
        assert_eq!(out, "first");
    }

    #[test]
    fn only_pages_are_rendered_twice() {
        for page in ["/", "/events/12", "/principals/arn:aws:iam::1:user/a", "/incidents/3", "/admin/sources", "/admin/users", "/trails"] {
            assert!(is_page(page), "{page}");
        }
        for other in [
            "/api/get_timeline",
            "/auth/oidc/callback",
            "/export/events.csv",
            "/pkg/cairn.js",
            "/healthz",
            "/metrics",
            "/incidents/3/report.html",
            "/admin/source-actions/add",
        ] {
            assert!(!is_page(other), "{other}");
        }
    }
}
