//! Durable background tasks (OSS `x-oss-async-process`): a task is committed before the
//! client is told it exists, claimed by one worker at a time, and keeps its outcome
//! (where the result was saved, or why it failed) for [`TASK_RETENTION_MS`].
//!
//! A claim is one `UPDATE … WHERE state = 'queued'`, so two workers can never run the
//! same task at once; the claim number it returns is what the worker's finish names,
//! so an outcome from an older claim is ignored. Only the server's own worker claims
//! tasks and one server serves a database (as [`Store::open`]'s clean-up already
//! assumes), so a task still `running` at start-up belonged to a process that died:
//! [`Store::recover_tasks`] queues it again, and gives up on one that has been
//! interrupted [`MAX_INTERRUPTIONS`] times (a task that kills its server must not kill
//! every restart too).
//!
//! Times are the caller's "now" (the server's clock), so the rules here are checked
//! with chosen instants.

use crate::error::{StoreError, StoreResult};
use crate::{Store, db};
use sqlx::Row;

/// How long a finished task's outcome is kept before it is pruned (7 days).
pub const TASK_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Start-ups that may find a task running before it is failed instead of run again.
pub const MAX_INTERRUPTIONS: i64 = 3;

/// What a client submits.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub id: &'a str,
    /// The source object.
    pub bucket: &'a str,
    pub key: &'a str,
    /// The whole process string, `|sys/saveas` included, as the client sent it.
    pub process: &'a str,
    /// The extra access key that submitted it; `None` for the root key.
    pub access_key: Option<&'a str>,
}

/// Where a finished task stored its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedObject {
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Queued,
    Running,
    Done(SavedObject),
    /// An OSS-style error code and a message for the client.
    Failed {
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub process: String,
    pub access_key: Option<String>,
    pub state: TaskState,
    /// How many times it was claimed; a claimed task's finish names this number.
    pub claim: i64,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
}

/// What [`Store::recover_tasks`] did at start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Running tasks of the previous process, queued again.
    pub requeued: u64,
    /// Running tasks interrupted too often, failed.
    pub given_up: u64,
}

const COUNT_UNFINISHED: &str =
    "SELECT COUNT(*) FROM async_tasks WHERE state IN ('queued', 'running')";

const COLUMNS: &str = "task_id, bucket, key, process, access_key, state, claims, created_ms, \
                       finished_ms, saved_bucket, saved_key, saved_size, error_code, error_message";

