//! AsyncProcessObject: `POST /{bucket}/{key}?x-oss-async-process` with the body
//! `x-oss-async-process=<ops>|sys/saveas,o_<b64 key>,b_<b64 bucket>`, answered at once
//! with OSS's task JSON (`EventId`, `RequestId`, `TaskId`); the render and the saveas
//! happen in the background.
//!
//! Submission checks everything ProcessObject checks ([`OssDoor::plan_save`]: the
//! process string, the saveas target, the caller's right to read the source and write
//! the target, the target bucket) and that the source exists, then commits the task
//! (`store::tasks`) before answering: a refused request leaves nothing queued, an
//! accepted one survives a crash.
//!
//! The worker ([`OssDoor::start_async_worker`], started with the server) claims tasks,
//! at most `async_process_workers` at once, and runs each as its submitter: the access
//! key is looked up again (a revoked key's tasks fail) and the plan is made again, so a
//! grant withdrawn since submission is respected. The render goes through the image
//! service like any other, under its admission control, memory budget and time limit;
//! when the renderers are busy the task waits its turn instead of failing. Outcomes
//! (the saved object, or an OSS error code and message) stay in the task table.

use super::process_object::process_from_body;
use super::{OssDoor, OssError, OssRequest, access_denied, from_image_error, from_store_error};
use crate::auth::Caller;
use crate::images::ImageError;
use crate::kernel::{self, ApiError, BoxBody};
use http::{Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use store::StoreError;
use store::tasks::{NewTask, SavedObject, Task};

/// Task ids as OSS's image tasks look: a kind, then a unique part.
const TASK_ID_PREFIX: &str = "ImageProcess-";

/// OSS's asynchronous media processing kinds, which imgd does not have.
const MEDIA_KINDS: [&str; 3] = ["video", "audio", "doc"];

/// Unfinished tasks at most; beyond, submissions get 503 until the worker catches up,
/// so a client cannot grow the queue without bound.
const MAX_UNFINISHED_TASKS: u64 = 10_000;

/// How often an idle worker looks for tasks whose wait (after a busy refusal) is over;
/// a new task wakes it at once.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// Shortest wait of a task the renderers were too busy for.
const MIN_BUSY_WAIT: Duration = Duration::from_secs(1);

impl OssDoor {
    pub(super) async fn async_process_object(
        &self,
        req: &OssRequest,
        body: &[u8],
        request_id: &str,
    ) -> Result<Response<BoxBody>, OssError> {
        let ops = process_from_body(body, "x-oss-async-process")?;
        let kind = ops.split(['/', '|']).next().unwrap_or("");
        if MEDIA_KINDS.contains(&kind) {
            // What OSS mostly runs asynchronously; imgd processes images only.
            return Err(super::not_implemented(&format!(
                "{kind}/ processing (only image/ and style/ process strings)"
            )));
        }
        if ops
            .split_once('|')
            .is_some_and(|(_, sys)| sys.contains("/notify"))
        {
            // OSS posts the outcome to a message queue; imgd has none, and silently
            // dropping the request for one would leave the client waiting forever.
            return Err(super::not_implemented(
                "notifications (/notify) of x-oss-async-process; poll for the saveas object instead",
            ));
        }
        self.plan_save(&req.caller, &req.bucket, &ops, "AsyncProcessObject")
            .await?;
        self.check_source(&req.bucket, &req.key).await?;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let task_id = format!("{TASK_ID_PREFIX}{unique}");
        let access_key = match &req.caller {
            Caller::Root => None,
            Caller::Key(k) => Some(k.access_key.as_str()),
        };
        let queued = self
            .images
            .store()
            .enqueue_task(
                &NewTask {
                    id: &task_id,
                    bucket: &req.bucket,
                    key: &req.key,
                    process: &ops,
                    access_key,
                },
                self.clock.now_ms(),
                MAX_UNFINISHED_TASKS,
            )
            .await
            .map_err(from_store_error)?;
        if !queued {
            return Err(ApiError {
                retry_after_secs: Some(10),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    format!(
                        "{MAX_UNFINISHED_TASKS} asynchronous tasks are waiting already; retry later."
                    ),
                )
            });
        }
        self.async_wake.notify_one();
        tracing::info!(task = %task_id, bucket = %req.bucket, key = %req.key, "async process task queued");
        let body = serde_json::json!({
            "EventId": unique,
            "RequestId": request_id,
            "TaskId": task_id,
        });
        Ok(kernel::full(
            StatusCode::OK,
            "application/json",
            body.to_string(),
        ))
    }

    /// The source must exist when the task is submitted, unless the bucket's origin
    /// may still supply it (the worker fetches it then, as a GET would).
    async fn check_source(&self, bucket: &str, key: &str) -> Result<(), OssError> {
        let store = self.images.store();
        match store.object(bucket, key).await {
            Ok(_) => Ok(()),
            Err(StoreError::NoSuchKey) => {
                let settings = store
                    .bucket_settings(bucket)
                    .await
                    .map_err(from_store_error)?;
                if settings.origin.is_some() {
                    Ok(())
                } else {
                    Err(from_store_error(StoreError::NoSuchKey))
                }
            }
            Err(e) => Err(from_store_error(e)),
        }
    }

    /// Start-up of asynchronous processing: tasks a previous process left running are
    /// queued again, then the worker runs `workers` tasks at a time (none with 0: tasks
    /// are accepted and kept until a server with workers starts).
    pub async fn start_async_worker(&self, workers: usize) -> Result<(), StoreError> {
        let recovered = self
            .images
            .store()
            .recover_tasks(self.clock.now_ms())
            .await?;
        if recovered.requeued > 0 || recovered.given_up > 0 {
            tracing::info!(
                requeued = recovered.requeued,
                given_up = recovered.given_up,
                "async process tasks interrupted by the last shutdown"
            );
        }
        if workers == 0 {
            tracing::warn!(
                "async_process_workers = 0: x-oss-async-process tasks are queued but not run"
            );
            return Ok(());
        }
        let door = self.clone();
        tokio::spawn(async move { door.work(workers).await });
        Ok(())
    }

    async fn work(self, workers: usize) {
        let slots = Arc::new(tokio::sync::Semaphore::new(workers));
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            match self.images.store().claim_task(self.clock.now_ms()).await {
                Ok(Some(task)) => {
                    let door = self.clone();
                    tokio::spawn(async move {
                        door.run_task(task).await;
                        drop(slot);
                    });
                }
                Ok(None) => {
                    drop(slot);
                    tokio::select! {
                        () = self.async_wake.notified() => {}
                        () = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Err(e) => {
                    drop(slot);
                    tracing::warn!(error = %e, "could not claim an async process task");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }

    /// Runs one claimed task and records its outcome. A panic is recorded as an
    /// internal error rather than leaving the task running until the next restart.
    async fn run_task(&self, task: Task) {
        let door = self.clone();
        let job = task.clone();
        let outcome = match tokio::spawn(async move { door.execute(&job).await }).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(task = %task.id, error = %e, "async process task panicked");
                Outcome::Failed(ApiError::internal())
            }
        };
        let store = self.images.store();
        let now = self.clock.now_ms();
        let (recorded, label) = match outcome {
            Outcome::Saved(saved) => {
                tracing::info!(task = %task.id, bucket = %saved.bucket, key = %saved.key, "async process task done");
                (
                    store.finish_task(&task.id, task.claim, &saved, now).await,
                    "done",
                )
            }
            Outcome::Busy(wait) => {
                let wait = wait.max(MIN_BUSY_WAIT).as_millis() as i64;
                (
                    store
                        .requeue_task(&task.id, task.claim, now.saturating_add(wait))
                        .await,
                    "busy",
                )
            }
            Outcome::Failed(e) => {
                tracing::warn!(task = %task.id, code = e.code, message = %e.message, "async process task failed");
                (
                    store
                        .fail_task(&task.id, task.claim, e.code, &e.message, now)
                        .await,
                    "failed",
                )
            }
        };
        metrics::counter!("imgd_async_tasks_total", "outcome" => label).increment(1);
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(task = %task.id, "async process task was claimed again meanwhile")
            }
            // The row stays running; the next start-up queues it again.
            Err(e) => {
                tracing::warn!(task = %task.id, error = %e, "could not record an async process outcome")
            }
        }
    }

    async fn execute(&self, task: &Task) -> Outcome {
        let caller = match &task.access_key {
            None => Caller::Root,
            Some(k) => match self.images.store().active_access_key(k).await {
                Ok(Some(key)) => Caller::Key(key),
                Ok(None) => {
                    return Outcome::Failed(ApiError {
                        message: "The access key that submitted this task was revoked.".into(),
                        ..access_denied()
                    });
                }
                Err(e) => return Outcome::Failed(from_store_error(e)),
            },
        };
        let plan = match self
            .plan_save(&caller, &task.bucket, &task.process, "AsyncProcessObject")
            .await
        {
            Ok(plan) => plan,
            Err(e) => return Outcome::Failed(e),
        };
        match self.run_save(&task.bucket, &task.key, &plan).await {
            Ok(info) => Outcome::Saved(SavedObject {
                bucket: plan.target_bucket,
                key: info.key,
                size: info.size,
            }),
            Err(ImageError::Busy(busy)) => Outcome::Busy(busy.retry_after),
            Err(ImageError::Internal(m)) => {
                tracing::error!(task = %task.id, error = %m, "async process task hit an internal error");
                Outcome::Failed(ApiError::internal())
            }
            Err(e) => Outcome::Failed(from_image_error(e)),
        }
    }
}

/// How one run of a task ended.
enum Outcome {
    Saved(SavedObject),
    /// The renderers were busy: run again after this long.
    Busy(Duration),
    Failed(OssError),
}
