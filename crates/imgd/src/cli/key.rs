//! `imgd key ...`: extra access keys, each limited to chosen buckets.

use super::args::KeyCommand;
use super::open_store;
use crate::config::Config;
use anyhow::{Context, Result};
use store::Permission;

pub(super) async fn key(cfg: Config, cmd: KeyCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        KeyCommand::Create(args) => {
            let mut grants = Vec::new();
            for g in &args.grants {
                let (bucket, perm) = g.split_once(':').with_context(|| {
                    format!("--bucket {g:?}: expected BUCKET:read or BUCKET:read-write")
                })?;
                let perm = Permission::parse(perm).with_context(|| {
                    format!("--bucket {g:?}: permission must be read or read-write")
                })?;
                grants.push((bucket.to_owned(), perm));
            }
            let k = store
                .create_access_key(&args.description, &grants)
                .await
                .context("creating the key")?;
            println!("access_key = {}", k.access_key);
            println!("secret_key = {}", k.secret_key);
            for (b, p) in &k.grants {
                println!("grant      = {b}:{}", p.as_str());
            }
        }
        KeyCommand::List => {
            for k in store.list_access_keys().await? {
                let grants: Vec<String> = k
                    .grants
                    .iter()
                    .map(|(b, p)| format!("{b}:{}", p.as_str()))
                    .collect();
                let state = if k.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{state}\t{}\t{}",
                    k.access_key,
                    grants.join(","),
                    k.description
                );
            }
        }
        KeyCommand::Revoke { access_key } => {
            store.revoke_access_key(&access_key).await?;
            println!("revoked {access_key}");
        }
    }
    Ok(())
}
