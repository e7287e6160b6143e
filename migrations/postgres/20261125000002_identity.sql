-- Who writes: accounts, their log-in sessions and service tokens, and the Idempotency-Key
-- records of their posts. Secrets (session and service tokens) are stored as SHA-256 hashes
-- only; passwords as Argon2id PHC strings.
CREATE TABLE users (
    id            UUID PRIMARY KEY,
    -- What a person logs in with; NULL for a user known only through a host-signed token.
    handle        TEXT,
    -- lower(handle): handles are unique whatever their case.
    handle_key    TEXT UNIQUE,
    display_name  TEXT NOT NULL,
    -- user, moderator or admin.
    role          TEXT NOT NULL DEFAULT 'user',
    password_hash TEXT,
    -- A host-signed token's `iss` and `sub`: how a site's user is found again.
    issuer        TEXT,
    subject       TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (issuer, subject)
);

CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id),
    -- Sent back in every form of the session's pages.
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE service_tokens (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX service_tokens_user ON service_tokens (user_id);

-- A post made with an Idempotency-Key: the same key from the same identity returns this
-- resource instead of writing again. Written in the transaction of the post itself.
CREATE TABLE idempotency_keys (
    owner       TEXT NOT NULL,
    key         TEXT NOT NULL,
    -- SHA-256 of what was asked (route and body): the same key for another request is refused.
    fingerprint BYTEA NOT NULL,
    resource_id UUID NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner, key)
);

-- NULL for posts made before accounts existed, or with --anonymous-writes.
ALTER TABLE questions ADD COLUMN author_id UUID REFERENCES users (id);
ALTER TABLE answers ADD COLUMN author_id UUID REFERENCES users (id);
