//! The listener's own routes under `/_imgd/`: health and metrics.

use crate::kernel::{BoxBody, full};
use http::{Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use store::Store;

pub async fn health(store: &Store) -> Response<BoxBody> {
    match store.ping().await {
        Ok(()) => full(StatusCode::OK, "application/json", r#"{"status":"ok"}"#),
        Err(e) => {
            tracing::error!(error = %e, "health check: metadata database unavailable");
            full(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                r#"{"status":"unavailable"}"#,
            )
        }
    }
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
