//! The accept loop: connection limit, head-read timeout, head-size limit, graceful
//! shutdown, and per-request dispatch to a front door.

use crate::admin::AdminDoor;
use crate::auth::Callers;
use crate::delivery::DeliveryDoor;
use crate::imageproxy::ImageProxyDoor;
use crate::images::ImageService;
use crate::oss::OssDoor;
use crate::routes::{self, BoxBody, FrontDoor, Routing};
use crate::s3::ImgdS3;
use crate::s3::auth::{ImgdAccess, ImgdAuth};
use crate::sources::Sources;
use crate::{ServerConfig, ServerError, guard};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use s3s::service::{S3Service, S3ServiceBuilder};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

struct App {
    store: Store,
    admin: AdminDoor,
    delivery: DeliveryDoor,
    oss: OssDoor,
    s3: S3Service,
    region: String,
    routing: Routing,
    metrics: PrometheusHandle,
    /// `max_header_bytes`: hyper's read buffer only bounds the head to within one read of
    /// it (the buffer grows by doubling), so the exact limit is checked per request.
    max_header_bytes: usize,
}

/// The s3s service with imgd's operations, authentication and access rules. `s3_config`
/// overrides s3s's defaults (tests use it to widen the clock-skew window for fixed
/// signature vectors).
pub fn s3_service(
    store: Store,
    images: ImageService,
    cfg: &ServerConfig,
    s3_config: Option<s3s::config::S3Config>,
) -> Result<S3Service, ServerError> {
    let mut builder = S3ServiceBuilder::new(ImgdS3::new(
        store.clone(),
        cfg.region.clone(),
        cfg.root_access_key.clone(),
        images,
    ));
    builder.set_auth(ImgdAuth::new(
        store.clone(),
        cfg.root_access_key.clone(),
        cfg.root_secret_key.clone(),
    ));
    builder.set_access(ImgdAccess::new(store, cfg.root_access_key.clone()));
    if let Some(domain) = cfg.domain.as_deref().filter(|d| !d.is_empty()) {
        // imgd's own host parser, so s3s resolves `bucket.<domain>` exactly as the
        // delivery and OSS doors do.
        builder.set_host(crate::vhost::DomainHosts::new(domain).map_err(ServerError::Config)?);
    }
    if let Some(c) = s3_config {
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            c,
        ))));
    }
    Ok(builder.build())
}

