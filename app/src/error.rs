//! The one error type of the web side: what a page, a server function or a form post
//! answers when it cannot do what was asked, and the status code that goes with it.
//!
//! Server functions turn it into a `ServerFnError` with the status set on the response;
//! the server's handlers return it directly (it is an axum response). Failures on the
//! server are logged here, with their cause, and reach the browser as one opaque line.

/// Why a request was not done.
///
/// Deliberately not a `std::error::Error`: that keeps `?` in a server function on this
/// type's own conversion (which sets the status), not the generic one (which does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebError {
    /// 401: nobody is signed in.
    NotSignedIn,
    /// 403: signed in, but the role does not allow it.
    Forbidden,
    /// 403: a state-changing request a browser sent from another site.
    CrossSite,
    /// 401: a machine endpoint (metrics) without its bearer token.
    NeedsToken,
    /// 404, saying what was not found.
    NotFound(String),
    /// 400, saying what is wrong with the request.
    BadRequest(String),
    /// 503, saying why this cannot be done on this server now.
    Unavailable(String),
    /// A form's mistake (a title too long, a name taken): 303 back to the form's page
    /// with `key=message` in its query, where the page says it.
    Mistake {
        back: String,
        key: &'static str,
        message: String,
    },
    /// 500: something failed on the server (already logged, with its cause).
    Internal,
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebError::NotSignedIn => f.write_str("not signed in"),
            WebError::Forbidden => f.write_str("your role does not allow this"),
            WebError::CrossSite => f.write_str("cross-site request refused"),
            WebError::NeedsToken => f.write_str("this needs the bearer token"),
            WebError::NotFound(s) | WebError::BadRequest(s) | WebError::Unavailable(s) => {
                f.write_str(s)
            }
            WebError::Mistake { message, .. } => f.write_str(message),
            WebError::Internal => f.write_str("something failed on the server; see its log"),
        }
    }
}

/// Logs a failure on the server with its cause (the browser sees an opaque line).
fn log(what: &str, cause: impl std::fmt::Display) {
    #[cfg(feature = "ssr")]
    tracing::error!(error = %cause, "{what}");
    #[cfg(not(feature = "ssr"))]
    let _ = (what, cause.to_string());
}

impl WebError {
    /// A failure on the server: logs `what` and its cause, and answers opaquely.
    pub fn internal(what: &str, cause: impl std::fmt::Display) -> WebError {
        log(what, cause);
        WebError::Internal
    }

    /// 503: the database cannot be reached (the cause is logged).
    pub fn db_unavailable(what: &str, cause: impl std::fmt::Display) -> WebError {
        log(what, cause);
        WebError::Unavailable("database unavailable".into())
    }

    pub fn not_found(what: impl Into<String>) -> WebError {
        WebError::NotFound(what.into())
    }

    /// Back to `back` (a path of this site) saying `message` as `key`.
    pub fn mistake(back: impl Into<String>, key: &'static str, message: impl ToString) -> WebError {
        WebError::Mistake {
            back: back.into(),
            key,
            message: message.to_string(),
        }
    }

    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            WebError::NotSignedIn => S::UNAUTHORIZED,
            WebError::Forbidden | WebError::CrossSite => S::FORBIDDEN,
            WebError::NeedsToken => S::UNAUTHORIZED,
            WebError::NotFound(_) => S::NOT_FOUND,
            WebError::BadRequest(_) => S::BAD_REQUEST,
            WebError::Unavailable(_) => S::SERVICE_UNAVAILABLE,
            WebError::Mistake { .. } => S::SEE_OTHER,
            WebError::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// Where a mistake sends the browser: `back` with `key=message` added to its query.
    pub fn location(&self) -> Option<String> {
        let WebError::Mistake { back, key, message } = self else {
            return None;
        };
        // The query goes before a `#fragment`.
        let (path, fragment) = match back.split_once('#') {
            Some((p, f)) => (p, format!("#{f}")),
            None => (back.as_str(), String::new()),
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair(key, message);
        Some(format!("{path}{sep}{}{fragment}", q.finish()))
    }
}

#[cfg(feature = "ssr")]
mod server {
    use super::WebError;
    use axum::response::{IntoResponse, Redirect, Response};
    use leptos::prelude::*;

    impl IntoResponse for WebError {
        fn into_response(self) -> Response {
            match self.location() {
                Some(to) => Redirect::to(&to).into_response(),
                None => (self.status(), self.to_string()).into_response(),
            }
        }
    }

    impl From<WebError> for ServerFnError {
        /// Sets the response's status and keeps the message.
        fn from(e: WebError) -> ServerFnError {
            if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
                r.set_status(e.status());
            }
            ServerFnError::new(e.to_string())
        }
    }
}
