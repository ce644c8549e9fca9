-- The Telegram blob backend: one row per chunk of a blob, each chunk one document in the
-- chat. A blob's rows are written as its chunks are acknowledged, before the object row
-- that names the blob commits; the blob's `pending_blobs` entry covers them until then,
-- so the orphan sweep finds (and deletes the messages of) an interrupted write's chunks.
CREATE TABLE telegram_chunks (
    blob           TEXT NOT NULL,
    idx            INTEGER NOT NULL,
    message_id     INTEGER NOT NULL,
    file_id        TEXT NOT NULL,
    file_unique_id TEXT NOT NULL,
    size           INTEGER NOT NULL,
    PRIMARY KEY (blob, idx)
);