/// Serves until `shutdown` resolves, then stops accepting and waits up to the configured
/// grace period for in-flight requests. `ready` is called once the port is bound.
pub async fn serve(
    store: Store,
    cfg: ServerConfig,
    metrics: PrometheusHandle,
    ready: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
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
    let s3 = s3_service(store.clone(), images.clone(), &cfg, None)?;
    let callers = Callers::new(
        store.clone(),
        cfg.root_access_key.clone(),
        cfg.root_secret_key.clone(),
    );
    let routing = Routing {
        domain: cfg.domain.clone().filter(|d| !d.is_empty()),
        ixmage_prefix: cfg.delivery.ixmage_prefix.clone(),
    };
    let app = Arc::new(App {
        admin: AdminDoor::new(store.clone(), cfg.admin_token.clone()).with_images(images.clone()),
        store,
        delivery: DeliveryDoor::new(images.clone(), cfg.delivery.clone())
            .with_domain(cfg.domain.clone()),
        oss: OssDoor::new(images, callers).with_domain(cfg.domain.clone()),
        s3,
        region: cfg.region.clone(),
        routing,
        metrics,
        max_header_bytes: cfg.max_header_bytes.max(8192),
    });

    let listener = bind(cfg.listen).await?;
    let proxy_listener = match &imageproxy {
        Some(door) => Some((bind(door.config().listen).await?, door.clone())),
        None => None,
    };
    let local = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: cfg.listen,
        source,
    })?;
    if let Some((l, _)) = &proxy_listener
        && let Ok(addr) = l.local_addr()
    {
        tracing::info!(%addr, "imageproxy door listening");
    }
    ready(local);

    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_buf_size(cfg.max_header_bytes.max(8192));
    http.http2().timer(TokioTimer::new());

    let permits = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let main_loop = accept_loop(
        listener,
        &http,
        permits.clone(),
        &graceful,
        stop_rx.clone(),
        move |req| {
            let app = app.clone();
            async move { handle(app, req).await }
        },
    );
    let proxy_loop = async {
        if let Some((listener, door)) = proxy_listener {
            accept_loop(
                listener,
                &http,
                permits.clone(),
                &graceful,
                stop_rx.clone(),
                move |req| {
                    let door = door.clone();
                    async move { door.handle(req).await }
                },
            )
            .await;
        }
    };
    let stopper = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    tokio::join!(main_loop, proxy_loop, stopper);
    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(cfg.shutdown_grace) => tracing::warn!("grace period over; dropping remaining connections"),
    }
    if let Some(cache) = &variant_cache
        && let Err(e) = cache.flush().await
    {
        tracing::warn!(error = %e, "could not save the variant cache's recency order");
    }
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Accepts connections on `listener` until `stop` turns true, serving each request
/// with `handler`.
async fn accept_loop<H, F>(
    listener: TcpListener,
    http: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
    permits: Arc<Semaphore>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    mut stop: tokio::sync::watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<BoxBody>> + Send + 'static,
{
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut stopped => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(v) => v,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let fut = handler(req);
            async move { Ok::<_, std::convert::Infallible>(fut.await) }
        });
        let conn = http
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<BoxBody> {
    let started = Instant::now();
    let head = head_len(&req);
    if head > app.max_header_bytes {
        return head_too_large(head, app.max_header_bytes);
    }
    let door = FrontDoor::route(req.method(), req.uri(), req.headers(), &app.routing);
    let method = req.method().clone();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let mut resp = match door {
        FrontDoor::Health => routes::health(&app.store).await,
        FrontDoor::Metrics => routes::metrics(&app.metrics),
        FrontDoor::UnknownInternal => routes::unknown_internal(),
        FrontDoor::Oss => app.oss.handle(req, &request_id).await,
        FrontDoor::Delivery => app.delivery.handle(req, &request_id).await,
        FrontDoor::Admin => app.admin.handle(req).await,
        FrontDoor::S3 => s3_request(&app, req, &request_id).await,
    };
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    let status = resp.status().as_u16().to_string();
    metrics::counter!("imgd_http_requests_total", "door" => door.label(), "method" => method.to_string(), "status" => status)
        .increment(1);
    metrics::histogram!("imgd_http_request_duration_seconds", "door" => door.label())
        .record(started.elapsed().as_secs_f64());
    resp
}

/// The size of the request head as HTTP/1.1 spells it: request line, header lines, and
/// the blank line that ends them.
fn head_len<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
    let request_line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let fields: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    request_line + fields + 2
}

fn head_too_large(head: usize, limit: usize) -> Response<BoxBody> {
    let message = format!(
        "The request head is {head} bytes; this server accepts at most {limit} (max_header_bytes)."
    );
    let body = guard::error_xml("RequestHeaderSectionTooLarge", &message, "", "");
    let mut resp = routes::full(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "application/xml",
        body,
    );
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

async fn s3_request(app: &App, req: Request<Incoming>, request_id: &str) -> Response<BoxBody> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if let Err(refusal) = guard::check(req.uri(), req.headers(), &app.region, now) {
        tracing::info!(code = refusal.code, message = %refusal.message, path = req.uri().path(), "request refused before signature check");
        return routes::full(
            refusal.status,
            "application/xml",
            guard::error_xml(refusal.code, &refusal.message, req.uri().path(), request_id),
        );
    }
    // On a virtual host the path is all key (`/k` is an object, not bucket `k`), and
    // s3s already signs the bucket-level resource as `/bucket/` there.
    let virtual_host =
        crate::vhost::resolve_request(req.uri(), req.headers(), app.routing.domain.as_deref())
            .virtual_host;
    let mut req = req.map(s3s::Body::from);
    if !virtual_host && let Some(uri) = guard::sigv2_bucket_uri(req.uri(), req.headers()) {
        *req.uri_mut() = uri;
    }
    match app.s3.call(req).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            if parts.status == StatusCode::NOT_MODIFIED {
                // A 304 carries validators only, never the error document s3s renders.
                parts.headers.remove(http::header::CONTENT_TYPE);
                parts.headers.remove(http::header::CONTENT_LENGTH);
                return Response::from_parts(parts, routes::empty_body());
            }
            Response::from_parts(
                parts,
                body.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e })
                    .boxed(),
            )
        }
        Err(e) => {
            tracing::error!(error = ?e, "s3 service failed");
            routes::full(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/xml",
                guard::error_xml(
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    "",
                    request_id,
                ),
            )
        }
    }
}