impl Store {
    /// Commits a queued task, runnable at once, unless `max_unfinished` tasks are
    /// queued or running already (`false`: nothing was queued). Finished tasks past
    /// their retention are pruned in the same transaction, so the table stays bounded
    /// by recent traffic.
    pub async fn enqueue_task(
        &self,
        task: &NewTask<'_>,
        now_ms: i64,
        max_unfinished: u64,
    ) -> StoreResult<bool> {
        let mut tx = db::begin_write(&self.db).await?;
        let unfinished: i64 = sqlx::query_scalar::<_, i64>(COUNT_UNFINISHED)
            .fetch_one(&mut *tx)
            .await?;
        if unfinished.max(0) as u64 >= max_unfinished {
            return Ok(false);
        }
        prune(&mut tx, now_ms).await?;
        sqlx::query(
            "INSERT INTO async_tasks (task_id, bucket, key, process, access_key, state, run_after_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7)",
        )
        .bind(task.id)
        .bind(task.bucket)
        .bind(task.key)
        .bind(task.process)
        .bind(task.access_key)
        .bind(now_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Tasks not finished yet (queued or running).
    pub async fn unfinished_tasks(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar::<_, i64>(COUNT_UNFINISHED)
            .fetch_one(&self.db)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Claims the oldest queued task that may run at `now_ms`, marking it running.
    pub async fn claim_task(&self, now_ms: i64) -> StoreResult<Option<Task>> {
        // The outer `state = 'queued'` matters where the subquery's choice can be raced
        // (PostgreSQL re-checks it after waiting for the row lock); SQLite runs the
        // statement under its one write lock.
        let row = sqlx::query(&format!(
            "UPDATE async_tasks SET state = 'running', claims = claims + 1 \
             WHERE state = 'queued' AND task_id = (\
                 SELECT task_id FROM async_tasks WHERE state = 'queued' AND run_after_ms <= $1 \
                 ORDER BY run_after_ms, created_ms, task_id LIMIT 1) \
             RETURNING {COLUMNS}"
        ))
        .bind(now_ms)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// Records a claimed task's result. `false`: the claim is no longer the task's
    /// (nothing changed).
    pub async fn finish_task(
        &self,
        id: &str,
        claim: i64,
        saved: &SavedObject,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let res = sqlx::query(
            "UPDATE async_tasks SET state = 'done', finished_ms = $1, saved_bucket = $2, saved_key = $3, saved_size = $4 \
             WHERE task_id = $5 AND claims = $6 AND state = 'running'",
        )
        .bind(now_ms)
        .bind(&saved.bucket)
        .bind(&saved.key)
        .bind(saved.size as i64)
        .bind(id)
        .bind(claim)
        .execute(&self.db)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Records why a claimed task failed; it is not run again.
    pub async fn fail_task(
        &self,
        id: &str,
        claim: i64,
        code: &str,
        message: &str,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let res = sqlx::query(
            "UPDATE async_tasks SET state = 'failed', finished_ms = $1, error_code = $2, error_message = $3 \
             WHERE task_id = $4 AND claims = $5 AND state = 'running'",
        )
        .bind(now_ms)
        .bind(code)
        .bind(message)
        .bind(id)
        .bind(claim)
        .execute(&self.db)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Puts a claimed task back in the queue, runnable from `run_after_ms` (the
    /// renderers were busy: the task waits its turn rather than failing).
    pub async fn requeue_task(&self, id: &str, claim: i64, run_after_ms: i64) -> StoreResult<bool> {
        let res = sqlx::query(
            "UPDATE async_tasks SET state = 'queued', run_after_ms = $1 \
             WHERE task_id = $2 AND claims = $3 AND state = 'running'",
        )
        .bind(run_after_ms)
        .bind(id)
        .bind(claim)
        .execute(&self.db)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn task(&self, id: &str) -> StoreResult<Option<Task>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM async_tasks WHERE task_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// Start-up, before the worker runs: tasks left running by a previous process are
    /// queued again (or failed after [`MAX_INTERRUPTIONS`]); old outcomes are pruned.
    pub async fn recover_tasks(&self, now_ms: i64) -> StoreResult<Recovered> {
        let mut tx = db::begin_write(&self.db).await?;
        let given_up = sqlx::query(
            "UPDATE async_tasks SET state = 'failed', finished_ms = $1, error_code = 'InternalError', \
             error_message = $2 WHERE state = 'running' AND interruptions + 1 >= $3",
        )
        .bind(now_ms)
        .bind(format!(
            "The task was interrupted by {MAX_INTERRUPTIONS} server restarts while it ran; it is not tried again."
        ))
        .bind(MAX_INTERRUPTIONS)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let requeued = sqlx::query(
            "UPDATE async_tasks SET state = 'queued', interruptions = interruptions + 1 \
             WHERE state = 'running'",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        prune(&mut tx, now_ms).await?;
        tx.commit().await?;
        Ok(Recovered { requeued, given_up })
    }
}

async fn prune(tx: &mut db::DbTx, now_ms: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM async_tasks WHERE state IN ('done', 'failed') AND finished_ms < $1")
        .bind(now_ms.saturating_sub(TASK_RETENTION_MS))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn task_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Task> {
    let state: String = row.try_get("state")?;
    let state = match state.as_str() {
        "queued" => TaskState::Queued,
        "running" => TaskState::Running,
        "done" => {
            let size: Option<i64> = row.try_get("saved_size")?;
            TaskState::Done(SavedObject {
                bucket: row
                    .try_get::<Option<String>, _>("saved_bucket")?
                    .unwrap_or_default(),
                key: row
                    .try_get::<Option<String>, _>("saved_key")?
                    .unwrap_or_default(),
                size: size.unwrap_or(0).max(0) as u64,
            })
        }
        "failed" => TaskState::Failed {
            code: row
                .try_get::<Option<String>, _>("error_code")?
                .unwrap_or_default(),
            message: row
                .try_get::<Option<String>, _>("error_message")?
                .unwrap_or_default(),
        },
        other => return Err(StoreError::Corrupt(format!("unknown task state {other:?}"))),
    };
    Ok(Task {
        id: row.try_get("task_id")?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("key")?,
        process: row.try_get("process")?,
        access_key: row.try_get("access_key")?,
        state,
        claim: row.try_get("claims")?,
        created_ms: row.try_get("created_ms")?,
        finished_ms: row.try_get("finished_ms")?,
    })
}
