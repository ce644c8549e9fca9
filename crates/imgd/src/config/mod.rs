//! Configuration: a TOML file (`--config`), then `IMGD_*` environment variables on top.
//!
//! Every key can be set from the environment: a top-level key `data_dir` as
//! `IMGD_DATA_DIR`, a key in a section, such as `[storage] backend`, as
//! `IMGD_STORAGE_BACKEND` (`[[buckets]]`, `[[secrets]]` and `[[cloudflare_accounts]]` only
//! in the file). Any other
//! `IMGD_*` name is refused unless imgd reads it for another purpose ([`env`]).

mod cloudflare;
pub mod env;
mod storage;
pub use storage::StorageConfig;

pub use cloudflare::{CloudflareAccountConfig, CloudflareConfig};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// MiB of `process_memory_limit_mb` kept for everything but rendering: the runtime,
/// connection buffers, SQLite's cache, bodies in flight.
pub const RENDER_RESERVE_MIB: u64 = 128;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port of the S3 API.
    pub listen: String,
    /// Where the metadata database, blobs and generated credentials live.
    pub data_dir: PathBuf,
    /// Root credentials. When unset, generated once and kept in `<data_dir>/credentials.toml`.
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// The region reported to clients and expected in signatures (`us-east-1` and `auto`
    /// are accepted too).
    pub region: String,
    /// Base domain for virtual-hosted-style URLs (`bucket.<domain>`).
    pub domain: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info` or `imgd=debug,info`.
    pub log_level: String,
    pub max_connections: usize,
    pub header_read_timeout_secs: u64,
    pub max_header_bytes: usize,
    pub shutdown_grace_secs: u64,
    /// Images with more pixels than this (width × height from the header) are refused.
    pub max_source_pixels: u64,
    /// Objects larger than this are not processed.
    pub max_source_bytes: u64,
    /// Largest side of any processed image.
    pub max_output_side: u32,
    /// Animated images with more frames than this are refused.
    pub max_animation_frames: u32,
    /// Wall-clock budget of one processing job, in milliseconds.
    pub process_time_budget_ms: u64,
    /// The memory imgd may use, in MiB: rendering jobs together may reserve all but
    /// [`RENDER_RESERVE_MIB`] of it (their estimated peak working memory); requests
    /// beyond it wait, then get 503 with Retry-After, and a job that alone would need
    /// more is refused with 400.
    pub process_memory_limit_mb: u64,
    /// Processing jobs running at once; 0 means one per CPU core.
    pub process_workers: usize,
    /// How long a processing job may wait for memory budget and a worker.
    pub process_queue_wait_ms: u64,
    /// OSS `x-oss-async-process` tasks run at once in the background; 0 keeps
    /// accepting tasks without running them (they run once a server with workers
    /// starts).
    pub async_process_workers: usize,
    pub storage: StorageConfig,
    pub database: DatabaseConfig,
    /// Buckets to create (if missing) and configure at start-up.
    pub buckets: Vec<BucketConfig>,
    /// Link-signing secrets to import at start-up.
    pub secrets: Vec<SecretConfig>,
    /// The account token in ixmage-style URLs (`/{prefix}/{token}/{alias}/{path}`).
    /// Not a secret: it appears in every link. Default: derived from the root key.
    pub account_token: Option<String>,
    /// Path prefix of ixmage-style URLs; must start with `/_` so it cannot be a bucket.
    pub ixmage_prefix: String,
    /// Bearer token for the admin API under `/_imgd/admin/`. Unset: admin API off.
    pub admin_token: Option<String>,
    /// Start the link-expiry clock at this unix second instead of the system time (it
    /// then runs in real time). For testing week and expiry edges; never in production.
    pub clock_start: Option<i64>,
    pub fetch: FetchConfig,
    pub cache: CacheConfig,
    pub imageproxy: ImageProxyConfig,
    pub cloudflare: CloudflareConfig,
    /// Cloudflare Images accounts to make sure of at start-up.
    pub cloudflare_accounts: Vec<CloudflareAccountConfig>,
}

/// `[fetch]`: remote fetches by the imageproxy door and bucket origins.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Hosts (`origin.internal`, `*.example.com`) and networks (`10.1.0.0/16`,
    /// `127.0.0.1`) exempt from the private-address deny list. From the environment:
    /// comma-separated.
    pub allow: Vec<String>,
    pub max_redirects: usize,
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
    /// Whole-fetch deadline of imageproxy sources (origins get at least an hour, since
    /// they stream large objects; stalls are caught by the read timeout).
    pub deadline_ms: u64,
    pub proxy_max_bytes: u64,
    pub origin_max_bytes: u64,
}

/// `[cache]`: the cache of rendered variants.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub enabled: bool,
    /// Defaults to `<data_dir>/variants`.
    pub dir: Option<PathBuf>,
    pub max_disk_bytes: u64,
    pub max_memory_bytes: u64,
}

/// `[imageproxy]`: the imageproxy-py drop-in, on its own listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageProxyConfig {
    /// Address and port; unset: the door is off.
    pub listen: Option<String>,
    /// The HMAC secret shared with the site that makes the links.
    pub secret: Option<String>,
    /// Allowed heights and widths.
    pub sizes: Vec<u32>,
    /// Bucket where the originals are kept, one per (bucket, URL).
    pub store_bucket: String,
    pub cache_ttl_secs: u32,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            allow: Vec::new(),
            max_redirects: 5,
            connect_timeout_ms: 5_000,
            read_timeout_ms: 10_000,
            deadline_ms: 30_000,
            proxy_max_bytes: 32 * 1024 * 1024,
            origin_max_bytes: 5 * 1024 * 1024 * 1024,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            dir: None,
            max_disk_bytes: 1024 * 1024 * 1024,
            max_memory_bytes: 128 * 1024 * 1024,
        }
    }
}

impl Default for ImageProxyConfig {
    fn default() -> Self {
        ImageProxyConfig {
            listen: None,
            secret: None,
            sizes: vec![150, 250, 500],
            store_bucket: "imageproxy".into(),
            cache_ttl_secs: 86_400,
        }
    }
}

/// `[[buckets]]`: a bucket the server makes sure of at start-up. Fields left out keep
/// whatever the bucket has (set by the CLI or the API).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BucketConfig {
    pub name: String,
    pub public: Option<bool>,
    /// Separators for `key<sep>style` URLs (`!`, `@!`, `-`, `_`, `/`).
    pub style_delimiters: Option<Vec<String>>,
    /// Named styles: name = "image/..." process string.
    pub styles: std::collections::BTreeMap<String, String>,
    /// Delivery policy: `private`, `public` or `signed` (overrides `public`).
    pub delivery: Option<String>,
    /// Link schemes a `signed` bucket accepts: `cloudflare`, `ixmage`.
    pub schemes: Option<Vec<String>>,
    /// Referer allow-list (`example.com`, `*.example.com`).
    pub referers: Option<Vec<String>>,
    /// Cache-Control max-age of public responses.
    pub cache_ttl_secs: Option<u32>,
    /// Styles served without a signature.
    pub public_styles: Option<Vec<String>>,
    /// Back-to-source: `{ kind = "http", base_url = "..." }` or `{ kind = "s3",
    /// endpoint, region, bucket, access_key, secret_key, prefix }`.
    pub origin: Option<store::Origin>,
    /// How long an origin 404 is remembered (default 60 s).
    pub origin_miss_ttl_secs: Option<u32>,
}

