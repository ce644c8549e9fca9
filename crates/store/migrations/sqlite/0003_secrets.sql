-- Link-signing secrets (Cloudflare-style exp/sig, ixmage key, weekly HMAC). A secret with
-- no bucket is an account secret and signs links to every bucket; a bucket secret signs
-- links to that bucket only. Revoked secrets are kept so a refusal can say why.
CREATE TABLE secrets (
    id           TEXT PRIMARY KEY,
    bucket       TEXT,
    secret       TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    revoked_ms   BIGINT,
    description  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX secrets_by_bucket ON secrets (bucket);
