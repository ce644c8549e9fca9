-- PostgreSQL twin of ../sqlite/0002_styles_settings.sql: the same tables, with every text column compared
-- bytewise (COLLATE "C", SQLite's BINARY) and every integer 64-bit.
-- Named processing styles per bucket (OSS `style/<name>`, `key!name`).
CREATE TABLE styles (
    bucket       TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    process      TEXT COLLATE "C" NOT NULL,
    modified_ms  BIGINT NOT NULL,
    PRIMARY KEY (bucket, name)
);

-- A bucket's delivery settings as one JSON document (style delimiters, delivery policy,
-- referer allow-list, cache TTL...). Stored whole so that new settings need no migration;
-- the store's BucketSettings type is the schema.
ALTER TABLE buckets ADD COLUMN settings TEXT COLLATE "C" NOT NULL DEFAULT '{}';
