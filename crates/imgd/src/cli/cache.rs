//! `imgd cache ...`: the running server's variant cache, through its admin API.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum CacheCommand {
    /// Drop cached variants: everything, a bucket's, one object's, or a prefix's.
    Purge {
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long, requires = "bucket", conflicts_with = "prefix")]
        key: Option<String>,
        #[arg(long, requires = "bucket")]
        prefix: Option<String>,
        /// The server's base URL (default: http://<listen>).
        #[arg(long)]
        server: Option<String>,
    },
    /// Entries, bytes, hits and misses.
    Stats {
        #[arg(long)]
        server: Option<String>,
    },
}

/// Cache commands talk to the running server, which owns the cache's memory tier and
/// index; editing the directory underneath it would not be seen.
pub(super) async fn cache(cfg: &Config, cmd: CacheCommand) -> Result<()> {
    let token = cfg
        .admin_token
        .clone()
        .context("the cache commands use the admin API: set admin_token")?;
    let base = |server: &Option<String>| {
        server
            .clone()
            .unwrap_or_else(|| format!("http://{}", cfg.listen))
            .trim_end_matches('/')
            .to_owned()
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building an HTTP client")?;
    let request = match &cmd {
        CacheCommand::Purge {
            bucket,
            key,
            prefix,
            server,
        } => {
            let mut body = serde_json::Map::new();
            for (name, v) in [("bucket", bucket), ("key", key), ("prefix", prefix)] {
                if let Some(v) = v {
                    body.insert(name.into(), serde_json::Value::String(v.clone()));
                }
            }
            client
                .post(format!("{}/_imgd/admin/variants/purge", base(server)))
                .body(serde_json::Value::Object(body).to_string())
        }
        CacheCommand::Stats { server } => {
            client.get(format!("{}/_imgd/admin/variants", base(server)))
        }
    };
    let resp = request
        .bearer_auth(token)
        .send()
        .await
        .context("reaching the server's admin API")?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the server answered {status}: {text}");
    }
    println!("{text}");
    Ok(())
}
