//! imgd's HTTP front doors.
//!
//! A request enters [`listener`] (accept loop, limits, graceful shutdown), which asks
//! [`route::Route::decide`] once, from method, path, query and headers, which door it is
//! for, and `match`es on the answer:
//!
//! - internal routes under `/_imgd/` ([`internal`]: health, metrics; [`admin`]: the JSON
//!   admin API with its own `Endpoint` enum);
//! - [`oss`]: the Alibaba-OSS-compatible object API (`oss::Endpoint`);
//! - [`delivery`]: anonymous and signed-link reads, native and ixmage URLs
//!   (`delivery::Endpoint`);
//! - [`s3`]: everything else, through s3s (which decodes S3's operations itself);
//! - [`imageproxy`]: the imageproxy-py drop-in, on its own listener.
//!
//! Every door is built on the HTTP kernel [`kernel`] (query, conditional requests,
//! ranges, dates, bodies, one error type, the clock, virtual hosts) and renders through
//! the shared [`images::ImageService`] (with [`sources`] for back-to-source origins).
//! [`app`] wires them together from a [`ServerConfig`]. Doors never import each other.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cloudflare;
pub mod delivery;
pub mod imageproxy;
pub mod images;
pub mod internal;
pub mod kernel;
pub mod listener;
pub mod oss;
pub mod respond;
pub mod route;
pub mod s3;
pub mod sources;

/// The link-expiry clock, where the binary configures it.
pub use kernel::clock;

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
    /// How remote images are fetched (imageproxy sources and bucket origins).
    pub fetch: FetchSettings,
    /// The on-disk cache of rendered variants; `None` renders every request.
    pub variant_cache: Option<varcache::CacheConfig>,
    /// The imageproxy-py door, on its own listener; `None` disables it.
    pub imageproxy: Option<imageproxy::ImageProxyConfig>,
    /// The Cloudflare Images door; `None` disables it.
    pub cloudflare: Option<cloudflare::CloudflareConfig>,
    /// "Now" for every expiry check of every door (tests start it at a chosen instant).
    pub clock: kernel::Clock,
}

/// Limits of remote fetches, shared by the imageproxy door and bucket origins, which
/// differ only in how large a body they accept.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Hosts and networks exempt from the private-address deny list.
    pub allow: Vec<fetch::AllowRule>,
    pub max_redirects: usize,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub deadline: Duration,
    /// Largest source the imageproxy door fetches.
    pub proxy_max_bytes: u64,
    /// Largest object an origin may return (streamed, never buffered).
    pub origin_max_bytes: u64,
}

impl Default for FetchSettings {
    fn default() -> Self {
        let policy = fetch::FetchPolicy::default();
        FetchSettings {
            allow: Vec::new(),
            max_redirects: policy.max_redirects,
            connect_timeout: policy.connect_timeout,
            read_timeout: policy.read_timeout,
            deadline: policy.deadline,
            proxy_max_bytes: 32 * 1024 * 1024,
            origin_max_bytes: 5 * 1024 * 1024 * 1024,
        }
    }
}

impl FetchSettings {
    fn policy(&self, max_bytes: u64, deadline: Duration) -> fetch::FetchPolicy {
        fetch::FetchPolicy {
            allow: self.allow.clone(),
            max_redirects: self.max_redirects,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            deadline,
            max_bytes,
            ..fetch::FetchPolicy::default()
        }
    }

    pub fn proxy_policy(&self) -> fetch::FetchPolicy {
        self.policy(self.proxy_max_bytes, self.deadline)
    }

    /// Origins stream large objects, so their deadline covers a slow multi-gigabyte
    /// transfer; stalls are still caught by the read timeout.
    pub fn origin_policy(&self) -> fetch::FetchPolicy {
        self.policy(
            self.origin_max_bytes,
            self.deadline.max(Duration::from_secs(3600)),
        )
    }
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
