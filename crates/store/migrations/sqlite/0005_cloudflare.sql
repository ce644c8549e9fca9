-- Cloudflare-Images-compatible accounts. An account's images are objects in its bucket
-- (the image id is the object key); these tables hold what the Images API says about
-- them: metadata, access, drafts of direct creator uploads, variants, signing keys and
-- the hashed bearer tokens that may call the API.
CREATE TABLE cf_accounts (
    account_id        TEXT PRIMARY KEY,
    account_hash      TEXT NOT NULL UNIQUE,
    bucket            TEXT NOT NULL,
    flexible_variants INTEGER NOT NULL DEFAULT 0,
    created_ms        BIGINT NOT NULL
);

-- Only the SHA-256 of a token is kept; the token itself is shown once, at creation.
CREATE TABLE cf_tokens (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    name         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX cf_tokens_by_account ON cf_tokens (account_id);

-- state: 'ready' (the object exists), 'draft' (a direct upload not yet made) or
-- 'uploading' (a direct upload claimed its one use and is streaming).
CREATE TABLE cf_images (
    account_id        TEXT NOT NULL,
    image_id          TEXT NOT NULL,
    filename          TEXT NOT NULL DEFAULT '',
    meta              TEXT NOT NULL DEFAULT '{}',
    require_signed    INTEGER NOT NULL DEFAULT 0,
    creator           TEXT,
    uploaded_ms       BIGINT NOT NULL,
    state             TEXT NOT NULL,
    upload_sha256     TEXT UNIQUE,
    upload_expires_ms BIGINT,
    PRIMARY KEY (account_id, image_id)
);
CREATE INDEX cf_images_by_time ON cf_images (account_id, uploaded_ms, image_id);

CREATE TABLE cf_variants (
    account_id           TEXT NOT NULL,
    name                 TEXT NOT NULL,
    fit                  TEXT NOT NULL,
    width                INTEGER,
    height               INTEGER,
    metadata             TEXT NOT NULL,
    never_require_signed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE cf_keys (
    account_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);