/// `[[secrets]]`: a link-signing secret to make sure of at start-up (imported by value,
/// so links signed with it keep working). No `bucket` means an account secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretConfig {
    pub bucket: Option<String>,
    pub value: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// SQLite file; defaults to `<data_dir>/imgd.db`. Ignored when `url` is set.
    pub path: Option<PathBuf>,
    /// `postgres://user:password@host:port/database`: metadata in PostgreSQL, which is
    /// what several imgd nodes share. Unset: SQLite at `path`.
    pub url: Option<String>,
    /// PostgreSQL connections per node (a second pool of half as many carries
    /// bookkeeping and change notices).
    pub max_connections: u32,
    /// How long a request waits for a PostgreSQL connection before it gets 503.
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            path: None,
            url: None,
            max_connections: 16,
            acquire_timeout_secs: 5,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            access_key: None,
            secret_key: None,
            region: "us-east-1".into(),
            domain: None,
            log_format: "text".into(),
            log_level: "info".into(),
            max_connections: 512,
            header_read_timeout_secs: 30,
            max_header_bytes: 64 * 1024,
            shutdown_grace_secs: 30,
            max_source_pixels: 64_000_000,
            max_source_bytes: 64 * 1024 * 1024,
            max_output_side: 16_384,
            max_animation_frames: 100,
            process_time_budget_ms: 20_000,
            process_memory_limit_mb: 1024,
            process_workers: 0,
            process_queue_wait_ms: 2_000,
            async_process_workers: 2,
            storage: StorageConfig::default(),
            database: DatabaseConfig::default(),
            buckets: Vec::new(),
            secrets: Vec::new(),
            account_token: None,
            ixmage_prefix: "/_ix".into(),
            admin_token: None,
            clock_start: None,
            fetch: FetchConfig::default(),
            cache: CacheConfig::default(),
            imageproxy: ImageProxyConfig::default(),
            cloudflare: CloudflareConfig::default(),
            cloudflare_accounts: Vec::new(),
        }
    }
}

