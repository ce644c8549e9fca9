//! The `[[buckets]]`, `[[secrets]]` and `[[cloudflare_accounts]]` of the configuration,
//! applied when the server starts.

use super::bucket::check_bucket_name;
use anyhow::{Context, Result};
use store::{BucketAcl, PolicyPatch, Store};

/// Creates and configures the `[[buckets]]` of the configuration file.
pub(super) async fn apply_bucket_config(
    store: &Store,
    buckets: &[crate::config::BucketConfig],
) -> Result<()> {
    for b in buckets {
        check_bucket_name(&b.name)?;
        let acl = if b.public == Some(true) {
            BucketAcl::PublicRead
        } else {
            BucketAcl::Private
        };
        match store.create_bucket(&b.name, acl).await {
            Ok(()) => tracing::info!(bucket = %b.name, "created bucket from the configuration"),
            Err(store::StoreError::BucketExists) => {
                if b.public.is_some() {
                    store.set_bucket_acl(&b.name, acl).await?;
                }
            }
            Err(e) => return Err(e).with_context(|| format!("creating bucket {}", b.name)),
        }
        for (name, process) in &b.styles {
            store.put_style(&b.name, name, process).await?;
        }
        // After the ACL above, which clears an explicit delivery policy: `delivery` wins
        // over `public`. Names were checked when the configuration was loaded.
        let patch = PolicyPatch {
            delivery: b.delivery.as_deref().and_then(store::DeliveryPolicy::parse),
            schemes: b.schemes.as_ref().map(|l| {
                l.iter()
                    .filter_map(|s| store::LinkScheme::parse(s))
                    .collect()
            }),
            referers: b.referers.clone(),
            cache_ttl_secs: b.cache_ttl_secs,
            public_styles: b.public_styles.clone(),
            style_delimiters: b.style_delimiters.clone(),
        };
        store.apply_policy(&b.name, &patch).await?;
        // Not part of the policy patch: the origin has its own command and endpoint, and
        // the server's checks (run when the file was loaded).
        if let Some(source) = &b.origin {
            let origin = store::OriginSettings {
                source: source.clone(),
                miss_ttl_secs: b.origin_miss_ttl_secs,
            };
            store
                .update_bucket_settings(&b.name, |s| {
                    s.origin = Some(origin);
                    Ok(())
                })
                .await?;
        }
    }
    Ok(())
}

/// Imports the `[[secrets]]` of the configuration that the store does not hold yet.
pub(super) async fn apply_secret_config(
    store: &Store,
    secrets: &[crate::config::SecretConfig],
) -> Result<()> {
    for sec in secrets {
        let existing = store.list_secrets(sec.bucket.as_deref()).await?;
        if existing
            .iter()
            .any(|s| s.secret == sec.value && s.bucket == sec.bucket)
        {
            continue;
        }
        let created = store
            .create_secret(sec.bucket.as_deref(), Some(&sec.value), &sec.description)
            .await
            .with_context(|| {
                format!(
                    "importing a secret for {}",
                    sec.bucket.as_deref().unwrap_or("the account")
                )
            })?;
        tracing::info!(id = %created.id, "imported a link secret from the configuration");
    }
    Ok(())
}

/// Creates a bucket unless it exists.
async fn ensure_bucket(store: &Store, name: &str) -> Result<()> {
    match store.create_bucket(name, BucketAcl::Private).await {
        Ok(()) => {
            tracing::info!(bucket = %name, "created bucket for the Cloudflare door");
            Ok(())
        }
        Err(store::StoreError::BucketExists) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating bucket {name}")),
    }
}

/// Makes the `[[cloudflare_accounts]]` exist as written; with none configured and none
/// stored, creates one account over `cloudflare.default_bucket`, so the door works on
/// embedded defaults.
pub(super) async fn apply_cloudflare_config(
    store: &Store,
    cfg: &crate::config::Config,
) -> Result<()> {
    if !cfg.cloudflare.enabled {
        return Ok(());
    }
    if let Some(bucket) = &cfg.cloudflare.remote_bucket {
        ensure_bucket(store, bucket).await?;
    }
    for a in &cfg.cloudflare_accounts {
        ensure_bucket(store, &a.bucket).await?;
        store
            .cf_ensure_account(
                &a.account_id,
                &a.account_hash,
                &a.bucket,
                a.flexible_variants,
            )
            .await
            .with_context(|| format!("images account {}", a.account_id))?;
    }
    if cfg.cloudflare_accounts.is_empty() && store.cf_accounts().await?.is_empty() {
        let bucket = &cfg.cloudflare.default_bucket;
        ensure_bucket(store, bucket).await?;
        let account = store.cf_create_account(None, None, bucket, false).await?;
        tracing::info!(
            account_id = %account.account_id,
            account_hash = %account.account_hash,
            bucket = %bucket,
            "created the default images account (imgd cf account list)"
        );
    }
    Ok(())
}
