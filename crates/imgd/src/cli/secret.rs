//! `imgd secret ...`: link-signing secrets, account-wide or per bucket.

use super::args::SecretCommand;
use super::open_store;
use crate::config::Config;
use anyhow::{Context, Result};

pub(super) async fn secret(cfg: Config, cmd: SecretCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        SecretCommand::Create {
            bucket,
            value,
            description,
        } => {
            let s = store
                .create_secret(bucket.as_deref(), value.as_deref(), &description)
                .await
                .context("creating the secret")?;
            println!("id     = {}", s.id);
            println!("scope  = {}", s.bucket.as_deref().unwrap_or("account"));
            println!("secret = {}", s.secret);
        }
        SecretCommand::List { bucket } => {
            for s in store.list_secrets(bucket.as_deref()).await? {
                let state = if s.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{state}\t{}",
                    s.id,
                    s.bucket.as_deref().unwrap_or("account"),
                    s.description
                );
            }
        }
        SecretCommand::Revoke { id } => {
            store.revoke_secret(&id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
