//! Dashboard users: the rules on names and passwords, argon2id hashing, the last-admin
//! guard, and every change with its audit line in one transaction. The SQL is in
//! `app::db::users` and `app::db::audit`. Used by the web layer and by `cairn user ...`.

use app::auth::{Role, User};
use app::db::audit::{self, AuditLine};
use app::db::users as store;
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use sqlx::SqlitePool;
use std::sync::LazyLock;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user named {0:?} already exists")]
    Exists(String),
    #[error("there is no user named {0:?}")]
    NoSuchUser(String),
    #[error(
        "a name is 1 to 64 characters, with no control characters and no leading or trailing space"
    )]
    BadName,
    #[error("a password is 10 to 1024 characters")]
    BadPassword,
    #[error("this would leave no admin: keep at least one")]
    LastAdmin,
    #[error("the first admin exists already")]
    AlreadySetUp,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub const MIN_PASSWORD: usize = 10;
const MAX_PASSWORD: usize = 1024;

pub fn check_name(name: &str) -> Result<(), UserError> {
    let n = name.chars().count();
    if n == 0 || n > 64 || name.trim() != name || name.chars().any(char::is_control) {
        return Err(UserError::BadName);
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), UserError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(UserError::BadPassword);
    }
    Ok(())
}

/// Hashes on a blocking thread: argon2 is slow on purpose.
pub async fn hash_password(password: &str) -> Result<String, UserError> {
    check_password(password)?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| UserError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| UserError::Hash(e.to_string()))?
}

/// A hash of a password nobody knows, verified against when the name is unknown so that
/// an unknown name and a wrong password take the same time.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"decoy password for unknown names", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

async fn verify(password: &str, hash: Option<String>) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DECOY_HASH.clone());
        let ok = PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && known
    })
    .await
    .unwrap_or(false)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub async fn any_user(pool: &SqlitePool) -> Result<bool, sqlx::Error> {
    store::any(pool).await
}

/// The user behind a session's `(id, auth_version)`, if both still hold.
pub async fn by_session(
    pool: &SqlitePool,
    id: i64,
    version: i64,
) -> Result<Option<User>, sqlx::Error> {
    store::by_session(pool, id, version).await
}

/// Checks a name and password. `None` for an unknown name and for a wrong password
/// alike; on success the user and the session's auth version.
pub async fn authenticate(
    pool: &SqlitePool,
    name: &str,
    password: &str,
) -> Result<Option<(User, i64)>, sqlx::Error> {
    let found = store::credentials(pool, name).await?;
    // A user of single sign-on has no password (''): checked like an unknown name.
    let (user, hash) = match found {
        Some((user, hash, version)) if !hash.is_empty() => (Some((user, version)), Some(hash)),
        _ => (None, None),
    };
    if !verify(password, hash).await {
        return Ok(None);
    }
    Ok(user)
}

/// A sign-in: its time on the user, and its audit line, together.
pub async fn signed_in(
    pool: &SqlitePool,
    id: i64,
    line: &AuditLine<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    store::write_sign_in(&mut tx, id, now_ms()).await?;
    audit::write_line(&mut tx, line).await?;
    tx.commit().await
}

/// Writes an audit line that goes with no change (a refused sign-in, a sign-out).
pub async fn note(pool: &SqlitePool, line: &AuditLine<'_>) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    audit::write_line(&mut conn, line).await
}

/// Adds a user; `line` is written in the same transaction.
pub async fn create(
    pool: &SqlitePool,
    name: &str,
    role: Role,
    password: &str,
    line: &AuditLine<'_>,
) -> Result<User, UserError> {
    check_name(name)?;
    let hash = hash_password(password).await?;
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let id = store::insert(&mut tx, name, role, &hash, now_ms())
        .await?
        .ok_or_else(|| UserError::Exists(name.to_owned()))?;
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(User {
        id,
        name: name.to_owned(),
        role,
    })
}

/// Creates the first admin, only while there is no user at all; `line` is written in
/// the same transaction.
pub async fn create_first_admin(
    pool: &SqlitePool,
    name: &str,
    password: &str,
    line: &AuditLine<'_>,
) -> Result<User, UserError> {
    check_name(name)?;
    let hash = hash_password(password).await?;
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let id = store::insert_first_admin(&mut tx, name, &hash, now_ms())
        .await?
        .ok_or(UserError::AlreadySetUp)?;
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(User {
        id,
        name: name.to_owned(),
        role: Role::Admin,
    })
}

/// Fails when `name` is the last admin (whatever is about to take that away).
async fn guard_last_admin(tx: &mut sqlx::SqliteConnection, name: &str) -> Result<(), UserError> {
    let (is_admin, admins) = store::admin_count(tx, name).await?;
    if is_admin && admins <= 1 {
        return Err(UserError::LastAdmin);
    }
    Ok(())
}

