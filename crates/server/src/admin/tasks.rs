//! `GET /async-tasks/{id}`: what became of an OSS `x-oss-async-process` task (queued,
//! running, done with the object it saved, or failed with OSS's error code and
//! message), for as long as the task table keeps it.

use super::api_error;
use crate::kernel::ApiError;
use http::StatusCode;
use serde_json::{Value, json};
use store::Store;
use store::tasks::{Task, TaskState};

pub(super) async fn get(store: &Store, id: &str) -> Result<(StatusCode, Value), ApiError> {
    let task = store.task(id).await?.ok_or_else(|| {
        api_error(
            StatusCode::NOT_FOUND,
            "NoSuchTask",
            format!(
                "no async process task {id:?} (finished tasks are kept for {} days)",
                store::tasks::TASK_RETENTION_MS / 86_400_000
            ),
        )
    })?;
    Ok((StatusCode::OK, task_json(&task)))
}

fn task_json(t: &Task) -> Value {
    let (state, saved, error) = match &t.state {
        TaskState::Queued => ("queued", Value::Null, Value::Null),
        TaskState::Running => ("running", Value::Null, Value::Null),
        TaskState::Done(s) => (
            "done",
            json!({"bucket": s.bucket, "key": s.key, "size": s.size}),
            Value::Null,
        ),
        TaskState::Failed { code, message } => (
            "failed",
            Value::Null,
            json!({"code": code, "message": message}),
        ),
    };
    json!({
        "task_id": t.id,
        "bucket": t.bucket,
        "key": t.key,
        "process": t.process,
        "state": state,
        "created_ms": t.created_ms,
        "finished_ms": t.finished_ms,
        "saved": saved,
        "error": error,
    })
}
