//! `imgd cache ...`: the running server's variant cache, through its admin API.

use super::admin_client::AdminClient;
use super::args::CacheCommand;
use crate::config::Config;
use anyhow::{Context, Result};

/// Cache commands talk to the running server, which owns the cache's memory tier and
/// index; editing the directory underneath it would not be seen.
pub(super) async fn cache(cfg: &Config, cmd: CacheCommand) -> Result<()> {
    let token = cfg
        .admin_token
        .clone()
        .context("the cache commands use the admin API: set admin_token")?;
    let text = match &cmd {
        CacheCommand::Purge {
            bucket,
            key,
            prefix,
            server,
        } => {
            // Only the fields given: the server reads an absent field as "all of them".
            let mut body = serde_json::Map::new();
            for (name, v) in [("bucket", bucket), ("key", key), ("prefix", prefix)] {
                if let Some(v) = v {
                    body.insert(name.into(), serde_json::Value::String(v.clone()));
                }
            }
            AdminClient::new(cfg, server.as_deref(), token)?
                .post("variants/purge", &serde_json::Value::Object(body))
                .await?
        }
        CacheCommand::Stats { server } => {
            AdminClient::new(cfg, server.as_deref(), token)?
                .get("variants")
                .await?
        }
    };
    println!("{text}");
    Ok(())
}
