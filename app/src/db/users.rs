//! The `users` table: every read and write of it. Password hashing and the rules on
//! names, passwords and the last admin are the server's (`access::users`); this module
//! only stores and finds.

use crate::auth::{Role, User};
use crate::model::UserEntry;
use sqlx::{SqliteConnection, SqlitePool};

/// Everyone, by name, for the Admin page and `cairn user list`.
pub async fn list(pool: &SqlitePool) -> Result<Vec<UserEntry>, sqlx::Error> {
    let rows = sqlx::query_as::<_, (String, String, i64, Option<i64>, bool)>(
        "SELECT name, role, created_at, last_login_at, oidc_subject IS NOT NULL
         FROM users ORDER BY name COLLATE NOCASE",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, role, created_at, last_login_at, single_sign_on)| UserEntry {
            name,
            role,
            created_at,
            last_login_at,
            single_sign_on,
        })
        .collect())
}

fn to_user((id, name, role): (i64, String, String)) -> Option<User> {
    Some(User {
        id,
        name,
        role: Role::parse(&role)?,
    })
}

/// Whether anyone can sign in yet.
pub async fn any(pool: &SqlitePool) -> Result<bool, sqlx::Error> {
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
    Ok(row.and_then(to_user))
}

/// What signing in as `name` is checked against: the user, the password hash and the
/// auth version.
pub async fn credentials(
    pool: &SqlitePool,
    name: &str,
) -> Result<Option<(User, String, i64)>, sqlx::Error> {
    let row = sqlx::query_as::<_, (i64, String, String, String, i64)>(
        "SELECT id, name, role, password_hash, auth_version FROM users WHERE name = ?1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(id, name, role, hash, version)| {
        to_user((id, name, role)).map(|u| (u, hash, version))
    }))
}

/// The user an identity provider's `(issuer, subject)` belongs to, with the auth version.
pub async fn by_subject(
    conn: &mut SqliteConnection,
    issuer: &str,
    subject: &str,
) -> Result<Option<(User, i64)>, sqlx::Error> {
    let row = sqlx::query_as::<_, (i64, String, String, i64)>(
        "SELECT id, name, role, auth_version FROM users WHERE oidc_issuer = ?1 AND oidc_subject = ?2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(id, name, role, version)| to_user((id, name, role)).map(|u| (u, version))))
}

/// Whether a user other than `id` goes by `name`.
pub async fn name_taken(
    conn: &mut SqliteConnection,
    name: &str,
    id: Option<i64>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1 AND id IS NOT ?2)",
    )
    .bind(name)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Adds a user who signs in through an identity provider (no local password); `None`
/// when the name is taken.
pub async fn insert_single_sign_on(
    conn: &mut SqliteConnection,
    name: &str,
    role: Role,
    issuer: &str,
    subject: &str,
    at: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (name, role, password_hash, created_at, updated_at, oidc_issuer, oidc_subject)
         VALUES (?1, ?2, '', ?3, ?3, ?4, ?5)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(at)
    .bind(issuer)
    .bind(subject)
    .fetch_optional(conn)
    .await
}

/// Renames a user (whose sessions go on: the name is not what they are known by).
pub async fn write_name(
    conn: &mut SqliteConnection,
    id: i64,
    name: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET name = ?2, updated_at = ?3 WHERE id = ?1")
        .bind(id)
        .bind(name)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Changes a user's role by id and ends their sessions; the new auth version.
pub async fn write_role_of(
    conn: &mut SqliteConnection,
    id: i64,
    role: Role,
    at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "UPDATE users SET role = ?2, auth_version = auth_version + 1, updated_at = ?3
         WHERE id = ?1 RETURNING auth_version",
    )
    .bind(id)
    .bind(role.as_str())
    .bind(at)
    .fetch_one(conn)
    .await
}

/// Ends every session of a user (their access was taken away elsewhere).
pub async fn end_sessions(conn: &mut SqliteConnection, id: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET auth_version = auth_version + 1, updated_at = ?2 WHERE id = ?1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Notes a sign-in's time.
pub async fn write_sign_in(
    conn: &mut SqliteConnection,
    id: i64,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_login_at = ?2 WHERE id = ?1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds a user; `None` when the name is taken.
pub async fn insert(
    conn: &mut SqliteConnection,
    name: &str,
    role: Role,
    hash: &str,
    at: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(hash)
    .bind(at)
    .fetch_optional(conn)
    .await
}

/// Adds the first admin, only while there is no user at all (one statement, so two
/// racing set-ups cannot both win); `None` when someone exists already.
pub async fn insert_first_admin(
    conn: &mut SqliteConnection,
    name: &str,
    hash: &str,
    at: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (name, role, password_hash, created_at, updated_at)
         SELECT ?1, 'admin', ?2, ?3, ?3 WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING id",
    )
    .bind(name)
    .bind(hash)
    .bind(at)
    .fetch_optional(conn)
    .await
}

/// Whether `name` is an admin, and how many admins there are.
pub async fn admin_count(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<(bool, i64), sqlx::Error> {
    let (is_admin, admins) = sqlx::query_as::<_, (i64, i64)>(
        "SELECT coalesce((SELECT role = 'admin' FROM users WHERE name = ?1), 0),
                (SELECT count(*) FROM users WHERE role = 'admin')",
    )
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok((is_admin == 1, admins))
}

/// Changes a role and ends the user's sessions; the number of users changed (0 or 1).
pub async fn write_role(
    conn: &mut SqliteConnection,
    name: &str,
    role: Role,
    at: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE users SET role = ?2, auth_version = auth_version + 1, updated_at = ?3 WHERE name = ?1",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Sets a password hash and ends the user's sessions; the number of users changed.
pub async fn write_password(
    conn: &mut SqliteConnection,
    name: &str,
    hash: &str,
    at: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE users SET password_hash = ?2, auth_version = auth_version + 1, updated_at = ?3 WHERE name = ?1",
    )
    .bind(name)
    .bind(hash)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Removes a user; the number removed.
pub async fn delete(conn: &mut SqliteConnection, name: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM users WHERE name = ?1")
        .bind(name)
        .execute(conn)
        .await?
        .rows_affected())
}