/// The store's rule ([`store::policy::check_style_delimiters`]), checked when the file is
/// loaded so a bad `[[buckets]]` entry stops imgd before it serves.
pub fn check_style_delimiters(delims: &[String]) -> Result<()> {
    Ok(store::policy::check_style_delimiters(delims)?)
}

/// A style must be a pipeline (not another style) that parses.
pub fn check_style_process(process: &str) -> Result<()> {
    imaging::oss::style_content(process).map_err(anyhow::Error::msg)?;
    Ok(())
}

impl Config {
    /// Loads the file (if any), then applies `IMGD_*` variables from `env`. An `IMGD_*`
    /// name that is neither a key's variable nor one of [`env::NON_CONFIG_VARS`] is
    /// refused, as an unknown key in the file is.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let mut table: toml::Table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        check_origin_fields(&table)?;
        env::apply(&mut table, env)?;
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration")?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        self.validate_cloudflare()?;
        self.listen
            .parse::<std::net::SocketAddr>()
            .with_context(|| format!("listen must be address:port, got {:?}", self.listen))?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be text or json, got {:?}", self.log_format);
        }
        self.storage.validate()?;
        if self.access_key.is_some() != self.secret_key.is_some() {
            bail!("set both access_key and secret_key, or neither");
        }
        if !self.ixmage_prefix.starts_with("/_") || self.ixmage_prefix.starts_with("/_imgd") {
            bail!(
                "ixmage_prefix must start with /_ (so it cannot be a bucket) and not be /_imgd, got {:?}",
                self.ixmage_prefix
            );
        }
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("admin_token must be at least 16 characters");
        }
        for sec in &self.secrets {
            if sec.value.len() < 8 {
                bail!("[[secrets]]: a secret value must be at least 8 characters");
            }
        }
        for rule in &self.fetch.allow {
            rule.parse::<fetch::AllowRule>()
                .map_err(|e| anyhow::anyhow!("fetch.allow {rule:?}: {e}"))?;
        }
        if let Some(listen) = &self.imageproxy.listen {
            listen.parse::<std::net::SocketAddr>().with_context(|| {
                format!("imageproxy.listen must be address:port, got {listen:?}")
            })?;
            if self.imageproxy.secret.as_deref().unwrap_or("").is_empty() {
                bail!("imageproxy.secret is required when imageproxy.listen is set");
            }
            if self.imageproxy.sizes.is_empty() {
                bail!("imageproxy.sizes must list at least one size");
            }
        }
        if self.process_memory_limit_mb < 2 * RENDER_RESERVE_MIB {
            bail!(
                "process_memory_limit_mb must be at least {} (imgd keeps {RENDER_RESERVE_MIB} MiB for everything but rendering)",
                2 * RENDER_RESERVE_MIB
            );
        }
        for b in &self.buckets {
            if let Some(delims) = &b.style_delimiters {
                check_style_delimiters(delims)
                    .with_context(|| format!("[[buckets]] {}", b.name))?;
            }
            if let Some(d) = &b.delivery
                && store::DeliveryPolicy::parse(d).is_none()
            {
                bail!(
                    "[[buckets]] {}: delivery {d:?} is not private, public or signed",
                    b.name
                );
            }
            for scheme in b.schemes.iter().flatten() {
                if store::LinkScheme::parse(scheme).is_none() {
                    bail!(
                        "[[buckets]] {}: scheme {scheme:?} is not one of {}",
                        b.name,
                        store::LinkScheme::names()
                    );
                }
            }
            if let Some(origin) = &b.origin {
                let settings = store::OriginSettings {
                    source: origin.clone(),
                    miss_ttl_secs: b.origin_miss_ttl_secs,
                };
                server::admin::check_origin(&settings)
                    .map_err(|m| anyhow::anyhow!("[[buckets]] {}: origin: {m}", b.name))?;
            }
            for (name, process) in &b.styles {
                if !store::styles::valid_style_name(name) {
                    bail!("[[buckets]] {}: invalid style name {name:?}", b.name);
                }
                check_style_process(process)
                    .with_context(|| format!("[[buckets]] {}: style {name}", b.name))?;
            }
        }
        Ok(())
    }

    pub fn process_limits(&self) -> server::images::ProcessLimits {
        server::images::ProcessLimits {
            engine: imaging::engine::Limits {
                max_source_pixels: self.max_source_pixels,
                max_output_side: self.max_output_side,
                max_output_pixels: self.max_source_pixels,
                max_frames: self.max_animation_frames,
                time_budget: (self.process_time_budget_ms > 0)
                    .then(|| std::time::Duration::from_millis(self.process_time_budget_ms)),
                ..Default::default()
            },
            max_source_bytes: self.max_source_bytes,
            admission: server::images::admission::AdmissionConfig {
                budget_bytes: self
                    .process_memory_limit_mb
                    .saturating_sub(RENDER_RESERVE_MIB)
                    .saturating_mul(1 << 20),
                workers: if self.process_workers == 0 {
                    std::thread::available_parallelism().map_or(2, |n| n.get())
                } else {
                    self.process_workers
                },
                queue_wait: std::time::Duration::from_millis(self.process_queue_wait_ms),
            },
            async_workers: self.async_process_workers,
        }
    }

    /// The configured account token, or one derived from the root access key so that
    /// links stay valid across restarts.
    pub fn account_token(&self, root_access_key: &str) -> String {
        match &self.account_token {
            Some(t) => t.clone(),
            None => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(format!("imgd-account:{root_access_key}"));
                digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
            }
        }
    }

    pub fn fetch_settings(&self) -> Result<server::FetchSettings> {
        let ms = std::time::Duration::from_millis;
        Ok(server::FetchSettings {
            allow: self
                .fetch
                .allow
                .iter()
                .map(|r| {
                    r.parse::<fetch::AllowRule>()
                        .map_err(|e| anyhow::anyhow!("fetch.allow {r:?}: {e}"))
                })
                .collect::<Result<_>>()?,
            max_redirects: self.fetch.max_redirects,
            connect_timeout: ms(self.fetch.connect_timeout_ms),
            read_timeout: ms(self.fetch.read_timeout_ms),
            deadline: ms(self.fetch.deadline_ms),
            proxy_max_bytes: self.fetch.proxy_max_bytes,
            origin_max_bytes: self.fetch.origin_max_bytes,
        })
    }

    pub fn variant_cache(&self) -> Option<varcache::CacheConfig> {
        self.cache.enabled.then(|| varcache::CacheConfig {
            dir: self
                .cache
                .dir
                .clone()
                .unwrap_or_else(|| self.data_dir.join("variants")),
            max_disk_bytes: self.cache.max_disk_bytes,
            max_memory_bytes: self.cache.max_memory_bytes,
        })
    }

    pub fn imageproxy(&self) -> Result<Option<server::imageproxy::ImageProxyConfig>> {
        let Some(listen) = &self.imageproxy.listen else {
            return Ok(None);
        };
        Ok(Some(server::imageproxy::ImageProxyConfig {
            listen: listen.parse().context("imageproxy.listen")?,
            secret: self.imageproxy.secret.clone().unwrap_or_default(),
            sizes: self.imageproxy.sizes.clone(),
            store_bucket: self.imageproxy.store_bucket.clone(),
            cache_ttl_secs: self.imageproxy.cache_ttl_secs,
        }))
    }

    /// The metadata database: PostgreSQL when `database.url` is set, else SQLite.
    pub fn database(&self) -> Result<store::db::DatabaseConfig> {
        let Some(url) = &self.database.url else {
            return Ok(store::db::DatabaseConfig::Sqlite {
                path: self.db_path(),
            });
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!(
                "database.url must be a postgres:// URL (SQLite is chosen by leaving it unset \
                 and setting database.path)"
            );
        }
        if self.database.max_connections < 2 {
            bail!("database.max_connections must be at least 2");
        }
        if self.database.acquire_timeout_secs == 0 {
            bail!("database.acquire_timeout_secs must be at least 1");
        }
        Ok(store::db::DatabaseConfig::Postgres {
            url: url.clone(),
            max_connections: self.database.max_connections,
            acquire_timeout: std::time::Duration::from_secs(self.database.acquire_timeout_secs),
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.database
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("imgd.db"))
    }

    pub fn blob_backend(&self) -> Result<store::BlobBackend> {
        self.storage.blob_backend(&self.data_dir)
    }
}

/// `[[buckets]] origin` tables are read as `store::Origin`, which (being the stored form
/// too) ignores unknown fields; refuse them here like every other unknown key.
fn check_origin_fields(table: &toml::Table) -> Result<()> {
    let buckets = table.get("buckets").and_then(|b| b.as_array());
    for bucket in buckets.into_iter().flatten() {
        let Some(origin) = bucket.get("origin") else {
            continue;
        };
        let name = bucket.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let raw = serde_json::to_value(origin).context("reading an origin table")?;
        server::admin::parse_origin_source(&raw)
            .map_err(|m| anyhow::anyhow!("[[buckets]] {name}: origin: {m}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
