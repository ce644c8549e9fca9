//! Durable async-process tasks: enqueue, one claim per task, outcomes, start-up
//! recovery after a crash, retention.

use store::tasks::{
    MAX_INTERRUPTIONS, NewTask, Recovered, SavedObject, TASK_RETENTION_MS, TaskState,
};
use store::{BlobBackend, Store};

async fn open(dir: &std::path::Path) -> Store {
    Store::open(
        &dir.join("imgd.db"),
        &BlobBackend::Fs {
            root: dir.to_path_buf(),
        },
        true,
    )
    .await
    .unwrap()
}

fn task<'a>(id: &'a str, access_key: Option<&'a str>) -> NewTask<'a> {
    NewTask {
        id,
        bucket: "b",
        key: "k.jpg",
        process: "image/resize,w_10|sys/saveas,o_dC5qcGc",
        access_key,
    }
}

const T0: i64 = 1_700_000_000_000;

/// A queue limit no test reaches unless it means to.
const MAX: u64 = 100;

#[tokio::test]
async fn tasks_are_claimed_once_in_order_and_keep_their_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    assert!(store.claim_task(T0).await.unwrap().is_none());
    store
        .enqueue_task(&task("t1", None), T0, MAX)
        .await
        .unwrap();
    store
        .enqueue_task(&task("t2", Some("AK2")), T0 + 1, MAX)
        .await
        .unwrap();
    assert_eq!(store.unfinished_tasks().await.unwrap(), 2);
    // A full queue takes nothing more.
    assert!(!store.enqueue_task(&task("t3", None), T0, 2).await.unwrap());
    assert!(store.task("t3").await.unwrap().is_none());
    // A task id is unique: a second enqueue under it is refused, the first kept.
    assert!(
        store
            .enqueue_task(&task("t1", Some("other")), T0, MAX)
            .await
            .is_err()
    );

    let first = store.claim_task(T0 + 5).await.unwrap().unwrap();
    assert_eq!(
        (first.id.as_str(), first.access_key.as_deref()),
        ("t1", None)
    );
    assert_eq!(first.process, "image/resize,w_10|sys/saveas,o_dC5qcGc");
    assert_eq!(first.state, TaskState::Running);
    let second = store.claim_task(T0 + 5).await.unwrap().unwrap();
    assert_eq!(
        (second.id.as_str(), second.access_key.as_deref()),
        ("t2", Some("AK2"))
    );
    // Both are running: nothing is left to claim, so neither can run twice.
    assert!(store.claim_task(T0 + 5).await.unwrap().is_none());

    let saved = SavedObject {
        bucket: "b".into(),
        key: "t.jpg".into(),
        size: 123,
    };
    assert!(
        store
            .finish_task("t1", first.claim, &saved, T0 + 9)
            .await
            .unwrap()
    );
    // A finished task cannot be finished or failed again.
    assert!(
        !store
            .fail_task("t1", first.claim, "X", "y", T0 + 9)
            .await
            .unwrap()
    );
    assert!(
        store
            .fail_task("t2", second.claim, "NoSuchKey", "gone", T0 + 9)
            .await
            .unwrap()
    );
    let t1 = store.task("t1").await.unwrap().unwrap();
    assert_eq!(t1.state, TaskState::Done(saved));
    assert_eq!(t1.finished_ms, Some(T0 + 9));
    let t2 = store.task("t2").await.unwrap().unwrap();
    assert_eq!(
        t2.state,
        TaskState::Failed {
            code: "NoSuchKey".into(),
            message: "gone".into()
        }
    );
    assert_eq!(store.unfinished_tasks().await.unwrap(), 0);
    assert!(store.task("t3").await.unwrap().is_none());
}

#[tokio::test]
async fn a_requeued_task_waits_and_an_old_claim_cannot_finish_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .enqueue_task(&task("t1", None), T0, MAX)
        .await
        .unwrap();
    let claimed = store.claim_task(T0).await.unwrap().unwrap();
    assert!(
        store
            .requeue_task("t1", claimed.claim, T0 + 1000)
            .await
            .unwrap()
    );
    assert_eq!(
        store.task("t1").await.unwrap().unwrap().state,
        TaskState::Queued
    );
    assert!(store.claim_task(T0 + 999).await.unwrap().is_none());
    let again = store.claim_task(T0 + 1000).await.unwrap().unwrap();
    assert!(again.claim > claimed.claim);
    let saved = SavedObject {
        bucket: "b".into(),
        key: "old".into(),
        size: 1,
    };
    assert!(
        !store
            .finish_task("t1", claimed.claim, &saved, T0)
            .await
            .unwrap()
    );
    assert_eq!(
        store.task("t1").await.unwrap().unwrap().state,
        TaskState::Running
    );
}

#[tokio::test]
async fn a_restart_runs_again_what_a_crash_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        store
            .enqueue_task(&task("queued", None), T0, MAX)
            .await
            .unwrap();
        store
            .enqueue_task(&task("running", None), T0 - 1, MAX)
            .await
            .unwrap();
        let claimed = store.claim_task(T0).await.unwrap().unwrap();
        assert_eq!(claimed.id, "running");
        // The process dies here: no finish, no fail.
    }
    let store = open(dir.path()).await;
    assert_eq!(
        store.recover_tasks(T0 + 10).await.unwrap(),
        Recovered {
            requeued: 1,
            given_up: 0
        }
    );
    let mut ids = Vec::new();
    while let Some(t) = store.claim_task(T0 + 10).await.unwrap() {
        ids.push(t.id);
    }
    assert_eq!(ids, ["running", "queued"]);
}

#[tokio::test]
async fn a_task_that_keeps_killing_its_server_is_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .enqueue_task(&task("poison", None), T0, MAX)
        .await
        .unwrap();
    for restart in 1..=MAX_INTERRUPTIONS {
        assert!(
            store.claim_task(T0).await.unwrap().is_some(),
            "run {restart}"
        );
        let recovered = store.recover_tasks(T0).await.unwrap();
        if restart < MAX_INTERRUPTIONS {
            assert_eq!(recovered.requeued, 1);
        } else {
            assert_eq!(recovered.given_up, 1);
        }
    }
    match store.task("poison").await.unwrap().unwrap().state {
        TaskState::Failed { code, message } => {
            assert_eq!(code, "InternalError");
            assert!(message.contains("interrupted"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(store.claim_task(T0).await.unwrap().is_none());
}

#[tokio::test]
async fn finished_tasks_are_pruned_after_their_retention_unfinished_never() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .enqueue_task(&task("old", None), T0, MAX)
        .await
        .unwrap();
    store
        .enqueue_task(&task("waiting", None), T0, MAX)
        .await
        .unwrap();
    let old = store.claim_task(T0).await.unwrap().unwrap();
    assert_eq!(old.id, "old");
    store
        .fail_task("old", old.claim, "X", "y", T0)
        .await
        .unwrap();
    // Just inside the retention: kept.
    store
        .enqueue_task(&task("new", None), T0 + TASK_RETENTION_MS, MAX)
        .await
        .unwrap();
    assert!(store.task("old").await.unwrap().is_some());
    store
        .enqueue_task(&task("newer", None), T0 + TASK_RETENTION_MS + 1, MAX)
        .await
        .unwrap();
    assert!(store.task("old").await.unwrap().is_none());
    // A task that never ran is not an outcome to prune, however old.
    assert!(store.task("waiting").await.unwrap().is_some());
    assert_eq!(store.unfinished_tasks().await.unwrap(), 3);
}
