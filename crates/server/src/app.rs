//! App wiring: the doors and services one listener serves, built once from the
//! [`ServerConfig`].

use crate::admin::AdminDoor;
use crate::auth::Callers;
use crate::cloudflare::CloudflareDoor;
use crate::delivery::DeliveryDoor;
use crate::imageproxy::ImageProxyDoor;
use crate::images::ImageService;
use crate::oss::OssDoor;
use crate::route::Routing;
use crate::s3::{S3Door, s3_service};
use crate::sources::Sources;
use crate::{ServerConfig, ServerError};
use metrics_exporter_prometheus::PrometheusHandle;
use store::Store;

/// Everything a request on the object API's listener may need.
pub struct App {
    pub store: Store,
    pub admin: AdminDoor,
    /// `None`: the Cloudflare door is off (and routing never names it).
    pub cloudflare: Option<CloudflareDoor>,
    pub delivery: DeliveryDoor,
    pub oss: OssDoor,
    pub s3: S3Door,
    pub routing: Routing,
    pub metrics: PrometheusHandle,
    /// `max_header_bytes`: hyper's read buffer only bounds the head to within one read of
    /// it (the buffer grows by doubling), so the exact limit is checked per request.
    pub max_header_bytes: usize,
}

/// What `serve` runs besides the main listener.
pub struct Built {
    pub app: App,
    pub imageproxy: Option<ImageProxyDoor>,
    pub variant_cache: Option<varcache::VariantCache>,
}

/// Builds the image service (with origins and the variant cache) and every door over
/// it. Each door that checks expiry gets the one configured clock.
pub async fn build(
    store: Store,
    cfg: &ServerConfig,
    metrics: PrometheusHandle,
) -> Result<Built, ServerError> {
    let fetcher = fetch::Fetcher::new(cfg.fetch.origin_policy())
        .map_err(|e| ServerError::Config(format!("fetch: {e}")))?;
    let sources = Sources::new(store.clone(), fetcher);
    let mut images =
        ImageService::new(store.clone(), cfg.process_limits.clone()).with_sources(sources);
    let variant_cache = match &cfg.variant_cache {
        Some(c) => Some(
            varcache::VariantCache::open(c.clone())
                .await
                .map_err(|e| ServerError::Config(format!("variant cache: {e}")))?,
        ),
        None => None,
    };
    if let Some(cache) = &variant_cache {
        images = images.with_cache(cache.clone());
    }
    let imageproxy = match &cfg.imageproxy {
        Some(proxy_cfg) => {
            let fetcher = fetch::Fetcher::new(cfg.fetch.proxy_policy())
                .map_err(|e| ServerError::Config(format!("fetch: {e}")))?;
            let door = ImageProxyDoor::new(images.clone(), fetcher, proxy_cfg.clone(), cfg.clock);
            door.prepare()
                .await
                .map_err(|e| ServerError::Config(format!("imageproxy store bucket: {e}")))?;
            Some(door)
        }
        None => None,
    };
    let callers = Callers::new(
        store.clone(),
        cfg.root_access_key.clone(),
        cfg.root_secret_key.clone(),
    );
    let s3 = S3Door::new(
        s3_service(store.clone(), images.clone(), cfg, None)?,
        store.clone(),
        callers.clone(),
        cfg,
    );
    let cloudflare = match &cfg.cloudflare {
        Some(cf_cfg) => {
            let fetcher = fetch::Fetcher::new(cfg.fetch.proxy_policy())
                .map_err(|e| ServerError::Config(format!("fetch: {e}")))?;
            Some(
                CloudflareDoor::new(images.clone(), cf_cfg.clone(), fetcher, cfg.clock)
                    .with_domain(cfg.domain.clone()),
            )
        }
        None => None,
    };
    let routing = Routing {
        domain: cfg.domain.clone().filter(|d| !d.is_empty()),
        ixmage_prefix: cfg.delivery.ixmage_prefix.clone(),
        cloudflare: cloudflare.is_some(),
    };
    let oss = OssDoor::new(images.clone(), callers)
        .with_domain(cfg.domain.clone())
        .with_clock(cfg.clock)
        .with_region(&cfg.region);
    // Before the listener accepts: tasks an earlier process left running are queued
    // again, then the background worker starts on them.
    oss.start_async_worker(cfg.process_limits.async_workers)
        .await
        .map_err(|e| ServerError::Config(format!("async process tasks: {e}")))?;
    let app = App {
        admin: AdminDoor::new(store.clone(), cfg.admin_token.clone()).with_images(images.clone()),
        cloudflare,
        store,
        delivery: DeliveryDoor::new(images.clone(), cfg.delivery.clone())
            .with_domain(cfg.domain.clone())
            .with_clock(cfg.clock),
        oss,
        s3,
        routing,
        metrics,
        max_header_bytes: cfg.max_header_bytes.max(8192),
    };
    Ok(Built {
        app,
        imageproxy,
        variant_cache,
    })
}
