//! Single sign-on through an OpenID Connect provider: the authorization-code flow with
//! PKCE, `state` and `nonce`, the ID token checked against the provider's keys (fetched
//! again when a token names a key id they lack), and the user found or created by the
//! provider's subject with a role from the groups claim.
//!
//! `GET /auth/oidc/start` sends the browser to the provider; `GET /auth/oidc/callback`
//! is where it comes back. What a sign-in under way needs (its `state`, `nonce`, PKCE
//! verifier and the page to return to) is kept in the browser's session, and each is
//! used once. Every sign-in, refusal and role change is in the audit log; why a token
//! was refused is in the server's log, and the browser is told in words.
//!
//! The `openidconnect` crate does discovery, the flow and the token checks; what is ours
//! is the configuration, the session bookkeeping, the one key-set refetch, and the
//! mapping of groups to roles.

use super::users::{self, Identity, SingleSignOn};
use super::{AuthState, client_of, safe_next};
use anyhow::Context;
use app::auth::Role;
use app::error::WebError;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClientAuthMethod, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthType, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError,
    Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, StandardErrorResponse,
    StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower_sessions::Session;

/// The sign-in options of `cairn serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct SignInArgs {
    /// Single sign-on: the OpenID Connect provider's issuer URL
    /// (`https://login.example.com/realms/corp`). Its discovery document is read from
    /// ISSUER/.well-known/openid-configuration. Needs --public-url: the provider sends
    /// people back to PUBLIC_URL/auth/oidc/callback, which must be registered with it.
    #[arg(long, env = "CAIRN_OIDC_ISSUER", value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// The client id Cairn is registered under at the provider.
    #[arg(long, env = "CAIRN_OIDC_CLIENT_ID", value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// A file holding the client secret (leave out for a public client).
    #[arg(long, env = "CAIRN_OIDC_CLIENT_SECRET_FILE", value_name = "FILE")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The provider's name on the sign-in button (default: the issuer's host).
    #[arg(long, env = "CAIRN_OIDC_NAME", value_name = "NAME")]
    pub oidc_name: Option<String>,
    /// The ID token claim that lists the user's groups.
    #[arg(long, env = "CAIRN_OIDC_GROUPS_CLAIM", default_value = "groups", value_name = "CLAIM")]
    pub oidc_groups_claim: String,
    /// Groups whose members sign in as admins.
    #[arg(long, env = "CAIRN_OIDC_ADMIN_GROUPS", value_name = "GROUP,...", value_delimiter = ',')]
    pub oidc_admin_groups: Vec<String>,
    /// Groups whose members sign in as analysts.
    #[arg(long, env = "CAIRN_OIDC_ANALYST_GROUPS", value_name = "GROUP,...", value_delimiter = ',')]
    pub oidc_analyst_groups: Vec<String>,
    /// Groups whose members sign in as viewers. Someone in none of the three groups is
    /// refused; someone in several gets the highest role.
    #[arg(long, env = "CAIRN_OIDC_VIEWER_GROUPS", value_name = "GROUP,...", value_delimiter = ',')]
    pub oidc_viewer_groups: Vec<String>,
    /// Whether the sign-in page takes local passwords. `off` needs single sign-on; the
    /// shell's `cairn user` still manages users (the way in if the provider fails).
    #[arg(long, env = "CAIRN_PASSWORD_LOGIN", default_value = "on", value_parser = ["on", "off"])]
    pub password_login: String,
}

/// How people sign in, as `cairn serve` was told.
#[derive(Clone)]
pub struct SignIn {
    pub password: bool,
    pub provider: Option<Arc<Provider>>,
}

/// Says which provider, never its secret.
impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("password", &self.password)
            .field("provider", &self.provider.as_ref().map(|p| (&p.name, p.issuer.as_str())))
            .finish()
    }
}

impl Default for SignIn {
    fn default() -> Self {
        SignIn::passwords()
    }
}

impl SignIn {
    /// Passwords only (what a server without sign-in options gets).
    pub fn passwords() -> SignIn {
        SignIn {
            password: true,
            provider: None,
        }
    }

    /// What the sign-in page offers.
    pub fn options(&self) -> app::auth::SignInOptions {
        app::auth::SignInOptions {
            provider: self.provider.as_ref().map(|p| p.name.clone()),
            password: self.password,
        }
    }
}

fn groups(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|g| g.trim().to_owned())
        .filter(|g| !g.is_empty())
        .collect()
}

