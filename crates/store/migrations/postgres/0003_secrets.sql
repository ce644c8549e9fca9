-- PostgreSQL twin of ../sqlite/0003_secrets.sql: the same tables, with every text column compared
-- bytewise (COLLATE "C", SQLite's BINARY) and every integer 64-bit.
-- Link-signing secrets (Cloudflare-style exp/sig, ixmage key, weekly HMAC). A secret with
-- no bucket is an account secret and signs links to every bucket; a bucket secret signs
-- links to that bucket only. Revoked secrets are kept so a refusal can say why.
CREATE TABLE secrets (
    id           TEXT COLLATE "C" PRIMARY KEY,
    bucket       TEXT COLLATE "C",
    secret       TEXT COLLATE "C" NOT NULL,
    created_ms   BIGINT NOT NULL,
    revoked_ms   BIGINT,
    description  TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX secrets_by_bucket ON secrets (bucket);
