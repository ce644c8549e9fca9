-- PostgreSQL twin of ../sqlite/0007_async_tasks.sql: the same tables, with every text column compared
-- bytewise (COLLATE "C", SQLite's BINARY) and every integer 64-bit.
-- Asynchronous processing tasks (OSS `x-oss-async-process`). A task is a row from the
-- moment the client is answered, so a restart never loses one. `state` is 'queued'
-- (waiting, or waiting for `run_after_ms` after the renderers were busy), 'running'
-- (claimed by this server's worker; a start-up puts such rows back to 'queued', since
-- their worker died with the previous process), 'done' or 'failed'. `claims` counts
-- claims, and a worker's finish names the claim it made, so a stale worker cannot
-- overwrite a newer run's result. Finished rows are kept for a while
-- (TASK_RETENTION_MS in tasks.rs) and then pruned. No blob is named here.
CREATE TABLE async_tasks (
    task_id        TEXT COLLATE "C" PRIMARY KEY,
    bucket         TEXT COLLATE "C" NOT NULL,
    key            TEXT COLLATE "C" NOT NULL,
    process        TEXT COLLATE "C" NOT NULL,
    -- NULL: the root key submitted it; otherwise the extra access key, whose grants
    -- are checked again when the task runs.
    access_key     TEXT COLLATE "C",
    state          TEXT COLLATE "C" NOT NULL,
    claims         BIGINT NOT NULL DEFAULT 0,
    interruptions  BIGINT NOT NULL DEFAULT 0,
    run_after_ms   BIGINT NOT NULL,
    created_ms     BIGINT NOT NULL,
    finished_ms    BIGINT,
    saved_bucket   TEXT COLLATE "C",
    saved_key      TEXT COLLATE "C",
    saved_size     BIGINT,
    error_code     TEXT COLLATE "C",
    error_message  TEXT COLLATE "C"
);
CREATE INDEX async_tasks_queue ON async_tasks (state, run_after_ms, created_ms);
CREATE INDEX async_tasks_finished ON async_tasks (finished_ms);
