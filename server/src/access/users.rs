//! Dashboard users: argon2id password hashes in SQLite, roles, and the audit log of the
//! dashboard's own use. Used by the web layer and by `cairn user ...`.

use app::auth::{Role, User};
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

fn row_to_user((id, name, role): (i64, String, String)) -> Option<User> {
    Some(User {
        id,
        name,
        role: Role::parse(&role)?,
    })
}

pub async fn any_user(pool: &SqlitePool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(pool)
        .await
        .map(|n| n == 1)
}

/// The user behind a session's `(id, auth_version)`, if both still hold.
pub async fn by_session(
    pool: &SqlitePool,
    id: i64,
    version: i64,
) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query_as::<_, (i64, String, String)>(
        "SELECT id, name, role FROM users WHERE id = ?1 AND auth_version = ?2",
    )
    .bind(id)
    .bind(version)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(row_to_user))
}

/// Checks a name and password. `None` for an unknown name and for a wrong password
/// alike. On success, also returns the session's auth version.
pub async fn authenticate(
    pool: &SqlitePool,
    name: &str,
    password: &str,
) -> Result<Option<(User, i64)>, sqlx::Error> {
    let row = sqlx::query_as::<_, (i64, String, String, String, i64)>(
        "SELECT id, name, role, password_hash, auth_version FROM users WHERE name = ?1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let (user, hash, version) = match row {
        Some((id, name, role, hash, version)) => {
            (row_to_user((id, name, role)), Some(hash), version)
        }
        None => (None, None, 0),
    };
    if !verify(password, hash).await {
        return Ok(None);
    }
    let Some(user) = user else { return Ok(None) };
    signed_in(pool, user.id).await?;
    Ok(Some((user, version)))
}

/// Notes a sign-in's time.
pub async fn signed_in(pool: &SqlitePool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = ?2 WHERE id = ?1")
        .bind(id)
        .bind(now_ms())
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn create(
    pool: &SqlitePool,
    name: &str,
    role: Role,
    password: &str,
) -> Result<User, UserError> {
    check_name(name)?;
    let hash = hash_password(password).await?;
    let now = now_ms();
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(&hash)
    .bind(now)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| UserError::Exists(name.to_owned()))?;
    Ok(User {
        id,
        name: name.to_owned(),
        role,
    })
}

/// Creates the first admin, only while there is no user at all (one statement, so two
/// racing set-ups cannot both win).
pub async fn create_first_admin(
    pool: &SqlitePool,
    name: &str,
    password: &str,
) -> Result<User, UserError> {
    check_name(name)?;
    let hash = hash_password(password).await?;
    let now = now_ms();
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (name, role, password_hash, created_at, updated_at)
         SELECT ?1, 'admin', ?2, ?3, ?3 WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING id",
    )
    .bind(name)
    .bind(&hash)
    .bind(now)
    .fetch_optional(pool)
    .await?
    .ok_or(UserError::AlreadySetUp)?;
    Ok(User {
        id,
        name: name.to_owned(),
        role: Role::Admin,
    })
}

/// Fails when `name` is the last admin and `change` would take that away.
async fn guard_last_admin(tx: &mut sqlx::SqliteConnection, name: &str) -> Result<(), UserError> {
    let (is_admin, admins) = sqlx::query_as::<_, (i64, i64)>(
        "SELECT coalesce((SELECT role = 'admin' FROM users WHERE name = ?1), 0),
                (SELECT count(*) FROM users WHERE role = 'admin')",
    )
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    if is_admin == 1 && admins <= 1 {
        return Err(UserError::LastAdmin);
    }
    Ok(())
}

/// Changes a role; sessions of that user must sign in again.
pub async fn set_role(pool: &SqlitePool, name: &str, role: Role) -> Result<(), UserError> {
    let mut tx = pool.begin().await?;
    if role != Role::Admin {
        guard_last_admin(&mut tx, name).await?;
    }
    let n = sqlx::query(
        "UPDATE users SET role = ?2, auth_version = auth_version + 1, updated_at = ?3 WHERE name = ?1",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(UserError::NoSuchUser(name.to_owned()));
    }
    tx.commit().await?;
    Ok(())
}

/// Sets a new password; every session of that user ends.
pub async fn set_password(pool: &SqlitePool, name: &str, password: &str) -> Result<(), UserError> {
    let hash = hash_password(password).await?;
    let n = sqlx::query(
        "UPDATE users SET password_hash = ?2, auth_version = auth_version + 1, updated_at = ?3 WHERE name = ?1",
    )
    .bind(name)
    .bind(&hash)
    .bind(now_ms())
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(UserError::NoSuchUser(name.to_owned()));
    }
    Ok(())
}

pub async fn remove(pool: &SqlitePool, name: &str) -> Result<(), UserError> {
    let mut tx = pool.begin().await?;
    guard_last_admin(&mut tx, name).await?;
    let n = sqlx::query("DELETE FROM users WHERE name = ?1")
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(UserError::NoSuchUser(name.to_owned()));
    }
    tx.commit().await?;
    Ok(())
}

/// One line in the audit log. Failures to write it are logged, never hidden.
pub async fn audit(
    pool: &SqlitePool,
    actor: Option<&str>,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
    client: Option<&str>,
) {
    let r = sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, detail, client) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(now_ms())
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(detail)
    .bind(client)
    .execute(pool)
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, action, "could not write the audit log");
    }
}
