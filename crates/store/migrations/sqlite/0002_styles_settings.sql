-- Named processing styles per bucket (OSS `style/<name>`, `key!name`).
CREATE TABLE styles (
    bucket       TEXT NOT NULL,
    name         TEXT NOT NULL,
    process      TEXT NOT NULL,
    modified_ms  BIGINT NOT NULL,
    PRIMARY KEY (bucket, name)
);

-- A bucket's delivery settings as one JSON document (style delimiters, delivery policy,
-- referer allow-list, cache TTL...). Stored whole so that new settings need no migration;
-- the store's BucketSettings type is the schema.
ALTER TABLE buckets ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
