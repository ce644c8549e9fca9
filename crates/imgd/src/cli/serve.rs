//! `imgd serve`: root credentials, the store with start-up clean-up, the configuration
//! file's buckets and secrets, then the server until SIGINT or SIGTERM.

use super::{open_store, startup};
use crate::config::Config;
use crate::credentials;
use anyhow::{Context, Result};
use std::time::Duration;

/// The root key pair from the configuration, when both halves are set; otherwise
/// [`credentials::resolve`] uses (or generates) the one kept in the data dir.
pub(super) fn configured_root(cfg: &Config) -> Option<(String, String)> {
    cfg.access_key.clone().zip(cfg.secret_key.clone())
}

pub(super) async fn serve(cfg: Config) -> Result<()> {
    let (creds, generated) = credentials::resolve(configured_root(&cfg), &cfg.data_dir)?;
    if generated {
        println!(
            "Generated root credentials (kept in {}):",
            cfg.data_dir.join(credentials::FILE_NAME).display()
        );
        println!("  access key: {}", creds.access_key);
        println!("  secret key: {}", creds.secret_key);
    }
    let store = open_store(&cfg, true).await?;
    {
        // Leftovers the start-up sweep could not delete (the blob store was down), and on
        // a shared database those of other nodes that died, go in a later sweep.
        let sweeper = store.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(store::ORPHAN_SWEEP_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = sweeper.sweep_orphan_blobs(false).await {
                    tracing::warn!(error = %e, "sweeping leftover blobs failed; will retry");
                }
            }
        });
    }
    startup::apply_bucket_config(&store, &cfg.buckets).await?;
    startup::apply_secret_config(&store, &cfg.secrets).await?;
    startup::apply_cloudflare_config(&store, &cfg).await?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let root_key = creds.access_key.clone();
    let server_cfg = server::ServerConfig {
        listen: cfg.listen.parse().context("listen address")?,
        region: cfg.region.clone(),
        root_access_key: creds.access_key.clone(),
        root_secret_key: creds.secret_key,
        domain: cfg.domain.clone(),
        max_connections: cfg.max_connections,
        header_read_timeout: Duration::from_secs(cfg.header_read_timeout_secs),
        max_header_bytes: cfg.max_header_bytes,
        shutdown_grace: Duration::from_secs(cfg.shutdown_grace_secs),
        process_limits: cfg.process_limits(),
        delivery: server::delivery::DeliveryConfig {
            account_token: cfg.account_token(&root_key),
            ixmage_prefix: cfg.ixmage_prefix.trim_end_matches('/').to_owned(),
        },
        admin_token: cfg.admin_token.clone(),
        fetch: cfg.fetch_settings()?,
        variant_cache: cfg.variant_cache(),
        imageproxy: cfg.imageproxy()?,
        cloudflare: cfg.cloudflare(),
        clock: match cfg.clock_start {
            Some(start) => {
                tracing::warn!(
                    start,
                    "the link-expiry clock starts at a configured instant (clock_start); for tests only"
                );
                server::clock::Clock::starting_at(start)
            }
            None => server::clock::Clock::system(),
        },
    };
    let data_dir = cfg.data_dir.display().to_string();
    server::serve(
        store,
        server_cfg,
        metrics,
        |addr| {
            tracing::info!(%addr, data_dir, "imgd is serving the S3 API");
            println!("imgd listening on http://{addr}");
        },
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