impl SignInArgs {
    /// Checks the options and reads the client secret. `public_url` is where people
    /// reach Cairn (the callback is under it).
    pub fn settings(&self, public_url: Option<&str>) -> anyhow::Result<SignIn> {
        let password = self.password_login == "on";
        let Some(issuer) = self.oidc_issuer.as_deref().filter(|s| !s.trim().is_empty()) else {
            if !password {
                anyhow::bail!(
                    "--password-login off needs single sign-on (--oidc-issuer): nobody could sign in"
                );
            }
            return Ok(SignIn::passwords());
        };
        let issuer = IssuerUrl::new(issuer.trim().to_owned())
            .with_context(|| format!("--oidc-issuer: {issuer:?} is not a URL"))?;
        // Tokens and the client secret cross this connection: plain HTTP only to a
        // provider on this machine's loopback (a test or development provider).
        let loopback = match issuer.url().host() {
            Some(openidconnect::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(openidconnect::url::Host::Ipv4(a)) => a.is_loopback(),
            Some(openidconnect::url::Host::Ipv6(a)) => a.is_loopback(),
            None => false,
        };
        match issuer.url().scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => anyhow::bail!(
                "--oidc-issuer must be an https address (plain http only on loopback)"
            ),
        }
        let client_id = self
            .oidc_client_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .context("--oidc-issuer needs --oidc-client-id")?;
        let public_url = public_url.context(
            "--oidc-issuer needs --public-url: the provider sends people back to \
             PUBLIC_URL/auth/oidc/callback",
        )?;
        let redirect = RedirectUrl::new(format!(
            "{}/auth/oidc/callback",
            public_url.trim_end_matches('/')
        ))
        .context("--public-url is not a URL")?;
        let secret = match &self.oidc_client_secret_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("--oidc-client-secret-file: cannot read {}", path.display())
                })?;
                let secret = text.trim();
                if secret.is_empty() {
                    anyhow::bail!("--oidc-client-secret-file: {} is empty", path.display());
                }
                Some(ClientSecret::new(secret.to_owned()))
            }
        };
        let (admin, analyst, viewer) = (
            groups(&self.oidc_admin_groups),
            groups(&self.oidc_analyst_groups),
            groups(&self.oidc_viewer_groups),
        );
        if admin.is_empty() && analyst.is_empty() && viewer.is_empty() {
            anyhow::bail!(
                "--oidc-issuer needs at least one of --oidc-admin-groups, --oidc-analyst-groups \
                 and --oidc-viewer-groups: without them nobody may sign in"
            );
        }
        let groups_claim = self.oidc_groups_claim.trim().to_owned();
        if groups_claim.is_empty() {
            anyhow::bail!("--oidc-groups-claim is empty");
        }
        let name = self
            .oidc_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or_else(|| issuer.url().host_str().map(str::to_owned))
            .unwrap_or_else(|| "single sign-on".to_owned());
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects would let a provider's answer send Cairn anywhere.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client for single sign-on")?;
        Ok(SignIn {
            password,
            provider: Some(Arc::new(Provider {
                name,
                issuer,
                client_id: ClientId::new(client_id.to_owned()),
                secret,
                redirect,
                groups_claim,
                roles: RoleGroups {
                    admin,
                    analyst,
                    viewer,
                },
                http,
                metadata: tokio::sync::Mutex::new(None),
            })),
        })
    }
}

/// Which groups give which role.
#[derive(Debug, Clone, Default)]
pub struct RoleGroups {
    pub admin: Vec<String>,
    pub analyst: Vec<String>,
    pub viewer: Vec<String>,
}

impl RoleGroups {
    /// The highest role any of `member_of` gives; `None` when none gives one.
    pub fn role(&self, member_of: &[String]) -> Option<Role> {
        let any = |list: &[String]| member_of.iter().any(|g| list.contains(g));
        if any(&self.admin) {
            Some(Role::Admin)
        } else if any(&self.analyst) {
            Some(Role::Analyst)
        } else if any(&self.viewer) {
            Some(Role::Viewer)
        } else {
            None
        }
    }
}

