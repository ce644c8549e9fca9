-- The Telegram blob backend: one row per chunk of a blob (see the SQLite twin).
CREATE TABLE telegram_chunks (
    blob           TEXT COLLATE "C" NOT NULL,
    idx            BIGINT NOT NULL,
    message_id     BIGINT NOT NULL,
    file_id        TEXT COLLATE "C" NOT NULL,
    file_unique_id TEXT COLLATE "C" NOT NULL,
    size           BIGINT NOT NULL,
    PRIMARY KEY (blob, idx)
);
