-- Identity: accounts, workspace memberships with a role, API tokens, sessions, and the
-- append-only, hash-chained audit trail. Times are epoch milliseconds (UTC). Secrets are never
-- stored: passwords as argon2id PHC strings, tokens and session ids as SHA-256 hex digests.

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    password_hash  TEXT,                      -- argon2id PHC string; NULL: no local password
    oidc_issuer    TEXT,                      -- the OpenID provider that vouches for it, with
    oidc_subject   TEXT,                      -- its `sub` claim (NULL: a local account)
    created_at     INTEGER NOT NULL,
    disabled_at    INTEGER,                   -- NULL: active
    UNIQUE (oidc_issuer, oidc_subject)
);

CREATE TABLE memberships (
    workspace   TEXT NOT NULL REFERENCES workspaces(id),
    account     INTEGER NOT NULL REFERENCES accounts(id),
    role        TEXT NOT NULL CHECK (role IN ('reader', 'contributor', 'analyst', 'editor', 'staffing_manager', 'admin')),
    granted_at  INTEGER NOT NULL,
    PRIMARY KEY (workspace, account)
);

CREATE TABLE api_tokens (
    id             INTEGER PRIMARY KEY,
    workspace      TEXT NOT NULL REFERENCES workspaces(id),
    account        INTEGER NOT NULL REFERENCES accounts(id),   -- who created it
    name           TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('reader', 'contributor', 'analyst', 'editor', 'staffing_manager', 'admin')),
    secret_sha256  TEXT NOT NULL UNIQUE,
    prefix         TEXT NOT NULL,             -- the first characters, to recognise it in a list
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER,
    revoked_at     INTEGER,
    first_used_at  INTEGER
);

CREATE TABLE sessions (
    secret_sha256  TEXT PRIMARY KEY NOT NULL,
    account        INTEGER NOT NULL REFERENCES accounts(id),
    csrf           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    client         TEXT
);
CREATE INDEX sessions_account ON sessions (account);

-- The audit trail: row n stores the hash of row n-1 and its own hash over that and its
-- canonical content, so a removed or altered row breaks the chain (`vigie audit verify`).
-- audit_head holds the last seq and hash: the writing transaction takes it with an UPDATE,
-- which orders appends across writers and lets a removed last row be detected too.
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    workspace  TEXT,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    client     TEXT,
    detail     TEXT NOT NULL,                 -- JSON object (reason, before/after digests)
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_workspace_at ON audit (workspace, at);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
