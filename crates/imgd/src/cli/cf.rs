//! `imgd cf ...`: Cloudflare Images accounts, API tokens and signing keys. Works on the
//! store directly, beside a running server, which reads tokens and keys on every
//! request, so changes apply at once.

use super::args::{CfAccountCommand, CfCommand, CfKeyCommand, CfTokenCommand};
use super::open_store;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use store::Store;
use store::cloudflare::CfAccount;

pub(super) async fn cf(cfg: Config, cmd: CfCommand) -> Result<()> {
    let store = open_store(&cfg, false).await?;
    match cmd {
        CfCommand::Account(c) => account(&store, c).await,
        CfCommand::Token(c) => token(&store, c).await,
        CfCommand::Key(c) => key(&store, c).await,
    }
}

fn account_line(a: &CfAccount) -> String {
    format!("{} {} {}", a.account_id, a.account_hash, a.bucket)
}

/// The named account, or the only one.
async fn pick_account(store: &Store, account: Option<&str>) -> Result<CfAccount> {
    if let Some(id) = account {
        return store
            .cf_account(id)
            .await?
            .with_context(|| format!("no images account {id} (see imgd cf account list)"));
    }
    let mut all = store.cf_accounts().await?;
    match all.len() {
        0 => bail!(
            "there is no images account yet: start imgd once, or run imgd cf account create --bucket B"
        ),
        1 => Ok(all.remove(0)),
        n => bail!(
            "there are {n} images accounts: name one with --account (see imgd cf account list)"
        ),
    }
}

async fn account(store: &Store, cmd: CfAccountCommand) -> Result<()> {
    match cmd {
        CfAccountCommand::List => {
            for a in store.cf_accounts().await? {
                println!("{}", account_line(&a));
            }
        }
        CfAccountCommand::Create { bucket, id, hash } => {
            if let Some(problem) = store::bucket_name_problem(&bucket) {
                bail!("{problem}");
            }
            match store
                .create_bucket(&bucket, store::BucketAcl::Private)
                .await
            {
                Ok(()) | Err(store::StoreError::BucketExists) => {}
                Err(e) => return Err(e).with_context(|| format!("creating bucket {bucket}")),
            }
            let a = store
                .cf_create_account(id.as_deref(), hash.as_deref(), &bucket, false)
                .await
                .context("creating the account")?;
            println!("{}", account_line(&a));
        }
    }
    Ok(())
}

async fn token(store: &Store, cmd: CfTokenCommand) -> Result<()> {
    match cmd {
        CfTokenCommand::Create { account, name } => {
            let a = pick_account(store, account.as_deref()).await?;
            let (_, secret) = store.cf_create_token(&a.account_id, &name).await?;
            println!("{secret}");
        }
        CfTokenCommand::List { account } => {
            let account = match account {
                Some(id) => Some(pick_account(store, Some(&id)).await?.account_id),
                None => None,
            };
            for t in store.cf_tokens(account.as_deref()).await? {
                let name = if t.name.is_empty() { "-" } else { &t.name };
                println!(
                    "{} {name} {}",
                    t.id,
                    server::kernel::date::iso8601(t.created_ms / 1000)
                );
            }
        }
        CfTokenCommand::Revoke { id } => {
            store.cf_revoke_token(&id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

async fn key(store: &Store, cmd: CfKeyCommand) -> Result<()> {
    match cmd {
        CfKeyCommand::Create { name, account } => {
            let a = pick_account(store, account.as_deref()).await?;
            let k = store.cf_put_key(&a.account_id, &name).await?;
            println!("{}", k.value);
        }
        CfKeyCommand::List { account } => {
            let a = pick_account(store, account.as_deref()).await?;
            for k in store.cf_keys(&a.account_id).await? {
                println!("{} {}", k.name, k.value);
            }
        }
        CfKeyCommand::Delete { name, account } => {
            let a = pick_account(store, account.as_deref()).await?;
            if !store.cf_delete_key(&a.account_id, &name).await? {
                bail!("no key {name} in account {}", a.account_id);
            }
            println!("deleted {name}");
        }
    }
    Ok(())
}
