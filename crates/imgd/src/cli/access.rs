//! `imgd key`, `imgd secret` and `imgd style`: access keys, link secrets, named styles.

use super::open_store;
use crate::config::Config;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use store::Permission;

#[derive(Subcommand)]
pub(super) enum SecretCommand {
    /// Create a secret (prints it once). Without --bucket it is an account secret that
    /// signs links to every bucket.
    Create {
        #[arg(long)]
        bucket: Option<String>,
        /// Use this value instead of a random one (to keep existing links working).
        #[arg(long)]
        value: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List secrets (values are not shown).
    List {
        #[arg(long)]
        bucket: Option<String>,
    },
    /// Revoke a secret; links it signed fail from the next request on.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub(super) enum StyleCommand {
    /// Create or replace a style: `imgd style put photos thumb 'image/resize,w_200'`.
    Put {
        bucket: String,
        name: String,
        process: String,
    },
    /// List a bucket's styles.
    List { bucket: String },
    /// Delete a style.
    Delete { bucket: String, name: String },
}

#[derive(Subcommand)]
pub(super) enum KeyCommand {
    /// Create an access key limited to the given buckets.
    Create(KeyCreate),
    /// List access keys (secrets are not shown).
    List,
    /// Revoke an access key; its signatures fail from the next request on.
    Revoke { access_key: String },
}

#[derive(Args)]
pub(super) struct KeyCreate {
    /// BUCKET:PERMISSION, where PERMISSION is read or read-write. Repeatable.
    #[arg(long = "bucket", required = true, value_name = "BUCKET:PERMISSION")]
    grants: Vec<String>,
    #[arg(long, default_value = "")]
    description: String,
}

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

pub(super) async fn style(cfg: Config, cmd: StyleCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        StyleCommand::Put {
            bucket,
            name,
            process,
        } => {
            crate::config::check_style_process(&process)
                .with_context(|| format!("style {name}"))?;
            store
                .put_style(&bucket, &name, &process)
                .await
                .with_context(|| format!("saving style {name} of bucket {bucket}"))?;
            println!("style {name} of bucket {bucket} = {process}");
        }
        StyleCommand::List { bucket } => {
            for s in store.list_styles(&bucket).await? {
                println!("{}\t{}", s.name, s.process);
            }
        }
        StyleCommand::Delete { bucket, name } => {
            store
                .delete_style(&bucket, &name)
                .await
                .with_context(|| format!("deleting style {name} of bucket {bucket}"))?;
            println!("deleted style {name} of bucket {bucket}");
        }
    }
    Ok(())
}

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
