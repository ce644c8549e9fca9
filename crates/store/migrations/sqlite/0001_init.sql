-- Portable SQL: only types and constructs that SQLite and PostgreSQL share.
-- Timestamps are integer milliseconds since the Unix epoch (UTC).
-- Keys compare bytewise (SQLite BINARY; PostgreSQL needs COLLATE "C"), which is S3's order.

CREATE TABLE buckets (
    name        TEXT PRIMARY KEY,
    created_ms  BIGINT NOT NULL,
    acl         TEXT NOT NULL DEFAULT 'private'
);

CREATE TABLE objects (
    bucket        TEXT NOT NULL,
    key           TEXT NOT NULL,
    blob          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    modified_ms   BIGINT NOT NULL,
    parts_count   INTEGER,
    headers       TEXT NOT NULL,
    checksums     TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);

CREATE TABLE uploads (
    upload_id     TEXT PRIMARY KEY,
    bucket        TEXT NOT NULL,
    key           TEXT NOT NULL,
    initiated_ms  BIGINT NOT NULL,
    headers       TEXT NOT NULL,
    checksum_algorithm TEXT
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);

CREATE TABLE parts (
    upload_id     TEXT NOT NULL,
    part_number   INTEGER NOT NULL,
    blob          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    modified_ms   BIGINT NOT NULL,
    checksums     TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- A blob is listed here from before its first byte is written until an object or part
-- row takes ownership of it (or it is deleted). Whatever is listed at start-up is a
-- leftover of an interrupted write or delete and is removed.
CREATE TABLE pending_blobs (
    blob        TEXT PRIMARY KEY,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE access_keys (
    access_key   TEXT PRIMARY KEY,
    secret_key   TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    revoked_ms   BIGINT,
    description  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE key_grants (
    access_key  TEXT NOT NULL,
    bucket      TEXT NOT NULL,
    permission  TEXT NOT NULL,
    PRIMARY KEY (access_key, bucket)
);