/// The groups in a claim's value: a list of strings, or one string. Anything else (a
/// number, an object) counts as no group.
pub fn groups_of(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The ID token's claims beyond the standard ones, where the groups claim is found by
/// the name it is configured under.
#[derive(Debug, Deserialize, Serialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for OtherClaims {}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in through the provider did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the provider's discovery document or keys could not be read: {0}")]
    Discovery(String),
    #[error("the provider has no token endpoint")]
    NoTokenEndpoint,
    #[error("the code could not be exchanged for tokens: {0}")]
    Exchange(String),
    #[error("the provider's answer has no ID token")]
    NoIdToken,
    #[error("the ID token was refused: {0}")]
    Token(#[from] ClaimsVerificationError),
}

impl OidcError {
    /// What the sign-in page says (the `error` it is sent to).
    fn page(&self) -> &'static str {
        match self {
            OidcError::Discovery(_) => "sso-unavailable",
            _ => "sso-failed",
        }
    }
}

/// Each error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// One OpenID Connect provider, its discovery document and keys kept once read.
pub struct Provider {
    /// Shown on the sign-in button and in the audit log.
    pub name: String,
    issuer: IssuerUrl,
    client_id: ClientId,
    secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    groups_claim: String,
    roles: RoleGroups,
    http: openidconnect::reqwest::Client,
    metadata: tokio::sync::Mutex<Option<CoreProviderMetadata>>,
}

/// What a verified ID token says of the person.
#[derive(Debug)]
pub struct Person {
    pub subject: String,
    pub name: String,
    pub groups: Vec<String>,
}

impl Provider {
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The discovery document and keys: read once, again when `refresh` (a token named
    /// a key the kept set lacks) or after a failure.
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        let mut slot = self.metadata.lock().await;
        if !refresh {
            if let Some(m) = slot.as_ref() {
                return Ok(m.clone());
            }
        }
        let m = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| OidcError::Discovery(chain(&e)))?;
        tracing::info!(
            issuer = %self.issuer.as_str(),
            keys = m.jwks().keys().len(),
            "read the identity provider's discovery document and keys"
        );
        *slot = Some(m.clone());
        Ok(m)
    }

    /// Reads the discovery document and keys now, so that a provider set up wrong is
    /// in the log at start-up rather than at the first sign-in.
    pub async fn discover(&self) {
        if let Err(e) = self.metadata(false).await {
            tracing::warn!(error = %e, issuer = %self.issuer.as_str(), "single sign-on is not ready yet");
        }
    }

    fn client(&self, metadata: CoreProviderMetadata) -> OidcClient {
        // Client secret in the request body only for a provider that takes it no other
        // way; HTTP Basic otherwise (the default of the standard).
        let methods = metadata.token_endpoint_auth_methods_supported().cloned();
        let basic = methods.as_ref().is_none_or(|m| {
            m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                || !m.contains(&CoreClientAuthMethod::ClientSecretPost)
        });
        let client = OidcClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            self.secret.clone(),
        )
        .set_redirect_uri(self.redirect.clone());
        if basic {
            client
        } else {
            client.set_auth_type(AuthType::RequestBody)
        }
    }

    /// Where to send the browser, and what the callback will need to check the answer.
    pub async fn begin(&self, next: String, now_ms: i64) -> Result<(String, Pending), OidcError> {
        let metadata = self.metadata(false).await?;
        let groups_scope = metadata
            .scopes_supported()
            .is_some_and(|s| s.iter().any(|s| s.as_str() == "groups"));
        let client = self.client(metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        if groups_scope {
            request = request.add_scope(Scope::new("groups".into()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                next,
                started_ms: now_ms,
            },
        ))
    }

    /// Exchanges the code and checks the ID token (signature from the provider's keys,
    /// issuer, audience, expiry, nonce). A token signed with a key id the kept keys lack
    /// gets the keys read again, once.
    pub async fn finish(&self, code: String, pending: &Pending) -> Result<Person, OidcError> {
        let client = self.client(self.metadata(false).await?);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| OidcError::NoTokenEndpoint)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Exchange(chain(&e)))?;
        let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                tracing::info!(
                    issuer = %self.issuer.as_str(),
                    "an ID token names a key the kept set lacks: reading the provider's keys again"
                );
                let fresh = self.client(self.metadata(true).await?);
                id_token.claims(&fresh.id_token_verifier(), &nonce)?
            }
            other => other?,
        };
        let subject = claims.subject().as_str().to_owned();
        let candidates = [
            claims.email().map(|e| e.as_str().to_owned()),
            claims.preferred_username().map(|u| u.as_str().to_owned()),
        ];
        let name = candidates
            .into_iter()
            .flatten()
            .find(|n| users::check_name(n).is_ok())
            .unwrap_or_else(|| {
                let s: String = subject.chars().filter(|c| !c.is_control()).take(64).collect();
                match s.trim() {
                    "" => "unnamed user".to_owned(),
                    t => t.to_owned(),
                }
            });
        let groups = groups_of(claims.additional_claims().rest.get(&self.groups_claim));
        Ok(Person {
            subject,
            name,
            groups,
        })
    }
}

