//! imgd's HTTP front doors.
//!
//! [`serve`] binds the listener and runs the accept loop ([`listener`]). Each request is
//! classified by [`routes::FrontDoor`]: internal routes live under `/_imgd/` (a prefix no
//! bucket can have, since bucket names cannot contain `_`); requests signed the OSS way
//! (and ProcessObject) go to the OSS-compatible door [`oss`]; everything else goes to the
//! S3 API. S3 requests first pass [`guard`] (checks s3s does not make: presigned expiry
//! cap, signing region), then the s3s service, whose operations are implemented in
//! [`s3`] over a [`store::Store`].

pub mod admin;
pub mod auth;
pub mod delivery;
pub mod guard;
pub mod images;
pub mod listener;
pub mod oss;
pub mod routes;
pub mod s3;

use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;

/// What the server needs to know; the `imgd` binary builds this from its configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The region this endpoint reports and expects in signatures.
    pub region: String,
    pub root_access_key: String,
    pub root_secret_key: String,
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`); path style
    /// always works.
    pub domain: Option<String>,
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// A client must send its request head within this time.
    pub header_read_timeout: Duration,
    /// Largest request head accepted (larger gets 431).
    pub max_header_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Bounds on `x-oss-process` rendering.
    pub process_limits: images::ProcessLimits,
    /// Account token and route prefix of the delivery door.
    pub delivery: delivery::DeliveryConfig,
    /// Bearer token of the admin API under `/_imgd/admin/`; `None` disables it.
    pub admin_token: Option<String>,
}

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub use listener::serve;
