-- People who may use the dashboard. Names compare without case; the password is an
-- argon2id PHC string. `auth_version` goes up on every password or role change and on
-- removal, so sessions opened before the change stop working.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    password_hash TEXT    NOT NULL,
    auth_version  INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

-- The dashboard's own use: sign-ins, failed sign-ins, user and role changes, exports,
-- sharing. Append-only; `actor` is the name at the time (users can be removed).
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT,
    action  TEXT    NOT NULL,
    target  TEXT,
    detail  TEXT,
    client  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