/// A sign-in under way, kept in the browser's session until its callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    started_ms: i64,
}

const KEY_PENDING: &str = "oidc_pending";
/// Sign-ins under way per browser (one per tab that started one), oldest dropped.
const MAX_PENDING: usize = 4;
/// How long a started sign-in may take at the provider.
const PENDING_FOR_MS: i64 = 10 * 60 * 1000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn to_login(error: &str) -> Response {
    Redirect::to(&format!("/login?error={error}")).into_response()
}

#[derive(Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    next: String,
}

/// `GET /auth/oidc/start`: sends the browser to the provider.
pub async fn start(
    State(state): State<AuthState>,
    session: Session,
    Query(q): Query<StartQuery>,
) -> Result<Response, WebError> {
    let Some(provider) = state.sign_in.provider.clone() else {
        return Err(WebError::NotFound("single sign-on is not set up here".into()));
    };
    let next = safe_next(if q.next.is_empty() { "/" } else { &q.next });
    let (url, pending) = match provider.begin(next, now_ms()).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, provider = %provider.name, "single sign-on could not start");
            return Ok(to_login(e.page()));
        }
    };
    let mut list: Vec<Pending> = session
        .get(KEY_PENDING)
        .await
        .map_err(|e| WebError::internal("a session could not be read", e))?
        .unwrap_or_default();
    list.retain(|p| now_ms() - p.started_ms < PENDING_FOR_MS);
    list.push(pending);
    let drop = list.len().saturating_sub(MAX_PENDING);
    list.drain(..drop);
    session
        .insert(KEY_PENDING, list)
        .await
        .map_err(|e| WebError::internal("a session could not be written", e))?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/oidc/callback`: the provider's answer. The sign-in it belongs to is taken
/// out of the session first, so an answer is used once whatever happens next.
pub async fn callback(
    State(state): State<AuthState>,
    session: Session,
    req_parts: axum::http::request::Parts,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, WebError> {
    let Some(provider) = state.sign_in.provider.clone() else {
        return Err(WebError::NotFound("single sign-on is not set up here".into()));
    };
    let client = client_of(&req_parts.extensions);
    let pool = &state.pool;
    let refuse = |why: String, page: &'static str| {
        let provider = provider.clone();
        let client = client.clone();
        async move {
            tracing::warn!(provider = %provider.name, client = %client, "single sign-on refused: {why}");
            let detail = format!("single sign-on through {}: {why}", provider.name);
            let line = app::db::audit::AuditLine::new(None, "login.refused", &client).detail(&detail);
            users::note(pool, &line)
                .await
                .map_err(|e| WebError::internal("a refused sign-in could not be recorded", e))?;
            Ok::<Response, WebError>(to_login(page))
        }
    };

    let mut list: Vec<Pending> = session
        .get(KEY_PENDING)
        .await
        .map_err(|e| WebError::internal("a session could not be read", e))?
        .unwrap_or_default();
    let found = q
        .state
        .as_deref()
        .and_then(|s| list.iter().position(|p| p.state.as_bytes() == s.as_bytes()));
    let Some(index) = found else {
        let why = if q.state.is_none() {
            "the answer has no state"
        } else {
            "the answer's state matches no sign-in started in this browser (used already, or from elsewhere)"
        };
        return refuse(why.into(), "sso-state").await;
    };
    let pending = list.remove(index);
    session
        .insert(KEY_PENDING, &list)
        .await
        .map_err(|e| WebError::internal("a session could not be written", e))?;
    if now_ms() - pending.started_ms >= PENDING_FOR_MS {
        return refuse("the sign-in took more than 10 minutes".into(), "sso-state").await;
    }
    if let Some(error) = q.error.as_deref() {
        let error: String = error.chars().filter(|c| !c.is_control()).take(100).collect();
        return refuse(format!("the provider answered {error:?}"), "sso-denied").await;
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return refuse("the answer has no code".into(), "sso-failed").await;
    };
    let person = match provider.finish(code, &pending).await {
        Ok(p) => p,
        Err(e) => return refuse(e.to_string(), e.page()).await,
    };
    let role = provider.roles.role(&person.groups);
    let identity = Identity {
        provider: &provider.name,
        issuer: provider.issuer(),
        subject: &person.subject,
        name: &person.name,
    };
    match users::single_sign_on(pool, &identity, role, &client)
        .await
        .map_err(|e| WebError::internal("a single sign-on could not be recorded", e))?
    {
        SingleSignOn::SignedIn { user, version } => {
            super::signin::sign_in(&session, &user, version)
                .await
                .map_err(|e| WebError::internal("a session could not start", e))?;
            Ok(Redirect::to(&pending.next).into_response())
        }
        SingleSignOn::NoRole => Ok(to_login("sso-refused")),
        SingleSignOn::NameTaken => Ok(to_login("sso-name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SignInArgs {
        SignInArgs {
            oidc_issuer: Some("https://login.example.com/realms/corp".into()),
            oidc_client_id: Some("cairn".into()),
            oidc_client_secret_file: None,
            oidc_name: None,
            oidc_groups_claim: "groups".into(),
            oidc_admin_groups: vec!["sec-admins".into()],
            oidc_analyst_groups: vec![],
            oidc_viewer_groups: vec![" ".into()],
            password_login: "on".into(),
        }
    }

    #[test]
    fn the_highest_role_any_group_gives_wins() {
        let roles = RoleGroups {
            admin: vec!["a".into()],
            analyst: vec!["b".into(), "c".into()],
            viewer: vec!["d".into()],
        };
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(roles.role(&g(&["d", "c"])), Some(Role::Analyst));
        assert_eq!(roles.role(&g(&["d", "a"])), Some(Role::Admin));
        assert_eq!(roles.role(&g(&["d"])), Some(Role::Viewer));
        assert_eq!(roles.role(&g(&["A", "x"])), None, "names are compared exactly");
        assert_eq!(roles.role(&[]), None);
    }

    #[test]
    fn a_groups_claim_is_a_list_or_one_string() {
        use serde_json::json;
        assert_eq!(groups_of(Some(&json!(["a", 1, "b"]))), vec!["a", "b"]);
        assert_eq!(groups_of(Some(&json!("a"))), vec!["a"]);
        assert!(groups_of(Some(&json!({"a": 1}))).is_empty());
        assert!(groups_of(None).is_empty());
    }

    #[test]
    fn the_options_are_checked_before_serving() {
        let ok = args().settings(Some("https://cairn.example.com/")).unwrap();
        let p = ok.provider.unwrap();
        assert_eq!(p.name, "login.example.com");
        assert_eq!(p.redirect.as_str(), "https://cairn.example.com/auth/oidc/callback");
        assert!(p.roles.viewer.is_empty(), "blank group names are dropped");
        assert!(ok.password);

        let err = |a: SignInArgs, url: Option<&str>| a.settings(url).err().unwrap().to_string();
        assert!(err(args(), None).contains("--public-url"));
        let mut a = args();
        a.oidc_admin_groups.clear();
        assert!(err(a, Some("https://c")).contains("--oidc-admin-groups"));
        let mut a = args();
        a.oidc_client_id = None;
        assert!(err(a, Some("https://c")).contains("--oidc-client-id"));
        let mut a = args();
        a.oidc_issuer = None;
        a.password_login = "off".into();
        assert!(err(a, Some("https://c")).contains("nobody could sign in"));
        let mut a = args();
        a.oidc_client_secret_file = Some("/nonexistent/secret".into());
        assert!(err(a, Some("https://c")).contains("cannot read /nonexistent/secret"));
        for bad in ["ftp://x", "http://login.example.com", "http://10.0.0.5:8080"] {
            let mut a = args();
            a.oidc_issuer = Some(bad.into());
            assert!(err(a, Some("https://c")).contains("must be an https address"), "{bad}");
        }
        for local in ["http://localhost:9000", "http://127.0.0.1:9000/realms/x", "http://[::1]:9000"] {
            let mut a = args();
            a.oidc_issuer = Some(local.into());
            assert!(a.settings(Some("https://c")).is_ok(), "{local}");
        }
        let mut a = args();
        a.oidc_issuer = None;
        let plain = a.settings(None).unwrap();
        assert!(plain.password && plain.provider.is_none());
    }
}