/// Changes a role; sessions of that user must sign in again.
pub async fn set_role(
    pool: &SqlitePool,
    name: &str,
    role: Role,
    line: &AuditLine<'_>,
) -> Result<(), UserError> {
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    if role != Role::Admin {
        guard_last_admin(&mut tx, name).await?;
    }
    if store::write_role(&mut tx, name, role, now_ms()).await? == 0 {
        return Err(UserError::NoSuchUser(name.to_owned()));
    }
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password; every session of that user ends.
pub async fn set_password(
    pool: &SqlitePool,
    name: &str,
    password: &str,
    line: &AuditLine<'_>,
) -> Result<(), UserError> {
    let hash = hash_password(password).await?;
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    if store::write_password(&mut tx, name, &hash, now_ms()).await? == 0 {
        return Err(UserError::NoSuchUser(name.to_owned()));
    }
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn remove(pool: &SqlitePool, name: &str, line: &AuditLine<'_>) -> Result<(), UserError> {
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    guard_last_admin(&mut tx, name).await?;
    if store::delete(&mut tx, name).await? == 0 {
        return Err(UserError::NoSuchUser(name.to_owned()));
    }
    audit::write_line(&mut tx, line).await?;
    tx.commit().await?;
    Ok(())
}

/// Who the identity provider says signed in.
pub struct Identity<'a> {
    /// The provider's name, for the audit log.
    pub provider: &'a str,
    pub issuer: &'a str,
    pub subject: &'a str,
    /// The name to show (`email` or `preferred_username`).
    pub name: &'a str,
}

/// What came of a single sign-on.
#[derive(Debug)]
pub enum SingleSignOn {
    SignedIn { user: User, version: i64 },
    /// In none of the groups that give a role: refused, and a known user's sessions end.
    NoRole,
    /// A first sign-in whose name another user (a local one) has.
    NameTaken,
}

/// A sign-in through the identity provider, in one transaction with its audit lines: the
/// user is found by the provider's subject (or created), their name and role follow what
/// the provider says now, and someone the groups give no role is refused.
pub async fn single_sign_on(
    pool: &SqlitePool,
    who: &Identity<'_>,
    role: Option<Role>,
    client: &str,
) -> Result<SingleSignOn, sqlx::Error> {
    let now = now_ms();
    let mut tx = pool.begin_with(app::db::BEGIN_WRITE).await?;
    let known = store::by_subject(&mut tx, who.issuer, who.subject).await?;
    let Some(role) = role else {
        let detail = match &known {
            Some(_) => format!(
                "single sign-on through {}: in none of the groups that give a role; their sessions have ended",
                who.provider
            ),
            None => format!(
                "single sign-on through {}: in none of the groups that give a role",
                who.provider
            ),
        };
        if let Some((user, _)) = &known {
            store::end_sessions(&mut tx, user.id, now).await?;
        }
        let line = AuditLine::new(None, "login.refused", client)
            .target(who.name)
            .detail(&detail);
        audit::write_line(&mut tx, &line).await?;
        tx.commit().await?;
        return Ok(SingleSignOn::NoRole);
    };
    let (mut user, mut version) = match known {
        Some(found) => found,
        None => {
            let taken = store::name_taken(&mut tx, who.name, None).await?;
            let id = if taken {
                None
            } else {
                store::insert_single_sign_on(&mut tx, who.name, role, who.issuer, who.subject, now)
                    .await?
            };
            let Some(id) = id else {
                let detail = format!(
                    "single sign-on through {}: another user is named {:?}",
                    who.provider, who.name
                );
                let line = AuditLine::new(None, "login.refused", client)
                    .target(who.name)
                    .detail(&detail);
                audit::write_line(&mut tx, &line).await?;
                tx.commit().await?;
                return Ok(SingleSignOn::NameTaken);
            };
            let detail = format!("role {role}, from the groups claim (single sign-on through {})", who.provider);
            let line = AuditLine::new(Some(who.name), "user.create", client)
                .target(who.name)
                .detail(&detail);
            audit::write_line(&mut tx, &line).await?;
            let user = User {
                id,
                name: who.name.to_owned(),
                role,
            };
            (user, 1)
        }
    };
    if user.name != who.name && !store::name_taken(&mut tx, who.name, Some(user.id)).await? {
        store::write_name(&mut tx, user.id, who.name, now).await?;
        let detail = format!("was {:?} (single sign-on through {})", user.name, who.provider);
        let line = AuditLine::new(Some(who.name), "user.rename", client)
            .target(who.name)
            .detail(&detail);
        audit::write_line(&mut tx, &line).await?;
        user.name = who.name.to_owned();
    }
    if user.role != role {
        version = store::write_role_of(&mut tx, user.id, role, now).await?;
        let detail = format!(
            "{} → {role}, from the groups claim (single sign-on through {})",
            user.role, who.provider
        );
        let line = AuditLine::new(Some(&user.name), "user.role", client)
            .target(&user.name)
            .detail(&detail);
        audit::write_line(&mut tx, &line).await?;
        user.role = role;
    }
    store::write_sign_in(&mut tx, user.id, now).await?;
    let detail = format!("single sign-on through {}, as {role}", who.provider);
    let line = AuditLine::new(Some(&user.name), "login", client).detail(&detail);
    audit::write_line(&mut tx, &line).await?;
    tx.commit().await?;
    Ok(SingleSignOn::SignedIn { user, version })
}
