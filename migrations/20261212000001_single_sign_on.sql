-- Users who sign in through an OpenID Connect provider are known by the provider's
-- issuer and subject, which never change; their name (from `email` or
-- `preferred_username`) and role (from the groups claim) are read again at every
-- sign-in. Such a user has no local password: `password_hash` is '' and never verifies.
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_oidc ON users (oidc_issuer, oidc_subject)
    WHERE oidc_subject IS NOT NULL;
