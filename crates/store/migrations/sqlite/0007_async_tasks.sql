-- Asynchronous processing tasks (OSS `x-oss-async-process`). A task is a row from the
-- moment the client is answered, so a restart never loses one. `state` is 'queued'
-- (waiting, or waiting for `run_after_ms` after the renderers were busy), 'running'
-- (claimed by this server's worker; a start-up puts such rows back to 'queued', since
-- their worker died with the previous process), 'done' or 'failed'. `claims` counts
-- claims, and a worker's finish names the claim it made, so a stale worker cannot
-- overwrite a newer run's result. Finished rows are kept for a while
-- (TASK_RETENTION_MS in tasks.rs) and then pruned. No blob is named here.
CREATE TABLE async_tasks (
    task_id        TEXT PRIMARY KEY,
    bucket         TEXT NOT NULL,
    key            TEXT NOT NULL,
    process        TEXT NOT NULL,
    -- NULL: the root key submitted it; otherwise the extra access key, whose grants
    -- are checked again when the task runs.
    access_key     TEXT,
    state          TEXT NOT NULL,
    claims         INTEGER NOT NULL DEFAULT 0,
    interruptions  INTEGER NOT NULL DEFAULT 0,
    run_after_ms   BIGINT NOT NULL,
    created_ms     BIGINT NOT NULL,
    finished_ms    BIGINT,
    saved_bucket   TEXT,
    saved_key      TEXT,
    saved_size     BIGINT,
    error_code     TEXT,
    error_message  TEXT
);
CREATE INDEX async_tasks_queue ON async_tasks (state, run_after_ms, created_ms);
CREATE INDEX async_tasks_finished ON async_tasks (finished_ms);
