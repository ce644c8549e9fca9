//! The listener's own routes under `/_imgd/`: health and metrics.

use crate::kernel::{BoxBody, full};
use http::{Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use store::Store;

/// How long each dependency may take to answer a health check.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: whether this node can serve requests, which needs the metadata database
/// and the blob store both. A load balancer takes a 503 node out of rotation.
pub async fn health(store: &Store) -> Response<BoxBody> {
    let (database, blobs) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, store.ping()),
        tokio::time::timeout(PROBE_TIMEOUT, store.check_blobs()),
    );
    let verdict = |name: &str, outcome: Result<store::StoreResult<()>, _>| match outcome {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::error!(error = %e, "health check: {name} unavailable");
            "unreachable"
        }
        Err(_) => {
            tracing::error!("health check: {name} did not answer in time");
            "unreachable"
        }
    };
    let database = verdict("metadata database", database);
    let blobs = verdict("blob store", blobs);
    let ready = database == "ok" && blobs == "ok";
    let body = serde_json::json!({
        "status": if ready { "ok" } else { "unavailable" },
        "live": true,
        "ready": ready,
        "database": database,
        "blob_store": blobs,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    full(status, "application/json", body.to_string())
}

/// Liveness: the process is up and its listener answers; says nothing of dependencies,
/// so an outage of the database does not get every node restarted.
pub fn live() -> Response<BoxBody> {
    full(
        StatusCode::OK,
        "application/json",
        r#"{"status":"ok","live":true}"#,
    )
}

pub fn metrics(handle: &PrometheusHandle) -> Response<BoxBody> {
    full(StatusCode::OK, "text/plain; version=0.0.4", handle.render())
}

pub fn unknown() -> Response<BoxBody> {
    full(
        StatusCode::NOT_FOUND,
        "application/json",
        r#"{"error":"NotFound","message":"no such internal route"}"#,
    )
}
