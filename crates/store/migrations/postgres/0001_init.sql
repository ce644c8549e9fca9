-- PostgreSQL twin of ../sqlite/0001_init.sql: the same tables, with every text column compared
-- bytewise (COLLATE "C", SQLite's BINARY) and every integer 64-bit.
-- Portable SQL: only types and constructs that SQLite and PostgreSQL share.
-- Timestamps are integer milliseconds since the Unix epoch (UTC).
-- Keys compare bytewise (SQLite BINARY; PostgreSQL needs COLLATE "C"), which is S3's order.

CREATE TABLE buckets (
    name        TEXT COLLATE "C" PRIMARY KEY,
    created_ms  BIGINT NOT NULL,
    acl         TEXT COLLATE "C" NOT NULL DEFAULT 'private'
);

CREATE TABLE objects (
    bucket        TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    blob          TEXT COLLATE "C" NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT COLLATE "C" NOT NULL,
    modified_ms   BIGINT NOT NULL,
    parts_count   BIGINT,
    headers       TEXT COLLATE "C" NOT NULL,
    checksums     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (bucket, key)
);

CREATE TABLE uploads (
    upload_id     TEXT COLLATE "C" PRIMARY KEY,
    bucket        TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    initiated_ms  BIGINT NOT NULL,
    headers       TEXT COLLATE "C" NOT NULL,
    checksum_algorithm TEXT COLLATE "C"
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);

CREATE TABLE parts (
    upload_id     TEXT COLLATE "C" NOT NULL,
    part_number   BIGINT NOT NULL,
    blob          TEXT COLLATE "C" NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT COLLATE "C" NOT NULL,
    modified_ms   BIGINT NOT NULL,
    checksums     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- A blob is listed here from before its first byte is written until an object or part
-- row takes ownership of it (or it is deleted). Whatever is listed at start-up is a
-- leftover of an interrupted write or delete and is removed.
CREATE TABLE pending_blobs (
    blob        TEXT COLLATE "C" PRIMARY KEY,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE access_keys (
    access_key   TEXT COLLATE "C" PRIMARY KEY,
    secret_key   TEXT COLLATE "C" NOT NULL,
    created_ms   BIGINT NOT NULL,
    revoked_ms   BIGINT,
    description  TEXT COLLATE "C" NOT NULL DEFAULT ''
);

CREATE TABLE key_grants (
    access_key  TEXT COLLATE "C" NOT NULL,
    bucket      TEXT COLLATE "C" NOT NULL,
    permission  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (access_key, bucket)
);
