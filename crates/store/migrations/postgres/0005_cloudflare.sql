-- PostgreSQL twin of ../sqlite/0005_cloudflare.sql: the same tables, with every text column compared
-- bytewise (COLLATE "C", SQLite's BINARY) and every integer 64-bit.
-- Cloudflare-Images-compatible accounts. An account's images are objects in its bucket
-- (the image id is the object key); these tables hold what the Images API says about
-- them: metadata, access, drafts of direct creator uploads, variants, signing keys and
-- the hashed bearer tokens that may call the API.
CREATE TABLE cf_accounts (
    account_id        TEXT COLLATE "C" PRIMARY KEY,
    account_hash      TEXT COLLATE "C" NOT NULL UNIQUE,
    bucket            TEXT COLLATE "C" NOT NULL,
    flexible_variants BIGINT NOT NULL DEFAULT 0,
    created_ms        BIGINT NOT NULL
);

-- Only the SHA-256 of a token is kept; the token itself is shown once, at creation.
CREATE TABLE cf_tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    token_sha256 TEXT COLLATE "C" NOT NULL UNIQUE,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX cf_tokens_by_account ON cf_tokens (account_id);

-- state: 'ready' (the object exists), 'draft' (a direct upload not yet made) or
-- 'uploading' (a direct upload claimed its one use and is streaming).
CREATE TABLE cf_images (
    account_id        TEXT COLLATE "C" NOT NULL,
    image_id          TEXT COLLATE "C" NOT NULL,
    filename          TEXT COLLATE "C" NOT NULL DEFAULT '',
    meta              TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    require_signed    BIGINT NOT NULL DEFAULT 0,
    creator           TEXT COLLATE "C",
    uploaded_ms       BIGINT NOT NULL,
    state             TEXT COLLATE "C" NOT NULL,
    upload_sha256     TEXT COLLATE "C" UNIQUE,
    upload_expires_ms BIGINT,
    PRIMARY KEY (account_id, image_id)
);
CREATE INDEX cf_images_by_time ON cf_images (account_id, uploaded_ms, image_id);

CREATE TABLE cf_variants (
    account_id           TEXT COLLATE "C" NOT NULL,
    name                 TEXT COLLATE "C" NOT NULL,
    fit                  TEXT COLLATE "C" NOT NULL,
    width                BIGINT,
    height               BIGINT,
    metadata             TEXT COLLATE "C" NOT NULL,
    never_require_signed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE cf_keys (
    account_id TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    value      TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);
